"""The streaming polyphase FIR loop, compiled with numba when it is available.

A 20 ms telephony frame is only 160-480 samples, so per-call overhead decides the
cost: soxr needs ~5 us a call through its Python wrapper and numpy needs 10+ calls
(~15-25 us). One compiled function that converts, filters, rounds and keeps its
history costs ~2-3 us a frame. numba is already installed with pipecat-ai (a hard
dependency of it); when it is missing or cannot compile, the numpy version below
computes the same thing, only slower.

Both kernels take the input bytes and one float32 workspace array and return the
output bytes as a uint8 array. Everything stateful lives in the workspace so that a
call passes just two arguments (each argument costs ~0.2 us to unbox in numba's
dispatcher):

    ws[0]            rel: upsampled position of the next output minus the stream
                     position (n_out * down - n_in * up), always in [0, down)
    ws[1], ws[2]     up, down (the reduced ratio out_rate / in_rate)
    ws[3]            taps per phase
    ws[4]            the formats (MODE_*): 16-bit PCM in and out, or G.711 mu-law
                     in or out, converted inside the same call (the PCMU codec's
                     whole path: one call a frame instead of two or three)
    ws[5 : 4+taps]   the last taps-1 input samples (filter history)
    ws[4+taps : ]    the polyphase table, up rows of taps each

Integers stored as float32 are exact below 2**24, which every ratio here is.
"""

from __future__ import annotations

import contextlib
import os
import threading
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import as_strided

from bwserial.audio._design import PolyphaseFilter
from bwserial.audio.mulaw import _decode_table, _encode_table

I16 = npt.NDArray[np.int16]
U8 = npt.NDArray[np.uint8]
F32 = npt.NDArray[np.float32]
Kernel = Callable[[bytes, F32], U8]

HEADER = 5
ENGINE_ENV = "BWSERIAL_RESAMPLER_ENGINE"

MODE_PCM = 0
"""16-bit signed little-endian PCM in and out."""
MODE_ULAW_IN = 1
"""mu-law in (one byte a sample), 16-bit PCM out: caller audio."""
MODE_ULAW_OUT = 2
"""16-bit PCM in, mu-law out: bot audio to a PCMU call."""

# G.711 tables, bit-identical to audioop (see mulaw.py); numba bakes them into the kernel.
_ULAW_DECODE = _decode_table().astype(np.float32)
_ULAW_ENCODE = _encode_table()


def new_workspace(filt: PolyphaseFilter, mode: int = MODE_PCM) -> F32:
    """A zeroed stream state; the table is copied in so one argument carries everything."""
    taps = filt.taps_per_phase
    ws = np.zeros(HEADER + taps - 1 + filt.up * taps, dtype=np.float32)
    ws[1] = filt.up
    ws[2] = filt.down
    ws[3] = taps
    ws[4] = mode
    ws[HEADER + taps - 1 :] = filt.table.ravel()
    return ws


def clear_workspace(ws: F32) -> None:
    """Start a new stream (utterance end or interruption); the filter stays."""
    ws[0] = 0.0
    ws[HEADER : HEADER + int(ws[3]) - 1] = 0.0


def numpy_kernel(data: bytes, ws: F32) -> U8:
    """Reference implementation of the kernel contract (see the module docstring)."""
    rel, up, down, taps, mode = (int(v) for v in ws[:HEADER])
    km1 = taps - 1
    hist = ws[HEADER : HEADER + km1]
    table = ws[HEADER + km1 : HEADER + km1 + up * taps].reshape(up, taps)
    if mode == MODE_ULAW_IN:
        x = _ULAW_DECODE[np.frombuffer(data, dtype=np.uint8)]
    else:
        x = np.frombuffer(data, dtype=np.int16).astype(np.float32)
    n = x.shape[0]
    buf = np.empty(km1 + n, dtype=np.float32)
    buf[:km1] = hist
    buf[km1:] = x
    hist[:] = buf[n:]
    end = n * up
    count = (end - rel + down - 1) // down if end > rel else 0
    ws[0] = rel + count * down - end
    if count == 0:
        return np.empty(0, dtype=np.uint8)
    if up <= 8:
        # Outputs r, r+up, ... share a phase and step `down` through the input: one
        # strided matrix-vector product per phase (np.dot handles the overlap).
        y = np.empty(count, dtype=np.float32)
        step = down * buf.itemsize
        for r in range(min(up, count)):
            b0, phase = divmod(rel + r * down, up)
            n_group = (count - r + up - 1) // up
            windows = as_strided(buf[b0:], shape=(n_group, taps), strides=(step, buf.itemsize))
            y[r::up] = np.dot(windows, table[phase])
    else:
        # Many phases with one or two outputs each: gather all windows at once.
        pos = rel + down * np.arange(count)
        base = pos // up
        windows = as_strided(buf, shape=(n, taps), strides=(buf.itemsize, buf.itemsize))
        y = np.einsum("ij,ij->i", windows[base], table[pos - base * up])
    np.floor(y + np.float32(0.5), out=y)  # as the compiled kernel rounds
    np.clip(y, -32768.0, 32767.0, out=y)
    pcm: I16 = y.astype(np.int16)
    if mode == MODE_ULAW_OUT:
        codes: U8 = _ULAW_ENCODE[pcm.view(np.uint16)]
        return codes
    out: U8 = pcm.view(np.uint8)
    return out


