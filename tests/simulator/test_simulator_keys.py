"""The simulated caller presses keys (``dtmf`` webhooks with Basic auth, at their point
of the call, in order) and follows a transfer."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import WSMsgType, web

from bwserial.testing.simulator import (
    CallScript,
    Keypress,
    Silence,
    SimulatorConfig,
    Speech,
    simulate_call,
)

USER, PASSWORD = "bandwidth", "dtmf-password"
AUTH = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


@dataclass
class KeyBot:
    base: str
    media: int = 0
    presses: list[dict[str, Any]] = field(default_factory=list)
    """Each webhook body, with the media frames received when it came."""
    refused: int = 0
    status: int = 204

    @property
    def ws_url(self) -> str:
        return self.base.replace("http://", "ws://") + "/ws"


@pytest.fixture
async def key_bot() -> AsyncIterator[KeyBot]:
    bot = KeyBot("")

    async def ws(request: web.Request) -> web.StreamResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        async for msg in socket:
            if msg.type is WSMsgType.TEXT and json.loads(msg.data).get("eventType") == "media":
                bot.media += 1
        return socket

    async def dtmf(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != AUTH:
            bot.refused += 1
            return web.Response(status=401)
        body = await request.json()
        bot.presses.append({**body, "media_frames": bot.media})
        return web.Response(status=bot.status)

    app = web.Application()
    app.router.add_get("/ws", ws)
    app.router.add_post("/dtmf", dtmf)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    bot.base = f"http://127.0.0.1:{port}"
    try:
        yield bot
    finally:
        await runner.cleanup()


def _config(bot: KeyBot, **overrides: Any) -> SimulatorConfig:
    options: dict[str, Any] = {
        "url": bot.ws_url,
        "call_id": "c-keys",
        "account_id": "9900000",
        "dtmf_url": bot.base + "/dtmf",
        "dtmf_username": USER,
        "dtmf_password": PASSWORD,
        "linger_secs": 0.2,
        "speed": 4.0,
    }
    options.update(overrides)
    return SimulatorConfig(**options)


async def test_keys_are_posted_in_order_at_their_point_of_the_call(key_bot: KeyBot) -> None:
    script = CallScript.of(Silence(0.6), Keypress("12"), Silence(0.4), Keypress("#"), Silence(0.2))
    report = await simulate_call(_config(key_bot), script)
    assert [p["digit"] for p in key_bot.presses] == ["1", "2", "#"]
    first = key_bot.presses[0]
    assert first["eventType"] == "dtmf"
    assert (first["callId"], first["accountId"]) == ("c-keys", "9900000")
    # 0.6 s is 30 frames of 20 ms; the third key came after 50.
    assert 25 <= key_bot.presses[0]["media_frames"] <= 35
    assert 45 <= key_bot.presses[2]["media_frames"] <= 60
    assert [k.digit for k in report.keypresses] == ["1", "2", "#"]
    assert [k.status for k in report.keypresses] == [204, 204, 204]
    assert report.keypresses[0].at_secs == pytest.approx(0.6, abs=0.05)
    assert report.keypresses[2].at_secs == pytest.approx(1.0, abs=0.05)
    assert all(k.answered_after_secs is not None for k in report.keypresses)
    assert report.to_dict()["keypresses"][2]["digit"] == "#"


async def test_the_webhook_answer_is_reported_not_raised(key_bot: KeyBot) -> None:
    key_bot.status = 404
    report = await simulate_call(
        _config(key_bot, dtmf_password="wrong"), CallScript.of(Silence(0.2), Keypress("5"))
    )
    assert key_bot.refused == 1 and key_bot.presses == []
    assert [(k.digit, k.status) for k in report.keypresses] == [("5", 401)]
    unreachable = await simulate_call(
        _config(key_bot, dtmf_url="http://127.0.0.1:9/dtmf"),
        CallScript.of(Silence(0.2), Keypress("5")),
    )
    assert unreachable.keypresses[0].status is None
    assert unreachable.keypresses[0].error


async def test_a_script_with_keys_needs_a_dtmf_url(key_bot: KeyBot) -> None:
    with pytest.raises(ValueError, match="dtmf_url"):
        await simulate_call(_config(key_bot, dtmf_url=None), [Keypress("1")])
    with pytest.raises(ValueError, match="0-9"):
        Keypress("A")
    with pytest.raises(ValueError, match="0-9"):
        Keypress("")
    with pytest.raises(ValueError, match="dtmf_url"):
        _config(key_bot, dtmf_url="ftp://x/dtmf")
    with pytest.raises(ValueError, match="go together"):
        _config(key_bot, dtmf_password=None)


def test_with_keypress_places_the_key_at_a_call_time() -> None:
    speech = Speech.tone(440, 1.0)
    script = CallScript.of(Silence(1.0), speech, Silence(2.0))
    assert script.with_keypress(0.5, "0").segments == (
        Silence(0.5),
        Keypress("0"),
        Silence(0.5),
        speech,
        Silence(2.0),
    )
    inside_turn = script.with_keypress(1.5, "1").segments  # moved to the turn's end
    assert inside_turn[:3] == (Silence(1.0), speech, Keypress("1"))
    past_end = script.with_keypress(5.0, "#").segments
    assert past_end[-2:] == (Silence(1.0), Keypress("#"))
    assert script.with_keypress(2.5, "*").duration_secs == pytest.approx(script.duration_secs)
    with pytest.raises(ValueError, match="finite"):
        script.with_keypress(-1, "1")


async def test_a_transfer_ends_the_callers_part_and_the_report_says_so(key_bot: KeyBot) -> None:
    transfer = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.call_later(0.5, transfer.set)  # as a fake Voice API would on the transfer BXML
    report = await simulate_call(
        _config(key_bot, speed=1.0, linger_secs=10.0), CallScript.of(Silence(5.0)), transfer=transfer
    )
    assert report.ended_by == "transfer"
    assert report.transfer_at_secs is not None and 0.3 <= report.transfer_at_secs <= 1.5
    assert report.duration_secs < 2.0
    assert report.stop_sent
    untransferred = await simulate_call(_config(key_bot), CallScript.of(Silence(0.2)))
    assert untransferred.ended_by == "script" and untransferred.transfer_at_secs is None
