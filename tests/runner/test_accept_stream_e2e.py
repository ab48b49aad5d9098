"""accept_stream over real WebSockets: every failure after authentication hangs up the
call the token names, and nothing escapes into the app."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from runner_helpers import ACCOUNT_ID, SECRET, STREAM, Serve

from bwserial.runner import BandwidthStream, sign_stream_token
from bwserial.testing import messages
from bwserial.testing.fake_voice_api import FakeVoiceAPI


async def open_stream(url: str, action: str) -> int | None:
    """Open the stream with good credentials, do ``action``, return the close code seen."""
    headers = {"Authorization": STREAM.header()}
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(url, headers=headers)
        if action == "media first":
            await ws.send_str(messages.media(b"\xff" * 160, seq=1))
        elif action == "start without callId":
            start = json.loads(messages.start(call_id="c-x"))
            del start["metadata"]["callId"]
            await ws.send_str(json.dumps(start))
        elif action == "malformed first message":
            await ws.send_str('{"eventType": "start", "metadata": {"streamId": ')
        elif action == "not JSON":
            await ws.send_str("hello, bot")
        elif action == "metadata not an object":
            await ws.send_str(json.dumps({"eventType": "start", "metadata": "call c-1"}))
        elif action == "metadata a list":
            await ws.send_str(json.dumps({"eventType": "start", "metadata": [1, 2]}))
        elif action == "start with an empty streamId":
            start = json.loads(messages.start(call_id="c-x"))
            start["metadata"]["streamId"] = ""
            await ws.send_str(json.dumps(start))
        elif action == "binary":
            await ws.send_bytes(b"\x00\x01")
        elif action == "closed before start":
            await ws.close()
            return ws.close_code
        elif action == "nothing at all":
            pass  # the server's start_timeout_secs (1 s here) runs out
        message = await ws.receive(timeout=10)
        assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), message
        await ws.close()
        return ws.close_code


FAILURES = [
    "media first",
    "start without callId",
    "malformed first message",
    "not JSON",
    "metadata not an object",
    "metadata a list",
    "binary",
    "start with an empty streamId",
    "nothing at all",
    "closed before start",
]


@pytest.mark.parametrize("action", FAILURES)
async def test_a_failure_after_authentication_hangs_up_the_tokens_call(
    serve_runner: Serve, voice_api: FakeVoiceAPI, action: str
) -> None:
    served = await serve_runner()
    token = sign_stream_token(SECRET, "c-trusted", ACCOUNT_ID, 60)
    code = await open_stream(f"{served.ws_url}/ws/{token}", action)
    hangup = await voice_api.wait_for_hangup("c-trusted", timeout=10)
    assert (hangup.call_id, hangup.account_id, hangup.status) == ("c-trusted", ACCOUNT_ID, 200)
    assert hangup.body == {"state": "completed"}
    if action == "start with an empty streamId":
        assert code == 1011
    elif action != "closed before start":
        assert code == 1002  # the stream was told why
    for _ in range(100):  # the endpoint returns right after the hang-up's answer
        if served.outcomes:
            break
        await asyncio.sleep(0.05)
    assert served.outcomes == [None]  # refused quietly: nothing raised into the app
    assert len(voice_api.hangups) == 1
    assert served.runner.calls.live == 0


async def test_a_refused_stream_hangs_up_nothing(
    serve_runner: Serve, voice_api: FakeVoiceAPI
) -> None:
    """Before authentication nothing is trusted: a forged token cannot end any call."""
    served = await serve_runner()
    forged = sign_stream_token("another-secret-of-enough-bytes!!", "c-victim", ACCOUNT_ID, 60)
    code = await open_stream(f"{served.ws_url}/ws/{forged}", "media first")
    assert code == 1008
    await asyncio.sleep(0.3)
    assert served.outcomes == [None]
    assert voice_api.requests == []


async def test_a_good_stream_is_ready_and_ends_the_call_on_exit(
    serve_runner: Serve, voice_api: FakeVoiceAPI
) -> None:
    async def hold(websocket: object) -> None:
        await asyncio.sleep(0.3)

    served = await serve_runner(hold=hold)
    token = sign_stream_token(SECRET, "c-good", ACCOUNT_ID, 60)
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(
            f"{served.ws_url}/ws/{token}", headers={"Authorization": STREAM.header()}
        ) as ws,
    ):
        await ws.send_str(messages.start(stream_id="s-1", call_id="c-claimed"))
        await asyncio.sleep(0.1)
        assert voice_api.requests == [] or all(r.kind == "token" for r in voice_api.requests)
        hangup = await voice_api.wait_for_hangup("c-good", timeout=10)
    [stream] = served.outcomes
    assert isinstance(stream, BandwidthStream)
    assert stream.started.call_id == "c-claimed"  # a claim, reported
    assert stream.serializer.call_id == "c-good"  # the token's call, used
    assert stream.serializer.stream_id == "s-1"  # from start
    assert hangup.call_id == "c-good"
    assert served.runner.calls.live == 0
