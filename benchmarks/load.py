"""Load: N simulated phone calls at once against the demo bot on 127.0.0.1, for S seconds.

    python benchmarks/load.py --calls 50 100 200 --seconds 60   # what `tox run -e load` runs
    python benchmarks/load.py --quick                           # smoke run: 5 calls, 10 s

Every round (one bot variant, one N) uses fresh processes, all on 127.0.0.1:

* this process: the fake Bandwidth Voice API (:class:`~bwserial.testing.fake_voice_api.
  FakeVoiceAPI`, where every hang-up lands and is counted), one warm-up call, and the
  sampling of the other processes' CPU and memory from ``/proc``;
* one **bot** process: the demo app exactly as ``bwserial demo`` serves it
  (``bwserial.demo.app.create_app`` under ``bwserial.testing.server.serve``), with two
  benchmark-only additions: each call's serializer is a thin subclass that times every
  ``deserialize``/``serialize`` with ``time.perf_counter_ns`` into a histogram, and a
  bwserial observer plugin (``DemoSettings.serializer_plugins``) that records each call's
  ``StreamContext`` counters (frames in/out, gaps, duplicates, bad messages) when the call
  stops or hangs up. ``GET /bench/stats`` hands them to this process at the end;
* K **simulator** processes (``bwserial.testing.simulator.simulate_call`` at real time,
  ``fast=False``), so the callers' own CPU never counts as the bot's and one event loop
  does not have to pace every call.

Each call is a real one: Bandwidth's ``initiate`` webhook, the BXML answer, the media
stream opened with the bot's own signed URL; then the bundled caller recording
(``bwserial.testing.turns.script_from_wav``: turns of speech and silence, some of them
barging in on the bot's answer), looped to fill S seconds; the bot answers every turn
(Silero VAD -> the demo's ``PromptBot``) and, after the last answer has played, hangs up
through the (fake) Voice API. Call starts are spread over a short ramp.

Bot variants (``--variants``; default ``silero echo``):

``silero``
    The demo as shipped: Pipecat pipeline, Silero VAD, ``PromptBot``.
``energy``
    The same with Silero swapped for an RMS threshold VAD (same windows, thresholds,
    turns and barge-ins): what the model costs, against the rest of the pipeline.
``echo``
    The demo's webhook, token and handshake, then no Pipecat pipeline: the serializer is
    driven directly and the caller's audio goes straight back (one ``playAudio`` per
    40 ms), and the bot hangs up when the caller's script is over. What is left is
    bwserial's own cost plus uvicorn's WebSocket I/O, at full media rate both ways.

Figures per round: calls completed and hung up; media frames sent vs read by the bot's
serializer (sequence accounting); bot audio played (from the simulators' play-out model);
serializer time per frame (p50/p99); bot RSS per call; bot CPU; and whether the bot kept
up: how late caller frames reached the serializer, the bot's event-loop lag and the
answer latency the caller saw. Everything is bounded in time and cleaned up on failure.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import contextlib
import datetime as dt
import itertools
import json
import math
import os
import platform
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import aiohttp
from loguru import logger

SCRIPT = Path(__file__).resolve()
HOST = "127.0.0.1"
VARIANTS = ("silero", "energy", "echo")
DEFAULT_VARIANTS = ("silero", "echo")
CLIENT_ID, CLIENT_SECRET = "load-client-id", "load-client-secret"
WEBHOOK_USER, WEBHOOK_PASSWORD = "bandwidth", "load-webhook-password"
FRAME_NS = 20_000_000
"""One Bandwidth media frame: 20 ms."""
SPEECH_RMS = 32768 * 10 ** (-40 / 20)
"""The energy VAD's threshold: -40 dBFS, the level ``script_from_wav`` splits turns at."""
ANSWER_MARGIN_SECS = 0.9
"""After a turn: VAD stop (0.5 s) plus slack, before the answer starts and the hang-up."""
LINGER_SECS = 8.0
"""Line silence after the caller's last word; the bot's hang-up normally ends it first."""
CALL_OVERRUN_SECS = 45.0
"""How much longer than planned a call may run (a bot that cannot keep up) before the
simulator ends it."""
STARTUP_TIMEOUT_SECS = 90.0
SAMPLE_SECS = 0.25
BOT_STOP_SECS = 10.0
WARM_UP_TIMEOUT_SECS = 30.0
RECORDS_TIMEOUT_SECS = 20.0
PROFILE_ENV = "BWSERIAL_LOAD_PROFILE"
"""Set to a path prefix to run each bot under cProfile (``<prefix>.<variant>.pstats``)."""


# --------------------------------------------------------------------------- histograms


