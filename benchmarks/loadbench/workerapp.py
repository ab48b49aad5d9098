"""One bot worker of the fleet round: ``uvicorn --factory loadbench.workerapp:create_app``.

A :class:`bwserial.runner.BandwidthRunner` app, as a deployment would run it behind a
load balancer: the call webhook, the keypad-digit webhook and the media stream, with the
call registry from ``BWSERIAL_CALL_REGISTRY_URL`` (Redis, shared by every worker). Each
call's pipeline is ``transport.input() -> KeyBot -> transport.output()``: the bot counts
the caller's audio frames that reach it and the digits, in order, and hands the caller
to a person (a ``TransferFrame``) on ``0``. ``GET /bench/calls`` lists what each ended
call saw, for the orchestrator to check against what it sent.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from fastapi import FastAPI, Request, Response, WebSocket
from fastapi.responses import JSONResponse
from loguru import logger
from pipecat.frames.frames import Frame, InputAudioRawFrame, InputDTMFFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams

from bwserial.config import InputParams
from bwserial.demo._compat import PipelineParams, PipelineTask, run_pipeline
from bwserial.demo.app import DTMF_PATH, INITIATE_PATH, STREAM_PATH
from bwserial.frames import TransferFrame
from bwserial.runner import BandwidthRunner, BasicAuth

WEBHOOK = BasicAuth("bandwidth", "load-webhook-password")
CALL_PATH = INITIATE_PATH
"""The demo's paths, which :class:`bwserial.demo.fleet.Worker` addresses."""
TRANSFER_KEY, TRANSFER_TO = "0", "+15550100000"


class KeyBot(FrameProcessor):
    """Where a bot's logic stands: counts audio frames and digits, transfers on ``0``."""

    def __init__(self) -> None:
        super().__init__(name="KeyBot")
        self.frames = 0
        self.frames_at_transfer: int | None = None
        self.digits = ""

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            self.frames += 1
            return  # nothing to say back: the round measures the inbound path
        if isinstance(frame, InputDTMFFrame):
            digit = str(frame.button.value)
            self.digits += digit
            if digit == TRANSFER_KEY and self.frames_at_transfer is None:
                self.frames_at_transfer = self.frames
                await self.push_frame(TransferFrame.to(TRANSFER_TO))
            return
        await self.push_frame(frame, direction)


def create_app() -> FastAPI:
    logger.remove()  # Pipecat's per-frame debug lines would be most of the CPU measured
    logger.add(sys.stderr, level="WARNING")
    env = os.environ
    runner = BandwidthRunner(
        token_secret=env["BENCH_TOKEN_SECRET"],
        client_id="load-client-id",
        client_secret="load-client-secret",
        webhook_auth=WEBHOOK,
        stream_auth=None,
        params=InputParams(
            oauth_token_url=env["BENCH_TOKEN_URL"],
            voice_api_base_url=env["BENCH_VOICE_API"],
            hangup_timeout_secs=10,
        ),
        dtmf_path=DTMF_PATH,
        stream_path=STREAM_PATH,
        start_timeout_secs=30.0,
    )
    calls: list[dict[str, Any]] = []
    app = FastAPI(lifespan=runner.lifespan)

    @app.get("/bench/pid")
    async def pid() -> Response:
        return JSONResponse({"pid": os.getpid()})

    @app.get("/bench/calls")
    async def ended() -> Response:
        return JSONResponse({"pid": os.getpid(), "calls": calls})

    @app.post(CALL_PATH)
    async def call(request: Request) -> Response:
        return await runner.answer_call(request)

    @app.post(DTMF_PATH)
    async def dtmf(request: Request) -> Response:
        return await runner.dtmf_event(request)

    @app.websocket(STREAM_PATH)
    async def ws(websocket: WebSocket) -> None:
        stream = await runner.accept_stream(
            websocket, transport_params=FastAPIWebsocketParams(audio_in_enabled=True)
        )
        if stream is None:
            return
        bot = KeyBot()
        async with stream:
            transport = stream.transport
            task = PipelineTask(
                Pipeline([transport.input(), bot, transport.output()]),
                params=PipelineParams(audio_in_sample_rate=8000, audio_out_sample_rate=8000),
                enable_rtvi=False,
            )
            stream.end_on_disconnect(task)
            await run_pipeline(task)
        calls.append(
            {
                "call_id": stream.call_id,
                "pid": os.getpid(),
                "frames": bot.frames,
                "frames_at_transfer": bot.frames_at_transfer,
                "serializer_frames_in": stream.serializer.context.frames_in,
                "gaps": stream.serializer.context.gaps,
                "digits": bot.digits,
            }
        )

    return app
