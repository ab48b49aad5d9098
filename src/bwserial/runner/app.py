"""``BandwidthRunner``: the Bandwidth-specific glue of a FastAPI bot, secure by default.

A Bandwidth bot has two endpoints and a lifespan. The call webhook (Basic auth) answers
with BXML that opens a bidirectional stream to the WebSocket endpoint, with the trusted
call identity signed into the stream URL and the stream's own Basic credentials; the
WebSocket endpoint checks both, reads ``start`` and builds the serializer and transport;
the lifespan makes sure no call is left up when the process stops. This class holds the
configuration those three share, so each endpoint is one call:

.. code-block:: python

    runner = BandwidthRunner(token_secret=..., client_id=..., client_secret=...,
                             webhook_auth=BasicAuth(...), stream_auth=BasicAuth(...))
    app = FastAPI(lifespan=runner.lifespan)

    @app.post("/call")
    async def call(request: Request) -> Response:
        return await runner.answer_call(request)

    @app.websocket("/ws/{token}")
    async def ws(websocket: WebSocket) -> None:
        stream = await runner.accept_stream(websocket, transport_params=...)
        if stream is None:
            return  # refused, or failed after authentication (and then hung up)
        async with stream:  # leaving it ends the phone call
            ...  # build and run the pipeline on stream.transport

Failure after authentication always ends the call named by the token: with
``<Pause>`` after ``<StartStream>`` it would otherwise stay up, silent, for a day.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import time
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any, Final

from bandwidth.models.bxml import Verb
from fastapi import Request, Response, WebSocket
from fastapi.responses import JSONResponse
from loguru import logger
from pydantic import SecretStr
from starlette.websockets import WebSocketState

from bwserial._log import escape, log_repeated
from bwserial.basic_auth import REALM, BasicAuth
from bwserial.calls import (
    DEFAULT_TTL_SECS,
    ENV_CALL_REGISTRY_URL,
    CallRegistry,
    CallSignal,
    Delivery,
    registry_from_url,
)
from bwserial.protocol import Malformed, StartEvent, parse
from bwserial.runner.bxml import stream_bxml, stream_destination
from bwserial.runner.calls import LiveCalls
from bwserial.runner.drain import CLOSE_DRAINING, SignalDrain, drain_secs_from_env
from bwserial.runner.dtmf import MAX_WEBHOOK_BYTES, digit_signal, start_gather
from bwserial.runner.stream import BandwidthStream
from bwserial.runner.tokens import (
    InvalidStreamToken,
    StreamIdentity,
    sign_stream_token,
    verify_stream_token,
)
from bwserial.runner.webhook import STREAMING_EVENTS, InvalidCallEvent, parse_call_event
from bwserial.types import HangupResult

if TYPE_CHECKING:
    from bwserial.config import InputParams
    from bwserial.serializer import BandwidthFrameSerializer

__all__ = [
    "CLOSE_DRAINING",
    "CLOSE_NO_START",
    "CLOSE_POLICY_VIOLATION",
    "CLOSE_SHUTTING_DOWN",
    "BandwidthRunner",
]

CLOSE_POLICY_VIOLATION: Final = 1008
"""Refused: bad token or stream credentials."""
CLOSE_NO_START: Final = 1002
"""Protocol error: no valid ``start`` came first."""
CLOSE_SHUTTING_DOWN: Final = 1012
"""Service restart: the process is shutting down."""
UNSTARTED_STREAM_ID: Final = "unstarted"
"""The serializer of a stream that never sent a valid ``start`` needs some stream id."""
_SHUTDOWN_SLACK_SECS: Final = 2.0
_DRAIN_POLL_SECS: Final = 0.05
DRAIN_RETRY_AFTER_SECS: Final = 1
"""The ``Retry-After`` of a call webhook refused while draining."""
_OVER: Final = frozenset({"ended", "left", "disabled"})


class BandwidthRunner:
    """The shared configuration and live-call registry of one Bandwidth bot app.

    Args:
        token_secret: Signs the stream tokens: at least 16 bytes, the same value on
            every worker process.
        client_id: OAuth client id for the Voice API hang-up.
        client_secret: Its secret.
        webhook_auth: The Basic credentials of your voice application's callbacks.
            Required by name: None turns the check off (only behind another gate).
        stream_auth: ``destinationUsername``/``destinationPassword`` put in the BXML and
            required on the WebSocket upgrade. None: the token alone guards the stream.
        params: ``BandwidthFrameSerializer.InputParams`` for every call's serializer
            (``accept_stream`` can override per call).
        plugins: In-process plugins for every call's serializer (its ``plugins``;
            ``accept_stream`` can override per call).
        public_url: Base URL Bandwidth reaches this app at (``https://bot.example.com``).
            None: each webhook request's own scheme and host (right on loopback and
            behind a proxy that forwards ``Host`` and ``X-Forwarded-Proto``).
        stream_path: The WebSocket route; ``{token}`` marks where the token goes,
            otherwise it is sent as ``?token=``.
        stream_event_path: A route handled by :meth:`stream_event`. When set, the BXML
            asks Bandwidth to post stream status events there (with ``webhook_auth``):
            a ``mediaStreamRejected`` (the stream could not connect to any worker)
            hangs the call up. Bandwidth requires https for it.
        token_ttl_secs: How long after the webhook answer the stream may open.
        start_timeout_secs: How long an accepted stream may take to send ``start``.
        stream_start_timeout_secs: The webhook's safety net: hang up a call whose stream
            has not started in this process within this time. Only for one process
            (or sticky routing): with several workers the stream usually starts on
            another one, which this timer cannot see; use ``stream_event_path`` there.
            None (default): off.
        shutdown_timeout_secs: How long shutdown waits for hang-ups; default the
            serializer's ``hangup_timeout_secs`` plus 2 s.
        serializer_class: The class built per call: ``BandwidthFrameSerializer`` or a
            subclass with the same constructor.
        dtmf_path: A route handled by :meth:`dtmf_event`. When set, the answer BXML
            gathers keypad digits (``<StartGather dtmfUrl=...>`` with ``webhook_auth``)
            and each accepted stream registers its call, so every key press reaches
            that call's pipeline as an ``InputDTMFFrame``.
        call_registry: Where calls are registered and webhooks delivered
            (:mod:`bwserial.calls`); default an :class:`~bwserial.calls.InProcessCallRegistry`.
            Give a cross-process one when webhooks and streams may reach different
            workers. :meth:`lifespan` starts it and :meth:`shutdown` closes it.
        call_registry_url: Picks the registry by URL instead
            (:func:`~bwserial.calls.registry_from_url`): ``redis://redis:6379/0`` with
            ``bwserial-redis`` installed, ``memory://`` for the in-process one. Default
            the ``BWSERIAL_CALL_REGISTRY_URL`` environment variable; ``call_registry``
            wins over both.
        registration_ttl_secs: How long a call's registration outlives its holder
            (renewed every third of it while the call is up).
        drain_secs: When the worker is asked to stop (SIGTERM, SIGHUP, or
            :meth:`drain`), how long its live calls may go on before each is ended
            (what the bot is saying plays out, then the hang-up or transfer). None:
            ``BWSERIAL_DRAIN_SECS``, else 15 s. The platform must allow
            ``drain_secs + shutdown_timeout_secs`` (27 s by default) before it kills
            the process (docs/deployment.md).
        drain_transfer_to: Where a draining worker transfers the calls still up when
            ``drain_secs`` has passed (an E.164 number or a SIP URI, e.g. your human
            queue); None (default): they are hung up.
        drain_on_signals: Whether :meth:`lifespan` makes SIGTERM and SIGHUP drain the
            worker before the server stops (see :mod:`bwserial.runner.drain`).
    """

    def __init__(
        self,
        *,
        token_secret: str | SecretStr,
        client_id: str,
        client_secret: str | SecretStr,
        webhook_auth: BasicAuth | None,
        stream_auth: BasicAuth | None,
        params: InputParams | None = None,
        public_url: str | None = None,
        stream_path: str = "/ws/{token}",
        stream_event_path: str | None = None,
        token_ttl_secs: float = 300.0,
        start_timeout_secs: float = 10.0,
        stream_start_timeout_secs: float | None = None,
        shutdown_timeout_secs: float | None = None,
        serializer_class: type[BandwidthFrameSerializer] | None = None,
        dtmf_path: str | None = None,
        call_registry: CallRegistry | None = None,
        call_registry_url: str | None = None,
        registration_ttl_secs: float = DEFAULT_TTL_SECS,
        plugins: Sequence[object] = (),
        drain_secs: float | None = None,
        drain_transfer_to: str | None = None,
        drain_on_signals: bool = True,
    ) -> None:
        from bwserial.serializer import BandwidthFrameSerializer

        secret = (
            token_secret.get_secret_value() if isinstance(token_secret, SecretStr) else token_secret
        )
        sign_stream_token(secret, "probe", "probe", 1)  # a short secret fails here, not per call
        self._token_secret = SecretStr(secret)
        if not client_id or not client_secret:
            raise ValueError("client_id and client_secret are required (the Voice API hang-up)")
        self._client_id = client_id
        self._client_secret = (
            client_secret if isinstance(client_secret, SecretStr) else SecretStr(client_secret)
        )
        self.webhook_auth = webhook_auth
        self.stream_auth = stream_auth
        self.params = params if params is not None else BandwidthFrameSerializer.InputParams()
        self.plugins = tuple(plugins)
        if not self.params.auto_hang_up:
            raise ValueError(
                "the runner hangs calls up: InputParams(auto_hang_up=False) is refused"
            )
        if public_url is not None and not public_url.startswith(
            ("http://", "https://", "ws://", "wss://")
        ):
            raise ValueError(f"public_url must be an http(s) or ws(s) URL, got {public_url!r}")
        self.public_url = public_url.rstrip("/") if public_url else None
        self.stream_path = stream_path
        self.stream_event_path = stream_event_path
        for name, value in (
            ("token_ttl_secs", token_ttl_secs),
            ("start_timeout_secs", start_timeout_secs),
            ("stream_start_timeout_secs", stream_start_timeout_secs),
            ("shutdown_timeout_secs", shutdown_timeout_secs),
            ("registration_ttl_secs", registration_ttl_secs),
        ):
            if value is not None and not (value > 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be positive and finite, got {value}")
        self.token_ttl_secs = token_ttl_secs
        self.start_timeout_secs = start_timeout_secs
        self.stream_start_timeout_secs = stream_start_timeout_secs
        self.shutdown_timeout_secs = (
            shutdown_timeout_secs
            if shutdown_timeout_secs is not None
            else self.params.hangup_timeout_secs + _SHUTDOWN_SLACK_SECS
        )
        self.serializer_class = (
            serializer_class if serializer_class is not None else BandwidthFrameSerializer
        )
        self.calls = LiveCalls()
        """The calls this process holds (live streams, armed safety nets)."""
        if dtmf_path is not None and not dtmf_path.startswith("/"):
            raise ValueError(f"dtmf_path must be a route path starting with /, got {dtmf_path!r}")
        self.dtmf_path = dtmf_path
        if call_registry is not None and not isinstance(call_registry, CallRegistry):
            raise TypeError("call_registry must be a bwserial.calls.CallRegistry")
        if call_registry is None:
            url = call_registry_url or os.environ.get(ENV_CALL_REGISTRY_URL) or None
            call_registry = registry_from_url(url)
        self.call_registry: CallRegistry = call_registry
        """Where webhooks for live calls are delivered (:mod:`bwserial.calls`)."""
        self.registration_ttl_secs = registration_ttl_secs
        if drain_secs is None:
            drain_secs = drain_secs_from_env()
        elif not (drain_secs >= 0 and math.isfinite(drain_secs)):
            raise ValueError(f"drain_secs must be finite and not negative, got {drain_secs}")
        self.drain_secs = float(drain_secs)
        if drain_transfer_to is not None:
            from bwserial.call_control import check_transfer_target

            drain_transfer_to = check_transfer_target(drain_transfer_to)
        self.drain_transfer_to = drain_transfer_to
        self.drain_on_signals = drain_on_signals
        self._draining = False
        self._drain_task: asyncio.Future[None] | None = None
        self._hurry = asyncio.Event()

    def __repr__(self) -> str:
        return f"BandwidthRunner(stream_path={self.stream_path!r}, live={self.calls.live})"

    # ------------------------------------------------------------------ lifespan

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Any = None) -> AsyncIterator[None]:
        """FastAPI/Starlette lifespan: start the call registry (an unreachable one fails
        the app's start), warm the resampler up, and on shutdown hang up
        every call this process still holds before the pooled HTTP sessions close.

        ``FastAPI(lifespan=runner.lifespan)``; to combine with your own, enter it inside
        yours: ``async with runner.lifespan(app): yield``.
        """
        from bwserial.audio import warm_up

        try:
            await self.call_registry.start()  # an unreachable registry fails the start, clearly
        except BaseException:
            await self.call_registry.aclose()
            raise
        await asyncio.to_thread(warm_up)
        signals = SignalDrain(self.drain, self._hurry.set)
        if self.drain_on_signals:
            signals.install()
        try:
            yield
        finally:
            signals.uninstall()
            await self.shutdown()

    # ------------------------------------------------------------------ draining

    @property
    def draining(self) -> bool:
        """Whether this worker has begun draining (it accepts no new call)."""
        return self._draining

    async def ready(self, request: Request | None = None) -> Response:
        """The readiness route a load balancer polls: 200 while this worker accepts
        calls, 503 once it drains. The body says which, and how many calls it holds.

        ``@app.get("/ready")`` then ``return await runner.ready(request)``.
        """
        ready = not self._draining and not self.calls.closing
        return JSONResponse(
            {"ready": ready, "live_calls": self.calls.live},
            status_code=200 if ready else 503,
        )

    async def drain(self) -> None:
        """Stop taking calls, let live ones go on for up to ``drain_secs``, then end
        each one still up the way its pipeline would (see
        :meth:`BandwidthStream.wind_down`), within the hang-up deadline.

        Returns when every call this worker held is over, or its failure was logged
        (at most ``drain_secs + shutdown_timeout_secs``). Idempotent: a second caller
        waits for the same drain. The SIGTERM/SIGHUP handler calls it; call it
        yourself before stopping a server that is not uvicorn.
        """
        if self._drain_task is None:
            self._draining = True
            self._drain_task = asyncio.ensure_future(self._drain())
        await asyncio.shield(self._drain_task)

    async def _drain(self) -> None:
        started = time.monotonic()
        live = self.calls.live
        logger.info(
            f"bwserial: draining: not ready; {live} live call(s) may go on for up to "
            f"{self.drain_secs:g} s"
        )
        if live and self.drain_secs > 0:
            waits = {
                asyncio.ensure_future(self.calls.wait_empty(self.drain_secs)),
                asyncio.ensure_future(self._hurry.wait()),
            }
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in waits:
                    task.cancel()
        remaining = [s for s in self.calls.serializers() if s.hangup_state not in _OVER]
        if not remaining:
            logger.info(
                f"bwserial: drained in {time.monotonic() - started:.1f} s: every call ended"
            )
            return
        verb = f"transferring to {self.drain_transfer_to}" if self.drain_transfer_to else "ending"
        logger.info(f"bwserial: drain time over; {verb} {len(remaining)} call(s)")
        endings: set[asyncio.Future[object]] = set()
        for serializer in remaining:
            stream = self.calls.stream_of(serializer)
            if stream is not None:  # concurrently: an app's on_drain may take its time
                endings.add(asyncio.ensure_future(stream.wind_down(self.drain_transfer_to)))
            else:
                self.calls.spawn(serializer.call_id or "?", serializer.hang_up(graceful=True))
        try:
            await _wait_over(remaining, self.params.hangup_timeout_secs)
        finally:
            for ending in endings:
                ending.cancel()
        late = [s for s in remaining if s.hangup_state not in _OVER]
        if late:  # cut play-out waits short, retry failures, with the deadline's slack
            slack = max(0.5, self.shutdown_timeout_secs - self.params.hangup_timeout_secs)
            retries = {asyncio.ensure_future(s.hang_up()) for s in late}
            await asyncio.wait(retries, timeout=slack)
            for retry in retries:
                retry.cancel()
        for serializer in remaining:
            if serializer.hangup_state not in _OVER:
                logger.error(
                    f"Bandwidth call {escape(serializer.call_id or '?')}: not ended by the "
                    f"drain ({serializer.hangup_state}); the call may still be up"
                )
        logger.info(f"bwserial: drained in {time.monotonic() - started:.1f} s")

    async def shutdown(self) -> None:
        """Hang up every live or armed call (bounded by ``shutdown_timeout_secs``), then
        close the hang-up's pooled HTTP sessions and token cache. Called by :meth:`lifespan`."""
        from bwserial.voiceapi import aclose

        try:
            await self.calls.shutdown(self.shutdown_timeout_secs)
        finally:
            try:
                await self.call_registry.aclose()
            finally:
                await aclose()

    # ------------------------------------------------------------------ call webhook

    def webhook_authorized(self, request: Request) -> bool:
        """Whether the request carries the webhook's Basic credentials (True if none)."""
        auth = self.webhook_auth
        return auth is None or auth.check(request.headers.get("authorization"))

    @staticmethod
    def unauthorized() -> Response:
        """The 401 answer that asks for Basic credentials."""
        return Response(status_code=401, headers={"WWW-Authenticate": f'Basic realm="{REALM}"'})

    def sign(self, call_id: str, account_id: str) -> str:
        """A stream token for this call (see :func:`~bwserial.runner.sign_stream_token`)."""
        return sign_stream_token(
            self._token_secret.get_secret_value(), call_id, account_id, self.token_ttl_secs
        )

    def answer_bxml(
        self, base_url: str, call_id: str, account_id: str, *, extra_verbs: Sequence[Verb] = ()
    ) -> str:
        """The BXML for one call: its signed stream URL, the stream's credentials, the
        stream event URL if configured, ``<StartGather>`` if ``dtmf_path`` is set,
        ``extra_verbs``, and the ``<Pause>``."""
        base = self.public_url or base_url
        destination = stream_destination(base, self.stream_path, self.sign(call_id, account_id))
        scheme, sep, rest = base.rstrip("/").partition("://")
        http = {"ws": "http", "wss": "https"}.get(scheme, scheme)
        http_base = f"{http}{sep}{rest}"
        event_url = None
        if self.stream_event_path is not None:
            event_url = http_base + self.stream_event_path
        verbs = list(extra_verbs)
        if self.dtmf_path is not None:
            verbs.insert(0, start_gather(http_base + self.dtmf_path, self.webhook_auth))
        return stream_bxml(
            destination,
            auth=self.stream_auth,
            stream_event_url=event_url,
            event_auth=self.webhook_auth,
            extra_verbs=verbs,
        )

    async def answer_call(self, request: Request, *, extra_verbs: Sequence[Verb] = ()) -> Response:
        """The whole call webhook: 401 without the Basic credentials, 400 for a body that
        is not a call event, 204 for events that need no BXML, else the stream BXML.

        ``extra_verbs`` (``bandwidth.models.bxml`` verbs, e.g. ``StartGather``) go after
        ``<StartStream>``. With ``stream_start_timeout_secs`` set, arms the safety net.
        """
        if not self.webhook_authorized(request):
            return self.unauthorized()
        try:
            event = parse_call_event(await request.json())
        except ValueError as e:  # undecodable JSON, or not a call event
            reason = str(e) if isinstance(e, InvalidCallEvent) else "the body is not JSON"
            return JSONResponse({"error": reason}, status_code=400)
        if event.event_type not in STREAMING_EVENTS:
            return Response(status_code=204)
        if self._draining or self.calls.closing:
            # Bandwidth sends a failed call webhook to the application's fallback URL:
            # through the load balancer, that reaches a worker that is ready.
            logger.info(f"Bandwidth call {escape(event.call_id)}: refused, this worker is draining")
            return JSONResponse(
                {"error": "this worker is draining; try another"},
                status_code=503,
                headers={"Retry-After": str(DRAIN_RETRY_AFTER_SECS)},
            )
        base = f"{request.url.scheme}://{request.url.netloc}"
        bxml = self.answer_bxml(base, event.call_id, event.account_id, extra_verbs=extra_verbs)
        if self.stream_start_timeout_secs is not None:
            self.calls.arm(
                event.call_id,
                self.stream_start_timeout_secs,
                self._unstarted_hang_up(event.call_id, event.account_id),
            )
        logger.info(f"Bandwidth call {escape(event.call_id)}: answered with a stream")
        return Response(content=bxml, media_type="application/xml")

    async def stream_event(self, request: Request) -> Response:
        """The ``streamEventUrl`` endpoint: a ``mediaStreamRejected`` hangs the call up;
        ``mediaStreamStarted`` disarms this process's safety net. Answers 204."""
        if not self.webhook_authorized(request):
            return self.unauthorized()
        try:
            event = parse_call_event(await request.json())
        except ValueError:
            return JSONResponse({"error": "not a stream event"}, status_code=400)
        if event.event_type == "mediaStreamStarted":
            self.calls.disarm(event.call_id)
        elif event.event_type == "mediaStreamRejected":
            self.calls.disarm(event.call_id)
            logger.warning(
                f"Bandwidth call {escape(event.call_id)}: stream rejected "
                f"({escape(event.cause)}); hanging up"
            )
            self.calls.spawn(
                event.call_id, self._unstarted_hang_up(event.call_id, event.account_id)()
            )
        return Response(status_code=204)

    async def dtmf_event(self, request: Request) -> Response:
        """The ``dtmf`` webhook (``<StartGather dtmfUrl>``): one key press for a live call.

        401 without the Basic credentials; 413 for a body over
        :data:`~bwserial.runner.dtmf.MAX_WEBHOOK_BYTES`; 400 for a body that is not a
        ``dtmf`` event (not JSON, a callId outside the ID rule, a digit that is not
        0-9, * or #); else the digit goes to the call's holder through
        :attr:`call_registry` and the answer is 204. A call that is unknown or over
        (or whose holder died) gets 404, and a rate-limited log line; a holder whose
        queue is full gets 503. Nothing else happens for a refused request.
        """
        if not self.webhook_authorized(request):
            return self.unauthorized()
        body = await _read_capped(request, MAX_WEBHOOK_BYTES)
        if body is None:
            return JSONResponse(
                {"error": f"the body is larger than {MAX_WEBHOOK_BYTES} bytes"}, status_code=413
            )
        try:
            signal = digit_signal(json.loads(body))
        except ValueError as e:  # undecodable JSON, or not a dtmf event
            reason = str(e) if isinstance(e, InvalidCallEvent) else "the body is not JSON"
            return JSONResponse({"error": reason}, status_code=400)
        try:
            delivery = await self.call_registry.deliver(signal)
        except Exception as e:  # a registry outage: answered, logged, never raised
            log_repeated(
                ("bwserial-dtmf-registry", type(e).__name__),
                "ERROR",
                f"Bandwidth call {escape(signal.call_id)}: a digit could not be delivered "
                f"({type(e).__name__})",
                exception=e,
            )
            return JSONResponse({"error": "the call registry failed"}, status_code=503)
        if delivery is Delivery.DELIVERED:
            return Response(status_code=204)
        if delivery is Delivery.BUSY:
            log_repeated(
                "bwserial-dtmf-busy",
                "WARNING",
                f"Bandwidth call {escape(signal.call_id)}: too many digits waiting; one dropped",
            )
            return JSONResponse({"error": "too many digits waiting"}, status_code=503)
        log_repeated(
            "bwserial-dtmf-unknown",
            "WARNING",
            f"Bandwidth call {escape(signal.call_id)}: a digit for an unknown or ended call",
        )
        return JSONResponse({"error": "unknown or ended call"}, status_code=404)

    async def register_call(self, stream: BandwidthStream) -> None:
        """Register ``stream``'s call in :attr:`call_registry`, so webhooks reach its
        pipeline (``accept_stream`` does it when ``dtmf_path`` is set and it built the
        transport). Each digit is pushed from the transport's input as an
        ``InputDTMFFrame``, once the pipeline has started, in order; a failure to
        register is logged and the call goes on without digits."""
        transport = stream.transport
        if transport is None:
            raise ValueError("register_call() needs a stream with a transport")
        ready = asyncio.Event()
        closed = False

        async def on_connected(_transport: Any, _client: Any) -> None:
            ready.set()

        async def on_disconnected(_transport: Any, _client: Any) -> None:
            nonlocal closed
            closed = True

        transport.add_event_handler("on_client_connected", on_connected)
        transport.add_event_handler("on_client_disconnected", on_disconnected)
        start_timeout = self.start_timeout_secs

        async def handle(signal: CallSignal) -> None:
            if signal.kind != "dtmf":
                return
            from pipecat.audio.dtmf.types import KeypadEntry
            from pipecat.frames.frames import InputDTMFFrame

            if not ready.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ready.wait(), start_timeout)
            if closed or not ready.is_set() or stream.serializer.hung_up:
                log_repeated(
                    "bwserial-dtmf-late",
                    "WARNING",
                    f"Bandwidth call {escape(stream.call_id)}: a digit arrived while the "
                    "pipeline was not running; dropped",
                )
                return
            frame = InputDTMFFrame(button=KeypadEntry(signal.data["digit"]))
            await transport.input().push_frame(frame)

        try:
            registration = await self.call_registry.register(
                stream.call_id, handle, ttl_secs=self.registration_ttl_secs
            )
        except Exception as e:
            logger.error(
                f"Bandwidth call {escape(stream.call_id)}: cannot register the call "
                f"({type(e).__name__}: {escape(str(e), 200)}); its digits will not arrive"
            )
            return
        registration.keep_alive()
        stream.registration = registration

    # ------------------------------------------------------------------ the stream

    def serializer(
        self,
        identity: StreamIdentity,
        stream_id: str,
        params: InputParams | None = None,
        plugins: Sequence[object] | None = None,
    ) -> BandwidthFrameSerializer:
        """A serializer addressing the token's call (never the IDs ``start`` claims)."""
        return self.serializer_class(
            stream_id,
            call_id=identity.call_id,
            account_id=identity.account_id,
            client_id=self._client_id,
            client_secret=self._client_secret,
            params=params if params is not None else self.params,
            plugins=plugins if plugins is not None else self.plugins,
        )

    def authenticate(self, websocket: WebSocket, token: str | None = None) -> StreamIdentity | str:
        """The token's identity, or a short refusal reason (safe to send and log).

        The token is ``token``, else the ``token`` path parameter, else ``?token=``.
        """
        auth = self.stream_auth
        if auth is not None and not auth.check(websocket.headers.get("authorization")):
            return "invalid credentials"
        if token is None:
            token = websocket.path_params.get("token") or websocket.query_params.get("token", "")
        try:
            return verify_stream_token(self._token_secret.get_secret_value(), token or "")
        except InvalidStreamToken as e:
            return f"stream token {e.reason}"

    async def accept_stream(
        self,
        websocket: WebSocket,
        *,
        transport_params: Any = None,
        params: InputParams | None = None,
        token: str | None = None,
        plugins: Sequence[object] | None = None,
    ) -> BandwidthStream | None:
        """Accept a Bandwidth stream, Pipecat-runner style; None if it cannot run.

        Checks the stream's Basic credentials and signed token (refused: closed with
        1008, nothing else happens), reads ``start`` within ``start_timeout_secs``, and
        builds the serializer for the token's call (with ``params`` and ``plugins``, or
        the runner's), shown the ``start`` message. With
        ``transport_params`` (``FastAPIWebsocketParams``; copied, never modified) it
        also builds the ``FastAPIWebsocketTransport``. Works on a socket the caller
        already accepted (as Pipecat's development runner does).

        Any failure after the token is verified (media first, a ``start`` without
        ``callId``, a malformed or non-JSON first message, ``metadata`` not an object,
        a binary frame, nothing within the timeout, the socket closed first, a process
        shutting down) closes the socket and hangs up the token's call, waiting for
        the outcome, and returns None. Never raises ``Exception`` for anything the peer
        sends.
        """
        identity = self.authenticate(websocket, token)
        if isinstance(identity, str):
            log_repeated(
                "runner: refused stream", "WARNING", f"bwserial: refused a media stream: {identity}"
            )
            await _accept(websocket)
            await _close(websocket, CLOSE_POLICY_VIOLATION, identity)
            return None
        self.calls.disarm(identity.call_id)
        await _accept(websocket)
        if self._draining:
            # Bandwidth does not reconnect a refused stream: with <Pause> the call would
            # sit in silence, so it is hung up like any stream that cannot run.
            await _close(websocket, CLOSE_DRAINING, "draining: this worker takes no new calls")
            log_repeated(
                "runner: draining refused a stream",
                "WARNING",
                f"Bandwidth call {escape(identity.call_id)}: a new stream reached a draining "
                "worker; refused and hung up",
            )
            await self._hang_up(identity, UNSTARTED_STREAM_ID)
            return None
        start, text, reason = await _read_start(websocket, self.start_timeout_secs)
        if start is None or self.calls.closing:
            reason = "the server is shutting down" if start is not None else reason
            code = CLOSE_SHUTTING_DOWN if start is not None else CLOSE_NO_START
            await _close(websocket, code, "expected a start message" if start is None else reason)
            logger.warning(f"Bandwidth call {escape(identity.call_id)}: {reason}; hanging up")
            await self._hang_up(identity, UNSTARTED_STREAM_ID)
            return None
        started = start.started
        if started.call_id != identity.call_id:
            logger.warning(
                f"Bandwidth call {escape(identity.call_id)}: start claims call "
                f"{escape(started.call_id)}; the token's is used"
            )
        try:
            serializer = self.serializer(identity, started.stream_id, params, plugins)
        except Exception as e:  # an odd stream id from the wire, or the app's params
            logger.error(
                f"Bandwidth call {escape(identity.call_id)}: cannot build the serializer "
                f"({type(e).__name__}: {escape(str(e), 200)}); hanging up"
            )
            await _close(websocket, 1011, "stream setup failed")
            await self._hang_up(identity, UNSTARTED_STREAM_ID)
            return None
        self.calls.add(serializer)
        try:
            await serializer.deserialize(text)  # stream-started hooks, media format check
            transport = None
            if transport_params is not None:
                transport = _transport(websocket, transport_params, serializer)
        except Exception:
            logger.opt(exception=True).error(
                f"Bandwidth call {escape(identity.call_id)}: stream setup failed; hanging up"
            )
            await _close(websocket, 1011, "stream setup failed")
            await serializer.hang_up()
            self.calls.discard(serializer)
            return None
        stream = BandwidthStream(
            identity, started, text, serializer, transport, self.calls, websocket
        )
        self.calls.attach(stream)
        if self.dtmf_path is not None and transport is not None:
            await self.register_call(stream)
        return stream

    async def _hang_up(self, identity: StreamIdentity, stream_id: str) -> HangupResult | None:
        """Hang up a call that has no usable serializer of its own; never raises."""
        try:
            serializer = self.serializer(identity, stream_id)
        except Exception as e:  # only a broken configuration gets here
            logger.error(
                f"Bandwidth call {escape(identity.call_id)}: cannot hang up, the serializer "
                f"cannot be built ({type(e).__name__}); the call may stay up"
            )
            return None
        self.calls.add(serializer)
        try:
            return await serializer.hang_up()
        finally:
            self.calls.discard(serializer)

    def _unstarted_hang_up(self, call_id: str, account_id: str) -> Any:
        """A zero-argument coroutine function hanging up a call whose stream never ran."""
        identity = StreamIdentity(call_id, account_id, 0.0, "")

        async def hang_up() -> HangupResult | None:
            return await self._hang_up(identity, UNSTARTED_STREAM_ID)

        return hang_up


