"""The fleet round: N simulated calls with key presses and transfers across W bot workers.

``python benchmarks/load.py --fleet-workers 1 2 4 --calls 200`` runs one round per worker
count, each in fresh processes on 127.0.0.1 only: a real ``redis-server`` on a free
port (the call registry the workers share, :mod:`bwserial_redis`), the fake Voice API
in this process, W uvicorn workers of :mod:`.workerapp`, and the callers, in this
process too. Per call, as Bandwidth and a load balancer would do it:

1. the ``initiate`` webhook goes to worker ``i mod W``, whose BXML sends the stream back
   to itself (that worker holds the call);
2. the caller opens the stream, sends ``start`` and ``seconds`` of 20 ms ``media``
   frames (those due, every 60 ms, counted);
3. a third of the way in it presses ``1234``, one ``dtmf`` webhook each, in order, each to
   the next worker round-robin starting after the holder (with 2 or more workers, most
   digits land on a worker that does not hold the call);
4. a second after its last frame it presses ``0``: the bot asks the Voice API to
   transfer the caller; once the fake Voice API has the transfer, the caller sends
   ``stop``.

Checked per call: no frame lost (a missing sequence number the serializer reports, or a
call no worker recorded), every frame sent reached the bot's pipeline before the transfer
key did (else the bot was more than a second behind real time: "behind"), the digits
arrived all and in order (``12340``), the fake Voice API received the transfer. Measured: each worker's CPU time over the round (psutil), per
call and against one worker. Bounded: every round has a deadline, every child is
stopped at its end.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from bwserial.basic_auth import basic_auth_header
from bwserial.demo.fleet import (
    LocalRedis,
    Worker,
    find_redis_server,
    redis_plugin_missing,
    start_workers,
    stop_workers,
)
from bwserial.testing import messages
from bwserial.testing.fake_voice_api import FakeVoiceAPI
from bwserial.testing.webhook import call_webhook

from .workerapp import CALL_PATH, WEBHOOK

__all__ = ["fleet_table", "run_fleet_round"]

ACCOUNT_ID = "9900000"
KEYS = "1234"
TICK_SECS = 0.06
SETTLE_SECS = 1.0
"""Between the caller's last frame and its transfer key: frames still unread by then
count as lost (the bot is not keeping up in real time)."""
PAYLOAD = messages.MULAW_SILENCE
BENCHMARKS = str(Path(__file__).resolve().parents[1])
"""On the workers' path, for ``loadbench.workerapp``."""


def _dtmf_body(call_id: str, digit: str) -> dict[str, str]:
    return {
        "eventType": "dtmf",
        "eventTime": "2026-12-02T02:00:00.000Z",
        "accountId": ACCOUNT_ID,
        "applicationId": "04e88489-df02-4e34-a0ee-27a91849555f",
        "from": "+19195551234",
        "to": "+19195554321",
        "direction": "inbound",
        "callId": call_id,
        "digit": digit,
    }


