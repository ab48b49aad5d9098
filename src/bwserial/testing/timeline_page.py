"""Draw a call :class:`~bwserial.testing.timeline.Timeline` as a PNG and an HTML page.

The page is one file that opens anywhere, offline, and can be attached to a bug report:
the picture, both sides' audio and every event are inside it (``data:`` URIs, inline
CSS and script, no fonts or libraries fetched). Long calls stay small: waveforms are
drawn from per-pixel min/max envelopes and the embedded audio is 8-bit mu-law WAV,
at a lower rate when a call is too long for :data:`AUDIO_BUDGET_BYTES`.

The picture needs matplotlib, which the core package does not: install the ``report``
extra (``pip install 'bwserial[report]'``, also part of ``bwserial[demo]``).
"""

from __future__ import annotations

import base64
import html
import io
import struct
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING, Final

import numpy as np
import numpy.typing as npt
import soxr

from bwserial.testing.timeline import Lane, Marker, Timeline, format_secs
from bwserial.testing.wav import pcm16_to_pcmu

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "AUDIO_BUDGET_BYTES",
    "REPORT_EXTRA_HINT",
    "ReportExtraMissing",
    "TimelineFiles",
    "TimelinePicture",
    "draw_timeline",
    "require_report_extra",
    "timeline_page",
    "write_timeline",
]

AUDIO_BUDGET_BYTES: Final = 12_000_000
"""Audio embedded in one page, both lanes together, before base64 (about 16 MB after)."""
_AUDIO_RATES: Final = (8000, 6000, 4000, 3000, 2000)
REPORT_EXTRA_HINT: Final = "pip install 'bwserial[report]'"

_WIDTH_IN: Final = 16.0
_DPI: Final = 100
_LEFT: Final = 0.055
_RIGHT: Final = 0.99
_TICK_STEPS: Final = (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)
_COLORS: Final = {
    "caller": "#2b6cb0",
    "bot": "#c05621",
    "turn": "#bee3f8",
    "reply": "#feebc8",
    "clear": "#c53030",
    "gap": "#718096",
    "duplicate": "#6b46c1",
    "malformed": "#b7791f",
    "stop": "#2d3748",
    "hangup": "#2f855a",
    "transfer": "#2c7a7b",
    "failure": "#c53030",
    "closed": "#4a5568",
}


class ReportExtraMissing(ImportError):
    """matplotlib is not installed: the timeline picture needs the ``report`` extra."""


