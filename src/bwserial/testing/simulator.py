"""A fake Bandwidth media stream: call a bot's WebSocket URL without a phone.

Bandwidth only ever *connects to* the bot, so a bot cannot be tried without a real call
(a number, a BXML app, a public URL). This module plays Bandwidth's side over a real
WebSocket: the ``Authorization`` header of ``destinationUsername``/``destinationPassword``,
``start``, 20 ms ``media`` frames of PCMU paced like a phone line, ``stop`` (or an abrupt
end), and it plays the bot's answer the way Bandwidth would (see :mod:`.playout`), so the
report shows what a caller would really have heard and when. PROTOCOL.md is the source for
every message shape used here.

Time: everything in a report is on the *simulator's clock*, in call seconds from the
``start`` message. At ``speed=1`` it is the wall clock; at ``speed=10`` it runs ten times
faster (caller audio, play-out and the bot's measured latency all scale together). With
``fast=True`` the caller's script is sent as fast as the socket takes it and the clock
follows the audio sent; once the script is over, the clock runs at real time again,
because what is left (waiting for the bot's answer) is governed by the bot's own speed.

Usage::

    script = CallScript.of(Silence(0.5), Speech.from_wav("hello.wav"), Silence(3))
    report = await simulate_call(SimulatorConfig(url="ws://127.0.0.1:8765/ws",
                                                 out_wav="bot.wav"), script)
    print(report.response_latencies_secs, report.malformed_samples)
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json
import math
import socket
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import aiohttp
import numpy as np
from loguru import logger

from bwserial._log import escape, redact_url
from bwserial.testing.playout import Clear, PlayAudio, PlayoutModel, Rejected, parse_outbound
from bwserial.testing.wav import (
    PCMU_RATE,
    load_wav_as_pcmu,
    pcm16_to_pcmu,
    pcmu_to_pcm16,
    resample_pcm16,
    write_wav,
)

__all__ = [
    "FRAME_BYTES",
    "FRAME_SECS",
    "KEYPAD",
    "TRACKS_BOTH",
    "CallAudio",
    "CallReport",
    "CallScript",
    "ClearReport",
    "ConnectionRejected",
    "Duplicate",
    "EndReason",
    "EndWith",
    "Gap",
    "Keypress",
    "KeypressReport",
    "LineFault",
    "Segment",
    "Silence",
    "SimulatorConfig",
    "SimulatorError",
    "Speech",
    "Track",
    "TurnReport",
    "load_wav_as_pcmu",
    "new_call_id",
    "new_stream_id",
    "simulate_call",
    "write_wav",
]

FRAME_BYTES = 160
"""One live media frame: 20 ms of 8 kHz mu-law."""
FRAME_SECS = FRAME_BYTES / PCMU_RATE
SILENCE = b"\xff"
"""Mu-law zero: an open phone line with nobody talking still sends frames of it."""

_MAX_SAMPLES = 5
_MAX_MALFORMED_TIMES = 100
_CLOSE_TIMEOUT_SECS = 2.0
_MAX_MESSAGE_BYTES = 16 * 1024 * 1024
_KEY_TIMEOUT_SECS = 5.0
_EPS = 1e-9

EndReason = Literal["script", "bot_closed", "hangup", "transfer", "max_call_secs"]
EndWith = Literal["stop", "close", "drop"]


class SimulatorError(Exception):
    """The call could not be placed (the bot's URL is unreachable or misbehaves)."""


class ConnectionRejected(SimulatorError):
    """The bot refused the WebSocket upgrade, e.g. 401 for wrong Basic credentials."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"WebSocket upgrade rejected with HTTP {status} {message}".strip())
        self.status = status


# --------------------------------------------------------------------------- script


@dataclass(frozen=True)
class Speech:
    """One caller turn: 8 kHz mono mu-law, the only thing a phone line carries."""

    pcmu: bytes
    label: str = ""

    def __post_init__(self) -> None:
        if not self.pcmu:
            raise ValueError("a Speech segment needs audio (use Silence for a pause)")

    @classmethod
    def from_wav(cls, path: str | Path, label: str | None = None) -> Speech:
        """Any rate, 8-32 bit PCM or float, any channel count (mixed down to mono)."""
        return cls(load_wav_as_pcmu(path), Path(path).name if label is None else label)

    @classmethod
    def from_pcm16(cls, pcm16: bytes, rate: int, label: str = "") -> Speech:
        """16-bit signed little-endian mono PCM at ``rate``."""
        return cls(pcm16_to_pcmu(resample_pcm16(pcm16, rate, PCMU_RATE)), label)

    @classmethod
    def tone(
        cls, freq_hz: float, seconds: float, amplitude: float = 0.3, label: str = ""
    ) -> Speech:
        """A sine: easy to find again in the bot's output (an echo bot, a spectrum check)."""
        t = np.arange(round(seconds * PCMU_RATE)) / PCMU_RATE
        samples = np.round(amplitude * 32767 * np.sin(2 * np.pi * freq_hz * t))
        return cls.from_pcm16(samples.astype("<i2").tobytes(), PCMU_RATE, label)

    @property
    def duration_secs(self) -> float:
        return len(self.pcmu) / PCMU_RATE


@dataclass(frozen=True)
class Silence:
    """A pause: still sent as media frames of mu-law silence, as a phone line does."""

    seconds: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.seconds) and self.seconds >= 0):
            raise ValueError(f"Silence needs a finite, non-negative duration, got {self.seconds}")


