"""bwserial-sdk-hangup: the ``sdk`` hang-up strategy, on Bandwidth's official Python SDK.

Select it with ``InputParams(hangup="sdk")``: the call is ended with the SDK's
``CallsApi.update_call`` and ``UpdateCall(state=CallStateEnum.COMPLETED)``, the same
``POST {voice_api_base_url}/accounts/{accountId}/calls/{callId}`` the built-in
``voice-api`` strategy sends itself.

The SDK is synchronous (urllib3) and an asyncio pipeline must never block, so:

* each SDK request runs in a worker thread (``asyncio.to_thread``);
* the whole hang-up (play-out wait, token, request) runs under
  ``asyncio.timeout(timeout_secs)``;
* every SDK request also carries a urllib3 timeout of the time left, with urllib3's
  own retries off, because asyncio can stop *waiting* for a thread but cannot stop
  the thread: without it, a hung Voice API would keep a worker busy long after the
  call gave up, and enough of those would starve the executor.

The OAuth token does not come from the SDK's client-credentials support
(``Configuration(client_id=..., client_secret=..., access_token_url=...)``), though it
can target ``oauth_token_url``: that request has no timeout (a hung token endpoint
would hold a worker thread for good), its cache lives on one ``Configuration`` (one
token request per call), and a refused token surfaces as a ``KeyError``. bwserial's
token cache is used instead (bounded, per process, single-flight, shared with the
``voice-api`` strategy), and the token is handed to the SDK per request. So the SDK
never holds the client secret at all.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar, Final

import aiohttp
import urllib3
from bandwidth import ApiClient, Configuration
from bandwidth.api.calls_api import CallsApi
from bandwidth.exceptions import ApiException
from bandwidth.models.call_state_enum import CallStateEnum
from bandwidth.models.update_call import UpdateCall
from bwserial import (
    HangupConfig,
    HangupOutcome,
    HangupRequest,
    HangupResult,
    HangupStrategy,
    hookimpl,
)
from bwserial.voiceapi import OAuthTokenProvider, TokenError
from loguru import logger

__all__ = ["NAME", "STRATEGY", "SdkHangup", "api_client", "close_clients"]

NAME: Final = "sdk"
"""What ``InputParams.hangup`` selects."""

COMPLETED: Final = UpdateCall(state=CallStateEnum.COMPLETED)
"""The call update that hangs up (or cancels, or rejects) the call."""

_clients: dict[str, ApiClient] = {}
_clients_lock = threading.Lock()


def api_client(voice_api_base_url: str) -> ApiClient:
    """The SDK client for a Voice API URL, one per process, shared by every call.

    It holds no credentials (each request carries its own token), so calls of
    different accounts can share it, and reusing its urllib3 pool spares each
    hang-up a TCP and TLS handshake.
    """
    with _clients_lock:
        client = _clients.get(voice_api_base_url)
        if client is None:
            configuration = Configuration(
                host=voice_api_base_url,
                # The generated CallsApi pins each operation to the production server
                # (https://voice.bandwidth.com/api/v2) unless told to use ``host``.
                ignore_operation_servers=True,
                # One HTTP request per worker thread: urllib3 retrying a connection on
                # its own could outlast the deadline. Errors are raised as they are.
                retries=False,
            )
            client = _clients[voice_api_base_url] = ApiClient(configuration)
        return client


def close_clients() -> None:
    """Drop the shared clients' pooled connections (application shutdown, tests)."""
    with _clients_lock:
        for client in _clients.values():
            client.rest_client.pool_manager.clear()
        _clients.clear()