class Round:
    def __init__(
        self,
        workers: list[Worker],
        api: FakeVoiceAPI,
        seconds: float,
        webhooks: aiohttp.ClientSession,
    ) -> None:
        self.workers = workers
        self.webhooks = webhooks
        self.api = api
        self.seconds = seconds
        self.transferred: dict[str, asyncio.Event] = {}
        self.transfer_at: dict[str, float] = {}
        self.seen_requests = 0
        self.auth = {"Authorization": basic_auth_header(WEBHOOK.username, WEBHOOK.password)}

    def dtmf_worker(self, holder: Worker, press: int) -> Worker:
        """Round-robin from the worker after the holder: with 2 workers 3 of a call's 5
        digits (the transfer key among them) land elsewhere, with 4 workers 4 of 5."""
        return self.workers[(holder.index + press) % len(self.workers)]

    async def watch_transfers(self) -> None:
        while True:
            requests = self.api.requests
            for r in requests[self.seen_requests :]:
                if (
                    r.method == "PUT"
                    and r.path.endswith("/bxml")
                    and "<Transfer" in str(r.body)
                    and r.status is not None
                    and r.status < 300
                    and r.call_id in self.transferred
                ):
                    self.transfer_at[r.call_id] = time.monotonic()
                    self.transferred[r.call_id].set()
            self.seen_requests = len(requests)
            await asyncio.sleep(0.05)

    async def press(
        self, session: aiohttp.ClientSession, call_id: str, digit: str, result: dict[str, Any]
    ) -> None:
        holder = self.workers[result["holder"] - 1]
        worker = self.dtmf_worker(holder, len(result["dtmf"]))
        t = time.monotonic()
        # A fresh connection per webhook, as Bandwidth's are: a kept-alive one can be
        # closed by uvicorn's keep-alive timeout just as it is reused (a reset).
        async with self.webhooks.post(
            worker.dtmf_url, json=_dtmf_body(call_id, digit), headers=self.auth
        ) as response:
            result["dtmf"].append(
                {"digit": digit, "worker": worker.index, "status": response.status}
            )
        result["dtmf_secs"].append(time.monotonic() - t)

    async def call(self, i: int, session: aiohttp.ClientSession) -> dict[str, Any]:
        holder = self.workers[i % len(self.workers)]
        call_id = f"c-load-{i:04d}-{secrets.token_hex(4)}"
        self.transferred[call_id] = asyncio.Event()
        result: dict[str, Any] = {
            "call_id": call_id,
            "holder": holder.index,
            "sent": 0,
            "dtmf": [],
            "dtmf_secs": [],
            "transfer_secs": None,
            "late_secs": 0.0,
            "error": None,
        }
        try:
            stream = await call_webhook(
                holder.base_url + CALL_PATH,
                call_id=call_id,
                account_id=ACCOUNT_ID,
                username=WEBHOOK.username,
                password=WEBHOOK.password.get_secret_value(),
            )
            async with session.ws_connect(stream.destination) as ws:
                reader = asyncio.create_task(self._drain(ws))
                stream_id = f"s-load-{i:04d}"
                await ws.send_str(messages.start(stream_id=stream_id, call_id=call_id))
                total = round(self.seconds / 0.02)
                press_at = total // 3
                presses: asyncio.Task[None] | None = None
                t0 = time.monotonic()
                seq = 0
                while seq < total:
                    due = min(total, int((time.monotonic() - t0) / 0.02) + 1)
                    result["late_secs"] = max(
                        result["late_secs"], (time.monotonic() - t0) - seq * 0.02
                    )
                    while seq < due:
                        seq += 1
                        await ws.send_str(messages.media(PAYLOAD, seq))
                    result["sent"] = seq
                    if presses is None and seq >= press_at:
                        presses = asyncio.create_task(self._keys(session, call_id, result))
                    await asyncio.sleep(TICK_SECS)
                if presses is not None:
                    await presses
                await asyncio.sleep(SETTLE_SECS)
                t = time.monotonic()
                await self.press(session, call_id, "0", result)
                try:
                    await asyncio.wait_for(self.transferred[call_id].wait(), 30)
                    result["transfer_secs"] = self.transfer_at[call_id] - t
                except TimeoutError:
                    result["error"] = "no transfer within 30 s"
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await ws.send_str(messages.stop(stream_id, call_id))
                with contextlib.suppress(TimeoutError):  # the bot ends its part and closes
                    await asyncio.wait_for(asyncio.shield(reader), 5)
        except Exception as e:  # one failed call is a figure, not the end of the round
            result["error"] = f"{type(e).__name__}: {e}"
        return result

    async def _keys(
        self, session: aiohttp.ClientSession, call_id: str, result: dict[str, Any]
    ) -> None:
        for digit in KEYS:
            await self.press(session, call_id, digit, result)

    @staticmethod
    async def _drain(ws: aiohttp.ClientWebSocketResponse) -> None:
        async for _ in ws:
            pass


