"""deserialize(): caller audio in, stream lifecycle, and malformed input that never breaks a call."""

from __future__ import annotations

import warnings

import pytest
from pipecat.frames.frames import InputAudioRawFrame, StartFrame

from bwserial import BandwidthFrameSerializer, GapKind, StopReason, WarningKind
from bwserial.testing.messages import media, start, stop
from bwtest_helpers import MALFORMED_SAMPLES, Recorder, Setup

Params = BandwidthFrameSerializer.InputParams


def make(recorder: Recorder | None = None, **params: object) -> BandwidthFrameSerializer:
    extra = [recorder] if recorder else []
    return BandwidthFrameSerializer(
        "stream-1",
        call_id="c-trusted",
        account_id="9900000",
        params=Params(auto_hang_up=False, **params),
        plugins=extra,  # type: ignore[arg-type]
    )


async def feed_audio(serializer: BandwidthFrameSerializer, frames: int) -> list[InputAudioRawFrame]:
    out = []
    for seq in range(1, frames + 1):
        frame = await serializer.deserialize(media(seq=seq))
        if frame is not None:
            assert isinstance(frame, InputAudioRawFrame)
            out.append(frame)
    return out


@pytest.mark.parametrize("rate", [8000, 16000, 24000])
async def test_caller_audio_arrives_at_the_pipeline_rate(rate: int) -> None:
    serializer = make()
    await serializer.setup(Setup(audio_in_sample_rate=rate))
    frames = await feed_audio(serializer, 50)  # one second of caller audio
    assert frames and all(f.sample_rate == rate and f.num_channels == 1 for f in frames)
    total = sum(len(f.audio) for f in frames) / 2 / rate
    assert 0.9 <= total <= 1.0


async def test_sample_rate_param_overrides_setup() -> None:
    serializer = make(sample_rate=24000)
    await serializer.setup(Setup(audio_in_sample_rate=16000))
    frames = await feed_audio(serializer, 10)
    assert frames[-1].sample_rate == 24000


async def test_outbound_track_is_never_fed_back() -> None:
    serializer = make()
    await serializer.setup(Setup())
    assert await serializer.deserialize(media(track="outbound")) is None
    assert serializer.context.frames_in == 0


async def test_setup_with_start_frame_or_processor_setup_emits_no_deprecation_warning() -> None:
    serializer = make()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        await serializer.setup(StartFrame(audio_in_sample_rate=8000))
    frames = await feed_audio(serializer, 5)
    assert frames[-1].sample_rate == 8000


async def test_setup_is_idempotent_and_a_new_rate_rebuilds_the_decoder() -> None:
    serializer = make()
    await serializer.setup(Setup(audio_in_sample_rate=16000))
    await serializer.setup(Setup(audio_in_sample_rate=16000))
    assert (await feed_audio(serializer, 3))[-1].sample_rate == 16000
    await serializer.setup(Setup(audio_in_sample_rate=24000))
    frame = await serializer.deserialize(media(seq=4))
    assert frame is not None and frame.sample_rate == 24000  # type: ignore[attr-defined]


async def test_a_spoofed_call_id_in_start_is_flagged_not_used() -> None:
    recorder = Recorder()
    serializer = make(recorder)
    await serializer.deserialize(start(call_id="c-victim", account_id="123"))
    kinds = {w["warning"].kind for w in recorder.of("stream_warning")}
    assert kinds == {WarningKind.CALL_ID_MISMATCH, WarningKind.ACCOUNT_ID_MISMATCH}
    assert serializer.call_id == "c-trusted"


async def test_start_is_reported_and_ids_from_start_are_not_trusted() -> None:
    recorder = Recorder()
    serializer = make(recorder)
    assert await serializer.deserialize(start(call_id="c-spoofed", params={"k": "v"})) is None
    [started] = recorder.of("stream_started")
    assert started["event"].call_id == "c-spoofed"
    assert started["context"].call_id == "c-trusted"
    assert serializer.call_id == "c-trusted"
    assert dict(serializer.context.stream_params) == {"k": "v"}


async def test_other_stream_id_warns_and_keeps_working(logs) -> None:  # type: ignore[no-untyped-def]
    recorder = Recorder()
    serializer = make(recorder)
    await serializer.setup(Setup())
    await serializer.deserialize(start(stream_id="someone-else", call_id="c-trusted"))
    [warning] = recorder.of("stream_warning")
    assert warning["warning"].kind is WarningKind.STREAM_ID_MISMATCH
    assert any("someone-else" in m for m in logs.at("WARNING"))
    assert await feed_audio(serializer, 3)


async def test_unexpected_media_format_warns_and_keeps_working() -> None:
    recorder = Recorder()
    serializer = make(recorder)
    await serializer.setup(Setup())
    await serializer.deserialize(start(encoding="audio/G722", rate=16000, call_id="c-trusted"))
    [warning] = recorder.of("stream_warning")
    assert warning["warning"].kind is WarningKind.MEDIA_FORMAT
    assert await feed_audio(serializer, 3)


