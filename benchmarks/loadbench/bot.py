"""The bot process: a Pipecat/FastAPI bot on 127.0.0.1, and what it measures about itself.

The seam: this process constructs every call's serializer itself, as
:func:`measured_serializer_class` (a subclass of ``BandwidthFrameSerializer`` defined
here), so nothing in bwserial or its demo is patched. The subclass adds, per call:

* the **CPU time** of every ``deserialize`` and ``serialize`` (``time.thread_time_ns``
  around the parent's call, minus the timer's own cost measured at start-up): CPU, not
  wall time, so a busy shared machine preempting the bot does not inflate it. The
  hang-up (``EndFrame``/``CancelFrame``: network waits) is not timed;
* the **frame lag**: when each caller frame reached the serializer, against the time it
  was due. The caller sends its schedule origin in ``start``'s ``streamParams``
  (``bench_t0_ns``, ``CLOCK_MONOTONIC``, which every process on the machine shares), so
  frame *k* is due at ``t0 + (k - 1) x 20 ms``: the lag is end to end, the caller's own
  lateness included (the callers report theirs separately);
* the caller's ``stop``: the bot then ends the call as a real bot would (the pipeline's
  ``EndFrame``, which waits for the queued answer to play and hangs up through the
  Voice API).

Bots (``mode``):

``silero``
    The demo's pipeline: ``transport.input() -> VADProcessor(Silero) -> PromptBot ->
    transport.output()`` (one Silero model per call), built here the way
    ``bwserial.demo.session`` builds it.
``energy``
    The same pipeline with an RMS threshold VAD instead of Silero (no model).
``echo``
    No Pipecat pipeline: the serializer driven by hand as Pipecat's transport would,
    every caller frame deserialized and its audio sent straight back in 40 ms
    ``playAudio`` chunks. What is left is bwserial plus uvicorn's WebSocket I/O.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import statistics
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from fastapi import WebSocket  # at module level: FastAPI resolves the endpoint's annotation here
from loguru import logger

from .script import FRAME_NS, asset
from .stats import Histogram, watch_loop_lag

__all__ = ["BotStats", "bot_process", "measured_serializer_class"]

HOST = "127.0.0.1"
CLIENT_ID, CLIENT_SECRET = "load-client-id", "load-client-secret"
ACCOUNT_ID = "9900000"
START_TIMEOUT_SECS = 30.0
SPEECH_RMS = 32768 * 10 ** (-40 / 20)
"""The energy VAD's threshold: -40 dBFS, where the caller script's turns are cut."""


def timer_bias_ns(clock: Callable[[], int] = time.thread_time_ns) -> int:
    """What one pair of clock reads adds to a timed span (median of many)."""
    deltas = []
    for _ in range(2001):
        a = clock()
        deltas.append(clock() - a)
    return int(statistics.median(deltas))


class BotStats:
    """Everything the bot process measures; reset just before the callers start."""

    def __init__(self) -> None:
        self.timer_bias = timer_bias_ns()
        self.reset()

    def reset(self) -> None:
        self.deserialize = Histogram(100, 10_000_000)  # CPU ns, 0.1 us buckets up to 10 ms
        self.serialize = Histogram(100, 10_000_000)
        self.construct = Histogram(1_000, 100_000_000)
        self.frame_lag = Histogram(1_000_000, 300_000_000_000)  # 1 ms buckets up to 300 s
        self.loop_lag = Histogram(1_000_000, 300_000_000_000)
        self.calls: list[dict[str, Any]] = []
        self.live: dict[str, Any] = {}
        """Serializers of the calls still running, by call id."""
        self.active = 0
        self.waiting = 0
        """Streams accepted whose ``start`` the bot has not read yet."""
        self.peak_active = 0
        self.cpu_at_reset = sum(os.times()[:2])
        self.t_reset = time.monotonic()

    def to_json(self) -> dict[str, Any]:
        running = [
            {
                "call_id": call_id,
                "end_reason": "still running",
                "live": True,
                "hung_up": False,
                **_counters(serializer),
            }
            for call_id, serializer in self.live.items()
        ]
        return {
            "calls": self.calls + running,
            "deserialize": self.deserialize.to_json(),
            "serialize": self.serialize.to_json(),
            "construct": self.construct.to_json(),
            "frame_lag": self.frame_lag.to_json(),
            "loop_lag": self.loop_lag.to_json(),
            "timer_bias_ns": self.timer_bias,
            "peak_active": self.peak_active,
            "active": self.active,
            "waiting": self.waiting,
            "cpu_secs": sum(os.times()[:2]) - self.cpu_at_reset,
            "wall_secs": time.monotonic() - self.t_reset,
        }


def _counters(serializer: Any) -> dict[str, int]:
    context = serializer.context
    return {
        "frames_in": context.frames_in,
        "frames_out": context.frames_out,
        "gaps": context.gaps,
        "duplicates": context.duplicates,
        "bad_messages": context.bad_messages,
    }


def measured_serializer_class(stats: BotStats) -> type:
    """``BandwidthFrameSerializer`` measuring its own CPU and lateness into ``stats``."""
    from pipecat.frames.frames import CancelFrame, EndFrame

    from bwserial import BandwidthFrameSerializer

    clock = time.thread_time_ns
    now = time.monotonic_ns

    class MeasuredSerializer(BandwidthFrameSerializer):  # type: ignore[misc]
        bench_t0_ns: int | None = None
        """Due time of the call's first media frame (set by the bot from ``start``)."""
        bench_on_stop: Callable[[], None] | None = None

        async def deserialize(self, data: str | bytes) -> Any:
            t0 = clock()
            frame = await super().deserialize(data)
            t1 = clock()
            stats.deserialize.add(t1 - t0 - stats.timer_bias)
            if frame is not None:
                ref = self.bench_t0_ns
                if ref is not None:
                    context = self.context
                    index = context.frames_in + context.gaps - 1
                    stats.frame_lag.add(now() - ref - index * FRAME_NS)
            elif self.bench_on_stop is not None and _is_stop(data):
                self.bench_on_stop()
            return frame

        async def serialize(self, frame: Any) -> Any:
            if isinstance(frame, EndFrame | CancelFrame):
                return await super().serialize(frame)
            t0 = clock()
            message = await super().serialize(frame)
            stats.serialize.add(clock() - t0 - stats.timer_bias)
            return message

    return MeasuredSerializer


