"""serialize(): bot audio out, barge-in, transport messages and the hang-up trigger."""

from __future__ import annotations

import base64
import json

import pytest
from pipecat.frames.frames import (
    CancelFrame,
    EndFrame,
    InterruptionFrame,
    OutputAudioRawFrame,
    OutputTransportMessageFrame,
    OutputTransportMessageUrgentFrame,
    TextFrame,
)

from bwserial import BandwidthFrameSerializer, HangupOutcome
from bwtest_helpers import Recorder, ScriptedStrategyPlugin, Setup, tone

Params = BandwidthFrameSerializer.InputParams


def make(*plugins: object, **params: object) -> BandwidthFrameSerializer:
    params.setdefault("auto_hang_up", False)
    return BandwidthFrameSerializer(
        "stream-1",
        call_id="c-1",
        account_id="9900000",
        client_id="id",
        client_secret="s3cr3t",
        params=Params(**params),
        plugins=list(plugins),  # type: ignore[arg-type]
    )


def audio(pcm: bytes, rate: int = 24000) -> OutputAudioRawFrame:
    return OutputAudioRawFrame(audio=pcm, sample_rate=rate, num_channels=1)


async def play(
    serializer: BandwidthFrameSerializer, pcm: bytes, rate: int, chunk_ms: int = 40
) -> list[dict]:
    step = rate * chunk_ms // 1000 * 2
    messages = []
    for i in range(0, len(pcm), step):
        out = await serializer.serialize(audio(pcm[i : i + step], rate))
        if out is not None:
            messages.append(json.loads(out))
    return messages


@pytest.mark.parametrize(
    ("encoding", "wire_rate", "content_type", "bytes_per_sample"),
    [
        ("PCMU", 8000, "audio/pcmu", 1),
        (
            "PCM",
            8000,
            "audio/pcm;rate=8000;channels=1;bit-depth=16;endian=little;encoding=signed",
            2,
        ),
        (
            "PCM",
            16000,
            "audio/pcm;rate=16000;channels=1;bit-depth=16;endian=little;encoding=signed",
            2,
        ),
        (
            "PCM",
            24000,
            "audio/pcm;rate=24000;channels=1;bit-depth=16;endian=little;encoding=signed",
            2,
        ),
    ],
)
async def test_bot_audio_becomes_play_audio(
    encoding: str, wire_rate: int, content_type: str, bytes_per_sample: int
) -> None:
    serializer = make(outbound_encoding=encoding, outbound_pcm_sample_rate=wire_rate)
    await serializer.setup(Setup())
    messages = await play(serializer, tone(440, 1.0, 24000), 24000)
    assert messages
    assert all(
        m["eventType"] == "playAudio" and m["media"]["contentType"] == content_type
        for m in messages
    )
    payload = b"".join(base64.b64decode(m["media"]["payload"]) for m in messages)
    seconds = len(payload) / bytes_per_sample / wire_rate
    assert 0.95 <= seconds <= 1.0


async def test_empty_audio_sends_nothing() -> None:
    serializer = make()
    assert await serializer.serialize(audio(b"")) is None


async def test_interruption_sends_clear_and_drops_pre_interruption_audio() -> None:
    recorder = Recorder()
    serializer = make(recorder, outbound_encoding="PCM", outbound_pcm_sample_rate=8000)
    loud = tone(1000, 0.04, 24000, amplitude=0.9)
    await serializer.serialize(audio(loud))
    assert await serializer.serialize(InterruptionFrame()) == '{"eventType":"clear"}'
    [event] = recorder.of("interruption")
    assert event["event"].discarded_secs > 0
    silence = b"\x00\x00" * 960
    outs = [await serializer.serialize(audio(silence)) for _ in range(5)]
    payloads = [base64.b64decode(json.loads(out)["media"]["payload"]) for out in outs if out]
    assert payloads, "audio after an interruption must still be sent"
    for pcm in payloads:  # none of it may carry the loud pre-interruption tone
        peak = max(
            abs(int.from_bytes(pcm[i : i + 2], "little", signed=True))
            for i in range(0, len(pcm), 2)
        )
        assert peak < 200
    assert serializer.context.interruptions == 1


@pytest.mark.parametrize(
    "frame_type", [OutputTransportMessageFrame, OutputTransportMessageUrgentFrame]
)
async def test_transport_messages_pass_through_as_json(frame_type: type) -> None:
    serializer = make()
    out = await serializer.serialize(frame_type(message={"type": "custom", "n": 1}))
    assert json.loads(out) == {"type": "custom", "n": 1}  # type: ignore[arg-type]


async def test_rtvi_messages_are_ignored_unless_configured() -> None:
    rtvi = OutputTransportMessageFrame(message={"label": "rtvi-ai", "type": "bot-ready"})
    assert await make().serialize(rtvi) is None
    assert await make(ignore_rtvi_messages=False).serialize(rtvi) is not None


async def test_other_frames_return_none() -> None:
    assert await make().serialize(TextFrame("hello")) is None


async def test_end_frame_hangs_up_once_through_the_selected_strategy() -> None:
    plugin = ScriptedStrategyPlugin()
    recorder = Recorder()
    serializer = make(plugin, recorder, auto_hang_up=True, hangup="scripted")
    await serializer.setup(Setup())
    assert await serializer.serialize(EndFrame()) is None
    assert await serializer.serialize(CancelFrame()) is None
    requests = [r for r in plugin.log if r != "prepare"]
    assert len(requests) == 1 and requests[0].reason == "end"
    [finished] = recorder.of("hangup_finished")
    assert finished["result"].outcome is HangupOutcome.COMPLETED
    assert finished["result"].strategy == "scripted"
    assert serializer.hung_up
    config = plugin.configs[0]
    assert (config.call_id, config.account_id) == ("c-1", "9900000")
    assert "s3cr3t" not in repr(config)


