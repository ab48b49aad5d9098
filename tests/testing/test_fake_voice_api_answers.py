"""The fake Voice API answers like Bandwidth, and like a wrong server when asked to."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import aiohttp
import pytest

from bwserial.testing.fake_voice_api import WRONG_SERVER_404, FakeVoiceAPI, Response
from bwserial.voiceapi import is_bandwidth_error


@pytest.fixture
async def api() -> AsyncIterator[FakeVoiceAPI]:
    async with FakeVoiceAPI(client_id="cid", client_secret="s3cret") as fake:
        yield fake


async def token(session: aiohttp.ClientSession, api: FakeVoiceAPI) -> aiohttp.ClientResponse:
    basic = base64.b64encode(b"cid:s3cret").decode()
    return await session.post(
        api.token_url,
        headers={"Authorization": f"Basic {basic}"},
        data={"grant_type": "client_credentials"},
    )


async def hang_up(
    session: aiohttp.ClientSession, api: FakeVoiceAPI, bearer: str
) -> tuple[int, str, bytes]:
    async with session.post(
        api.call_url("9900000", "c-1"),
        json={"state": "completed"},
        headers={"Authorization": f"Bearer {bearer}"},
    ) as response:
        return response.status, response.content_type, await response.read()


async def test_errors_have_bandwidths_voice_api_error_shape(api: FakeVoiceAPI) -> None:
    async with aiohttp.ClientSession() as session:
        bearer = (await (await token(session, api)).json())["access_token"]
        assert (await hang_up(session, api, bearer))[0] == 200
        status, content_type, body = await hang_up(session, api, bearer)  # completed: 404
    assert status == 404 and is_bandwidth_error(content_type, body) is True
    import json

    error = json.loads(body)
    assert set(error) == {"type", "description", "id"}


async def test_a_wrong_server_404_is_html(api: FakeVoiceAPI) -> None:
    api.script_call(WRONG_SERVER_404)
    async with aiohttp.ClientSession() as session:
        bearer = (await (await token(session, api)).json())["access_token"]
        status, content_type, body = await hang_up(session, api, bearer)
    assert (status, content_type) == (404, "text/html")
    assert is_bandwidth_error(content_type, body) is False
    assert api.hangups == []


async def test_an_empty_404_cannot_be_told_apart(api: FakeVoiceAPI) -> None:
    api.script_call(Response(404, text=""))
    async with aiohttp.ClientSession() as session:
        bearer = (await (await token(session, api)).json())["access_token"]
        status, content_type, body = await hang_up(session, api, bearer)
    assert status == 404 and is_bandwidth_error(content_type, body) is None


async def test_token_status_takes_the_token_endpoint_down_until_reset(api: FakeVoiceAPI) -> None:
    api.token_status = 503
    async with aiohttp.ClientSession() as session:
        assert (await token(session, api)).status == 503
        assert (await token(session, api)).status == 503
        api.token_status = None
        assert (await token(session, api)).status == 200
    assert api.tokens_issued == 1


async def test_expires_in_may_be_any_json_value(api: FakeVoiceAPI) -> None:
    api.token_expires_in = float("inf")
    async with aiohttp.ClientSession() as session:
        text = await (await token(session, api)).text()
    assert '"expires_in": Infinity' in text
