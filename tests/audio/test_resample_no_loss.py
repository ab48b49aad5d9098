"""No lost audio: N ms in gives N ms out, tails arrive, pauses and resets lose nothing extra."""

from __future__ import annotations

import time

import numpy as np
import pytest
from bwaudio_measure import AMPLITUDE, ENGINES, PATHS, db, fit_tone, rms, stream, tone

from bwserial.audio.resample import PassThrough, PolyphaseResampler, SoxrStream, create_resampler


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("ms", [60, 100, 740, 5000])
@pytest.mark.parametrize(("in_rate", "out_rate"), PATHS)
def test_utterance_comes_out_whole(in_rate: int, out_rate: int, ms: int, engine: str) -> None:
    r = PolyphaseResampler(in_rate, out_rate, engine=engine)
    x = tone(440, in_rate, ms / 1000)
    run = stream(r, x, in_rate // 50)
    out_ms = 1000 * len(run.out) / out_rate
    # Output = input + the group delay (the filter's centre), never less.
    assert out_ms == pytest.approx(ms + 1000 * r.group_delay, abs=1000 / out_rate)
    assert abs(out_ms - ms) <= 5.0
    # The last 10 ms of the utterance (shifted by the delay) is the tone, not silence.
    d = round(r.group_delay * out_rate)
    end = round(ms / 1000 * out_rate) + d
    tail = run.out[end - out_rate // 100 : end]
    assert rms(tail) == pytest.approx(AMPLITUDE / np.sqrt(2), rel=0.1)
    # ...and the resampler starts the next utterance fresh: same input, same output.
    again = stream(r, x, in_rate // 50)
    assert np.array_equal(again.out, run.out)


@pytest.mark.parametrize(("in_rate", "out_rate"), PATHS)
def test_flush_without_audio_returns_nothing(in_rate: int, out_rate: int) -> None:
    r = create_resampler(in_rate, out_rate)
    assert r.flush() == b""
    r.process(tone(500, in_rate, 0.02).tobytes())
    assert r.flush() != b""
    assert r.flush() == b""


@pytest.mark.parametrize(("in_rate", "out_rate"), PATHS)
def test_reset_drops_only_what_was_held(in_rate: int, out_rate: int) -> None:
    x = tone(300, in_rate, 0.5)
    r = create_resampler(in_rate, out_rate)
    before = stream(r, x[: in_rate // 4], in_rate // 50, flush=False)
    # Everything fed was already emitted except the filter delay still in flight.
    emitted_ms = 1000 * len(before.out) / out_rate
    assert emitted_ms >= 250 - 1000 / out_rate
    r.reset()
    assert r.flush() == b""
    after = stream(r, x, in_rate // 50)
    fresh = stream(create_resampler(in_rate, out_rate), x, in_rate // 50)
    assert np.array_equal(after.out, fresh.out)


def test_pause_between_chunks_changes_nothing() -> None:
    # pipecat's wrapper clears soxr after 0.2 s without audio; this engine has no timer.
    x = tone(1000, 8000, 0.4)
    paused = create_resampler(8000, 16000)
    first = paused.process(x[:1600].tobytes())
    time.sleep(0.25)
    rest = paused.process(x[1600:].tobytes()) + paused.flush()
    whole = stream(create_resampler(8000, 16000), x, 160).out
    assert np.frombuffer(first + rest, dtype=np.int16).tolist() == whole.tolist()


@pytest.mark.parametrize("engine", ENGINES)
def test_chunking_does_not_change_output(engine: str) -> None:
    x = tone(1234, 24000, 0.3) // 2 + tone(345, 24000, 0.3) // 2
    whole = stream(PolyphaseResampler(24000, 16000, engine=engine), x, len(x)).out
    for sizes in ([1], [480], [7, 13, 480, 1, 960], [3, 3, 5]):
        got = stream(PolyphaseResampler(24000, 16000, engine=engine), x, sizes).out
        # Same samples; float summation order may differ by chunk shape (1 LSB).
        assert len(got) == len(whole)
        assert np.abs(got.astype(np.int32) - whole).max() <= 1, sizes


def test_odd_byte_is_carried_and_buffers_accepted() -> None:
    x = tone(500, 8000, 0.1).tobytes()
    ref = create_resampler(8000, 16000)
    want = ref.process(x) + ref.flush()
    r = create_resampler(8000, 16000)
    # Codecs pass bytes, but a bytearray or memoryview must not break the stream.
    got = r.process(bytearray(x[:101]))  # type: ignore[arg-type]
    got += r.process(memoryview(x[101:201]))  # type: ignore[arg-type]
    got += r.process(x[201:])
    assert got + r.flush() == want


@pytest.mark.skipif(ENGINES == ("numpy",), reason="numba unavailable")
def test_engines_agree() -> None:
    x = tone(2222, 16000, 0.2)
    a = stream(PolyphaseResampler(16000, 24000, engine="numba"), x, 320).out
    b = stream(PolyphaseResampler(16000, 24000, engine="numpy"), x, 320).out
    assert len(a) == len(b)
    assert np.abs(a.astype(np.int32) - b).max() <= 1


def test_tone_level_is_preserved_end_to_end() -> None:
    x = tone(1000, 8000, 0.5)
    out = stream(create_resampler(8000, 16000), x, 160).out
    amp, _ = fit_tone(out[800:-800], 16000, 1000)
    assert abs(db(amp / AMPLITUDE)) <= 0.25


def test_equal_rates_pass_through_without_copy() -> None:
    r = create_resampler(16000, 16000)
    assert isinstance(r, PassThrough)
    pcm = tone(100, 16000, 0.02).tobytes()
    assert r.process(pcm) is pcm
    assert r.flush() == b""


def test_unwieldy_ratio_falls_back_to_soxr_and_loses_nothing() -> None:
    r = create_resampler(44100, 22051)
    assert isinstance(r, SoxrStream)
    x = tone(440, 44100, 1.0)
    out = stream(r, x, 882).out
    assert abs(len(out) / 22051 - 1.0) <= 0.005


def test_bad_rates_rejected() -> None:
    with pytest.raises(ValueError):
        create_resampler(0, 8000)
    with pytest.raises(ValueError):
        PolyphaseResampler(8000, -1)
    with pytest.raises(ValueError):
        PolyphaseResampler(8000, 16000, engine="fortran")


TAIL_PATHS = [(24000, 8000), (24000, 16000), (16000, 24000), (48000, 16000), (8000, 16000),
              (8000, 24000), (16000, 8000)]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("n", [480, 481, 479, 1000, 4801, 7])
@pytest.mark.parametrize(("in_rate", "out_rate"), TAIL_PATHS)
def test_the_tail_is_exact_to_the_sample(in_rate: int, out_rate: int, n: int, engine: str) -> None:
    """Output covers the input plus the group delay, rounded up, never down: an
    utterance of N input samples gives exactly ceil((N * up + delay) / down) samples,
    and the last input sample (an impulse) comes out at its delayed place in full."""
    r = PolyphaseResampler(in_rate, out_rate, engine=engine)
    f = r.filter
    x = np.zeros(n, dtype=np.int16)
    x[-1] = 20000
    run = stream(r, x, [in_rate // 50, 37, 1])
    assert len(run.out) == -(-(n * f.up + f.delay) // f.down)
    # The impulse's peak is where the delay puts it: at or just before the end.
    where = ((n - 1) * f.up + f.delay) / f.down
    peak = int(np.argmax(np.abs(run.out.astype(np.int32))))
    assert abs(peak - where) <= 1
    assert peak <= len(run.out) - 1
    # Everything after the peak that the filter's right half still owes is there too:
    # one sample fewer would cut the impulse response short.
    assert len(run.out) - 1 >= int(where)
