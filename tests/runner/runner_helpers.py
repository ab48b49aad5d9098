"""Shared pieces of the runner tests (imported directly; fixtures live in conftest.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request, Response, WebSocket

from bwserial.config import InputParams
from bwserial.runner import BandwidthRunner, BandwidthStream, BasicAuth
from bwserial.testing.fake_voice_api import FakeVoiceAPI

CLIENT_ID = "runner-client"
CLIENT_SECRET = "runner-client-secret"
SECRET = "runner-token-secret-of-32-bytes!"
WEBHOOK = BasicAuth("bandwidth", "webhook-password")
STREAM = BasicAuth("bandwidth-stream", "stream-password")
ACCOUNT_ID = "9900000"


@dataclass
class Served:
    """An app on 127.0.0.1 whose WebSocket endpoint only accepts (then ends) streams."""

    base_url: str
    runner: BandwidthRunner
    outcomes: list[Any] = field(default_factory=list)
    """What each accept_stream() returned, or the exception it raised."""
    streams: list[BandwidthStream] = field(default_factory=list)

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://")


Serve = Callable[..., Awaitable[Served]]


def runner_for(api: FakeVoiceAPI, **overrides: Any) -> BandwidthRunner:
    settings: dict[str, Any] = {
        "token_secret": SECRET,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "webhook_auth": WEBHOOK,
        "stream_auth": STREAM,
        "params": InputParams(
            oauth_token_url=api.token_url,
            voice_api_base_url=api.voice_api_base_url,
            hangup_timeout_secs=3,
        ),
        "start_timeout_secs": 1.0,
    }
    settings.update(overrides)
    return BandwidthRunner(**settings)


def app_for(served: Served, hold: Any = None) -> FastAPI:
    runner = served.runner
    app = FastAPI(lifespan=runner.lifespan)

    @app.post("/call")
    async def call(request: Request) -> Response:
        return await runner.answer_call(request)

    @app.get("/ready")
    async def ready(request: Request) -> Response:
        return await runner.ready(request)

    @app.post("/stream-events")
    async def events(request: Request) -> Response:
        return await runner.stream_event(request)

    @app.websocket("/ws/{token}")
    async def ws(websocket: WebSocket) -> None:
        try:
            stream = await runner.accept_stream(websocket)
        except BaseException as e:  # recorded, so a test can assert nothing escaped
            served.outcomes.append(e)
            raise
        served.outcomes.append(stream)
        if stream is None:
            return
        served.streams.append(stream)
        async with stream:
            if hold is not None:
                await hold(websocket)

    return app
