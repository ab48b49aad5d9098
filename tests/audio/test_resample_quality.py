"""Quality, measured on generated tones streamed in 20 ms chunks, steady state only.

- Passband: the gain at tones from 100 Hz to 3.4 kHz (7 kHz where the lower rate
  is 16 kHz) stays within 0.5 dB peak-to-peak.
- Aliases: a tone above the output Nyquist frequency comes out >= 60 dB down.
- Images (upsampling): everything in the output other than the tone itself is
  >= 60 dB below it.
- PCMU: a 1 kHz tone through mu-law and back keeps an SNR >= 35 dB, alone and
  through the whole call path (24k -> 8k -> PCMU -> 8k -> 16k).
"""

from __future__ import annotations

import numpy as np
import pytest
from bwaudio_measure import (
    AMPLITUDE,
    ENGINES,
    PATHS,
    db,
    fit_tone,
    passband_edge,
    rms,
    steady,
    stream,
    tone,
)

from bwserial.audio import mulaw
from bwserial.audio._design import design, response_db
from bwserial.audio.resample import PolyphaseResampler, create_resampler


def _passband_freqs(in_rate: int, out_rate: int) -> list[float]:
    edge = passband_edge(in_rate, out_rate)
    low = [100.0, 250.0, 500.0, 1000.0, 1500.0, 2000.0, 2500.0, 3000.0, 3400.0]
    return low + ([4000.0, 5000.0, 6000.0, 6500.0, 7000.0] if edge > 3400 else [])


def _gain_db(in_rate: int, out_rate: int, freq: float, engine: str = "numba") -> float:
    r = PolyphaseResampler(in_rate, out_rate, engine=engine)
    out = steady(stream(r, tone(freq, in_rate, 0.3), in_rate // 50).out, out_rate)
    amp, _ = fit_tone(out, out_rate, freq)
    return db(amp / AMPLITUDE)


@pytest.mark.parametrize(("in_rate", "out_rate"), PATHS)
def test_passband_flat_within_half_db(in_rate: int, out_rate: int) -> None:
    gains = [_gain_db(in_rate, out_rate, f) for f in _passband_freqs(in_rate, out_rate)]
    assert max(gains) - min(gains) <= 0.5, gains
    assert all(abs(g) <= 0.25 for g in gains), gains


@pytest.mark.parametrize(("in_rate", "out_rate"), PATHS)
def test_designed_response_is_flat_to_the_band_edge(in_rate: int, out_rate: int) -> None:
    # The whole band on a fine grid, not just the tones above.
    f = design(in_rate, out_rate)
    rate = in_rate * f.up
    band = response_db(f.prototype, rate, np.linspace(100, passband_edge(in_rate, out_rate), 400))
    assert band.max() - band.min() <= 0.5
    stop = response_db(f.prototype, rate, np.linspace(min(in_rate, out_rate) / 2, rate / 2, 4000))
    assert stop.max() <= -60.0


ALIAS_TONES = {
    (16000, 8000): [4050, 4500, 5000, 6000, 7900],
    (24000, 8000): [4050, 4500, 5000, 6000, 7000, 9000, 11900],
    (24000, 16000): [8100, 9000, 10000, 11900],
}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    ("in_rate", "out_rate", "freq"),
    [(a, b, f) for (a, b), fs in ALIAS_TONES.items() for f in fs],
)
def test_aliases_rejected_60db(in_rate: int, out_rate: int, freq: float, engine: str) -> None:
    r = PolyphaseResampler(in_rate, out_rate, engine=engine)
    out = steady(stream(r, tone(freq, in_rate, 0.3), in_rate // 50).out, out_rate)
    # Whatever comes out is an alias (or rounding noise): all of it must be 60 dB down.
    assert db(rms(out) / (AMPLITUDE / np.sqrt(2))) <= -60.0


@pytest.mark.parametrize(("in_rate", "out_rate"), PATHS)
def test_everything_but_the_tone_is_60db_down(in_rate: int, out_rate: int) -> None:
    # Upsampling images, downsampling aliases of harmonics and any chunk-boundary
    # artefact all show up in the residual once the tone itself is fitted out.
    edge = passband_edge(in_rate, out_rate)
    for freq in (100, 1000, 2900, edge, min(in_rate, out_rate) / 2 * 0.97):
        r = create_resampler(in_rate, out_rate)
        out = steady(stream(r, tone(freq, in_rate, 0.3), in_rate // 50).out, out_rate)
        amp, residual = fit_tone(out, out_rate, freq)
        if freq <= edge:
            assert db(amp / AMPLITUDE) > -0.5
        assert db(rms(residual) / (AMPLITUDE / np.sqrt(2))) <= -60.0, freq


@pytest.mark.parametrize("dbfs", [-3, -6, -10, -20])
def test_pcmu_round_trip_snr(dbfs: float) -> None:
    # 1004 Hz is the ITU test tone "1 kHz": exactly 1000 Hz at 8 kHz repeats the same
    # 8 sample values, so its G.711 SNR swings with phase (33.7-41 dB at -6 dBFS).
    x = tone(1004, 8000, 0.5, amplitude=32767 * 10 ** (dbfs / 20))
    back = np.frombuffer(mulaw.ulaw_to_pcm(mulaw.pcm_to_ulaw(x.tobytes())), dtype=np.int16)
    noise = back.astype(np.float64) - x
    assert db(rms(x) / rms(noise)) >= 35.0


def test_call_path_snr_24k_to_pcmu_to_16k() -> None:
    x = tone(1000, 24000, 0.5)
    down = create_resampler(24000, 8000)
    up = create_resampler(8000, 16000)
    wire = [mulaw.pcm_to_ulaw(down.process(c.tobytes())) for c in np.split(x, 25)]
    wire.append(mulaw.pcm_to_ulaw(down.flush()))
    out = b"".join(up.process(mulaw.ulaw_to_pcm(w)) for w in wire) + up.flush()
    y = steady(np.frombuffer(out, dtype=np.int16), 16000)
    amp, residual = fit_tone(y, 16000, 1000)
    assert db(amp / rms(residual) / np.sqrt(2)) >= 35.0


def test_numpy_mulaw_tables_match_audioop() -> None:
    pcm = np.arange(-32768, 32768, dtype=np.int16).tobytes()
    assert mulaw.numpy_pcm_to_ulaw(pcm) == mulaw.pcm_to_ulaw(pcm)
    codes = bytes(range(256))
    assert mulaw.numpy_ulaw_to_pcm(codes) == mulaw.ulaw_to_pcm(codes)


@pytest.mark.parametrize(
    ("in_rate", "out_rate"), [(44100, 16000), (48000, 8000), (16000, 48000), (48000, 44100)]
)
def test_other_rates_work(in_rate: int, out_rate: int) -> None:
    r = create_resampler(in_rate, out_rate)
    out = steady(stream(r, tone(1000, in_rate, 0.3), in_rate // 50).out, out_rate)
    amp, residual = fit_tone(out, out_rate, 1000)
    assert abs(db(amp / AMPLITUDE)) <= 0.25
    assert db(rms(residual) / (AMPLITUDE / np.sqrt(2))) <= -60.0
