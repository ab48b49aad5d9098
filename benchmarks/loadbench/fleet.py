"""The callers: many simulated Bandwidth media streams from one process, cheaply.

``bwserial.testing.simulate_call`` models Bandwidth's play-out and costs about 0.5 % of
a core per call; at 1,000 calls the callers would need more CPU than the bot. This
fleet does only what the benchmark needs, per call: open the WebSocket, send ``start``
(its frame schedule's origin in ``streamParams``), one 20 ms ``media`` frame of the
caller script at a time with counting sequence numbers, then ``stop``; read every
message the bot sends until the bot closes the socket; count everything.

Pacing: one ticker per process wakes every 5 ms and sends each call's due frames.
Calls are spread over four 5 ms phases, so a tick serves a quarter of them, and a
call that fell behind sends its late frames at once (never skips one). How late each
frame left is measured (``send_lag``), so a slow caller is told apart from a slow bot.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from .children import exit_on_eof
from .script import FRAME_NS, CallerScript, build_script
from .stats import Histogram, watch_loop_lag

__all__ = ["fleet_process"]

PHASES = 4
TICK_NS = FRAME_NS // PHASES
PLAY_PREFIX = '{"eventType":"playAudio"'
PAYLOAD_KEY = '"payload":"'


@dataclass(eq=False)
class Call:
    call_id: str
    offset: float
    phase: int
    ws: aiohttp.ClientWebSocketResponse | None = None
    t0: int = 0
    sent: int = 0
    sending: bool = False
    result: dict[str, Any] = field(default_factory=dict)
    # what the bot sent back
    play_msgs: int = 0
    play_bytes: int = 0
    clears: int = 0
    other_msgs: int = 0
    turn: int = 0
    latencies: list[float | None] = field(default_factory=list)


class Fleet:
    def __init__(self, job: dict[str, Any], script: CallerScript) -> None:
        self.job = job
        self.script = script
        self.echo = job["mode"] == "echo"
        self.calls = [
            Call(c["call_id"], c["offset"], i % PHASES) for i, c in enumerate(job["calls"])
        ]
        self.phases: list[list[Call]] = [[] for _ in range(PHASES)]
        self.send_lag = Histogram(1_000_000, 300_000_000_000)
        self.echo_delay = Histogram(1_000_000, 300_000_000_000)
        self.loop_lag = Histogram(1_000_000, 300_000_000_000)
        self.sending_left = len(self.calls)
        self.all_sent = asyncio.Event()
        self.base = 0
        if not self.calls:
            self.all_sent.set()

    # ------------------------------------------------------------------ per call

    async def run_call(
        self, call: Call, session: aiohttp.ClientSession, url: str, start_at: float, deadline: float
    ) -> dict[str, Any]:
        await asyncio.sleep(max(0.0, start_at + call.offset - time.monotonic()))
        result = call.result
        result.update(call_id=call.call_id, t_planned=start_at + call.offset)
        try:
            async with asyncio.timeout(max(0.1, deadline - time.monotonic())):
                ws = await session.ws_connect(
                    url,
                    autoping=True,
                    heartbeat=None,
                    max_msg_size=16 * 1024 * 1024,
                    compress=0,
                    timeout=aiohttp.ClientWSTimeout(ws_close=5.0),
                )
        except TimeoutError:
            result["error"] = "connect: the bot did not accept the stream before the deadline"
            self._done_sending(call)
            return result
        except Exception as e:
            result["error"] = f"connect: {type(e).__name__}: {e}"[:200]
            self._done_sending(call)
            return result
        call.ws = ws
        now = time.monotonic_ns()
        # the first 5 ms tick of this call's phase at least 20 ms from now
        ticks = -(-(now + FRAME_NS - self.base) // TICK_NS)
        ticks += (call.phase - ticks) % PHASES
        call.t0 = self.base + ticks * TICK_NS
        result.update(t_connected=time.monotonic(), t0_ns=call.t0)
        start = {
            "metadata": {
                "accountId": "9900000",
                "callId": call.call_id,
                "streamId": "s-" + call.call_id,
                "streamName": "load",
                "tracks": [
                    {"name": "inbound", "mediaFormat": {"encoding": "PCMU", "sampleRate": 8000}}
                ],
            },
            "streamParams": {"bench_t0_ns": str(call.t0)},
            "eventType": "start",
        }
        try:
            await ws.send_str(json.dumps(start))
        except Exception as e:
            result["error"] = f"start: {type(e).__name__}: {e}"[:200]
            self._done_sending(call)
            return result
        call.sending = True
        self.phases[call.phase].append(call)
        try:
            await asyncio.wait_for(self._read(call), max(0.1, deadline - time.monotonic()))
            result["closed_by"] = "bot"
        except TimeoutError:
            result["closed_by"] = "deadline"
            await ws.close()
        except Exception as e:
            result["error"] = f"read: {type(e).__name__}: {e}"[:200]
        if call.sending:  # the bot closed before the script was over
            self._done_sending(call)
        result.update(
            t_closed=time.monotonic(),
            frames_sent=call.sent,
            stop_sent=result.get("t_stop_sent") is not None,
            play_msgs=call.play_msgs,
            play_secs=call.play_bytes / 8000,
            clears=call.clears,
            other_msgs=call.other_msgs,
            close_code=ws.close_code,
            latencies=call.latencies + [None] * (len(self.script.turn_ends) - len(call.latencies)),
        )
        return result

    async def _read(self, call: Call) -> None:
        assert call.ws is not None
        ends = self.script.turn_ends
        echo, delay = self.echo, self.echo_delay
        async for msg in call.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                if msg.type in (
                    aiohttp.WSMsgType.CLOSE,
                    aiohttp.WSMsgType.CLOSING,
                    aiohttp.WSMsgType.CLOSED,
                    aiohttp.WSMsgType.ERROR,
                ):
                    break
                call.other_msgs += 1
                continue
            text: str = msg.data
            if not text.startswith(PLAY_PREFIX):
                if '"clear"' in text:
                    call.clears += 1
                else:
                    call.other_msgs += 1
                continue
            t = time.monotonic_ns()
            call.play_msgs += 1
            start = text.find(PAYLOAD_KEY)
            end = text.find('"', start + len(PAYLOAD_KEY))
            if start < 0 or end < 0:
                call.other_msgs += 1
                continue
            b64 = end - start - len(PAYLOAD_KEY)
            call.play_bytes += b64 // 4 * 3 - text.count("=", end - 2, end)
            if echo:  # chunk j holds caller frames 2j-1 and 2j: complete when 2j was due
                delay.add(t - call.t0 - (2 * call.play_msgs - 1) * FRAME_NS)
                continue
            # The first answer audio after a turn's end, before the next turn's end.
            turn = call.turn
            while (
                turn < len(ends)
                and turn + 1 < len(ends)
                and t >= call.t0 + ends[turn + 1] * FRAME_NS
            ):
                call.latencies.append(None)
                turn += 1
            if turn < len(ends):
                end_ns = call.t0 + ends[turn] * FRAME_NS
                if t >= end_ns:
                    call.latencies.append((t - end_ns) / 1e9)
                    turn += 1
            call.turn = turn

    def _done_sending(self, call: Call) -> None:
        call.sending = False
        self.sending_left -= 1
        if self.sending_left <= 0:
            self.all_sent.set()

    # ------------------------------------------------------------------ pacing

    async def ticker(self) -> None:
        payloads = self.script.payloads
        total = len(payloads)
        lag = self.send_lag
        stop_template = '{"metadata":{"streamId":"s-%s","callId":"%s"},"eventType":"stop"}'
        tick = 0
        while not self.all_sent.is_set():
            due_tick = self.base + tick * TICK_NS
            delay = due_tick - time.monotonic_ns()
            if delay > 0:
                await asyncio.sleep(delay / 1e9)
            calls = self.phases[tick % PHASES]
            tick += 1
            if not calls:
                continue
            now = time.monotonic_ns()
            finished: list[Call] = []
            for call in calls:
                ws = call.ws
                if not call.sending or ws is None:
                    finished.append(call)
                    continue
                try:
                    while call.sent < total:
                        due = call.t0 + call.sent * FRAME_NS
                        if due > now:
                            break
                        await ws.send_str(
                            '{"track":"inbound","payload":"'
                            + payloads[call.sent]
                            + '","sequenceNumber":"'
                            + str(call.sent + 1)
                            + '","eventType":"media"}'
                        )
                        lag.add(time.monotonic_ns() - due)
                        call.sent += 1
                    if call.sent >= total:
                        await ws.send_str(stop_template % (call.call_id, call.call_id))
                        call.result["t_stop_sent"] = time.monotonic()
                        finished.append(call)
                except Exception as e:  # the bot closed the socket
                    call.result.setdefault("send_error", f"{type(e).__name__}: {e}"[:200])
                    finished.append(call)
                now = time.monotonic_ns()
            for call in finished:
                calls.remove(call)
                if call.sending:
                    self._done_sending(call)


async def fleet_process(job: dict[str, Any]) -> None:
    script = build_script(job["seconds"])
    print(json.dumps({"ready": True, "frames": len(script.payloads)}), flush=True)
    line = await asyncio.to_thread(sys.stdin.readline)
    if not line.strip():
        return  # the parent gave up before the start
    go = json.loads(line)
    threading.Thread(target=exit_on_eof, args=("fleet",), daemon=True).start()
    fleet = Fleet(job, script)
    fleet.base = int(go["start_at"] * 1e9)  # monotonic() and monotonic_ns() share a clock
    cpu_before = sum(os.times()[:2])
    monitor = asyncio.create_task(watch_loop_lag(lambda: fleet.loop_lag))
    url = f"ws://127.0.0.1:{go['port']}/ws"
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        ticker = asyncio.create_task(fleet.ticker())
        try:
            results = await asyncio.gather(
                *(
                    fleet.run_call(c, session, url, go["start_at"], go["deadline"])
                    for c in fleet.calls
                )
            )
        finally:
            fleet.all_sent.set()
            for task in (ticker, monitor):
                task.cancel()
            await asyncio.gather(ticker, monitor, return_exceptions=True)
    print(
        json.dumps(
            {
                "calls": results,
                "send_lag": fleet.send_lag.to_json(),
                "echo_delay": fleet.echo_delay.to_json(),
                "loop_lag": fleet.loop_lag.to_json(),
                "cpu_secs": sum(os.times()[:2]) - cpu_before,
            }
        ),
        flush=True,
    )
