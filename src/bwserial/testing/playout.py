"""What Bandwidth does with a bot's outbound messages: validate them and play them out.

Bandwidth never acknowledges a ``playAudio``: a message it does not understand is just
silence on the call, which is the hardest bug to find from the bot's side. So the
simulator is strict where the protocol is (JSON text frames, ``eventType``, base64, the two
content types Bandwidth's own code uses) and reports every rejection with its reason.

Play-out is modelled analytically instead of with a ticking task: each chunk is scheduled
back to back on the simulator's clock (``start = max(now, end of queue)``), a ``clear``
cuts the schedule at "now", and the end of the call cuts it once more. This is exact at
any simulation speed, costs nothing between messages and cannot drift.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import json
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from bwserial.testing.wav import PCMU_RATE, pcmu_to_pcm16, resample_pcm16

__all__ = [
    "PCM_RATES",
    "AudioFormat",
    "Clear",
    "OutboundMessage",
    "PlayAudio",
    "PlayedChunk",
    "PlayoutModel",
    "Rejected",
    "parse_content_type",
    "parse_outbound",
]

PCM_RATES = (8000, 16000, 24000)
"""Rates of ``audio/pcm`` that Bandwidth's own code sends; nothing else is confirmed."""

# The only linear PCM form seen in Bandwidth's code; every parameter is required because
# which of them Bandwidth can do without is unconfirmed (see PROTOCOL.md section 1).
_PCM_FIXED_PARAMS = {"channels": "1", "bit-depth": "16", "endian": "little", "encoding": "signed"}
_SNIPPET = 60

Int16Array = npt.NDArray[np.int16]


def _snippet(value: object) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= _SNIPPET else text[: _SNIPPET - 3] + "..."


@dataclass(frozen=True)
class AudioFormat:
    """A parsed ``media.contentType``."""

    codec: Literal["pcmu", "pcm"]
    rate: int


def parse_content_type(content_type: str) -> AudioFormat:
    """Parse a ``playAudio`` content type, raising ``ValueError`` with the reason.

    Media types are case-insensitive and parameters unordered (RFC 2045), and bots build
    these strings by hand, so spacing and order are tolerated; unknown or conflicting
    parameters are not, since Bandwidth's handling of them is unknown.
    """
    parts = [part.strip() for part in content_type.split(";")]
    media_type = parts[0].lower()
    params: dict[str, str] = {}
    for part in parts[1:]:
        if not part:
            continue
        name, sep, value = part.partition("=")
        name, value = name.strip().lower(), value.strip().strip('"').lower()
        if not sep or not name or not value:
            raise ValueError(f"malformed parameter {part!r} in contentType {content_type!r}")
        if name in params:
            raise ValueError(f"duplicate parameter {name!r} in contentType {content_type!r}")
        params[name] = value

    if media_type == "audio/pcmu":
        for name, value in params.items():
            if (name, value) not in (("rate", "8000"), ("channels", "1")):
                raise ValueError(f"unsupported parameter {name}={value} for audio/pcmu")
        return AudioFormat("pcmu", PCMU_RATE)
    if media_type != "audio/pcm":
        raise ValueError(f"unsupported contentType {_snippet(content_type)!r}")

    unknown = sorted(set(params) - {"rate", *_PCM_FIXED_PARAMS})
    if unknown:
        raise ValueError(f"unknown audio/pcm parameter(s) {', '.join(unknown)}")
    missing = [name for name in ("rate", *_PCM_FIXED_PARAMS) if name not in params]
    if missing:
        raise ValueError(f"audio/pcm without {', '.join(missing)}")
    for name, expected in _PCM_FIXED_PARAMS.items():
        if params[name] != expected:
            raise ValueError(f"unsupported audio/pcm {name}={params[name]} (need {expected})")
    rate_text = params["rate"]
    if not rate_text.isdigit() or int(rate_text) not in PCM_RATES:
        raise ValueError(f"unsupported audio/pcm rate={rate_text} (need one of {PCM_RATES})")
    return AudioFormat("pcm", int(rate_text))


