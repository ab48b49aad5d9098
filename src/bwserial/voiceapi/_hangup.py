"""The built-in hang-up: end the call through Bandwidth's Voice API.

``POST {voice_api_base_url}/accounts/{accountId}/calls/{callId}`` with
``{"state": "completed"}`` and an OAuth 2.0 client-credentials bearer token.
Built so the phone call really ends and the pipeline never waits long for it:

* the token is cached per process and fetched ahead of time, so the hang-up is
  one request;
* one pooled HTTP session per event loop;
* one deadline (``hangup_timeout_secs``) with per-request timeouts;
* retries with jittered exponential backoff for 429 and 503 (honouring
  Retry-After), other 5xx, connection errors and timeouts; one token refresh on
  401; retries on 409 (call not answered yet) for ``conflict_retry_secs`` from the
  first 409; Bandwidth's 404 (its error body) means the call already ended, while
  a 404 of another server (a wrong ``voice_api_base_url``) is a failure, logged
  as a misconfiguration.

Subclass :class:`VoiceApiHangup` to change one step (``get_token``,
``invalidate_token``, ``send_hangup``, ``backoff_secs``) and register it under
another name.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable
from email.utils import parsedate_to_datetime
from typing import ClassVar, Final, NamedTuple
from urllib.parse import quote

import aiohttp
from loguru import logger

from bwserial._log import RateLimiter
from bwserial.builtin.voice_api import NAME
from bwserial.call.budget import DeadlineBudget
from bwserial.types import HangupConfig, HangupOutcome, HangupRequest, HangupResult
from bwserial.voiceapi._http_pool import get_session
from bwserial.voiceapi._oauth import OAuthTokenProvider, TokenError

"""The name ``InputParams.hangup`` selects the built-in strategy by."""

_misconfigured = RateLimiter(60.0)


class VoiceApiAnswer(NamedTuple):
    """What one call-update request got back (what :meth:`VoiceApiHangup.send_hangup`
    returns; a plain ``(status, retry_after)`` tuple from an older override works too)."""

    status: int
    retry_after: str | None = None
    """The ``Retry-After`` header, as sent."""
    bandwidth_error: bool | None = None
    """For an error status: True when the body has the shape of Bandwidth's
    ``VoiceApiError`` (a JSON object with ``type``/``description``), False when it
    plainly does not (HTML, text, another JSON shape: not Bandwidth's Voice API),
    None when there is no body to tell."""


def is_bandwidth_error(content_type: str, body: bytes) -> bool | None:
    """Whether an error body is Bandwidth's ``VoiceApiError`` shape; None if empty.

    Bandwidth's OpenAPI spec documents ``{"type", "description", "id"}`` for its 4xx
    answers. Whether every 404 carries it is unconfirmed, so an empty body is
    "cannot tell" rather than "not Bandwidth".
    """
    if not body.strip():
        return None
    if "json" not in content_type.lower():
        return False
    try:
        parsed = json.loads(body)
    except ValueError:
        return False
    return isinstance(parsed, dict) and any(
        isinstance(parsed.get(key), str) for key in ("type", "description")
    )


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


_JITTER: Final = random.Random()
"""One jitter source per process: seeding a new one per call cost more than the
rest of a serializer's construction."""


class VoiceApiHangup:
    """Hang up one call through Bandwidth's Voice API: the built-in ``voice-api`` strategy.

    One instance per call, built by the strategy factory with the call's
    :class:`~bwserial.HangupConfig`. Override a step (``get_token``,
    ``invalidate_token``, ``send_hangup``, ``backoff_secs``) or a class attribute
    in a subclass and register it under another ``name``; the retry table, the
    deadline and the 404 check stay.
    """

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
        self.tokens = OAuthTokenProvider(
            config.oauth_token_url, config.client_id, config.client_secret
        )
        """The process-wide cached token source for these credentials."""
        self.budget = DeadlineBudget.of(
            config.timeout_secs, config.playout_wait_secs, config.min_request_secs
        )
        self._random = _JITTER

    def __repr__(self) -> str:
        return f"{type(self).__name__}(call_id={self.config.call_id!r})"

    @property
    def call_url(self) -> str:
        """The call-update URL (no secret in it: safe to log)."""
        c = self.config
        account = quote(c.account_id, safe="")
        call = quote(c.call_id, safe="")
        return f"{c.voice_api_base_url}/accounts/{account}/calls/{call}"

    # ------------------------------------------------------------------ steps to override

    async def get_token(self, deadline: float) -> str:
        """A bearer token for the Voice API (cached per process, single-flight).

        Raises:
            TokenError: the token endpoint refused (``retryable`` says whether to retry).
            aiohttp.ClientError, TimeoutError: the token endpoint was not reached.
        """
        # A token request another call started is shared; waiting for it must still
        # end at this call's deadline.
        async with asyncio.timeout(max(0.01, deadline - time.monotonic())):
            return await self.tokens.get_token(self._timeout(deadline))

    def invalidate_token(self, token: str) -> None:
        """Forget ``token`` after the API refused it (401), unless already replaced."""
        self.tokens.invalidate(token)

    async def send_hangup(self, token: str, deadline: float) -> VoiceApiAnswer:
        """One call-update request: its status, Retry-After and whose error body it is."""
        session = await get_session()
        async with session.post(
            self.call_url,
            json={"state": "completed"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=self._timeout(deadline),
        ) as response:
            body = await response.read()
            status = response.status
            return VoiceApiAnswer(
                status,
                response.headers.get("Retry-After"),
                is_bandwidth_error(response.content_type, body) if status >= 400 else None,
            )

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
        except (TokenError, aiohttp.ClientError, TimeoutError) as e:
            logger.debug(f"{self!r}: token warm-up failed ({type(e).__name__}); will retry")

    async def close(self) -> None:
        """Nothing per call: the session and token cache are shared (see ``aclose``)."""
        return None

    async def hang_up(self, request: HangupRequest) -> HangupResult:
        """End the call within ``request.deadline``; reports, never raises ``Exception``."""
        started = time.monotonic()
        deadline = (
            request.deadline if request.deadline is not None else self.budget.deadline(started)
        )
        counters = {"attempts": 0}
        status: int | None = None
        try:
            if request.reason == "end":  # called directly: the serializer waits itself
                wait = self.budget.playout_wait(request.playout_remaining_secs)
                if wait > 0:
                    await asyncio.sleep(wait)
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

    async def _until_done(
        self,
        deadline: float,
        counters: dict[str, int],
        send: Callable[[str, float], Awaitable[VoiceApiAnswer]] | None = None,
        what: str = "hang-up",
    ) -> int:
        """Retry until a final answer; returns 2xx or 404, raises _Failed otherwise.

        ``send`` makes one request with a token (default :meth:`send_hangup`): the
        transfer and call placing reuse this loop, its retry table and deadline,
        with their own request.
        """
        send = self.send_hangup if send is None else send
        retries = 0
        refreshed = False
        conflict_until: float | None = None
        last_status: int | None = None
        while True:
            if time.monotonic() >= deadline:
                raise _Failed(last_status, "deadline exceeded")
            try:
                token = await self.get_token(deadline)
            except TokenError as e:
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
                answer = await send(token, deadline)
            except (aiohttp.ClientError, TimeoutError) as e:
                retries += 1
                why = f"{what} request failed: {type(e).__name__}"
                await self._pause(self.backoff_secs(retries), deadline, last_status, why)
                continue
            status, retry_after = int(answer[0]), answer[1]
            bandwidth_error = answer[2] if len(answer) > 2 else None
            last_status = status
            logger.debug(f"{self!r}: attempt {counters['attempts']} answered {status}")
            if 200 <= status < 300:
                return status
            if status == 404:
                self._check_not_found(bandwidth_error)
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
            raise _Failed(status, f"Voice API refused the {what} ({status})")

    def _check_not_found(self, bandwidth_error: bool | None) -> None:
        """A 404 ends the call only if it is Bandwidth's; raises _Failed for another server's."""
        if bandwidth_error is False:
            if (suppressed := _misconfigured.allow(self.config.voice_api_base_url)) is not None:
                logger.warning(
                    f"{self!r}: {self.call_url} answered 404 with a body that is not Bandwidth's "
                    "Voice API error: is voice_api_base_url right (it must end in /api/v2)?"
                    f"{RateLimiter.suffix(suppressed)}"
                )
            raise _Failed(
                404,
                "404 from a server that is not Bandwidth's Voice API (check voice_api_base_url)",
            )
        if bandwidth_error is None:
            logger.debug(
                f"{self!r}: 404 without an error body, taken as Bandwidth's call-not-found"
            )
