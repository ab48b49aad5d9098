"""The media-stream WebSocket: refused before anything runs, and never fooled by ``start``."""

from __future__ import annotations

import json
import time

import aiohttp
import pytest
from demo_helpers import ACCOUNT_ID, StartBot

from bwserial.runner import basic_auth_header, sign_stream_token
from bwserial.testing import messages
from bwserial.testing.fake_voice_api import FakeVoiceAPI
from bwserial.testing.simulator import CallScript, Silence, SimulatorConfig, simulate_call


async def close_seen_by_client(url: str, authorization: str | None) -> tuple[int | None, str]:
    """Connect like Bandwidth, send start, and return the close code and reason received."""
    headers = {"Authorization": authorization} if authorization else {}
    async with aiohttp.ClientSession() as session, session.ws_connect(url, headers=headers) as ws:
        await ws.send_str(messages.start(call_id="c-probe"))
        message = await ws.receive(timeout=5)
        assert message.type is aiohttp.WSMsgType.CLOSE, message
        return ws.close_code, str(message.extra or "")


@pytest.mark.parametrize("case", ["missing", "garbage", "tampered", "other-secret", "expired"])
async def test_bad_token_is_closed_with_1008(
    start_bot: StartBot, voice_api: FakeVoiceAPI, case: str
) -> None:
    bot = await start_bot()
    secret = bot.settings.token_secret.get_secret_value()
    good = sign_stream_token(secret, "c-victim", ACCOUNT_ID, 60)
    token = {
        "missing": "",
        "garbage": "not-a-token",
        "tampered": good[:-2] + ("AA" if not good.endswith("AA") else "BB"),
        "other-secret": sign_stream_token("z" * 32, "c-victim", ACCOUNT_ID, 60),
        "expired": sign_stream_token(secret, "c-victim", ACCOUNT_ID, 60, now=time.time() - 120),
    }[case]
    auth = basic_auth_header(*bot.settings.stream_auth())  # type: ignore[misc]
    code, reason = await close_seen_by_client(f"{bot.ws_url}?token={token}", auth)
    assert code == 1008
    assert reason.startswith("stream token")
    if token:
        assert token not in reason
    assert bot.calls.records == []  # no pipeline ran
    assert voice_api.requests == []  # and nothing was hung up


@pytest.mark.parametrize(
    "authorization", [None, basic_auth_header("bandwidth-stream", "wrong"), "Bearer x"]
)
async def test_bad_stream_credentials_are_closed_with_1008(
    start_bot: StartBot, authorization: str | None
) -> None:
    bot = await start_bot()
    stream = await bot.place_call("c-creds")
    code, reason = await close_seen_by_client(stream.destination, authorization)
    assert (code, reason) == (1008, "invalid credentials")
    assert bot.calls.records == []


async def test_simulator_sees_the_refusal_as_a_1008_close(start_bot: StartBot) -> None:
    bot = await start_bot()
    report = await simulate_call(
        SimulatorConfig(
            url=f"{bot.ws_url}?token=forged",
            username="bandwidth-stream",
            password="demo-stream-password",
            max_call_secs=10,
        ),
        CallScript.of(Silence(2)),
    )
    assert report.ended_by == "bot_closed"
    assert report.play_audio_messages == 0
    assert report.close_code in (1008, 1006)  # 1006 only if the close raced our start


async def test_a_first_message_that_is_not_start_is_closed_with_1002_and_hung_up(
    start_bot: StartBot, voice_api: FakeVoiceAPI
) -> None:
    """The token was good, so the call it names is known: with <Pause> in the BXML it
    would stay up for a day unless the bot hangs it up."""
    bot = await start_bot()
    stream = await bot.place_call("c-nostart")
    auth = basic_auth_header(stream.username or "", stream.password or "")
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(stream.destination, headers={"Authorization": auth}) as ws,
    ):
        await ws.send_str(json.dumps({"eventType": "media", "payload": ""}))
        message = await ws.receive(timeout=5)
        assert message.type is aiohttp.WSMsgType.CLOSE
        assert ws.close_code == 1002
    hangup = await voice_api.wait_for_hangup("c-nostart", timeout=10)
    assert (hangup.call_id, hangup.account_id) == ("c-nostart", ACCOUNT_ID)


async def test_spoofed_start_ids_do_not_change_the_hangup_target(
    start_bot: StartBot, voice_api: FakeVoiceAPI
) -> None:
    """The token says c-trusted; start claims another call and account. The hang-up
    (here after the caller leaves) must address only the trusted call."""
    bot = await start_bot()
    stream = await bot.place_call("c-trusted")
    report = await simulate_call(
        SimulatorConfig(
            url=stream.destination,
            call_id="c-spoofed",
            account_id="6666666",
            username=stream.username,
            password=stream.password,
            end_with="close",
            linger_secs=0,
            max_call_secs=20,
        ),
        CallScript.of(Silence(0.6)),
    )
    assert report.ended_by == "script"
    record = await bot.calls.wait_for("c-trusted", timeout_secs=10)
    assert record.claimed_call_id == "c-spoofed"
    assert record.hung_up
    hangup = await voice_api.wait_for_hangup(timeout=5)
    assert (hangup.call_id, hangup.account_id) == ("c-trusted", ACCOUNT_ID)
    assert {r.call_id for r in voice_api.call_requests} == {"c-trusted"}
    assert {r.account_id for r in voice_api.call_requests} == {ACCOUNT_ID}


async def test_a_token_from_one_worker_opens_the_stream_on_another(
    start_bot: StartBot, voice_api: FakeVoiceAPI
) -> None:
    """No in-memory table: the webhook and the stream may reach different processes;
    a shared secret is all they need."""
    secret = "shared-secret-for-every-worker!!"
    webhook_worker = await start_bot(token_secret=secret)
    stream_worker = await start_bot(token_secret=secret)
    stream = await webhook_worker.place_call("c-two-workers")
    other_url = stream.destination.replace(webhook_worker.ws_url, stream_worker.ws_url)
    assert other_url != stream.destination
    report = await simulate_call(
        SimulatorConfig(
            url=other_url,
            call_id="c-two-workers",
            username=stream.username,
            password=stream.password,
            end_with="close",
            linger_secs=0,
            max_call_secs=20,
        ),
        CallScript.of(Silence(0.4)),
    )
    assert report.close_code is None  # not refused
    record = await stream_worker.calls.wait_for("c-two-workers", timeout_secs=10)
    assert record.hung_up and webhook_worker.calls.records == []
    assert (await voice_api.wait_for_hangup(timeout=5)).call_id == "c-two-workers"


def test_settings_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    from bwserial.demo.settings import DemoSettings

    env = {
        "BWSERIAL_DEMO_TOKEN_SECRET": "s" * 32,
        "BWSERIAL_DEMO_TURNS": "2",
        "BWSERIAL_DEMO_PUBLIC_URL": "https://bot.example.com",
        "BWSERIAL_DEMO_STREAM_USERNAME": "",  # empty: unset, the default stays
    }
    settings = DemoSettings.from_env(env, client_id="from-code")
    assert settings.token_secret.get_secret_value() == "s" * 32
    assert (settings.turns, settings.public_url) == (2, "https://bot.example.com")
    assert settings.stream_username == "bandwidth-stream"
    assert settings.client_id == "from-code"
    a, b = DemoSettings.from_env({}), DemoSettings.from_env({})
    assert a.token_secret.get_secret_value() != b.token_secret.get_secret_value()
