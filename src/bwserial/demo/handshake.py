"""Opening a media stream: authenticate the upgrade, then read Bandwidth's ``start``.

Nothing runs for a stream until both checks pass: the signed token (which names the call)
and, when the BXML asked for them, the ``destinationUsername/Password`` Basic credentials.
A refused stream is accepted and closed at once with 1008 (policy violation): closing
before ``accept`` would show the client an HTTP 403 instead, and the close code is what
WebSocket clients and Bandwidth's stream events report.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Final

from fastapi import WebSocket
from loguru import logger

from bwserial.demo.auth import basic_auth_ok
from bwserial.demo.settings import DemoSettings
from bwserial.demo.tokens import InvalidStreamToken, StreamIdentity, verify_stream_token
from bwserial.protocol import StartEvent, parse
from bwserial.types import StreamStarted

__all__ = [
    "CLOSE_NO_START",
    "CLOSE_POLICY_VIOLATION",
    "Refused",
    "StartMessage",
    "authenticate",
    "close_quietly",
    "read_start",
    "refuse",
]

CLOSE_POLICY_VIOLATION: Final = 1008
CLOSE_NO_START: Final = 1002
"""Protocol error: the first message was not a valid ``start``."""


@dataclass(frozen=True, slots=True)
class Refused:
    reason: str
    """Short and safe to send as the close reason: no token, no secret."""


@dataclass(frozen=True, slots=True)
class StartMessage:
    started: StreamStarted
    """As Bandwidth (or anyone) sent it: its IDs are not trusted."""
    text: str
    """The raw message, so the serializer can be shown it too."""


def authenticate(websocket: WebSocket, settings: DemoSettings) -> StreamIdentity | Refused:
    """Check the upgrade request; the identity comes only from the token."""
    credentials = settings.stream_auth()
    if credentials is not None and not basic_auth_ok(
        websocket.headers.get("authorization"), *credentials
    ):
        return Refused("invalid credentials")
    try:
        return verify_stream_token(
            settings.token_secret.get_secret_value(), websocket.query_params.get("token", "")
        )
    except InvalidStreamToken as e:
        return Refused(f"stream token {e.reason}")


async def close_quietly(websocket: WebSocket, code: int, reason: str) -> None:
    """Close with ``code``; a client that already left is not an error."""
    with contextlib.suppress(Exception):
        await websocket.close(code=code, reason=reason)


async def refuse(websocket: WebSocket, refused: Refused) -> None:
    """Accept, then close with 1008, so the client sees the close code (not HTTP 403)."""
    logger.warning(f"demo bot: refused a media stream from {websocket.client}: {refused.reason}")
    await websocket.accept()
    await close_quietly(websocket, CLOSE_POLICY_VIOLATION, refused.reason)


async def read_start(websocket: WebSocket, timeout_secs: float) -> StartMessage | None:
    """The first message, if it is a valid ``start`` within ``timeout_secs``; else None.

    The transport's serializer needs the stream id at construction, which only ``start``
    carries, so the app reads it before handing the socket to Pipecat (the same pattern
    as Pipecat's other telephony serializers).
    """
    try:
        async with asyncio.timeout(timeout_secs):
            message = await websocket.receive()
    except TimeoutError:
        return None
    text = message.get("text")
    if message["type"] != "websocket.receive" or not isinstance(text, str):
        return None  # the client left, or sent a binary frame (Bandwidth sends text only)
    event = parse(text)
    if not isinstance(event, StartEvent):
        return None
    return StartMessage(event.started, text)
