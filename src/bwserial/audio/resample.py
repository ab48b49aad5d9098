"""Streaming resamplers behind one small interface.

Every codec resamples through :func:`create_resampler`, so the engine can be
replaced (or tuned for latency) in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy as np
import soxr


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

    def __init__(self, rate: int) -> None:
        self.in_rate = rate
        self.out_rate = rate

    def process(self, pcm: bytes) -> bytes:
        return pcm

    def flush(self) -> bytes:
        return b""

    def reset(self) -> None:
        return None


class SoxrStream:
    """soxr streaming resampler (placeholder engine until the low-latency one lands)."""

    def __init__(self, in_rate: int, out_rate: int) -> None:
        self.in_rate = in_rate
        self.out_rate = out_rate
        self._stream = self._new()

    def _new(self) -> soxr.ResampleStream:
        return soxr.ResampleStream(self.in_rate, self.out_rate, 1, dtype="int16", quality="HQ")

    def process(self, pcm: bytes) -> bytes:
        if not pcm:
            return b""
        samples = np.frombuffer(pcm, dtype=np.int16)
        out: np.ndarray = self._stream.resample_chunk(samples)
        return out.tobytes()

    def flush(self) -> bytes:
        out: np.ndarray = self._stream.resample_chunk(np.zeros(0, dtype=np.int16), last=True)
        self._stream = self._new()
        return out.tobytes()

    def reset(self) -> None:
        self._stream = self._new()


def create_resampler(in_rate: int, out_rate: int) -> Resampler:
    """Return the default resampler for a rate pair (a pass-through when they match)."""
    if in_rate <= 0 or out_rate <= 0:
        raise ValueError(f"sample rates must be positive, got {in_rate} -> {out_rate}")
    if in_rate == out_rate:
        return PassThrough(in_rate)
    return SoxrStream(in_rate, out_rate)