class Histogram:
    """Fixed-width buckets (the last one also counts everything above): O(1) per value."""

    __slots__ = ("counts", "max", "n", "total", "unit")

    def __init__(self, unit_ns: int, limit_ns: int) -> None:
        self.unit = unit_ns
        self.counts = array.array("Q", bytes(8 * (limit_ns // unit_ns + 1)))
        self.n = 0
        self.total = 0
        self.max = 0

    def add(self, ns: int) -> None:
        index = ns // self.unit
        counts = self.counts
        counts[index if index < len(counts) else -1] += 1
        self.n += 1
        self.total += ns
        if ns > self.max:
            self.max = ns

    def to_json(self) -> dict[str, Any]:
        buckets = {str(i): c for i, c in enumerate(self.counts) if c}
        return {
            "unit": self.unit,
            "n": self.n,
            "total": self.total,
            "max": self.max,
            "buckets": buckets,
        }


@dataclass
class Dist:
    """A histogram read back from JSON (possibly merged from several processes)."""

    unit: int = 1
    n: int = 0
    total: int = 0
    max: int = 0
    buckets: Counter[int] = field(default_factory=Counter)

    @classmethod
    def of(cls, *data: dict[str, Any] | None) -> Dist:
        dist = cls()
        for d in data:
            if not d:
                continue
            dist.unit = d["unit"]
            dist.n += d["n"]
            dist.total += d["total"]
            dist.max = max(dist.max, d["max"])
            dist.buckets.update({int(k): v for k, v in d["buckets"].items()})
        return dist

    def quantile(self, q: float) -> float | None:
        """Value in ns (bucket middle, never above the maximum seen); None if empty."""
        if not self.n:
            return None
        target, seen = q * self.n, 0
        for index in sorted(self.buckets):
            seen += self.buckets[index]
            if seen >= target:
                return min((index + 0.5) * self.unit, float(self.max))
        return float(self.max)


async def watch_loop_lag(histogram: Callable[[], Histogram], interval: float = 0.05) -> None:
    """How late a 50 ms sleep wakes up: the event loop's backlog, in ns."""
    interval_ns = int(interval * 1e9)
    while True:
        before = time.perf_counter_ns()
        await asyncio.sleep(interval)
        histogram().add(max(0, time.perf_counter_ns() - before - interval_ns))


def start_watchdog(seconds: float, what: str) -> None:
    """A child process ends itself whatever happens to its parent."""

    def expire() -> None:
        sys.stderr.write(f"load.py {what}: watchdog expired after {seconds:.0f} s\n")
        sys.stderr.flush()
        os._exit(3)

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.start()


def exit_on_eof(what: str) -> None:
    """Block on stdin; when the parent closes it (or dies), end this process at once."""
    with contextlib.suppress(Exception):
        sys.stdin.buffer.read()
    sys.stderr.write(f"load.py {what}: stdin closed, exiting\n")
    sys.stderr.flush()
    os._exit(4)


def quiet_logging() -> None:
    """Warnings only: per-call INFO/DEBUG lines at 200 calls would be a load of their own."""
    logger.remove()
    logger.add(sys.stderr, level="WARNING")


# --------------------------------------------------------------------------- caller script


def caller_script(seconds: float) -> tuple[Any, int]:
    """The bundled caller recording, its turns looped to fill ``seconds``.

    The last turn ends early enough for its answer to play within ``seconds``; the slack
    goes into the pause before it. Returns the script and its number of turns.
    """
    from bwserial.demo.settings import bundled_asset
    from bwserial.testing.simulator import CallScript, Silence, Speech
    from bwserial.testing.turns import script_from_wav
    from bwserial.testing.wav import load_wav_as_pcm16

    prompt_secs = len(load_wav_as_pcm16(bundled_asset("prompt.wav"), 8000)) / 16000
    limit = seconds - prompt_secs - ANSWER_MARGIN_SECS
    segments: list[Any] = []
    elapsed, turns = 0.0, 0
    for segment in itertools.cycle(script_from_wav(bundled_asset("caller.wav")).segments):
        secs = segment.duration_secs if isinstance(segment, Speech) else segment.seconds
        if isinstance(segment, Speech):
            if turns and elapsed + secs > limit:
                break
            turns += 1
        segments.append(segment)
        elapsed += secs
    while not isinstance(segments[-1], Speech):
        elapsed -= segments.pop().seconds
    if limit > elapsed:
        segments.insert(len(segments) - 1, Silence(limit - elapsed))
    return CallScript(segments), turns


# --------------------------------------------------------------------------- bot process


class BotStats:
    """Everything the bot process measures; reset after the warm-up call."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.deserialize = Histogram(100, 10_000_000)  # 0.1 us buckets up to 10 ms
        self.serialize = Histogram(100, 10_000_000)
        self.frame_lag = Histogram(1_000_000, 120_000_000_000)  # 1 ms buckets up to 120 s
        self.loop_lag = Histogram(1_000_000, 60_000_000_000)
        self.calls: dict[str, dict[str, Any]] = {}


def timed_serializer_class(stats: BotStats) -> type:
    """``BandwidthFrameSerializer`` timing each call into ``stats``.

    The wrapper adds ~1 us per inbound frame (hot loop: 9.5 -> 10.6 us), almost all of it
    outside the timed span, which holds only the parent's ``deserialize``/``serialize``.

    ``frame_lag``: when a caller frame reached the serializer, against its due time (its
    sequence index x 20 ms after the most punctual frame of the call). It grows when the
    bot reads its socket late, whatever the cause (event loop busy, CPU saturated).
    The hang-up (``EndFrame``/``CancelFrame``) awaits the network and is not timed.
    """
    from pipecat.frames.frames import CancelFrame, EndFrame

    from bwserial import BandwidthFrameSerializer

    class TimedSerializer(BandwidthFrameSerializer):  # type: ignore[misc]
        _bench_ref: int | None = None

        async def deserialize(self, data: str | bytes) -> Any:
            t0 = time.perf_counter_ns()
            frame = await super().deserialize(data)
            t1 = time.perf_counter_ns()
            stats.deserialize.add(t1 - t0)
            if frame is not None:
                context = self.context
                due = t1 - (context.frames_in + context.gaps) * FRAME_NS
                ref = self._bench_ref
                if ref is None or due < ref:
                    self._bench_ref = ref = due
                stats.frame_lag.add(due - ref)
            return frame

        async def serialize(self, frame: Any) -> Any:
            if isinstance(frame, EndFrame | CancelFrame):
                return await super().serialize(frame)
            t0 = time.perf_counter_ns()
            message = await super().serialize(frame)
            stats.serialize.add(time.perf_counter_ns() - t0)
            return message

    return TimedSerializer


def energy_vad_class() -> type:
    """A VAD without a model: speech is a 32 ms window above -40 dBFS RMS."""
    import numpy as np
    from pipecat.audio.vad.vad_analyzer import VADAnalyzer

    class EnergyVADAnalyzer(VADAnalyzer):  # type: ignore[misc]
        def num_frames_required(self) -> int:
            return 512 if self.sample_rate == 16000 else 256  # as Silero

        def voice_confidence(self, buffer: bytes) -> float:
            samples = np.frombuffer(buffer, dtype="<i2").astype(np.float32)
            if not samples.size:
                return 0.0
            return 1.0 if float(np.sqrt(np.mean(samples * samples))) >= SPEECH_RMS else 0.0

    return EnergyVADAnalyzer


class _Rates:
    """What ``FrameSerializer.setup`` reads off Pipecat's StartFrame / FrameProcessorSetup."""

    def __init__(self, rate: int) -> None:
        self.audio_in_sample_rate = rate
        self.audio_out_sample_rate = rate


def echo_call_handler(serializer_class: type, hang_up_after: float) -> Callable[..., Any]:
    """A stand-in for ``bwserial.demo.session.run_call`` with no Pipecat pipeline.

    The call arrives exactly as in the demo (webhook, signed token, Basic auth, ``start``
    read by the app); then the serializer is driven by hand, as Pipecat's transport
    would: every caller frame is deserialized, the caller's audio goes straight back in
    40 ms ``OutputAudioRawFrame`` chunks (one ``playAudio`` each), and after
    ``hang_up_after`` seconds an ``EndFrame`` hangs the call up through the Voice API.
    What it costs is bwserial's work plus uvicorn's WebSocket I/O, nothing else.
    """
    from pipecat.frames.frames import EndFrame, InputAudioRawFrame, OutputAudioRawFrame

    from bwserial.demo.calls import CallRecord
    from bwserial.demo.handshake import close_quietly

    async def run_echo_call(
        websocket: Any, identity: Any, started: Any, start_text: str, settings: Any
    ) -> Any:
        rate = settings.sample_rate
        chunk_bytes = rate * 2 * 40 // 1000
        serializer = serializer_class(
            stream_id=started.stream_id,
            call_id=identity.call_id,
            account_id=identity.account_id,
            client_id=settings.client_id,
            client_secret=settings.client_secret,
            params=serializer_class.InputParams(
                outbound_encoding=settings.outbound_encoding,
                oauth_token_url=settings.oauth_token_url,
                voice_api_base_url=settings.voice_api_base_url,
                extra_plugins=list(settings.serializer_plugins),
            ),
        )
        await serializer.setup(_Rates(rate))
        await serializer.deserialize(start_text)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + hang_up_after
        pending = bytearray()
        end_reason = "bot finished"
        try:
            while (remaining := deadline - loop.time()) > 0:
                try:
                    async with asyncio.timeout(remaining):
                        message = await websocket.receive()
                except TimeoutError:
                    break
                if message["type"] == "websocket.disconnect":
                    serializer.notify_socket_closed()
                    end_reason = "caller disconnected"
                    break
                text = message.get("text")
                if text is None:
                    continue
                frame = await serializer.deserialize(text)
                if isinstance(frame, InputAudioRawFrame):
                    pending += frame.audio
                    if len(pending) >= chunk_bytes:
                        out = await serializer.serialize(
                            OutputAudioRawFrame(
                                audio=bytes(pending), sample_rate=rate, num_channels=1
                            )
                        )
                        pending.clear()
                        if out:
                            await websocket.send_text(out)
        except Exception as e:
            end_reason = f"error: {type(e).__name__}"
            logger.opt(exception=True).error(f"echo bot: call {identity.call_id} failed")
        finally:
            await serializer.serialize(EndFrame())  # waits for the echo to play, hangs up
            await close_quietly(websocket, 1000, "call ended")
        context = serializer.context
        return CallRecord(
            call_id=identity.call_id,
            account_id=identity.account_id,
            stream_id=started.stream_id,
            claimed_call_id=started.call_id,
            answers=0,
            interruptions=context.interruptions,
            end_reason=end_reason,
            hung_up=serializer.hung_up,
            hangup_outcome=None,
            hangup_status=None,
            frames_in=context.frames_in,
            frames_out=context.frames_out,
            stream_stops=0,
        )

    return run_echo_call


def counters_plugin(stats: BotStats) -> object:
    """A bwserial observer: each call's StreamContext counters when it stops / hangs up."""
    from bwserial import hookimpl

    class LoadCounters:
        bwserial_plugin_name = "bench-load-counters"

        @hookimpl
        def bwserial_stream_stopped(self, context: Any, event: Any) -> None:
            self._snapshot(context, stopped=event.reason.value)

        @hookimpl
        def bwserial_hangup_finished(self, context: Any, result: Any) -> None:
            self._snapshot(
                context, hangup=result.outcome.value, hangup_secs=round(result.seconds, 4)
            )

        @staticmethod
        def _snapshot(context: Any, **extra: Any) -> None:
            entry = stats.calls.setdefault(context.call_id or "?", {})
            entry.update(
                frames_in=context.frames_in,
                frames_out=context.frames_out,
                gaps=context.gaps,
                duplicates=context.duplicates,
                bad_messages=context.bad_messages,
                interruptions=context.interruptions,
                **extra,
            )

    return LoadCounters()


async def bot_process(job: dict[str, Any]) -> None:
    from fastapi.responses import JSONResponse

    import bwserial.demo.app as demo_app
    import bwserial.demo.session as session
    from bwserial.audio import warm_up
    from bwserial.demo.app import create_app
    from bwserial.demo.calls import CallLog
    from bwserial.demo.settings import DemoSettings
    from bwserial.testing.server import serve

    stats = BotStats()
    # The demo builds each call's serializer and VAD from these module-level names, and
    # the app calls run_call by its module-level name: replacing them in this process
    # only keeps the demo's own code path everywhere else (a serializer, VAD and call
    # handler hook in the demo itself would make this unnecessary).
    for module, name in (
        (session, "BandwidthFrameSerializer"),
        (session, "SileroVADAnalyzer"),
        (demo_app, "run_call"),
    ):
        if not hasattr(module, name):
            raise RuntimeError(f"{module.__name__} has no {name}: update benchmarks/load.py")
    timed = timed_serializer_class(stats)
    session.BandwidthFrameSerializer = timed  # type: ignore[attr-defined]
    if job["variant"] == "energy":
        session.SileroVADAnalyzer = energy_vad_class()  # type: ignore[attr-defined]
    elif job["variant"] == "echo":
        demo_app.run_call = echo_call_handler(timed, job["echo_secs"])  # type: ignore[attr-defined]
    warm_up()
    settings = DemoSettings(
        webhook_username=WEBHOOK_USER,
        webhook_password=WEBHOOK_PASSWORD,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        oauth_token_url=job["token_url"],
        voice_api_base_url=job["voice_api_base_url"],
        turns=job["turns"],
        serializer_plugins=[counters_plugin(stats)],
    )
    calls = CallLog()
    app = create_app(settings, calls)

    @app.get("/bench/stats")
    async def bench_stats() -> JSONResponse:
        return JSONResponse(
            {
                "serializer": stats.calls,
                "records": [asdict(r) for r in calls.records],
                "deserialize": stats.deserialize.to_json(),
                "serialize": stats.serialize.to_json(),
                "frame_lag": stats.frame_lag.to_json(),
                "loop_lag": stats.loop_lag.to_json(),
            }
        )

    @app.post("/bench/reset")
    async def bench_reset() -> JSONResponse:
        stats.reset()
        return JSONResponse({"ok": True})

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def wait_for_eof() -> None:  # the parent closes our stdin to stop us (or dies)
        with contextlib.suppress(Exception):
            sys.stdin.buffer.read()
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=wait_for_eof, name="load-bot-stdin", daemon=True).start()
    async with serve(app, HOST, 0) as server:
        print(json.dumps({"port": server.port}), flush=True)
        lag = asyncio.create_task(watch_loop_lag(lambda: stats.loop_lag))
        try:
            await stop.wait()
        finally:
            lag.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await lag


# --------------------------------------------------------------------------- simulator process


async def one_call(
    job: dict[str, Any], call: dict[str, Any], script: Any, start_at: float
) -> dict[str, Any]:
    from bwserial.demo.phone import place_call
    from bwserial.testing.simulator import SimulatorConfig, simulate_call

    await asyncio.sleep(max(0.0, start_at + call["offset"] - time.monotonic()))
    result: dict[str, Any] = {"call_id": call["call_id"], "t_start": time.monotonic()}
    try:
        stream = await place_call(
            job["base_url"],
            call_id=call["call_id"],
            account_id=job["account_id"],
            username=WEBHOOK_USER,
            password=WEBHOOK_PASSWORD,
        )
        report = await simulate_call(
            SimulatorConfig(
                url=stream.destination,
                call_id=call["call_id"],
                account_id=job["account_id"],
                username=stream.username,
                password=stream.password,
                linger_secs=LINGER_SECS,
                max_call_secs=job["max_call_secs"],
            ),
            script,
        )
    except Exception as e:
        result["error"] = f"{type(e).__name__}: {e}"[:300]
        result["t_end"] = time.monotonic()
        return result
    result.update(
        t_end=time.monotonic(),
        ended_by=report.ended_by,
        duration_secs=report.duration_secs,
        frames_sent=report.frames_sent,
        turns=len(report.turns),
        latencies=[x for x in report.response_latencies_secs if x is not None],
        unanswered=sum(x is None for x in report.response_latencies_secs),
        bot_audio_played_secs=report.bot_audio_played_secs,
        bot_audio_received_secs=report.bot_audio_received_secs,
        clears=report.clears_received,
        malformed=report.malformed_messages,
    )
    return result


async def sim_process(job: dict[str, Any]) -> None:
    # Imported now (pipecat comes with them), not on the first call's clock.
    import bwserial.demo.phone  # noqa: F401

    script, _ = caller_script(job["seconds"])
    lag = Histogram(1_000_000, 60_000_000_000)
    print(json.dumps({"ready": True}), flush=True)
    line = await asyncio.to_thread(sys.stdin.readline)
    if not line.strip():
        return  # the parent gave up before the start
    go = json.loads(line)
    start_at, job["base_url"] = go["start_at"], go["base_url"]
    threading.Thread(target=exit_on_eof, args=("sim",), name="load-sim-stdin", daemon=True).start()
    cpu_before = sum(os.times()[:2])
    monitor = asyncio.create_task(watch_loop_lag(lambda: lag))
    try:
        results = await asyncio.gather(*(one_call(job, c, script, start_at) for c in job["calls"]))
    finally:
        monitor.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await monitor
    cpu = sum(os.times()[:2]) - cpu_before
    print(json.dumps({"calls": results, "loop_lag": lag.to_json(), "cpu_secs": cpu}), flush=True)


# --------------------------------------------------------------------------- /proc


CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_secs(pid: int) -> float:
    """User + system CPU of a process, all its threads."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def machine_busy_secs() -> float:
    """CPU time every CPU of the machine spent busy (all processes, kernel included)."""
    with open("/proc/stat", encoding="ascii") as f:
        ticks = [int(x) for x in f.readline().split()[1:]]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    return (sum(ticks[:8]) - idle) / CLK_TCK


@dataclass
class Sample:
    t: float
    bot_cpu: float
    bot_rss: int
    sim_cpu: float
    ours_cpu: float
    """bot + simulators + this process."""
    machine_busy: float


# --------------------------------------------------------------------------- orchestration


class Child:
    """A child process (this script in another role), killed by pid if it outstays."""

    def __init__(self, name: str, proc: asyncio.subprocess.Process, log: Path) -> None:
        self.name, self.proc, self.log = name, proc, log

    @classmethod
    async def start(cls, name: str, role: str, job: dict[str, Any], logdir: Path) -> Child:
        log = logdir / f"{name}.log"
        with log.open("wb") as stderr:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                str(SCRIPT),
                "--role",
                role,
                "--job",
                json.dumps(job),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
            )
        return cls(name, proc, log)

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def read_json_line(self, within_secs: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        async with asyncio.timeout(within_secs):
            while True:
                line = await self.proc.stdout.readline()
                if not line:
                    raise RuntimeError(f"{self.name} exited early; see {self.log}")
                with contextlib.suppress(ValueError):
                    data = json.loads(line)
                    if isinstance(data, dict):
                        return data

    def send(self, data: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(data) + "\n").encode())

    async def stop(self, grace: float) -> None:
        """Close stdin (the polite stop), then kill this pid if it is still running."""
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), grace)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.proc.wait(), 5)


def sim_procs_for(calls: int, requested: int | None) -> int:
    if requested:
        return max(1, min(requested, calls))
    return max(1, min(os.cpu_count() or 1, math.ceil(calls / 100)))


async def warm_up_call(base_url: str) -> None:
    """One short call, so imports, Silero, numba and the OAuth token are loaded before
    the baseline is taken."""
    from bwserial.demo.phone import place_call
    from bwserial.demo.settings import DEMO_ACCOUNT_ID
    from bwserial.testing.simulator import SimulatorConfig, simulate_call

    script, _ = caller_script(1.0)  # the first turn only
    stream = await place_call(
        base_url,
        call_id="load-warm-up",
        account_id=DEMO_ACCOUNT_ID,
        username=WEBHOOK_USER,
        password=WEBHOOK_PASSWORD,
    )
    await simulate_call(
        SimulatorConfig(
            url=stream.destination,
            call_id="load-warm-up",
            account_id=DEMO_ACCOUNT_ID,
            username=stream.username,
            password=stream.password,
            linger_secs=1.5,
            wait_for_playout=False,
            max_call_secs=WARM_UP_TIMEOUT_SECS,
        ),
        script,
    )


async def wait_until_quiet(max_wait: float, threshold: float = 0.3) -> float:
    """Wait (at most ``max_wait`` s) for a second in which other processes use less than
    ``threshold`` cores; return the background load seen last, in cores."""
    deadline = time.monotonic() + max_wait
    while True:
        busy0, ours0, t0 = machine_busy_secs(), sum(os.times()[:2]), time.monotonic()
        await asyncio.sleep(1.0)
        elapsed = time.monotonic() - t0
        load = (machine_busy_secs() - busy0 - (sum(os.times()[:2]) - ours0)) / elapsed
        if load < threshold or time.monotonic() >= deadline:
            return load


async def run_round(variant: str, n: int, args: argparse.Namespace, logdir: Path) -> dict[str, Any]:
    from bwserial.demo.settings import DEMO_ACCOUNT_ID
    from bwserial.testing.fake_voice_api import FakeVoiceAPI

    script, turns = caller_script(args.seconds)
    ramp = args.ramp if args.ramp is not None else min(5.0, 0.025 * n)
    k = sim_procs_for(n, args.sim_procs)
    max_call_secs = args.seconds + CALL_OVERRUN_SECS
    round_timeout = ramp + max_call_secs + 30
    call_ids = [f"load-{variant}-{n}-{i:03d}" for i in range(n)]
    calls = [{"call_id": c, "offset": ramp * i / n} for i, c in enumerate(call_ids)]
    tag = f"{variant}-{n}"
    children: list[Child] = []
    gathering: asyncio.Future[list[dict[str, Any]]] | None = None
    background = await wait_until_quiet(args.quiet_wait)
    async with FakeVoiceAPI(CLIENT_ID, CLIENT_SECRET) as api:
        try:
            bot = await Child.start(
                f"bot-{tag}",
                "bot",
                {
                    "variant": variant,
                    "turns": turns,
                    "token_url": api.token_url,
                    "echo_secs": script.duration_secs + 1.0,
                    "voice_api_base_url": api.voice_api_base_url,
                    "watchdog": STARTUP_TIMEOUT_SECS + WARM_UP_TIMEOUT_SECS + round_timeout + 60,
                },
                logdir,
            )
            children.append(bot)
            sims = []
            for i in range(k):
                sims.append(
                    await Child.start(
                        f"sim-{tag}-{i}",
                        "sim",
                        {
                            "base_url": "",
                            "account_id": DEMO_ACCOUNT_ID,
                            "seconds": args.seconds,
                            "max_call_secs": max_call_secs,
                            "calls": calls[i::k],
                            "watchdog": STARTUP_TIMEOUT_SECS
                            + WARM_UP_TIMEOUT_SECS
                            + round_timeout
                            + 60,
                        },
                        logdir,
                    )
                )
                children.append(sims[-1])
            port = (await bot.read_json_line(STARTUP_TIMEOUT_SECS))["port"]
            base_url = f"http://{HOST}:{port}"
            rss_idle = rss_bytes(bot.pid)
            await asyncio.wait_for(warm_up_call(base_url), WARM_UP_TIMEOUT_SECS)
            async with aiohttp.ClientSession() as http:
                async with http.post(base_url + "/bench/reset") as r:
                    r.raise_for_status()
                for sim in sims:
                    await sim.read_json_line(STARTUP_TIMEOUT_SECS)
                await asyncio.sleep(1.0)  # let the warm-up call's teardown settle
                rss_base = rss_bytes(bot.pid)
                t_go = time.monotonic()
                start_at = t_go + 0.2
                for sim in sims:  # the base URL is known only now
                    sim.send({"start_at": start_at, "base_url": base_url})
                samples: list[Sample] = []

                def sample() -> None:
                    sim_cpu = 0.0
                    for sim in sims:  # an exited simulator no longer counts (nor matters)
                        with contextlib.suppress(OSError):
                            sim_cpu += cpu_secs(sim.pid)
                    bot_cpu = cpu_secs(bot.pid)
                    samples.append(
                        Sample(
                            time.monotonic(),
                            bot_cpu,
                            rss_bytes(bot.pid),
                            sim_cpu,
                            bot_cpu + sim_cpu + sum(os.times()[:2]),
                            machine_busy_secs(),
                        )
                    )

                sample()

                async def collect(sim: Child) -> dict[str, Any]:
                    assert sim.proc.stdout is not None
                    out = await sim.proc.stdout.read()
                    await sim.proc.wait()
                    lines = [x for x in out.decode().splitlines() if x.startswith("{")]
                    if not lines:
                        raise RuntimeError(f"{sim.name} reported nothing; see {sim.log}")
                    return json.loads(lines[-1])

                gathering = asyncio.gather(*(collect(s) for s in sims))
                deadline = time.monotonic() + round_timeout
                while not gathering.done():
                    if time.monotonic() > deadline:
                        gathering.cancel()
                        raise TimeoutError(f"round {tag} ran over {round_timeout:.0f} s")
                    await asyncio.wait({gathering}, timeout=SAMPLE_SECS)
                    sample()
                outputs = gathering.result()
                t_done = time.monotonic()
                # A loaded bot may still be tearing calls down: wait (bounded) for the
                # record of every call before reading the figures.
                wanted = set(call_ids)
                records_deadline = time.monotonic() + RECORDS_TIMEOUT_SECS
                while True:
                    async with http.get(base_url + "/bench/stats") as r:
                        r.raise_for_status()
                        stats = await r.json()
                    seen = {record["call_id"] for record in stats["records"]}
                    if wanted <= seen or time.monotonic() > records_deadline:
                        break
                    await asyncio.sleep(0.5)
            hangups = Counter(h.call_id for h in api.hangups)
            call_requests = len(api.call_requests)
        finally:
            if gathering is not None and not gathering.done():
                gathering.cancel()
            for child in reversed(children):
                await child.stop(BOT_STOP_SECS if child.name.startswith("bot") else 2.0)
            if gathering is not None:
                with contextlib.suppress(BaseException):
                    await gathering  # retrieved: its failure is this round's, reported above
    return summarize(
        variant=variant,
        n=n,
        k=k,
        ramp=ramp,
        turns=turns,
        script_secs=script.duration_secs,
        outputs=outputs,
        stats=stats,
        hangups=hangups,
        call_requests=call_requests,
        samples=samples,
        t_go=t_go,
        t_done=t_done,
        rss_idle=rss_idle,
        rss_base=rss_base,
        sim_cpu=sum(o["cpu_secs"] for o in outputs),
        call_ids=call_ids,
        background=background,
    )


def _window_share(
    samples: Sequence[Sample], start: float, end: float, value: Callable[[Sample], float]
) -> float | None:
    inside = [s for s in samples if start <= s.t <= end]
    if len(inside) < 2 or inside[-1].t - inside[0].t < 2.0:
        return None
    return (value(inside[-1]) - value(inside[0])) / (inside[-1].t - inside[0].t)


def _q(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def summarize(
    *,
    variant: str,
    n: int,
    k: int,
    ramp: float,
    turns: int,
    script_secs: float,
    outputs: list[dict[str, Any]],
    stats: dict[str, Any],
    hangups: Counter[str],
    call_requests: int,
    samples: list[Sample],
    t_go: float,
    t_done: float,
    rss_idle: int,
    rss_base: int,
    sim_cpu: float,
    call_ids: list[str],
    background: float,
) -> dict[str, Any]:
    sims = [c for out in outputs for c in out["calls"]]
    ok_sims = [c for c in sims if "error" not in c]
    counters = stats["serializer"]
    records = {r["call_id"]: r for r in stats["records"]}
    sent = read = gaps = dups = bad = unread = 0
    for call in ok_sims:
        bot = counters.get(call["call_id"])
        if bot is None:
            continue
        sent += call["frames_sent"]
        read += bot["frames_in"]
        gaps += bot["gaps"]
        dups += bot["duplicates"]
        bad += bot["bad_messages"]
        unread += call["frames_sent"] - bot["frames_in"] - bot["gaps"]
    completed = sum(
        1
        for c in ok_sims
        if records.get(c["call_id"], {}).get("end_reason") == "bot finished"
        and hangups.get(c["call_id"])
        and not c["malformed"]
    )
    starts = [c["t_start"] for c in sims]
    ends = [c["t_end"] for c in sims]
    steady = (max(starts) + 1.0, min(ends) - 1.0)
    wall = t_done - t_go
    bot_cpu_round = samples[-1].bot_cpu - samples[0].bot_cpu
    deser, ser = Dist.of(stats["deserialize"]), Dist.of(stats["serialize"])
    lag, loop = Dist.of(stats["frame_lag"]), Dist.of(stats["loop_lag"])
    sim_lag = Dist.of(*(o["loop_lag"] for o in outputs))
    latencies = [x for c in ok_sims for x in c["latencies"]]
    played = [c["bot_audio_played_secs"] for c in ok_sims]
    rss_peak = max(s.bot_rss for s in samples)
    us = 1e-3
    ms = 1e-6

    def scaled(value: float | None, factor: float) -> float | None:
        return None if value is None else value * factor

    return {
        "variant": variant,
        "calls": n,
        "sim_procs": k,
        "ramp_secs": ramp,
        "turns_per_call": turns,
        "script_secs": round(script_secs, 2),
        "errors": len(sims) - len(ok_sims),
        "error_samples": [c["error"] for c in sims if "error" in c][:3],
        "completed": completed,
        "hung_up": sum(1 for c in call_ids if hangups.get(c)),
        "hangup_requests": call_requests,
        "ended_by": dict(Counter(c.get("ended_by", "error") for c in sims)),
        "calls_without_record": sum(1 for c in call_ids if c not in records),
        "end_reasons": dict(
            Counter(r["end_reason"] for cid, r in records.items() if cid in set(call_ids))
        ),
        "answers": sum(r["answers"] for cid, r in records.items() if cid in set(call_ids)),
        "interruptions": sum(
            r["interruptions"] for cid, r in records.items() if cid in set(call_ids)
        ),
        "unanswered_turns": sum(c["unanswered"] for c in ok_sims),
        "call_secs_mean": statistics.fmean(c["duration_secs"] for c in ok_sims)
        if ok_sims
        else None,
        "frames_sent": sent,
        "frames_read": read,
        "gaps": gaps,
        "duplicates": dups,
        "bad_messages": bad,
        "sent_after_bot_ended": unread,
        "calls_without_counters": sum(1 for c in ok_sims if c["call_id"] not in counters),
        "bot_audio_played_secs": round(sum(played), 1),
        "bot_audio_played_per_call_secs": statistics.fmean(played) if played else None,
        "malformed": sum(c["malformed"] for c in ok_sims),
        "deserialize_us": {
            "p50": scaled(deser.quantile(0.5), us),
            "p99": scaled(deser.quantile(0.99), us),
            "max": deser.max * us,
            "n": deser.n,
        },
        "serialize_us": {
            "p50": scaled(ser.quantile(0.5), us),
            "p99": scaled(ser.quantile(0.99), us),
            "max": ser.max * us,
            "n": ser.n,
        },
        "serializer_cpu_secs": (deser.total + ser.total) / 1e9,
        "serializer_share_of_bot_cpu": (
            (deser.total + ser.total) / 1e9 / bot_cpu_round if bot_cpu_round else None
        ),
        "bot_cpu_cores_round": bot_cpu_round / wall if wall else None,
        "bot_cpu_cores_steady": _window_share(samples, *steady, lambda s: s.bot_cpu),
        "steady_window_secs": max(0.0, steady[1] - steady[0]),
        "sim_cpu_cores_round": sim_cpu / wall if wall else None,
        "sim_cpu_cores_steady": _window_share(samples, *steady, lambda s: s.sim_cpu),
        "background_cpu_cores_before": background,
        "machine_busy_cores_steady": _window_share(samples, *steady, lambda s: s.machine_busy),
        "other_cpu_cores_steady": _window_share(
            samples, *steady, lambda s: s.machine_busy - s.ours_cpu
        ),
        "rss_idle_mb": rss_idle / 2**20,
        "rss_base_mb": rss_base / 2**20,
        "rss_peak_mb": rss_peak / 2**20,
        "rss_per_call_mb": (rss_peak - rss_base) / 2**20 / n,
        "frame_lag_ms": {
            "p50": scaled(lag.quantile(0.5), ms),
            "p99": scaled(lag.quantile(0.99), ms),
            "max": lag.max * ms,
        },
        "bot_loop_lag_ms": {
            "p50": scaled(loop.quantile(0.5), ms),
            "p99": scaled(loop.quantile(0.99), ms),
            "max": loop.max * ms,
        },
        "sim_loop_lag_ms": {"p99": scaled(sim_lag.quantile(0.99), ms), "max": sim_lag.max * ms},
        "answer_latency_secs": {
            "p50": _q(latencies, 0.5),
            "p99": _q(latencies, 0.99),
            "max": max(latencies) if latencies else None,
        },
        "round_wall_secs": wall,
    }


# --------------------------------------------------------------------------- report


def _f(value: float | None, fmt: str = ".1f") -> str:
    return "-" if value is None else format(value, fmt)


def tables(rows: list[dict[str, Any]]) -> str:
    out = [
        "Calls and frames (sequence accounting from each call's StreamContext)",
        "",
        "| bot | calls | completed | hung up | turns answered | frames sent | read by the bot "
        "| lost (gaps) | dup | bad | sent after the bot ended | bot audio played, total (per call) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        answered = (
            "n/a"
            if r["variant"] == "echo"
            else f"{r['answers']} / {r['turns_per_call'] * r['calls']}"
        )
        out.append(
            f"| {r['variant']} | {r['calls']} | {r['completed']} | {r['hung_up']} | {answered} "
            f"| {r['frames_sent']} | {r['frames_read']} | {r['gaps']} | {r['duplicates']} "
            f"| {r['bad_messages']} | {r['sent_after_bot_ended']} "
            f"| {r['bot_audio_played_secs']:.0f} s ({_f(r['bot_audio_played_per_call_secs'])} s) |"
        )
    out += [
        "",
        "Cost in the bot process (serializer times per frame, inside the bot)",
        "",
        "| bot | calls | deserialize p50 / p99 | serialize p50 / p99 "
        "| bot CPU, all calls up (round) | bot CPU per call | bwserial's share (per call) "
        "| RSS per call | bot RSS peak |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        d, s = r["deserialize_us"], r["serialize_us"]
        share, cores = r["serializer_share_of_bot_cpu"], r["bot_cpu_cores_steady"]
        per_call = None if cores is None else cores / r["calls"] * 100
        ours = None if per_call is None or share is None else per_call * share
        out.append(
            f"| {r['variant']} | {r['calls']} | {_f(d['p50'])} / {_f(d['p99'])} us "
            f"| {_f(s['p50'])} / {_f(s['p99'])} us "
            f"| {_f(cores, '.2f')} ({_f(r['bot_cpu_cores_round'], '.2f')}) cores "
            f"| {_f(per_call, '.2f')} % of a core "
            f"| {_f(share and share * 100)} % ({_f(ours, '.3f')} % of a core) "
            f"| {_f(r['rss_per_call_mb'], '.2f')} MB | {r['rss_peak_mb']:.0f} MB |"
        )
    out += [
        "",
        "Keeping up (real time: frames are due every 20 ms)",
        "",
        "| bot | calls | frame lag p50 / p99 / max | bot loop lag p99 / max "
        "| answer latency p50 / p99 | simulators: CPU, loop lag p99 "
        "| other load on the machine |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lag, loop, ans = r["frame_lag_ms"], r["bot_loop_lag_ms"], r["answer_latency_secs"]
        other = r["other_cpu_cores_steady"]  # an estimate: two clocks, +-0.3 cores of noise
        sim_cpu = r["sim_cpu_cores_steady"] or r["sim_cpu_cores_round"]
        echo = r["variant"] == "echo"  # no turns: the caller hears itself all along
        answers = "n/a" if echo else f"{_f(ans['p50'], '.2f')} / {_f(ans['p99'], '.2f')} s"
        out.append(
            f"| {r['variant']} | {r['calls']} | {_f(lag['p50'], '.0f')} / {_f(lag['p99'], '.0f')} / "
            f"{_f(lag['max'], '.0f')} ms | {_f(loop['p99'], '.0f')} / {_f(loop['max'], '.0f')} ms "
            f"| {answers} "
            f"| {r['sim_procs']} proc, {_f(sim_cpu, '.2f')} cores, "
            f"{_f(r['sim_loop_lag_ms']['p99'], '.0f')} ms "
            f"| {_f(other and max(0.0, other), '.2f')} cores |"
        )
    return "\n".join(out)


def machine_note() -> str:
    model = "unknown CPU"
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
        f"Python {platform.python_version()}, pipecat-ai {version('pipecat-ai')}, "
        f"bwserial {version('bwserial')}, onnxruntime {version('onnxruntime')}"
    )


def write_json(path: str, data: dict[str, Any]) -> None:
    Path(path).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


async def orchestrate(args: argparse.Namespace) -> int:
    quiet_logging()
    # SIGTERM/SIGINT cancel the run, so every round's finally block stops its processes.
    main_task = asyncio.current_task()
    assert main_task is not None
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, main_task.cancel)
    logdir = Path(tempfile.mkdtemp(prefix="bwserial-load-"))
    started = time.monotonic()
    rows: list[dict[str, Any]] = []
    failed = False
    print(f"load: {machine_note()}")
    print(
        f"load: calls {args.calls}, {args.seconds:g} s each, bots {args.variants}; logs in {logdir}",
        flush=True,
    )
    interrupted = False
    for variant, n in itertools.product(args.variants, args.calls):
        if interrupted:
            break
        t = time.monotonic()
        try:
            row = await run_round(variant, n, args, logdir)
        except asyncio.CancelledError:
            failed = interrupted = True
            print(f"load: interrupted during round {variant} x {n}", flush=True)
            continue
        except Exception as e:
            failed = True
            print(f"load: round {variant} x {n} FAILED: {type(e).__name__}: {e}", flush=True)
            continue
        rows.append(row)
        print(
            f"load: {variant} x {n}: {row['completed']}/{n} completed, "
            f"{row['hung_up']} hung up, {row['errors']} errors, "
            f"frames {row['frames_read']}/{row['frames_sent']} read, gaps {row['gaps']}, "
            f"bot CPU {_f(row['bot_cpu_cores_steady'], '.2f')} cores, "
            f"RSS/call {row['rss_per_call_mb']:.2f} MB "
            f"({time.monotonic() - t:.0f} s)",
            flush=True,
        )
        other = row["other_cpu_cores_steady"]
        if other is not None and other > 0.25:
            print(
                f"load:   WARNING: other processes used {other:.2f} cores during the "
                "round; its figures understate what this machine can do",
                flush=True,
            )
        if row["error_samples"]:
            print(f"load:   errors: {row['error_samples']}", flush=True)
    total = time.monotonic() - started
    if rows:
        print()
        print(tables(rows))
    print(f"\nload: total runtime {total:.0f} s")
    if args.json:
        write_json(
            args.json,
            {
                "machine": machine_note(),
                "argv": sys.argv[1:],
                "runtime_secs": total,
                "rounds": rows,
            },
        )
        print(f"load: wrote {args.json}")
    short = any(r["completed"] < r["calls"] or r["gaps"] or r["bad_messages"] for r in rows)
    if not failed and not args.keep_logs:
        shutil.rmtree(logdir, ignore_errors=True)
    elif failed:
        print(f"load: logs kept in {logdir}")
    if interrupted:
        return 130
    return 1 if failed or (short and args.strict) else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--calls",
        type=int,
        nargs="+",
        default=[50, 100, 200],
        help="concurrent calls per round (default: 50 100 200)",
    )
    parser.add_argument(
        "--seconds", type=float, default=60.0, help="length of each call (default: 60)"
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 5 calls of 10 s")
    parser.add_argument(
        "--variants",
        nargs="+",
        choices=VARIANTS,
        default=list(DEFAULT_VARIANTS),
        help="bots to measure: silero (the demo), energy (the demo with an "
        "RMS VAD instead of Silero), echo (no Pipecat pipeline: bwserial "
        "alone); default: silero echo",
    )
    parser.add_argument(
        "--sim-procs",
        type=int,
        default=None,
        help="simulator processes (default: one per 100 calls, at most one per CPU)",
    )
    parser.add_argument(
        "--ramp",
        type=float,
        default=None,
        help="seconds over which call starts are spread (default: 25 ms a call, at most 5 s)",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=None,
        help="wait up to this long before each round for other processes to "
        "go quiet (default: 30 s, 3 s with --quick)",
    )
    parser.add_argument("--json", help="also write every figure to this JSON file")
    parser.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 unless every call completed with no gap and no bad message",
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep the child processes' logs")
    parser.add_argument("--role", choices=("bot", "sim"), help=argparse.SUPPRESS)
    parser.add_argument("--job", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.role:
        job = json.loads(args.job)
        start_watchdog(job["watchdog"], args.role)
        quiet_logging()
        if args.role == "bot" and os.environ.get(PROFILE_ENV):
            import cProfile

            with cProfile.Profile() as profile:  # slows the bot: for where, not how much
                asyncio.run(bot_process(job))
            profile.dump_stats(f"{os.environ[PROFILE_ENV]}.{job['variant']}.pstats")
        elif args.role == "bot":
            asyncio.run(bot_process(job))
        else:
            asyncio.run(sim_process(job))
        return 0
    if args.quick:
        args.calls, args.seconds = [5], 10.0
    if args.quiet_wait is None:
        args.quiet_wait = 3.0 if args.quick else 30.0
    if any(n < 1 for n in args.calls) or not args.seconds > 0:
        parser.error("--calls must be >= 1 and --seconds > 0")
    return asyncio.run(orchestrate(args))


if __name__ == "__main__":
    sys.exit(main())
