"""One round: one bot mode x N concurrent calls, in fresh processes, bounded in time.

This process runs the fake Bandwidth Voice API (every hang-up lands there and is
counted), starts the bot and the caller processes, samples them, collects what each
side counted, and checks that the counts agree. A round **fails** (loudly, with the
reason) when a call never started, when any frame the callers sent is missing from
the bot's count without the bot having seen a gap, when a ``playAudio`` the bot
produced never reached its caller, or when a call was not hung up exactly once.
Falling behind real time is not a failure: it is the figure being measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from .bot import CLIENT_ID, CLIENT_SECRET, HOST
from .children import Child
from .sampler import Sampler, wait_until_quiet, window_rate
from .script import build_script
from .stats import Dist, quantile

__all__ = ["RoundOptions", "run_round"]

STARTUP_TIMEOUT_SECS = 120.0
SAMPLE_SECS = 0.25
STOP_GRACE_SECS = 10.0
RECORDS_TIMEOUT_SECS = 20.0
END_SLACK_SECS = 15.0
"""How long after its script a call may take to end (the bot behind, answers playing)."""


@dataclass
class RoundOptions:
    seconds: float
    rate: int = 16000
    ramp: float | None = None
    callers: int | None = None
    quiet_wait: float = 0.0
    max_bot_rss_gb: float | None = None


def callers_for(calls: int, requested: int | None) -> int:
    if requested:
        return max(1, min(requested, calls))
    return max(1, min(os.cpu_count() or 1, math.ceil(calls / 500)))


def rss_cap_bytes(requested_gb: float | None) -> int:
    """The bot may use at most this much memory (a shared machine must not swap)."""
    import psutil

    if requested_gb:
        return int(requested_gb * 2**30)
    return int(min(12 * 2**30, 0.6 * psutil.virtual_memory().available))


async def run_round(mode: str, n: int, opts: RoundOptions, logdir: Path) -> dict[str, Any]:
    from bwserial.testing.fake_voice_api import FakeVoiceAPI

    script = build_script(opts.seconds)
    ramp = opts.ramp if opts.ramp is not None else min(10.0, 0.04 * n)
    k = callers_for(n, opts.callers)
    round_timeout = ramp + script.seconds + END_SLACK_SECS + 15.0
    watchdog = STARTUP_TIMEOUT_SECS + round_timeout + RECORDS_TIMEOUT_SECS + 60
    call_ids = [f"load-{mode}-{n}-{i:04d}" for i in range(n)]
    calls = [{"call_id": c, "offset": ramp * i / n} for i, c in enumerate(call_ids)]
    tag = f"{mode}-{n}"
    children: list[Child] = []
    background = await wait_until_quiet(opts.quiet_wait) if opts.quiet_wait else None
    rss_cap = rss_cap_bytes(opts.max_bot_rss_gb)
    aborted: str | None = None
    async with FakeVoiceAPI(CLIENT_ID, CLIENT_SECRET) as api:
        try:
            bot = await Child.start(
                f"bot-{tag}",
                "bot",
                {
                    "mode": mode,
                    "rate": opts.rate,
                    "token_url": api.token_url,
                    "voice_api_base_url": api.voice_api_base_url,
                    "watchdog": watchdog,
                },
                logdir,
            )
            children.append(bot)
            callers = []
            for i in range(k):
                callers.append(
                    await Child.start(
                        f"callers-{tag}-{i}",
                        "fleet",
                        {
                            "mode": mode,
                            "seconds": opts.seconds,
                            "calls": calls[i::k],
                            "watchdog": watchdog,
                        },
                        logdir,
                    )
                )
                children.append(callers[-1])
            port = (await bot.read_json_line(STARTUP_TIMEOUT_SECS))["port"]
            base_url = f"http://{HOST}:{port}"
            for caller in callers:
                await caller.read_json_line(STARTUP_TIMEOUT_SECS)
            sampler = Sampler(bot.pid, [c.pid for c in callers])
            rss_base = sampler.bot_rss()
            async with aiohttp.ClientSession() as http:
                async with http.post(base_url + "/bench/reset") as r:
                    r.raise_for_status()
                t_go = time.monotonic()
                start_at = t_go + 0.5
                deadline = start_at + round_timeout - 10.0
                for caller in callers:
                    caller.send({"start_at": start_at, "port": port, "deadline": deadline})
                sampler.sample()
                reports = asyncio.gather(*(_collect(c) for c in callers))
                while not reports.done():
                    await asyncio.wait({reports}, timeout=SAMPLE_SECS)
                    sample = sampler.sample()
                    if sample.bot_rss > rss_cap and aborted is None:
                        aborted = (
                            f"bot memory {sample.bot_rss / 2**30:.1f} GB passed the "
                            f"cap of {rss_cap / 2**30:.1f} GB"
                        )
                        await bot.stop(0.1)  # the callers then see their sockets close
                    if time.monotonic() > t_go + round_timeout + 20:
                        reports.cancel()
                        with contextlib.suppress(BaseException):
                            await reports
                        raise TimeoutError(f"round {tag} ran over {round_timeout:.0f} s")
                outputs = reports.result()
                t_done = time.monotonic()
                stats: dict[str, Any] = {}
                if aborted is None:  # every started call's record, once the bot ended it
                    wanted = {c["call_id"] for o in outputs for c in o["calls"] if "t0_ns" in c}
                    records_deadline = time.monotonic() + RECORDS_TIMEOUT_SECS
                    idle_polls = 0
                    while True:
                        async with http.get(base_url + "/bench/stats") as r:
                            r.raise_for_status()
                            stats = await r.json()
                        idle_polls = idle_polls + 1 if stats["active"] == 0 else 0
                        if (
                            wanted <= {c["call_id"] for c in stats["calls"]}
                            or idle_polls >= 2
                            or time.monotonic() > records_deadline
                        ):
                            break
                        await asyncio.sleep(0.5)
            hangups = Counter(h.call_id for h in api.hangups)
        finally:
            for child in reversed(children):
                await child.stop(STOP_GRACE_SECS if child.name.startswith("bot") else 2.0)
    return summarize(
        mode=mode,
        n=n,
        k=k,
        ramp=ramp,
        script=script,
        outputs=outputs,
        stats=stats,
        hangups=hangups,
        sampler=sampler,
        t_go=t_go,
        t_done=t_done,
        rss_base=rss_base,
        call_ids=call_ids,
        background=background,
        aborted=aborted,
        rate=opts.rate,
    )


async def _collect(child: Child) -> dict[str, Any]:
    import json

    assert child.proc.stdout is not None
    out = await child.proc.stdout.read()
    await child.proc.wait()
    lines = [x for x in out.decode().splitlines() if x.startswith('{"calls"')]
    if not lines:
        raise RuntimeError(f"{child.name} reported nothing: {child.log_tail()}")
    return dict(json.loads(lines[-1]))


def summarize(
    *,
    mode: str,
    n: int,
    k: int,
    ramp: float,
    script: Any,
    outputs: list[dict[str, Any]],
    stats: dict[str, Any],
    hangups: Counter[str],
    sampler: Sampler,
    t_go: float,
    t_done: float,
    rss_base: int,
    call_ids: list[str],
    background: float | None,
    aborted: str | None,
    rate: int,
) -> dict[str, Any]:
    callers = {c["call_id"]: c for out in outputs for c in out["calls"]}
    records = {r["call_id"]: r for r in stats.get("calls", [])}
    problems: list[str] = []

    # ---- did every call happen, and does every frame add up?
    never_started = [c for c in call_ids if c not in records and "t0_ns" not in callers.get(c, {})]
    # Started (the caller sent ``start``) but still in the bot's hands when the round
    # ended: the bot fell behind. Counted and shown, not an accounting failure.
    unfinished = [c for c in call_ids if records.get(c, {}).get("live")]
    lost_records = [c for c in call_ids if c not in records and c not in never_started]
    errors = [c for c in callers.values() if "error" in c]
    sent = read = gaps = dups = bad = silent = unread = 0
    play_made = play_got = play_missing = 0
    silent_calls = play_calls = abandoned = 0
    for cid in call_ids:
        caller, record = callers.get(cid, {}), records.get(cid)
        if record is None:
            continue
        s = caller.get("frames_sent", 0)
        sent += s
        read += record["frames_in"]
        gaps += record["gaps"]
        dups += record["duplicates"]
        bad += record["bad_messages"]
        missing = s - record["frames_in"] - record["gaps"]
        play_made += record["frames_out"]
        play_got += caller.get("play_msgs", 0)
        if record.get("end_reason") != "stop":
            # The bot never read this call's ``stop``: the caller gave up on it at the
            # round's deadline with frames still in flight. Counted, not hidden.
            abandoned += 1
            unread += max(0, missing)
            if missing < 0:
                silent += missing
                silent_calls += 1
            continue
        # The bot read the stop, so it read every frame sent before it.
        if missing:
            silent += missing
            silent_calls += 1
        if caller.get("closed_by") == "bot" and record["frames_out"] != caller.get("play_msgs"):
            play_missing += record["frames_out"] - caller.get("play_msgs", 0)
            play_calls += 1
    completed = sum(
        1
        for cid in call_ids
        if records.get(cid, {}).get("end_reason") == "stop"
        and callers.get(cid, {}).get("closed_by") == "bot"
        and hangups.get(cid) == 1
    )
    if aborted:
        problems.append(f"aborted: {aborted}")
    else:
        if never_started:
            problems.append(f"{len(never_started)} call(s) never started, e.g. {never_started[0]}")
        if len(lost_records) > stats.get("waiting", 0):
            problems.append(f"{len(lost_records)} started call(s) unknown to the bot")
        if silent:
            problems.append(
                f"{silent} frame(s) lost silently (sent, never read, no gap seen) in "
                f"{silent_calls} call(s)"
            )
        if gaps or dups or bad:
            problems.append(f"the bot saw {gaps} gap(s), {dups} duplicate(s), {bad} bad message(s)")
        if play_missing:
            problems.append(
                f"{play_missing} playAudio message(s) produced but not received "
                f"in {play_calls} call(s)"
            )
        not_hung_up = [c for c, r in records.items() if hangups.get(c) != 1 and not r.get("live")]
        if not_hung_up:
            said = sum(1 for c in not_hung_up if records[c].get("hung_up"))
            problems.append(
                f"{len(not_hung_up)} call(s) the bot ended were not hung up exactly once at "
                f"the Voice API ({said} of them the serializer reported hung up)"
            )
        if errors:
            problems.append(f"{len(errors)} caller error(s), e.g. {errors[0]['error']}")
        if not sent:
            problems.append("no frame was sent")
    if mode == "echo" and not aborted:
        short = [
            c
            for c in callers.values()
            if c.get("frames_sent")
            and records.get(c["call_id"], {}).get("end_reason") == "stop"
            and abs(c.get("play_secs", 0) - c["frames_sent"] * 0.02) > 0.041
        ]
        if short:
            problems.append(f"{len(short)} call(s) echoed a different amount of audio than sent")

    # ---- cost
    samples = sampler.samples
    starts = [c["t_connected"] for c in callers.values() if "t_connected" in c]
    stops = [c["t_stop_sent"] for c in callers.values() if "t_stop_sent" in c]
    steady = (max(starts) + 1.0, min(stops) - 0.5) if starts and stops else (0.0, 0.0)
    deser, ser = Dist.of(stats.get("deserialize")), Dist.of(stats.get("serialize"))
    construct = Dist.of(stats.get("construct"))
    lag, loop = Dist.of(stats.get("frame_lag")), Dist.of(stats.get("loop_lag"))
    send_lag = Dist.of(*(o["send_lag"] for o in outputs))
    echo_delay = Dist.of(*(o["echo_delay"] for o in outputs))
    caller_loop = Dist.of(*(o["loop_lag"] for o in outputs))
    latencies = [x for c in callers.values() for x in c.get("latencies", []) if x is not None]
    turns = sum(len(c.get("latencies", [])) for c in callers.values())
    ser_cpu = (deser.total + ser.total) / 1e9
    bot_cpu = stats.get("cpu_secs")
    call_secs = read * 0.02  # seconds of caller audio the bot's serializers handled
    wall = t_done - t_go
    us, ms = 1e-3, 1e-6
    bot_cores_steady = window_rate(samples, *steady, lambda s: s.bot_cpu)
    return {
        "mode": mode,
        "calls": n,
        "rate": rate,
        "callers_procs": k,
        "ramp_secs": ramp,
        "script_secs": script.seconds,
        "turns_per_call": len(script.turn_ends),
        "ok": not problems,
        "problems": problems,
        "started": n - len(never_started),
        "completed": completed,
        "hung_up": sum(1 for c in call_ids if hangups.get(c) == 1),
        "end_reasons": dict(Counter(r.get("end_reason", "?") for r in records.values())),
        "peak_concurrent": stats.get("peak_active"),
        "frames_sent": sent,
        "frames_read": read,
        "gaps": gaps,
        "duplicates": dups,
        "bad_messages": bad,
        "lost_silently": silent,
        "abandoned_calls": abandoned,
        "unfinished_calls": len(unfinished) + len(lost_records),
        "unread_when_abandoned": unread,
        "play_produced": play_made,
        "play_received": play_got,
        "bot_audio_secs": sum(c.get("play_secs", 0) for c in callers.values()),
        "answers": sum(r.get("answers", 0) for r in records.values()),
        "turns": turns,
        "answered_in_time": len(latencies),
        "answer_latency_secs": {
            "p50": quantile(latencies, 0.5),
            "p99": quantile(latencies, 0.99),
            "max": max(latencies) if latencies else None,
        },
        "echo_delay_ms": echo_delay.summary(ms),
        "deserialize_cpu_us": deser.summary(us),
        "serialize_cpu_us": ser.summary(us),
        "construct_cpu_us": construct.summary(us),
        "timer_bias_ns": stats.get("timer_bias_ns"),
        "serializer_cpu_secs": ser_cpu,
        "bot_cpu_secs": bot_cpu,
        "serializer_share": ser_cpu / bot_cpu if bot_cpu else None,
        "serializer_us_per_call_sec": ser_cpu / call_secs * 1e6 if call_secs else None,
        "bot_ms_per_call_sec": bot_cpu / call_secs * 1e3 if bot_cpu and call_secs else None,
        "call_secs": call_secs,
        "bot_cores_steady": bot_cores_steady,
        "bot_cores_round": bot_cpu / stats["wall_secs"]
        if bot_cpu and stats.get("wall_secs")
        else None,
        "callers_cores_steady": window_rate(samples, *steady, lambda s: s.callers_cpu),
        "callers_cpu_secs": sum(o["cpu_secs"] for o in outputs),
        "machine_busy_cores_steady": window_rate(samples, *steady, lambda s: s.machine_busy),
        "other_cores_steady": window_rate(samples, *steady, lambda s: s.machine_busy - s.ours_cpu),
        "background_cores_before": background,
        "steady_window_secs": max(0.0, steady[1] - steady[0]),
        "rss_base_mb": rss_base / 2**20,
        "rss_peak_mb": max(s.bot_rss for s in samples) / 2**20 if samples else None,
        "rss_per_call_mb": (max(s.bot_rss for s in samples) - rss_base) / 2**20 / n
        if samples
        else None,
        "frame_lag_ms": lag.summary(ms),
        "bot_loop_lag_ms": loop.summary(ms),
        "caller_send_lag_ms": send_lag.summary(ms),
        "caller_loop_lag_ms": caller_loop.summary(ms),
        "call_end_secs": {
            "p50": quantile(
                [
                    c["t_closed"] - c["t_stop_sent"]
                    for c in callers.values()
                    if "t_stop_sent" in c and "t_closed" in c
                ],
                0.5,
            ),
            "max": max(
                [
                    c["t_closed"] - c["t_stop_sent"]
                    for c in callers.values()
                    if "t_stop_sent" in c and "t_closed" in c
                ],
                default=None,
            ),
        },
        "round_wall_secs": wall,
    }
