"""bwserial.testing.webhook: Bandwidth's initiate webhook over real HTTP, and its BXML read back."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from bwserial.testing.webhook import BxmlError, call_webhook, initiate_body, parse_stream_bxml

BXML = (
    '<Response><StartStream destination="wss://bot/ws?token=T0K3N" mode="bidirectional" '
    'destinationUsername="u" destinationPassword="p4ss" name="s"/>'
    '<Pause duration="86400"/></Response>'
)


@pytest.fixture
async def webhook() -> AsyncIterator[tuple[str, list[web.Request], list[dict[str, object]]]]:
    seen: list[web.Request] = []
    bodies: list[dict[str, object]] = []
    answer: dict[str, object] = {"status": 200, "text": BXML, "content_type": "application/xml"}

    async def handler(request: web.Request) -> web.Response:
        seen.append(request)
        bodies.append(await request.json())
        return web.Response(**answer)  # type: ignore[arg-type]

    app = web.Application()
    app.router.add_post("/hook", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    yield url, seen, bodies
    await runner.cleanup()


async def test_the_webhook_gets_initiate_with_basic_auth_and_its_stream_is_returned(
    webhook,
) -> None:
    url, seen, bodies = webhook
    stream = await call_webhook(url, call_id="c-7", account_id="42", username="u", password="pw")
    assert seen[0].headers["Authorization"] == "Basic " + base64.b64encode(b"u:pw").decode()
    assert bodies[0]["eventType"] == "initiate" and bodies[0]["callId"] == "c-7"
    assert bodies[0]["accountId"] == "42" and bodies[0]["direction"] == "inbound"
    assert (stream.destination, stream.mode, stream.username, stream.password) == (
        "wss://bot/ws?token=T0K3N", "bidirectional", "u", "p4ss",
    )  # fmt: skip
    assert stream.pause_secs == 86400
    assert "T0K3N" not in repr(stream) and "p4ss" not in repr(stream)


async def test_without_credentials_no_authorization_is_sent(webhook) -> None:
    url, seen, _ = webhook
    await call_webhook(url, call_id="c-8", account_id="42")
    assert "Authorization" not in seen[0].headers


async def test_an_unreachable_webhook_is_a_bxml_error() -> None:
    with pytest.raises(BxmlError, match="cannot reach the webhook"):
        await call_webhook("http://127.0.0.1:9/hook", call_id="c", account_id="1")


@pytest.mark.parametrize(
    ("bxml", "reason"),
    [
        ("not xml", "not XML"),
        ("<Other/>", "not <Response>"),
        ("<Response><Pause/></Response>", "no <StartStream>"),
        ("<Response><StartStream/></Response>", "no destination"),
    ],
)
def test_bad_bxml_says_why(bxml: str, reason: str) -> None:
    with pytest.raises(BxmlError, match=reason):
        parse_stream_bxml(bxml)


def test_the_initiate_body_has_bandwidths_fields() -> None:
    body = initiate_body("c-1", "99")
    assert {"eventType", "eventTime", "accountId", "applicationId", "from", "to", "direction",
            "callId", "callUrl", "startTime"} <= set(body)  # fmt: skip
    assert body["callUrl"].endswith("/accounts/99/calls/c-1")
