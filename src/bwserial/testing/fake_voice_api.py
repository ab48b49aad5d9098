"""A fake Bandwidth OAuth + Voice API server, so hang-up code can be tested without an account.

Bandwidth offers no sandbox that answers the call-update endpoint for a call that does not
exist, and a real account costs money and leaks credentials into CI. This fake speaks the
two endpoints the serializer uses (``POST /api/v1/oauth2/token`` and ``POST
/api/v2/accounts/{accountId}/calls/{callId}``) over real HTTP on 127.0.0.1, so the code
under test runs unmodified, and it lets a test script the failures that matter in
production: 429/503 with ``Retry-After``, expired tokens, latency, hangs and refused
connections. See PROTOCOL.md section 3 for the real API's behaviour it mirrors.

It also speaks what call control needs (docs/call-control.md):

* update-call-BXML (``PUT .../calls/{callId}/bxml``): each accepted document is parsed
  and recorded in :attr:`FakeVoiceAPI.bxml_updates` (its verbs, its ``<Transfer>``'s
  targets, ``transferCallerId`` and ``callTimeout``); :meth:`FakeVoiceAPI.wait_for_transfer`
  waits for one. When the new BXML ends the media stream (a ``<StopStream>``,
  ``<Transfer>`` or ``<Hangup>``: the verbs that take the call away from the bot), and
  when a hang-up succeeds, the call's :meth:`FakeVoiceAPI.stream_ended` event is set, so
  a simulated line can close its stream as Bandwidth would.
* create-call (``POST .../accounts/{accountId}/calls``): answers 201 with a new
  ``callId``, then, like Bandwidth when the callee picks up, POSTs the ``answer`` event
  to ``answerUrl`` (with Basic auth if the request gave ``username``/``password``) and
  records the BXML it got back and that BXML's ``<StartStream>`` destination in
  :attr:`FakeVoiceAPI.created_calls`; :meth:`FakeVoiceAPI.wait_for_answer` waits for it.

Usage with pytest (``asyncio_mode = "auto"``)::

    import pytest
    from bwserial import BandwidthFrameSerializer
    from bwserial.testing.fake_voice_api import FakeVoiceAPI, Response

    @pytest.fixture
    async def voice_api():
        async with FakeVoiceAPI(client_id="id", client_secret="secret") as api:
            yield api

    async def test_bot_hangs_up(voice_api):
        voice_api.script_call(Response(503, retry_after=0.1))  # the first try is refused
        serializer = BandwidthFrameSerializer(
            "stream-1", call_id="c-123", account_id="9900000",
            client_id="id", client_secret="secret",
            params=BandwidthFrameSerializer.InputParams(
                oauth_token_url=voice_api.token_url,
                voice_api_base_url=voice_api.voice_api_base_url,
            ),
        )
        ...  # run the bot until it ends the call
        hangup = await voice_api.wait_for_hangup(timeout=2)
        assert hangup.call_id == "c-123"
        assert [r.status for r in voice_api.call_requests] == [503, 200]
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import math
import secrets
import time
import urllib.parse
import xml.etree.ElementTree as ElementTree
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any, Final, Literal, Self, TypeVar

import aiohttp
from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from loguru import logger

from bwserial._log import escape
from bwserial.basic_auth import basic_auth_header, basic_auth_ok

__all__ = [
    "HANG",
    "STREAM_ENDING_VERBS",
    "WRONG_SERVER_404",
    "BxmlUpdate",
    "CreatedCall",
    "FakeVoiceAPI",
    "RecordedRequest",
    "Response",
    "TransferRecord",
]

TOKEN_PATH: Final = "/api/v1/oauth2/token"
"""Same path as ``https://api.bandwidth.com``, so only the host differs from production."""

VOICE_API_PREFIX: Final = "/api/v2"
"""Same prefix as ``https://voice.bandwidth.com``, so only the host differs from production."""

_REDACTED: Final = "<redacted>"
_SECRET_FORM_FIELDS: Final = frozenset({"client_secret", "password", "access_token"})

_T = TypeVar("_T")

EndpointKind = Literal["token", "call", "bxml", "create"]
"""``call``: the call update (hang-up); ``bxml``: update-call-BXML; ``create``: create-call."""

MAX_BXML_BYTES: Final = 64 * 1024
STREAM_ENDING_VERBS: Final = frozenset({"StopStream", "Transfer", "Hangup"})
"""Verbs that take the call away from the bot: a BXML update with one of them ends the
media stream in the fake. (Whether Bandwidth ends a ``<StartStream>`` stream for a
``<Transfer>`` without a ``<StopStream>`` is unconfirmed; the fake takes the reading
that a transfer leaves the bot, so both kinds of client pass.)"""


