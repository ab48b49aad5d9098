"""``bwserial simulate``: the simulator on the command line, against a tiny bot on 127.0.0.1.

The bot runs on the test's event loop; the command runs in a worker thread, where
``asyncio.run`` gives it a loop of its own, exactly as from a shell.
"""

from __future__ import annotations

import asyncio
import base64
import json
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiohttp import WSMsgType, web
from click.testing import CliRunner, Result

from bwserial.cli import main
from bwserial.testing.wav import pcm16_to_pcmu

RATE = 8000


@dataclass
class TinyBot:
    """Answers ``start`` with 0.4 s of tone in 20 ms playAudio messages; records the rest."""

    url: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)

    def of(self, event_type: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("eventType") == event_type]


@pytest.fixture
async def tiny_bot() -> AsyncIterator[TinyBot]:
    bot = TinyBot()
    t = np.arange(round(0.4 * RATE)) / RATE
    answer = pcm16_to_pcmu((0.3 * 32767 * np.sin(2 * np.pi * 440 * t)).astype("<i2").tobytes())

    async def handler(request: web.Request) -> web.WebSocketResponse:
        bot.headers = dict(request.headers)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for msg in ws:
            if msg.type is not WSMsgType.TEXT:
                break
            event = json.loads(msg.data)
            bot.events.append(event)
            if event["eventType"] == "start":
                for i in range(0, len(answer), 160):
                    payload = base64.b64encode(answer[i : i + 160]).decode()
                    media = {"contentType": "audio/pcmu", "payload": payload}
                    await ws.send_str(json.dumps({"eventType": "playAudio", "media": media}))
        return ws

    app = web.Application()
    app.router.add_get("/ws", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    bot.url = f"ws://127.0.0.1:{runner.addresses[0][1]}/ws"
    yield bot
    await runner.cleanup()


@pytest.fixture
def caller_wav(tmp_path: Path) -> Path:
    """0.3 s silence, 0.5 s tone, 0.6 s silence, 0.4 s tone: two caller turns."""
    parts = [np.zeros(2400), np.sin(2 * np.pi * 300 * np.arange(4000) / RATE) * 0.3]
    parts += [np.zeros(4800), np.sin(2 * np.pi * 300 * np.arange(3200) / RATE) * 0.3]
    path = tmp_path / "caller.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes((np.concatenate(parts) * 32767).astype("<i2").tobytes())
    return path


async def invoke(*args: str) -> Result:
    return await asyncio.to_thread(CliRunner().invoke, main, list(args))


async def test_simulate_json_report(tiny_bot: TinyBot, caller_wav: Path, tmp_path: Path) -> None:
    out = tmp_path / "bot.wav"
    result = await invoke(
        "simulate",
        tiny_bot.url + "?token=sekrit-token",
        "--wav",
        str(caller_wav),
        "--out",
        str(out),
        "--fast",
        "--linger",
        "0.5",
        "--json",
        "--call-id",
        "c-cli-1",
        "--account-id",
        "1234567",
        "--stream-param",
        "lang=en",
        "--stream-param",
        "empty=",
        "--username",
        "u",
        "--password",
        "p",
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)  # nothing but JSON on stdout
    assert report["call_id"] == "c-cli-1"
    assert report["url"].endswith("?token=<redacted>")
    assert "sekrit" not in result.output
    assert report["play_audio_messages"] == 20
    assert report["content_types"] == {"audio/pcmu": 20}
    assert report["bot_audio_played_secs"] > 0.3
    assert [t["label"] for t in report["turns"]] == ["turn 1", "turn 2"]
    assert report["stop_sent"] is True
    assert report["out_wav"] == str(out) and out.stat().st_size > 0

    (start,) = tiny_bot.of("start")
    assert start["metadata"]["callId"] == "c-cli-1"
    assert start["metadata"]["accountId"] == "1234567"
    assert start["streamParams"] == {"lang": "en", "empty": ""}
    assert tiny_bot.headers["Authorization"] == "Basic " + base64.b64encode(b"u:p").decode()
    assert tiny_bot.of("stop")


async def test_simulate_human_report_and_abrupt_close(tiny_bot: TinyBot, caller_wav: Path) -> None:
    result = await invoke(
        "simulate",
        tiny_bot.url,
        "--wav",
        str(caller_wav),
        "--speed",
        "4",
        "--linger",
        "0.4",
        "--abrupt-close",
        "--one-turn",
    )
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert text.startswith("Call c-sim-")
    assert "20 playAudio (audio/pcmu: 20)" in text
    assert "in 1 turn(s)" in text
    assert "closed without a stop message" in text
    assert not tiny_bot.of("stop")


async def test_simulate_reports_an_unreachable_bot(caller_wav: Path) -> None:
    result = await invoke("simulate", "ws://127.0.0.1:9/ws", "--wav", str(caller_wav), "--fast")
    assert result.exit_code == 1
    assert "cannot connect" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--stream-param", "novalue"], "NAME=VALUE"),
        (["--username", "u"], "go together"),
        (["--speed", "0"], "speed"),
    ],
)
async def test_simulate_usage_errors(caller_wav: Path, args: list[str], message: str) -> None:
    result = await invoke("simulate", "ws://127.0.0.1:9/ws", "--wav", str(caller_wav), *args)
    assert result.exit_code == 2
    assert message in result.output


async def test_simulate_refuses_a_non_websocket_url(caller_wav: Path) -> None:
    result = await invoke("simulate", "http://127.0.0.1:9/ws", "--wav", str(caller_wav))
    assert result.exit_code == 2 and "ws://" in result.output