@dataclass(frozen=True)
class Gap(Silence):
    """Media lost on the way: no frames for ``seconds``, then sequence numbers jump ahead.

    PROTOCOL.md says gaps are possible; a bot must not stall or misplace its audio.
    """


@dataclass(frozen=True)
class Duplicate:
    """The last ``frames`` media frames sent again, same sequence numbers (a resend)."""

    frames: int = 1

    def __post_init__(self) -> None:
        if self.frames < 1:
            raise ValueError(f"Duplicate needs at least one frame, got {self.frames}")

    @property
    def seconds(self) -> float:
        """A resend takes no call time."""
        return 0.0


KEYPAD = frozenset("0123456789*#")
"""The keys a ``Keypress`` can press (Bandwidth's ``dtmf`` digits)."""


@dataclass(frozen=True)
class Keypress:
    """The caller presses keys at this point of the script: one ``dtmf`` webhook per
    key, posted in order to ``SimulatorConfig.dtmf_url`` (as ``<StartGather>`` makes
    Bandwidth do). Takes no call time; the line keeps sending audio meanwhile."""

    digits: str

    def __post_init__(self) -> None:
        if not self.digits or any(digit not in KEYPAD for digit in self.digits):
            raise ValueError(f"Keypress takes keys 0-9, * and #, got {self.digits!r}")

    @property
    def seconds(self) -> float:
        """A key press takes no call time."""
        return 0.0


Segment = Speech | Silence | Duplicate | Keypress


@dataclass(frozen=True)
class CallScript:
    """The caller's side of the call, played back to back from the ``start`` message.

    Timing is the script's alone: a Speech that follows a short Silence starts while the
    bot may still be answering the previous turn, which is how barge-in is tested.
    """

    segments: Sequence[Segment]

    def __post_init__(self) -> None:
        object.__setattr__(self, "segments", tuple(self.segments))

    @classmethod
    def of(cls, *segments: Segment) -> CallScript:
        return cls(segments)

    @classmethod
    def from_wavs(
        cls, paths: Iterable[str | Path], *, lead_in_secs: float = 0.5, gap_secs: float = 3.0
    ) -> CallScript:
        """One caller turn per file, with ``gap_secs`` of silence for the bot to answer."""
        segments: list[Segment] = [Silence(lead_in_secs)]
        for index, path in enumerate(paths):
            if index:
                segments.append(Silence(gap_secs))
            segments.append(Speech.from_wav(path))
        return cls(segments)

    @property
    def duration_secs(self) -> float:
        return sum(s.duration_secs if isinstance(s, Speech) else s.seconds for s in self.segments)

    def with_keypress(self, at_secs: float, digits: str) -> CallScript:
        """This script with ``Keypress(digits)`` at call time ``at_secs``.

        A pause is split there; a time inside a caller turn moves to the end of that
        turn (a turn is never cut in two); past the end, silence is added up to it.
        """
        if not (math.isfinite(at_secs) and at_secs >= 0):
            raise ValueError(f"a key press needs a finite time >= 0, got {at_secs}")
        press = Keypress(digits)
        segments: list[Segment] = []
        position = 0.0
        placed = False
        for segment in self.segments:
            length = segment.duration_secs if isinstance(segment, Speech) else segment.seconds
            end = position + length
            if not placed and at_secs < end - _EPS:
                if isinstance(segment, Silence) and not isinstance(segment, Gap):
                    head = at_secs - position
                    segments += [Silence(head), press, Silence(length - head)]
                    placed = True
                    position = end
                    continue
                segments.append(segment)
                segments.append(press)
                placed = True
                position = end
                continue
            segments.append(segment)
            position = end
        if not placed:
            if at_secs > position + _EPS:
                segments.append(Silence(at_secs - position))
            segments.append(press)
        return CallScript(segments)


@dataclass(frozen=True)
class _Turn:
    index: int
    label: str
    start: float
    end: float


@dataclass
class _LineFaults:
    """Frames the line loses (``Gap``) or resends (``Duplicate``), by frame index."""

    lost: set[int] = field(default_factory=set)
    resend_after: dict[int, int] = field(default_factory=dict)
    keys_at: dict[int, str] = field(default_factory=dict)
    """Keys pressed (``Keypress``) before sending the frame of that index."""


