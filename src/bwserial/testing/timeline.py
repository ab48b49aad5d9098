"""A simulated call as a timeline: lanes of audio, turns, replies and marked events.

People find a late answer, a bot talking over the caller or a cut goodbye faster by
looking than by reading a report. This module turns a :class:`CallReport` into plain
data (times in call seconds, as in the report) so the picture can be checked by a test
and drawn by anything; :mod:`bwserial.testing.timeline_page` draws it as a PNG and a
self-contained HTML page. Nothing here needs more than the core package.

Usage::

    report = await simulate_call(SimulatorConfig(url=..., keep_audio=True), script)
    timeline = build_timeline(report)
    [m.at_secs for m in timeline.markers if m.kind == "clear"]
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from bwserial.testing.simulator import FRAME_SECS, CallReport
from bwserial.testing.wav import PCMU_RATE, pcmu_to_pcm16, resample_pcm16

__all__ = [
    "Ending",
    "EndingKind",
    "Lane",
    "Marker",
    "MarkerKind",
    "Reply",
    "Timeline",
    "Turn",
    "build_timeline",
    "format_secs",
]

MarkerKind = Literal[
    "clear", "gap", "duplicate", "malformed", "stop", "hangup", "transfer", "failure", "closed"
]
EndingKind = Literal["hangup", "transfer", "failure", "caller", "bot_closed"]


def format_secs(secs: float) -> str:
    """``12.34 s`` under a minute, ``m:ss.s`` above: what a reader can place on an axis."""
    if secs < 60:
        return f"{secs:.2f} s"
    minutes, rest = divmod(secs, 60)
    return f"{int(minutes)}:{rest:04.1f}"


@dataclass(frozen=True)
class Turn:
    """A caller turn: when the caller spoke."""

    index: int
    label: str
    start_secs: float
    end_secs: float


@dataclass(frozen=True)
class Reply:
    """The bot's answer to ``turn``: from its first audio to the end of that stretch."""

    turn: int
    start_secs: float
    end_secs: float
    latency_secs: float
    """From the end of the caller's turn to the first answer audio the caller heard."""
    cut_secs: float
    """Audio of this answer dropped by a ``clear`` (0: it played whole)."""


@dataclass(frozen=True)
class Marker:
    """One event on the call at ``at_secs`` (``until_secs`` when it lasts, e.g. a gap)."""

    kind: MarkerKind
    at_secs: float
    label: str
    """A few words, drawn on the picture."""
    detail: str
    """One sentence, listed on the page."""
    lane: Literal["caller", "bot", "call"]
    until_secs: float | None = None


@dataclass(frozen=True)
class Ending:
    """How the call ended, when, and in words."""

    kind: EndingKind
    at_secs: float
    text: str
    status: int | None = None
    """HTTP status of the Voice API request that ended it, when one did."""


@dataclass(frozen=True)
class Lane:
    """One side's audio as 16-bit PCM on the call's time axis (sample 0 is ``start``)."""

    name: Literal["caller", "bot"]
    pcm16: bytes = field(repr=False)
    rate: int

    @property
    def duration_secs(self) -> float:
        """How much audio the lane holds (the call may run on after it)."""
        return len(self.pcm16) / 2 / self.rate


@dataclass(frozen=True)
class Timeline:
    """Everything the picture shows, in call seconds. Markers are in time order."""

    title: str
    duration_secs: float
    turns: tuple[Turn, ...]
    replies: tuple[Reply, ...]
    markers: tuple[Marker, ...]
    ending: Ending
    summary: tuple[tuple[str, str], ...]
    """(label, value) lines: turns, latency p50/p95, bot audio, frames, ending."""
    caller: Lane | None = None
    bot: Lane | None = None
    recording: str | None = None
    """The WAV of what the caller heard, when the call wrote one."""

    def of(self, kind: MarkerKind) -> tuple[Marker, ...]:
        """The markers of one kind, in time order (what a test asserts on)."""
        return tuple(m for m in self.markers if m.kind == kind)