class _Failed(Exception):
    """The hang-up cannot succeed in this attempt; carries what the result reports."""

    def __init__(self, status: int | None, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass
class _Progress:
    """What a hang-up reports even when it is cut short by the deadline."""

    attempts: int = 0
    status: int | None = None


def _remaining(deadline: float) -> float:
    return max(0.01, deadline - time.monotonic())


class SdkHangup:
    """Hang up one call through the SDK; see the module docstring.

    One update request, and one more with a fresh token if the cached one is
    refused (401). Unlike the built-in ``voice-api`` strategy it does not retry
    429/5xx: the serializer reports the failure, and a later End/Cancel frame tries
    again.
    """

    name: ClassVar[str] = NAME

    def __init__(self, config: HangupConfig) -> None:
        self.config = config
        self._tokens = OAuthTokenProvider(
            config.oauth_token_url, config.client_id, config.client_secret
        )
        self._calls = CallsApi(api_client(config.voice_api_base_url))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(call_id={self.config.call_id!r})"

    # ------------------------------------------------------------------ the Hangup contract

    async def prepare(self) -> None:
        """Fetch the token ahead of time, so the hang-up itself is one request."""
        deadline = time.monotonic() + self.config.timeout_secs
        try:
            async with asyncio.timeout(self.config.timeout_secs):
                await self._token(deadline)
        except (_Failed, TimeoutError) as e:
            logger.debug(f"{self!r}: token warm-up failed ({type(e).__name__}); will retry")

    async def hang_up(self, request: HangupRequest) -> HangupResult:
        started = time.monotonic()
        # The serializer hands the deadline left after its play-out wait; called directly
        # (tests, scripts), the whole timeout applies.
        deadline = request.deadline or started + self.config.timeout_secs
        progress = _Progress()
        try:
            async with asyncio.timeout(max(0.0, deadline - started)):
                if request.reason == "end":  # let the goodbye already sent finish playing
                    wait = min(request.playout_remaining_secs, self.config.playout_wait_secs)
                    await asyncio.sleep(max(0.0, wait))
                status, token = await self._attempt(progress, deadline)
                if status == 401:
                    # The cached token was refused (revoked, or expired early): once more
                    # with a new one, and never keep serving the refused one to other calls.
                    self._tokens.invalidate(token)
                    status, _ = await self._attempt(progress, deadline)
            if status == 404:
                outcome, reason = HangupOutcome.ALREADY_ENDED, "call was no longer active"
            elif 200 <= status < 300:
                outcome, reason = HangupOutcome.COMPLETED, "call completed"
            else:
                outcome, reason = HangupOutcome.FAILED, f"Voice API refused the hang-up ({status})"
        except TimeoutError:
            outcome, reason = HangupOutcome.FAILED, "deadline exceeded"
        except _Failed as e:
            outcome, reason = HangupOutcome.FAILED, e.reason
            if e.status is not None:  # the token endpoint's answer
                progress.status = e.status
        return HangupResult(
            outcome=outcome,
            status=progress.status,
            attempts=progress.attempts,
            seconds=time.monotonic() - started,
            reason=reason,
            strategy=self.name,
        )

    async def close(self) -> None:
        return None  # the SDK client is shared by other calls

    # ------------------------------------------------------------------ steps

    async def _token(self, deadline: float) -> str:
        """A bearer token from bwserial's per-process cache (fetched at most once at a time)."""
        try:
            return await self._tokens.get_token(aiohttp.ClientTimeout(total=_remaining(deadline)))
        except TokenError as e:
            raise _Failed(e.status, e.reason) from None
        except aiohttp.ClientError as e:
            raise _Failed(None, f"token request failed: {type(e).__name__}") from None

    async def _attempt(self, progress: _Progress, deadline: float) -> tuple[int, str]:
        """One call update: returns its status and the token it presented."""
        token = await self._token(deadline)
        progress.attempts += 1
        progress.status = await asyncio.to_thread(self._update_call, token, deadline)
        logger.debug(f"{self!r}: attempt {progress.attempts} answered {progress.status}")
        return progress.status, token

    def _update_call(self, token: str, deadline: float) -> int:
        """One SDK call update; blocking, so it runs in a worker thread.

        Returns the HTTP status: the SDK raises ``ApiException`` for non-2xx answers,
        and those are answers, not failures, here. Nothing from an exception's text
        goes into the result (it may quote response headers and bodies).
        """
        try:
            response = self._calls.update_call_with_http_info(
                self.config.account_id,
                self.config.call_id,
                COMPLETED,
                _request_timeout=_remaining(deadline),
                _request_auth={
                    "in": "header",
                    "type": "oauth2",
                    "key": "Authorization",
                    "value": f"Bearer {token}",
                },
            )
        except ApiException as e:
            if e.status:
                return int(e.status)
            # Status 0: the SDK's wrapper for a TLS failure, before any answer.
            raise _Failed(None, "Voice API request failed: TLS error") from None
        except urllib3.exceptions.HTTPError as e:
            raise _Failed(None, f"Voice API request failed: {type(e).__name__}") from None
        return int(response.status_code)


STRATEGY: Final = HangupStrategy(
    name=NAME,
    factory=SdkHangup,
    description="Bandwidth Voice API call update through the official bandwidth-sdk",
)

bwserial_plugin_name: Final = "sdk-hangup"
"""The name bwserial gives this module if it is passed to a serializer's ``plugins`` directly."""


@hookimpl
def bwserial_hangup_strategies() -> Iterable[HangupStrategy]:
    return [STRATEGY]