def _numba_source(data: Any, ws: Any) -> Any:  # pragma: no cover - runs compiled
    rel = np.int64(ws[0])
    up = np.int64(ws[1])
    down = np.int64(ws[2])
    taps = np.int64(ws[3])
    mode = np.int64(ws[4])
    km1 = taps - 1
    if mode == 1:  # MODE_ULAW_IN
        codes = np.frombuffer(data, np.uint8)
        n = codes.shape[0]
        buf = np.empty(km1 + n, np.float32)
        for i in range(n):
            buf[km1 + i] = _ULAW_DECODE[codes[i]]
    else:
        x = np.frombuffer(data, np.int16)
        n = x.shape[0]
        buf = np.empty(km1 + n, np.float32)
        for i in range(n):
            buf[km1 + i] = x[i]
    buf[:km1] = ws[5 : 5 + km1]
    ws[5 : 5 + km1] = buf[n:]
    table = ws[5 + km1 : 5 + km1 + up * taps]
    end = n * up
    count = np.int64(0)
    if end > rel:
        count = (end - rel + down - 1) // down
    ws[0] = rel + count * down - end
    y = np.empty(count, np.float32)
    if down == 1:
        # Upsampling (every caller-audio path: 8k -> 16k/24k): each phase's outputs
        # are a correlation over contiguous input, so loop over the taps outside and
        # the outputs inside (acc[j] += h * x[j]): the compiler makes that SIMD
        # multiply-adds, measured 25 % faster than one reduction per output here
        # (and 4x slower when down > 1, where the input is strided: see below).
        acc = np.empty((count + up - 1) // up, np.float32)
        for r in range(min(up, count)):
            b0 = (rel + r) // up
            phase = rel + r - b0 * up
            n_group = (count - r + up - 1) // up
            row = table[phase * taps : (phase + 1) * taps]
            for j in range(n_group):
                acc[j] = np.float32(0.0)
            for k in range(taps):
                h = row[k]
                src = buf[b0 + k : b0 + k + n_group]
                for j in range(n_group):
                    acc[j] += h * src[j]
            for j in range(n_group):
                y[r + j * up] = acc[j]
        return _numba_output(y, mode)
    # Outputs r, r+up, r+2up, ... share one phase and step `down` through the input,
    # so each group is a plain strided correlation; four outputs at a time share the
    # loads of the taps and keep four reductions in flight.
    for r in range(min(up, count)):
        pos = rel + r * down
        b0 = pos // up
        phase = pos - b0 * up
        n_group = (count - r + up - 1) // up
        row = table[phase * taps : (phase + 1) * taps]
        j = 0
        while j + 4 <= n_group:
            b = b0 + j * down
            w0 = buf[b : b + taps]
            w1 = buf[b + down : b + down + taps]
            w2 = buf[b + 2 * down : b + 2 * down + taps]
            w3 = buf[b + 3 * down : b + 3 * down + taps]
            s0 = np.float32(0.0)
            s1 = np.float32(0.0)
            s2 = np.float32(0.0)
            s3 = np.float32(0.0)
            for k in range(taps):
                h = row[k]
                s0 += h * w0[k]
                s1 += h * w1[k]
                s2 += h * w2[k]
                s3 += h * w3[k]
            o = r + j * up
            y[o] = s0
            y[o + up] = s1
            y[o + 2 * up] = s2
            y[o + 3 * up] = s3
            j += 4
        while j < n_group:
            b = b0 + j * down
            w0 = buf[b : b + taps]
            s0 = np.float32(0.0)
            for k in range(taps):
                s0 += row[k] * w0[k]
            y[r + j * up] = s0
            j += 1
    return _numba_output(y, mode)


def _numba_output_source(y: Any, mode: Any) -> Any:  # pragma: no cover - runs compiled
    """Round half up, clip to 16 bits, and write PCM bytes or mu-law codes."""
    count = y.shape[0]
    lo = np.float32(-32768.0)
    hi = np.float32(32767.0)
    half = np.float32(0.5)
    if mode == 2:  # MODE_ULAW_OUT
        codes = np.empty(count, np.uint8)
        for j in range(count):
            v = np.int64(min(max(np.floor(y[j] + half), lo), hi))
            codes[j] = _ULAW_ENCODE[v & 0xFFFF]
        return codes
    out = np.empty(2 * count, np.uint8)
    pcm = out.view(np.int16)
    for j in range(count):
        pcm[j] = np.int16(min(max(np.floor(y[j] + half), lo), hi))
    return out


_numba_output: Any = _numba_output_source  # replaced by its compiled form in _compile()
_lock = threading.Lock()
_compiled: Kernel | None = None
_compile_failed = False
_background: threading.Thread | None = None
_start_lock = threading.Lock()


def _compile() -> Kernel | None:
    try:
        import numba
        from numba import types
    except ImportError:
        return None
    global _numba_output
    sig = types.Array(types.uint8, 1, "C")(
        types.Bytes(types.uint8, 1, "C", readonly=True),
        types.Array(types.float32, 1, "C"),
    )
    options: dict[str, Any] = {"fastmath": True, "nogil": True, "boundscheck": False}
    for cache in (True, False):
        try:
            with warnings.catch_warnings():
                # A read-only install cannot cache; that only costs compile time.
                warnings.simplefilter("ignore")
                _numba_output = numba.njit(cache=cache, **options)(_numba_output_source)
                dispatcher = numba.njit(sig, cache=cache, **options)(_numba_source)
            break
        except Exception:
            continue
    else:
        return None
    kernel: Kernel = dispatcher
    # The compiled entry point skips the dispatcher's type matching (~0.15 us a call,
    # ~8 % of a frame). The resampler only ever passes bytes and its own float32
    # workspace, so the single signature always applies; check it before trusting it.
    try:
        compiled: Any = dispatcher.overloads[dispatcher.signatures[0]]
        entry: Kernel = compiled.entry_point
        probe = np.zeros(HEADER + 1, dtype=np.float32)
        probe[1:4] = 1.0  # up = down = taps = 1, PCM in and out
        probe[HEADER] = 1.0  # the one tap
        if entry(b"\x01\x00", probe).tolist() == [1, 0]:
            kernel = entry
    except Exception:
        pass
    return kernel


def numba_kernel() -> Kernel | None:
    """The compiled kernel, built (or loaded from numba's cache) on first use.

    Lazily, so that importing bwserial does not import numba (~0.5 s) for users
    who never resample.
    """
    global _compiled, _compile_failed
    if _compiled is None and not _compile_failed:
        with _lock:
            if _compiled is None and not _compile_failed:
                _compiled = _compile()
                _compile_failed = _compiled is None
    return _compiled


def compile_in_background() -> None:
    """Start loading (or compiling) the numba kernel in a thread, once per process.

    Until it is ready, ``"auto"`` resamplers run the numpy kernel instead of blocking
    the event loop for the 0.5-3 s numba needs, and switch to the compiled kernel on
    their next chunk once it is (both kernels share one workspace layout).
    """
    global _background
    with _start_lock:
        if _background is None and _compiled is None and not _compile_failed:
            _background = threading.Thread(
                target=_compile_quietly, name="bwserial-kernel", daemon=True
            )
            _background.start()


def _compile_quietly() -> None:
    with contextlib.suppress(Exception):  # failure shows as numba_kernel() -> None
        numba_kernel()


def kernel_pending() -> bool:
    """Whether the background compile is still running."""
    thread = _background
    return thread is not None and thread.is_alive() and _compiled is None


def ready_kernel() -> Kernel | None:
    """The compiled kernel if it is ready; never waits."""
    return _compiled


def select_kernel(engine: str = "auto") -> tuple[str, Kernel]:
    """Pick the kernel: ``"numba"``, ``"numpy"`` or ``"auto"`` (numba when it works).

    ``BWSERIAL_RESAMPLER_ENGINE=numpy`` forces the fallback for ``"auto"``, a way out
    should a numba build misbehave on some platform.
    """
    if engine == "auto":
        engine = os.environ.get(ENGINE_ENV, "auto").strip().lower() or "auto"
    if engine == "numpy":
        return "numpy", numpy_kernel
    if engine not in ("auto", "numba"):
        raise ValueError(f"unknown resampler engine {engine!r}")
    if engine == "auto" and kernel_pending():
        return "numpy", numpy_kernel  # for now: the resampler switches when it is ready
    kernel = numba_kernel()
    if kernel is not None:
        return "numba", kernel
    if engine == "numba":
        raise RuntimeError("the numba resampler kernel is not available")
    return "numpy", numpy_kernel
