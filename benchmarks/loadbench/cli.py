"""The command line: run the rounds, print the tables, optionally write JSON, plot, docs.

The same entry serves the child processes (``--role bot|fleet --job JSON``), so a run
is always one script started from the repository root.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import shlex
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .children import quiet_logging, start_watchdog
from .report import cost_table, machine_note, plot, problems_lines, work_table, write_docs
from .rounds import RoundOptions, run_round

__all__ = ["build_parser", "main"]

MODES = ("silero", "energy", "echo")
DOCS = Path(__file__).resolve().parents[2] / "docs"
PLOT_NAME = "calls_per_core.png"


async def orchestrate(args: argparse.Namespace) -> int:
    """Every round in order (fresh processes each), then :func:`report`."""
    quiet_logging()
    main_task = asyncio.current_task()
    assert main_task is not None
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):  # cancel: every round's finally runs
        loop.add_signal_handler(signum, main_task.cancel)
    logdir = Path(tempfile.mkdtemp(prefix="bwserial-load-"))
    started = time.monotonic()
    rows: list[dict[str, Any]] = []
    failures: list[str] = []
    failed = interrupted = False
    print(f"load: {machine_note()}")
    print(
        f"load: calls {args.calls}, {args.seconds:g} s each, bots {args.modes}; logs in {logdir}",
        flush=True,
    )
    opts = RoundOptions(
        seconds=args.seconds,
        rate=args.rate,
        ramp=args.ramp,
        callers=args.callers,
        quiet_wait=args.quiet_wait,
        max_bot_rss_gb=args.max_bot_rss_gb,
    )
    for mode, n in itertools.product(args.modes, args.calls):
        t = time.monotonic()
        try:
            row = await run_round(mode, n, opts, logdir)
        except asyncio.CancelledError:
            failed = interrupted = True
            print(f"load: interrupted during round {mode} x {n}", flush=True)
            break
        except Exception as e:
            failed = True
            failures.append(f"{mode} x {n}: round failed: {type(e).__name__}: {e}")
            print(f"load: round {mode} x {n} FAILED: {type(e).__name__}: {e}", flush=True)
            continue
        rows.append(row)
        verdict = "ok" if row["ok"] else "FAILED: " + "; ".join(row["problems"])
        print(
            f"load: {mode} x {n}: {verdict}; {row['completed']}/{n} completed, frames "
            f"{row['frames_read']}/{row['frames_sent']} read, bot "
            f"{row['bot_cores_steady'] or 0:.2f} cores, bwserial "
            f"{(row['serializer_share'] or 0) * 100:.1f} %, frame lag p99 "
            f"{row['frame_lag_ms']['p99'] or 0:.0f} ms ({time.monotonic() - t:.0f} s)",
            flush=True,
        )
        failed = failed or not row["ok"]
    runtime = time.monotonic() - started
    return report(args, rows, failures, runtime, logdir, failed, interrupted)


def _figure_args(argv: list[str]) -> list[str]:
    """The arguments that shape the figures (not where the output goes)."""
    out, skip = [], False
    for word in argv:
        if skip:
            skip = False
        elif word in ("--json", "--plot"):
            skip = True
        elif word != "--keep-logs" and not word.startswith(("--json=", "--plot=")):
            out.append(word)
    return out


def report(
    args: argparse.Namespace,
    rows: list[dict[str, Any]],
    failures: list[str],
    runtime: float,
    logdir: Path,
    failed: bool,
    interrupted: bool,
) -> int:
    """Print the tables and write what was asked for; the exit status of the run."""
    if rows:
        print("\n" + work_table(rows) + "\n\n" + cost_table(rows))
    print(f"\nload: total runtime {runtime:.0f} s")
    command = "python benchmarks/load.py " + shlex.join(_figure_args(sys.argv[1:]))
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "machine": machine_note(),
                    "command": command,
                    "runtime_secs": runtime,
                    "rounds": rows,
                },
                indent=2,
            )
            + "\n",
            encoding="utf-8",
        )
        print(f"load: wrote {args.json}")
    plot_path = Path(args.plot) if args.plot else (DOCS / PLOT_NAME if args.write_docs else None)
    if rows and plot_path is not None:
        plot(rows, plot_path)
        print(f"load: wrote {plot_path}")
    if rows and args.write_docs:
        name = plot_path.name if plot_path is not None else None
        for path in write_docs(rows, DOCS, command, runtime, name, failures):
            print(f"load: wrote {path}")
    for line in [*failures, *problems_lines(rows)]:
        print(f"load: PROBLEM {line}")
    if failed or args.keep_logs:
        print(f"load: logs kept in {logdir}")
    else:
        shutil.rmtree(logdir, ignore_errors=True)
    if interrupted:
        return 130
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="benchmarks/load.py",
        description="N simulated Bandwidth calls at once against a bot on 127.0.0.1.",
    )
    parser.add_argument(
        "--calls",
        type=int,
        nargs="+",
        default=[50, 200, 1000],
        help="concurrent calls per round (default: 50 200 1000)",
    )
    parser.add_argument(
        "--seconds", type=float, default=30.0, help="caller audio per call (default: 30)"
    )
    parser.add_argument(
        "--modes",
        nargs="+",
        choices=MODES,
        default=["silero", "echo"],
        help="bots: silero (the demo's pipeline), energy (the same with an "
        "RMS VAD), echo (no pipeline); default: silero echo",
    )
    parser.add_argument(
        "--rate",
        type=int,
        default=16000,
        choices=(8000, 16000, 24000),
        help="pipeline sample rate (default 16000: resampled both ways)",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 3 echo calls of 4 s")
    parser.add_argument(
        "--callers",
        type=int,
        default=None,
        help="caller processes (default: one per 500 calls, at most one per CPU)",
    )
    parser.add_argument(
        "--ramp",
        type=float,
        default=None,
        help="seconds over which call starts are spread (default: 40 ms a call, at most 10 s)",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=3.0,
        help="before each round, wait up to this long for other processes "
        "to go quiet (default 3 s; 0: do not wait)",
    )
    parser.add_argument(
        "--max-bot-rss-gb",
        type=float,
        default=None,
        help="stop a round whose bot passes this memory (default: 60 %% of "
        "the memory available, at most 12 GB)",
    )
    parser.add_argument("--json", help="also write every figure to this JSON file")
    parser.add_argument(
        "--plot", help=f"write the plot here (default with --write-docs: docs/{PLOT_NAME})"
    )
    parser.add_argument(
        "--write-docs",
        action="store_true",
        help="rewrite the generated tables in docs/benchmarks.md and "
        "docs/reliability.md, and the plot",
    )
    parser.add_argument(
        "--fleet-workers",
        type=int,
        nargs="+",
        default=None,
        metavar="W",
        help="the fleet round instead: --calls calls with key presses and transfers across "
        "W bot workers sharing a real Redis, for each W (e.g. 1 2 4; needs bwserial-redis "
        "and a redis-server)",
    )
    parser.add_argument(
        "--fleet-registry-query",
        default="",
        metavar="QUERY",
        help="with --fleet-workers: options appended to the workers' Redis URL, e.g. "
        "max_connections=1000 (redis-py's pool size; default: none, redis-py's defaults)",
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep the child processes' logs")
    parser.add_argument("--role", choices=("bot", "fleet"), help=argparse.SUPPRESS)
    parser.add_argument("--job", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.role:
        job = json.loads(args.job)
        start_watchdog(job["watchdog"], args.role)
        quiet_logging()
        if args.role == "bot":
            from .bot import bot_process

            asyncio.run(bot_process(job))
        else:
            from .fleet import fleet_process

            asyncio.run(fleet_process(job))
        sys.stdout.flush()
        os._exit(0)  # a daemon thread still blocks on stdin: skip interpreter shutdown
    if args.quick:
        args.calls, args.seconds, args.modes = [3], 4.0, ["echo"]
    if any(n < 1 for n in args.calls) or not 1 <= args.seconds <= 600:
        parser.error("--calls must be >= 1 and --seconds within 1..600")
    if args.fleet_workers is not None:
        if any(not 1 <= w <= 16 for w in args.fleet_workers):
            parser.error("--fleet-workers: each count within 1..16")
        return asyncio.run(orchestrate_fleet(args))
    return asyncio.run(orchestrate(args))


async def orchestrate_fleet(args: argparse.Namespace) -> int:
    """The fleet rounds (:mod:`.workers`): each worker count x each call count, in order."""
    from .report import write_fleet_docs
    from .workers import fleet_table, run_fleet_round

    quiet_logging()
    main_task = asyncio.current_task()
    assert main_task is not None
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, main_task.cancel)
    logdir = Path(tempfile.mkdtemp(prefix="bwserial-load-fleet-"))
    started = time.monotonic()
    load_before = os.getloadavg()
    print(f"load: {machine_note()}")
    print(
        f"load: fleet rounds, workers {args.fleet_workers}, calls {args.calls}, "
        f"{args.seconds:g} s each; logs in {logdir}",
        flush=True,
    )
    rows: list[dict[str, Any]] = []
    failed = False
    for n, w in itertools.product(args.calls, args.fleet_workers):
        ramp = args.ramp if args.ramp is not None else min(10.0, 0.04 * n)
        t = time.monotonic()
        try:
            row = await run_fleet_round(w, n, args.seconds, ramp, logdir, args.fleet_registry_query)
        except asyncio.CancelledError:
            print(f"load: interrupted during fleet round {w} x {n}", flush=True)
            return 130
        except Exception as e:
            failed = True
            print(f"load: fleet round {w} x {n} FAILED: {type(e).__name__}: {e}", flush=True)
            continue
        row["loadavg"] = os.getloadavg()[0]
        row["registry_query"] = args.fleet_registry_query
        rows.append(row)
        failed = failed or not row["ok"]
        verdict = "ok" if row["ok"] else "FAILED: " + "; ".join(row["problems"][:5])
        print(
            f"load: {w} worker(s) x {n} calls: {verdict}; frames lost {row['frames_lost']}, behind {row['frames_behind']}, of "
            f"{row['frames_sent']}, digits in order {row['calls_digits_in_order']}/{n}, "
            f"transfers {row['transfers']}/{n}, workers' CPU {row['worker_cpu_ms_per_call']} "
            f"ms per call, load average {row['loadavg']:.1f} ({time.monotonic() - t:.0f} s)",
            flush=True,
        )
    runtime = time.monotonic() - started
    if rows:
        print("\n" + fleet_table(rows))
    print(f"\nload: total runtime {runtime:.0f} s")
    command = "python benchmarks/load.py " + shlex.join(_figure_args(sys.argv[1:]))
    if args.json:
        text = json.dumps({"machine": machine_note(), "command": command, "rounds": rows}, indent=2)
        await asyncio.to_thread(Path(args.json).write_text, text + "\n", encoding="utf-8")
        print(f"load: wrote {args.json}")
    if rows and args.write_docs:
        for path in write_fleet_docs(rows, DOCS, command, runtime, load_before[0]):
            print(f"load: wrote {path}")
    if failed or args.keep_logs:
        print(f"load: logs kept in {logdir}")
    else:
        shutil.rmtree(logdir, ignore_errors=True)
    return 1 if failed else 0
