"""Audio and message helpers for the simulator tests (not fixtures: imported directly)."""

from __future__ import annotations

import asyncio
import base64
import json
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from aiohttp import web

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop


@dataclass
class BotSession:
    headers: dict[str, str]
    raw: list[str] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    end: str = ""  # "close" (close frame), "dropped" (no close frame)
    close_code: int | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)
    state: dict[str, Any] = field(default_factory=dict)

    def of(self, event_type: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("eventType") == event_type]


Behavior = Callable[[web.WebSocketResponse, BotSession, dict[str, Any]], Awaitable[None]]


@dataclass
class Bot:
    url: str
    sessions: list[BotSession]

    @property
    def session(self) -> BotSession:
        assert len(self.sessions) == 1
        return self.sessions[0]


StartBot = Callable[..., Awaitable[Bot]]


def tone_pcm16(freq: float, seconds: float, rate: int, amplitude: float = 0.3) -> bytes:
    t = np.arange(round(seconds * rate)) / rate
    return (np.round(amplitude * 32767 * np.sin(2 * np.pi * freq * t))).astype("<i2").tobytes()


def pcmu_play(pcmu: bytes) -> str:
    media = {"contentType": "audio/pcmu", "payload": base64.b64encode(pcmu).decode()}
    return json.dumps({"eventType": "playAudio", "media": media})


def pcm_play(pcm16: bytes, rate: int) -> str:
    ct = f"audio/pcm;rate={rate};channels=1;bit-depth=16;endian=little;encoding=signed"
    media = {"contentType": ct, "payload": base64.b64encode(pcm16).decode()}
    return json.dumps({"eventType": "playAudio", "media": media})


def ulaw(pcm16: bytes) -> bytes:
    return audioop.lin2ulaw(pcm16, 2)


def unulaw(pcmu: bytes) -> bytes:
    return audioop.ulaw2lin(pcmu, 2)


def dominant_freq(samples: npt.NDArray[np.int16], rate: int) -> float:
    windowed = samples.astype(np.float64) * np.hanning(samples.size)
    spectrum = np.abs(np.fft.rfft(windowed))
    return float(np.fft.rfftfreq(samples.size, 1 / rate)[int(np.argmax(spectrum))])


def rms(samples: npt.NDArray[np.int16]) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) if samples.size else 0.0


def write_pcm_wav(path: str, samples: npt.NDArray[np.float64], rate: int, width: int) -> None:
    """Write floats of shape (frames, channels) as PCM of ``width`` bytes (stdlib wave)."""
    import wave

    frames, channels = samples.shape
    if width == 1:
        raw = np.round(samples * 127 + 128).astype(np.uint8).tobytes()
    elif width == 2:
        raw = np.round(samples * 32767).astype("<i2").tobytes()
    elif width == 3:
        ints = np.round(samples * 8388607).astype("<i4").reshape(-1)
        raw = np.frombuffer(ints.tobytes(), dtype=np.uint8).reshape(-1, 4)[:, :3].tobytes()
    else:
        raw = np.round(samples * 2147483647).astype("<i4").tobytes()
    with wave.open(path, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(width)
        out.setframerate(rate)
        out.writeframes(raw)
    assert frames


def write_extensible_wav(
    path: str, samples: npt.NDArray[np.float64], rate: int, fmt: str = "pcm24"
) -> None:
    """WAVE_FORMAT_EXTENSIBLE header (what DAWs write for 24-bit / multichannel files)."""
    import struct

    channels = samples.shape[1]
    if fmt == "pcm24":
        ints = np.round(samples * 8388607).astype("<i4").reshape(-1)
        raw = np.frombuffer(ints.tobytes(), dtype=np.uint8).reshape(-1, 4)[:, :3].tobytes()
        width, sub = 3, 1
    else:
        raw = samples.astype("<f4").tobytes()
        width, sub = 4, 3
    guid_tail = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
    fmt_body = (
        struct.pack(
            "<HHIIHHHHI",
            0xFFFE,
            channels,
            rate,
            rate * channels * width,
            channels * width,
            width * 8,
            22,
            width * 8,
            0,
        )
        + struct.pack("<H", sub)
        + guid_tail
    )
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt_body)) + fmt_body
    body += b"data" + struct.pack("<I", len(raw)) + raw + (b"\x00" if len(raw) % 2 else b"")
    with open(path, "wb") as out:
        out.write(b"RIFF" + struct.pack("<I", len(body)) + body)
