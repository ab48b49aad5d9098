"""The simulator's side of the wire: what the bot receives, pacing, and how calls end."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import time
from typing import Any

import pytest
from aiohttp import web
from sim_helpers import BotSession, StartBot

from bwserial.testing.simulator import (
    TRACKS_BOTH,
    CallScript,
    ConnectionRejected,
    EndWith,
    Silence,
    SimulatorConfig,
    SimulatorError,
    Speech,
    Track,
    simulate_call,
)


def _keys(raw: str) -> list[str]:
    return [key for key, _ in json.loads(raw, object_pairs_hook=lambda pairs: pairs)]


async def test_start_media_stop_shape_and_order(start_bot: StartBot) -> None:
    bot = await start_bot()
    config = SimulatorConfig(
        url=bot.url,
        account_id="9901234",
        call_id="c-1234",
        stream_id="s-5678",
        stream_name="my-stream",
        stream_params={"customer": "42"},
        fast=True,
        linger_secs=0,
    )
    script = CallScript.of(Silence(0.1), Speech.tone(440, 0.25), Silence(0.05))
    report = await simulate_call(config, script)
    await asyncio.wait_for(bot.session.done.wait(), 2)
    session = bot.session

    types = [e["eventType"] for e in session.events]
    assert types[0] == "start" and types[-1] == "stop"
    assert set(types[1:-1]) == {"media"}
    assert all(_keys(raw)[-1] == "eventType" for raw in session.raw)

    start = session.events[0]
    assert start["metadata"] == {
        "accountId": "9901234",
        "callId": "c-1234",
        "streamId": "s-5678",
        "streamName": "my-stream",
        "tracks": [
            {"name": "inbound", "mediaFormat": {"encoding": "audio/PCMU", "sampleRate": 8000}}
        ],
    }
    assert start["streamParams"] == {"customer": "42"}
    assert session.events[-1]["metadata"] == start["metadata"]

    media = session.of("media")
    assert [m["sequenceNumber"] for m in media] == [str(i) for i in range(1, len(media) + 1)]
    assert _keys(session.raw[1]) == ["track", "sequenceNumber", "payload", "eventType"]
    payloads = [base64.b64decode(m["payload"]) for m in media]
    assert all(
        len(p) == 160 and m["track"] == "inbound" for p, m in zip(payloads, media, strict=True)
    )
    assert len(media) == 20  # 0.4 s of script = 20 frames
    assert payloads[0] == b"\xff" * 160  # lead-in silence is mu-law silence, still sent
    assert payloads[10] != b"\xff" * 160
    assert session.end == "close" and session.close_code == 1000

    assert report.frames_sent == 20 and report.caller_audio_secs == pytest.approx(0.4)
    assert report.caller_speech_secs == pytest.approx(0.25)
    assert report.stop_sent and not report.bot_closed and report.ended_by == "script"
    assert [(t.start_secs, t.end_secs) for t in report.turns] == [(0.1, 0.35)]
    assert report.response_latencies_secs == (None,)
    json.dumps(report.to_dict())


async def test_basic_auth_header(start_bot: StartBot) -> None:
    expected = "Basic " + base64.b64encode(b"bw-user:s3cret:x").decode()
    bot = await start_bot(require_auth=expected)
    config = SimulatorConfig(
        url=bot.url, username="bw-user", password="s3cret:x", fast=True, linger_secs=0
    )
    await simulate_call(config, [Silence(0.04)])
    assert bot.session.headers["Authorization"] == expected


async def test_no_auth_header_by_default_and_rejection_is_an_error(start_bot: StartBot) -> None:
    open_bot = await start_bot()
    await simulate_call(SimulatorConfig(url=open_bot.url, fast=True, linger_secs=0), [])
    assert "Authorization" not in open_bot.session.headers

    guarded = await start_bot(require_auth="Basic nope")
    config = SimulatorConfig(url=guarded.url, username="a", password="b", fast=True)
    with pytest.raises(ConnectionRejected) as info:
        await simulate_call(config, [Silence(0.1)])
    assert info.value.status == 401


async def test_unreachable_url() -> None:
    config = SimulatorConfig(url="ws://127.0.0.1:9/ws", connect_timeout_secs=2)
    with pytest.raises(SimulatorError, match="cannot connect"):
        await simulate_call(config, [Silence(0.1)])


async def test_real_time_pacing(start_bot: StartBot) -> None:
    arrivals: list[float] = []

    async def timestamp(ws: web.WebSocketResponse, s: BotSession, event: dict[str, Any]) -> None:
        if event["eventType"] == "media":
            arrivals.append(time.monotonic())

    bot = await start_bot(timestamp)
    began = time.monotonic()
    report = await simulate_call(
        SimulatorConfig(url=bot.url, linger_secs=0), [Speech.tone(440, 1.0)]
    )
    elapsed = time.monotonic() - began
    assert report.frames_sent == 50
    assert 0.95 <= elapsed < 1.5
    assert 0.93 <= arrivals[-1] - arrivals[0] + 0.02 < 1.2  # spread over the second...
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert max(gaps) < 0.1  # ...not sent in bursts


async def test_speed_factor(start_bot: StartBot) -> None:
    bot = await start_bot()
    began = time.monotonic()
    report = await simulate_call(
        SimulatorConfig(url=bot.url, speed=10, linger_secs=0), [Silence(2.0)]
    )
    elapsed = time.monotonic() - began
    assert report.frames_sent == 100 and report.duration_secs == pytest.approx(2.0, abs=0.05)
    assert 0.18 <= elapsed < 0.6


@pytest.mark.parametrize(("end_with", "bot_sees"), [("close", "close"), ("drop", "dropped")])
async def test_abrupt_end_without_stop(
    start_bot: StartBot, end_with: EndWith, bot_sees: str
) -> None:
    bot = await start_bot()
    config = SimulatorConfig(url=bot.url, fast=True, linger_secs=0, end_with=end_with)
    report = await simulate_call(config, [Silence(0.2)])
    await asyncio.wait_for(bot.session.done.wait(), 2)
    assert not report.stop_sent
    assert bot.session.of("stop") == []
    assert len(bot.session.of("media")) == 10
    assert bot.session.end == bot_sees


async def test_bot_closing_first_ends_the_call(start_bot: StartBot) -> None:
    async def close_at_ten(ws: web.WebSocketResponse, s: BotSession, event: dict[str, Any]) -> None:
        if event.get("sequenceNumber") == "10":
            await ws.close(code=4000, message=b"bye")

    bot = await start_bot(close_at_ten)
    began = time.monotonic()
    report = await simulate_call(SimulatorConfig(url=bot.url, speed=4), [Silence(5.0)])
    assert time.monotonic() - began < 0.5
    assert report.ended_by == "bot_closed" and report.bot_closed and report.close_code == 4000
    assert not report.stop_sent
    assert 10 <= report.frames_sent <= 13
    assert report.duration_secs == pytest.approx(0.2, abs=0.06)


async def test_max_call_secs_bounds_the_call(start_bot: StartBot) -> None:
    bot = await start_bot()
    began = time.monotonic()
    config = SimulatorConfig(url=bot.url, max_call_secs=0.3)
    report = await simulate_call(config, [Silence(10)])
    assert time.monotonic() - began < 0.8
    assert report.ended_by == "max_call_secs" and report.stop_sent
    assert 12 <= report.frames_sent <= 16


async def test_a_bot_that_stops_reading_cannot_hang_the_simulator(start_bot: StartBot) -> None:
    release = asyncio.Event()

    async def stall(ws: web.WebSocketResponse, s: BotSession, event: dict[str, Any]) -> None:
        await release.wait()  # never reads again: the socket's buffers fill up

    bot = await start_bot(stall)
    began = time.monotonic()
    config = SimulatorConfig(url=bot.url, fast=True, max_call_secs=0.5)
    try:
        report = await simulate_call(config, [Silence(600)])
    finally:
        release.set()
    assert time.monotonic() - began < 3
    assert report.ended_by == "max_call_secs"
    assert report.frames_sent < 30000


async def test_hangup_event_ends_the_call(start_bot: StartBot) -> None:
    bot = await start_bot()
    hangup = asyncio.Event()
    asyncio.get_running_loop().call_later(0.2, hangup.set)
    report = await simulate_call(SimulatorConfig(url=bot.url), [Silence(10)], hangup=hangup)
    assert report.ended_by == "hangup" and report.stop_sent
    assert report.duration_secs == pytest.approx(0.2, abs=0.06)


async def test_tracks_both_sends_what_the_caller_hears(start_bot: StartBot) -> None:
    async def talk(ws: web.WebSocketResponse, s: BotSession, event: dict[str, Any]) -> None:
        if event["eventType"] == "start":
            media = {
                "contentType": "audio/pcmu",
                "payload": base64.b64encode(b"\x10" * 800).decode(),
            }
            await ws.send_str(json.dumps({"eventType": "playAudio", "media": media}))

    bot = await start_bot(talk)
    config = SimulatorConfig(url=bot.url, tracks=TRACKS_BOTH, speed=5, linger_secs=0)
    await simulate_call(config, [Silence(0.3)])
    await asyncio.wait_for(bot.session.done.wait(), 2)
    session = bot.session
    names = [t["name"] for t in session.events[0]["metadata"]["tracks"]]
    assert names == ["inbound", "outbound"]
    inbound = [m for m in session.of("media") if m["track"] == "inbound"]
    outbound = [m for m in session.of("media") if m["track"] == "outbound"]
    assert len(inbound) == len(outbound) == 15
    assert outbound[-1]["sequenceNumber"] == "15"
    assert all(base64.b64decode(m["payload"]) == b"\xff" * 160 for m in inbound)
    heard = [base64.b64decode(m["payload"]) for m in outbound]
    assert heard[3] != b"\xff" * 160  # the bot's audio, 20-120 ms into the call
    assert heard[-1] == b"\xff" * 160  # 100 ms of bot audio is long over


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="ws://"):
        SimulatorConfig(url="http://x")
    with pytest.raises(ValueError, match="speed"):
        SimulatorConfig(url="ws://x", speed=0)
    with pytest.raises(ValueError, match="together"):
        SimulatorConfig(url="ws://x", username="u")
    with pytest.raises(ValueError):
        Silence(-1)
    assert Track().to_json()["mediaFormat"] == {"encoding": "audio/PCMU", "sampleRate": 8000}
