"""Call reports for people (a fixed-width summary) and for machines (plain JSON types).

The stream URL carries a token that opens the bot's socket, so it is redacted in every
output: reports end up in CI logs and bug reports.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from bwserial.testing.simulator import CallReport

__all__ = ["format_report", "redact_url", "report_json"]

_TOKEN = re.compile(r"([?&]token=)[^&#]*")
_LABEL_WIDTH = 14


def redact_url(url: str) -> str:
    """``...?token=<redacted>``: the token is a credential for the stream."""
    return _TOKEN.sub(r"\1<redacted>", url)


def report_json(report: CallReport) -> dict[str, Any]:
    """``CallReport.to_dict()`` with the URL redacted."""
    data = report.to_dict()
    data["url"] = redact_url(report.url)
    return data


def _line(label: str, text: str) -> str:
    return f"  {label:<{_LABEL_WIDTH}}{text}"


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def _turns(report: CallReport) -> list[str]:
    if not report.turns:
        return []
    lines = [_line("", f"{'turn':<12}{'start':>9}{'end':>9}   bot answered after")]
    for turn in report.turns:
        label = turn.label or f"turn {turn.index + 1}"
        answered = (
            "no answer" if turn.response_latency_secs is None else _secs(turn.response_latency_secs)
        )
        times = f"{_secs(turn.start_secs):>9}{_secs(turn.end_secs):>9}"
        lines.append(_line("", f"{label[:12]:<12}{times}   {answered}"))
    return lines


def _clears(report: CallReport) -> str:
    if not report.clears:
        return "none"
    parts = []
    for clear in report.clears:
        if clear.turn is None:
            where = "before the caller spoke"
        elif clear.during_turn:
            where = f"{_secs(clear.since_turn_start_secs)} into turn {clear.turn + 1} (barge-in)"
        else:
            where = f"after turn {clear.turn + 1}"
        parts.append(
            f"at {_secs(clear.at_secs)}, {where}, {_secs(clear.discarded_secs)} of queued audio "
            "dropped"
        )
    return f"{len(report.clears)}: " + "; ".join(parts)


def _socket(report: CallReport) -> str:
    if report.bot_closed:
        return f"closed by the bot (code {report.close_code})"
    if report.stop_sent:
        return "the caller sent stop and closed it"
    return "closed without a stop message"


def _hangup(hangup: Mapping[str, Any] | None) -> str:
    if hangup is None:
        return "not observed (no Voice API watched this call)"
    if not hangup.get("received"):
        return f"NOT received ({hangup.get('requests', 0)} request(s) to the Voice API)"
    return (
        f"POST {hangup.get('path')} answered {hangup.get('status')}, "
        f"{_secs(hangup.get('after_secs'))} into the call"
    )


def format_report(report: CallReport) -> str:
    """A summary of one simulated call, one fact per line."""
    kinds = ", ".join(f"{ct}: {n}" for ct, n in sorted(report.content_types.items())) or "none"
    lines = [
        f"Call {report.call_id} (stream {report.stream_id})",
        _line("url", redact_url(report.url)),
        _line(
            "ended by",
            f"{report.ended_by}, after {_secs(report.duration_secs)} of call "
            f"({_secs(report.wall_secs)} wall clock)",
        ),
        _line(
            "caller",
            f"{report.frames_sent} frames ({_secs(report.caller_audio_secs)}) sent, "
            f"{_secs(report.caller_speech_secs)} of speech in {len(report.turns)} turn(s)",
        ),
        *_turns(report),
        _line(
            "bot audio",
            f"{_secs(report.bot_audio_received_secs)} received in {report.play_audio_messages} "
            f"playAudio ({kinds}), {_secs(report.bot_audio_played_secs)} played",
        ),
        _line("clears", _clears(report)),
        _line(
            "malformed",
            f"{report.malformed_messages} message(s)"
            + (f": {'; '.join(report.malformed_samples)}" if report.malformed_samples else ""),
        ),
        _line("socket", _socket(report)),
        _line("hang-up", _hangup(report.hangup)),
    ]
    if report.out_wav:
        lines.append(_line("recording", f"{report.out_wav} ({report.out_rate} Hz)"))
    return "\n".join(lines)
