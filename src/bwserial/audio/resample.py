"""Streaming resamplers behind one small interface.

Every codec resamples through :func:`create_resampler`, so the engine can be
replaced (or tuned for latency) in one place.

The default engine is :class:`PolyphaseResampler`: a linear-phase FIR of ~2.4 ms
group delay that emits output for every input sample it receives, so nothing
waits in a block buffer. soxr's streaming resampler (what pipecat uses) holds
60-150 ms in its blocks, and pipecat's wrapper clears it after 0.2 s of silence,
dropping the end of every utterance; see docs/audio-engine.md for the
comparison that led here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy as np
import soxr

from bwserial.audio._design import MAX_TABLE_SIZE, PolyphaseFilter, design, table_size
from bwserial.audio._kernel import (
    MODE_PCM,
    MODE_ULAW_IN,
    MODE_ULAW_OUT,
    clear_workspace,
    kernel_pending,
    new_workspace,
    ready_kernel,
    select_kernel,
)

_MODES = {None: MODE_PCM, "in": MODE_ULAW_IN, "out": MODE_ULAW_OUT}


@runtime_checkable
class Resampler(Protocol):
    """A stateful converter of 16-bit signed little-endian mono PCM between two rates."""

    in_rate: int
    out_rate: int

    def process(self, pcm: bytes) -> bytes:
        """Convert the next chunk of a continuous stream; may hold a few samples back."""
        ...

    def flush(self) -> bytes:
        """Return what is held back (end of an utterance) and start a fresh stream."""
        ...

    def reset(self) -> None:
        """Drop held audio and filter history (an interruption)."""
        ...


ResamplerFactory = Callable[[int, int], Resampler]


class PassThrough:
    """Used when the rates already match: no copy, no delay."""

    __slots__ = ("in_rate", "out_rate")

    def __init__(self, rate: int) -> None:
        self.in_rate = rate
        self.out_rate = rate

    def process(self, pcm: bytes) -> bytes:
        return pcm

    def flush(self) -> bytes:
        return b""

    def reset(self) -> None:
        return None


class PolyphaseResampler:
    """Low-latency streaming resampler for any rational ratio of integer rates.

    Output is produced for every input sample as it arrives (the "held" audio,
    input duration minus output duration, stays below one output sample), with
    the filter's group delay (:attr:`group_delay`, ~2.4 ms on 8 kHz paths) baked
    into the signal. :meth:`flush` therefore emits exactly that delay's worth of
    tail, so an utterance of N ms comes out as N ms plus the group delay and its
    last samples are never lost.

    ``engine`` selects the inner loop: ``"numba"`` (compiled, ~2-3 us per 20 ms
    frame), ``"numpy"`` (same numbers, ~10x slower) or ``"auto"``.

    ``mulaw="in"`` makes :meth:`process` take G.711 mu-law bytes (and return PCM),
    ``mulaw="out"`` makes it (and :meth:`flush`) return mu-law: the PCMU codec's
    conversion runs inside the same compiled call, bit-identical to converting
    separately. See :func:`create_mulaw_resampler`.
    """

    __slots__ = (
        "_fed",
        "_filter",
        "_kernel",
        "_odd",
        "_out_width",
        "_pending",
        "_tail_zeros",
        "_width_mask",
        "_ws",
        "engine",
        "in_rate",
        "out_rate",
    )

    def __init__(
        self, in_rate: int, out_rate: int, *, engine: str = "auto", mulaw: str | None = None
    ) -> None:
        if in_rate <= 0 or out_rate <= 0:
            raise ValueError(f"sample rates must be positive, got {in_rate} -> {out_rate}")
        if mulaw not in _MODES:
            raise ValueError(f"mulaw must be None, 'in' or 'out', got {mulaw!r}")
        self.in_rate = in_rate
        self.out_rate = out_rate
        self._filter: PolyphaseFilter = design(in_rate, out_rate)
        self.engine, self._kernel = select_kernel(engine)
        # Built while the compiled kernel was still loading: switch to it when ready.
        self._pending = engine == "auto" and self.engine == "numpy" and kernel_pending()
        self._ws = new_workspace(self._filter, _MODES[mulaw])
        f = self._filter
        # Enough silent input to push the last real sample through the group delay
        # (mu-law's silence is 0xFF).
        silent = -(-(f.delay + f.down) // f.up) + 1
        self._tail_zeros = b"\xff" * silent if mulaw == "in" else bytes(2 * silent)
        self._width_mask = 0 if mulaw == "in" else 1  # PCM input comes in 2-byte samples
        self._out_width = 1 if mulaw == "out" else 2
        self._odd = b""
        self._fed = False

    @property
    def group_delay(self) -> float:
        """Seconds by which the signal is delayed (the linear-phase filter's centre)."""
        return self._filter.delay / (self.in_rate * self._filter.up)

    @property
    def filter(self) -> PolyphaseFilter:
        """The polyphase filter in use (shared with other resamplers of this ratio)."""
        return self._filter

    def process(self, pcm: bytes) -> bytes:
        if type(pcm) is not bytes or len(pcm) & self._width_mask or self._odd:
            pcm = self._align(pcm)
        if not pcm:
            return b""
        if self._pending:
            self._upgrade()
        self._fed = True
        return self._kernel(pcm, self._ws).tobytes()

    def _upgrade(self) -> None:
        compiled = ready_kernel()
        if compiled is not None:
            self.engine, self._kernel = "numba", compiled
            self._pending = False
        elif not kernel_pending():  # numba failed: stay on numpy
            self._pending = False

    def _align(self, pcm: bytes | bytearray | memoryview) -> bytes:
        """Slow path: copy non-bytes input and carry an odd byte to the next call."""
        data = self._odd + bytes(pcm)
        if len(data) & self._width_mask:
            self._odd = data[-1:]
            return data[:-1]
        self._odd = b""
        return data

    def flush(self) -> bytes:
        if not self._fed:
            self.reset()
            return b""
        f = self._filter
        rel = int(self._ws[0])
        owed = max(0, -(-(f.delay - rel) // f.down))
        tail = self._kernel(self._tail_zeros, self._ws)[: owed * self._out_width].tobytes()
        self.reset()
        return tail

    def reset(self) -> None:
        clear_workspace(self._ws)
        self._odd = b""
        self._fed = False


class SoxrStream:
    """soxr streaming resampler: the fallback for ratios too odd for a polyphase table.

    Used only when the reduced ratio needs megabytes of taps (e.g. 44100 -> 22051);
    it holds tens of milliseconds in its blocks, which :meth:`flush` returns.
    """

    __slots__ = ("_fed", "_stream", "in_rate", "out_rate")

    def __init__(self, in_rate: int, out_rate: int) -> None:
        self.in_rate = in_rate
        self.out_rate = out_rate
        self._stream = self._new()
        self._fed = False

    def _new(self) -> soxr.ResampleStream:
        return soxr.ResampleStream(self.in_rate, self.out_rate, 1, dtype="int16", quality="HQ")

    def process(self, pcm: bytes) -> bytes:
        samples = np.frombuffer(pcm, dtype=np.int16, count=len(pcm) // 2)
        if not samples.size:
            return b""
        self._fed = True
        out: np.ndarray = self._stream.resample_chunk(samples)
        return out.tobytes()

    def flush(self) -> bytes:
        if not self._fed:
            return b""
        out: np.ndarray = self._stream.resample_chunk(np.zeros(0, dtype=np.int16), last=True)
        self.reset()
        return out.tobytes()

    def reset(self) -> None:
        self._stream = self._new()
        self._fed = False


def create_resampler(in_rate: int, out_rate: int) -> Resampler:
    """Return the default resampler for a rate pair (a pass-through when they match)."""
    if in_rate <= 0 or out_rate <= 0:
        raise ValueError(f"sample rates must be positive, got {in_rate} -> {out_rate}")
    if in_rate == out_rate:
        return PassThrough(in_rate)
    if table_size(in_rate, out_rate) > MAX_TABLE_SIZE:
        return SoxrStream(in_rate, out_rate)
    return PolyphaseResampler(in_rate, out_rate)


def create_mulaw_resampler(in_rate: int, out_rate: int, mulaw: str) -> Resampler | None:
    """A resampler that also converts to or from mu-law in the same call, if there is one.

    ``mulaw="in"``: :meth:`~Resampler.process` takes mu-law and returns PCM at
    ``out_rate``; ``"out"``: takes PCM and returns mu-law. None when the rates match
    or the ratio needs the soxr fallback: convert separately then.
    """
    if in_rate == out_rate or table_size(in_rate, out_rate) > MAX_TABLE_SIZE:
        return None
    return PolyphaseResampler(in_rate, out_rate, mulaw=mulaw)


#: Rate pairs of a Bandwidth call: wire rates 8/16/24 kHz, pipeline rates 8-48 kHz.
TELEPHONY_PAIRS: tuple[tuple[int, int], ...] = tuple(
    (a, b)
    for a in (8000, 16000, 24000, 48000)
    for b in (8000, 16000, 24000, 48000)
    if a != b and min(a, b) <= 24000
)


def warm_up(pairs: tuple[tuple[int, int], ...] = TELEPHONY_PAIRS) -> str:
    """Compile (or load) the kernel and design the usual filters ahead of the first call.

    Without it the first resampler of a process pays numba's start-up (~0.5 s from
    its on-disk cache, a few seconds the very first time) on the event loop.
    Importing ``bwserial.serializer`` calls it; returns the engine name in use.
    """
    engine, _ = select_kernel("numba" if kernel_pending() else "auto")
    for a, b in pairs:
        if a != b and table_size(a, b) <= MAX_TABLE_SIZE:
            r = PolyphaseResampler(a, b)
            r.process(bytes(2 * (a // 100)))
            r.flush()
    return engine


__all__ = [
    "TELEPHONY_PAIRS",
    "PassThrough",
    "PolyphaseResampler",
    "Resampler",
    "ResamplerFactory",
    "SoxrStream",
    "create_mulaw_resampler",
    "create_resampler",
    "warm_up",
]
