"""The demo bot as a FastAPI app: Bandwidth's call webhook and the media-stream WebSocket.

Both endpoints and the lifespan are :class:`bwserial.runner.BandwidthRunner`'s, the
same public helper a real bot uses:

``POST /bandwidth/initiate``
    Bandwidth's Voice webhook (HTTP Basic auth). The body is the trusted source of the
    call's identity, so the answer's ``<StartStream destination>`` URL carries that
    identity in a signed, expiring token, and the stream's Basic credentials.

``POST /bandwidth/dtmf``
    Bandwidth's key-press webhook (same Basic auth), asked for by the answer's
    ``<StartGather>``: each digit reaches the call's pipeline as an ``InputDTMFFrame``,
    and the transfer key hands the caller to ``transfer_to``.

``WebSocket /ws?token=...``
    The stream Bandwidth opens. The token and credentials are checked before anything
    runs; a stream that fails after that (no valid ``start``) hangs its call up. Then
    the bot runs on the socket until it hangs up.

``GET /ready``
    The readiness route for a load balancer: 200 while the worker takes calls, 503
    once it drains.

On SIGTERM or SIGHUP the worker drains (``BWSERIAL_DRAIN_SECS``, docs/deployment.md):
the calls it holds go on, then each ends cleanly, before the server stops; the
lifespan hangs up any call still up when the server stops.
Run it with uvicorn, configured by ``BWSERIAL_DEMO_*`` environment variables (see
:mod:`.settings`); any number of workers, as long as they share the token secret and
the start safety net is off (``BWSERIAL_DEMO_STREAM_START_TIMEOUT_SECS=0``)::

    BWSERIAL_DEMO_TOKEN_SECRET=... uvicorn --workers 4 --factory bwserial.demo.app:create_app

or in-process with :func:`bwserial.testing.server.serve`, as ``bwserial demo`` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request, Response, WebSocket
from loguru import logger
from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams

from bwserial.demo.calls import CallLog
from bwserial.demo.session import CallObserver, call_params, call_plugins, run_call
from bwserial.demo.settings import DemoSettings
from bwserial.runner import BandwidthRunner, BasicAuth

__all__ = [
    "DTMF_PATH",
    "INITIATE_PATH",
    "READY_PATH",
    "STREAM_PATH",
    "create_app",
    "demo_runner",
]

INITIATE_PATH = "/bandwidth/initiate"
READY_PATH = "/ready"
DTMF_PATH = "/bandwidth/dtmf"
STREAM_PATH = "/ws"


def demo_runner(settings: DemoSettings, plugins: Sequence[object] = ()) -> BandwidthRunner:
    """The runner the demo's settings describe (``plugins``: in-process plugins of every
    call, e.g. an observer in tests; live objects, so not part of the settings)."""
    stream_auth = settings.stream_auth()
    return BandwidthRunner(
        token_secret=settings.token_secret,
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        webhook_auth=BasicAuth(settings.webhook_username, settings.webhook_password),
        stream_auth=BasicAuth(*stream_auth) if stream_auth is not None else None,
        params=call_params(settings),
        plugins=call_plugins(plugins),
        public_url=settings.public_url,
        stream_path=STREAM_PATH,
        token_ttl_secs=settings.token_ttl_secs,
        start_timeout_secs=settings.start_timeout_secs,
        stream_start_timeout_secs=settings.stream_start_timeout_secs or None,
        dtmf_path=DTMF_PATH,
        call_registry_url=(
            settings.call_registry_url.get_secret_value() if settings.call_registry_url else None
        ),
    )


def create_app(
    settings: DemoSettings | None = None,
    calls: CallLog | None = None,
    *,
    serializer_class: Any = None,
    plugins: Sequence[object] = (),
) -> FastAPI:
    """Build the demo bot's app; ``calls`` collects a record of each call that ends.

    Without ``settings``, they are read from the environment (``DemoSettings.from_env``).
    ``serializer_class`` replaces ``BandwidthFrameSerializer`` (the load benchmark times it);
    ``plugins`` are in-process bwserial plugins for every call's serializer.
    """
    settings = settings if settings is not None else DemoSettings.from_env()
    log = calls if calls is not None else CallLog(settings.call_log_size)
    runner = demo_runner(settings, plugins)
    if serializer_class is not None:
        runner.serializer_class = serializer_class
    app = FastAPI(
        title="bwserial demo bot",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=runner.lifespan,
    )
    app.state.settings = settings
    app.state.calls = log
    app.state.runner = runner

    @app.post(INITIATE_PATH)
    async def initiate(request: Request) -> Response:
        return await runner.answer_call(request)

    @app.post(DTMF_PATH)
    async def dtmf(request: Request) -> Response:
        return await runner.dtmf_event(request)

    @app.get(READY_PATH)
    async def ready(request: Request) -> Response:
        return await runner.ready(request)

    @app.websocket(STREAM_PATH)
    async def media_stream(websocket: WebSocket) -> None:
        observer = CallObserver()
        stream = await runner.accept_stream(
            websocket,
            transport_params=FastAPIWebsocketParams(audio_in_enabled=True, audio_out_enabled=True),
            plugins=call_plugins(plugins, observer),
        )
        if stream is None:
            return  # refused, or failed after authentication and hung up
        record = await run_call(stream, settings, observer)
        log.add(record)
        logger.info(
            f"demo bot: call {record.call_id} over ({record.end_reason}): {record.answers} "
            f"answer(s), {record.interruptions} interruption(s), digits {record.digits!r}, "
            f"hung up: {record.hung_up}"
        )

    return app
