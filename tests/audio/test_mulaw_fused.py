"""The PCMU codec's fused path: mu-law converted inside the resampler's call, bit for bit
what converting separately gives, tails included."""

from __future__ import annotations

import numpy as np
import pytest
from bwaudio_measure import ENGINES, tone

from bwserial.audio.mulaw import pcm_to_ulaw, ulaw_to_pcm
from bwserial.audio.resample import PolyphaseResampler, create_mulaw_resampler


def _chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("out_rate", [16000, 24000])
def test_mulaw_in_equals_decoding_first(engine: str, out_rate: int) -> None:
    codes = pcm_to_ulaw(tone(700, 8000, 0.37).tobytes() + bytes(200))
    fused = PolyphaseResampler(8000, out_rate, engine=engine, mulaw="in")
    plain = PolyphaseResampler(8000, out_rate, engine=engine)
    for chunk in _chunks(codes, 157):  # odd sizes: mu-law has no half samples to carry
        assert fused.process(chunk) == plain.process(ulaw_to_pcm(chunk))
    tail = fused.flush()
    assert tail and tail == plain.flush()


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("in_rate", [16000, 24000, 48000])
def test_mulaw_out_equals_encoding_after(engine: str, in_rate: int) -> None:
    pcm = tone(1100, in_rate, 0.41).tobytes()
    loud = (np.frombuffer(pcm, np.int16).astype(np.int32) * 2).clip(-32768, 32767)
    pcm += loud.astype("<i2").tobytes()  # clipping in the filter's overshoot too
    fused = PolyphaseResampler(in_rate, 8000, engine=engine, mulaw="out")
    plain = PolyphaseResampler(in_rate, 8000, engine=engine)
    for chunk in _chunks(pcm, in_rate // 50 * 2 + 6):
        assert fused.process(chunk) == pcm_to_ulaw(plain.process(chunk))
    tail = fused.flush()
    assert tail and tail == pcm_to_ulaw(plain.flush())


def test_no_fused_resampler_where_there_is_nothing_to_resample() -> None:
    assert create_mulaw_resampler(8000, 8000, "in") is None
    assert create_mulaw_resampler(8000, 16000, "in") is not None
    with pytest.raises(ValueError, match="mulaw"):
        PolyphaseResampler(8000, 16000, mulaw="both")