def require_report_extra() -> None:
    """Raise :class:`ReportExtraMissing` with the install command, before any work."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise ReportExtraMissing(
            f"the call timeline needs matplotlib (the 'report' extra): {REPORT_EXTRA_HINT}"
        ) from exc


@dataclass(frozen=True)
class TimelinePicture:
    """The PNG and where its time axis sits, so the page can put a playhead on it."""

    png: bytes
    axis_left: float
    """Left end of the time axis (0 s), as a fraction of the image width."""
    axis_right: float
    """Right end (``duration_secs``), as a fraction of the image width."""
    axis_secs: float
    """Call time at ``axis_right`` (a little past the call's end)."""


@dataclass(frozen=True)
class TimelineFiles:
    """Where :func:`write_timeline` put the page and the picture (for the user to open)."""

    html: Path
    png: Path


# --------------------------------------------------------------------------- picture


def _envelope(
    lane: Lane, bins: int, duration: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Min and max per bin, in [-1, 1]: a 30-minute lane becomes ``bins`` columns."""
    samples = np.frombuffer(lane.pcm16, dtype="<i2")
    total = max(1, round(duration * lane.rate))
    per_bin = max(1, -(-total // bins))
    padded = np.zeros(per_bin * -(-total // per_bin), dtype=np.int16)
    head = samples[: padded.size]
    padded[: head.size] = head
    shaped = padded.reshape(-1, per_bin)
    lows = shaped.min(axis=1).astype(np.float64) / 32768.0
    highs = shaped.max(axis=1).astype(np.float64) / 32768.0
    times = (np.arange(shaped.shape[0]) + 0.5) * per_bin / lane.rate
    return times, lows, highs


def _tick_label(secs: float, _pos: int | None = None) -> str:
    if secs < 60:
        return f"{secs:g} s"
    minutes, rest = divmod(round(secs), 60)
    return f"{minutes}:{rest:02d}"


def _secs_per_px(duration: float) -> float:
    return duration / (_WIDTH_IN * _DPI * (_RIGHT - _LEFT))


def _draw_lane(ax: Axes, lane: Lane | None, duration: float, name: str) -> None:
    ax.set_ylim(-1.05, 1.3)
    ax.set_yticks([])
    ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=11)
    ax.axhline(0, color="#cbd5e0", linewidth=0.5)
    ax.autoscale(False)
    if lane is None:
        ax.text(0.5, 0.5, "no audio kept", transform=ax.transAxes, ha="center", color="#718096")
        return
    times, lows, highs = _envelope(lane, int(_WIDTH_IN * _DPI), duration)
    color = _COLORS["caller" if lane.name == "caller" else "bot"]
    ax.fill_between(times, lows, highs, color=color, linewidth=0.4, step="mid")


def _spans(ax: Axes, spans: list[tuple[float, float]], zorder: float = 0, **style: object) -> None:
    """Full-height bands for many spans as one artist (one per span is slow)."""
    if spans:
        ranges = [(start, max(end - start, 0.0)) for start, end in spans]
        ax.broken_barh(ranges, (-1.05, 2.35), zorder=zorder, **style)  # type: ignore[arg-type]


def _lines(ax: Axes, xs: list[float], color: str, **style: object) -> None:
    """Full-height vertical lines at ``xs`` as one artist."""
    if xs:
        ax.vlines(xs, 0, 1, transform=ax.get_xaxis_transform(), colors=color, **style)  # type: ignore[arg-type]


def _draw_turns(ax: Axes, timeline: Timeline, px: float) -> None:
    _spans(
        ax, [(t.start_secs, t.end_secs) for t in timeline.turns], color=_COLORS["turn"], alpha=0.6
    )
    last = -1e9
    for turn in timeline.turns:
        if turn.start_secs - last >= 70 * px:
            label = f"turn {turn.index + 1}"
            ax.text(turn.start_secs, 1.12, label, fontsize=9, va="center", color="#2a4365")
            last = turn.start_secs


def _draw_replies(ax: Axes, timeline: Timeline, px: float) -> None:
    """Shade each answer, a line from the turn's end to it, latency on a free label row."""
    replies = timeline.replies
    _spans(ax, [(r.start_secs, r.end_secs) for r in replies], color=_COLORS["reply"], alpha=0.8)
    ink = "#7b341e"
    starts = [r.start_secs for r in replies]
    _lines(ax, starts, "#dd6b20", linewidth=0.8, zorder=0.5)  # where one answer meets the next
    ax.hlines(
        [1.12] * len(replies),
        [r.start_secs - r.latency_secs for r in replies],
        starts,
        colors=ink,
        linewidth=1,
    )
    ax.plot(starts, [1.12] * len(replies), linestyle="none", marker=">", color=ink, markersize=5)
    row_end = [-1e9, -1e9]
    for reply in replies:
        text = f"turn {reply.turn + 1}: {reply.latency_secs * 1000:.0f} ms"
        x = reply.start_secs + 5 * px
        row = next((r for r in (0, 1) if row_end[r] <= x), None)
        if row is None:
            continue  # too dense to label: the page lists every answer
        row_end[row] = x + (len(text) * 8.5 + 12) * px
        ax.text(
            x,
            (1.12, -0.9)[row],
            text,
            fontsize=9,
            va="center",
            fontweight="bold",
            color=ink,
            zorder=4,
            bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5, "alpha": 0.7},
        )


def _draw_lane_markers(axes: dict[str, Axes], markers: tuple[Marker, ...]) -> None:
    """Hatched bands for what lasts (cut audio, gaps), lines or glyphs for the rest."""
    for lane, ax in axes.items():
        here = [m for m in markers if m.lane in (lane, "call")]
        for kind in sorted({m.kind for m in here}):
            color = _COLORS[kind]
            of_kind = [m for m in here if m.kind == kind]
            lasting = [(m.at_secs, m.until_secs) for m in of_kind if m.until_secs is not None]
            _spans(
                ax,
                [(a, b) for a, b in lasting if b > a],
                zorder=1,
                facecolor="none",
                edgecolor=color,
                hatch="///",
                linewidth=0,
            )
            xs = [m.at_secs for m in of_kind]
            if kind in ("malformed", "duplicate"):
                glyph = "x" if kind == "malformed" else "v"
                ax.plot(xs, [0.92] * len(xs), linestyle="none", marker=glyph, color=color)
            else:  # the call's ending on top of a stop or close at the same moment
                ending = kind in ("hangup", "transfer", "failure")
                _lines(ax, xs, color, linewidth=1.6 if ending else 1.3, zorder=4 if ending else 3)


def _draw_event_strip(ax: Axes, markers: tuple[Marker, ...], px: float, x_max: float) -> None:
    """Marker labels on up to four rows, each placed where it does not cover another.

    A label that would run off the right edge is written to the left of its line.
    """
    ax.set_ylim(0, 4.2)
    ax.set_yticks([])
    ax.set_ylabel("events", rotation=0, ha="right", va="center", fontsize=11)
    row_end = [-1e9] * 4
    for kind in {m.kind for m in markers}:
        xs = [m.at_secs for m in markers if m.kind == kind]
        _lines(ax, xs, _COLORS[kind], linewidth=0.8, alpha=0.6)
    for marker in markers:
        color = _COLORS[marker.kind]
        text = f"{marker.label} @ {format_secs(marker.at_secs)}"
        width = (len(text) * 7 + 10) * px
        flip = marker.at_secs + width > x_max
        left = marker.at_secs - width if flip else marker.at_secs
        row = next((r for r in range(4) if row_end[r] <= left), None)
        if row is None:
            continue  # too dense to label: the page lists every marker
        row_end[row] = left + width
        ax.text(
            marker.at_secs + (-3 if flip else 3) * px,
            3.6 - row,
            text,
            fontsize=8.5,
            va="center",
            ha="right" if flip else "left",
            color=color,
            bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5, "alpha": 0.85},
        )


