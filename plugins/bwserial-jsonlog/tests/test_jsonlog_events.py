"""What the JSON lines say, where they go, and what they never contain."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from bwserial import BandwidthFrameSerializer
from bwserial.testing.fake_voice_api import FakeVoiceAPI
from bwserial.testing.messages import media, start, stop
from bwserial.voiceapi import _oauth as oauth
from bwserial.voiceapi._http_pool import close_sessions
from loguru import logger
from pipecat.frames.frames import EndFrame, InterruptionFrame, OutputAudioRawFrame

import bwserial_jsonlog
from bwserial_jsonlog import JsonLogPlugin

Params = BandwidthFrameSerializer.InputParams
SECRET = "jsonlog-test-s3cret"


@dataclass
class Setup:
    """Stands in for Pipecat's FrameProcessorSetup: the serializer reads the rates only."""

    audio_in_sample_rate: int = 16000
    audio_out_sample_rate: int = 24000


def lines(text: str) -> list[dict[str, Any]]:
    """The JSON event lines in ``text`` (stderr may also carry other log output)."""
    found = []
    for line in text.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if isinstance(record, dict) and "event" in record:
                found.append(record)
    return found


def observed(stream: io.StringIO, **params: Any) -> BandwidthFrameSerializer:
    """A serializer logging to ``stream`` only: the documented way to redirect one call."""
    params.setdefault("auto_hang_up", False)
    return BandwidthFrameSerializer(
        "stream-1",
        call_id="c-trusted",
        account_id="9900000",
        params=Params(disable_plugins=["jsonlog"], **params),
        plugins=[JsonLogPlugin(stream)],
    )


@pytest.fixture
def warnings_logged() -> Iterator[list[str]]:
    messages: list[str] = []
    sink = logger.add(lambda m: messages.append(m.record["message"]), level="WARNING")
    yield messages
    logger.remove(sink)


async def drive_a_call(serializer: BandwidthFrameSerializer) -> None:
    """Start, a gap, a duplicate, a bad message, bot audio, an interruption, stop."""
    await serializer.setup(Setup())
    await serializer.deserialize(
        start(call_id="c-claimed", params={"customer": "+15551234567", "session": "abc"})
    )
    await serializer.deserialize(media(seq=1))
    await serializer.deserialize(media(seq=4))
    await serializer.deserialize(media(seq=4))
    await serializer.deserialize('{"eventType": "media", "payload": "PAYLOAD-TEXT-%%%"}')
    await serializer.serialize(OutputAudioRawFrame(b"\x10\x00" * 480, 24000, 1))
    await serializer.serialize(InterruptionFrame())
    await serializer.deserialize(stop())


async def test_each_event_is_one_json_line_with_the_common_fields_first() -> None:
    out = io.StringIO()
    await drive_a_call(observed(out))
    records = lines(out.getvalue())
    assert [r["event"] for r in records] == [
        "stream_started",
        "stream_warning",  # the start message claims another call id than the trusted one
        "media_gap",
        "media_gap",
        "bad_message",
        "interruption",
        "stream_stopped",
    ]
    for record in records:
        assert list(record)[:4] == ["ts", "event", "stream_id", "call_id"]
        assert (record["stream_id"], record["call_id"]) == ("stream-1", "c-trusted")
        assert datetime.fromisoformat(record["ts"].replace("Z", "+00:00")).utcoffset() is not None
    assert len(out.getvalue().splitlines()) == len(records)  # nothing but JSON lines


async def test_event_fields_and_counters() -> None:
    out = io.StringIO()
    await drive_a_call(observed(out))
    started, mismatch, gap, duplicate, bad, interruption, stopped = lines(out.getvalue())
    assert mismatch["kind"] == "call-id-mismatch"
    assert started["claimed_call_id"] == "c-claimed"  # the start message's, kept apart
    assert started["tracks"] == [{"name": "inbound", "encoding": "PCMU", "sample_rate": 8000}]
    assert started["stream_param_keys"] == ["customer", "session"]
    assert gap | {"ts": None} == {
        "ts": None,
        "event": "media_gap",
        "stream_id": "stream-1",
        "call_id": "c-trusted",
        "kind": "gap",
        "expected": 2,
        "received": 4,
        "missing": 2,
        "gaps": 2,
        "duplicates": 0,
    }
    assert (duplicate["kind"], duplicate["missing"], duplicate["duplicates"]) == ("duplicate", 0, 1)
    assert (bad["reason"], bad["bad_messages"]) == ("payload is not valid base64", 1)
    assert interruption["interruptions"] == 1 and interruption["frames_out"] == 1
    assert 0 < interruption["discarded_secs"] <= 0.02
    assert stopped["reason"] == "stop"
    assert {k: stopped[k] for k in bwserial_jsonlog.ALL_COUNTERS} == {
        "frames_in": 2,
        "frames_out": 1,
        "gaps": 2,
        "duplicates": 1,
        "bad_messages": 1,
        "interruptions": 1,
    }


async def test_caller_controlled_text_stays_out_of_the_log() -> None:
    out = io.StringIO()
    await drive_a_call(observed(out))
    text = out.getvalue()
    assert "PAYLOAD-TEXT" not in text  # the bad message itself
    assert "+15551234567" not in text and '"abc"' not in text  # streamParams values


