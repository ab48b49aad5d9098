"""The fake Voice API must behave like Bandwidth over real HTTP, or tests built on it lie."""

from __future__ import annotations

import asyncio
import base64
import email.utils
import gc
import time
import warnings
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from loguru import logger

from bwserial.testing.fake_voice_api import HANG, FakeVoiceAPI, RecordedRequest, Response

CLIENT_ID = "id"
CLIENT_SECRET = "s3cret-value"
ACCOUNT = "9900000"
HANGUP_BODY = {"state": "completed"}


@pytest.fixture
async def api() -> AsyncIterator[FakeVoiceAPI]:
    async with FakeVoiceAPI(client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as fake:
        yield fake


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def basic(client_id: str = CLIENT_ID, secret: str = CLIENT_SECRET) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


async def request_token(
    session: aiohttp.ClientSession,
    api: FakeVoiceAPI,
    *,
    authorization: str | None = None,
    grant_type: str = "client_credentials",
) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": authorization if authorization is not None else basic()}
    async with session.post(
        api.token_url, headers=headers, data={"grant_type": grant_type}
    ) as resp:
        return resp.status, await resp.json()


async def get_token(session: aiohttp.ClientSession, api: FakeVoiceAPI) -> str:
    status, body = await request_token(session, api)
    assert status == 200
    token = body["access_token"]
    assert isinstance(token, str)
    return token


async def hang_up(
    session: aiohttp.ClientSession,
    api: FakeVoiceAPI,
    token: str | None,
    call_id: str = "c-1",
    *,
    body: Any = HANGUP_BODY,
    client_timeout: float | None = None,
) -> aiohttp.ClientResponse:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    async with session.post(
        api.call_url(ACCOUNT, call_id),
        headers=headers,
        json=body,
        timeout=aiohttp.ClientTimeout(total=client_timeout),
    ) as resp:
        await resp.read()
        return resp


# -- lifecycle and URLs -------------------------------------------------------------------


async def test_urls_plug_into_serializer_params(api: FakeVoiceAPI) -> None:
    assert api.port > 0
    assert api.token_url == f"http://127.0.0.1:{api.port}/api/v1/oauth2/token"
    assert api.voice_api_base_url == f"http://127.0.0.1:{api.port}/api/v2"
    assert api.call_url("a", "c") == f"{api.voice_api_base_url}/accounts/a/calls/c"


async def test_start_and_close_without_context_manager(session: aiohttp.ClientSession) -> None:
    api = FakeVoiceAPI(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    with pytest.raises(RuntimeError):
        _ = api.port
    await api.start()
    try:
        await get_token(session, api)
    finally:
        await api.close()
    await api.close()  # idempotent
    async with aiohttp.ClientSession() as fresh:
        with pytest.raises(aiohttp.ClientConnectorError):
            await get_token(fresh, api)


# -- token endpoint ---------------------------------------------------------------------


async def test_token_issued_with_bandwidth_shape(session: aiohttp.ClientSession) -> None:
    async with FakeVoiceAPI(
        client_id=CLIENT_ID, client_secret=CLIENT_SECRET, token_expires_in=120
    ) as api:
        status, body = await request_token(session, api)
        assert status == 200
        assert body["token_type"] == "Bearer"
        assert body["expires_in"] == 120
        second = await get_token(session, api)
        assert body["access_token"] != second
        assert api.tokens_issued == 2
        assert [r.token_serial for r in api.token_requests] == [1, 2]


@pytest.mark.parametrize(
    "authorization",
    [basic(secret="wrong"), basic(client_id="other"), "", "Bearer abc", "Basic !!notbase64"],
)
async def test_token_wrong_credentials_is_401(
    api: FakeVoiceAPI, session: aiohttp.ClientSession, authorization: str
) -> None:
    status, _ = await request_token(session, api, authorization=authorization)
    assert status == 401
    assert api.tokens_issued == 0


async def test_token_wrong_grant_type_is_400(
    api: FakeVoiceAPI, session: aiohttp.ClientSession
) -> None:
    status, body = await request_token(session, api, grant_type="password")
    assert status == 400
    assert body == {"error": "unsupported_grant_type"}


async def test_token_status_sequence(api: FakeVoiceAPI, session: aiohttp.ClientSession) -> None:
    api.script_token(500, Response(401))
    assert (await request_token(session, api))[0] == 500
    assert (await request_token(session, api))[0] == 401
    assert (await request_token(session, api))[0] == 200
    assert api.tokens_issued == 1


# -- call endpoint checks ---------------------------------------------------------------


async def test_call_requires_valid_bearer(
    api: FakeVoiceAPI, session: aiohttp.ClientSession
) -> None:
    assert (await hang_up(session, api, None)).status == 401
    assert (await hang_up(session, api, "made-up")).status == 401
    token = await get_token(session, api)
    assert (await hang_up(session, api, token)).status == 200
    assert [r.status for r in api.call_requests] == [401, 401, 200]
    assert [r.token_serial for r in api.call_requests] == [None, None, 1]


async def test_successful_hangup_has_empty_body_like_bandwidth(
    api: FakeVoiceAPI, session: aiohttp.ClientSession
) -> None:
    token = await get_token(session, api)
    async with session.post(
        api.call_url(ACCOUNT, "c-1"), headers={"Authorization": f"Bearer {token}"}, json=HANGUP_BODY
    ) as resp:
        assert resp.status == 200
        assert await resp.read() == b""


async def test_call_wrong_content_type_is_415(
    api: FakeVoiceAPI, session: aiohttp.ClientSession
) -> None:
    token = await get_token(session, api)
    async with session.post(
        api.call_url(ACCOUNT, "c-1"),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "text/plain"},
        data=b'{"state": "completed"}',
    ) as resp:
        assert resp.status == 415
    assert api.hangups == []


@pytest.mark.parametrize("body", [{"state": "active"}, {}, ["completed"], "completed"])
async def test_call_wrong_body_is_400(
    api: FakeVoiceAPI, session: aiohttp.ClientSession, body: Any
) -> None:
    token = await get_token(session, api)
    assert (await hang_up(session, api, token, body=body)).status == 400
    assert api.completed_calls == frozenset()


async def test_other_account_is_403_when_account_is_pinned(
    session: aiohttp.ClientSession,
) -> None:
    async with FakeVoiceAPI(CLIENT_ID, CLIENT_SECRET, account_id="someone-else") as api:
        token = await get_token(session, api)
        assert (await hang_up(session, api, token)).status == 403


async def test_second_hangup_of_completed_call_is_404(
    api: FakeVoiceAPI, session: aiohttp.ClientSession
) -> None:
    token = await get_token(session, api)
    assert (await hang_up(session, api, token, "c-1")).status == 200
    assert (await hang_up(session, api, token, "c-1")).status == 404
    api.end_call("c-2")  # the caller hung up first
    assert (await hang_up(session, api, token, "c-2")).status == 404
    assert (await hang_up(session, api, token, "c-3")).status == 200
    assert [h.call_id for h in api.hangups] == ["c-1", "c-3"]


async def test_completed_call_status_is_configurable(session: aiohttp.ClientSession) -> None:
    async with FakeVoiceAPI(CLIENT_ID, CLIENT_SECRET, completed_call_status=None) as api:
        token = await get_token(session, api)
        assert (await hang_up(session, api, token)).status == 200
        assert (await hang_up(session, api, token)).status == 200


# -- scripting --------------------------------------------------------------------------


async def test_call_status_sequence_then_default(
    api: FakeVoiceAPI, session: aiohttp.ClientSession
) -> None:
    token = await get_token(session, api)
    # A broken request does not consume the script.
    assert (await hang_up(session, api, token, body={"state": "x"})).status == 400
    api.script_call(503, 503, 200)
    statuses = [(await hang_up(session, api, token)).status for _ in range(4)]
    assert statuses == [503, 503, 200, 404]
    assert (await hang_up(session, api, token, "c-2")).status == 200


async def test_retry_after_in_seconds(api: FakeVoiceAPI, session: aiohttp.ClientSession) -> None:
    token = await get_token(session, api)
    api.script_call(Response(429, retry_after=1.5), Response(503, retry_after=2), 429)
    first, second, third = [await hang_up(session, api, token) for _ in range(3)]
    assert (first.status, first.headers["Retry-After"]) == (429, "1.5")
    assert (second.status, second.headers["Retry-After"]) == (503, "2")
    assert third.status == 429
    assert "Retry-After" not in third.headers


async def test_retry_after_as_http_date(api: FakeVoiceAPI, session: aiohttp.ClientSession) -> None:
    token = await get_token(session, api)
    api.script_call(Response(429, retry_after=2, retry_after_http_date=True))
    resp = await hang_up(session, api, token)
    assert resp.status == 429
    header = resp.headers["Retry-After"]
    assert header.endswith(" GMT")
    delay = email.utils.parsedate_to_datetime(header).timestamp() - time.time()
    assert 1.0 <= delay <= 3.0


async def test_retry_after_raw_string_is_sent_verbatim(
    api: FakeVoiceAPI, session: aiohttp.ClientSession
) -> None:
    token = await get_token(session, api)
    api.script_call(Response(503, retry_after="soon"))
    assert (await hang_up(session, api, token)).headers["Retry-After"] == "soon"


async def test_latency_per_endpoint_and_per_response(
    api: FakeVoiceAPI, session: aiohttp.ClientSession
) -> None:
    api.token_latency = 0.15
    started = time.monotonic()
    token = await get_token(session, api)
    assert 0.15 <= time.monotonic() - started < 1.5

    api.call_latency = 0.1
    api.script_call(Response(200, delay=0.1))
    started = time.monotonic()
    assert (await hang_up(session, api, token)).status == 200
    assert 0.2 <= time.monotonic() - started < 1.5
    hangup = api.hangups[0]
    assert hangup.answered_at is not None
    assert hangup.answered_at - hangup.received_at >= 0.2


async def test_hang_until_close_then_clean_shutdown(session: aiohttp.ClientSession) -> None:
    api = FakeVoiceAPI(CLIENT_ID, CLIENT_SECRET)
    await api.start()
    token = await get_token(session, api)
    api.script_call(HANG)
    with pytest.raises(asyncio.TimeoutError):
        await hang_up(session, api, token, client_timeout=0.2)
    assert api.call_requests[0].status is None

    # A hanging request on a connection the client has not given up on yet.
    api.script_token(HANG)
    pending = asyncio.create_task(request_token(session, api))
    arrived = await api.wait_for_request("token", count=2, timeout=2)
    assert arrived.status is None

    started = time.monotonic()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        await api.close()
        with pytest.raises(aiohttp.ClientError):
            await pending
        gc.collect()
    assert time.monotonic() - started < 1.0
    assert [str(w.message) for w in caught] == []
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert others == []
    assert api.token_requests[-1].status is None


async def test_refuse_and_accept_connections(
    api: FakeVoiceAPI, session: aiohttp.ClientSession
) -> None:
    token = await get_token(session, api)  # leaves a keep-alive connection in the pool
    port = api.port
    await api.refuse_connections()
    assert not api.listening
    with pytest.raises(aiohttp.ClientConnectorError):
        await hang_up(session, api, token)
    async with aiohttp.ClientSession() as fresh:
        with pytest.raises(aiohttp.ClientConnectorError):
            await get_token(fresh, api)

    await api.accept_connections()
    assert api.listening
    assert api.port == port
    assert (await hang_up(session, api, token)).status == 200  # state and token survived
    assert len(api.requests) == 2


async def test_token_expires_server_side(session: aiohttp.ClientSession) -> None:
    async with FakeVoiceAPI(CLIENT_ID, CLIENT_SECRET, token_lifetime=0.2) as api:
        token = await get_token(session, api)
        await asyncio.sleep(0.25)
        resp = await hang_up(session, api, token)
        assert resp.status == 401
        assert api.call_requests[0].token_serial == 1  # known but stale


async def test_expire_tokens_invalidates_all_issued(
    api: FakeVoiceAPI, session: aiohttp.ClientSession
) -> None:
    old = await get_token(session, api)
    api.expire_tokens()
    assert (await hang_up(session, api, old)).status == 401
    new = await get_token(session, api)
    assert (await hang_up(session, api, new)).status == 200
    assert [r.token_serial for r in api.call_requests] == [1, 2]


# -- recording --------------------------------------------------------------------------


async def test_requests_are_recorded_with_secrets_redacted(
    api: FakeVoiceAPI, session: aiohttp.ClientSession
) -> None:
    token = await get_token(session, api)
    await hang_up(session, api, token, "c-42")

    token_req, call_req = api.requests
    assert api.token_requests == [token_req]
    assert api.call_requests == [call_req]
    assert isinstance(token_req, RecordedRequest)
    assert token_req.kind == "token"
    assert token_req.method == "POST"
    assert token_req.path == "/api/v1/oauth2/token"
    assert token_req.body == {"grant_type": "client_credentials"}
    assert token_req.headers["Authorization"] == "Basic <redacted>"
    assert token_req.status == 200

    assert call_req.kind == "call"
    assert (call_req.account_id, call_req.call_id) == (ACCOUNT, "c-42")
    assert call_req.path == f"/api/v2/accounts/{ACCOUNT}/calls/c-42"
    assert call_req.body == HANGUP_BODY
    assert call_req.headers["Content-Type"] == "application/json"
    assert call_req.headers["Authorization"] == "Bearer <redacted>"
    assert call_req.received_at >= token_req.received_at
    assert api.hangups == [call_req]


async def test_wait_for_hangup(api: FakeVoiceAPI, session: aiohttp.ClientSession) -> None:
    token = await get_token(session, api)
    waiter = asyncio.create_task(api.wait_for_hangup("c-2", timeout=2))
    await hang_up(session, api, token, "c-1")
    await asyncio.sleep(0.01)
    assert not waiter.done()
    await hang_up(session, api, token, "c-2")
    assert (await waiter).call_id == "c-2"
    assert (await api.wait_for_hangup()).call_id == "c-1"
    with pytest.raises(TimeoutError):
        await api.wait_for_hangup("c-never", timeout=0.05)


async def test_repr_records_and_logs_never_leak_secrets(
    session: aiohttp.ClientSession,
) -> None:
    lines: list[str] = []
    sink = logger.add(lines.append, level="DEBUG", format="{message}")
    try:
        async with FakeVoiceAPI(CLIENT_ID, CLIENT_SECRET) as api:
            token = await get_token(session, api)
            await hang_up(session, api, token)
            api.script_call(Response(503, retry_after=1))
            await hang_up(session, api, token, "c-2")
            texts = [repr(api), *map(repr, api.requests)]
    finally:
        logger.remove(sink)
    texts += lines
    assert lines, "expected the fake to log its answers"
    for text in texts:
        assert CLIENT_SECRET not in text
        assert token not in text
        assert base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode() not in text