def _draw_legend(fig: Figure) -> None:
    """What each colour and glyph means, under the time axis: the PNG reads on its own."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    def line(kind: str, label: str) -> Line2D:
        return Line2D([], [], color=_COLORS[kind], linewidth=1.5, label=label)

    def glyph(kind: str, marker: str, label: str) -> Line2D:
        return Line2D([], [], color=_COLORS[kind], linestyle="none", marker=marker, label=label)

    handles = [
        Patch(color=_COLORS["turn"], label="caller turn"),
        Patch(color=_COLORS["reply"], label="bot answer (arrow: answer latency)"),
        line("clear", "clear"),
        Patch(facecolor="none", edgecolor=_COLORS["clear"], hatch="///", label="audio cut"),
        Patch(facecolor="none", edgecolor=_COLORS["gap"], hatch="///", label="media gap"),
        glyph("duplicate", "v", "duplicate frame"),
        glyph("malformed", "x", "malformed message"),
        line("hangup", "hang-up"),
        line("transfer", "transfer"),
        line("failure", "failure"),
        line("stop", "stop / socket closed"),
    ]
    fig.legend(
        handles=handles,
        loc="lower center",
        ncol=len(handles),
        frameon=False,
        fontsize=8.5,
        handlelength=1.6,
        columnspacing=1.2,
        bbox_to_anchor=(0.5, 0.0),
    )


def draw_timeline(timeline: Timeline) -> TimelinePicture:
    """Render the timeline as a PNG (matplotlib, Agg backend: no display needed)."""
    require_report_extra()
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, MultipleLocator

    duration = max(timeline.duration_secs, 0.1)
    x_max = duration * 1.015  # room for a line at the very end of the call
    px = _secs_per_px(x_max)
    fig = Figure(figsize=(_WIDTH_IN, 6.9), dpi=_DPI)
    grid = fig.add_gridspec(3, 1, height_ratios=(2.2, 2.2, 1.3), hspace=0.08)
    caller_ax = fig.add_subplot(grid[0])
    bot_ax = fig.add_subplot(grid[1], sharex=caller_ax)
    events_ax = fig.add_subplot(grid[2], sharex=caller_ax)
    fig.subplots_adjust(left=_LEFT, right=_RIGHT, top=0.91, bottom=0.145)
    caller_ax.set_xlim(0, x_max)
    fig.suptitle(f"{timeline.title}  |  {timeline.ending.text}", x=_LEFT, ha="left", fontsize=12)
    _draw_lane(caller_ax, timeline.caller, duration, "caller")
    _draw_lane(bot_ax, timeline.bot, duration, "bot")
    _draw_turns(caller_ax, timeline, px)
    _draw_replies(bot_ax, timeline, px)
    _draw_lane_markers({"caller": caller_ax, "bot": bot_ax}, timeline.markers)
    _draw_event_strip(events_ax, timeline.markers, px, x_max)
    for ax in (caller_ax, bot_ax):
        ax.tick_params(labelbottom=False)
    step = next((s for s in _TICK_STEPS if x_max / s <= 12), _TICK_STEPS[-1])
    events_ax.xaxis.set_major_locator(MultipleLocator(step))
    events_ax.xaxis.set_major_formatter(FuncFormatter(_tick_label))
    events_ax.set_xlabel("call time (from the start message)")
    for ax in (caller_ax, bot_ax, events_ax):
        ax.grid(axis="x", color="#e2e8f0", linewidth=0.6)
        ax.set_axisbelow(True)
    _draw_legend(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI, metadata={"Software": None})
    return TimelinePicture(buffer.getvalue(), _LEFT, _RIGHT, x_max)


# --------------------------------------------------------------------------- page


def _mulaw_wav(pcm16: bytes, rate: int) -> bytes:
    """8-bit G.711 mu-law WAV (format 7): half the size of PCM and plays in browsers."""
    data = pcm16_to_pcmu(pcm16)
    fmt = struct.pack("<HHIIHHH", 7, 1, rate, rate, 1, 8, 0)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"fact" + struct.pack("<II", 4, len(data))
    body += b"data" + struct.pack("<I", len(data)) + data + (b"\x00" if len(data) % 2 else b"")
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _downsample(pcm16: bytes, in_rate: int, out_rate: int) -> bytes:
    """A listening copy: soxr's quick quality, straight on 16-bit samples (a long call
    must not spend seconds on a filter nobody hears on a downsampled preview)."""
    if in_rate == out_rate:
        return pcm16
    samples = np.frombuffer(pcm16, dtype="<i2")
    out = soxr.resample(samples, in_rate, out_rate, quality="QQ")
    return np.asarray(out, dtype="<i2").tobytes()


def _audio_rate(timeline: Timeline) -> int | None:
    """The highest rate at which both lanes fit the page's audio budget."""
    lanes = [lane for lane in (timeline.caller, timeline.bot) if lane is not None]
    seconds = sum(max(lane.duration_secs, timeline.duration_secs) for lane in lanes)
    return next((r for r in _AUDIO_RATES if r * seconds <= AUDIO_BUDGET_BYTES), None)


