"""``bwserial simulate --webhook`` and the bundled caller: Bandwidth's whole path, from a shell.

A tiny app on 127.0.0.1 plays the bot: a call webhook that checks the voice application's
Basic credentials and answers BXML naming the stream (a token in the URL, stream
credentials), and the WebSocket that checks both. The command runs in a worker thread,
where ``asyncio.run`` gives it a loop of its own, as from a shell.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import WSMsgType, web
from click.testing import CliRunner, Result

from bwserial.cli import main


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@dataclass
class App:
    base_url: str = ""
    webhooks: list[dict[str, Any]] = field(default_factory=list)
    stream_auth: list[str | None] = field(default_factory=list)
    starts: list[dict[str, Any]] = field(default_factory=list)
    media: int = 0


@pytest.fixture
async def app() -> AsyncIterator[App]:
    state = App()

    async def initiate(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != basic("hook-user", "hook-pass"):
            return web.Response(status=401)
        body = await request.json()
        state.webhooks.append(body)
        ws = state.base_url.replace("http://", "ws://") + f"/ws?token=tok-{body['callId']}"
        bxml = (
            '<?xml version="1.0" encoding="UTF-8"?><Response>'
            f'<StartStream destination="{ws.replace("&", "&amp;")}" mode="bidirectional" '
            'destinationUsername="stream-user" destinationPassword="stream-pass"/>'
            '<Pause duration="86400"/></Response>'
        )
        return web.Response(text=bxml, content_type="application/xml")

    async def stream(request: web.Request) -> web.StreamResponse:
        state.stream_auth.append(request.headers.get("Authorization"))
        if request.query.get("token") != f"tok-{state.webhooks[-1]['callId']}":
            return web.Response(status=403)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for msg in ws:
            if msg.type is not WSMsgType.TEXT:
                break
            event = json.loads(msg.data)
            if event["eventType"] == "start":
                state.starts.append(event)
            elif event["eventType"] == "media":
                state.media += 1
        return ws

    web_app = web.Application()
    web_app.router.add_post("/bandwidth/initiate", initiate)
    web_app.router.add_get("/ws", stream)
    runner = web.AppRunner(web_app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    state.base_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield state
    await runner.cleanup()


async def invoke(*args: str) -> Result:
    return await asyncio.to_thread(CliRunner().invoke, main, list(args))


async def test_the_webhook_answer_opens_the_stream_with_its_credentials(app: App) -> None:
    result = await invoke(
        "simulate",
        "--webhook", app.base_url + "/bandwidth/initiate",
        "--webhook-username", "hook-user", "--webhook-password", "hook-pass",
        "--call-id", "c-hook-1", "--account-id", "5550000",
        "--fast", "--linger", "0", "--one-turn", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    [hook] = app.webhooks
    assert (hook["eventType"], hook["callId"], hook["accountId"]) == (
        "initiate",
        "c-hook-1",
        "5550000",
    )
    assert app.stream_auth == [basic("stream-user", "stream-pass")]  # from the BXML
    [start] = app.starts
    assert start["metadata"]["callId"] == "c-hook-1"
    report = json.loads(result.stdout)
    assert report["url"].endswith("/ws?token=<redacted>")  # the BXML's URL, token hidden
    assert report["call_id"] == "c-hook-1"


async def test_a_refused_webhook_is_a_clear_error(app: App) -> None:
    result = await invoke(
        "simulate", "--webhook", app.base_url + "/bandwidth/initiate",
        "--webhook-username", "hook-user", "--webhook-password", "wrong", "--fast",
    )  # fmt: skip
    assert result.exit_code == 1
    assert "the webhook did not start a stream: the webhook answered HTTP 401" in result.output
    assert app.stream_auth == []


async def test_without_wav_the_bundled_caller_speaks_three_turns(app: App) -> None:
    result = await invoke(
        "simulate", "--webhook", app.base_url + "/bandwidth/initiate",
        "--webhook-username", "hook-user", "--webhook-password", "hook-pass",
        "--fast", "--linger", "0", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert len(report["turns"]) == 3
    assert report["caller_audio_secs"] > 12 and app.media == report["frames_sent"]


async def test_url_and_webhook_are_one_or_the_other() -> None:
    neither = await invoke("simulate", "--fast")
    both = await invoke("simulate", "ws://127.0.0.1:9/ws", "--webhook", "http://127.0.0.1:9/")
    for result in (neither, both):
        assert result.exit_code == 2
        assert "give the stream URL or --webhook URL (one of them)" in result.output
