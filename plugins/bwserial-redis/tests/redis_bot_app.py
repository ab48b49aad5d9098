"""A BandwidthRunner bot for the uvicorn worker tests: each key press that reaches a call's
pipeline is appended to ``BOT_DIGITS`` as ``<pid> <call id> <digit>``.

The call registry comes from ``BWSERIAL_CALL_REGISTRY_URL``, as in a deployment;
``uvicorn --factory redis_bot_app:create_app``.
"""

from __future__ import annotations

import os

from bwserial.config import InputParams
from bwserial.demo._compat import PipelineParams, PipelineTask, run_pipeline
from bwserial.runner import BandwidthRunner, BasicAuth
from fastapi import FastAPI, Request, Response, WebSocket
from fastapi.responses import PlainTextResponse
from pipecat.frames.frames import Frame, InputDTMFFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams

WEBHOOK = BasicAuth("bandwidth", "webhook-password")
DTMF_PATH = "/bandwidth/dtmf"


class DigitLog(FrameProcessor):
    """Where a bot's logic would stand: writes each key press down."""

    def __init__(self, path: str, call_id: str) -> None:
        super().__init__(name="DigitLog")
        self._path = path
        self._call_id = call_id

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InputDTMFFrame):
            line = f"{os.getpid()} {self._call_id} {frame.button.value}\n"
            with open(self._path, "a", encoding="utf-8") as out:  # noqa: ASYNC230 - one line
                out.write(line)
        await self.push_frame(frame, direction)


def create_app() -> FastAPI:
    env = os.environ
    runner = BandwidthRunner(
        token_secret=env["BOT_TOKEN_SECRET"],
        client_id="client-id",
        client_secret="client-secret",
        webhook_auth=WEBHOOK,
        stream_auth=None,
        params=InputParams(
            oauth_token_url=env["BOT_TOKEN_URL"],
            voice_api_base_url=env["BOT_VOICE_API"],
            hangup_timeout_secs=3,
        ),
        dtmf_path=DTMF_PATH,
        start_timeout_secs=5.0,
        registration_ttl_secs=float(env.get("BOT_REGISTRATION_TTL", "30")),
    )
    digits = env["BOT_DIGITS"]
    app = FastAPI(lifespan=runner.lifespan)

    @app.get("/pid")
    async def pid() -> Response:
        return PlainTextResponse(str(os.getpid()))

    @app.post("/call")
    async def call(request: Request) -> Response:
        return await runner.answer_call(request)

    @app.post(DTMF_PATH)
    async def dtmf(request: Request) -> Response:
        return await runner.dtmf_event(request)

    @app.websocket("/ws/{token}")
    async def ws(websocket: WebSocket) -> None:
        stream = await runner.accept_stream(
            websocket, transport_params=FastAPIWebsocketParams(audio_in_enabled=True)
        )
        if stream is None:
            return
        async with stream:
            transport = stream.transport
            task = PipelineTask(
                Pipeline([transport.input(), DigitLog(digits, stream.call_id), transport.output()]),
                params=PipelineParams(audio_in_sample_rate=8000, audio_out_sample_rate=8000),
                enable_rtvi=False,
            )
            stream.end_on_disconnect(task)
            await run_pipeline(task)

    return app