def _audio_section(lane: Lane | None, rate: int | None, timeline: Timeline) -> str:
    name = "Caller (what the bot received)" if lane is None or lane.name == "caller" else ""
    name = name or "Bot (what the caller heard)"
    if lane is None:
        return f"<section><h3>{name}</h3><p>No audio kept for this call.</p></section>"
    if rate is None:
        where = (
            f" The recording is beside this page: {html.escape(Path(timeline.recording).name)}."
            if timeline.recording
            else ""
        )
        return f"<section><h3>{name}</h3><p>Too long to embed.{where}</p></section>"
    pcm = _downsample(lane.pcm16, lane.rate, rate)
    data = base64.b64encode(_mulaw_wav(pcm, rate)).decode("ascii")
    note = "" if rate == 8000 else f" (downsampled to {rate} Hz to keep the page small)"
    return (
        f'<section><h3>{name}{note}</h3><audio controls preload="metadata" '
        f'data-lane="{lane.name}" src="data:audio/wav;base64,{data}"></audio></section>'
    )


def _summary_rows(timeline: Timeline) -> str:
    return "\n".join(
        f"<tr><th>{html.escape(label)}</th><td>{html.escape(value)}</td></tr>"
        for label, value in timeline.summary
    )


def _event_rows(timeline: Timeline) -> str:
    rows = []
    events: list[tuple[float, str, str]] = []
    for t in timeline.turns:
        label = f" ({t.label})" if t.label and t.label != f"turn {t.index + 1}" else ""
        detail = f"caller turn {t.index + 1}{label} until {format_secs(t.end_secs)}"
        events.append((t.start_secs, "turn", detail))
    for r in timeline.replies:
        cut = f", {r.cut_secs:.2f} s cut" if r.cut_secs else ""
        detail = (
            f"bot answers turn {r.turn + 1} after {r.latency_secs * 1000:.0f} ms, "
            f"until {format_secs(r.end_secs)}{cut}"
        )
        events.append((r.start_secs, "reply", detail))
    events += [(m.at_secs, m.kind, m.detail) for m in timeline.markers]
    events.sort(key=lambda e: e[0])
    for at, kind, detail in events:
        rows.append(
            f'<tr class="{html.escape(kind)}"><td><button type="button" data-t="{at:.3f}">'
            f"{format_secs(at)}</button></td><td>{html.escape(kind)}</td>"
            f"<td>{html.escape(detail)}</td></tr>"
        )
    return "\n".join(rows)