async def test_a_failed_hang_up_is_retried_on_the_next_end_frame() -> None:
    plugin = ScriptedStrategyPlugin([HangupOutcome.FAILED, HangupOutcome.COMPLETED])
    serializer = make(plugin, auto_hang_up=True, hangup="scripted")
    await serializer.serialize(EndFrame())
    assert not serializer.hung_up
    await serializer.serialize(CancelFrame())
    assert serializer.hung_up
    requests = [r for r in plugin.log if r != "prepare"]
    assert [r.reason for r in requests] == ["end", "cancel"]


async def test_no_hang_up_without_auto_hang_up() -> None:
    plugin = ScriptedStrategyPlugin()
    serializer = make(plugin, auto_hang_up=False, hangup="scripted")
    await serializer.serialize(EndFrame())
    assert plugin.log == []


async def test_end_frame_waits_for_the_speech_but_not_the_trailing_silence() -> None:
    import time

    plugin = ScriptedStrategyPlugin()
    serializer = make(plugin, auto_hang_up=True, hangup="scripted")
    await serializer.setup(Setup())
    await play(serializer, tone(300, 1.0, 24000), 24000)  # 1 s of speech sent at once
    await play(serializer, b"\x00\x00" * 24000 * 2, 24000)  # 2 s of trailing silence
    assert 1.2 <= serializer.playout_remaining_secs() <= 1.6  # speech + 0.5 s of the silence
    started = time.monotonic()
    await serializer.serialize(EndFrame())
    waited = time.monotonic() - started
    [request] = [r for r in plugin.log if r != "prepare"]
    # The serializer itself waited for the speech (not the 3 s of audio queued), then
    # asked the strategy to hang up at once.
    assert 1.2 <= waited < 2.4
    assert request.reason == "end" and request.playout_remaining_secs == 0


async def test_cancel_frame_asks_for_an_immediate_hang_up() -> None:
    plugin = ScriptedStrategyPlugin()
    serializer = make(plugin, auto_hang_up=True, hangup="scripted")
    await play(serializer, tone(300, 1.0, 24000), 24000)
    await serializer.serialize(CancelFrame())
    [request] = [r for r in plugin.log if r != "prepare"]
    assert request.reason == "cancel" and request.playout_remaining_secs == 0


async def test_strategy_is_warmed_up_once_after_setup() -> None:
    import asyncio

    plugin = ScriptedStrategyPlugin()
    serializer = make(plugin, auto_hang_up=True, hangup="scripted")
    await serializer.setup(Setup())
    await serializer.setup(Setup())
    await asyncio.sleep(0)
    assert plugin.log.count("prepare") == 1


async def test_stereo_frames_are_downmixed() -> None:
    serializer = make(outbound_encoding="PCM", outbound_pcm_sample_rate=24000)
    stereo = OutputAudioRawFrame(audio=b"\x10\x00\x10\x00" * 960, sample_rate=24000, num_channels=2)
    out = await serializer.serialize(stereo)
    assert out is not None
    assert len(base64.b64decode(json.loads(out)["media"]["payload"])) == 960 * 2


@pytest.mark.parametrize(("encoding", "wire_rate"), [("PCMU", 8000), ("PCM", 8000), ("PCM", 16000)])
async def test_odd_length_frames_lose_no_audio_and_log_a_few_lines(
    encoding: str, wire_rate: int, logs
) -> None:  # type: ignore[no-untyped-def]
    serializer = make(outbound_encoding=encoding, outbound_pcm_sample_rate=wire_rate)
    pcm = tone(300, 2.0, wire_rate)  # 2 s at the wire rate: no resampling, bytes pass as is
    size = 321  # odd: every frame splits a sample
    payloads = []
    for i in range(0, len(pcm), size):
        out = await serializer.serialize(audio(pcm[i : i + size], wire_rate))
        if out is not None:
            payloads.append(base64.b64decode(json.loads(out)["media"]["payload"]))
    sent_samples = sum(len(p) for p in payloads) // (2 if encoding == "PCM" else 1)
    assert sent_samples == len(pcm) // 2  # every whole sample reached the wire
    if encoding == "PCM":
        assert all(len(p) % 2 == 0 for p in payloads)  # never half a sample
        assert b"".join(payloads) == pcm  # and in order, unshifted
    assert logs.at("ERROR") == []
    assert 1 <= len(logs.at("WARNING")) <= 3


async def test_an_interruption_drops_the_carried_byte() -> None:
    serializer = make(outbound_encoding="PCM", outbound_pcm_sample_rate=8000)
    await serializer.serialize(audio(b"\x01\x02\x03", 8000))  # one byte carried
    await serializer.serialize(InterruptionFrame())
    out = await serializer.serialize(audio(b"\x10\x00\x20\x00", 8000))
    assert out is not None
    assert base64.b64decode(json.loads(out)["media"]["payload"]) == b"\x10\x00\x20\x00"


async def test_a_frame_that_cannot_be_encoded_is_dropped_with_rate_limited_errors(logs) -> None:  # type: ignore[no-untyped-def]
    serializer = make(outbound_encoding="PCM", outbound_pcm_sample_rate=8000)
    for _ in range(100):
        assert await serializer.serialize(audio(b"\x00\x00" * 80, 0)) is None  # rate 0
    assert 1 <= len(logs.at("ERROR")) <= 2
    ok = await serializer.serialize(audio(b"\x00\x10" * 80, 8000))  # the call goes on
    assert ok is not None
