"""Bounded property-based fuzzing of ``serialize``: any frame, any audio, any message.

Part of the fuzz run (tox env ``fuzz``): ``BWSERIAL_FUZZ_EXAMPLES`` scales it like the
``deserialize`` targets (this file takes ``SHARE`` of the budget). Each example is a
sequence of Pipecat frames sent to a fresh serializer: bot audio of any length (odd and
empty included), any sample rate and channel count; interruptions; transport messages
with any content (NaN, Infinity, lists, deep nesting, odd unicode); other frame types;
End/Cancel frames. Invariants:

* nothing escapes ``serialize`` (an exception fails the example);
* everything returned is None or ``str``; ``playAudio``/``clear`` are strict JSON;
* every PCM payload is whole 16-bit samples, and no audio byte is lost to an odd split
  (at most one byte is carried, and an interruption drops it).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pipecat.frames.frames import (
    CancelFrame,
    EndFrame,
    InterruptionFrame,
    OutputAudioRawFrame,
    OutputTransportMessageFrame,
    OutputTransportMessageUrgentFrame,
    TextFrame,
)

from bwserial import BandwidthFrameSerializer

DEFAULT_EXAMPLES = 20000
SHARE = 0.1
"""This target's share of ``BWSERIAL_FUZZ_EXAMPLES`` (2,000 of the default 20,000)."""

EXAMPLES = max(1, round(int(os.environ.get("BWSERIAL_FUZZ_EXAMPLES", DEFAULT_EXAMPLES)) * SHARE))

JSONISH = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)

RATES = st.one_of(
    st.sampled_from([8000, 16000, 22050, 24000, 44100, 48000]), st.integers(1, 192000)
)

AUDIO = st.builds(
    lambda pcm, rate, channels: OutputAudioRawFrame(pcm, rate, channels),
    st.binary(max_size=4000),
    RATES,
    st.sampled_from([1, 1, 1, 2, 3]),
)

FRAMES = st.one_of(
    AUDIO,
    AUDIO,
    AUDIO,
    st.just(InterruptionFrame()),
    st.builds(lambda m: OutputTransportMessageFrame(message=m), JSONISH),
    st.builds(lambda m: OutputTransportMessageUrgentFrame(message=m), JSONISH),
    st.builds(TextFrame, st.text(max_size=20)),
    st.sampled_from([EndFrame(), CancelFrame()]),
)


def _strict(value: str) -> Any:
    def refuse(constant: str) -> Any:
        raise ValueError(f"not JSON: {constant}")

    return json.loads(value, parse_constant=refuse)


async def _check(frames: list[Any], encoding: str, rate: int) -> None:
    serializer = BandwidthFrameSerializer(
        "stream-1",
        params=BandwidthFrameSerializer.InputParams(
            auto_hang_up=False, outbound_encoding=encoding, outbound_pcm_sample_rate=rate
        ),
    )
    mono_bytes_in = 0
    pcm_bytes_out = 0
    same_rate = True
    for frame in frames:
        out = await serializer.serialize(frame)  # an exception here fails the example
        assert out is None or isinstance(out, str)
        if isinstance(frame, OutputAudioRawFrame):
            if frame.num_channels == 1 and frame.sample_rate == rate:
                mono_bytes_in += len(frame.audio)
            else:
                same_rate = False
        if isinstance(frame, InterruptionFrame):
            assert out == '{"eventType":"clear"}'
            mono_bytes_in = pcm_bytes_out  # the carried byte, if any, is dropped
        if out is not None and out.startswith('{"eventType":"playAudio"'):
            message = _strict(out)
            payload = base64.b64decode(message["media"]["payload"], validate=True)
            if encoding == "PCM":
                assert len(payload) % 2 == 0, "half a sample on the wire"
                pcm_bytes_out += len(payload)
    if encoding == "PCM" and same_rate:
        # Same rate in and out, mono: the audio passes as is, at most one byte carried.
        assert 0 <= mono_bytes_in - pcm_bytes_out <= 1


@pytest.mark.parametrize(("encoding", "rate"), [("PCMU", 8000), ("PCM", 8000), ("PCM", 24000)])
def test_fuzz_serialize(encoding: str, rate: int) -> None:
    loop = asyncio.new_event_loop()

    @settings(
        max_examples=max(1, EXAMPLES // 3),
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(frames=st.lists(FRAMES, max_size=12))
    def frames_never_escape(frames: list[Any]) -> None:
        loop.run_until_complete(_check(frames, encoding, rate))

    try:
        frames_never_escape()
    finally:
        loop.close()
    print(f"fuzz serialize ({encoding}/{rate}): {max(1, EXAMPLES // 3)} frame sequences tried")
