"""Shared fixtures: captured loguru output, clean plugin discovery, message builders."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from loguru import logger

from bwserial import plugins


@dataclass
class Setup:
    """Stands in for Pipecat's FrameProcessorSetup: the serializer only reads the rates."""

    audio_in_sample_rate: int = 16000
    audio_out_sample_rate: int = 24000


class LogCapture:
    def __init__(self) -> None:
        self.records: list[tuple[str, str]] = []

    def __call__(self, message: Any) -> None:
        record = message.record
        text = record["message"]
        if record["exception"] is not None:
            text += "\n" + "".join(str(x) for x in record["exception"])
        self.records.append((record["level"].name, text))

    def at(self, level: str) -> list[str]:
        return [text for lvl, text in self.records if lvl == level]

    @property
    def text(self) -> str:
        return "\n".join(text for _, text in self.records)


@pytest.fixture
def logs() -> Iterator[LogCapture]:
    capture = LogCapture()
    sink = logger.add(capture, level="TRACE", format="{message}")
    yield capture
    logger.remove(sink)


@pytest.fixture(autouse=True)
def clean_plugin_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test sees only the plugins its own environment selects."""
    monkeypatch.delenv("BWSERIAL_PLUGINS", raising=False)
    monkeypatch.delenv("BWSERIAL_DISABLE_PLUGINS", raising=False)
    plugins.discover(refresh=True)
    yield
    plugins.discover(refresh=True)


def media(payload: bytes = b"\xff" * 160, seq: int | str | None = 1, track: str = "inbound") -> str:
    message: dict[str, Any] = {"track": track, "payload": base64.b64encode(payload).decode()}
    if seq is not None:
        message["sequenceNumber"] = str(seq) if isinstance(seq, int) else seq
    message["eventType"] = "media"  # live captures put eventType last
    return json.dumps(message)


def start(
    stream_id: str = "stream-1",
    call_id: str = "c-abc",
    account_id: str | int = "9900000",
    encoding: str = "audio/PCMU",
    rate: int = 8000,
    params: dict[str, str] | None = None,
) -> str:
    message: dict[str, Any] = {
        "metadata": {
            "accountId": account_id,
            "callId": call_id,
            "streamId": stream_id,
            "streamName": "bot",
            "tracks": [{"name": "inbound", "mediaFormat": {"encoding": encoding, "sampleRate": rate}}],
        },
        "eventType": "start",
    }
    if params is not None:
        message["streamParams"] = params
    return json.dumps(message)


def stop(stream_id: str = "stream-1", call_id: str = "c-abc") -> str:
    return json.dumps({"metadata": {"streamId": stream_id, "callId": call_id}, "eventType": "stop"})


MALFORMED_SAMPLES: dict[str, str | bytes] = {
    "invalid JSON": '{"eventType": "media", ',
    "JSON that is not an object": "[1, 2]",
    "metadata null": '{"eventType": "start", "metadata": null}',
    "metadata missing": '{"eventType": "stop"}',
    "payload missing": '{"eventType": "media", "track": "inbound"}',
    "payload not a string": '{"eventType": "media", "payload": 42}',
    "payload not base64": '{"eventType": "media", "payload": "%%%%"}',
    "wrong field types": '{"eventType": "media", "payload": "AAAA", "sequenceNumber": {"n": 1}}',
    "bytes instead of text": b'{"eventType": "media", "payload": "AAAA"}',
    "non-UTF-8 bytes": b"\xff\xfe\x00garbage",
}
