"""Audio path side by side: bwserial vs pipecat-bandwidth vs the floor, in one process.

Prints one table per measure:

* latency: audio held inside the serializer (input seconds fed minus output seconds
  produced, sampled after every chunk), mean / p95 / max, per path and chunk size;
* lost audio: an utterance followed by a 250 ms pause (longer than Pipecat's 0.2 s
  resampler reset): how much of it ever comes out;
* quality: passband ripple, alias rejection, 1 kHz SNR through PCMU and back;
* CPU per 20 ms frame, inbound (PCMU 8k message -> 16 kHz frame) and outbound
  (24 kHz frame -> PCMU message), bwserial with one observer plugin registered.
  The floor is the unavoidable work alone: base64 + mu-law + our resampler.

    python benchmarks/audio_path.py [--quick] [--plot docs/held_audio.png]

Ratios are what to compare; absolute microseconds depend on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import json
import math
import statistics
import sys
import time
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
from pipecat.frames.frames import OutputAudioRawFrame
from pipecat_bandwidth import BandwidthFrameSerializer as Reference

from bwserial import BandwidthFrameSerializer, hookimpl
from bwserial.audio.resample import create_resampler, warm_up

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

IMPLS = ("bwserial", "pipecat-bandwidth")


class _Setup:
    def __init__(self, rate: int) -> None:
        self.audio_in_sample_rate = rate
        self.audio_out_sample_rate = 24000


class CountingObserver:
    """A realistic observer: counts stream events (none fire per frame)."""

    bwserial_plugin_name = "bench-observer"
    events = 0

    @hookimpl
    def bwserial_stream_stopped(self, context: Any, event: Any) -> None:
        self.events += 1

    @hookimpl
    def bwserial_bad_message(self, context: Any, message: Any) -> None:
        self.events += 1


def tone(freq: float, secs: float, rate: int, amplitude: float = 0.5, phase: float = 0.0) -> bytes:
    t = np.arange(int(round(secs * rate))) / rate
    return (np.sin(2 * math.pi * freq * t + phase) * amplitude * 32767).astype("<i2").tobytes()


def speechlike(secs: float, rate: int, seed: int = 7) -> bytes:
    """Band-limited noise with a syllable envelope: exercises the filters like speech."""
    rng = np.random.default_rng(seed)
    n = int(round(secs * rate))
    noise = rng.standard_normal(n)
    spectrum = np.fft.rfft(noise)
    freqs = np.fft.rfftfreq(n, 1 / rate)
    spectrum[(freqs < 100) | (freqs > 3400)] = 0
    shaped = np.fft.irfft(spectrum, n)
    envelope = 0.6 + 0.4 * np.sin(2 * math.pi * 4 * np.arange(n) / rate)
    shaped = shaped / (np.max(np.abs(shaped)) + 1e-9) * envelope * 0.5
    return (shaped * 32767).astype("<i2").tobytes()


OBSERVER = CountingObserver()
"""One observer object for every call, as an app registers it (a new object per call
would be a new plugin configuration, resolved again each time)."""


def ours(**params: Any) -> BandwidthFrameSerializer:
    return BandwidthFrameSerializer(
        "bench", params=BandwidthFrameSerializer.InputParams(auto_hang_up=False, **params),
        plugins=[OBSERVER],
    )


def reference(**params: Any) -> Any:
    return Reference("bench", params=Reference.InputParams(auto_hang_up=False, **params))


def make(impl: str, **params: Any) -> Any:
    return ours(**params) if impl == "bwserial" else reference(**params)


def media_message(payload: bytes, seq: int) -> str:
    return json.dumps({"track": "inbound", "sequenceNumber": str(seq),
                       "payload": base64.b64encode(payload).decode(), "eventType": "media"})


def payload_of(message: str | bytes | None) -> bytes:
    if not message:
        return b""
    return base64.b64decode(json.loads(message)["media"]["payload"])


# ------------------------------------------------------------------ paths

# (name, direction, in_rate, out_rate, params)
PATHS: list[tuple[str, str, int, int, dict[str, Any]]] = [
    ("8k -> 16k (caller in)", "in", 8000, 16000, {}),
    ("8k -> 24k (caller in)", "in", 8000, 24000, {}),
    ("16k -> 8k (PCMU out)", "out", 16000, 8000, {}),
    ("24k -> 8k (PCMU out)", "out", 24000, 8000, {}),
    ("24k -> 16k (PCM out)", "out", 24000, 16000,
     {"outbound_encoding": "PCM", "outbound_pcm_sample_rate": 16000}),
]


def out_seconds(direction: str, out_rate: int, params: dict[str, Any], data: bytes) -> float:
    if direction == "in":
        return len(data) / 2 / out_rate
    if params.get("outbound_encoding") == "PCM":
        return len(data) / 2 / out_rate
    return len(data) / out_rate  # mu-law: one byte per sample


async def push(serializer: Any, direction: str, in_rate: int, chunk: bytes, seq: int) -> bytes:
    """Feed one chunk; return the output bytes (PCM for inbound, wire payload outbound)."""
    if direction == "in":
        frame = await serializer.deserialize(media_message(audioop.lin2ulaw(chunk, 2), seq))
        return bytes(frame.audio) if frame is not None else b""
    message = await serializer.serialize(OutputAudioRawFrame(chunk, in_rate, 1))
    return payload_of(message)


async def held_series(impl: str, path: tuple[str, str, int, int, dict[str, Any]],
                      chunk_ms: int, secs: float = 3.0) -> list[float]:
    _, direction, in_rate, out_rate, params = path
    wire_rate = 8000 if direction == "in" else in_rate
    serializer = make(impl, **params)
    await serializer.setup(_Setup(out_rate if direction == "in" else 16000))
    source = speechlike(secs, in_rate if direction == "out" else wire_rate)
    rate = in_rate if direction == "out" else wire_rate
    step = rate * chunk_ms // 1000 * 2
    fed = produced = 0.0
    held: list[float] = []
    for i, offset in enumerate(range(0, len(source) - step + 1, step)):
        chunk = source[offset: offset + step]
        out = await push(serializer, direction, rate, chunk, i + 1)
        fed += len(chunk) / 2 / rate
        produced += out_seconds(direction, out_rate, params, out)
        held.append((fed - produced) * 1000)
    return held


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def latency_table() -> dict[str, list[float]]:
    print("\nLatency: audio held inside the serializer (ms): mean / p95 / max")
    print(f"{'path':<24}{'chunk':>6}  " + "".join(f"{n:>24}" for n in IMPLS))
    plot_series: dict[str, list[float]] = {}
    for path in PATHS:
        for chunk_ms in (20, 40):
            cells = []
            for impl in IMPLS:
                held = await held_series(impl, path, chunk_ms)
                if path[0].startswith("24k -> 8k") and chunk_ms == 40:
                    plot_series[impl] = held
                cells.append(f"{statistics.mean(held):6.1f} /{pct(held, 0.95):6.1f} /"
                             f"{max(held):6.1f}")
            print(f"{path[0]:<24}{chunk_ms:>4}ms  " + "".join(f"{c:>24}" for c in cells))
    return plot_series


async def lost_audio_table(quick: bool) -> None:
    print("\nLost audio: utterance at 24 kHz, then a 250 ms pause; ms that came out (ms in)")
    utterances = [60, 280, 2160] if quick else [60, 280, 1000, 2160, 5000]
    outputs = [("PCMU", {}), ("PCM 8k", {"outbound_encoding": "PCM", "outbound_pcm_sample_rate": 8000}),
               ("PCM 16k", {"outbound_encoding": "PCM", "outbound_pcm_sample_rate": 16000}),
               ("PCM 24k", {"outbound_encoding": "PCM", "outbound_pcm_sample_rate": 24000})]
    print(f"{'output':<10}{'utterance':>10}  " + "".join(f"{n:>20}" for n in IMPLS))
    for label, params in outputs:
        wire_rate = params.get("outbound_pcm_sample_rate", 8000)
        for ms in utterances:
            cells = []
            for impl in IMPLS:
                serializer = make(impl, **params)
                await serializer.setup(_Setup(16000))
                total = 0.0
                for _round in range(2):  # the second utterance shows what the first lost
                    speech = speechlike(ms / 1000, 24000)
                    got = b""
                    for off in range(0, len(speech), 1920):
                        got += payload_of(await serializer.serialize(
                            OutputAudioRawFrame(speech[off: off + 1920], 24000, 1)))
                    if _round == 0:
                        await asyncio.sleep(0.25)
                        total = out_seconds("out", wire_rate, params, got)
                cells.append(f"{total * 1000:8.0f} ({ms})")
            print(f"{label:<10}{ms:>8}ms  " + "".join(f"{c:>20}" for c in cells))


def fitted_amplitude(signal: np.ndarray, rate: int, freq: float) -> float:
    """Amplitude of a tone by least-squares fit: exact whatever the length (no FFT scalloping)."""
    t = np.arange(len(signal)) / rate
    basis = np.column_stack([np.sin(2 * math.pi * freq * t), np.cos(2 * math.pi * freq * t),
                             np.ones_like(t)])
    coeffs, *_ = np.linalg.lstsq(basis, signal, rcond=None)
    return float(math.hypot(coeffs[0], coeffs[1]))


def level_db(signal: np.ndarray, rate: int, freq: float, amplitude: float = 0.5) -> float:
    return 20 * math.log10(fitted_amplitude(signal, rate, freq) / (amplitude * 32767) + 1e-12)


async def through(impl: str, path: tuple[str, str, int, int, dict[str, Any]],
                  source: bytes) -> np.ndarray:
    _, direction, in_rate, out_rate, params = path
    serializer = make(impl, **params)
    await serializer.setup(_Setup(out_rate if direction == "in" else 16000))
    rate = in_rate
    step = rate * 20 // 1000 * 2
    out = b""
    for i, off in enumerate(range(0, len(source), step)):
        out += await push(serializer, direction, rate, source[off: off + step], i + 1)
    if direction == "out" and params.get("outbound_encoding") != "PCM":
        out = audioop.ulaw2lin(out, 2)
    skip = out_rate // 10
    return np.frombuffer(out, dtype="<i2").astype(np.float64)[skip:-skip or None]


async def quality_table() -> None:
    print("\nQuality: passband ripple (dB, 100 Hz..3.4 kHz or 7 kHz) / alias rejection (dB)")
    print(f"{'path':<24}" + "".join(f"{n:>26}" for n in IMPLS))
    for path in PATHS:
        _, direction, in_rate, out_rate, _params = path
        low_rate = min(in_rate, out_rate)
        top = 3400 if low_rate == 8000 else 7000
        cells = []
        for impl in IMPLS:
            levels = []
            for freq in (100, 300, 1000, 2000, 3000, top):
                sig = await through(impl, path, tone(freq, 1.0, in_rate, 0.5))
                levels.append(level_db(sig, out_rate, freq))
            ripple = max(levels) - min(levels)
            alias = "n/a"
            if out_rate < in_rate:
                probe = out_rate / 2 + 1000  # above the output Nyquist
                sig = await through(impl, path, tone(probe, 1.0, in_rate, 0.5))
                rms_in = 0.5 * 32767 / math.sqrt(2)
                rms_out = float(np.sqrt(np.mean(sig**2))) + 1e-9  # everything left is alias
                alias = f"{20 * math.log10(rms_in / rms_out):.0f}"
            cells.append(f"{ripple:8.2f} / {alias:>4}")
        print(f"{path[0]:<24}" + "".join(f"{c:>26}" for c in cells))
    # A 1 kHz tone at 8 kHz repeats every 8 samples, so mu-law's error depends on the
    # phase the samples land on: average over several starting phases.
    for impl in IMPLS:
        snrs = []
        for phase in (0.0, 0.4, 0.9, 1.3, 2.2):
            source = tone(1000, 1.0, 24000, 0.5, phase)
            sig = await through(impl, ("1k", "out", 24000, 8000, {}), source)
            t = np.arange(len(sig)) / 8000
            basis = np.column_stack([np.sin(2 * math.pi * 1000 * t),
                                     np.cos(2 * math.pi * 1000 * t), np.ones_like(t)])
            coeffs, *_ = np.linalg.lstsq(basis, sig, rcond=None)
            fit = basis @ coeffs
            snrs.append(10 * math.log10(float(np.dot(fit, fit)) /
                                        float(np.dot(sig - fit, sig - fit))))
        print(f"1 kHz tone 24k -> PCMU -> linear, SNR over 5 phases, {impl}: "
              f"mean {statistics.mean(snrs):.1f} dB, min {min(snrs):.1f} dB")


class BenchmarkError(AssertionError):
    """The benchmark did not do the work it timed: its figures would be wrong."""


def check(condition: bool, what: str) -> None:
    if not condition:
        raise BenchmarkError(what)


# (label, direction, pipeline rate, params): outbound audio is 24 kHz TTS.
CPU_PATHS: list[tuple[str, str, int, dict[str, Any]]] = [
    ("in: PCMU 8k -> 16k pipeline", "in", 16000, {}),
    ("in: PCMU 8k -> 24k pipeline", "in", 24000, {}),
    ("out: 24k -> PCMU", "out", 24000, {}),
    ("out: 24k -> PCM 16k", "out", 24000,
     {"outbound_encoding": "PCM", "outbound_pcm_sample_rate": 16000}),
]


def live_media(payloads: list[str], first_seq: int) -> list[str]:
    """Media messages as a live call sends them: sequence numbers counting up, eventType last."""
    return [
        '{"track":"inbound","sequenceNumber":"%d","payload":"%s","eventType":"media"}'
        % (first_seq + i, payload)
        for i, payload in enumerate(payloads)
    ]


async def timed_inbound(impl: str, rate: int, messages: list[str]) -> float:
    """us per frame for ``messages`` through a fresh serializer; checks every frame came out."""
    serializer = make(impl)
    await serializer.setup(_Setup(rate))
    deserialize = serializer.deserialize
    out: list[Any] = []
    append = out.append
    started = time.thread_time_ns()
    for message in messages:
        append(await deserialize(message))
    elapsed = time.thread_time_ns() - started
    frames = [f for f in out if f is not None]
    samples = sum(len(f.audio) for f in frames) // 2
    expected = len(messages) * 160 * rate // 8000
    # Our resampler holds less than one sample; soxr (the reference) holds up to ~0.35 s.
    slack = 2 if impl == "bwserial" else rate // 2
    check(expected - slack <= samples <= expected,
          f"{impl} inbound {rate}: {samples} samples out, {expected} in (a drop path was timed)")
    if impl == "bwserial":
        check(len(frames) == len(messages), f"{impl}: {len(frames)} frames of {len(messages)}")
        check(serializer.context.duplicates == 0 and serializer.context.gaps == 0,
              "sequence numbers did not count up")
    return elapsed / len(messages) / 1000


async def timed_outbound(impl: str, params: dict[str, Any], frames: list[Any]) -> float:
    """us per frame; checks one playAudio per frame and every sample accounted for."""
    serializer = make(impl, **params)
    await serializer.setup(_Setup(16000))
    serialize = serializer.serialize
    out: list[Any] = []
    append = out.append
    started = time.thread_time_ns()
    for frame in frames:
        append(await serialize(frame))
    elapsed = time.thread_time_ns() - started
    sent_messages = [m for m in out if m is not None]
    if impl == "bwserial":  # the reference's soxr sends nothing while it fills its blocks
        check(len(sent_messages) == len(frames),
              f"{impl}: {len(sent_messages)} playAudio messages for {len(frames)} frames")
    wire_rate = params.get("outbound_pcm_sample_rate", 8000)
    width = 2 if params.get("outbound_encoding") == "PCM" else 1
    sent = sum(len(payload_of(m)) for m in sent_messages) // width
    expected = len(frames) * 480 * wire_rate // 24000
    slack = 2 if impl == "bwserial" else wire_rate // 2
    check(expected - slack <= sent <= expected,
          f"{impl} outbound: {sent} samples sent for {expected} in")
    return elapsed / len(frames) / 1000


async def cpu_table(quick: bool) -> dict[str, dict[str, float]]:
    """Side by side, interleaved rounds (ours, theirs, theirs, ours, ...), medians."""
    frames, rounds = (1000, 5) if quick else (3000, 9)
    pcmu = audioop.lin2ulaw(speechlike(0.02 * 50, 8000), 2)
    payloads = [base64.b64encode(pcmu[i * 160: (i + 1) * 160]).decode() for i in range(50)]
    messages = live_media([payloads[i % 50] for i in range(frames)], 1)
    tts = speechlike(0.02 * 50, 24000)
    outbound = [OutputAudioRawFrame(tts[(i % 50) * 960: (i % 50 + 1) * 960], 24000, 1)
                for i in range(frames)]
    table: dict[str, dict[str, float]] = {}
    warm_up()  # the numba kernel, loaded or compiled once per process (see first_call_row)
    for impl in IMPLS:  # one untimed round each: imports, filter design, first allocations
        await timed_inbound(impl, 16000, messages[:200])
        await timed_outbound(impl, {}, outbound[:200])
    print(f"\nCPU per 20 ms frame (us of this thread's CPU time, so other processes' load "
          f"does not count): median of {rounds} interleaved rounds of {frames} "
          "frames, each a fresh serializer,\nsequence numbers counting up; every round checks "
          "its output (samples out = samples in, one playAudio per frame)")
    print(f"{'path':<30}{'bwserial':>10}{'reference':>11}{'ratio':>8}{'ratio range':>15}")
    for label, direction, rate, params in CPU_PATHS:
        times: dict[str, list[float]] = {impl: [] for impl in IMPLS}
        for r in range(rounds):
            order = IMPLS if r % 2 == 0 else tuple(reversed(IMPLS))
            for impl in order:
                if direction == "in":
                    times[impl].append(await timed_inbound(impl, rate, messages))
                else:
                    times[impl].append(await timed_outbound(impl, params, outbound))
        ours_us = statistics.median(times["bwserial"])
        ref_us = statistics.median(times["pipecat-bandwidth"])
        ratios = sorted(a / b for a, b in zip(times["bwserial"], times["pipecat-bandwidth"]))
        table[label] = {"ours": ours_us, "ref": ref_us, "ratio": ours_us / ref_us}
        print(f"{label:<30}{ours_us:>10.2f}{ref_us:>11.2f}{ours_us / ref_us:>8.2f}"
              f"{ratios[0]:>8.2f}-{ratios[-1]:.2f}")
    return table


CREDENTIALS = {"call_id": "c-bench", "account_id": "9900000", "client_id": "id",
               "client_secret": "secret"}


def build(impl: str, hang_up: bool) -> Any:
    """One call's serializer, as an app builds it: with the hang-up on, from the call's
    IDs and the OAuth credentials; bwserial with the one observer registered."""
    if impl == "pipecat-bandwidth":
        params = Reference.InputParams(auto_hang_up=hang_up)
        return Reference("bench", **(CREDENTIALS if hang_up else {}), params=params)
    return BandwidthFrameSerializer(
        "bench", **(CREDENTIALS if hang_up else {}),
        params=BandwidthFrameSerializer.InputParams(auto_hang_up=hang_up),
        plugins=[OBSERVER],
    )


async def construction_row() -> None:
    """Per call: building a serializer (median of 200, after one warm-up each).

    Timed from the parameters' validation to a ready serializer, the InputParams built
    inside the timed region for both. Proves the work: every bwserial serializer timed
    has the observer wired in (its stream-stopped flag on) and a hang-up runner when on.
    The resampler kernel is loaded first (``warm_up()``, as an app does at start), so the
    background warm-up that importing bwserial starts does not share the interpreter.
    """
    warm_up()
    for hang_up in (False, True):
        samples: dict[str, list[float]] = {impl: [] for impl in IMPLS}
        built: dict[str, list[Any]] = {impl: [] for impl in IMPLS}
        for impl in IMPLS:
            build(impl, hang_up)
        for _ in range(200):  # interleaved: both see the same load on a shared machine
            for impl in IMPLS:
                t0 = time.perf_counter_ns()
                serializer = build(impl, hang_up)
                samples[impl].append((time.perf_counter_ns() - t0) / 1000)
                built[impl].append(serializer)
        ours = built["bwserial"]
        check(len(ours) == len(built["pipecat-bandwidth"]) == 200, "not every build was kept")
        check(all(s._observers.stream_stopped for s in ours), "observer not wired")
        check(all((s._runner is not None) == hang_up for s in ours), "hang-up not built")
        ours_us = statistics.median(samples["bwserial"])
        ref_us = statistics.median(samples["pipecat-bandwidth"])
        label = "auto_hang_up on, with credentials" if hang_up else "auto_hang_up off"
        print(f"\nConstruct a serializer, {label} (us, median of 200): bwserial "
              f"{ours_us:.1f}, reference {ref_us:.1f}, ratio {ours_us / ref_us:.1f}")


async def refusal_row() -> None:
    """Issue 12: a 10 MB message is refused by its length, at the cost of a small one."""
    serializer = make("bwserial")
    await serializer.setup(_Setup(16000))
    huge = media_message(b"\x7f" * 7_500_000, 1)
    payload = [base64.b64encode(b"\x7f" * 160).decode()]
    normal = live_media(payload * 3, 2)
    costs = []
    for _ in range(50):
        t0 = time.perf_counter_ns()
        refused = await serializer.deserialize(huge)
        costs.append((time.perf_counter_ns() - t0) / 1000)
        check(refused is None, "a 10 MB message was not refused")
    check(serializer.context.bad_messages == 50, "the refusals were not reported")
    after = await serializer.deserialize(normal[0])
    check(after is not None and len(after.audio) == 640, "the next normal frame did not decode")
    print(f"\nRefuse a {len(huge) / 1e6:.1f} MB media message: median "
          f"{statistics.median(costs):.1f} us, max {max(costs):.1f} us; next frame decodes")


FIRST_CALL_CHILD = r"""
import asyncio, base64, json, sys, time
impl = sys.argv[1]
from loguru import logger
logger.remove()
sys.path.insert(0, sys.argv[2])
import audio_path as bench
async def call(messages):
    t0 = time.perf_counter()
    s = bench.make(impl)
    await s.setup(bench._Setup(16000))
    built = time.perf_counter() - t0
    costs, samples = [], 0
    next_at = time.perf_counter()
    for m in messages:  # real time: one frame every 20 ms, as on a call
        next_at += 0.02
        t = time.perf_counter_ns()
        f = await s.deserialize(m)
        costs.append((time.perf_counter_ns() - t) / 1000)
        samples += len(f.audio) // 2 if f is not None else 0
        await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
    return {"built_ms": built * 1000, "costs": costs, "samples": samples}
