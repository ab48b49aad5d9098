"""Builders for the messages Bandwidth sends, for tests of bots and plugins.

They produce exactly the JSON text a live stream carries (``eventType`` last,
string sequence numbers), so a test can drive ``deserialize`` without a socket.
"""

from __future__ import annotations

import base64
import json
from typing import Any

__all__ = ["MULAW_SILENCE", "media", "start", "stop"]

MULAW_SILENCE = b"\xff" * 160
"""20 ms of mu-law silence, the size of a live media frame."""


def media(payload: bytes = MULAW_SILENCE, seq: int | str | None = 1, track: str = "inbound") -> str:
    """A ``media`` message; ``seq=None`` leaves ``sequenceNumber`` out."""
    message: dict[str, Any] = {"track": track, "payload": base64.b64encode(payload).decode()}
    if seq is not None:
        message["sequenceNumber"] = str(seq) if isinstance(seq, int) else seq
    message["eventType"] = "media"
    return json.dumps(message)


def start(
    stream_id: str = "stream-1",
    call_id: str = "c-abc",
    account_id: str | int = "9900000",
    encoding: str = "audio/PCMU",
    rate: int = 8000,
    params: dict[str, str] | None = None,
    stream_name: str = "bot",
) -> str:
    """A ``start`` message with one inbound track."""
    message: dict[str, Any] = {
        "metadata": {
            "accountId": account_id,
            "callId": call_id,
            "streamId": stream_id,
            "streamName": stream_name,
            "tracks": [
                {"name": "inbound", "mediaFormat": {"encoding": encoding, "sampleRate": rate}}
            ],
        },
    }
    if params is not None:
        message["streamParams"] = params
    message["eventType"] = "start"
    return json.dumps(message)


def stop(stream_id: str = "stream-1", call_id: str = "c-abc") -> str:
    """A ``stop`` message."""
    return json.dumps({"metadata": {"streamId": stream_id, "callId": call_id}, "eventType": "stop"})
