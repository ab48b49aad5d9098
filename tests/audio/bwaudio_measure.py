"""Measurement helpers for the resampler tests: generated tones, streaming, tone fits."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from bwserial.audio._kernel import numba_kernel
from bwserial.audio.resample import Resampler

F64 = npt.NDArray[np.float64]
I16 = npt.NDArray[np.int16]

#: The paths the issue names, with the band that must be flat on each.
PATHS: tuple[tuple[int, int], ...] = (
    (8000, 16000),
    (8000, 24000),
    (16000, 8000),
    (24000, 8000),
    (24000, 16000),
)
#: Kernels to test; numba is a pipecat-ai dependency, but the fallback must work alone.
ENGINES: tuple[str, ...] = ("numba", "numpy") if numba_kernel() is not None else ("numpy",)
AMPLITUDE = 16384.0  # -6 dBFS: headroom for filter overshoot, far above rounding noise


def passband_edge(in_rate: int, out_rate: int) -> float:
    return 3400.0 if min(in_rate, out_rate) == 8000 else 7000.0


def tone(freq: float, rate: int, seconds: float, amplitude: float = AMPLITUDE) -> I16:
    t = np.arange(round(rate * seconds)) / rate
    out: I16 = np.round(amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)
    return out


@dataclass
class Run:
    out: I16
    held_ms: F64  # after each chunk: input fed minus output produced, in ms


def stream(r: Resampler, x: I16, chunk: int | Iterable[int], flush: bool = True) -> Run:
    """Feed ``x`` in chunks (a size, or a sequence of sizes cycled) and collect output."""
    sizes = [chunk] if isinstance(chunk, int) else list(chunk)
    outs: list[bytes] = []
    held: list[float] = []
    fed = produced = 0
    i = k = 0
    while i < len(x):
        n = sizes[k % len(sizes)]
        k += 1
        piece = x[i : i + n]
        i += len(piece)
        out = r.process(piece.tobytes())
        outs.append(out)
        fed += len(piece)
        produced += len(out) // 2
        held.append(1000.0 * (fed / r.in_rate - produced / r.out_rate))
    if flush:
        outs.append(r.flush())
    return Run(np.frombuffer(b"".join(outs), dtype=np.int16), np.array(held))


def fit_tone(y: F64 | I16, rate: int, freq: float) -> tuple[float, F64]:
    """Least-squares amplitude of a sinusoid at ``freq`` and the residual left after it."""
    t = np.arange(len(y)) / rate
    basis = np.column_stack(
        (np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t), np.ones_like(t))
    )
    yf = np.asarray(y, dtype=np.float64)
    coef = np.linalg.lstsq(basis, yf, rcond=None)[0]
    residual: F64 = yf - basis @ coef
    return float(np.hypot(coef[0], coef[1])), residual


def steady(y: I16, rate: int, skip_s: float = 0.05) -> I16:
    """Drop start-up and flush transients: the part where the filter is full."""
    k = round(skip_s * rate)
    out: I16 = y[k : len(y) - k]
    return out


def db(ratio: float) -> float:
    return float(20.0 * np.log10(max(ratio, 1e-12)))


def rms(y: F64 | I16) -> float:
    return float(np.sqrt(np.mean(np.asarray(y, dtype=np.float64) ** 2)))