@dataclass(frozen=True, slots=True)
class Response:
    """One scripted answer, consumed by the next valid request to its endpoint.

    Scripted answers only replace the fake's normal answer to requests that pass the
    endpoint's checks (credentials, content type, body): a broken request still gets its
    400/401/415, so a script cannot hide a bug in the code under test.

    ``retry_after`` is sent as ``Retry-After``: a number is rendered in seconds (or, with
    ``retry_after_http_date``, as an HTTP-date that many seconds from now, rounded up to
    the next whole second because the date format has no fractions); a string is sent
    verbatim, to test how the client copes with a malformed header.
    """

    status: int = 200
    retry_after: float | str | None = None
    retry_after_http_date: bool = False
    delay: float = 0.0
    """Extra seconds to wait before this answer, on top of the endpoint's latency."""
    hang: bool = False
    """Never answer: the request stays open until the fake closes, then the socket drops."""
    body: dict[str, Any] | None = None
    """JSON body to send instead of the default (empty below 400, else a Bandwidth-style
    ``VoiceApiError``: ``{"type", "description", "id"}``)."""
    text: str | None = None
    """A raw body to send instead of JSON (with ``content_type``): what a server that is
    not Bandwidth's answers, e.g. an HTML 404 page."""
    content_type: str = "text/plain"
    """Content type of ``text``."""

    def retry_after_header(self) -> str | None:
        """Render ``Retry-After`` at answer time, so an HTTP-date is relative to the answer."""
        if self.retry_after is None:
            return None
        if isinstance(self.retry_after, str):
            return self.retry_after
        if self.retry_after_http_date:
            return email.utils.formatdate(math.ceil(time.time() + self.retry_after), usegmt=True)
        if float(self.retry_after).is_integer():
            return str(int(self.retry_after))
        return repr(float(self.retry_after))


HANG: Final = Response(hang=True)
"""Script this to make the next request hang: ``api.script_call(HANG)``."""

WRONG_SERVER_404: Final = Response(
    404, text="<html><body><h1>404 Not Found</h1></body></html>", content_type="text/html"
)
"""A 404 from a server that is not Bandwidth's Voice API (a wrong ``voice_api_base_url``):
``api.script_call(WRONG_SERVER_404)``. Bandwidth's own 404 (call not found) carries its
JSON error body, which the fake sends for ``Response(404)``."""


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as the fake saw it, with credentials redacted.

    ``headers["Authorization"]`` keeps only its scheme (``"Bearer <redacted>"``), so that
    a failing assertion that prints a record cannot leak a secret into CI logs. To check
    which token a call request carried, compare ``token_serial``: the 1-based number of
    the token the fake issued (``None`` for a token it never issued).
    """

    kind: EndpointKind
    method: str
    path: str
    account_id: str | None
    call_id: str | None
    headers: dict[str, str]
    body: Any
    """Parsed JSON, a form dict, the raw text if it parsed as neither, or None if empty."""
    status: int | None
    """Status answered; None while the request hangs, or if it was never answered."""
    received_at: float
    """``time.monotonic()`` when the request arrived, before any scripted latency."""
    answered_at: float | None = None
    token_serial: int | None = None
    """Token issued (token requests) or presented (call requests), numbered from 1."""


@dataclass(frozen=True, slots=True)
class TransferRecord:
    """The ``<Transfer>`` of a BXML update, as parsed by the fake."""

    targets: tuple[str, ...]
    """``<PhoneNumber>`` and ``<SipUri>`` texts, in document order."""
    caller_id: str | None
    """``transferCallerId``."""
    call_timeout: str | None
    """``callTimeout``, as written."""
    attributes: dict[str, str]
    """Every attribute of the ``<Transfer>`` element."""


@dataclass(frozen=True, slots=True)
class BxmlUpdate:
    """One update-call-BXML request the fake accepted (answered 2xx)."""

    account_id: str
    call_id: str
    bxml: str
    verbs: tuple[str, ...]
    """The ``<Response>``'s child element names, in order."""
    transfer: TransferRecord | None
    stop_streams: tuple[str, ...]
    """``name`` of each ``<StopStream>``."""
    received_at: float

    @property
    def ends_stream(self) -> bool:
        """Whether this BXML takes the call away from the bot (see STREAM_ENDING_VERBS)."""
        return bool(STREAM_ENDING_VERBS.intersection(self.verbs))


@dataclass(frozen=True, slots=True)
class CreatedCall:
    """A call placed through create-call, and what its answer webhook returned."""

    account_id: str
    call_id: str
    body: dict[str, Any]
    """The create-call request body (``password`` redacted)."""
    answer_status: int | None = None
    """Status of the answer webhook; None if it was not reached (see ``answer_error``)."""
    answer_bxml: str | None = None
    stream_url: str | None = None
    """The ``destination`` of the answer BXML's ``<StartStream>``: where to open the stream."""
    stream_name: str | None = None
    stream_params: dict[str, str] = field(default_factory=dict)
    """The ``<StreamParam>`` name/value pairs of that ``<StartStream>``."""
    answer_error: str | None = None


