"""Compare resampling engines on the bwserial audio targets; prints Markdown tables.

    python benchmarks/resampler_options.py            # all options, ~1 minute

Every option is driven the same way: a continuous stream of 16-bit PCM in 20 ms
chunks through ``process(bytes) -> bytes``. Measured per rate pair:

- held p95: input fed minus output produced (ms), after each chunk, 95th percentile
- delay: where a click comes out in the output stream relative to where it went in
  (ms); soxr compensates its filter delay in the stream, so its latency is all
  "held", while the polyphase engine holds nothing and carries its ~2.4 ms delay
  in the signal. Latency as heard = held + delay.
- ripple: passband gain spread (dB peak-to-peak) over tones 100 Hz .. 3.4 kHz
- spurious: worst level (dB below the tone) of everything that is not the tone:
  aliases of tones above the output Nyquist, upsampling images, chunk-edge clicks
- us/chunk: best per-call time for a 20 ms chunk (best of 15 rounds of 200 calls,
  so a busy machine inflates it less)

Optional packages (samplerate, scipy, resampy) are skipped when missing.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import sys
import time
import timeit
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import soxr

from bwserial.audio import mulaw
from bwserial.audio.resample import PolyphaseResampler

warnings.simplefilter("ignore", DeprecationWarning)

PAIRS = [(8000, 16000), (24000, 8000), (24000, 16000)]
AMP = 16384.0


class Engine:
    """Something that turns a continuous stream of PCM chunks into resampled PCM."""

    def process(self, pcm: bytes) -> bytes:
        raise NotImplementedError


def _i16(y: np.ndarray) -> bytes:
    return np.clip(np.rint(y * 32768.0), -32768, 32767).astype(np.int16).tobytes()


class SoxrStreamEngine(Engine):
    def __init__(self, a: int, b: int, quality: str) -> None:
        self.s = soxr.ResampleStream(a, b, 1, dtype="int16", quality=quality)

    def process(self, pcm: bytes) -> bytes:
        out: np.ndarray = self.s.resample_chunk(np.frombuffer(pcm, dtype=np.int16))
        return out.tobytes()


class SoxrOneShot(Engine):
    def __init__(self, a: int, b: int, quality: str) -> None:
        self.a, self.b, self.q = a, b, quality

    def process(self, pcm: bytes) -> bytes:
        x = np.frombuffer(pcm, dtype=np.int16)
        out: np.ndarray = soxr.resample(x, self.a, self.b, quality=self.q)
        return out.tobytes()


class PipecatReference(Engine):
    """pipecat's SOXRStreamAudioResampler (VHQ, clears after 0.2 s idle): the reference."""

    def __init__(self, a: int, b: int) -> None:
        from pipecat.audio.resamplers.soxr_stream_resampler import SOXRStreamAudioResampler

        self.r = SOXRStreamAudioResampler()
        self.a, self.b = a, b

    def process(self, pcm: bytes) -> bytes:
        coro = self.r.resample(pcm, self.a, self.b)
        try:
            coro.send(None)
        except StopIteration as stop:
            out: bytes = stop.value
            return out
        raise RuntimeError("resample suspended")


class LibsamplerateEngine(Engine):
    def __init__(self, a: int, b: int, converter: str) -> None:
        import samplerate

        self.r = samplerate.Resampler(converter, channels=1)
        self.ratio = b / a

    def process(self, pcm: bytes) -> bytes:
        x = np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768.0
        return _i16(self.r.process(x, self.ratio, end_of_input=False))


class ScipyResamplePoly(Engine):
    """scipy.signal.resample_poly on each chunk alone (no state kept)."""

    def __init__(self, a: int, b: int) -> None:
        from scipy.signal import resample_poly

        g = math.gcd(a, b)
        self.up, self.down = b // g, a // g
        self.f = resample_poly

    def process(self, pcm: bytes) -> bytes:
        x = np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768.0
        return _i16(self.f(x, self.up, self.down))


