"""Draining, in process: what a load balancer, Bandwidth and the caller see of
``BandwidthRunner.drain()`` (the SIGTERM/SIGHUP handler's work; the signals themselves
are tested against a real uvicorn in test_drain_sigterm.py)."""

from __future__ import annotations

import asyncio
import signal
import time

import aiohttp
import pytest
from runner_helpers import ACCOUNT_ID, SECRET, STREAM, WEBHOOK, Serve, runner_for

from bwserial.demo.app import create_app
from bwserial.demo.phone import place_call
from bwserial.demo.settings import DemoSettings
from bwserial.runner import (
    CLOSE_DRAINING,
    DEFAULT_DRAIN_SECS,
    DRAIN_SIGNALS,
    ENV_DRAIN_SECS,
    BandwidthStream,
    SignalDrain,
    basic_auth_header,
    drain_secs_from_env,
    sign_stream_token,
)
from bwserial.testing import messages
from bwserial.testing.fake_voice_api import FakeVoiceAPI
from bwserial.testing.server import serve
from bwserial.testing.webhook import initiate_body


async def _open(
    served_ws: str, call_id: str
) -> tuple[aiohttp.ClientSession, aiohttp.ClientWebSocketResponse]:
    session = aiohttp.ClientSession()
    token = sign_stream_token(SECRET, call_id, ACCOUNT_ID, 60)
    ws = await session.ws_connect(
        f"{served_ws}/ws/{token}", headers={"Authorization": STREAM.header()}
    )
    await ws.send_str(messages.start(call_id=call_id))
    return session, ws


async def test_a_draining_worker_is_not_ready_and_refuses_new_calls_and_streams(
    serve_runner: Serve, voice_api: FakeVoiceAPI
) -> None:
    served = await serve_runner(drain_secs=5.0)
    async with aiohttp.ClientSession() as http:
        async with http.get(served.base_url + "/ready") as response:
            assert response.status == 200
            assert await response.json() == {"ready": True, "live_calls": 0}
        started = time.monotonic()
        await served.runner.drain()  # nothing live: returns at once
        assert time.monotonic() - started < 1.0
        assert served.runner.draining
        async with http.get(served.base_url + "/ready") as response:
            assert response.status == 503
            assert (await response.json())["ready"] is False
        async with http.post(
            served.base_url + "/call",
            json=initiate_body(call_id="c-new", account_id=ACCOUNT_ID),
            headers={"Authorization": WEBHOOK.header()},
        ) as response:
            # Bandwidth sends a failed call webhook to the application's fallback URL.
            assert response.status == 503
            assert response.headers["Retry-After"] == "1"
    session, ws = await _open(served.ws_url, "c-refused")
    message = await ws.receive(timeout=5)
    assert message.type is aiohttp.WSMsgType.CLOSE
    assert ws.close_code == CLOSE_DRAINING
    assert "draining" in (message.extra or "")
    # Bandwidth does not reconnect a refused stream: the call is hung up, not left silent.
    assert (await voice_api.wait_for_hangup("c-refused")).status == 200
    await session.close()


async def test_a_live_call_goes_on_for_drain_secs_then_the_apps_own_ending_runs(
    serve_runner: Serve, voice_api: FakeVoiceAPI
) -> None:
    """A stream with no pipeline worker: ``on_drain`` is the app's ending (here a
    graceful hang-up); the drain waits for it."""
    ended_by_app: list[float] = []

    async def hold(websocket: object) -> None:
        stream: BandwidthStream = served.streams[-1]

        async def goodbye(s: BandwidthStream) -> None:
            ended_by_app.append(time.monotonic())
            await s.serializer.hang_up(graceful=True)

        stream.on_drain = goodbye
        while not stream.serializer.hung_up:
            await asyncio.sleep(0.05)

    served = await serve_runner(hold=hold, drain_secs=0.6)
    session, ws = await _open(served.ws_url, "c-live")
    for _ in range(100):
        if served.runner.calls.live:
            break
        await asyncio.sleep(0.02)
    started = time.monotonic()
    await served.runner.drain()
    took = time.monotonic() - started
    assert ended_by_app and ended_by_app[0] - started >= 0.6 - 0.05
    hangup = await voice_api.wait_for_hangup("c-live", timeout=1)
    assert hangup.received_at - started >= 0.6 - 0.05
    assert took < 0.6 + 2.0
    assert served.streams[0].serializer.hung_up  # over when drain() returns
    await ws.close()
    await session.close()


async def test_an_on_drain_that_never_ends_the_call_is_cut_at_the_hang_up_deadline(
    serve_runner: Serve, voice_api: FakeVoiceAPI
) -> None:
    async def hold(websocket: object) -> None:
        stream: BandwidthStream = served.streams[-1]

        async def stuck(s: BandwidthStream) -> None:
            await asyncio.sleep(3600)  # a goodbye that never finishes

        stream.on_drain = stuck
        while not stream.serializer.hung_up:
            await asyncio.sleep(0.05)

    served = await serve_runner(hold=hold, drain_secs=0)
    session, ws = await _open(served.ws_url, "c-stuck")
    for _ in range(100):
        if served.runner.calls.live:
            break
        await asyncio.sleep(0.02)
    started = time.monotonic()
    await served.runner.drain()
    took = time.monotonic() - started
    hangup = await voice_api.wait_for_hangup("c-stuck", timeout=1)
    deadline = served.runner.params.hangup_timeout_secs  # 3 s in these tests
    assert deadline - 0.1 <= hangup.received_at - started <= served.runner.shutdown_timeout_secs
    assert took <= served.runner.shutdown_timeout_secs + 0.5
    await ws.close()
    await session.close()


