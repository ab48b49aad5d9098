"""What an attacker on the media socket can do to the logs.

Anyone who reaches the WebSocket can send any ``start`` (PROTOCOL.md section 1). Its
fields are attacker-controlled text, so logging them must not let the sender forge log
lines (a line break followed by a fake record), and one message must not be able to
write megabytes or thousands of records to the operator's log.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from loguru import logger

from bwserial import BandwidthFrameSerializer
from bwserial.testing.messages import media, start
from bwtest_helpers import Recorder, Setup

Params = BandwidthFrameSerializer.InputParams
FORGED = "2026-01-01 00:00:00.000 | ERROR    | forged record"


class Records:
    def __init__(self) -> None:
        self.messages: list[tuple[str, str]] = []

    def __call__(self, message: Any) -> None:
        self.messages.append((message.record["level"].name, message.record["message"]))

    def clear(self) -> None:
        self.messages.clear()


@pytest.fixture
def records() -> Iterator[Records]:
    sink = Records()
    handler = logger.add(sink, level="TRACE", format="{message}")
    yield sink
    logger.remove(handler)


async def serializer() -> BandwidthFrameSerializer:
    made = BandwidthFrameSerializer(
        "stream-1",
        call_id="c-trusted",
        account_id="9900000",
        params=Params(auto_hang_up=False),
        plugins=[Recorder()],
    )
    await made.setup(Setup())
    return made


def start_message(**metadata: Any) -> str:
    fields: dict[str, Any] = {
        "accountId": "9900000",
        "callId": "c-1",
        "streamId": "stream-1",
        "streamName": "bot",
        "tracks": [{"name": "inbound", "mediaFormat": {"encoding": "PCMU", "sampleRate": 8000}}],
    }
    fields.update(metadata)
    return json.dumps({"metadata": fields, "eventType": "start"})


INJECTIONS = {
    "callId": start_message(callId="c-1\n" + FORGED),
    "streamId": start_message(streamId="stream-1\r\n" + FORGED),
    "streamName": start_message(streamName="bot\n" + FORGED),
    "track name": start_message(tracks=[{"name": "inbound\n" + FORGED}]),
    "encoding": start_message(
        tracks=[{"name": "inbound", "mediaFormat": {"encoding": "PCMU\n" + FORGED}}]
    ),
    "unknown eventType": json.dumps({"eventType": "x\n" + FORGED}),
    "accountId": start_message(accountId="99\u2028" + FORGED),
}


@pytest.mark.parametrize("field", list(INJECTIONS))
async def test_a_start_field_cannot_forge_a_log_line(records: Records, field: str) -> None:
    made = await serializer()
    records.clear()
    await made.deserialize(INJECTIONS[field])
    for seq in range(1, 4):
        await made.deserialize(media(seq=seq))
    assert made.context.frames_in >= 1  # the call goes on
    for level, message in records.messages:
        assert "\n" not in message and "\r" not in message, (level, message)
        assert "\u2028" not in message, (level, message)


async def test_one_start_with_thousands_of_odd_tracks_writes_a_bounded_log(
    records: Records,
) -> None:
    track = {"name": "inbound", "mediaFormat": {"encoding": "OPUS", "sampleRate": 48000}}
    message = start_message(tracks=[track] * 5000)  # ~300 kB of text
    made = await serializer()
    records.clear()
    await made.deserialize(message)
    warnings = [m for level, m in records.messages if level == "WARNING"]
    assert len(records.messages) <= 5, f"{len(records.messages)} records from one message"
    assert len(warnings) <= 2


@pytest.mark.parametrize("field", ["streamId", "callId", "streamName", "accountId"])
async def test_a_huge_start_field_is_cut_short_in_the_log(records: Records, field: str) -> None:
    made = await serializer()
    records.clear()
    await made.deserialize(start_message(**{field: "x" * 100_000}))
    logged = sum(len(m) for _, m in records.messages)
    assert logged <= 4096, f"{logged} characters logged for one message"


async def test_a_flood_of_spoofed_starts_is_not_a_flood_of_warnings(records: Records) -> None:
    """Malformed messages are logged at most once per 10 s; a stream of forged ``start``
    messages (each a "stream id mismatch" warning) should not be a cheaper way to flood."""
    made = await serializer()
    records.clear()
    for i in range(200):
        await made.deserialize(start(stream_id=f"stream-evil-{i}"))
    warnings = [m for level, m in records.messages if level == "WARNING"]
    assert len(warnings) <= 10, f"{len(warnings)} warnings for 200 forged starts"