async def test_stop_fires_the_hook_once_even_with_a_later_socket_close() -> None:
    recorder = Recorder()
    serializer = make(recorder)
    await serializer.deserialize(start())
    await serializer.deserialize(stop())
    await serializer.deserialize(stop())
    serializer.notify_socket_closed()
    [stopped] = recorder.of("stream_stopped")
    assert stopped["event"].reason is StopReason.STOP_MESSAGE


async def test_socket_closed_without_stop_fires_the_hook_once() -> None:
    recorder = Recorder()
    serializer = make(recorder)
    await serializer.deserialize(start())
    serializer.notify_socket_closed()
    serializer.notify_socket_closed()
    [stopped] = recorder.of("stream_stopped")
    assert stopped["event"].reason is StopReason.SOCKET_CLOSED


async def test_sequence_gaps_and_duplicates_are_counted_and_reported() -> None:
    recorder = Recorder()
    serializer = make(recorder)
    await serializer.setup(Setup())
    results = [await serializer.deserialize(media(seq=s)) for s in (1, 2, 5, 5, 4, 6)]
    gaps = [call["gap"] for call in recorder.of("media_gap")]
    assert [(g.kind, g.expected, g.received, g.missing) for g in gaps] == [
        (GapKind.GAP, 3, 5, 2),
        (GapKind.DUPLICATE, 6, 5, 0),
        (GapKind.DUPLICATE, 6, 4, 0),
    ]
    assert results[3] is None and results[4] is None  # duplicates are not played twice
    assert serializer.context.gaps == 2
    assert serializer.context.duplicates == 2


async def test_frames_without_sequence_numbers_are_accepted() -> None:
    serializer = make()
    await serializer.setup(Setup())
    frames = [await serializer.deserialize(media(seq=None)) for _ in range(5)]
    assert sum(f is not None for f in frames) >= 4


@pytest.mark.parametrize("name", sorted(MALFORMED_SAMPLES))
async def test_malformed_input_returns_none_and_reaches_the_hook(name: str, logs) -> None:  # type: ignore[no-untyped-def]
    recorder = Recorder()
    serializer = make(recorder)
    await serializer.setup(Setup())
    assert await serializer.deserialize(MALFORMED_SAMPLES[name]) is None
    [bad] = recorder.of("bad_message")
    assert bad["message"].reason
    assert len(logs.at("WARNING")) == 1
    assert serializer.context.bad_messages == 1
    assert await feed_audio(serializer, 3), "the call must go on after a bad message"


async def test_a_flood_of_bad_messages_logs_one_warning_but_reports_each(logs) -> None:  # type: ignore[no-untyped-def]
    recorder = Recorder()
    serializer = make(recorder)
    for _ in range(500):
        assert await serializer.deserialize("not json") is None
    assert len(logs.at("WARNING")) == 1
    assert len(recorder.of("bad_message")) == 500


async def test_a_restarted_stream_still_reports_stopped_only_once() -> None:
    recorder = Recorder()
    serializer = make(recorder)
    for message in (start(), stop(), start(), stop()):
        await serializer.deserialize(message)
    assert len(recorder.of("stream_stopped")) == 1


# --------------------------------------------------------------------------- restarts


LOUD = bytes([0x80, 0x00] * 80)  # mu-law full scale, alternating sign: 20 ms at 8 kHz


@pytest.mark.parametrize("second_start", [True, False], ids=["second start", "count restarted"])
async def test_a_restarted_stream_does_not_carry_the_old_audio_into_the_new(
    second_start: bool,
) -> None:
    """The decoder's filter still holds the end of the old stream (its group delay):
    after a restart the first silence must decode to silence, not to that tail."""
    serializer = make()
    await serializer.setup(Setup(16000))  # 8k -> 16k: the decoder resamples
    await serializer.deserialize(start())
    for seq in range(1000, 1010):
        await serializer.deserialize(media(LOUD, seq=seq))
    if second_start:
        await serializer.deserialize(start())
    frame = await serializer.deserialize(media(seq=1))  # silence, counted from 1 again
    assert isinstance(frame, InputAudioRawFrame) and len(frame.audio) == 640
    assert frame.audio == bytes(640)


async def test_a_gap_keeps_the_decoder_state() -> None:
    """Lost frames are not a restart: the stream goes on through the same filter."""
    serializer = make()
    await serializer.setup(Setup(16000))
    await serializer.deserialize(start())
    for seq in range(1, 10):
        await serializer.deserialize(media(LOUD, seq=seq))
    frame = await serializer.deserialize(media(seq=12))  # two frames lost, then silence
    assert isinstance(frame, InputAudioRawFrame) and frame.audio != bytes(640)
