"""A tiny WebSocket bot on 127.0.0.1 for the simulator tests.

Each test gives the bot a behaviour (a coroutine called for every event it receives) and
then inspects what the bot saw: raw texts in order, headers, how the socket ended.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from aiohttp import WSMsgType, web
from sim_helpers import Behavior, Bot, BotSession, StartBot


@pytest.fixture
async def start_bot() -> AsyncIterator[StartBot]:
    runners: list[web.AppRunner] = []

    async def start(behavior: Behavior | None = None, require_auth: str | None = None) -> Bot:
        sessions: list[BotSession] = []

        async def handler(request: web.Request) -> web.StreamResponse:
            if require_auth is not None and request.headers.get("Authorization") != require_auth:
                return web.Response(status=401)
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            session = BotSession(headers=dict(request.headers))
            sessions.append(session)
            try:
                while True:
                    msg = await ws.receive()
                    if msg.type is WSMsgType.TEXT:
                        session.raw.append(msg.data)
                        event = json.loads(msg.data)
                        session.events.append(event)
                        if behavior is not None and not ws.closed:
                            await behavior(ws, session, event)
                        if ws.closed:  # the behaviour hung up
                            session.end = "bot closed"
                            break
                    elif msg.type is WSMsgType.CLOSE:
                        session.end = "close"
                        break
                    else:  # CLOSED/ERROR: the connection ended without a close frame
                        session.end = "dropped"
                        break
            finally:
                session.close_code = ws.close_code
                session.done.set()
            return ws

        app = web.Application()
        app.router.add_get("/ws", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = runner.addresses[0][1]
        return Bot(f"ws://127.0.0.1:{port}/ws", sessions)

    yield start
    for runner in runners:
        await runner.cleanup()
