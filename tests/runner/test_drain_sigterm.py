"""A deploy does not drop callers: SIGTERM to a served bot with live calls drains it.

The bot is the demo app under a real ``uvicorn`` process started the documented way
(``uvicorn --factory bwserial.demo.app:create_app``, ``BWSERIAL_DRAIN_SECS``), its
hang-up pointed at a fake Voice API in this process with a realistic latency. Three
simulated callers are on the line when SIGTERM arrives; each speaks right after it, so
the bot is answering while the worker drains. What a caller and the platform notice:

* the readiness route flips to 503, a new call webhook gets 503 (Bandwidth's fallback
  URL takes it elsewhere), and a new stream is refused with 1013 and its call hung up;
* the live calls go on (the bot's audio keeps flowing) until ``drain_secs`` has passed;
* then each is ended cleanly: what the bot was saying plays out, then one hang-up per
  call reaches the Voice API;
* the process exits with status 0, after the Voice API answered every hang-up.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest

from bwserial.demo.phone import BxmlError, StreamInstruction, place_call
from bwserial.demo.settings import bundled_asset
from bwserial.runner import CLOSE_DRAINING, basic_auth_header
from bwserial.testing import messages
from bwserial.testing.fake_voice_api import FakeVoiceAPI
from bwserial.testing.simulator import Speech
from bwserial.testing.turns import script_from_wav
from bwserial.voiceapi import aclose

ROOT = Path(__file__).resolve().parents[2]
CALLS = 3
ACCOUNT_ID = "9900000"
DRAIN_SECS = 4.0
API_LATENCY = 0.2
FRAME_SECS = 0.02
PCMU_RATE = 8000


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Caller:
    """What one simulated caller heard."""

    call_id: str
    audio: list[tuple[float, float]] = field(default_factory=list)
    """(arrival time, seconds of audio) per playAudio message."""
    closed_at: float | None = None
    close_code: int | None = None

    def heard_after(self, t: float) -> float:
        return sum(secs for at, secs in self.audio if at >= t)

    def playout_end(self) -> float:
        """When the bot's audio finishes playing at the caller, Bandwidth's way: each
        message plays after the previous one, not before it arrives."""
        end = 0.0
        for at, secs in self.audio:
            end = max(end, at) + secs
        return end


async def run_caller(
    stream: StreamInstruction,
    caller: Caller,
    speak: asyncio.Event,
    leave: asyncio.Event | None = None,
) -> None:
    """Bandwidth's side: start, then 20 ms frames at real time (silence, and the first
    turn of the bundled caller recording once ``speak`` is set) until the bot closes,
    or the caller hangs up (``leave`` set: the socket closes, as Bandwidth's does)."""
    segments = script_from_wav(bundled_asset("caller.wav")).segments
    speech = next(s.pcmu for s in segments if isinstance(s, Speech))
    frame = int(PCMU_RATE * FRAME_SECS)
    silence = b"\xff" * frame
    headers = {"Authorization": basic_auth_header(stream.username or "", stream.password or "")}
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(stream.destination, headers=headers) as ws,
    ):
        await ws.send_str(messages.start(stream_id=f"s-{caller.call_id}", call_id=caller.call_id))
        seq, spoken, tick = 1, 0, time.monotonic()
        while True:
            if leave is not None and leave.is_set():
                await ws.close()
                caller.closed_at = time.monotonic()
                return
            chunk = silence
            if speak.is_set() and spoken < len(speech):
                chunk = speech[spoken : spoken + frame].ljust(frame, b"\xff")
                spoken += frame
            seq += 1
            try:
                await ws.send_str(messages.media(chunk, seq=seq))
            except (ConnectionError, RuntimeError):
                break
            tick += FRAME_SECS
            while (left := tick - time.monotonic()) > 0:
                try:
                    message = await ws.receive(timeout=left)
                except TimeoutError:
                    break
                if message.type is aiohttp.WSMsgType.TEXT:
                    event = json.loads(message.data)
                    if event.get("eventType") == "playAudio":
                        payload = base64.b64decode(event["media"]["payload"])
                        caller.audio.append((time.monotonic(), len(payload) / PCMU_RATE))
                elif message.type in (
                    aiohttp.WSMsgType.CLOSE,
                    aiohttp.WSMsgType.CLOSED,
                    aiohttp.WSMsgType.CLOSING,
                    aiohttp.WSMsgType.ERROR,
                ):
                    caller.closed_at = time.monotonic()
                    caller.close_code = ws.close_code
                    return
            if ws.closed:
                break
        caller.closed_at = time.monotonic()
        caller.close_code = ws.close_code


