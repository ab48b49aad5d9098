"""Ctrl+C (SIGINT) to a served bot with live calls: every call is hung up before the
process exits.

SIGTERM and SIGHUP drain the worker (tests/runner/test_drain_sigterm.py); SIGINT is the
"stop now" signal, left to uvicorn. The bot is the demo app under a real ``uvicorn``
process (the documented pattern: ``BandwidthRunner.lifespan``, ``async with stream``,
``stream.end_on_disconnect``), its hang-up pointed at a fake Voice API in this process
with a realistic latency. uvicorn closes every WebSocket with 1012, waits for the
handlers (or cancels them after ``--timeout-graceful-shutdown``), then runs the lifespan
shutdown, whose hang-ups are the net under the handlers'.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from bwserial.demo.phone import BxmlError, place_call
from bwserial.runner import basic_auth_header
from bwserial.testing import messages
from bwserial.testing.fake_voice_api import FakeVoiceAPI
from bwserial.voiceapi import aclose

ROOT = Path(__file__).resolve().parents[2]
CALLS = 3
ACCOUNT_ID = "9900000"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def caller(url: str, username: str, password: str, call_id: str, closed: list[int]) -> None:
    """Bandwidth's side: start, then 20 ms of silence at a time until the bot closes."""
    headers = {"Authorization": basic_auth_header(username, password)}
    async with aiohttp.ClientSession() as session, session.ws_connect(url, headers=headers) as ws:
        await ws.send_str(messages.start(stream_id=f"s-{call_id}", call_id=call_id))
        seq = 1
        while not ws.closed:
            seq += 1
            try:
                await ws.send_str(messages.media(seq=seq))
            except (ConnectionError, RuntimeError):
                break
            with contextlib.suppress(TimeoutError):
                message = await ws.receive(timeout=0.02)
                if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                    break
        closed.append(ws.close_code or 0)


@pytest.mark.parametrize(
    ("latency", "graceful"),
    [(0.3, None), (1.5, 1)],
    ids=["api-300ms", "api-1500ms-graceful-timeout-1s"],
)
async def test_sigint_hangs_up_every_live_call_before_exit(
    latency: float, graceful: int | None, tmp_path: Path
) -> None:
    await aclose()
    async with FakeVoiceAPI("cid", "client-secret", latency=latency) as api:
        port = free_port()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("BWSERIAL_")},
            "PYTHONPATH": str(ROOT / "src"),
            "BWSERIAL_PLUGINS": "",
            "BWSERIAL_DEMO_TOKEN_SECRET": "sigterm-test-secret-0123456789ab",
            "BWSERIAL_DEMO_CLIENT_ID": "cid",
            "BWSERIAL_DEMO_CLIENT_SECRET": "client-secret",
            "BWSERIAL_DEMO_OAUTH_TOKEN_URL": api.token_url,
            "BWSERIAL_DEMO_VOICE_API_BASE_URL": api.voice_api_base_url,
            "BWSERIAL_DEMO_TURNS": "1000",  # the bot never ends a call by itself
        }
        command = [
            sys.executable, "-m", "uvicorn", "--factory", "bwserial.demo.app:create_app",
            "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
        ]  # fmt: skip
        if graceful is not None:
            command += ["--timeout-graceful-shutdown", str(graceful)]
        log = (tmp_path / "bot.log").open("w+")
        bot = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: ASYNC220
        callers: list[asyncio.Task[None]] = []
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            streams = []
            for i in range(CALLS):
                while True:
                    try:
                        streams.append(
                            await place_call(
                                base,
                                call_id=f"c-live-{i}",
                                account_id=ACCOUNT_ID,
                                username="bandwidth",
                                password="demo-webhook-password",
                            )
                        )
                        break
                    except BxmlError:  # not listening yet
                        assert bot.poll() is None and time.monotonic() < deadline
                        await asyncio.sleep(0.2)
            closed: list[int] = []
            for i, stream in enumerate(streams):
                callers.append(
                    asyncio.create_task(
                        caller(
                            stream.destination,
                            stream.username or "",
                            stream.password or "",
                            f"c-live-{i}",
                            closed,
                        )
                    )
                )
            await asyncio.sleep(3.0)  # every stream accepted and its pipeline running
            assert api.call_requests == []  # the calls are live: nobody hung up yet
            assert not any(task.done() for task in callers)

            bot.send_signal(signal.SIGINT)
            exit_code = await asyncio.to_thread(bot.wait, 60)
            exited = time.monotonic()
        finally:
            if bot.poll() is None:
                bot.kill()
                bot.wait()
            for task in callers:
                task.cancel()
            await asyncio.gather(*callers, return_exceptions=True)
        log.seek(0)
        output = log.read()

    assert exit_code in (0, 1, -signal.SIGINT), output[-3000:]  # uvicorn re-raises the signal
    hung_up = {r.call_id for r in api.hangups if r.received_at < exited}
    assert hung_up == {f"c-live-{i}" for i in range(CALLS)}, output[-3000:]
    assert all(r.status == 200 for r in api.call_requests), api.call_requests
    assert len(api.call_requests) == CALLS  # one request per call, none repeated
    # The bot saw every answer before it exited: one "completed" line per call.
    for i in range(CALLS):
        assert f"call c-live-{i}: hang-up completed" in output, output[-3000:]
    assert "did not finish before shutdown" not in output
