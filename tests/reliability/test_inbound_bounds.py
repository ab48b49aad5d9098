"""Issue 12 items 1, 2, 3 and 5: size caps, odd input types, sequence bounds, strict JSON out."""

from __future__ import annotations

import base64
import contextlib
import json
import math
import time

import pytest
from pipecat.frames.frames import InputAudioRawFrame, OutputTransportMessageFrame

from bwserial import BandwidthFrameSerializer, GapKind
from bwserial.testing.messages import media
from bwtest_helpers import Recorder, Setup

Params = BandwidthFrameSerializer.InputParams
PCMU_20MS = b"\x7f" * 160


def make(recorder: Recorder | None = None, **params: object) -> BandwidthFrameSerializer:
    extra = [recorder] if recorder else []
    return BandwidthFrameSerializer(
        "stream-1",
        params=Params(auto_hang_up=False, **params),
        plugins=extra,  # type: ignore[arg-type]
    )


async def started(recorder: Recorder | None = None, **params: object) -> BandwidthFrameSerializer:
    serializer = make(recorder, **params)
    await serializer.setup(Setup(audio_in_sample_rate=16000))
    return serializer


def reasons(recorder: Recorder) -> list[str]:
    return [call["message"].reason for call in recorder.of("bad_message")]


# ------------------------------------------------------------------ 1. size caps


async def test_a_10_mb_message_is_refused_by_its_length_then_audio_goes_on() -> None:
    recorder = Recorder()
    serializer = await started(recorder)
    huge = media(b"\x7f" * (7_500_000), seq=1)  # ~10 MB of text, ~940 s of audio
    assert len(huge) > 10_000_000
    assert await serializer.deserialize(huge) is None
    assert reasons(recorder) == [
        f"message of {len(huge)} characters is longer than max_message_chars (65536)"
    ]
    frame = await serializer.deserialize(media(PCMU_20MS, seq=2))
    assert isinstance(frame, InputAudioRawFrame) and len(frame.audio) == 640  # 20 ms at 16 kHz


async def test_refusing_a_huge_message_costs_the_same_as_a_small_one() -> None:
    serializer = await started()
    huge = "x" * 10_000_000
    small = "x" * 70_000
    await serializer.deserialize(huge)

    def best(data: str) -> float:
        times = []
        for _ in range(20):
            t0 = time.perf_counter()
            coro = serializer.deserialize(data)
            with contextlib.suppress(StopIteration):
                coro.send(None)
            times.append(time.perf_counter() - t0)
        return min(times)

    huge_secs, small_secs = best(huge), best(small)
    assert huge_secs < 0.001  # well under a millisecond for 10 MB
    assert huge_secs < small_secs * 20 + 0.0002  # does not grow with the message


async def test_a_media_payload_longer_than_the_bound_is_refused_before_decoding() -> None:
    recorder = Recorder()
    serializer = await started(recorder)
    two_seconds = media(b"\x7f" * 16000, seq=1)  # 21 KB: under the size cap
    assert await serializer.deserialize(two_seconds) is None
    assert reasons(recorder) and "max_media_payload_secs" in reasons(recorder)[0]
    assert serializer.context.frames_in == 0
    # One second is still accepted, and so is the next 20 ms frame.
    one_second = await serializer.deserialize(media(b"\x7f" * 8000, seq=2))
    assert isinstance(one_second, InputAudioRawFrame)
    assert len(one_second.audio) == 2 * 16000
    assert isinstance(await serializer.deserialize(media(PCMU_20MS, seq=3)), InputAudioRawFrame)


async def test_the_limits_are_settings() -> None:
    recorder = Recorder()
    serializer = await started(recorder, max_message_chars=200_000, max_media_payload_secs=5.0)
    frame = await serializer.deserialize(media(b"\x7f" * 32000, seq=1))  # 4 s: allowed now
    assert isinstance(frame, InputAudioRawFrame) and len(frame.audio) == 4 * 16000 * 2
    with pytest.raises(ValueError):
        Params(max_media_payload_secs=0)
    with pytest.raises(ValueError):
        Params(max_message_chars=10)


# ------------------------------------------------------------------ 2. input types


