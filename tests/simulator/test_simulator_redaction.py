"""Issue 12 item 12: a stream token never reaches a report or a log, wherever the URL carries it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import WSMsgType, web

from bwserial.testing.report import format_report, report_json
from bwserial.testing.simulator import Silence, SimulatorConfig, SimulatorError, simulate_call

PATH_TOKEN = "eyJ2IjoxLCJjYWxsIjoiYy0xIn0.Zm9vYmFy.c2lnbmF0dXJlMTIzNDU2Nzg5MA"
QUERY_TOKEN = "q5Qx0tokenValue9876543210abcdef"


@pytest.fixture
async def token_bot() -> AsyncIterator[str]:
    """A bot whose stream URL carries a signed token as a path segment."""

    async def handler(request: web.Request) -> web.StreamResponse:
        assert request.match_info["token"] == PATH_TOKEN
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for msg in ws:
            if msg.type is WSMsgType.TEXT and '"stop"' in msg.data:
                break
        await ws.close()
        return ws

    app = web.Application()
    app.router.add_get("/ws/{token}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"ws://127.0.0.1:{port}/ws/{PATH_TOKEN}?token={QUERY_TOKEN}"
    await runner.cleanup()


async def test_a_path_token_is_redacted_in_the_report_and_the_logs(token_bot: str, logs) -> None:  # type: ignore[no-untyped-def]
    config = SimulatorConfig(url=token_bot, fast=True, linger_secs=0, password="pw", username="u")
    report = await simulate_call(config, [Silence(0.1)])
    outputs = [report.url, str(report_json(report)), format_report(report), logs.text, repr(config)]
    for text in outputs:
        assert PATH_TOKEN not in text and QUERY_TOKEN not in text
        assert "Zm9vYmFy" not in text  # not even a part of the token
    assert report.url.endswith("/ws/<redacted>?token=<redacted>")
    assert "'pw'" not in repr(config)


async def test_connection_errors_do_not_carry_the_token(logs) -> None:  # type: ignore[no-untyped-def]
    url = f"ws://127.0.0.1:1/ws/{PATH_TOKEN}"  # nothing listens on port 1
    with pytest.raises(SimulatorError) as info:
        await simulate_call(SimulatorConfig(url=url, connect_timeout_secs=5), [Silence(0.02)])
    assert PATH_TOKEN not in str(info.value) and "<redacted>" in str(info.value)