def _build_timeline(script: CallScript) -> tuple[bytes, list[_Turn], _LineFaults]:
    """Concatenate the script into one mu-law stream, padded to whole frames.

    Turn boundaries are kept at sample precision so latencies do not inherit the 20 ms
    frame grid.
    """
    parts: list[bytes] = []
    turns: list[_Turn] = []
    faults = _LineFaults()
    position = 0
    for segment in script.segments:
        if isinstance(segment, Speech):
            start = position
            parts.append(segment.pcmu)
            position += len(segment.pcmu)
            turns.append(_Turn(len(turns), segment.label, start / PCMU_RATE, position / PCMU_RATE))
        elif isinstance(segment, Keypress):
            first = -(-position // FRAME_BYTES)
            faults.keys_at[first] = faults.keys_at.get(first, "") + segment.digits
        elif isinstance(segment, Duplicate):
            last = -(-position // FRAME_BYTES) - 1  # the frame holding the latest audio
            if last >= 0:
                faults.resend_after[last] = faults.resend_after.get(last, 0) + segment.frames
        else:
            if isinstance(segment, Gap):
                first = round(position / FRAME_BYTES)
                faults.lost.update(range(first, first + round(segment.seconds / FRAME_SECS)))
            samples = round(segment.seconds * PCMU_RATE)
            parts.append(SILENCE * samples)
            position += samples
    parts.append(SILENCE * (-position % FRAME_BYTES))
    return b"".join(parts), turns, faults


# --------------------------------------------------------------------------- config


@dataclass(frozen=True)
class Track:
    """One entry of ``start.metadata.tracks``."""

    name: str = "inbound"
    encoding: str = "audio/PCMU"
    sample_rate: int = PCMU_RATE

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "mediaFormat": {"encoding": self.encoding, "sampleRate": self.sample_rate},
        }


TRACKS_BOTH = (Track("inbound"), Track("outbound"))
"""``<StartStream tracks="both">``: the bot also receives what the caller hears."""


def new_call_id() -> str:
    """A fresh ``callId`` for a simulated call (unique, visibly not Bandwidth's)."""
    return f"c-sim-{uuid.uuid4()}"


def new_stream_id() -> str:
    """A fresh ``streamId`` for a simulated call."""
    return f"s-sim-{uuid.uuid4()}"


@dataclass(frozen=True)
class SimulatorConfig:
    """How to place the simulated call.

    ``end_with``: ``"stop"`` sends ``stop`` then closes the WebSocket normally; ``"close"``
    closes it without ``stop``; ``"drop"`` cuts the TCP connection without a close frame.
    PROTOCOL.md says a socket may end without ``stop``; bots must survive all three.

    ``linger_secs`` of line silence follow the script so the bot can answer the last turn;
    with ``wait_for_playout`` the call also stays up until the bot's queued audio has
    played. ``max_call_secs`` (wall clock) bounds the whole call whatever the bot does.
    """

    url: str = field(repr=False)  # may carry the stream token: see redact_url
    account_id: str | int = "9900000"
    call_id: str = field(default_factory=new_call_id)
    stream_id: str = field(default_factory=new_stream_id)
    stream_name: str = "bwserial-simulator"
    tracks: tuple[Track, ...] = (Track(),)
    stream_params: Mapping[str, str] | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    speed: float = 1.0
    fast: bool = False
    end_with: EndWith = "stop"
    linger_secs: float = 3.0
    wait_for_playout: bool = True
    max_call_secs: float = 300.0
    connect_timeout_secs: float = 10.0
    out_wav: str | Path | None = None
    out_rate: int | None = None
    out_with_caller: bool = False
    verify_tls: bool = True
    keep_audio: bool = False
    """Keep both sides' audio in ``CallReport.audio`` (for a timeline picture)."""
    dtmf_url: str | None = field(default=None, repr=False)
    """Where ``Keypress`` segments post ``dtmf`` webhooks (``<StartGather dtmfUrl>``)."""
    dtmf_username: str | None = None
    """Basic-auth user of the ``dtmf`` webhooks (``<StartGather username>``)."""
    dtmf_password: str | None = field(default=None, repr=False)
    """Its password."""

    def __post_init__(self) -> None:
        if not self.url.startswith(("ws://", "wss://")):
            raise ValueError(f"url must be ws:// or wss://, got {redact_url(self.url)!r}")
        if not self.speed > 0:
            raise ValueError(f"speed must be positive, got {self.speed}")
        if not (math.isfinite(self.linger_secs) and self.linger_secs >= 0):
            raise ValueError(f"linger_secs must be >= 0, got {self.linger_secs}")
        if not self.max_call_secs > 0 or not self.connect_timeout_secs > 0:
            raise ValueError("max_call_secs and connect_timeout_secs must be positive")
        if self.out_rate is not None and self.out_rate <= 0:
            raise ValueError(f"out_rate must be positive, got {self.out_rate}")
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together (Basic auth)")
        if self.dtmf_url is not None and not self.dtmf_url.startswith(("http://", "https://")):
            raise ValueError(
                f"dtmf_url must be http:// or https://, got {redact_url(self.dtmf_url)!r}"
            )
        if (self.dtmf_username is None) != (self.dtmf_password is None):
            raise ValueError("dtmf_username and dtmf_password go together (Basic auth)")
        if self.end_with not in ("stop", "close", "drop"):
            raise ValueError(f"end_with must be stop, close or drop, got {self.end_with!r}")

    @property
    def paced(self) -> bool:
        """False when the script is sent as fast as possible."""
        return not self.fast and math.isfinite(self.speed)

    def authorization(self) -> str | None:
        """The upgrade's ``Authorization`` header, as for destinationUsername/Password."""
        if self.username is None or self.password is None:
            return None
        # Built by hand: aiohttp.BasicAuth is deprecated in newer aiohttp, and its
        # replacement does not exist in the oldest aiohttp bwserial supports.
        credentials = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(credentials).decode("ascii")


# --------------------------------------------------------------------------- report


@dataclass(frozen=True)
class TurnReport:
    """One caller turn and how long the bot took to start answering it.

    ``response_latency_secs`` runs from the end of the turn to the first moment bot
    audio *starts* on an idle line (nothing playing, or just cleared) before the next
    turn ends; audio already playing when the caller stops is an older answer, not a
    response. None: the bot never started an answer in that window.
    """

    index: int
    label: str
    start_secs: float
    end_secs: float
    response_latency_secs: float | None


@dataclass(frozen=True)
class ClearReport:
    """One ``clear``, placed relative to the caller's turns to judge barge-in handling."""

    at_secs: float
    discarded_secs: float
    turn: int | None
    """The latest caller turn started at that time (None: before the first turn)."""
    since_turn_start_secs: float | None
    during_turn: bool
    """The caller was speaking: a clear in reaction to barge-in."""


@dataclass(frozen=True)
class KeypressReport:
    """One key the caller pressed: its ``dtmf`` webhook and the answer it got."""

    digit: str
    at_secs: float
    """When the key was pressed (the webhook was posted), in call seconds."""
    status: int | None
    """The webhook's HTTP status (204: delivered); None if no answer came."""
    answered_after_secs: float | None
    """Wall seconds from posting to the answer; None if none came."""
    error: str | None = None
    """Why no answer came (unreachable, timed out)."""


@dataclass(frozen=True)
class LineFault:
    """Media the line lost (``gap``) or sent twice (``duplicate``), at caller-audio time."""

    kind: Literal["gap", "duplicate"]
    at_secs: float
    frames: int


@dataclass(frozen=True)
class CallAudio:
    """Both sides of the call at 8 kHz, what a phone line carries, from ``start`` on."""

    caller_pcmu: bytes
    """What reached the bot: mu-law, lost frames as silence."""
    bot_pcm16: bytes
    """What the caller heard: 16-bit PCM, silence where nothing played."""
    rate: int = PCMU_RATE


@dataclass(frozen=True)
class CallReport:
    """What happened on one simulated call (times in call seconds; see the module doc).

    ``hangup`` is for whoever runs a fake Voice API next to the call: fill it with
    ``dataclasses.replace(report, hangup=...)``.
    """

    url: str
    call_id: str
    stream_id: str
    ended_by: EndReason
    duration_secs: float
    wall_secs: float
    frames_sent: int
    caller_audio_secs: float
    caller_speech_secs: float
    turns: tuple[TurnReport, ...]
    play_audio_messages: int
    content_types: Mapping[str, int]
    bot_audio_received_secs: float
    bot_audio_played_secs: float
    bot_audio_unplayed_secs: float
    clears_received: int
    audio_discarded_secs: float
    clears: tuple[ClearReport, ...]
    malformed_messages: int
    malformed_samples: tuple[str, ...]
    stop_sent: bool
    bot_closed: bool
    close_code: int | None
    out_wav: str | None = None
    out_rate: int | None = None
    hangup: Mapping[str, Any] | None = None
    line_faults: tuple[LineFault, ...] = ()
    malformed_at_secs: tuple[float, ...] = ()
    """When the first malformed messages arrived (at most 100, in order)."""
    stop_at_secs: float | None = None
    hangup_at_secs: float | None = None
    """When the ``hangup`` event ended the call (e.g. the fake Voice API got the request)."""
    bot_audio_spans: tuple[tuple[float, float], ...] = ()
    """(start, end) of each stretch of bot audio the caller heard (20 ms holes closed)."""
    audio: CallAudio | None = field(default=None, repr=False)
    """Set with ``SimulatorConfig(keep_audio=True)``; never in :meth:`to_dict`."""
    keypresses: tuple[KeypressReport, ...] = ()
    """The keys pressed (``Keypress`` segments), in order, with their webhook answers."""
    transfer_at_secs: float | None = None
    """When the ``transfer`` event ended the caller's part with the bot (``ended_by``
    is then ``"transfer"``)."""

    @property
    def response_latencies_secs(self) -> tuple[float | None, ...]:
        return tuple(turn.response_latency_secs for turn in self.turns)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types, times rounded to 0.1 ms (for ``--json``)."""
        data = _rounded(asdict(dataclasses.replace(self, audio=None)))
        assert isinstance(data, dict)
        del data["audio"]
        data["response_latencies_secs"] = _rounded(list(self.response_latencies_secs))
        return data


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, Mapping):
        return {str(k): _rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    return value


# --------------------------------------------------------------------------- call


class _Clock:
    """Call seconds since ``start``: wall time times ``speed``, or set by hand (``None``).

    Deadlines are computed from one fixed base, never by adding sleeps, so pacing does
    not accumulate drift however late the event loop wakes up.
    """

    def __init__(self, speed: float | None) -> None:
        self._speed = speed
        self._base_sim = 0.0
        self._base_wall = time.monotonic()

    @property
    def manual(self) -> bool:
        return self._speed is None

    def now(self) -> float:
        if self._speed is None:
            return self._base_sim
        return self._base_sim + (time.monotonic() - self._base_wall) * self._speed

    def restart(self) -> None:
        self._base_sim = 0.0
        self._base_wall = time.monotonic()

    def advance_to(self, t: float) -> None:
        self._base_sim = max(self._base_sim, t)

    def run_at_real_time(self) -> None:
        self._base_sim = self.now()
        self._base_wall = time.monotonic()
        self._speed = 1.0

    def wall_delay_until(self, t: float) -> float:
        if self._speed is None:
            return 0.0
        return (t - self._base_sim) / self._speed - (time.monotonic() - self._base_wall)


def _dumps(message: Mapping[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"))


class _Call:
    """State of one call; ``simulate_call`` is the public face."""

    def __init__(
        self,
        config: SimulatorConfig,
        script: CallScript,
        ws: aiohttp.ClientWebSocketResponse,
        hangup: asyncio.Event | None,
        transfer: asyncio.Event | None = None,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.config = config
        self.ws = ws
        self.hangup = hangup
        self.transfer = transfer
        self.transfer_at: float | None = None
        self.session = session
        self.key_queue: asyncio.Queue[tuple[str, float]] = asyncio.Queue()
        self.keypresses: list[KeypressReport] = []
        self.pcmu, self.turns, self.faults = _build_timeline(script)
        self.frame_pos = 0
        self.line_faults: list[list[Any]] = []  # [kind, first frame, frames]
        self.malformed_at: list[float] = []
        self.stop_at: float | None = None
        self.hangup_at: float | None = None
        self.clock = _Clock(config.speed if config.paced else None)
        self.playout = PlayoutModel()
        self.interrupt = asyncio.Event()
        self.sequence: dict[str, int] = {}
        self.frames_sent = 0
        self.malformed = 0
        self.malformed_samples: list[str] = []
        self.play_audio_messages = 0
        self.content_types: dict[str, int] = {}
        self.clears: list[tuple[float, float]] = []
        self.stop_sent = False
        self.stuck = False
        self.we_closed = False
        self.bot_closed = False
        self.close_code: int | None = None
        self.closed_at: float | None = None
        self.ended = False
        self.ended_by: EndReason = "script"
        self.end_secs = 0.0
        self.wall_secs = 0.0
        self.send_outbound_track = any(track.name == "outbound" for track in config.tracks)

    # ---- messages

    def _metadata(self) -> dict[str, Any]:
        c = self.config
        return {
            "accountId": c.account_id,
            "callId": c.call_id,
            "streamId": c.stream_id,
            "streamName": c.stream_name,
            "tracks": [track.to_json() for track in c.tracks],
        }

    def _start_message(self) -> dict[str, Any]:
        message: dict[str, Any] = {"metadata": self._metadata()}
        if self.config.stream_params is not None:
            message["streamParams"] = dict(self.config.stream_params)
        message["eventType"] = "start"  # last, as in live captures
        return message

    async def _send(self, message: Mapping[str, Any]) -> bool:
        if self.ws.closed:
            self._connection_lost(1006)
            return False
        try:
            await self.ws.send_str(_dumps(message))
        except (ConnectionError, aiohttp.ClientError) as exc:
            logger.debug("simulator: send failed: {!r}", exc)
            self._connection_lost(1006)
            return False
        return True

    async def _send_media(self, track: str, payload: bytes, number: int | None = None) -> bool:
        if number is None:
            number = self.sequence[track] = self.sequence.get(track, 0) + 1
        return await self._send(
            {
                "track": track,
                "sequenceNumber": str(number),
                "payload": base64.b64encode(payload).decode("ascii"),
                "eventType": "media",
            }
        )

    def _connection_lost(self, code: int | None) -> None:
        if self.we_closed or self.bot_closed:
            return
        self.bot_closed = True
        self.close_code = code
        self.closed_at = self.clock.now()
        self.interrupt.set()

    def _on_message(self, data: str | bytes) -> None:
        if self.ended:
            return
        now = self.clock.now()
        message = parse_outbound(data)
        if isinstance(message, Rejected):
            self.malformed += 1
            if len(self.malformed_at) < _MAX_MALFORMED_TIMES:
                self.malformed_at.append(now)
            if len(self.malformed_samples) < _MAX_SAMPLES:
                self.malformed_samples.append(message.reason)
            logger.debug(
                "simulator: rejected bot message at {:.3f}s: {}", now, escape(message.reason)
            )
        elif isinstance(message, Clear):
            self.clears.append((now, self.playout.clear(now)))
        elif isinstance(message, PlayAudio):
            self.play_audio_messages += 1
            ct = message.content_type
            self.content_types[ct] = self.content_types.get(ct, 0) + 1
            self.playout.enqueue(message, now)

    async def _receive(self) -> None:
        try:
            while True:
                msg = await self.ws.receive()
                if msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                    self._on_message(msg.data)
                elif msg.type is aiohttp.WSMsgType.CLOSE:
                    self._connection_lost(int(msg.data))
                    return
                elif msg.type in (aiohttp.WSMsgType.PING, aiohttp.WSMsgType.PONG):
                    continue
                else:  # CLOSING (our own close), CLOSED or ERROR: no close frame from the bot
                    self._connection_lost(1006)
                    return
        except Exception as exc:  # a receive error must end the call, not hang it
            logger.warning("simulator: receive failed: {!r}", exc)
            self._connection_lost(1006)

    async def _watch_hangup(self, event: asyncio.Event) -> None:
        await event.wait()
        self.hangup_at = self.clock.now()
        self.interrupt.set()

    async def _watch_transfer(self, event: asyncio.Event) -> None:
        await event.wait()
        self.transfer_at = self.clock.now()
        self.interrupt.set()

    async def _press_keys(self) -> None:
        """Post one ``dtmf`` webhook per key, in order, each after the previous answer."""
        from bwserial.testing.webhook import dtmf_body

        config = self.config
        assert config.dtmf_url is not None and self.session is not None
        headers: dict[str, str] = {}
        if config.dtmf_username is not None and config.dtmf_password is not None:
            credentials = f"{config.dtmf_username}:{config.dtmf_password}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(credentials).decode("ascii")
        while True:
            digit, at = await self.key_queue.get()
            body = dtmf_body(config.call_id, str(config.account_id), digit)
            sent = time.monotonic()
            try:
                async with self.session.post(
                    config.dtmf_url,
                    json=body,
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=_KEY_TIMEOUT_SECS),
                    ssl=config.verify_tls,
                ) as response:
                    await response.read()
                report = KeypressReport(digit, at, response.status, time.monotonic() - sent)
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                error = str(exc) or type(exc).__name__
                report = KeypressReport(digit, at, None, None, error)
            self.keypresses.append(report)
            self.key_queue.task_done()

    # ---- streaming

    async def _wait_until(self, sim_t: float, deadline: float) -> bool:
        """Sleep until call time ``sim_t``; False if interrupted or out of time."""
        if self.clock.manual:
            self.clock.advance_to(sim_t)
            await asyncio.sleep(0)  # let the bot's messages in between frames
            return True
        delay = self.clock.wall_delay_until(sim_t)
        if delay > 0:
            timeout = min(delay, max(0.0, deadline - time.monotonic()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.interrupt.wait(), timeout)
        return not self.interrupt.is_set() and time.monotonic() < deadline

    def _should_end(self, frame: int, script_frames: int, linger_end: float) -> bool:
        if frame < script_frames or (frame + 1) * FRAME_SECS <= linger_end + _EPS:
            return False
        playing = self.playout.queue_end > frame * FRAME_SECS + _EPS
        return not (self.config.wait_for_playout and playing)

    async def _stream(self, deadline: float) -> EndReason:
        script_frames = len(self.pcmu) // FRAME_BYTES
        linger_end = script_frames * FRAME_SECS + self.config.linger_secs
        frame = 0
        while True:
            if self.bot_closed:
                return "bot_closed"
            if self.hangup is not None and self.hangup.is_set():
                return "hangup"
            if self.transfer is not None and self.transfer.is_set():
                return "transfer"
            if time.monotonic() >= deadline:
                return "max_call_secs"
            if frame == script_frames and self.clock.manual:
                self.clock.run_at_real_time()
            if self._should_end(frame, script_frames, linger_end):
                return "script"
            if not await self._wait_until((frame + 1) * FRAME_SECS, deadline):
                continue
            keys = self.faults.keys_at.get(frame)
            if keys:
                now = self.clock.now()
                for digit in keys:
                    self.key_queue.put_nowait((digit, now))
            if frame < script_frames:
                payload = self.pcmu[frame * FRAME_BYTES : (frame + 1) * FRAME_BYTES]
            else:
                payload = SILENCE * FRAME_BYTES
            if frame in self.faults.lost:  # lost on the way: its number is used, nothing sent
                self.sequence["inbound"] = self.sequence.get("inbound", 0) + 1
                self._note_fault("gap", frame)
            elif not await self._send_media("inbound", payload):
                continue
            else:
                self.frames_sent += 1
                for _ in range(self.faults.resend_after.get(frame, 0)):
                    await self._send_media("inbound", payload, self.sequence["inbound"])
                    self._note_fault("duplicate", frame)
            self.frame_pos = frame + 1
            if self.send_outbound_track:
                heard = self.playout.render_interval(frame * FRAME_SECS, (frame + 1) * FRAME_SECS)
                await self._send_media("outbound", pcm16_to_pcmu(heard))
            frame += 1

    def _note_fault(self, kind: str, frame: int) -> None:
        last = self.line_faults[-1] if self.line_faults else None
        if last is not None and last[0] == kind and last[1] + last[2] >= frame:
            last[2] += 1
        else:
            self.line_faults.append([kind, frame, 1])

    def _drop(self) -> None:
        """End the TCP connection without a close frame, as a network failure would."""
        sock = self.ws.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    async def _end(self) -> None:
        self.we_closed = True
        if self.bot_closed or self.ws.closed:
            return
        if self.stuck:  # nothing more can be written: neither stop nor a close frame
            self._drop()
            return
        if self.config.end_with == "stop":
            self.stop_at = self.clock.now()
            stop = self._send({"metadata": self._metadata(), "eventType": "stop"})
            try:
                self.stop_sent = await asyncio.wait_for(stop, _CLOSE_TIMEOUT_SECS)
            except TimeoutError:
                self.stop_sent = False
        if self.config.end_with == "drop":
            self._drop()
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.ws.close(), _CLOSE_TIMEOUT_SECS + 1)

    async def run(self) -> None:
        wall_start = time.monotonic()
        deadline = wall_start + self.config.max_call_secs
        receiver = asyncio.create_task(self._receive(), name="bwserial-sim-receive")
        watcher = (
            asyncio.create_task(self._watch_hangup(self.hangup), name="bwserial-sim-hangup")
            if self.hangup is not None
            else None
        )
        transfer_watcher = (
            asyncio.create_task(self._watch_transfer(self.transfer), name="bwserial-sim-transfer")
            if self.transfer is not None
            else None
        )
        presser = (
            asyncio.create_task(self._press_keys(), name="bwserial-sim-keys")
            if self.faults.keys_at
            else None
        )
        try:
            # The hard bound covers what the pacing loop cannot see: a bot that stops
            # reading blocks the socket's send buffer, and with it ``send_str``.
            hard_deadline = asyncio.get_running_loop().time() + self.config.max_call_secs + 1
            try:
                async with asyncio.timeout_at(hard_deadline):
                    if await self._send(self._start_message()):
                        self.clock.restart()  # t=0 is the start message
                        self.ended_by = await self._stream(deadline)
                    else:
                        self.ended_by = "bot_closed"
            except TimeoutError:
                logger.warning("simulator: the bot stopped reading; dropping the connection")
                self.ended_by = "max_call_secs"
                self.stuck = True
            self.end_secs = self.closed_at if self.closed_at is not None else self.clock.now()
            if presser is not None:  # keys already pressed still reach the webhook
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.key_queue.join(), _KEY_TIMEOUT_SECS)
            self.ended = True
            self.playout.finish(self.end_secs)
            await self._end()
        finally:
            self.ended = True
            for task in (receiver, watcher, transfer_watcher, presser):
                if task is not None and not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            self.wall_secs = time.monotonic() - wall_start

    # ---- results

    def _turn_reports(self) -> tuple[TurnReport, ...]:
        starts = self.playout.utterance_starts
        reports: list[TurnReport] = []
        started = [turn for turn in self.turns if turn.start < self.end_secs]
        for i, turn in enumerate(started):
            window_end = started[i + 1].end if i + 1 < len(started) else math.inf
            answer = next((s for s in starts if turn.end - _EPS <= s < window_end), None)
            latency = None if answer is None else max(0.0, answer - turn.end)
            end = min(turn.end, self.end_secs)
            reports.append(TurnReport(turn.index, turn.label, turn.start, end, latency))
        return tuple(reports)

    def _clear_reports(self) -> tuple[ClearReport, ...]:
        reports: list[ClearReport] = []
        for at, discarded in self.clears:
            turn = next((t for t in reversed(self.turns) if t.start <= at), None)
            reports.append(
                ClearReport(
                    at_secs=at,
                    discarded_secs=discarded,
                    turn=None if turn is None else turn.index,
                    since_turn_start_secs=None if turn is None else at - turn.start,
                    during_turn=turn is not None and at < turn.end,
                )
            )
        return tuple(reports)

    def output_rate(self) -> int:
        return self.config.out_rate or max({PCMU_RATE, *self.playout.rates_seen})

    def render(self, rate: int) -> bytes:
        """The call as the caller heard it (mono), or caller left / bot right (stereo)."""
        bot = self.playout.render(rate, self.end_secs)
        if not self.config.out_with_caller:
            return bot
        bot_samples = np.frombuffer(bot, dtype="<i2")
        caller = resample_pcm16(pcmu_to_pcm16(self.caller_sent()), PCMU_RATE, rate)
        caller_samples = np.zeros(bot_samples.size, dtype="<i2")
        head = np.frombuffer(caller, dtype="<i2")[: bot_samples.size]
        caller_samples[: head.size] = head
        return np.column_stack([caller_samples, bot_samples]).astype("<i2").tobytes()

    def caller_sent(self) -> bytes:
        """The caller's mu-law as it reached the bot, frames lost to a ``Gap`` silenced."""
        size = self.frame_pos * FRAME_BYTES
        sent = bytearray(self.pcmu[:size] + SILENCE * max(0, size - len(self.pcmu)))
        for kind, first, frames in self.line_faults:
            if kind == "gap":
                sent[first * FRAME_BYTES : (first + frames) * FRAME_BYTES] = SILENCE * (
                    frames * FRAME_BYTES
                )
        return bytes(sent)

    def _bot_audio_spans(self) -> tuple[tuple[float, float], ...]:
        spans: list[tuple[float, float]] = []
        for chunk in self.playout.played:
            if spans and chunk.start - spans[-1][1] < FRAME_SECS:
                spans[-1] = (spans[-1][0], max(spans[-1][1], chunk.end))
            else:
                spans.append((chunk.start, chunk.end))
        return tuple(spans)

    def report(self, out_wav: str | None, out_rate: int | None) -> CallReport:
        turns = self._turn_reports()
        audio = None
        if self.config.keep_audio:
            bot = self.playout.render(PCMU_RATE, self.end_secs)
            audio = CallAudio(self.caller_sent(), bot, PCMU_RATE)
        sent_secs = self.frames_sent * FRAME_SECS
        speech = sum(max(0.0, min(t.end, sent_secs) - t.start) for t in self.turns)
        return CallReport(
            url=redact_url(self.config.url),  # reports end up in CI logs and bug reports
            call_id=self.config.call_id,
            stream_id=self.config.stream_id,
            ended_by=self.ended_by,
            duration_secs=self.end_secs,
            wall_secs=self.wall_secs,
            frames_sent=self.frames_sent,
            caller_audio_secs=sent_secs,
            caller_speech_secs=speech,
            turns=turns,
            play_audio_messages=self.play_audio_messages,
            content_types=dict(self.content_types),
            bot_audio_received_secs=self.playout.received_secs,
            bot_audio_played_secs=self.playout.played_secs,
            bot_audio_unplayed_secs=self.playout.unplayed_secs,
            clears_received=len(self.clears),
            audio_discarded_secs=self.playout.discarded_secs,
            clears=self._clear_reports(),
            malformed_messages=self.malformed,
            malformed_samples=tuple(self.malformed_samples),
            stop_sent=self.stop_sent,
            bot_closed=self.bot_closed,
            close_code=self.close_code,
            out_wav=out_wav,
            out_rate=out_rate,
            line_faults=tuple(
                LineFault(kind, first * FRAME_SECS, frames)
                for kind, first, frames in self.line_faults
            ),
            malformed_at_secs=tuple(self.malformed_at),
            stop_at_secs=self.stop_at if self.stop_sent else None,
            hangup_at_secs=self.hangup_at,
            bot_audio_spans=self._bot_audio_spans(),
            audio=audio,
            keypresses=tuple(self.keypresses),
            transfer_at_secs=self.transfer_at if self.ended_by == "transfer" else None,
        )


async def simulate_call(
    config: SimulatorConfig,
    script: CallScript | Iterable[Segment],
    *,
    hangup: asyncio.Event | None = None,
    transfer: asyncio.Event | None = None,
) -> CallReport:
    """Place one simulated Bandwidth call to ``config.url`` and report what happened.

    Returns once the script, the linger time and (optionally) the bot's play-out are over,
    the bot closed the socket, ``hangup`` was set (as a Voice API hang-up would end the
    call), ``transfer`` was set (the call was handed to a person: ``ended_by`` is
    ``"transfer"``) or ``max_call_secs`` passed. Raises :class:`SimulatorError` only when
    the call cannot be placed at all; everything the bot does wrong afterwards is in the
    report. A script with ``Keypress`` segments needs ``config.dtmf_url`` (ValueError).
    """
    if not isinstance(script, CallScript):
        script = CallScript(tuple(script))
    if config.dtmf_url is None and any(isinstance(s, Keypress) for s in script.segments):
        raise ValueError("the script presses keys: SimulatorConfig(dtmf_url=...) is needed")
    headers: dict[str, str] = {}
    authorization = config.authorization()
    if authorization is not None:
        headers["Authorization"] = authorization
    async with aiohttp.ClientSession() as session:
        try:
            ws = await asyncio.wait_for(
                session.ws_connect(
                    config.url,
                    headers=headers,
                    timeout=aiohttp.ClientWSTimeout(ws_close=_CLOSE_TIMEOUT_SECS),
                    autoclose=True,
                    autoping=True,
                    max_msg_size=_MAX_MESSAGE_BYTES,
                    ssl=config.verify_tls,
                ),
                config.connect_timeout_secs,
            )
        except aiohttp.WSServerHandshakeError as exc:
            raise ConnectionRejected(exc.status, exc.message) from exc
        except TimeoutError as exc:
            raise SimulatorError(f"timed out connecting to {redact_url(config.url)}") from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise SimulatorError(f"cannot connect to {redact_url(config.url)}: {exc}") from exc
        logger.info("simulator: connected to {} (call {})", redact_url(config.url), config.call_id)
        call = _Call(config, script, ws, hangup, transfer, session)
        await call.run()

    out_wav: str | None = None
    out_rate: int | None = None
    if config.out_wav is not None:
        out_rate = call.output_rate()
        channels = 2 if config.out_with_caller else 1
        write_wav(config.out_wav, call.render(out_rate), out_rate, channels)
        out_wav = str(config.out_wav)
    report = call.report(out_wav, out_rate)
    logger.info(
        "simulator: call {} ended ({}) after {:.2f}s: {} frames sent, {:.2f}s of bot audio "
        "played, {} clears, {} malformed messages",
        config.call_id,
        report.ended_by,
        report.duration_secs,
        report.frames_sent,
        report.bot_audio_played_secs,
        report.clears_received,
        report.malformed_messages,
    )
    return report