def _is_stop(data: str | bytes) -> bool:
    try:
        message = json.loads(data)
    except ValueError:
        return False
    return isinstance(message, dict) and message.get("eventType") == "stop"


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


class Bot:
    """Per-process state: the serializer class, the mode, and how to run one call."""

    def __init__(self, job: dict[str, Any], stats: BotStats) -> None:
        from bwserial.testing.wav import load_wav_as_pcm16

        self.job = job
        self.mode: str = job["mode"]
        self.rate: int = job["rate"]
        self.stats = stats
        self.serializer_class = measured_serializer_class(stats)
        self.prompt = load_wav_as_pcm16(asset("prompt.wav"), self.rate)
        self.vad_class: Any = None
        if self.mode == "silero":
            from pipecat.audio.vad.silero import SileroVADAnalyzer

            self.vad_class = SileroVADAnalyzer
            SileroVADAnalyzer()  # load the model files once before the clock starts
        elif self.mode == "energy":
            self.vad_class = energy_vad_class()

    def new_serializer(self, call_id: str, stream_id: str) -> Any:
        cls = self.serializer_class
        t0 = time.thread_time_ns()
        serializer = cls(
            stream_id=stream_id,
            call_id=call_id,
            account_id=ACCOUNT_ID,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            params=cls.InputParams(
                oauth_token_url=self.job["token_url"],
                voice_api_base_url=self.job["voice_api_base_url"],
            ),
        )
        self.stats.construct.add(time.thread_time_ns() - t0 - self.stats.timer_bias)
        return serializer

    async def handle(self, websocket: Any) -> None:
        await websocket.accept()
        self.stats.waiting += 1
        try:
            start_text = await asyncio.wait_for(websocket.receive_text(), START_TIMEOUT_SECS)
            metadata = json.loads(start_text)["metadata"]
            params = json.loads(start_text).get("streamParams") or {}
            call_id, stream_id = metadata["callId"], metadata["streamId"]
        except Exception as e:  # not a call the callers placed: refuse it loudly
            logger.warning(f"load bot: no valid start: {type(e).__name__}: {e}")
            with contextlib.suppress(Exception):
                await websocket.close(1008)
            return
        finally:
            self.stats.waiting -= 1
        stats = self.stats
        stats.active += 1
        stats.peak_active = max(stats.peak_active, stats.active)
        record: dict[str, Any] = {"call_id": call_id, "t_start": time.monotonic()}
        serializer = self.new_serializer(call_id, stream_id)
        serializer.bench_t0_ns = int(params["bench_t0_ns"]) if "bench_t0_ns" in params else None
        stats.live[call_id] = serializer
        try:
            await serializer.deserialize(start_text)
            if self.mode == "echo":
                record.update(await self.run_echo(websocket, serializer))
            else:
                record.update(await self.run_pipeline(websocket, serializer))
        except Exception as e:
            record["end_reason"] = f"error: {type(e).__name__}: {e}"[:200]
            logger.opt(exception=True).error(f"load bot: call {call_id} failed")
        finally:
            if not serializer.hung_up:
                await serializer.hang_up()
            with contextlib.suppress(Exception):
                await websocket.close(1000)
            stats.active -= 1
            stats.live.pop(call_id, None)
        record.update(t_end=time.monotonic(), hung_up=serializer.hung_up, **_counters(serializer))
        stats.calls.append(record)

    async def run_echo(self, websocket: Any, serializer: Any) -> dict[str, Any]:
        from pipecat.frames.frames import EndFrame, InputAudioRawFrame, OutputAudioRawFrame

        rate = self.rate
        chunk_bytes = rate * 2 * 40 // 1000
        stopped = False

        def on_stop() -> None:
            nonlocal stopped
            stopped = True

        serializer.bench_on_stop = on_stop
        await serializer.setup(_Rates(rate))
        pending = bytearray()
        end_reason = "stop"
        while not stopped:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                serializer.notify_socket_closed()
                end_reason = "caller closed without stop"
                break
            text = message.get("text")
            if text is None:
                continue
            frame = await serializer.deserialize(text)
            if isinstance(frame, InputAudioRawFrame):
                pending += frame.audio
                if len(pending) >= chunk_bytes:
                    out = await serializer.serialize(
                        OutputAudioRawFrame(audio=bytes(pending), sample_rate=rate, num_channels=1)
                    )
                    pending.clear()
                    if out:
                        await websocket.send_text(out)
        t_stop = time.monotonic()
        if stopped:
            await serializer.serialize(EndFrame())  # waits for the echo to play, hangs up
        return {"end_reason": end_reason, "t_stop_seen": t_stop, "answers": 0, "interruptions": 0}

    async def run_pipeline(self, websocket: Any, serializer: Any) -> dict[str, Any]:
        from pipecat.audio.vad.vad_analyzer import VADParams
        from pipecat.frames.frames import EndFrame
        from pipecat.pipeline.pipeline import Pipeline
        from pipecat.pipeline.worker import PipelineParams, PipelineWorker
        from pipecat.processors.audio.vad_processor import VADProcessor
        from pipecat.transports.websocket.fastapi import (
            FastAPIWebsocketParams,
            FastAPIWebsocketTransport,
        )
        from pipecat.workers.runner import WorkerRunner

        from bwserial.demo.bot import PromptBot

        rate = self.rate
        transport = FastAPIWebsocketTransport(
            websocket=websocket,
            params=FastAPIWebsocketParams(
                audio_in_enabled=True,
                audio_out_enabled=True,
                add_wav_header=False,
                serializer=serializer,
                audio_out_end_silence_secs=0,
            ),
        )
        # Never ends by itself: the caller's ``stop`` ends every call, so each call
        # runs its whole script whether or not the bot keeps up.
        bot = PromptBot(
            self.prompt, rate, turns=1_000_000, audible=serializer.playout_remaining_secs
        )
        vad = VADProcessor(
            vad_analyzer=self.vad_class(
                params=VADParams(confidence=0.7, start_secs=0.2, stop_secs=0.5)
            )
        )
        task = PipelineWorker(
            Pipeline([transport.input(), vad, bot, transport.output()]),
            params=PipelineParams(audio_in_sample_rate=rate, audio_out_sample_rate=rate),
            enable_rtvi=False,
        )
        loop = asyncio.get_running_loop()
        t_stop: float | None = None
        disconnected = False
        pending: set[asyncio.Task[Any]] = set()

        def on_stop() -> None:
            nonlocal t_stop
            if t_stop is None:
                t_stop = time.monotonic()
                end = loop.create_task(task.queue_frame(EndFrame()))
                pending.add(end)
                end.add_done_callback(pending.discard)

        serializer.bench_on_stop = on_stop

        @transport.event_handler("on_client_disconnected")  # type: ignore[untyped-decorator]
        async def on_client_disconnected(_transport: Any, _websocket: Any) -> None:
            nonlocal disconnected
            disconnected = True
            serializer.notify_socket_closed()
            await task.cancel()

        runner = WorkerRunner(handle_sigint=False)
        await runner.add_workers(task)
        await runner.run()
        if t_stop is not None:
            end_reason = "stop"
        elif disconnected:
            end_reason = "caller closed without stop"
        else:
            end_reason = "pipeline ended"
        return {
            "end_reason": end_reason,
            "t_stop_seen": t_stop,
            "answers": bot.answers,
            "interruptions": bot.interruptions,
        }