@pytest.mark.parametrize("value", [0, 1.5, True, None, {"eventType": "media"}, object(), [1]])
async def test_input_that_is_not_text_or_bytes_is_refused_with_a_warning(
    value: object,
    logs,  # type: ignore[no-untyped-def]
) -> None:
    recorder = Recorder()
    serializer = await started(recorder)
    assert await serializer.deserialize(value) is None  # type: ignore[arg-type]
    assert reasons(recorder) == [
        f"unsupported input type {type(value).__name__}; expected JSON text"
    ]
    assert any("unsupported input type" in line for line in logs.at("WARNING"))
    assert isinstance(await serializer.deserialize(media(PCMU_20MS, seq=1)), InputAudioRawFrame)


# ------------------------------------------------------------------ 3. sequence numbers


@pytest.mark.parametrize(
    "seq", [str(10**30), str(10**400), "999999999999999999", "4294967296", 2**32, 10**30]
)
async def test_a_sequence_number_beyond_32_bits_is_a_bad_message(seq: object) -> None:
    recorder = Recorder()
    serializer = await started(recorder)
    text = json.dumps(
        {
            "track": "inbound",
            "payload": base64.b64encode(PCMU_20MS).decode(),
            "sequenceNumber": seq,
            "eventType": "media",
        }
    )
    assert await serializer.deserialize(text) is None
    assert reasons(recorder) == ["sequenceNumber is out of the 32-bit range"]
    assert recorder.of("media_gap") == []


async def test_a_jump_beyond_any_plausible_gap_is_a_restart_not_a_gap() -> None:
    recorder = Recorder()
    serializer = await started(recorder)
    assert await serializer.deserialize(media(PCMU_20MS, seq=1)) is not None
    assert await serializer.deserialize(media(PCMU_20MS, seq=4_000_000_000)) is not None
    assert await serializer.deserialize(media(PCMU_20MS, seq=4_000_000_001)) is not None
    gaps = [call["gap"] for call in recorder.of("media_gap")]
    assert gaps == []
    assert serializer.context.gaps == 0
    # A real gap is still a gap, with a count an observer can add to a float.
    assert await serializer.deserialize(media(PCMU_20MS, seq=4_000_000_011)) is not None
    gaps = [call["gap"] for call in recorder.of("media_gap")]
    assert [(g.kind, g.missing) for g in gaps] == [(GapKind.GAP, 9)]
    assert math.isfinite(0.02 * float(serializer.context.gaps))


async def test_sequence_numbers_restarting_at_1_without_a_start_keep_the_audio_coming() -> None:
    recorder = Recorder()
    serializer = await started(recorder)
    out = 0
    for seq in [*range(1, 201), *range(1, 101)]:
        frame = await serializer.deserialize(media(PCMU_20MS, seq=seq))
        if frame is not None:
            out += len(frame.audio)
    assert out == 300 * 640  # every one of the 300 frames became 20 ms of audio
    assert serializer.context.frames_in == 300
    assert [call["gap"].kind for call in recorder.of("media_gap")] == []


# ------------------------------------------------------------------ 5. strict JSON out


@pytest.mark.parametrize(
    ("message", "why"),
    [
        ({"score": math.nan}, "NaN or Infinity"),
        ({"score": math.inf}, "NaN or Infinity"),
        ({"nested": [1, -math.inf]}, "NaN or Infinity"),
        ([1, 2, 3], "list, not a JSON object"),
        ("text", "str, not a JSON object"),
        ({"when": object()}, "not JSON (TypeError)"),
    ],
)
async def test_a_transport_message_that_is_not_strict_json_is_refused_with_a_warning(
    message: object,
    why: str,
    logs,  # type: ignore[no-untyped-def]
) -> None:
    serializer = make()
    out = await serializer.serialize(OutputTransportMessageFrame(message=message))
    assert out is None
    warnings = logs.at("WARNING")
    assert len(warnings) == 1 and why in warnings[0]
    assert logs.at("ERROR") == []
    fine = await serializer.serialize(OutputTransportMessageFrame(message={"score": 1.5}))
    assert fine == '{"score":1.5}'


async def test_a_flood_of_refused_transport_messages_logs_once(logs) -> None:  # type: ignore[no-untyped-def]
    serializer = make()
    for _ in range(100):
        await serializer.serialize(OutputTransportMessageFrame(message={"x": math.nan}))
    assert len(logs.at("WARNING")) == 1