@dataclass(frozen=True)
class PlayAudio:
    """A valid ``playAudio``, decoded to 16-bit mono PCM at its own rate."""

    pcm16: bytes
    rate: int
    content_type: str

    @property
    def duration_secs(self) -> float:
        return len(self.pcm16) / 2 / self.rate


@dataclass(frozen=True)
class Clear:
    """A ``clear``: flush whatever is still queued."""


@dataclass(frozen=True)
class Rejected:
    """A message Bandwidth would not understand, with a one-line reason."""

    reason: str


OutboundMessage = PlayAudio | Clear | Rejected


def _parse_play_audio(message: dict[str, object]) -> PlayAudio | Rejected:
    media = message.get("media")
    if not isinstance(media, dict):
        return Rejected("playAudio without a 'media' object")
    content_type = media.get("contentType")
    payload = media.get("payload")
    if not isinstance(content_type, str):
        return Rejected("playAudio without a string media.contentType")
    if not isinstance(payload, str):
        return Rejected("playAudio without a string media.payload")
    try:
        fmt = parse_content_type(content_type)
    except ValueError as exc:
        return Rejected(f"playAudio: {exc}")
    try:
        raw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        return Rejected(f"playAudio: invalid base64 payload {_snippet(payload)!r}")
    if not raw:
        return Rejected("playAudio: empty payload")
    if fmt.codec == "pcmu":
        return PlayAudio(pcmu_to_pcm16(raw), fmt.rate, content_type)
    if len(raw) % 2:
        return Rejected(f"playAudio: 16-bit PCM payload with an odd byte count ({len(raw)})")
    return PlayAudio(raw, fmt.rate, content_type)


def parse_outbound(data: str | bytes) -> OutboundMessage:
    """Classify one WebSocket message from the bot the way Bandwidth would read it."""
    if isinstance(data, bytes):
        return Rejected(f"binary frame ({len(data)} bytes): Bandwidth reads JSON text only")
    try:
        message = json.loads(data)
    except ValueError:
        return Rejected(f"invalid JSON: {_snippet(data)!r}")
    if not isinstance(message, dict):
        return Rejected(f"JSON {type(message).__name__} instead of an object")
    event_type = message.get("eventType")
    if event_type == "playAudio":
        return _parse_play_audio(message)
    if event_type == "clear":
        return Clear()
    if event_type is None:
        return Rejected("message without eventType")
    return Rejected(f"unknown eventType {_snippet(event_type)!r}")


@dataclass
class PlayedChunk:
    """Audio that reached the caller: ``pcm16`` at ``rate``, starting at ``start`` seconds."""

    start: float
    pcm16: bytes
    rate: int

    @property
    def samples(self) -> int:
        return len(self.pcm16) // 2

    @property
    def end(self) -> float:
        return self.start + self.samples / self.rate

    def cut(self, at: float) -> float:
        """Drop everything from ``at`` on; return the seconds dropped."""
        keep = max(0, min(self.samples, round((at - self.start) * self.rate)))
        dropped = (self.samples - keep) / self.rate
        self.pcm16 = self.pcm16[: 2 * keep]
        return dropped


def _chunk_end(chunk: PlayedChunk) -> float:
    return chunk.end


