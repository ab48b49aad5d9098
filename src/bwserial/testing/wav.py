"""WAV input/output and mu-law helpers for the media-stream simulator.

Caller recordings come from anywhere (a phone app, a TTS tool, a DAW export), so reading
must not depend on the stdlib ``wave`` module, which on Python 3.11 rejects
``WAVE_FORMAT_EXTENSIBLE`` headers (used by most 24-bit and multichannel files) and float
files. A small RIFF reader covers PCM 8/16/24/32-bit, float 32/64-bit and both header
kinds; everything is converted to the one format a phone line carries: 8 kHz mono mu-law.
The mu-law itself is the serializer's own (:mod:`bwserial.audio.mulaw`), so the simulator
and the PCMU codec cannot disagree on a sample.
"""

from __future__ import annotations

import struct
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soxr

from bwserial.audio.mulaw import pcm_to_ulaw, ulaw_to_pcm

__all__ = [
    "PCMU_RATE",
    "WavFormatError",
    "load_wav_as_pcm16",
    "load_wav_as_pcmu",
    "pcm16_to_pcmu",
    "pcmu_to_pcm16",
    "read_wav",
    "resample_pcm16",
    "write_wav",
]

PCMU_RATE = 8000

_FORMAT_PCM = 0x0001
_FORMAT_FLOAT = 0x0003
_FORMAT_EXTENSIBLE = 0xFFFE

FloatArray = npt.NDArray[np.float64]


class WavFormatError(ValueError):
    """The file is not a WAV this module can decode (reported with the reason, not a trace)."""


def pcm16_to_pcmu(pcm: bytes) -> bytes:
    """Encode 16-bit signed little-endian PCM as G.711 mu-law (one byte per sample)."""
    return pcm_to_ulaw(pcm)


def pcmu_to_pcm16(pcmu: bytes) -> bytes:
    """Decode G.711 mu-law to 16-bit signed little-endian PCM."""
    return ulaw_to_pcm(pcmu)


def _float_to_pcm16(samples: FloatArray) -> bytes:
    scaled = np.clip(np.round(samples * 32768.0), -32768, 32767)
    return scaled.astype("<i2").tobytes()


def _resample(samples: FloatArray, in_rate: int, out_rate: int) -> FloatArray:
    if in_rate == out_rate or samples.size == 0:
        return samples
    out: FloatArray = soxr.resample(samples, in_rate, out_rate, quality="HQ")
    return out


def resample_pcm16(pcm: bytes, in_rate: int, out_rate: int) -> bytes:
    """Resample a whole mono 16-bit buffer in one shot (offline: no streaming delay)."""
    if in_rate == out_rate:
        return pcm
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64) / 32768.0
    return _float_to_pcm16(_resample(samples, in_rate, out_rate))


def _decode_samples(raw: bytes, fmt: int, width: int, channels: int) -> FloatArray:
    """Turn interleaved sample bytes into floats in [-1, 1), shape (frames, channels)."""
    frame_bytes = width * channels
    raw = raw[: len(raw) - len(raw) % frame_bytes]
    data: FloatArray
    if fmt == _FORMAT_FLOAT:
        if width not in (4, 8):
            raise WavFormatError(f"unsupported float sample width: {width * 8} bits")
        data = np.frombuffer(raw, dtype="<f4" if width == 4 else "<f8").astype(np.float64)
    elif width == 1:  # 8-bit WAV is unsigned with a 128 offset
        data = (np.frombuffer(raw, dtype=np.uint8).astype(np.float64) - 128.0) / 128.0
    elif width == 2:
        data = np.frombuffer(raw, dtype="<i2").astype(np.float64) / 32768.0
    elif width == 3:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        ints = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        ints = np.where(ints >= 1 << 23, ints - (1 << 24), ints)
        data = ints.astype(np.float64) / float(1 << 23)
    elif width == 4:
        data = np.frombuffer(raw, dtype="<i4").astype(np.float64) / float(1 << 31)
    else:
        raise WavFormatError(f"unsupported PCM sample width: {width * 8} bits")
    return data.reshape(-1, channels)


def read_wav(path: str | Path) -> tuple[FloatArray, int]:
    """Read a WAV file as floats in [-1, 1) with shape (frames, channels), and its rate."""
    blob = Path(path).read_bytes()
    if len(blob) < 12 or blob[:4] != b"RIFF" or blob[8:12] != b"WAVE":
        raise WavFormatError(f"{path}: not a RIFF/WAVE file")
    fmt_chunk: bytes | None = None
    data_chunk: bytes | None = None
    pos = 12
    while pos + 8 <= len(blob):
        chunk_id = blob[pos : pos + 4]
        (size,) = struct.unpack_from("<I", blob, pos + 4)
        body = blob[pos + 8 : pos + 8 + size]  # a streamed file may overstate its size
        if chunk_id == b"fmt ":
            fmt_chunk = body
        elif chunk_id == b"data":
            data_chunk = body
            break
        pos += 8 + size + (size & 1)  # chunks are word-aligned
    if fmt_chunk is None or len(fmt_chunk) < 16:
        raise WavFormatError(f"{path}: missing or short 'fmt ' chunk")
    if data_chunk is None:
        raise WavFormatError(f"{path}: missing 'data' chunk")
    fmt, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", fmt_chunk)
    if fmt == _FORMAT_EXTENSIBLE:
        if len(fmt_chunk) < 26:
            raise WavFormatError(f"{path}: truncated WAVE_FORMAT_EXTENSIBLE header")
        (fmt,) = struct.unpack_from("<H", fmt_chunk, 24)  # first field of the sub-format GUID
    if fmt not in (_FORMAT_PCM, _FORMAT_FLOAT):
        raise WavFormatError(f"{path}: unsupported WAV encoding 0x{fmt:04x} (PCM/float only)")
    if channels < 1 or rate < 1 or bits < 8 or bits % 8:
        raise WavFormatError(f"{path}: invalid header ({channels} ch, {rate} Hz, {bits} bit)")
    return _decode_samples(data_chunk, fmt, bits // 8, channels), rate


def load_wav_as_pcm16(path: str | Path, rate: int = PCMU_RATE) -> bytes:
    """Read any supported WAV as mono 16-bit PCM at ``rate`` (channels are averaged)."""
    samples, in_rate = read_wav(path)
    mono: FloatArray = samples.mean(axis=1) if samples.shape[1] > 1 else samples[:, 0]
    return _float_to_pcm16(_resample(np.ascontiguousarray(mono), in_rate, rate))


def load_wav_as_pcmu(path: str | Path) -> bytes:
    """Read any supported WAV as what a phone line carries: 8 kHz mono mu-law."""
    return pcm16_to_pcmu(load_wav_as_pcm16(path, PCMU_RATE))


def write_wav(path: str | Path, pcm16: bytes, rate: int, channels: int = 1) -> None:
    """Write interleaved 16-bit little-endian PCM as a plain PCM WAV any player opens."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm16)