async def main():
    await asyncio.sleep(float(sys.argv[3]))  # the worker's start-up before its first call
    pcmu = bench.audioop.lin2ulaw(bench.speechlike(3.0, 8000), 2)
    payloads = [base64.b64encode(pcmu[i * 160:(i + 1) * 160]).decode() for i in range(150)]
    messages = bench.live_media(payloads, 1)
    first = await call(messages)
    later = await call(messages)  # the same process's next call: nothing left to load
    print(json.dumps({"first": first, "later": later}))
asyncio.run(main())
"""


def first_call_row() -> None:
    """The first 3 s of the first call in a fresh process (each implementation its own)."""
    import subprocess

    here = str(Path(__file__).resolve().parent)
    print("\nFirst 3 s of the first call in a fresh process (150 frames at real time, "
          "8k -> 16k), then the same process's next call: us per frame (wall time), "
          "call placed N s after import")
    print(f"{'':<36}{'construct ms':>13}{'median':>9}{'mean':>9}{'p95':>9}{'max':>10}")
    for delay in (0.0, 3.0):
        first_call_rows(here, delay)


def first_call_rows(here: str, delay: float) -> None:
    import subprocess

    rows: dict[str, dict[str, list[float]]] = {"first": {}, "later": {}}
    for impl in IMPLS:
        done = subprocess.run([sys.executable, "-c", FIRST_CALL_CHILD, impl, here, str(delay)],
                              capture_output=True, text=True, timeout=120, check=True)
        both = json.loads(done.stdout.strip().splitlines()[-1])
        for which in ("first", "later"):
            data = both[which]
            costs = data["costs"]
            check(len(costs) == 150, f"{impl}: {len(costs)} frames")
            expected = 150 * 320
            slack = 2 if impl == "bwserial" else 16000 // 2
            check(expected - slack <= data["samples"] <= expected,
                  f"{impl} {which} call: {data['samples']} samples of {expected}")
            rows[which][impl] = costs
            label = f"{impl}, {which} call, {delay:.0f} s"
            print(f"{label:<36}{data['built_ms']:>13.1f}{statistics.median(costs):>9.1f}"
                  f"{statistics.mean(costs):>9.1f}{pct(costs, 0.95):>9.1f}{max(costs):>10.1f}")
    for which in ("first", "later"):
        ours_costs, ref_costs = rows[which]["bwserial"], rows[which]["pipecat-bandwidth"]
        ratio = statistics.mean(ours_costs) / statistics.mean(ref_costs)
        median = statistics.median(ours_costs) / statistics.median(ref_costs)
        print(f"{'':<36}{which} call: ratio of means {ratio:.2f}, of medians {median:.2f}")


def plot(series: dict[str, list[float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.2), dpi=110)
    for name, held in series.items():
        ax.plot([(i + 1) * 40 for i in range(len(held))], held, label=name, drawstyle="steps-post")
    ax.set_xlabel("time into the utterance (ms)")
    ax.set_ylabel("audio held (ms)")
    ax.set_title("TTS 24 kHz -> PCMU, 40 ms chunks: audio held inside the serializer")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    print(f"\nplot written to {path}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer frames and utterances")
    parser.add_argument("--plot", type=Path, default=None, help="write the held-audio PNG here")
    parser.add_argument("--only", choices=["latency", "lost", "quality", "cpu", "per-call"],
                        default=None)
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}; bwserial vs pipecat-bandwidth, same process")
    if args.only in (None, "latency"):
        series = await latency_table()
        if args.plot:
            plot(series, args.plot)
    if args.only in (None, "lost"):
        await lost_audio_table(args.quick)
    if args.only in (None, "quality"):
        await quality_table()
    if args.only in (None, "cpu"):
        await cpu_table(args.quick)
    if args.only in (None, "per-call"):
        await construction_row()
        await refusal_row()
        first_call_row()


if __name__ == "__main__":
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="ERROR")
    asyncio.run(main())