@dataclass(slots=True)
class _IssuedToken:
    serial: int
    expires_at: float


@dataclass(slots=True, repr=False)
class _State:
    """Everything that must survive refuse/accept cycles, kept apart from the server."""

    requests: list[RecordedRequest] = field(default_factory=list)
    tokens: dict[str, _IssuedToken] = field(default_factory=dict)
    completed_calls: set[str] = field(default_factory=set)
    token_script: deque[Response] = field(default_factory=deque)
    call_script: deque[Response] = field(default_factory=deque)
    bxml_script: deque[Response] = field(default_factory=deque)
    create_script: deque[Response] = field(default_factory=deque)
    bxml_updates: list[BxmlUpdate] = field(default_factory=list)
    created_calls: dict[str, CreatedCall] = field(default_factory=dict)
    stream_ended: dict[str, asyncio.Event] = field(default_factory=dict)


class FakeVoiceAPI:
    """An in-process Bandwidth OAuth + Voice API server on 127.0.0.1.

    By default every valid hang-up answers 200 and marks the call completed; hanging up a
    completed call answers ``completed_call_status`` (404, as Bandwidth does for a call
    that is no longer active; None keeps answering 200). Tokens are valid for
    ``token_lifetime`` seconds server-side (default: the advertised ``token_expires_in``),
    so a short lifetime exercises a client's refresh path without waiting an hour.
    ``account_id``, when given, makes every other account answer 403, the status for a
    client with no access to that account.
    """

    def __init__(
        self,
        client_id: str = "client-id",
        client_secret: str = "client-secret",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token_expires_in: Any = 3600,
        token_lifetime: float | None = None,
        latency: float = 0.0,
        account_id: str | None = None,
        completed_call_status: int | None = 404,
    ) -> None:
        self.client_id = client_id
        self._client_secret = client_secret
        self.host = host
        self._requested_port = port
        self._port: int | None = None
        self.token_expires_in = token_expires_in
        """``expires_in`` of issued tokens: any JSON value (a float, ``float("inf")``
        rendered as ``Infinity``, 0, a negative number) to test how a client copes."""
        self.token_status: int | None = None
        """When set, every valid token request answers this status (the token endpoint
        down: 503, 500...) until set back to None."""
        self.token_lifetime = token_lifetime
        self.token_latency = latency
        """Seconds every token request waits before it is looked at (mutable per test)."""
        self.call_latency = latency
        """Seconds every call request waits before it is looked at (mutable per test)."""
        self.account_id = account_id
        self.completed_call_status = completed_call_status
        self._state = _State()
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._closing = asyncio.Event()
        self._changed = asyncio.Event()
        self._in_flight: set[RequestHandler] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.answer_delay = 0.0
        """Seconds between answering create-call and POSTing the answer webhook
        (the callee's phone ringing; mutable per test)."""

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind and serve; the port is fixed from here on so URLs stay valid."""
        if self._runner is not None:
            raise RuntimeError("FakeVoiceAPI is already started")
        self._closing = asyncio.Event()
        app = web.Application(middlewares=[self._track_in_flight])
        app.router.add_post(TOKEN_PATH, self._handle_token)
        app.router.add_post(
            VOICE_API_PREFIX + "/accounts/{account_id}/calls/{call_id}", self._handle_call
        )
        app.router.add_put(
            VOICE_API_PREFIX + "/accounts/{account_id}/calls/{call_id}/bxml", self._handle_bxml
        )
        app.router.add_post(VOICE_API_PREFIX + "/accounts/{account_id}/calls", self._handle_create)
        # access_log=None: the default access log is not ours to vet for secrets.
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        self._runner = runner
        try:
            await self._listen(self._port if self._port is not None else self._requested_port)
        except BaseException:
            self._runner = None
            await runner.cleanup()
            raise
        logger.debug("FakeVoiceAPI listening on {}", self.base_url)

    async def close(self) -> None:
        """Stop serving; hanging and delayed requests are dropped without an answer."""
        runner, self._runner, self._site = self._runner, None, None
        if runner is None:
            return
        # Wake hanging handlers first, so aiohttp's graceful shutdown does not wait for them.
        self._closing.set()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await runner.cleanup()
        logger.debug("FakeVoiceAPI on port {} closed", self._port)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def refuse_connections(self) -> None:
        """Stop listening, so new connections are refused, keeping state and the port.

        Idle keep-alive connections are closed too, otherwise a client's connection pool
        would still reach the server. Requests already in progress (including hanging
        ones) carry on.
        """
        runner, site = self._require_running()
        if site is None:
            return
        self._site = None
        await site.stop()
        for connection in runner.server.connections if runner.server is not None else ():
            if connection in self._in_flight:
                connection.close()  # after its answer
            else:
                connection.force_close()
        # Give a client in this event loop the chance to see the EOF on its pooled
        # connections, so its next request connects (and is refused) instead of reusing one.
        await asyncio.sleep(0.01)
        logger.debug("FakeVoiceAPI on port {} refusing connections", self._port)

    async def accept_connections(self) -> None:
        """Listen again on the same port after :meth:`refuse_connections`."""
        _, site = self._require_running()
        if site is None:
            assert self._port is not None
            await self._listen(self._port)
            logger.debug("FakeVoiceAPI on port {} accepting connections", self._port)

    @property
    def listening(self) -> bool:
        """True while new connections are accepted."""
        return self._site is not None

    # -- URLs ------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port; raises before :meth:`start` since port 0 means "pick one"."""
        if self._port is None:
            raise RuntimeError("FakeVoiceAPI is not started")
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def token_url(self) -> str:
        """Drop-in for ``InputParams.oauth_token_url``."""
        return self.base_url + TOKEN_PATH

    @property
    def voice_api_base_url(self) -> str:
        """Drop-in for ``InputParams.voice_api_base_url``."""
        return self.base_url + VOICE_API_PREFIX

    def call_url(self, account_id: str, call_id: str) -> str:
        """The call-update URL the serializer is expected to build."""
        return f"{self.voice_api_base_url}/accounts/{account_id}/calls/{call_id}"

    # -- scripting -------------------------------------------------------------------------

    def script_token(self, *responses: Response | int) -> None:
        """Queue answers for the next valid token requests, then back to normal.

        A scripted 2xx issues a token as usual (only its delay or hang matters), since a
        token answer without a token is not something Bandwidth sends.
        """
        self._state.token_script.extend(_as_responses(responses))

    def script_call(self, *responses: Response | int) -> None:
        """Queue answers for the next valid call requests, then back to normal.

        A scripted 2xx counts as a successful hang-up (recorded in :attr:`hangups`, call
        marked completed) even if the call was already completed.
        """
        self._state.call_script.extend(_as_responses(responses))

    def script_bxml(self, *responses: Response | int) -> None:
        """Queue answers for the next valid update-call-BXML requests, then back to normal.

        A scripted 2xx is accepted like a normal one (recorded in :attr:`bxml_updates`).
        """
        self._state.bxml_script.extend(_as_responses(responses))

    def script_create(self, *responses: Response | int) -> None:
        """Queue answers for the next valid create-call requests, then back to normal.

        A scripted 2xx creates the call as usual (only its delay or hang matters).
        """
        self._state.create_script.extend(_as_responses(responses))

    def clear_scripts(self) -> None:
        """Drop queued answers that no request has consumed."""
        self._state.token_script.clear()
        self._state.call_script.clear()
        self._state.bxml_script.clear()
        self._state.create_script.clear()

    def expire_tokens(self) -> None:
        """Invalidate every token issued so far, as if they had all reached their expiry."""
        for token in self._state.tokens.values():
            token.expires_at = -math.inf

    def end_call(self, call_id: str) -> None:
        """Mark a call completed, as if the caller hung up first."""
        self._state.completed_calls.add(call_id)

    # -- inspection ------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, in arrival order (a copy)."""
        return list(self._state.requests)

    @property
    def token_requests(self) -> list[RecordedRequest]:
        return [r for r in self._state.requests if r.kind == "token"]

    @property
    def call_requests(self) -> list[RecordedRequest]:
        return [r for r in self._state.requests if r.kind == "call"]

    @property
    def hangups(self) -> list[RecordedRequest]:
        """Call requests that ended a call (answered 2xx)."""
        return [r for r in self.call_requests if r.status is not None and 200 <= r.status < 300]

    @property
    def bxml_requests(self) -> list[RecordedRequest]:
        """Every update-call-BXML request, answered or not."""
        return [r for r in self._state.requests if r.kind == "bxml"]

    @property
    def bxml_updates(self) -> list[BxmlUpdate]:
        """Update-call-BXML requests the fake accepted (2xx), parsed, in order (a copy)."""
        return list(self._state.bxml_updates)

    @property
    def transfers(self) -> list[BxmlUpdate]:
        """Accepted BXML updates that hold a ``<Transfer>``."""
        return [u for u in self._state.bxml_updates if u.transfer is not None]

    @property
    def created_calls(self) -> list[CreatedCall]:
        """Calls placed through create-call, in order, with their answer webhook's outcome."""
        return list(self._state.created_calls.values())

    def stream_ended(self, call_id: str) -> asyncio.Event:
        """An event set when the fake ends ``call_id``'s media stream.

        Set by a successful hang-up, or an accepted BXML update that takes the call
        away from the bot (:data:`STREAM_ENDING_VERBS`). A simulated line awaits it
        to close its WebSocket as Bandwidth would (then follow the transfer, if
        :meth:`wait_for_transfer` has one). Works before the call is known.
        """
        event = self._state.stream_ended.get(call_id)
        if event is None:
            event = self._state.stream_ended[call_id] = asyncio.Event()
        return event

    async def wait_for_transfer(
        self,
        call_id: str | None = None,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 - a default bound is the point of this helper
    ) -> BxmlUpdate:
        """Return the first accepted ``<Transfer>`` (of ``call_id`` if given), waiting for it.

        Raises ``TimeoutError`` after ``timeout`` seconds.
        """

        def found() -> BxmlUpdate | None:
            return next((u for u in self.transfers if call_id in (None, u.call_id)), None)

        return await self._wait_for(found, timeout)

    async def wait_for_answer(
        self,
        call_id: str | None = None,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 - a default bound is the point of this helper
    ) -> CreatedCall:
        """Return a placed call once its answer webhook has been POSTed (and answered).

        ``stream_url`` of the result is where to open the media stream. Raises
        ``TimeoutError`` after ``timeout`` seconds.
        """

        def found() -> CreatedCall | None:
            return next(
                (
                    c
                    for c in self._state.created_calls.values()
                    if call_id in (None, c.call_id)
                    and (c.answer_status is not None or c.answer_error is not None)
                ),
                None,
            )

        return await self._wait_for(found, timeout)

    @property
    def tokens_issued(self) -> int:
        return len(self._state.tokens)

    @property
    def completed_calls(self) -> frozenset[str]:
        return frozenset(self._state.completed_calls)

    async def wait_for_hangup(
        self,
        call_id: str | None = None,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 - a default bound is the point of this helper
    ) -> RecordedRequest:
        """Return the first successful hang-up (of ``call_id`` if given), waiting for it.

        Raises ``TimeoutError`` after ``timeout`` seconds, which keeps a broken bot from
        stalling the test suite.
        """

        def found() -> RecordedRequest | None:
            return next((h for h in self.hangups if call_id in (None, h.call_id)), None)

        return await self._wait_until(found, timeout)

    async def wait_for_request(
        self,
        kind: EndpointKind | None = None,
        *,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109 - a default bound is the point of this helper
    ) -> RecordedRequest:
        """Wait until ``count`` requests (of ``kind`` if given) have arrived; return the last.

        Useful to act while a request is in progress, e.g. one that a script makes hang:
        the record is returned on arrival, with ``status`` None until it is answered.
        """

        def found() -> RecordedRequest | None:
            seen = [r for r in self._state.requests if kind in (None, r.kind)]
            return seen[count - 1] if len(seen) >= count else None

        return await self._wait_until(found, timeout)

    async def _wait_until(
        self, found: Callable[[], RecordedRequest | None], seconds: float
    ) -> RecordedRequest:
        return await self._wait_for(found, seconds)

    async def _wait_for(self, found: Callable[[], _T | None], seconds: float) -> _T:
        async with asyncio.timeout(seconds):
            while (result := found()) is None:
                await self._changed.wait()
            return result

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def __repr__(self) -> str:
        # Deliberately hand-written: the secret and the tokens must never appear here.
        where = self.base_url if self._port is not None else "not started"
        return (
            f"FakeVoiceAPI({where}, client_id={self.client_id!r}, "
            f"listening={self.listening}, requests={len(self._state.requests)}, "
            f"tokens_issued={self.tokens_issued})"
        )

    # -- internals -------------------------------------------------------------------------

    def _require_running(self) -> tuple[web.AppRunner, web.TCPSite | None]:
        if self._runner is None:
            raise RuntimeError("FakeVoiceAPI is not started")
        return self._runner, self._site

    async def _listen(self, port: int) -> None:
        assert self._runner is not None
        site = web.TCPSite(self._runner, self.host, port)
        await site.start()
        self._site = site
        if self._port is None:
            self._port = int(self._runner.addresses[0][1])

    def _record(self, index: int, request: RecordedRequest) -> None:
        self._state.requests[index] = request
        # Swap in a fresh event so waiters wake once per change without busy-looping.
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    @web.middleware
    async def _track_in_flight(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """Know which connections are busy, so refusing can drop only the idle ones."""
        self._in_flight.add(request.protocol)
        try:
            return await handler(request)
        finally:
            self._in_flight.discard(request.protocol)

    async def _begin(
        self, request: web.Request, kind: EndpointKind
    ) -> tuple[int, RecordedRequest, bytes]:
        received_at = time.monotonic()
        raw = await request.read()
        record = RecordedRequest(
            kind=kind,
            method=request.method,
            path=request.path,
            account_id=request.match_info.get("account_id"),
            call_id=request.match_info.get("call_id"),
            headers=_redacted_headers(request),
            body=_parse_body(request.content_type, raw),
            status=None,
            received_at=received_at,
        )
        self._state.requests.append(record)
        index = len(self._state.requests) - 1
        self._record(index, record)
        return index, record, raw

    async def _wait(self, seconds: float) -> bool:
        """Sleep, but return True at once if the fake is closing (the answer is abandoned)."""
        if seconds <= 0:
            return self._closing.is_set()
        if math.isinf(seconds):
            await self._closing.wait()
            return True
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._closing.wait()
        return self._closing.is_set()

    async def _drop(self, request: web.Request) -> web.Response:
        """Close the socket without answering; aiohttp treats the write as a lost client."""
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=503)

    async def _answer(
        self,
        index: int,
        record: RecordedRequest,
        status: int,
        body: dict[str, Any] | None,
        *,
        headers: dict[str, str] | None = None,
        token_serial: int | None = None,
        text: str | None = None,
        content_type: str = "text/plain",
    ) -> web.Response:
        self._record(
            index,
            replace(record, status=status, answered_at=time.monotonic(), token_serial=token_serial),
        )
        logger.debug("FakeVoiceAPI {} {} -> {}", record.method, escape(record.path), status)
        if text is not None:
            return web.Response(
                status=status, headers=headers, text=text, content_type=content_type
            )
        if body is None:
            return web.Response(status=status, headers=headers)
        return web.json_response(body, status=status, headers=headers)

    async def _scripted(self, script: deque[Response]) -> Response | Literal["dropped"] | None:
        """Pop the next scripted answer and play its delay/hang; "dropped" if closing."""
        if not script:
            return None
        scripted = script.popleft()
        if await self._wait(scripted.delay) or (scripted.hang and await self._wait(math.inf)):
            return "dropped"
        return scripted

    async def _handle_token(self, request: web.Request) -> web.StreamResponse:
        index, record, raw = await self._begin(request, "token")
        if await self._wait(self.token_latency):
            return await self._drop(request)
        if not self._basic_auth_ok(request.headers.get("Authorization")):
            return await self._answer(index, record, 401, _oauth_error("invalid_client"))
        form = _parse_form(raw) if request.content_type.endswith("x-www-form-urlencoded") else {}
        if form.get("grant_type") != "client_credentials":
            error = _oauth_error("unsupported_grant_type")
            return await self._answer(index, record, 400, error)

        scripted = await self._scripted(self._state.token_script)
        if scripted == "dropped":
            return await self._drop(request)
        if scripted is None and self.token_status is not None:
            scripted = Response(self.token_status)
        if scripted is not None and not 200 <= scripted.status < 300:
            return await self._answer_scripted(index, record, scripted)

        token = "fake-" + secrets.token_urlsafe(24)
        serial = len(self._state.tokens) + 1
        if self.token_lifetime is not None:
            lifetime = self.token_lifetime
        elif isinstance(self.token_expires_in, int | float):
            lifetime = float(self.token_expires_in)
        else:
            lifetime = 3600.0
        self._state.tokens[token] = _IssuedToken(serial, time.monotonic() + lifetime)
        body = {"access_token": token, "expires_in": self.token_expires_in, "token_type": "Bearer"}
        return await self._answer(index, record, 200, body, token_serial=serial)

    async def _handle_call(self, request: web.Request) -> web.StreamResponse:
        index, record, _ = await self._begin(request, "call")
        if await self._wait(self.call_latency):
            return await self._drop(request)
        presented = self._bearer_token(request.headers.get("Authorization"))
        serial = presented.serial if presented is not None else None
        if presented is None or presented.expires_at <= time.monotonic():
            error = _voice_error(401, "The credentials are invalid or expired.")
            return await self._answer(index, record, 401, error, token_serial=serial)
        if self.account_id is not None and record.account_id != self.account_id:
            error = _voice_error(403, "No access to this account.")
            return await self._answer(index, record, 403, error, token_serial=serial)
        if request.content_type != "application/json":
            error = _voice_error(415, "Content-Type must be application/json.")
            return await self._answer(index, record, 415, error, token_serial=serial)
        if not isinstance(record.body, dict) or record.body.get("state") != "completed":
            error = _voice_error(400, 'Only {"state": "completed"} is supported by the fake.')
            return await self._answer(index, record, 400, error, token_serial=serial)

        scripted = await self._scripted(self._state.call_script)
        if scripted == "dropped":
            return await self._drop(request)
        assert record.call_id is not None
        if scripted is not None:
            if 200 <= scripted.status < 300:
                self._state.completed_calls.add(record.call_id)
            return await self._answer_scripted(index, record, scripted, serial)
        if record.call_id in self._state.completed_calls and self.completed_call_status:
            status = self.completed_call_status
            error = _voice_error(status, "The call is no longer active.")
            return await self._answer(index, record, status, error, token_serial=serial)
        self._state.completed_calls.add(record.call_id)
        self.stream_ended(record.call_id).set()
        # Bandwidth answers a successful call update with an empty body.
        return await self._answer(index, record, 200, None, token_serial=serial)

    async def _authorized(
        self, request: web.Request, index: int, record: RecordedRequest
    ) -> tuple[int | None, web.Response | None]:
        """The bearer token's serial, or the 401/403 answer to send instead."""
        presented = self._bearer_token(request.headers.get("Authorization"))
        serial = presented.serial if presented is not None else None
        if presented is None or presented.expires_at <= time.monotonic():
            error = _voice_error(401, "The credentials are invalid or expired.")
            return serial, await self._answer(index, record, 401, error, token_serial=serial)
        if self.account_id is not None and record.account_id != self.account_id:
            error = _voice_error(403, "No access to this account.")
            return serial, await self._answer(index, record, 403, error, token_serial=serial)
        return serial, None

    async def _handle_bxml(self, request: web.Request) -> web.StreamResponse:
        index, record, raw = await self._begin(request, "bxml")
        if await self._wait(self.call_latency):
            return await self._drop(request)
        serial, refused = await self._authorized(request, index, record)
        if refused is not None:
            return refused
        if request.content_type != "application/xml":
            error = _voice_error(415, "Content-Type must be application/xml.")
            return await self._answer(index, record, 415, error, token_serial=serial)
        parsed = _parse_bxml(raw)
        if isinstance(parsed, str):
            error = _voice_error(400, f"Invalid BXML: {parsed}")
            return await self._answer(index, record, 400, error, token_serial=serial)
        verbs, transfer, stops = parsed
        scripted = await self._scripted(self._state.bxml_script)
        if scripted == "dropped":
            return await self._drop(request)
        assert record.call_id is not None and record.account_id is not None
        if scripted is not None and not 200 <= scripted.status < 300:
            return await self._answer_scripted(index, record, scripted, serial)
        if scripted is None and record.call_id in self._state.completed_calls:
            status = self.completed_call_status or 404
            error = _voice_error(status, "The call is no longer active.")
            return await self._answer(index, record, status, error, token_serial=serial)
        update = BxmlUpdate(
            account_id=record.account_id,
            call_id=record.call_id,
            bxml=raw.decode("utf-8", "replace"),
            verbs=verbs,
            transfer=transfer,
            stop_streams=stops,
            received_at=record.received_at,
        )
        self._state.bxml_updates.append(update)
        if update.ends_stream:
            self.stream_ended(record.call_id).set()
        if "Hangup" in verbs:
            self._state.completed_calls.add(record.call_id)
        return await self._answer(index, record, 204, None, token_serial=serial)

    async def _handle_create(self, request: web.Request) -> web.StreamResponse:
        index, record, _ = await self._begin(request, "create")
        if await self._wait(self.call_latency):
            return await self._drop(request)
        serial, refused = await self._authorized(request, index, record)
        if refused is not None:
            return refused
        body = record.body
        if request.content_type != "application/json" or not isinstance(body, dict):
            error = _voice_error(415, "Content-Type must be application/json with an object.")
            return await self._answer(index, record, 415, error, token_serial=serial)
        missing = [k for k in ("from", "to", "applicationId", "answerUrl") if not body.get(k)]
        if missing:
            error = _voice_error(400, f"Missing {', '.join(missing)}.")
            return await self._answer(index, record, 400, error, token_serial=serial)
        scripted = await self._scripted(self._state.create_script)
        if scripted == "dropped":
            return await self._drop(request)
        if scripted is not None and not 200 <= scripted.status < 300:
            return await self._answer_scripted(index, record, scripted, serial)
        assert record.account_id is not None
        call_id = "c-" + secrets.token_hex(12)
        shown = {k: _REDACTED if k == "password" else v for k, v in body.items()}
        created = CreatedCall(account_id=record.account_id, call_id=call_id, body=shown)
        self._state.created_calls[call_id] = created
        task = asyncio.get_running_loop().create_task(self._call_answered(created, body))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        answer = {
            "accountId": record.account_id,
            "callId": call_id,
            "applicationId": body["applicationId"],
            "from": body["from"],
            "to": body["to"],
            "direction": "outbound",
            "callUrl": self.call_url(record.account_id, call_id),
            "answerUrl": body["answerUrl"],
            "answerMethod": body.get("answerMethod", "POST"),
            "tag": body.get("tag"),
        }
        return await self._answer(index, record, 201, answer, token_serial=serial)

    async def _call_answered(self, created: CreatedCall, body: dict[str, Any]) -> None:
        """The callee picked up: POST the ``answer`` event and read the BXML it returns."""
        if await self._wait(self.answer_delay):
            return
        event = {
            "eventType": "answer",
            "eventTime": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
            "accountId": created.account_id,
            "applicationId": body["applicationId"],
            "callId": created.call_id,
            "from": body["from"],
            "to": body["to"],
            "direction": "outbound",
            "callUrl": self.call_url(created.account_id, created.call_id),
            "startTime": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
            "answerTime": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        }
        if body.get("tag") is not None:
            event["tag"] = body["tag"]
        headers = {}
        if body.get("username") is not None and body.get("password") is not None:
            headers["Authorization"] = basic_auth_header(body["username"], body["password"])
        result = created
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.post(
                    str(body["answerUrl"]),
                    json=event,
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=10),
                ) as response,
            ):
                text = await response.text()
                result = replace(created, answer_status=response.status, answer_bxml=text)
                if 200 <= response.status < 300:
                    result = replace(result, **_stream_of(text))
        except (aiohttp.ClientError, TimeoutError, ValueError) as e:
            result = replace(created, answer_error=f"{type(e).__name__}: {e}")
        self._state.created_calls[created.call_id] = result
        self._notify()

    async def _answer_scripted(
        self,
        index: int,
        record: RecordedRequest,
        scripted: Response,
        token_serial: int | None = None,
    ) -> web.Response:
        headers = {}
        if (retry_after := scripted.retry_after_header()) is not None:
            headers["Retry-After"] = retry_after
        body = scripted.body
        if body is None and scripted.text is None and scripted.status >= 400:
            body = _voice_error(scripted.status, "Scripted.")
        return await self._answer(
            index,
            record,
            scripted.status,
            body,
            headers=headers,
            token_serial=token_serial,
            text=scripted.text,
            content_type=scripted.content_type,
        )

    def _basic_auth_ok(self, header: str | None) -> bool:
        return basic_auth_ok(header, self.client_id, self._client_secret)

    def _bearer_token(self, header: str | None) -> _IssuedToken | None:
        scheme, _, value = (header or "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        return self._state.tokens.get(value.strip())


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _parse_bxml(
    raw: bytes,
) -> tuple[tuple[str, ...], TransferRecord | None, tuple[str, ...]] | str:
    """(verbs, transfer, StopStream names), or why the document is refused."""
    if len(raw) > MAX_BXML_BYTES:
        return "document too large"
    if b"<!DOCTYPE" in raw or b"<!ENTITY" in raw:
        return "DTDs and entities are not allowed"
    try:
        root = ElementTree.fromstring(raw)
    except ElementTree.ParseError as e:
        return f"not well-formed XML ({e})"
    if _local(root.tag) != "Response":
        return "the root element must be <Response>"
    verbs = tuple(_local(child.tag) for child in root)
    transfer = None
    for child in root:
        if _local(child.tag) == "Transfer":
            targets = tuple(
                (t.text or "").strip() for t in child if _local(t.tag) in ("PhoneNumber", "SipUri")
            )
            if not targets:
                return "<Transfer> needs a <PhoneNumber> or <SipUri>"
            transfer = TransferRecord(
                targets=targets,
                caller_id=child.get("transferCallerId"),
                call_timeout=child.get("callTimeout"),
                attributes=dict(child.attrib),
            )
            break
    stops = tuple(c.get("name", "") for c in root if _local(c.tag) == "StopStream")
    return verbs, transfer, stops


def _stream_of(bxml: str) -> dict[str, Any]:
    """The first ``<StartStream>`` of an answer's BXML: destination, name, params."""
    try:
        root = ElementTree.fromstring(bxml.encode("utf-8"))
    except ElementTree.ParseError:
        return {}
    for element in root.iter():
        if _local(element.tag) == "StartStream":
            params = {
                p.get("name", ""): p.get("value", "")
                for p in element
                if _local(p.tag) == "StreamParam"
            }
            return {
                "stream_url": element.get("destination"),
                "stream_name": element.get("name"),
                "stream_params": params,
            }
    return {}


def _as_responses(responses: Iterable[Response | int]) -> list[Response]:
    return [r if isinstance(r, Response) else Response(r) for r in responses]


def _redacted_headers(request: web.Request) -> dict[str, str]:
    headers = dict(request.headers)
    for name in list(headers):
        if name.lower() in ("authorization", "proxy-authorization"):
            scheme = headers[name].partition(" ")[0]
            headers[name] = f"{scheme} {_REDACTED}" if scheme else _REDACTED
    return headers


def _parse_form(raw: bytes) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))


def _parse_body(content_type: str, raw: bytes) -> Any:
    """Parse for the record; secrets in form fields are redacted like headers."""
    if not raw:
        return None
    if content_type.endswith("x-www-form-urlencoded"):
        form = _parse_form(raw)
        return {k: _REDACTED if k in _SECRET_FORM_FIELDS else v for k, v in form.items()}
    text = raw.decode("utf-8", "replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


def _oauth_error(error: str) -> dict[str, Any]:
    return {"error": error}


_ERROR_TYPES: Final = {
    400: "validation",
    401: "authentication-error",
    403: "authorization-error",
    404: "not-found",
    409: "conflict",
    415: "unsupported-media-type",
    429: "too-many-requests",
    503: "service-unavailable",
}


def _voice_error(status: int, description: str) -> dict[str, Any]:
    """Bandwidth's ``VoiceApiError`` shape (its OpenAPI spec): ``type``, ``description``, ``id``."""
    return {
        "type": _ERROR_TYPES.get(status, "error"),
        "description": description,
        "id": secrets.token_hex(8),
    }