def _percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def _replies(report: CallReport) -> tuple[Reply, ...]:
    """Each answer runs from its first audio to the last bot audio before the next turn ends.

    Answers have pauses (between sentences, or a slow text-to-speech), so the bot audio
    that starts within the window in which the answer is measured is all one answer.
    """
    spans = report.bot_audio_spans
    turns = report.turns
    replies: list[Reply] = []
    for i, turn in enumerate(turns):
        latency = turn.response_latency_secs
        if latency is None:
            continue
        start = turn.end_secs + latency
        window_end = turns[i + 1].end_secs if i + 1 < len(turns) else math.inf
        end = max(
            (e for s, e in spans if s < window_end and e > start),
            default=start,
        )
        replies.append(Reply(turn.index, start, end, latency, 0.0))
    clipped: list[Reply] = []
    for i, reply in enumerate(replies):
        # an answer still playing when the next one starts ends there: the next owns the rest
        next_start = replies[i + 1].start_secs if i + 1 < len(replies) else math.inf
        end = max(reply.start_secs, min(reply.end_secs, next_start))
        cut = sum(
            c.discarded_secs
            for c in report.clears
            if reply.start_secs <= c.at_secs <= end + FRAME_SECS
        )
        clipped.append(dataclasses.replace(reply, end_secs=end, cut_secs=cut))
    return tuple(clipped)


def _status(hangup: Mapping[str, Any]) -> int | None:
    status = hangup.get("status")
    return status if isinstance(status, int) else None


def _ending(report: CallReport) -> Ending:
    hangup = report.hangup
    end = report.duration_secs
    at = report.hangup_at_secs
    if hangup is not None and hangup.get("received"):
        status = _status(hangup)
        if at is None:
            slot_at = hangup.get("at_secs", hangup.get("after_secs"))
            at = float(slot_at) if isinstance(slot_at, int | float) else end
        transfer = hangup.get("kind") == "transfer" or bool(hangup.get("transfer"))
        what = "transfer" if transfer else "hang-up"
        if status is not None and status >= 400:
            return Ending(
                "failure", at, f"{what} failed: HTTP {status} at {format_secs(at)}", status
            )
        code = f"HTTP {status}" if status is not None else "no status"
        if transfer:
            target = hangup.get("target") or hangup.get("transfer")
            to = f" to {target}" if isinstance(target, str) else ""
            return Ending("transfer", at, f"transfer{to}: {code} at {format_secs(at)}", status)
        return Ending("hangup", at, f"hang-up: {code} at {format_secs(at)}", status)
    if hangup is not None:
        requests = hangup.get("requests", 0)
        return Ending(
            "failure",
            end,
            f"no hang-up reached the Voice API ({requests} request(s)); the line stayed up "
            f"until {format_secs(end)}",
        )
    if report.ended_by == "hangup":
        at = at if at is not None else end
        return Ending("hangup", at, f"hung up at {format_secs(at)}")
    if report.ended_by == "transfer":
        at = report.transfer_at_secs if report.transfer_at_secs is not None else end
        return Ending("transfer", at, f"transferred at {format_secs(at)}")
    if report.ended_by == "max_call_secs":
        return Ending("failure", end, f"still up at the time limit ({format_secs(end)})")
    if report.ended_by == "bot_closed":
        return Ending(
            "bot_closed",
            end,
            f"the bot closed the stream (code {report.close_code}) at {format_secs(end)}",
        )
    how = "sent stop" if report.stop_sent else "closed without stop"
    return Ending("caller", end, f"the caller's side ended: {how} at {format_secs(end)}")


def _clear_markers(report: CallReport) -> list[Marker]:
    markers = []
    for clear in report.clears:
        if clear.turn is None:
            where = "before the caller spoke"
        elif clear.during_turn:
            where = f"{format_secs(clear.since_turn_start_secs or 0.0)} into turn {clear.turn + 1}"
            where += " (barge-in)"
        else:
            where = f"after turn {clear.turn + 1}"
        cut = clear.discarded_secs
        markers.append(
            Marker(
                "clear",
                clear.at_secs,
                f"clear, cut {cut * 1000:.0f} ms"
                if 0 < cut < 1
                else (f"clear, cut {cut:.1f} s" if cut else "clear"),
                f"clear {where}: {format_secs(cut)} of queued bot audio cut",
                "bot",
                clear.at_secs + cut if cut else None,
            )
        )
    return markers


def _line_markers(report: CallReport) -> list[Marker]:
    markers = []
    for fault in report.line_faults:
        if fault.kind == "gap":
            secs = fault.frames * FRAME_SECS
            markers.append(
                Marker(
                    "gap",
                    fault.at_secs,
                    f"gap {secs * 1000:.0f} ms",
                    f"media gap: {fault.frames} frame(s) ({secs * 1000:.0f} ms) never reached "
                    "the bot",
                    "caller",
                    fault.at_secs + secs,
                )
            )
        else:
            markers.append(
                Marker(
                    "duplicate",
                    fault.at_secs,
                    f"dup x{fault.frames}",
                    f"duplicate: the frame at {format_secs(fault.at_secs)} was sent "
                    f"{fault.frames} more time(s)",
                    "caller",
                )
            )
    return markers