_PAGE: Final = Template(
    """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #1a202c; }
h1 { font-size: 1.3em; } h2 { font-size: 1.1em; margin-top: 1.5em; }
h3 { font-size: 1em; margin: .8em 0 .3em; }
.picture { position: relative; display: inline-block; max-width: 100%; cursor: crosshair; }
.picture img { max-width: 100%; display: block; }
#playhead { position: absolute; top: 9%; bottom: 14.5%; width: 2px; background: #e53e3e;
  display: none; pointer-events: none; }
table { border-collapse: collapse; } th, td { text-align: left; padding: .2em .8em .2em 0; }
td button { font: inherit; cursor: pointer; }
tr.clear td, tr.failure td { color: #c53030; } tr.hangup td { color: #2f855a; }
audio { width: 100%; max-width: 60em; }
</style>
</head>
<body>
<h1>$title</h1>
<p>$ending</p>
<div class="picture" id="picture" data-left="$left" data-right="$right" data-duration="$duration">
<img alt="Call timeline: caller and bot audio, turns, answer latencies and events"
 src="data:image/png;base64,$png">
<div id="playhead"></div>
</div>
<p>Click the picture or a time below to move both players there.</p>
$audio
<h2>Summary</h2>
<table>
$summary
</table>
<h2>Events</h2>
<table>
<tr><th>time</th><th>what</th><th>detail</th></tr>
$events
</table>
<script>
(function () {
  var pic = document.getElementById("picture"), head = document.getElementById("playhead");
  var left = +pic.dataset.left, right = +pic.dataset.right, duration = +pic.dataset.duration;
  var players = Array.prototype.slice.call(document.querySelectorAll("audio"));
  function show(t) {
    head.style.display = "block";
    head.style.left = (100 * (left + (right - left) * t / duration)) + "%";
  }
  function seek(t) {
    players.forEach(function (p) { p.currentTime = t; });
    show(t);
  }
  players.forEach(function (p) {
    p.addEventListener("timeupdate", function () { show(p.currentTime); });
    p.addEventListener("play", function () {
      players.forEach(function (o) { if (o !== p) { o.pause(); } });
    });
  });
  pic.addEventListener("click", function (e) {
    var box = pic.getBoundingClientRect();
    var f = ((e.clientX - box.left) / box.width - left) / (right - left);
    if (f >= 0 && f <= 1) { seek(f * duration); }
  });
  document.querySelectorAll("button[data-t]").forEach(function (b) {
    b.addEventListener("click", function () { seek(+b.dataset.t); });
  });
})();
</script>
</body>
</html>
"""
)


def timeline_page(timeline: Timeline, picture: TimelinePicture) -> str:
    """The self-contained HTML page: picture, one player per lane, summary, events."""
    rate = _audio_rate(timeline)
    audio = "\n".join(
        _audio_section(lane, rate, timeline) for lane in (timeline.caller, timeline.bot)
    )
    return _PAGE.substitute(
        title=html.escape(timeline.title),
        ending=html.escape(timeline.ending.text),
        left=f"{picture.axis_left:.5f}",
        right=f"{picture.axis_right:.5f}",
        duration=f"{picture.axis_secs:.3f}",
        png=base64.b64encode(picture.png).decode("ascii"),
        audio=audio,
        summary=_summary_rows(timeline),
        events=_event_rows(timeline),
    )


def write_timeline(
    timeline: Timeline, html_path: str | Path, png_path: str | Path | None = None
) -> TimelineFiles:
    """Write the page and the PNG (default: the page's path with ``.png``)."""
    html_file = Path(html_path)
    png_file = Path(png_path) if png_path is not None else html_file.with_suffix(".png")
    picture = draw_timeline(timeline)
    png_file.write_bytes(picture.png)
    html_file.write_text(timeline_page(timeline, picture), encoding="utf-8")
    return TimelineFiles(html_file, png_file)