async def refused_stream(stream: StreamInstruction, call_id: str) -> int | None:
    """Open a stream and send ``start``; the close code the bot answers with."""
    headers = {"Authorization": basic_auth_header(stream.username or "", stream.password or "")}
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(stream.destination, headers=headers) as ws,
    ):
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.send_str(messages.start(stream_id=f"s-{call_id}", call_id=call_id))
        with contextlib.suppress(TimeoutError):
            while not ws.closed:
                message = await ws.receive(timeout=5)
                if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                    break
        return ws.close_code


async def status_of(session: aiohttp.ClientSession, url: str) -> int:
    async with session.get(url) as response:
        return response.status


def bot_command(port: int) -> list[str]:
    return [
        sys.executable, "-m", "uvicorn", "--factory", "bwserial.demo.app:create_app",
        "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
    ]  # fmt: skip


def bot_env(api: FakeVoiceAPI, **extra: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("BWSERIAL_")},
        "PYTHONPATH": str(ROOT / "src"),
        "BWSERIAL_PLUGINS": "",
        "BWSERIAL_DEMO_TOKEN_SECRET": "drain-test-secret-0123456789abcd",
        "BWSERIAL_DEMO_CLIENT_ID": "cid",
        "BWSERIAL_DEMO_CLIENT_SECRET": "client-secret",
        "BWSERIAL_DEMO_OAUTH_TOKEN_URL": api.token_url,
        "BWSERIAL_DEMO_VOICE_API_BASE_URL": api.voice_api_base_url,
        "BWSERIAL_DEMO_TURNS": "1000",  # the bot never ends a call by itself
        "BWSERIAL_DEMO_STREAM_START_TIMEOUT_SECS": "0",
        **extra,
    }


async def call(
    base: str, call_id: str, deadline: float, bot: subprocess.Popen[bytes]
) -> StreamInstruction:
    while True:
        try:
            return await place_call(
                base,
                call_id=call_id,
                account_id=ACCOUNT_ID,
                username="bandwidth",
                password="demo-webhook-password",
            )
        except BxmlError:  # not listening yet
            assert bot.poll() is None and time.monotonic() < deadline
            await asyncio.sleep(0.2)