def _cpu(pid: int) -> float:
    with contextlib.suppress(psutil.Error):
        times = psutil.Process(pid).cpu_times()
        return float(times.user + times.system)
    return 0.0


async def run_fleet_round(
    n_workers: int, calls: int, seconds: float, ramp: float, logdir: Path, registry_query: str = ""
) -> dict[str, Any]:
    """One round: ``calls`` concurrent calls across ``n_workers`` workers; its figures."""
    missing = redis_plugin_missing()
    if missing is not None:
        raise RuntimeError(missing)
    workdir = Path(tempfile.mkdtemp(prefix=f"fleet-{n_workers}-", dir=logdir))
    async with (
        LocalRedis(find_redis_server(), workdir) as redis,
        FakeVoiceAPI("load-client-id", "load-client-secret") as api,
    ):
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([BENCHMARKS, *sys.path]),
            "BWSERIAL_CALL_REGISTRY_URL": redis.url
            + (f"?{registry_query}" if registry_query else ""),
            "BENCH_TOKEN_SECRET": secrets.token_urlsafe(32),
            "BENCH_TOKEN_URL": api.token_url,
            "BENCH_VOICE_API": api.voice_api_base_url,
            "BWSERIAL_RESAMPLER_ENGINE": "numpy",
        }
        t = time.monotonic()
        workers = await start_workers(
            n_workers, env, workdir, "loadbench.workerapp:create_app", "/bench/pid"
        )
        startup = time.monotonic() - t
        try:
            cpu0 = {w.index: _cpu(w.pid) for w in workers}
            me0 = _cpu(os.getpid())
            t0 = time.monotonic()
            deadline = seconds + ramp + 120
            async with (
                aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session,
                aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(limit=0, force_close=True)
                ) as webhooks,
            ):
                state = Round(workers, api, seconds, webhooks)
                watcher = asyncio.create_task(state.watch_transfers())

                async def staggered(i: int) -> dict[str, Any]:
                    await asyncio.sleep(ramp * i / calls)
                    return await state.call(i, session)

                results = await asyncio.wait_for(
                    asyncio.gather(*(staggered(i) for i in range(calls))), deadline
                )
                wall = time.monotonic() - t0
                await asyncio.sleep(1.0)  # the last records land after the stop
                cpu = {w.index: _cpu(w.pid) - cpu0[w.index] for w in workers}
                callers_cpu = _cpu(os.getpid()) - me0
                ended: dict[str, dict[str, Any]] = {}
                for w in workers:
                    async with session.get(w.base_url + "/bench/calls") as response:
                        for rec in (await response.json())["calls"]:
                            ended[rec["call_id"]] = rec
            watcher.cancel()
        finally:
            await stop_workers(workers)
    return summarize(n_workers, calls, seconds, results, ended, cpu, callers_cpu, wall, startup)


