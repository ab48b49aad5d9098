"""The lifespan's shutdown, in process: live calls are hung up, and one that cannot be
is logged at ERROR with its call id (never silently lost)."""

from __future__ import annotations

import asyncio

import aiohttp
from loguru import logger
from runner_helpers import ACCOUNT_ID, SECRET, STREAM, Serve, runner_for

from bwserial.runner import StreamIdentity, sign_stream_token
from bwserial.testing import messages
from bwserial.testing.fake_voice_api import HANG, FakeVoiceAPI


async def test_leaving_the_server_hangs_up_a_stream_that_is_still_held(
    serve_runner: Serve, voice_api: FakeVoiceAPI
) -> None:
    """A handler that never returns (its pipeline stuck): the server's shutdown cancels
    it after its grace period, and the lifespan still hangs the call up."""
    held = asyncio.Event()

    async def hold(websocket: object) -> None:
        held.set()
        await asyncio.sleep(3600)

    served = await serve_runner(hold=hold)
    token = sign_stream_token(SECRET, "c-held", ACCOUNT_ID, 60)
    session = aiohttp.ClientSession()
    ws = await session.ws_connect(
        f"{served.ws_url}/ws/{token}", headers={"Authorization": STREAM.header()}
    )
    await ws.send_str(messages.start(call_id="c-held"))
    await asyncio.wait_for(held.wait(), 10)
    assert served.runner.calls.live == 1
    await served.runner.shutdown()  # what the lifespan runs at shutdown
    assert [h.call_id for h in voice_api.hangups] == ["c-held"]
    assert served.runner.calls.live == 0
    await ws.close()
    await session.close()


async def test_a_hang_up_that_cannot_finish_is_logged_at_error_with_its_call_id(
    voice_api: FakeVoiceAPI,
) -> None:
    runner = runner_for(voice_api, shutdown_timeout_secs=0.5)
    serializer = runner.serializer(StreamIdentity("c-stuck", ACCOUNT_ID, 0.0, ""), "s-1")
    runner.calls.add(serializer)
    voice_api.script_call(HANG)
    records: list[str] = []
    sink = logger.add(lambda m: records.append(m), level="ERROR", format="{level} {message}")
    try:
        await runner.shutdown()
    finally:
        logger.remove(sink)
    assert any(
        r.startswith("ERROR") and "'c-stuck'" in r and "did not finish" in r for r in records
    ), records