def _malformed_markers(report: CallReport) -> list[Marker]:
    markers = []
    for i, at in enumerate(report.malformed_at_secs):
        reason = report.malformed_samples[i] if i < len(report.malformed_samples) else ""
        markers.append(
            Marker(
                "malformed",
                at,
                "malformed",
                "malformed message from the bot" + (f": {reason}" if reason else ""),
                "bot",
            )
        )
    return markers


def _end_markers(report: CallReport, ending: Ending) -> list[Marker]:
    markers = []
    if report.stop_at_secs is not None:
        markers.append(
            Marker("stop", report.stop_at_secs, "stop", "the caller's side sent stop", "call")
        )
    if report.bot_closed and ending.kind != "bot_closed":
        markers.append(
            Marker(
                "closed",
                report.duration_secs,
                "socket closed",
                f"the bot closed the stream (code {report.close_code})",
                "call",
            )
        )
    kind: MarkerKind
    if ending.kind in ("hangup", "transfer", "failure"):
        kind = ending.kind  # type: ignore[assignment]
        label = {"hangup": "hang-up", "transfer": "transfer", "failure": "failure"}[kind]
        if ending.status is not None:
            label += f" {ending.status}"
        markers.append(Marker(kind, ending.at_secs, label, ending.text, "call"))
    elif ending.kind == "bot_closed":
        markers.append(Marker("closed", ending.at_secs, "socket closed", ending.text, "call"))
    return markers


def _summary(
    report: CallReport, replies: tuple[Reply, ...], ending: Ending
) -> tuple[tuple[str, str], ...]:
    latencies = [r.latency_secs for r in replies]
    p50, p95 = _percentile(latencies, 50), _percentile(latencies, 95)
    latency = (
        "no answer"
        if p50 is None or p95 is None
        else f"p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms"
    )
    return (
        ("call", f"{format_secs(report.duration_secs)}, ended by {report.ended_by}"),
        ("turns", f"{len(report.turns)} caller turn(s), {len(replies)} answered"),
        ("answer latency", latency),
        (
            "bot audio",
            f"{format_secs(report.bot_audio_played_secs)} played of "
            f"{format_secs(report.bot_audio_received_secs)} received",
        ),
        (
            "audio held",
            f"{format_secs(report.bot_audio_unplayed_secs)} still queued at the end, "
            f"{format_secs(report.audio_discarded_secs)} cut by {report.clears_received} clear(s)",
        ),
        (
            "frames",
            f"{report.frames_sent} media frame(s) in (caller to bot), "
            f"{report.play_audio_messages} playAudio out (bot to caller)",
        ),
        ("malformed", f"{report.malformed_messages} message(s)"),
        ("ending", ending.text),
    )


def build_timeline(report: CallReport, *, title: str | None = None) -> Timeline:
    """The timeline of one simulated call (audio lanes only if the report kept audio)."""
    ending = _ending(report)
    replies = _replies(report)
    markers = (
        _clear_markers(report)
        + _line_markers(report)
        + _malformed_markers(report)
        + _end_markers(report, ending)
    )
    markers.sort(key=lambda m: m.at_secs)
    caller = bot = None
    if report.audio is not None:
        audio = report.audio
        rate = audio.rate
        caller_pcm = pcmu_to_pcm16(audio.caller_pcmu)
        if rate != PCMU_RATE:  # the caller's side is always what a phone line carries
            caller_pcm = resample_pcm16(caller_pcm, PCMU_RATE, rate)
        caller = Lane("caller", caller_pcm, rate)
        bot = Lane("bot", audio.bot_pcm16, rate)
    duration = max(
        report.duration_secs,
        ending.at_secs,
        *(m.until_secs or m.at_secs for m in markers),
        0.0,
    )
    return Timeline(
        title=title or f"Call {report.call_id}",
        duration_secs=duration if math.isfinite(duration) else report.duration_secs,
        turns=tuple(Turn(t.index, t.label, t.start_secs, t.end_secs) for t in report.turns),
        replies=replies,
        markers=tuple(markers),
        ending=ending,
        summary=_summary(report, replies, ending),
        caller=caller,
        bot=bot,
        recording=report.out_wav,
    )