def _q(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def summarize(
    n_workers: int,
    calls: int,
    seconds: float,
    results: list[dict[str, Any]],
    ended: dict[str, dict[str, Any]],
    cpu: dict[int, float],
    callers_cpu: float,
    wall: float,
    startup: float,
) -> dict[str, Any]:
    sent = lost = behind = digits_ok = transfers = elsewhere = presses = 0
    problems: list[str] = []
    for r in results:
        rec = ended.get(r["call_id"])
        sent += r["sent"]
        if r["transfer_secs"] is not None:
            transfers += 1
        for p in r["dtmf"]:
            presses += 1
            elsewhere += p["worker"] != r["holder"]
        bad = [p for p in r["dtmf"] if p["status"] != 204]
        if r["error"]:
            problems.append(f"{r['call_id']}: {r['error']}")
        if bad:
            problems.append(f"{r['call_id']}: dtmf webhook answered {[p['status'] for p in bad]}")
        if rec is None:
            lost += r["sent"]
            problems.append(f"{r['call_id']}: no record from its worker")
            continue
        at = rec["frames_at_transfer"] if rec["frames_at_transfer"] is not None else rec["frames"]
        lost += rec.get("gaps", 0)
        behind += max(0, r["sent"] - at)
        if rec["digits"] == KEYS + "0":
            digits_ok += 1
        else:
            problems.append(f"{r['call_id']}: digits {rec['digits']!r}, not {KEYS + '0'!r}")
    total_cpu = sum(cpu.values())
    transfer_secs = [r["transfer_secs"] for r in results if r["transfer_secs"] is not None]
    dtmf_secs = [s for r in results for s in r["dtmf_secs"]]
    late = [r["late_secs"] for r in results]
    row = {
        "workers": n_workers,
        "calls": calls,
        "seconds": seconds,
        "frames_sent": sent,
        "frames_lost": lost,
        "frames_behind": behind,
        "calls_behind": sum(
            1
            for r in results
            if (rec := ended.get(r["call_id"])) is not None
            and r["sent"]
            > (
                rec["frames_at_transfer"]
                if rec["frames_at_transfer"] is not None
                else rec["frames"]
            )
        ),
        "digits_sent": presses,
        "digits_to_other_worker": elsewhere,
        "calls_digits_in_order": digits_ok,
        "transfers": transfers,
        "worker_cpu_secs": round(total_cpu, 2),
        "worker_cpu_ms_per_call": round(1000 * total_cpu / calls, 1),
        "callers_cpu_secs": round(callers_cpu, 2),
        "wall_secs": round(wall, 1),
        "startup_secs": round(startup, 1),
        "dtmf_ms_p50": _ms(_q(dtmf_secs, 0.5)),
        "dtmf_ms_p99": _ms(_q(dtmf_secs, 0.99)),
        "transfer_ms_p50": _ms(_q(transfer_secs, 0.5)),
        "transfer_ms_p99": _ms(_q(transfer_secs, 0.99)),
        "caller_late_ms_max": _ms(max(late) if late else None),
        "problems": problems,
    }
    row["ok"] = (
        not problems
        and lost == 0
        and behind == 0
        and digits_ok == calls
        and transfers == calls
        and presses == calls * (len(KEYS) + 1)
    )
    return row


def _ms(secs: float | None) -> float | None:
    return None if secs is None else round(secs * 1000, 1)


def fleet_table(rows: list[dict[str, Any]]) -> str:
    out = [
        "| workers | calls | frames sent | frames lost | frames not read by the transfer key "
        "(calls) | digits sent (to another worker) "
        "| calls with all digits in order | transfers at the Voice API | workers' CPU per call "
        "| against 1 worker | dtmf webhook p50 / p99 | transfer key to transfer p50 / p99 "
        "| callers' CPU |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        base = next((b for b in rows if b["workers"] == 1 and b["calls"] == r["calls"]), None)
        ratio = (
            f"{r['worker_cpu_ms_per_call'] / base['worker_cpu_ms_per_call']:.2f}x"
            if base and base["worker_cpu_ms_per_call"]
            else "-"
        )
        out.append(
            f"| {r['workers']} | {r['calls']} | {r['frames_sent']} | {r['frames_lost']} "
            f"| {r['frames_behind']} ({r['calls_behind']}) "
            f"| {r['digits_sent']} ({r['digits_to_other_worker']}) "
            f"| {r['calls_digits_in_order']} / {r['calls']} | {r['transfers']} / {r['calls']} "
            f"| {r['worker_cpu_ms_per_call']:.0f} ms | {ratio} "
            f"| {_n(r['dtmf_ms_p50'])} / {_n(r['dtmf_ms_p99'])} ms "
            f"| {_n(r['transfer_ms_p50'])} / {_n(r['transfer_ms_p99'])} ms "
            f"| {r['callers_cpu_secs']:.1f} s |"
        )
    return "\n".join(out)


def _n(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"
