"""Built-in plugin ``voice-api``: end the call through Bandwidth's Voice API.

``POST {voice_api_base_url}/accounts/{accountId}/calls/{callId}`` with
``{"state": "completed"}`` and an OAuth 2.0 client-credentials bearer token.
Built so the phone call really ends and the pipeline never waits long for it:

* the token is cached per process and fetched ahead of time, so the hang-up is
  one request;
* one pooled HTTP session per event loop;
* a total deadline (``hangup_timeout_secs``) with per-request timeouts;
* retries with jittered exponential backoff for 429 (honouring Retry-After),
  5xx, connection errors and timeouts; one token refresh on 401; brief retries
  on 409 (call not answered yet); 404 means the call already ended;
* on EndFrame, a wait for the audio already sent to finish playing.

Subclass :class:`VoiceApiHangup` to change one step (``get_token``,
``send_hangup``, ``backoff_secs``) and register it under another name.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterable
from email.utils import parsedate_to_datetime
from typing import ClassVar, Final
from urllib.parse import quote

import aiohttp
from loguru import logger

from bwserial.builtin import oauth
from bwserial.builtin.http_pool import get_session
from bwserial.hookspecs import hookimpl
from bwserial.types import (
    HangupConfig,
    HangupOutcome,
    HangupRequest,
    HangupResult,
    HangupStrategy,
)

NAME: Final = "voice-api"


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP-date."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


class _Failed(Exception):
    """Stop retrying: the answer will not change."""

    def __init__(self, status: int | None, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class VoiceApiHangup:
    """Hang up one call through the Voice API; see the module docstring."""

    name: ClassVar[str] = NAME
    request_timeout_secs: ClassVar[float] = 3.0
    connect_timeout_secs: ClassVar[float] = 2.0
    backoff_base_secs: ClassVar[float] = 0.2
    backoff_cap_secs: ClassVar[float] = 2.0
    conflict_retry_secs: ClassVar[float] = 3.0
    """How long a 409 (call cannot be modified yet) is retried."""
    retry_statuses: ClassVar[frozenset[int]] = frozenset({429, 500, 502, 503, 504})

    def __init__(self, config: HangupConfig) -> None:
        self.config = config
        self._token_key = oauth.cache_key(
            config.oauth_token_url, config.client_id, config.client_secret
        )
        self._random = random.Random()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(call_id={self.config.call_id!r})"

    @property
    def call_url(self) -> str:
        c = self.config
        account = quote(c.account_id, safe="")
        call = quote(c.call_id, safe="")
        return f"{c.voice_api_base_url}/accounts/{account}/calls/{call}"

    # ------------------------------------------------------------------ steps to override

    async def get_token(self, deadline: float) -> str:
        """A bearer token for the Voice API (cached, single-flight)."""

        async def fetch() -> oauth.Token:
            return await oauth.request_token(
                await get_session(),
                self.config.oauth_token_url,
                self.config.client_id,
                self.config.client_secret,
                self._timeout(deadline),
            )

        token = await oauth.single_flight(self._token_key, fetch)
        return token.value

    def invalidate_token(self, token: str) -> None:
        """Forget ``token`` after the API refused it (401), unless already replaced."""
        oauth.invalidate(self._token_key, token)

    async def send_hangup(self, token: str, deadline: float) -> tuple[int, str | None]:
        """One call-update request: returns (HTTP status, Retry-After header)."""
        session = await get_session()
        async with session.post(
            self.call_url,
            json={"state": "completed"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=self._timeout(deadline),
        ) as response:
            await response.read()
            return response.status, response.headers.get("Retry-After")

    def backoff_secs(self, retry: int) -> float:
        """Delay before retry number ``retry`` (1-based): exponential, equal jitter."""
        ceiling = min(self.backoff_cap_secs, self.backoff_base_secs * 2.0 ** (retry - 1))
        return ceiling / 2 + self._random.uniform(0, ceiling / 2)

    # ------------------------------------------------------------------ the Hangup contract

    async def prepare(self) -> None:
        """Fetch the token ahead of time so the hang-up itself is one request."""
        deadline = time.monotonic() + self.config.timeout_secs
        try:
            await self.get_token(deadline)
        except (oauth.TokenError, aiohttp.ClientError, TimeoutError) as e:
            logger.debug(f"{self!r}: token warm-up failed ({type(e).__name__}); will retry")

    async def close(self) -> None:
        return None

    async def hang_up(self, request: HangupRequest) -> HangupResult:
        started = time.monotonic()
        deadline = started + self.config.timeout_secs
        counters = {"attempts": 0}
        status: int | None = None
        try:
            if request.reason == "end":
                wait = min(request.playout_remaining_secs, self.config.playout_wait_secs)
                if wait > 0:
                    await asyncio.sleep(min(wait, max(0.0, deadline - time.monotonic())))
            status = await self._until_done(deadline, counters)
            outcome = HangupOutcome.ALREADY_ENDED if status == 404 else HangupOutcome.COMPLETED
            reason = "call was no longer active" if status == 404 else "call completed"
        except _Failed as e:
            outcome, status, reason = HangupOutcome.FAILED, e.status, e.reason
        return HangupResult(
            outcome=outcome,
            status=status,
            attempts=counters["attempts"],
            seconds=time.monotonic() - started,
            reason=reason,
            strategy=self.name,
        )

    # ------------------------------------------------------------------ internals

    def _timeout(self, deadline: float) -> aiohttp.ClientTimeout:
        remaining = max(0.01, deadline - time.monotonic())
        return aiohttp.ClientTimeout(
            total=min(self.request_timeout_secs, remaining),
            connect=min(self.connect_timeout_secs, remaining),
        )

    async def _pause(self, delay: float, deadline: float, status: int | None, why: str) -> None:
        if time.monotonic() + delay >= deadline:
            raise _Failed(status, f"{why}; no time left before the deadline")
        await asyncio.sleep(delay)

    async def _until_done(self, deadline: float, counters: dict[str, int]) -> int:
        """Retry until a final answer; returns 2xx or 404, raises _Failed otherwise."""
        retries = 0
        refreshed = False
        conflict_until: float | None = None
        last_status: int | None = None
        while True:
            if time.monotonic() >= deadline:
                raise _Failed(last_status, "deadline exceeded")
            try:
                token = await self.get_token(deadline)
            except oauth.TokenError as e:
                last_status = e.status
                if not e.retryable:
                    raise _Failed(e.status, f"{e.reason} (check client_id/client_secret)") from None
                retries += 1
                await self._pause(self.backoff_secs(retries), deadline, e.status, e.reason)
                continue
            except (aiohttp.ClientError, TimeoutError) as e:
                retries += 1
                why = f"token request failed: {type(e).__name__}"
                await self._pause(self.backoff_secs(retries), deadline, last_status, why)
                continue
            counters["attempts"] += 1
            try:
                status, retry_after = await self.send_hangup(token, deadline)
            except (aiohttp.ClientError, TimeoutError) as e:
                retries += 1
                why = f"hang-up request failed: {type(e).__name__}"
                await self._pause(self.backoff_secs(retries), deadline, last_status, why)
                continue
            last_status = status
            logger.debug(f"{self!r}: attempt {counters['attempts']} answered {status}")
            if 200 <= status < 300 or status == 404:
                return status
            if status == 401 and not refreshed:
                refreshed = True  # the cached token may have been revoked: fetch a new one
                self.invalidate_token(token)
                continue
            if status == 409:
                now = time.monotonic()
                conflict_until = conflict_until or now + self.conflict_retry_secs
                if now >= conflict_until:
                    raise _Failed(status, "call could not be modified (409)")
                retries += 1
                await self._pause(self.backoff_secs(retries), deadline, status, "409 conflict")
                continue
            if status in self.retry_statuses:
                retries += 1
                delay = self.backoff_secs(retries)
                asked = parse_retry_after(retry_after) if status in (429, 503) else None
                if asked is not None:
                    delay = max(delay, asked)  # "0" or a past date must not mean a tight loop
                await self._pause(delay, deadline, status, f"Voice API answered {status}")
                continue
            raise _Failed(status, f"Voice API refused the hang-up ({status})")


STRATEGY = HangupStrategy(
    name=NAME,
    factory=VoiceApiHangup,
    description="Bandwidth Voice API call update, OAuth 2.0 client credentials",
)


@hookimpl
def bwserial_hangup_strategies() -> Iterable[HangupStrategy]:
    return [STRATEGY]
