"""The inbound-call webhook: Basic auth first, then BXML that opens a signed stream."""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from typing import Any

import aiohttp
import pytest
from demo_helpers import ACCOUNT_ID, StartBot

from bwserial.demo.phone import initiate_body, parse_stream_bxml
from bwserial.runner import (
    BasicAuth,
    basic_auth_header,
    basic_auth_ok,
    stream_bxml,
    verify_stream_token,
)
from bwserial.testing.fake_voice_api import FakeVoiceAPI

INITIATE = "/bandwidth/initiate"


async def post(
    base_url: str,
    body: Any,
    authorization: str | None,
    *,
    raw: bytes | None = None,
) -> tuple[int, dict[str, str], str]:
    headers = {"Authorization": authorization} if authorization is not None else {}
    async with aiohttp.ClientSession() as session:
        kwargs: dict[str, Any] = {"data": raw} if raw is not None else {"json": body}
        async with session.post(base_url + INITIATE, headers=headers, **kwargs) as response:
            return response.status, dict(response.headers), await response.text()


def good_auth(bot: Any) -> str:
    return basic_auth_header(bot.settings.webhook_username, bot.settings.webhook_password)


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer abc",
        "Basic !!!",
        basic_auth_header("bandwidth", "wrong-password"),
        basic_auth_header("someone-else", "demo-webhook-password"),
        "Basic " + base64.b64encode(b"no-colon").decode(),
    ],
)
async def test_webhook_requires_basic_auth(start_bot: StartBot, authorization: str | None) -> None:
    bot = await start_bot()
    status, headers, body = await post(
        bot.base_url, initiate_body("c-1", ACCOUNT_ID), authorization
    )
    assert status == 401
    assert headers["WWW-Authenticate"].startswith("Basic realm=")
    assert "Response" not in body and "token" not in body


async def test_webhook_answers_bxml_with_a_signed_stream(
    start_bot: StartBot, voice_api: FakeVoiceAPI
) -> None:
    bot = await start_bot()
    status, headers, text = await post(
        bot.base_url, initiate_body("c-webhook-1", ACCOUNT_ID), good_auth(bot)
    )
    assert status == 200
    assert headers["Content-Type"].startswith("application/xml")

    root = ET.fromstring(text)
    assert root.tag == "Response"
    assert [child.tag for child in root] == ["StartStream", "StartGather", "Pause"]
    start, gather, pause = list(root)
    # Key presses come back to the demo's dtmf route, with the webhook's credentials.
    assert gather.get("dtmfUrl") == bot.base_url + "/bandwidth/dtmf"
    assert gather.get("username") == bot.settings.webhook_username
    assert gather.get("password") == "demo-webhook-password"
    assert start.get("mode") == "bidirectional"
    assert start.get("destinationUsername") == bot.settings.stream_username
    assert start.get("destinationPassword") == "demo-stream-password"
    assert pause.get("duration") == "86400"

    destination = start.get("destination") or ""
    prefix = bot.ws_url + "?token="
    assert destination.startswith(prefix)
    identity = verify_stream_token(
        bot.settings.token_secret.get_secret_value(), destination[len(prefix) :]
    )
    assert (identity.call_id, identity.account_id) == ("c-webhook-1", ACCOUNT_ID)
    assert not voice_api.requests  # answering a webhook never touches the Voice API


async def test_numeric_account_id_is_accepted(start_bot: StartBot) -> None:
    bot = await start_bot()
    body = initiate_body("c-num", ACCOUNT_ID) | {"accountId": 9900000}
    status, _, text = await post(bot.base_url, body, good_auth(bot))
    assert status == 200
    token = parse_stream_bxml(text).destination.partition("token=")[2]
    secret = bot.settings.token_secret.get_secret_value()
    assert verify_stream_token(secret, token).account_id == "9900000"


@pytest.mark.parametrize(
    ("body", "raw"),
    [
        ({"eventType": "initiate"}, None),
        (initiate_body("c/../../other", ACCOUNT_ID), None),
        (initiate_body("c-1", "99?x=1"), None),
        (initiate_body("..", ACCOUNT_ID), None),
        (initiate_body("c-1", "."), None),
        ([1, 2, 3], None),
        (None, b"not json"),
    ],
)
async def test_invalid_bodies_get_400(start_bot: StartBot, body: Any, raw: bytes | None) -> None:
    bot = await start_bot()
    status, _, text = await post(bot.base_url, body, good_auth(bot), raw=raw)
    assert status == 400
    assert "error" in text


async def test_other_events_are_acknowledged_without_bxml(start_bot: StartBot) -> None:
    bot = await start_bot()
    body = initiate_body("c-1", ACCOUNT_ID, event_type="disconnect")
    status, _, text = await post(bot.base_url, body, good_auth(bot))
    assert (status, text) == (204, "")


async def test_public_url_sets_a_wss_destination(start_bot: StartBot) -> None:
    bot = await start_bot(public_url="https://bot.example.com/", stream_username=None)
    status, _, text = await post(bot.base_url, initiate_body("c-1", ACCOUNT_ID), good_auth(bot))
    assert status == 200
    stream = parse_stream_bxml(text)
    assert stream.destination.startswith("wss://bot.example.com/ws?token=")
    assert stream.username is None and stream.password is None


def test_bxml_escapes_what_it_embeds() -> None:
    text = stream_bxml('wss://h/ws?token=a.b&x="1"', auth=BasicAuth("u", 'p&<"q>'))
    start = ET.fromstring(text).find("StartStream")
    assert start is not None
    assert start.get("destination") == 'wss://h/ws?token=a.b&x="1"'
    assert start.get("destinationPassword") == 'p&<"q>'


@pytest.mark.parametrize(
    ("header", "ok"),
    [
        (basic_auth_header("user", "pa:ss"), True),  # a colon in the password is fine
        (basic_auth_header("user", "pa:s"), False),
        (basic_auth_header("use", "pa:ss"), False),
        ("basic " + base64.b64encode(b"user:pa:ss").decode(), True),  # scheme is case-free
        (None, False),
        ("", False),
    ],
)
def test_basic_auth_ok(header: str | None, ok: bool) -> None:
    assert basic_auth_ok(header, "user", "pa:ss") is ok