async def _serve(app: Any, stop: asyncio.Event) -> None:
    """uvicorn on a socket bound here (port known without parsing logs) until ``stop``."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, 0))
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
            backlog=4096,
            ws_max_queue=1024,
        )
    )
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if serving.done():
            serving.result()
            raise RuntimeError("uvicorn exited during start-up")
        await asyncio.sleep(0.01)
    print(json.dumps({"port": sock.getsockname()[1]}), flush=True)
    try:
        await stop.wait()
    finally:
        server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(serving), 5)
        except TimeoutError:
            serving.cancel()
        sock.close()


async def bot_process(job: dict[str, Any]) -> None:
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    from bwserial.audio import warm_up

    # A caller that gave up leaves the echo writing to a closed socket for a while:
    # asyncio would log every such write, a load of its own.
    logging.getLogger("asyncio").setLevel(logging.ERROR)
    warm_up()
    stats = BotStats()
    bot = Bot(job, stats)
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.websocket("/ws")
    async def media_stream(websocket: WebSocket) -> None:
        await bot.handle(websocket)

    @app.post("/bench/reset")
    async def bench_reset() -> JSONResponse:
        stats.reset()
        return JSONResponse({"ok": True})

    @app.get("/bench/stats")
    async def bench_stats() -> JSONResponse:
        return JSONResponse(stats.to_json())

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def wait_for_eof() -> None:  # the parent closes our stdin to stop us (or dies)
        with contextlib.suppress(Exception):
            sys.stdin.buffer.read()
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=wait_for_eof, name="load-bot-stdin", daemon=True).start()
    lag = asyncio.create_task(watch_loop_lag(lambda: stats.loop_lag))
    try:
        await _serve(app, stop)
    finally:
        lag.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await lag
