"""The webhook's safety net: a call whose stream never starts is hung up, over real HTTP."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from runner_helpers import ACCOUNT_ID, STREAM, WEBHOOK, Serve

from bwserial.demo.phone import initiate_body, parse_stream_bxml
from bwserial.testing import messages
from bwserial.testing.fake_voice_api import FakeVoiceAPI


async def post(
    url: str, body: dict[str, object], auth: str | None = WEBHOOK.header()
) -> tuple[int, str]:
    headers = {"Authorization": auth} if auth else {}
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json=body, headers=headers) as r,
    ):
        return r.status, await r.text()


async def test_a_stream_that_never_connects_is_hung_up_after_the_timeout(
    serve_runner: Serve, voice_api: FakeVoiceAPI
) -> None:
    served = await serve_runner(stream_start_timeout_secs=0.8)
    answered = time.monotonic()
    status, _ = await post(f"{served.base_url}/call", initiate_body("c-lost", ACCOUNT_ID))
    assert status == 200
    assert served.runner.calls.armed == 1
    hangup = await voice_api.wait_for_hangup("c-lost", timeout=10)
    assert hangup.account_id == ACCOUNT_ID
    assert hangup.received_at - answered >= 0.7  # not before its time
    assert served.runner.calls.armed == 0  # nothing left behind


async def test_a_stream_that_starts_in_time_disarms_the_timer(
    serve_runner: Serve, voice_api: FakeVoiceAPI
) -> None:
    async def hold(websocket: object) -> None:
        await asyncio.sleep(1.5)  # the call outlives the timer

    served = await serve_runner(hold=hold, stream_start_timeout_secs=0.5)
    _, text = await post(f"{served.base_url}/call", initiate_body("c-on-time", ACCOUNT_ID))
    stream = parse_stream_bxml(text)
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(stream.destination, headers={"Authorization": STREAM.header()}) as ws,
    ):
        await ws.send_str(messages.start(call_id="c-on-time"))
        await asyncio.sleep(1.0)  # past the timer: it must not have fired
        assert voice_api.call_requests == []
        await voice_api.wait_for_hangup("c-on-time", timeout=10)  # the call's own end
    assert len(voice_api.call_requests) == 1


async def test_shutdown_hangs_up_calls_whose_stream_has_not_started(
    serve_runner: Serve, voice_api: FakeVoiceAPI
) -> None:
    """Once the process stops, their stream cannot start here any more."""
    served = await serve_runner(stream_start_timeout_secs=60)
    await post(f"{served.base_url}/call", initiate_body("c-pending", ACCOUNT_ID))
    await served.runner.shutdown()
    assert [h.call_id for h in voice_api.hangups] == ["c-pending"]


async def test_webhook_without_credentials_is_refused_and_arms_nothing(
    serve_runner: Serve, voice_api: FakeVoiceAPI
) -> None:
    served = await serve_runner(stream_start_timeout_secs=0.3)
    status, _ = await post(f"{served.base_url}/call", initiate_body("c-x", ACCOUNT_ID), None)
    assert status == 401
    await asyncio.sleep(0.6)
    assert served.runner.calls.armed == 0 and voice_api.requests == []


@pytest.mark.parametrize("cause", ["connection-error", "error"])
async def test_a_rejected_stream_event_hangs_up_the_call(
    serve_runner: Serve, voice_api: FakeVoiceAPI, cause: str
) -> None:
    served = await serve_runner(stream_event_path="/stream-events")
    _, text = await post(f"{served.base_url}/call", initiate_body("c-rejected", ACCOUNT_ID))
    start = parse_stream_bxml(text)
    assert start.destination.startswith("ws://")
    event = {
        **initiate_body("c-rejected", ACCOUNT_ID),
        "eventType": "mediaStreamRejected",
        "cause": cause,
    }
    assert (await post(f"{served.base_url}/stream-events", event, None))[0] == 401
    assert voice_api.requests == []
    status, _ = await post(f"{served.base_url}/stream-events", event)
    assert status == 204
    hangup = await voice_api.wait_for_hangup("c-rejected", timeout=10)
    assert hangup.account_id == ACCOUNT_ID


async def test_the_bxml_asks_for_stream_events_with_the_webhook_credentials(
    serve_runner: Serve,
) -> None:
    import xml.etree.ElementTree as ET

    served = await serve_runner(stream_event_path="/stream-events")
    _, text = await post(f"{served.base_url}/call", initiate_body("c-1", ACCOUNT_ID))
    start = ET.fromstring(text).find("StartStream")
    assert start is not None
    assert start.get("streamEventUrl") == f"{served.base_url}/stream-events"
    assert start.get("streamEventMethod") == "POST"
    assert (start.get("username"), start.get("password")) == ("bandwidth", "webhook-password")
    assert start.get("destinationUsername") == "bandwidth-stream"
