"""Calls the bot places: ``POST {voice_api_base_url}/accounts/{accountId}/calls``.

Bandwidth dials ``to`` from ``from``; when the callee answers it POSTs the
``answer`` event to ``answer_url``, whose BXML (a ``<StartStream>`` to the bot, as
for an inbound call) connects the bot. The request runs through the hang-up's
machinery (:class:`~bwserial.voiceapi.VoiceApiHangup`): the process-wide token
cache, one deadline, the retry table for 429/5xx (Retry-After honoured),
connection errors and one token refresh on 401, so placing a call behaves like
ending one. Unlike a hang-up, a 404 is a failure (wrong account or URL).
"""

from __future__ import annotations

import time
from typing import Any, Final

from pydantic import SecretStr

from bwserial.call_control import is_e164
from bwserial.ids import check_id, is_bandwidth_id
from bwserial.types import HangupConfig
from bwserial.voiceapi._hangup import VoiceApiAnswer, VoiceApiHangup, _Failed
from bwserial.voiceapi._http_pool import get_session

__all__ = ["PlaceCallError", "place_call"]

DEFAULT_OAUTH_TOKEN_URL: Final = "https://api.bandwidth.com/api/v1/oauth2/token"
DEFAULT_VOICE_API_BASE_URL: Final = "https://voice.bandwidth.com/api/v2"
_NEW_CALL: Final = "new-call"
"""Stands in for the call id the request is about to create (never sent)."""


class PlaceCallError(Exception):
    """The Voice API did not create the call. Never carries a secret.

    Attributes:
        status: The last HTTP status seen, None if no answer arrived.
        reason: What went wrong, for a log line.
    """

    def __init__(self, status: int | None, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class _CallPlacer(VoiceApiHangup):
    """The hang-up's token, deadline and retry loop, pointed at the create-call endpoint."""

    def __init__(self, config: HangupConfig, body: dict[str, Any]) -> None:
        super().__init__(config)
        self.body = body
        self.call_id: str | None = None

    @property
    def calls_url(self) -> str:
        return f"{self.config.voice_api_base_url}/accounts/{self.config.account_id}/calls"

    def __repr__(self) -> str:
        return f"place_call(to={self.body.get('to')!r})"

    async def send_create(self, token: str, deadline: float) -> VoiceApiAnswer:
        from bwserial.voiceapi._hangup import is_bandwidth_error

        session = await get_session()
        async with session.post(
            self.calls_url,
            json=self.body,
            headers={"Authorization": f"Bearer {token}"},
            timeout=self._timeout(deadline),
        ) as response:
            raw = await response.read()
            status = response.status
            if 200 <= status < 300:
                self.call_id = _call_id_of(raw)
            return VoiceApiAnswer(
                status,
                response.headers.get("Retry-After"),
                is_bandwidth_error(response.content_type, raw) if status >= 400 else None,
            )


def _call_id_of(raw: bytes) -> str | None:
    import json

    try:
        parsed = json.loads(raw)
    except ValueError:
        return None
    value = parsed.get("callId") if isinstance(parsed, dict) else None
    return value if is_bandwidth_id(value) else None


async def place_call(
    *,
    account_id: str,
    client_id: str,
    client_secret: str | SecretStr,
    from_number: str,
    to: str,
    application_id: str,
    answer_url: str,
    answer_username: str | None = None,
    answer_password: str | SecretStr | None = None,
    tag: str | None = None,
    call_timeout_secs: float | None = None,
    oauth_token_url: str = DEFAULT_OAUTH_TOKEN_URL,
    voice_api_base_url: str = DEFAULT_VOICE_API_BASE_URL,
    timeout_secs: float = 10.0,
) -> str:
    """Place a call whose answer webhook connects the bot; returns the new call's id.

    Args:
        account_id: The Bandwidth account (checked like every ID).
        client_id, client_secret: OAuth 2.0 client credentials (the hang-up's).
        from_number: The calling number, E.164, one of the account's numbers.
        to: The number to call, E.164.
        application_id: The Voice application whose callbacks the call uses.
        answer_url: Where Bandwidth POSTs the ``answer`` event (https, or a loopback
            host for tests); answer it with the BXML that starts the stream.
        answer_username, answer_password: Basic auth Bandwidth sends to ``answer_url``.
        tag: Free text Bandwidth echoes in the call's webhooks.
        call_timeout_secs: How long the callee's phone rings (Bandwidth: 1-300 s).
        oauth_token_url, voice_api_base_url: As in ``InputParams``.
        timeout_secs: The deadline for the whole request, retries included.

    Raises:
        ValueError: bad input (not E.164, an ID outside the ID rule, a non-https URL),
            before any request.
        PlaceCallError: the Voice API did not create the call by the deadline.
    """
    from bwserial.config import check_endpoint_url  # imports Pipecat: not at module level

    check_id(account_id, "account_id")
    check_id(application_id, "application_id")
    for name, value in (("account_id", account_id), ("application_id", application_id)):
        if not value:
            raise ValueError(f"{name} is required")
    for name, value in (("from_number", from_number), ("to", to)):
        if not is_e164(value):
            raise ValueError(f"{name} must be an E.164 number (+15551234567), got {value!r:.40}")
    if not client_id or not client_secret:
        raise ValueError("client_id and client_secret are required")
    if not 0 < timeout_secs <= 300:
        raise ValueError(f"timeout_secs must be in (0, 300], got {timeout_secs!r}")
    if call_timeout_secs is not None and not 1 <= call_timeout_secs <= 300:
        raise ValueError(f"call_timeout_secs must be 1-300 seconds, got {call_timeout_secs!r}")
    if (answer_username is None) != (answer_password is None):
        raise ValueError("answer_username and answer_password go together")
    answer_url = check_endpoint_url(answer_url, "answer_url")
    secret = client_secret if isinstance(client_secret, SecretStr) else SecretStr(client_secret)
    body: dict[str, Any] = {
        "from": from_number,
        "to": to,
        "applicationId": application_id,
        "answerUrl": answer_url,
        "answerMethod": "POST",
    }
    if answer_username is not None and answer_password is not None:
        body["username"] = answer_username
        body["password"] = (
            answer_password.get_secret_value()
            if isinstance(answer_password, SecretStr)
            else answer_password
        )
    if tag is not None:
        body["tag"] = tag
    if call_timeout_secs is not None:
        body["callTimeout"] = call_timeout_secs
    placer = _CallPlacer(
        HangupConfig(
            call_id=_NEW_CALL,
            account_id=account_id,
            client_id=client_id,
            client_secret=secret,
            oauth_token_url=check_endpoint_url(oauth_token_url, "oauth_token_url"),
            voice_api_base_url=check_endpoint_url(voice_api_base_url, "voice_api_base_url"),
            timeout_secs=timeout_secs,
            playout_wait_secs=0.0,
        ),
        body,
    )
    deadline = time.monotonic() + timeout_secs
    try:
        status = await placer._until_done(deadline, {"attempts": 0}, placer.send_create, "call")
    except _Failed as e:
        raise PlaceCallError(e.status, e.reason) from None
    if status == 404:
        raise PlaceCallError(
            404, "Voice API answered 404 (check account_id and voice_api_base_url)"
        )
    if placer.call_id is None:
        raise PlaceCallError(status, f"Voice API answered {status} without a valid callId")
    return placer.call_id