async def test_sigterm_drains_live_calls_then_ends_each_cleanly(tmp_path: Path) -> None:
    await aclose()
    async with FakeVoiceAPI("cid", "client-secret", latency=API_LATENCY) as api:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log = (tmp_path / "bot.log").open("w+")
        bot = subprocess.Popen(  # noqa: ASYNC220
            bot_command(port),
            env=bot_env(api, BWSERIAL_DRAIN_SECS=str(DRAIN_SECS)),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        callers = [Caller(f"c-live-{i}") for i in range(CALLS)]
        tasks: list[asyncio.Task[None]] = []
        speak = asyncio.Event()
        try:
            deadline = time.monotonic() + 60
            streams = [await call(base, c.call_id, deadline, bot) for c in callers]
            late = await call(base, "c-late", deadline, bot)  # answered before the SIGTERM
            async with aiohttp.ClientSession() as session:
                assert await status_of(session, base + "/ready") == 200
                tasks = [
                    asyncio.create_task(run_caller(s, c, speak))
                    for s, c in zip(streams, callers, strict=True)
                ]
                await asyncio.sleep(2.5)  # every stream accepted and its pipeline running
                assert api.call_requests == []
                assert not any(t.done() for t in tasks)

                bot.send_signal(signal.SIGTERM)
                signalled = time.monotonic()
                speak.set()
                ready = 200
                while ready == 200 and time.monotonic() < signalled + 5:
                    await asyncio.sleep(0.05)
                    ready = await status_of(session, base + "/ready")
                not_ready_after = time.monotonic() - signalled
                with pytest.raises(BxmlError, match="503"):
                    await place_call(
                        base,
                        call_id="c-new",
                        account_id=ACCOUNT_ID,
                        username="bandwidth",
                        password="demo-webhook-password",
                    )
                late_code = await refused_stream(late, "c-late")
                late_hangup = await api.wait_for_hangup("c-late", timeout=5)
            exit_code = await asyncio.to_thread(bot.wait, 60)
            exited = time.monotonic()
            await asyncio.wait_for(asyncio.gather(*tasks), 5)
        finally:
            if bot.poll() is None:
                bot.kill()
                bot.wait()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        log.seek(0)
        output = log.read()

    tail = output[-4000:]
    assert exit_code == 0, tail
    # At once (the first poll, 50 ms after the signal, on an idle machine); the bound
    # leaves room for a loaded one.
    assert ready == 503 and not_ready_after < 3.0, (ready, not_ready_after)
    assert late_code == CLOSE_DRAINING
    assert late_hangup.received_at > signalled
    hangups = {r.call_id: r for r in api.hangups}
    assert set(hangups) == {c.call_id for c in callers} | {"c-late"}, tail
    assert len(api.call_requests) == CALLS + 1  # one request per call, none repeated
    assert all(r.status == 200 for r in api.call_requests), api.call_requests
    for caller in callers:
        hangup = hangups[caller.call_id]
        # The call went on through the drain: the bot answered the caller after the
        # SIGTERM, and nobody hung up or closed the stream before drain_secs passed.
        assert caller.heard_after(signalled) > 0.5, (caller, tail)
        assert hangup.received_at >= signalled + DRAIN_SECS - 0.1, tail
        assert caller.closed_at is not None and caller.closed_at >= signalled + DRAIN_SECS - 0.1
        # Ended cleanly: the hang-up waited for what the bot had sent to play out.
        assert hangup.received_at >= caller.playout_end() - 0.1, (
            hangup.received_at - caller.playout_end()
        )
        # The process waited for the answer to every hang-up.
        assert hangup.answered_at is not None and hangup.answered_at <= exited
        assert f"call {caller.call_id}: hang-up completed" in output, tail
    assert exited - signalled < DRAIN_SECS + 20, tail  # bounded (about 2 s past the drain)
    assert "did not finish before shutdown" not in output
    assert "not ended by the drain" not in output


async def test_sighup_drain_ends_as_soon_as_the_callers_hang_up(tmp_path: Path) -> None:
    """drain_secs is a limit, not a wait: once every caller has hung up, the worker exits."""
    await aclose()
    async with FakeVoiceAPI("cid", "client-secret", latency=API_LATENCY) as api:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log = (tmp_path / "bot.log").open("w+")
        bot = subprocess.Popen(  # noqa: ASYNC220
            bot_command(port),
            env=bot_env(api, BWSERIAL_DRAIN_SECS="60"),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        callers = [Caller(f"c-short-{i}") for i in range(2)]
        tasks: list[asyncio.Task[None]] = []
        speak, leave = asyncio.Event(), asyncio.Event()
        try:
            deadline = time.monotonic() + 60
            streams = [await call(base, c.call_id, deadline, bot) for c in callers]
            tasks = [
                asyncio.create_task(run_caller(s, c, speak, leave))
                for s, c in zip(streams, callers, strict=True)
            ]
            await asyncio.sleep(2.5)
            assert not any(t.done() for t in tasks)
            bot.send_signal(signal.SIGHUP)
            signalled = time.monotonic()
            await asyncio.sleep(1.0)
            assert bot.poll() is None  # still draining: the calls are up
            assert api.call_requests == []
            leave.set()
            left = time.monotonic()
            exit_code = await asyncio.to_thread(bot.wait, 30)
            exited = time.monotonic()
            await asyncio.wait_for(asyncio.gather(*tasks), 5)
        finally:
            if bot.poll() is None:
                bot.kill()
                bot.wait()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        log.seek(0)
        output = log.read()

    tail = output[-4000:]
    assert exit_code == 0, tail
    assert exited - left < 20, (exited - signalled, tail)  # not the 60 s drain_secs
    assert {r.call_id for r in api.hangups} == {c.call_id for c in callers}, tail
    assert all(r.answered_at is not None and r.answered_at <= exited for r in api.hangups)
    assert "every call ended" in output, tail