class ScipyUpfirdnState(Engine):
    """scipy.signal.upfirdn with the last input samples kept between chunks.

    Taps: Kaiser design (scipy.signal.firwin) for the same band edges and 64 dB.
    Chunk lengths must be multiples of ``down`` (true for 20 ms chunks here).
    """

    def __init__(self, a: int, b: int) -> None:
        from scipy.signal import firwin, kaiserord, upfirdn

        g = math.gcd(a, b)
        self.up, self.down = b // g, a // g
        rate = a * self.up
        nyq = min(a, b) / 2
        width = min(0.15 * nyq, 1000.0)
        n, beta = kaiserord(64.0, width / (rate / 2))
        n |= 1
        self.h = (firwin(n, nyq - width / 2, window=("kaiser", beta), fs=rate) * self.up).astype(
            np.float32
        )
        hist = -(-((n - 1) // self.up + 1) // self.down) * self.down
        self.hist = np.zeros(hist, dtype=np.float32)
        self.f = upfirdn

    def process(self, pcm: bytes) -> bytes:
        x = np.frombuffer(pcm, dtype=np.int16).astype(np.float32)
        buf = np.concatenate((self.hist, x))
        y = self.f(self.h, buf, self.up, self.down)
        start = len(self.hist) * self.up // self.down
        out = y[start : start + len(x) * self.up // self.down]
        self.hist = buf[len(buf) - len(self.hist) :]
        return np.clip(np.rint(out), -32768, 32767).astype(np.int16).tobytes()


class ResampyOneShot(Engine):
    def __init__(self, a: int, b: int) -> None:
        import resampy

        self.a, self.b, self.f = a, b, resampy.resample

    def process(self, pcm: bytes) -> bytes:
        x = np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768.0
        return _i16(self.f(x, self.a, self.b, filter="kaiser_fast"))


class Ours(Engine):
    def __init__(self, a: int, b: int, engine: str) -> None:
        self.r = PolyphaseResampler(a, b, engine=engine)
        self.process = self.r.process  # type: ignore[method-assign]


def _optional(factory: Callable[[int, int], Engine]) -> Callable[[int, int], Engine] | None:
    try:
        factory(8000, 16000)
    except ImportError:
        return None
    return factory


def _with(cls: Callable[[int, int, str], Engine], arg: str) -> Callable[[int, int], Engine]:
    return lambda a, b: cls(a, b, arg)


OPTIONS: dict[str, Callable[[int, int], Engine] | None] = {
    "pipecat SOXRStream (VHQ) [reference]": PipecatReference,
    **{f"soxr stream {q}": _with(SoxrStreamEngine, q) for q in ("QQ", "LQ", "MQ", "HQ", "VHQ")},
    **{f"soxr one-shot per chunk {q}": _with(SoxrOneShot, q) for q in ("QQ", "HQ", "VHQ")},
    **{
        f"libsamplerate {c}": _optional(_with(LibsamplerateEngine, c))
        for c in ("sinc_fastest", "sinc_medium", "sinc_best")
    },
    "scipy resample_poly per chunk": _optional(ScipyResamplePoly),
    "scipy upfirdn + kept state": _optional(ScipyUpfirdnState),
    "resampy kaiser_fast per chunk": _optional(ResampyOneShot),
    "bwserial polyphase (numpy)": lambda a, b: Ours(a, b, "numpy"),
    "bwserial polyphase (numba)": lambda a, b: Ours(a, b, "numba"),
}


def tone(freq: float, rate: int, seconds: float) -> np.ndarray:
    t = np.arange(round(rate * seconds)) / rate
    return np.round(AMP * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def run(engine: Engine, x: np.ndarray, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
    n = a // 50
    outs, held = [], []
    fed = got = 0
    for i in range(0, len(x), n):
        o = engine.process(x[i : i + n].tobytes())
        outs.append(o)
        fed += n
        got += len(o) // 2
        held.append(1000 * (fed / a - got / b))
    return np.frombuffer(b"".join(outs), dtype=np.int16), np.array(held)


def fit(y: np.ndarray, rate: int, freq: float) -> tuple[float, float]:
    """Amplitude of the tone and RMS of everything else."""
    t = np.arange(len(y)) / rate
    basis = np.column_stack(
        (np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t), np.ones_like(t))
    )
    coef = np.linalg.lstsq(basis, y.astype(np.float64), rcond=None)[0]
    resid = y - basis @ coef
    return float(np.hypot(coef[0], coef[1])), float(np.sqrt(np.mean(resid**2)))


def steady(y: np.ndarray, rate: int, held_ms: float) -> np.ndarray:
    k = round(rate * 0.05)
    return y[k : max(k + rate // 10, len(y) - k - round(rate * held_ms / 1000))]


def db(v: float) -> float:
    return 20 * math.log10(max(v, 1e-9))


@dataclass
class Result:
    held_p95: float
    delay: float
    ripple: float
    spurious: float
    us: float


def measure(factory: Callable[[int, int], Engine], a: int, b: int) -> Result:
    _, held = run(factory(a, b), tone(1000, a, 2.0), a, b)
    held_p95 = float(np.percentile(held, 95))
    # Click: where does it come out?
    x = np.zeros(a // 2, dtype=np.int16)
    x[a // 10] = 20000
    y, _ = run(factory(a, b), x, a, b)
    delay = 1000 * (np.argmax(np.abs(y.astype(np.int32))) / b - 0.1) if len(y) else float("nan")
    edge = 3400.0 if min(a, b) == 8000 else 7000.0
    gains, spur = [], []
    for f in (100, 300, 1000, 2000, 3000, edge):
        y, h = run(factory(a, b), tone(f, a, 0.5), a, b)
        seg = steady(y, b, float(np.max(h)))
        amp, resid = fit(seg, b, f)
        gains.append(db(amp / AMP))
        spur.append(db(resid / amp * math.sqrt(2)))
    nyq = min(a, b) / 2
    if b < a:  # aliases: tones above the output Nyquist
        for f in (nyq * 1.02, nyq * 1.25, nyq * 1.5, a / 2 * 0.95):
            y, h = run(factory(a, b), tone(f, a, 0.5), a, b)
            seg = steady(y, b, float(np.max(h))).astype(np.float64)
            spur.append(db(np.sqrt(np.mean(seg**2)) / (AMP / math.sqrt(2))))
    frame = tone(440, a, 0.02).tobytes()
    eng = factory(a, b)
    us = best_us(lambda: eng.process(frame))
    return Result(held_p95, delay, max(gains) - min(gains), max(spur), us)


def best_us(fn: Callable[[], object], number: int = 200, rounds: int = 15) -> float:
    fn()
    return min(timeit.timeit(fn, number=number) for _ in range(rounds)) / number * 1e6


def pipecat_tail_loss(a: int, b: int) -> float:
    """ms of an utterance pipecat's wrapper never emits when the next one starts >0.2 s later."""
    eng = PipecatReference(a, b)
    x = tone(440, a, 1.0)
    y, _ = run(eng, x, a, b)
    time.sleep(0.25)
    eng.process(tone(440, a, 0.02).tobytes())  # next utterance: wrapper clears first
    return 1000 * (len(x) / a - len(y) / b)


class BenchmarkError(AssertionError):
    """The benchmark did not do the work it timed: its figures would be wrong."""


def check_work(name: str, ours: list[Any], theirs: list[Any]) -> None:
    """50 calls of each must have produced their audio: 50 frames of 20 ms at 16 kHz in
    (the reference's soxr emits in blocks, so within 0.3 s), 50 x 160 samples out."""
    if name.startswith("inbound"):
        got = sum(len(f.audio) for f in ours if f is not None)
        if got != 50 * 640 or None in ours:
            raise BenchmarkError(f"{name}: bwserial produced {got} bytes of {50 * 640}")
        got = sum(len(f.audio) for f in theirs if f is not None)
        if not 50 * 640 - 16000 * 2 * 3 // 10 <= got <= 50 * 640:
            raise BenchmarkError(f"{name}: the reference produced {got} bytes of {50 * 640}")
    else:
        sent = sum(len(base64.b64decode(json.loads(m)["media"]["payload"])) for m in ours)
        if sent != 50 * 160:
            raise BenchmarkError(f"{name}: bwserial sent {sent} samples of {50 * 160}")


def path_costs() -> list[tuple[str, float, float]]:
    """Inbound and outbound per-frame work against pipecat-bandwidth's serializer."""
    from pipecat.frames.frames import InputAudioRawFrame, OutputAudioRawFrame, StartFrame
    from pipecat_bandwidth.serializer import BandwidthFrameSerializer

    ref = BandwidthFrameSerializer(
        "s", params=BandwidthFrameSerializer.InputParams(auto_hang_up=False, sample_rate=16000)
    )
    asyncio.run(ref.setup(StartFrame()))
    ulaw = mulaw.pcm_to_ulaw(tone(440, 8000, 0.02).tobytes())
    msg = json.dumps(
        {"eventType": "media", "track": "inbound", "payload": base64.b64encode(ulaw).decode()}
    )
    up = PolyphaseResampler(8000, 16000)
    down = PolyphaseResampler(24000, 8000)

    def ours_in() -> Any:
        m = json.loads(msg)
        pcm = up.process(mulaw.ulaw_to_pcm(base64.b64decode(m["payload"])))
        return InputAudioRawFrame(audio=pcm, num_channels=1, sample_rate=16000)

    frame = OutputAudioRawFrame(
        audio=tone(440, 24000, 0.02).tobytes(), sample_rate=24000, num_channels=1
    )

    def ours_out() -> str:
        payload = base64.b64encode(mulaw.pcm_to_ulaw(down.process(frame.audio))).decode()
        media = {"contentType": "audio/pcmu", "payload": payload}
        return json.dumps({"eventType": "playAudio", "media": media})

    def step(coro: Any) -> Any:
        try:
            coro.send(None)
        except StopIteration as stop:
            return stop.value
        raise RuntimeError

    rows = []
    for name, ours, theirs in (
        (
            "inbound: JSON + base64 + PCMU decode + 8k->16k + frame",
            ours_in,
            lambda: step(ref.deserialize(msg)),
        ),
        (
            "outbound: 24k->8k + PCMU encode + base64 + JSON",
            ours_out,
            lambda: step(ref.serialize(frame)),
        ),
    ):
        check_work(name, [ours() for _ in range(50)], [theirs() for _ in range(50)])
        o = t = float("inf")
        for _ in range(15):
            o = min(o, timeit.timeit(ours, number=300))
            t = min(t, timeit.timeit(theirs, number=300))
        rows.append((name, o / 300 * 1e6, t / 300 * 1e6))
    return rows


def path_parts() -> list[tuple[str, float]]:
    """Where the per-frame time of the paths above goes, piece by piece."""
    from pipecat.frames.frames import InputAudioRawFrame

    ulaw = mulaw.pcm_to_ulaw(tone(440, 8000, 0.02).tobytes())
    b64 = base64.b64encode(ulaw).decode()
    msg = json.dumps({"eventType": "media", "track": "inbound", "payload": b64})
    pcm8 = tone(440, 8000, 0.02).tobytes()
    pcm16 = tone(440, 16000, 0.02).tobytes()
    pcm24 = tone(440, 24000, 0.02).tobytes()
    up = PolyphaseResampler(8000, 16000)
    down = PolyphaseResampler(24000, 8000)
    media = {"contentType": "audio/pcmu", "payload": b64}
    parts: list[tuple[str, Callable[[], object]]] = [
        ("json.loads(media message)", lambda: json.loads(msg)),
        ("base64.b64decode(160 B)", lambda: base64.b64decode(b64)),
        ("ulaw_to_pcm(160 B)", lambda: mulaw.ulaw_to_pcm(ulaw)),
        ("8k->16k process(20 ms)", lambda: up.process(pcm8)),
        (
            "InputAudioRawFrame(...)",
            lambda: InputAudioRawFrame(audio=pcm16, num_channels=1, sample_rate=16000),
        ),
        ("24k->8k process(20 ms)", lambda: down.process(pcm24)),
        ("pcm_to_ulaw(160 samples)", lambda: mulaw.pcm_to_ulaw(pcm8)),
        ("base64.b64encode(160 B).decode()", lambda: base64.b64encode(ulaw).decode()),
        (
            "json.dumps(playAudio)",
            lambda: json.dumps({"eventType": "playAudio", "media": media}),
        ),
    ]
    return [(name, best_us(fn, number=1000, rounds=7)) for name, fn in parts]


def main() -> int:
    print(f"# python {sys.version.split()[0]}, numpy {np.__version__}, soxr {soxr.__version__}\n")
    for a, b in PAIRS:
        print(f"## {a} -> {b} Hz, 20 ms chunks\n")
        print(
            "| option | held p95 ms | delay ms | latency ms | ripple dB | spurious dB | us/chunk |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|")
        for name, factory in OPTIONS.items():
            if factory is None:
                print(f"| {name} | not installed | | | | | |")
                continue
            r = measure(factory, a, b)
            print(
                f"| {name} | {r.held_p95:.1f} | {r.delay:.1f} | {r.held_p95 + r.delay:.1f} | "
                f"{r.ripple:.2f} | {r.spurious:.0f} | {r.us:.1f} |"
            )
        print()
    print("## pipecat wrapper: utterance tail lost at a 0.25 s pause (no flush)\n")
    for a, b in ((8000, 16000), (24000, 8000)):
        print(f"- {a} -> {b}: {pipecat_tail_loss(a, b):.0f} ms lost per utterance")
    print("\n## whole per-frame path vs pipecat-bandwidth (same process, best of 15)\n")
    print("| path | bwserial audio us | pipecat-bandwidth us | ratio |")
    print("|---|---:|---:|---:|")
    for name, o, t in path_costs():
        print(f"| {name} | {o:.1f} | {t:.1f} | {o / t:.2f} |")
    print("\n| piece | us |\n|---|---:|")
    for name, us in path_parts():
        print(f"| {name} | {us:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
