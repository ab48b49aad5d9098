"""Built-in plugin ``voice-api``: end the call through Bandwidth's Voice API (OAuth 2.0).

A first, simple version: one token request and one call update per hang-up,
bounded by the configured deadline. Hardened later (token cache, retries).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from urllib.parse import quote

import aiohttp

from bwserial.hookspecs import hookimpl
from bwserial.types import (
    HangupConfig,
    HangupOutcome,
    HangupRequest,
    HangupResult,
    HangupStrategy,
)

NAME = "voice-api"


class VoiceApiHangup:
    """Hang up one call with ``POST .../accounts/{accountId}/calls/{callId}``."""

    def __init__(self, config: HangupConfig) -> None:
        self.config = config

    def __repr__(self) -> str:
        return f"VoiceApiHangup(call_id={self.config.call_id!r})"

    @property
    def call_url(self) -> str:
        c = self.config
        account = quote(c.account_id, safe="")
        call = quote(c.call_id, safe="")
        return f"{c.voice_api_base_url}/accounts/{account}/calls/{call}"

    async def prepare(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def fetch_token(self, session: aiohttp.ClientSession) -> str:
        c = self.config
        auth = aiohttp.BasicAuth(c.client_id, c.client_secret.get_secret_value())
        async with session.post(
            c.oauth_token_url, auth=auth, data={"grant_type": "client_credentials"}
        ) as response:
            if response.status != 200:
                raise _HttpError(response.status, "token request refused")
            body = await response.json(content_type=None)
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise _HttpError(response.status, "token response without access_token")
        return token

    async def hang_up(self, request: HangupRequest) -> HangupResult:
        started = time.monotonic()
        attempts = 0
        status: int | None = None
        try:
            async with asyncio.timeout(self.config.timeout_secs):
                if request.reason == "end" and request.playout_remaining_secs > 0:
                    await asyncio.sleep(
                        min(request.playout_remaining_secs, self.config.playout_wait_secs)
                    )
                async with aiohttp.ClientSession() as session:
                    token = await self.fetch_token(session)
                    attempts += 1
                    async with session.post(
                        self.call_url,
                        json={"state": "completed"},
                        headers={"Authorization": f"Bearer {token}"},
                    ) as response:
                        status = response.status
            if status == 404:
                outcome = HangupOutcome.ALREADY_ENDED
            elif status is not None and 200 <= status < 300:
                outcome = HangupOutcome.COMPLETED
            else:
                outcome = HangupOutcome.FAILED
            reason = f"HTTP {status}"
        except TimeoutError:
            outcome, reason = HangupOutcome.FAILED, "deadline exceeded"
        except _HttpError as e:
            outcome, status, reason = HangupOutcome.FAILED, e.status, e.reason
        except aiohttp.ClientError as e:
            outcome, reason = HangupOutcome.FAILED, f"{type(e).__name__}"
        return HangupResult(outcome, status, attempts, time.monotonic() - started, reason, NAME)


class _HttpError(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


STRATEGY = HangupStrategy(
    name=NAME,
    factory=VoiceApiHangup,
    description="Bandwidth Voice API call update with OAuth 2.0 client credentials",
)


@hookimpl
def bwserial_hangup_strategies() -> Iterable[HangupStrategy]:
    return [STRATEGY]
