"""The demo bot as a FastAPI app: Bandwidth's call webhook and the media-stream WebSocket.

Two endpoints, in the order Bandwidth uses them:

``POST /bandwidth/initiate``
    Bandwidth's Voice webhook (HTTP Basic auth). The body is the trusted source of the
    call's identity, so the answer's ``<StartStream destination>`` URL carries that
    identity in a signed, expiring token.

``WebSocket /ws?token=...``
    The stream Bandwidth opens. The token (and the stream's Basic credentials) are
    checked before anything runs; then the bot runs on the socket until it hangs up.

Run it with uvicorn, configured by ``BWSERIAL_DEMO_*`` environment variables (see
:mod:`.settings`); any number of workers, as long as they share the token secret::

    BWSERIAL_DEMO_TOKEN_SECRET=... uvicorn --workers 4 --factory bwserial.demo.app:create_app

or in-process with :func:`bwserial.testing.server.serve`, as ``bwserial demo`` does.
"""

from __future__ import annotations

from fastapi import FastAPI, Request, Response, WebSocket
from fastapi.responses import JSONResponse
from loguru import logger

from bwserial.demo.auth import REALM, basic_auth_ok
from bwserial.demo.bxml import stream_bxml
from bwserial.demo.calls import CallLog
from bwserial.demo.handshake import (
    CLOSE_NO_START,
    Refused,
    authenticate,
    close_quietly,
    read_start,
    refuse,
)
from bwserial.demo.session import run_call
from bwserial.demo.settings import DemoSettings
from bwserial.demo.tokens import sign_stream_token
from bwserial.demo.webhook import STREAMING_EVENTS, InvalidCallEvent, parse_call_event

__all__ = ["INITIATE_PATH", "STREAM_PATH", "create_app", "stream_url"]

INITIATE_PATH = "/bandwidth/initiate"
STREAM_PATH = "/ws"


def stream_url(public_url: str | None, request: Request, token: str) -> str:
    """The ``destination`` for ``<StartStream>``: this app's ``/ws`` with the token.

    Without ``public_url`` the webhook request's own scheme and host are used, so the
    stream goes wherever Bandwidth reached the webhook (``https`` becomes ``wss``).
    """
    base = public_url or f"{request.url.scheme}://{request.url.netloc}"
    scheme, sep, rest = base.partition("://")
    ws_scheme = {"http": "ws", "https": "wss"}.get(scheme, scheme)
    return f"{ws_scheme}{sep}{rest}{STREAM_PATH}?token={token}"


def create_app(settings: DemoSettings | None = None, calls: CallLog | None = None) -> FastAPI:
    """Build the demo bot's app; ``calls`` collects a record of each call that ends.

    Without ``settings``, they are read from the environment (``DemoSettings.from_env``).
    """
    settings = settings if settings is not None else DemoSettings.from_env()
    log = calls if calls is not None else CallLog()
    app = FastAPI(title="bwserial demo bot", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.calls = log

    @app.post(INITIATE_PATH)
    async def initiate(request: Request) -> Response:
        if not basic_auth_ok(
            request.headers.get("authorization"),
            settings.webhook_username,
            settings.webhook_password,
        ):
            return Response(status_code=401, headers={"WWW-Authenticate": f'Basic realm="{REALM}"'})
        try:
            event = parse_call_event(await request.json())
        except ValueError as e:  # undecodable JSON, or not a call event
            reason = str(e) if isinstance(e, InvalidCallEvent) else "the body is not JSON"
            return JSONResponse({"error": reason}, status_code=400)
        if event.event_type not in STREAMING_EVENTS:
            logger.info(f"demo bot: ignoring {event.event_type!r} for call {event.call_id}")
            return Response(status_code=204)
        token = sign_stream_token(
            settings.token_secret.get_secret_value(),
            event.call_id,
            event.account_id,
            settings.token_ttl_secs,
        )
        bxml = stream_bxml(
            stream_url(settings.public_url, request, token), auth=settings.stream_auth()
        )
        logger.info(f"demo bot: answering call {event.call_id} with a bidirectional stream")
        return Response(content=bxml, media_type="application/xml")

    @app.websocket(STREAM_PATH)
    async def media_stream(websocket: WebSocket) -> None:
        identity = authenticate(websocket, settings)
        if isinstance(identity, Refused):
            await refuse(websocket, identity)
            return
        await websocket.accept()
        start = await read_start(websocket, settings.start_timeout_secs)
        if start is None:
            logger.warning(f"demo bot: call {identity.call_id}: no valid start message")
            await close_quietly(websocket, CLOSE_NO_START, "expected a start message")
            return
        if start.started.call_id != identity.call_id:
            logger.warning(
                f"demo bot: start message claims call {start.started.call_id!r}; the token "
                f"says {identity.call_id!r}, which is the one used"
            )
        record = await run_call(websocket, identity, start.started, start.text, settings)
        log.add(record)
        logger.info(
            f"demo bot: call {record.call_id} over ({record.end_reason}): {record.answers} "
            f"answer(s), {record.interruptions} interruption(s), hung up: {record.hung_up}"
        )

    return app