async def test_the_demo_bot_transfers_its_calls_when_the_drain_time_is_over() -> None:
    """``drain_transfer_to``: each call still up is handed to people, through the
    pipeline (a ``TransferFrame`` after what the bot was saying)."""
    async with FakeVoiceAPI("demo-client-id", "demo-client-secret") as api:
        demo = DemoSettings(
            oauth_token_url=api.token_url,
            voice_api_base_url=api.voice_api_base_url,
            turns=1000,
            stream_start_timeout_secs=0,
        )
        app = create_app(demo)
        runner = app.state.runner
        runner.drain_secs = 0.3
        runner.drain_transfer_to = "+15550100777"
        async with serve(app) as server:
            stream = await place_call(
                server.base_url,
                call_id="c-transfer",
                account_id=ACCOUNT_ID,
                username=demo.webhook_username,
                password=demo.webhook_password.get_secret_value(),
            )
            auth = basic_auth_header(stream.username or "", stream.password or "")
            async with (
                aiohttp.ClientSession() as session,
                session.ws_connect(stream.destination, headers={"Authorization": auth}) as ws,
            ):
                await ws.send_str(messages.start(call_id="c-transfer"))
                for seq in range(2, 60):  # a second of silence: the pipeline is running
                    await ws.send_str(messages.media(seq=seq))
                    await asyncio.sleep(0.02)
                assert runner.calls.live == 1
                await asyncio.wait_for(runner.drain(), 15)
                transfer = await api.wait_for_transfer("c-transfer", timeout=1)
                assert transfer.transfer is not None
                assert transfer.transfer.targets == ("+15550100777",)
                assert api.hangups == []


def test_drain_secs_comes_from_the_environment_with_a_clear_error() -> None:
    assert drain_secs_from_env({}) == DEFAULT_DRAIN_SECS == 15.0
    assert drain_secs_from_env({ENV_DRAIN_SECS: " 2.5 "}) == 2.5
    assert drain_secs_from_env({ENV_DRAIN_SECS: "0"}) == 0.0
    for bad in ("soon", "-1", "inf", "nan"):
        with pytest.raises(ValueError, match=ENV_DRAIN_SECS):
            drain_secs_from_env({ENV_DRAIN_SECS: bad})


def test_the_runner_checks_its_drain_settings(
    voice_api: FakeVoiceAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_DRAIN_SECS, "7")
    assert runner_for(voice_api).drain_secs == 7.0
    assert runner_for(voice_api, drain_secs=0).drain_secs == 0.0  # the argument wins
    with pytest.raises(ValueError, match="drain_secs"):
        runner_for(voice_api, drain_secs=-1)
    with pytest.raises(ValueError):
        runner_for(voice_api, drain_transfer_to="not a number")
    monkeypatch.setenv(ENV_DRAIN_SECS, "x")
    with pytest.raises(ValueError, match=ENV_DRAIN_SECS):
        runner_for(voice_api)


class FakeServer:
    """Stands in for uvicorn.Server: its bound ``handle_exit`` is the SIGTERM handler."""

    def __init__(self) -> None:
        self.should_exit = False
        self.signals: list[int] = []

    def handle_exit(self, sig: int, frame: object) -> None:
        self.signals.append(sig)
        self.should_exit = True


async def test_the_signal_drains_first_then_stops_the_server_normally() -> None:
    """SIGTERM runs the drain; a second one hurries it; then the server's own stop flag
    is set (no re-raised signal: the process exits with status 0) and the handlers are
    given back."""
    server = FakeServer()
    before = {sig: signal.getsignal(sig) for sig in DRAIN_SIGNALS}
    signal.signal(signal.SIGTERM, server.handle_exit)
    release = asyncio.Event()
    drained: list[str] = []

    async def drain() -> None:
        drained.append("started")
        await release.wait()
        drained.append("done")

    hook = SignalDrain(drain, release.set)
    try:
        assert hook.install()
        signal.raise_signal(signal.SIGTERM)
        await asyncio.sleep(0.05)
        assert drained == ["started"] and not server.should_exit  # draining, still serving
        signal.raise_signal(signal.SIGTERM)  # again: hurry
        for _ in range(100):
            if server.should_exit:
                break
            await asyncio.sleep(0.01)
        assert drained == ["started", "done"]
        assert server.should_exit and server.signals == []  # stopped, signal not re-raised
        assert signal.getsignal(signal.SIGTERM) == server.handle_exit  # given back
    finally:
        hook.uninstall()
        for sig, handler in before.items():
            signal.signal(sig, handler)
