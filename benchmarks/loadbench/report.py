"""What a run prints and writes: the console summary, markdown tables, the plot, docs.

``--write-docs`` rewrites only the generated blocks between ``<!-- load:... -->``
markers in docs/benchmarks.md (section "Calls per core", appended if missing) and
docs/reliability.md (the load section); the prose around them is written by hand.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import platform
import re
from collections import Counter
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["cost_table", "machine_note", "plot", "work_table", "write_docs"]

MODE_NOTE = {
    "silero": "demo pipeline, Silero VAD per call",
    "energy": "demo pipeline, RMS VAD per call",
    "echo": "no pipeline: serializer + echo",
}


def _f(value: float | None, fmt: str = ".1f") -> str:
    return "-" if value is None else format(value, fmt)


def machine_note() -> str:
    import psutil

    model = platform.processor() or "unknown CPU"
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break

    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "?"

    return (
        f"{dt.date.today().isoformat()}, {os.cpu_count()} CPU ({model}), "
        f"{psutil.virtual_memory().total / 2**30:.0f} GB, Python {platform.python_version()}, "
        f"pipecat-ai {version('pipecat-ai')}, bwserial {version('bwserial')}"
    )


def work_table(rows: list[dict[str, Any]]) -> str:
    out = [
        "| bot | calls | started | completed | hung up | frames sent | read by the bot "
        "| lost (gaps) | lost silently | calls the bot fell too far behind on (frames unread) "
        "| playAudio produced / received | answers in time |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        answered = (
            "n/a (echo)" if r["mode"] == "echo" else f"{r['answered_in_time']} / {r['turns']}"
        )
        out.append(
            f"| {r['mode']} | {r['calls']} | {r['started']} | {r['completed']} | {r['hung_up']} "
            f"| {r['frames_sent']} | {r['frames_read']} | {r['gaps']} | {r['lost_silently']} "
            f"| {r['abandoned_calls']} ({r['unread_when_abandoned']}) "
            f"| {r['play_produced']} / {r['play_received']} | {answered} |"
        )
    return "\n".join(out)


def cost_table(rows: list[dict[str, Any]]) -> str:
    out = [
        "| bot | calls | deserialize CPU p50 / p99 | serialize CPU p50 / p99 "
        "| bwserial per call-second | bwserial share of bot CPU | bot CPU, all calls up (round) "
        "| bot CPU per call-second | frame lag p50 / p99 | answer latency p50 / p99 "
        "| callers' CPU | other load |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        d, s, lag = r["deserialize_cpu_us"], r["serialize_cpu_us"], r["frame_lag_ms"]
        if r["mode"] == "echo":
            e = r["echo_delay_ms"]
            answer = f"echo {_f(e['p50'], '.0f')} / {_f(e['p99'], '.0f')} ms"
        else:
            a = r["answer_latency_secs"]
            answer = f"{_f(a['p50'], '.2f')} / {_f(a['p99'], '.2f')} s"
        share = r["serializer_share"]
        out.append(
            f"| {r['mode']} | {r['calls']} | {_f(d['p50'])} / {_f(d['p99'])} us "
            f"| {_f(s['p50'])} / {_f(s['p99'])} us "
            f"| {_f(r['serializer_us_per_call_sec'], '.0f')} us "
            f"| {_f(share and share * 100)} % "
            f"| {_f(r['bot_cores_steady'], '.2f')} ({_f(r['bot_cores_round'], '.2f')}) cores "
            f"| {_f(r['bot_ms_per_call_sec'], '.1f')} ms "
            f"| {_f(lag['p50'], '.0f')} / {_f(lag['p99'], '.0f')} ms | {answer} "
            f"| {_f(r['callers_cores_steady'], '.2f')} cores "
            f"| {_f(r['other_cores_steady'] and max(0.0, r['other_cores_steady']), '.2f')} cores |"
        )
    return "\n".join(out)


def problems_lines(rows: list[dict[str, Any]]) -> list[str]:
    return [f"{r['mode']} x {r['calls']}: {p}" for r in rows for p in r["problems"]]


def _nan(values: list[float | None]) -> list[float]:
    return [float("nan") if v is None else v for v in values]


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for mode in dict.fromkeys(r["mode"] for r in rows):
        mine = sorted((r for r in rows if r["mode"] == mode), key=lambda r: r["calls"])
        calls = [r["calls"] for r in mine]
        bot = [r["bot_ms_per_call_sec"] for r in mine]
        ours = [(r["serializer_us_per_call_sec"] or 0) / 1e3 for r in mine]
        lag = [r["frame_lag_ms"]["p99"] for r in mine]
        left.plot(calls, _nan(bot), "o-", label=f"{mode}: bot process")
        left.plot(calls, _nan(ours), "s--", label=f"{mode}: bwserial inside it")
        right.plot(calls, _nan(lag), "o-", label=mode)
    left.set(
        xscale="log",
        yscale="log",
        xlabel="concurrent calls",
        ylabel="CPU ms per second of call",
        title="Cost per call",
    )
    right.set(
        xscale="log",
        yscale="log",
        xlabel="concurrent calls",
        ylabel="ms",
        title="Caller frame lag at the serializer, p99",
    )
    right.axhline(20, color="grey", lw=0.8, ls=":")
    for ax in (left, right):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _replace_block(text: str, name: str, body: str) -> str | None:
    begin, end = f"<!-- load:{name}:begin -->", f"<!-- load:{name}:end -->"
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        return None
    return pattern.sub(lambda _m: f"{begin}\n{body}\n{end}", text, count=1)


def generated_block(
    rows: list[dict[str, Any]],
    command: str,
    runtime: float,
    plot_name: str | None,
    failures: Sequence[str] = (),
) -> str:
    modes = ", ".join(f"`{m}`: {MODE_NOTE[m]}" for m in dict.fromkeys(r["mode"] for r in rows))
    lines = [
        f"{machine_note()}. Command: `{command}` ({runtime / 60:.1f} min). Bots: {modes}.",
        "",
        work_table(rows),
        "",
        cost_table(rows),
    ]
    problems = [*failures, *problems_lines(rows)]
    if problems:
        lines += ["", "Problems the run reported:", ""] + [f"- {p}" for p in problems]
    if plot_name:
        lines += ["", f"![Cost per call and frame lag against concurrent calls]({plot_name})"]
    return "\n".join(lines)


def write_docs(
    rows: list[dict[str, Any]],
    docs: Path,
    command: str,
    runtime: float,
    plot_name: str | None,
    failures: Sequence[str],
) -> list[Path]:
    body = generated_block(rows, command, runtime, plot_name, failures)
    written = []
    bench = docs / "benchmarks.md"
    text = bench.read_text(encoding="utf-8")
    new = _replace_block(text, "calls-per-core", body)
    if new is None:
        new = (
            text.rstrip("\n")
            + "\n\n## Calls per core\n\n<!-- load:calls-per-core:begin -->\n"
            + body
            + "\n<!-- load:calls-per-core:end -->\n"
        )
    bench.write_text(new, encoding="utf-8")
    written.append(bench)
    reliability = docs / "reliability.md"
    text = reliability.read_text(encoding="utf-8")
    new = _replace_block(text, "reliability", body)
    if new is not None:
        reliability.write_text(new, encoding="utf-8")
        written.append(reliability)
    return written


def _kind(problem: str) -> str:
    """A fleet problem without its call id and exact digits: ``dtmf webhook answered 503``."""
    text = re.sub(r"'[^']*'", "...", problem.split(": ", 1)[-1])
    text = text.replace("digits ..., not ...", "a digit missing or out of order")
    return re.sub(r"\[([^\]]*)\]", lambda m: "/".join(sorted(set(m.group(1).split(", ")))), text)


def write_fleet_docs(
    rows: list[dict[str, Any]], docs: Path, command: str, runtime: float, loadavg: float
) -> list[Path]:
    """Rewrite the ``load:fleet`` blocks (docs/benchmarks.md, appended if missing, and
    docs/reliability.md) with the fleet rounds' table."""
    from .workers import fleet_table

    problems = []
    for r in rows:  # per round, by kind: a starved run can report hundreds
        kinds = Counter(_kind(p) for p in r["problems"])
        problems += [
            f"{r['workers']} x {r['calls']}: {kind} ({n} call(s))" for kind, n in kinds.items()
        ]
        if r.get("frames_behind"):
            problems.append(
                f"{r['workers']} x {r['calls']}: {r['frames_behind']} frame(s) of "
                f"{r['calls_behind']} call(s) not yet read by the bot when their transfer key "
                "arrived, a second after the last one (the workers fell behind real time)"
            )
    lines = [
        f"{machine_note()}; load average {loadavg:.1f} before the run, "
        + ", ".join(f"{r['loadavg']:.1f} after {r['workers']} x {r['calls']}" for r in rows)
        + f". Command: `{command}` ({runtime / 60:.1f} min).",
        "",
        fleet_table(rows),
    ]
    if problems:
        lines += ["", "Problems the run reported:", ""] + [f"- {p}" for p in problems]
    body = "\n".join(lines)
    written = []
    for name, heading in (
        ("benchmarks.md", "## Across worker processes"),
        ("reliability.md", None),
    ):
        path = docs / name
        text = path.read_text(encoding="utf-8")
        new = _replace_block(text, "fleet", body)
        if new is None and heading is not None:
            new = (
                text.rstrip("\n")
                + f"\n\n{heading}\n\n<!-- load:fleet:begin -->\n"
                + body
                + "\n<!-- load:fleet:end -->\n"
            )
        if new is not None:
            path.write_text(new, encoding="utf-8")
            written.append(path)
    return written