@pytest.fixture
async def voice_api(make_fake_voice_api: Callable[..., Awaitable[FakeVoiceAPI]]) -> FakeVoiceAPI:
    """bwserial's fixture: token cache and pooled sessions are reset around the test."""
    return await make_fake_voice_api(client_id="cid", client_secret=SECRET)


async def test_the_hang_up_line_has_its_outcome_and_timing(voice_api: FakeVoiceAPI) -> None:
    out = io.StringIO()
    serializer = BandwidthFrameSerializer(
        "stream-1",
        call_id="c-trusted",
        account_id="9900000",
        client_id="cid",
        client_secret=SECRET,
        params=Params(
            oauth_token_url=voice_api.token_url,
            voice_api_base_url=voice_api.voice_api_base_url,
            disable_plugins=["jsonlog"],
        ),
        plugins=[JsonLogPlugin(out)],
    )
    await serializer.serialize(EndFrame())
    [finished] = lines(out.getvalue())
    assert finished["event"] == "hangup_finished"
    assert (finished["outcome"], finished["status"], finished["attempts"]) == ("completed", 200, 1)
    assert finished["strategy"] == "voice-api" and finished["reason"] == "call completed"
    assert isinstance(finished["seconds"], float) and 0 < finished["seconds"] < 3
    assert voice_api.tokens_issued == 1
    assert not re.search(r"fake-[A-Za-z0-9_-]{32}", out.getvalue())  # FakeVoiceAPI's tokens
    assert SECRET not in out.getvalue()


async def test_a_media_format_warning_is_logged() -> None:
    out = io.StringIO()
    serializer = observed(out)
    await serializer.deserialize(start(encoding="audio/OPUS", rate=48000))
    warning = next(r for r in lines(out.getvalue()) if r.get("kind") == "media-format")
    assert warning["event"] == "stream_warning" and "OPUS" in warning["detail"]


async def test_the_entry_point_logs_to_stderr_by_default(
    capsys: pytest.CaptureFixture[str],
) -> None:
    serializer = BandwidthFrameSerializer("stream-9", params=Params(auto_hang_up=False))
    await serializer.deserialize(start(stream_id="stream-9"))
    assert [r["event"] for r in lines(capsys.readouterr().err)] == ["stream_started"]


async def test_the_entry_point_appends_to_the_env_var_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = tmp_path / "calls.jsonl", tmp_path / "later.jsonl"
    first.write_text('{"event": "from before"}\n')
    monkeypatch.setenv(bwserial_jsonlog.ENV_FILE, str(first))
    serializer = BandwidthFrameSerializer("stream-1", params=Params(auto_hang_up=False))
    await serializer.deserialize(start())
    monkeypatch.setenv(bwserial_jsonlog.ENV_FILE, str(second))  # read at write time
    await serializer.deserialize(stop())
    assert [r["event"] for r in lines(first.read_text())] == ["from before", "stream_started"]
    assert [r["event"] for r in lines(second.read_text())] == ["stream_stopped"]
    assert lines(capsys.readouterr().err) == []


async def test_an_instance_runs_beside_the_entry_point(
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = io.StringIO()
    serializer = BandwidthFrameSerializer(
        "stream-1", params=Params(auto_hang_up=False), plugins=[JsonLogPlugin(out)]
    )
    await serializer.deserialize(start())
    assert len(lines(out.getvalue())) == len(lines(capsys.readouterr().err)) == 1


def test_two_instances_in_one_serializer_need_their_own_names() -> None:
    with pytest.raises(ValueError, match="jsonlog-stream"):
        BandwidthFrameSerializer(
            "s",
            params=Params(
                auto_hang_up=False,
            ),
            plugins=[JsonLogPlugin(io.StringIO()), JsonLogPlugin(io.StringIO())],
        )
    BandwidthFrameSerializer(
        "s",
        params=Params(
            auto_hang_up=False,
        ),
        plugins=[
            JsonLogPlugin(io.StringIO(), name="audit"),
            JsonLogPlugin(io.StringIO(), name="debug"),
        ],
    )


async def test_an_unwritable_file_warns_once_and_the_call_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, warnings_logged: list[str]
) -> None:
    monkeypatch.setenv(bwserial_jsonlog.ENV_FILE, str(tmp_path / "missing-dir" / "calls.jsonl"))
    serializer = BandwidthFrameSerializer("stream-1", params=Params(auto_hang_up=False))
    await serializer.deserialize(start())
    for seq in (1, 5, 9):
        assert await serializer.deserialize(media(seq=seq)) is not None
    assert serializer.context.gaps == 6
    [warning] = [w for w in warnings_logged if "jsonlog" in w]
    assert "BWSERIAL_JSONLOG_FILE" in warning and "dropped" in warning


async def test_a_closed_stream_warns_once(warnings_logged: list[str]) -> None:
    out = io.StringIO()
    serializer = observed(out)
    out.close()
    await serializer.deserialize(start())
    await serializer.deserialize("not json")
    await serializer.deserialize("not json either")
    assert len([w for w in warnings_logged if "jsonlog-stream" in w]) == 1