async def _wait_over(serializers: Sequence[BandwidthFrameSerializer], timeout_secs: float) -> None:
    """Wait until every one of ``serializers`` has ended its call, at most ``timeout_secs``."""
    # Polled: an ending may run through the pipeline (EndFrame), the serializer's
    # hang-up runner, or the app's own code; its state is the one thing they share.
    for _ in range(max(1, math.ceil(timeout_secs / _DRAIN_POLL_SECS))):
        if all(s.hangup_state in _OVER for s in serializers):
            return
        await asyncio.sleep(_DRAIN_POLL_SECS)


async def _read_capped(request: Request, limit: int) -> bytes | None:
    """The body, or None once it is longer than ``limit`` (the rest is never read)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def _accept(websocket: WebSocket) -> None:
    if websocket.client_state is WebSocketState.CONNECTING:
        with contextlib.suppress(Exception):
            await websocket.accept()


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    """Close with ``code``; a peer that already left is not an error."""
    with contextlib.suppress(Exception):
        await websocket.close(code=code, reason=reason)


async def _read_start(
    websocket: WebSocket, timeout_secs: float
) -> tuple[StartEvent | None, str, str]:
    """The first message if it is a valid ``start``: ``(event, text, "")``; else
    ``(None, "", reason)``. Never raises for anything the peer does."""
    try:
        async with asyncio.timeout(timeout_secs):
            message = await websocket.receive()
    except TimeoutError:
        return None, "", f"no start message within {timeout_secs:g} s"
    except Exception:
        return None, "", "the socket closed before start"
    if message.get("type") != "websocket.receive":
        return None, "", "the socket closed before start"
    text = message.get("text")
    if not isinstance(text, str):
        return None, "", "a binary first message"
    event = parse(text)
    if isinstance(event, StartEvent):
        return event, text, ""
    if isinstance(event, Malformed):
        return None, "", f"malformed first message ({event.reason})"
    return None, "", f"first message was {type(event).__name__}, not start"


def _transport(websocket: WebSocket, transport_params: Any, serializer: Any) -> Any:
    from pipecat.transports.websocket.fastapi import FastAPIWebsocketTransport

    update: dict[str, Any] = {"serializer": serializer, "add_wav_header": False}
    if "audio_out_end_silence_secs" not in transport_params.model_fields_set:
        # The serializer already waits for queued audio before hanging up; Pipecat's
        # default 2 s of silence after an EndFrame would only be dead air.
        update["audio_out_end_silence_secs"] = 0
    params = transport_params.model_copy(update=update)
    return FastAPIWebsocketTransport(websocket=websocket, params=params)