class PlayoutModel:
    """Bandwidth's play-out queue on the simulator's clock (times in call seconds)."""

    def __init__(self) -> None:
        self._chunks: list[PlayedChunk] = []
        self._queue_end = 0.0
        self._finished = False
        self.received_secs = 0.0
        self.discarded_secs = 0.0
        self.unplayed_secs = 0.0
        self.rates_seen: set[int] = set()
        self.utterance_starts: list[float] = []
        """Times at which audio started from an idle line (first audio, after a gap or a clear)."""

    @property
    def queue_end(self) -> float:
        """When everything accepted so far will have been played."""
        return self._queue_end

    def queued_secs(self, now: float) -> float:
        return max(0.0, self._queue_end - now)

    def enqueue(self, audio: PlayAudio, now: float) -> float:
        """Schedule ``audio`` behind what is queued; return when it starts playing."""
        if self._finished:
            raise RuntimeError("the call has ended")
        start = max(now, self._queue_end)
        if now >= self._queue_end:
            self.utterance_starts.append(start)
        chunk = PlayedChunk(start, audio.pcm16, audio.rate)
        self._chunks.append(chunk)
        self._queue_end = chunk.end
        self.received_secs += audio.duration_secs
        self.rates_seen.add(audio.rate)
        return start

    def _cut(self, at: float) -> float:
        dropped = 0.0
        kept: list[PlayedChunk] = []
        for chunk in self._chunks:
            if chunk.end > at:
                dropped += chunk.cut(at)
            if chunk.samples:
                kept.append(chunk)
        self._chunks = kept
        self._queue_end = min(self._queue_end, at)
        return dropped

    def clear(self, now: float) -> float:
        """Flush the queue at ``now``; return the seconds of audio that will never play."""
        dropped = self._cut(now)
        self.discarded_secs += dropped
        return dropped

    def finish(self, now: float) -> None:
        """End the call at ``now``: audio still queued is counted as unplayed."""
        if not self._finished:
            self.unplayed_secs = self._cut(now)
            self._finished = True

    @property
    def played(self) -> list[PlayedChunk]:
        """Chunks as scheduled so far (final once :meth:`finish` has run)."""
        return list(self._chunks)

    @property
    def played_secs(self) -> float:
        return sum(chunk.samples / chunk.rate for chunk in self._chunks)

    def render_interval(self, t0: float, t1: float, rate: int = PCMU_RATE) -> bytes:
        """16-bit PCM of what played in ``[t0, t1)``, for an ``outbound`` monitoring track.

        Uses linear interpolation rather than a proper resampler: it only has to be
        recognisable (a bot must ignore that track), and each 20 ms slice must be final
        as soon as its time has passed, which a filter with look-ahead cannot give.
        """
        n = round((t1 - t0) * rate)
        out = np.zeros(n, dtype=np.float64)
        times = t0 + np.arange(n) / rate
        # Chunks never overlap and are kept in time order, so the first candidate is found
        # by bisection: a long call must not cost O(chunks) per 20 ms frame.
        first = bisect.bisect_right(self._chunks, t0, key=_chunk_end)
        for index in range(first, len(self._chunks)):
            chunk = self._chunks[index]
            if chunk.start >= t1:
                break
            src = np.frombuffer(chunk.pcm16, dtype="<i2").astype(np.float64)
            src_times = chunk.start + np.arange(src.size) / chunk.rate
            inside = (times >= chunk.start) & (times < chunk.end)
            out[inside] += np.interp(times[inside], src_times, src)
        return np.clip(np.round(out), -32768, 32767).astype("<i2").tobytes()

    def render(self, rate: int, duration_secs: float) -> bytes:
        """The whole call's played audio at ``rate``, silence where nothing played.

        Contiguous chunks of one rate are resampled as one run, because resampling 20 ms
        pieces separately would put a filter edge (a click) every 20 ms.
        """
        total = max(0, round(duration_secs * rate))
        out = np.zeros(total, dtype=np.float64)
        runs: list[tuple[PlayedChunk, list[bytes]]] = []
        run_end = -1.0
        for chunk in self._chunks:
            if runs and runs[-1][0].rate == chunk.rate and abs(run_end - chunk.start) < 1e-6:
                runs[-1][1].append(chunk.pcm16)
            else:
                runs.append((chunk, [chunk.pcm16]))
            run_end = chunk.end
        for first, pieces in runs:
            pcm = resample_pcm16(b"".join(pieces), first.rate, rate)
            samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
            begin = round(first.start * rate)
            if begin >= total:
                continue
            samples = samples[: total - begin]
            out[begin : begin + samples.size] += samples
        return np.clip(np.round(out), -32768, 32767).astype("<i2").tobytes()
