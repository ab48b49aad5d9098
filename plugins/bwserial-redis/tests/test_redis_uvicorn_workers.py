"""Two real uvicorn worker processes of a BandwidthRunner app share one real Redis: a
simulated caller's stream goes to one worker while Bandwidth's keypad-digit webhooks go to
the other, and every digit reaches the call's pipeline in order, exactly once. A worker
killed with SIGKILL mid-call: digits for its call are refused (404), the other call's
digits still arrive. Redis unreachable when a worker starts: it refuses to start, naming
the URL without the password."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from bwserial.basic_auth import basic_auth_header
from bwserial.testing.fake_voice_api import FakeVoiceAPI
from bwserial.testing.simulator import (
    CallScript,
    Keypress,
    Silence,
    SimulatorConfig,
    simulate_call,
)
from bwserial.testing.webhook import call_webhook
from redis_bot_app import DTMF_PATH, WEBHOOK
from redis_server import RedisServer, free_port

from bwserial_redis import RegistryUnavailable

HERE = Path(__file__).parent
ACCOUNT_ID = "9900000"
TTL = 2.0


@dataclass
class BotWorker:
    process: subprocess.Popen[bytes]
    base_url: str
    pid: int
    log: Path

    @property
    def dtmf_url(self) -> str:
        return self.base_url + DTMF_PATH


def _env(redis_url: str, api: FakeVoiceAPI, digits: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), *sys.path]),
        "BWSERIAL_CALL_REGISTRY_URL": redis_url,
        "BOT_TOKEN_SECRET": "a-token-secret-shared-by-workers-0123",
        "BOT_TOKEN_URL": api.token_url,
        "BOT_VOICE_API": api.voice_api_base_url,
        "BOT_DIGITS": str(digits),
        "BOT_REGISTRATION_TTL": str(TTL),
        # 8 kHz in and out resamples nothing: skip numba's compile at start.
        "BWSERIAL_RESAMPLER_ENGINE": "numpy",
    }


def _spawn(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    out = open(log, "wb")  # noqa: SIM115 - the child owns it
    process = subprocess.Popen(
        [
            sys.executable, "-m", "uvicorn", "--factory", "redis_bot_app:create_app",
            "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
        ],
        env=env, stdout=out, stderr=subprocess.STDOUT,
    )  # fmt: skip
    out.close()
    return process, port


async def _ready(process: subprocess.Popen[bytes], port: int, log: Path) -> BotWorker:
    url = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as session:
        for _ in range(1200):  # a loaded CI machine imports Pipecat slowly
            if process.poll() is not None:
                text = log.read_text(errors="replace")  # noqa: ASYNC240 - a failure report
                raise AssertionError(f"worker exited: {text[-3000:]}")
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(url + "/pid") as response:
                    if response.status == 200:
                        return BotWorker(process, url, int(await response.text()), log)
            await asyncio.sleep(0.05)
    text = log.read_text(errors="replace")  # noqa: ASYNC240 - a failure report
    raise AssertionError(f"worker did not start in 60 s: {text}")


@pytest.fixture
def digits(tmp_path: Path) -> Path:
    path = tmp_path / "digits.txt"
    path.touch()
    return path


@pytest.fixture
async def bot_workers(
    redis_server: RedisServer, fake_voice_api: FakeVoiceAPI, digits: Path, tmp_path: Path
) -> AsyncIterator[list[BotWorker]]:
    env = _env(redis_server.url, fake_voice_api, digits)
    spawned = [_spawn(env, tmp_path / f"worker-{i}.log") for i in range(2)]
    try:
        yield list(
            await asyncio.gather(
                *(
                    _ready(process, port, tmp_path / f"worker-{i}.log")
                    for i, (process, port) in enumerate(spawned)
                )
            )
        )
    finally:
        for process, _ in spawned:
            if process.poll() is None:
                process.terminate()
        for process, _ in spawned:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _seen(digits: Path) -> list[tuple[int, str, str]]:
    lines = digits.read_text(encoding="utf-8").split()
    return [(int(p), c, d) for p, c, d in zip(lines[::3], lines[1::3], lines[2::3], strict=True)]


async def _dtmf(session: aiohttp.ClientSession, url: str, call_id: str, digit: str) -> int:
    body = {
        "eventType": "dtmf",
        "eventTime": "2026-12-02T02:00:00.000Z",
        "accountId": ACCOUNT_ID,
        "applicationId": "04e88489-df02-4e34-a0ee-27a91849555f",
        "from": "+19195551234",
        "to": "+19195554321",
        "direction": "inbound",
        "callId": call_id,
        "digit": digit,
    }
    headers = {"Authorization": basic_auth_header(WEBHOOK.username, WEBHOOK.password)}
    async with session.post(url, json=body, headers=headers) as response:
        return response.status


async def _until(condition: object, secs: float, what: str) -> None:
    try:
        async with asyncio.timeout(secs):
            while not condition():  # type: ignore[operator]  # noqa: ASYNC110
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


def _caller(
    stream_url: str, call_id: str, dtmf_url: str, script: CallScript, hangup: asyncio.Event
) -> asyncio.Task[object]:
    config = SimulatorConfig(
        url=stream_url,
        call_id=call_id,
        account_id=ACCOUNT_ID,
        linger_secs=0,
        max_call_secs=30,
        dtmf_url=dtmf_url,
        dtmf_username=WEBHOOK.username,
        dtmf_password=WEBHOOK.password.get_secret_value(),
    )
    return asyncio.create_task(simulate_call(config, script, hangup=hangup))


async def test_digits_posted_to_the_other_worker_reach_the_call_and_a_killed_worker_is_refused(
    bot_workers: list[BotWorker], digits: Path
) -> None:
    a, b = bot_workers
    password = WEBHOOK.password.get_secret_value()
    on_a = await call_webhook(
        a.base_url + "/call", call_id="c-on-a", account_id=ACCOUNT_ID,
        username=WEBHOOK.username, password=password,
    )  # fmt: skip
    on_b = await call_webhook(
        b.base_url + "/call", call_id="c-on-b", account_id=ACCOUNT_ID,
        username=WEBHOOK.username, password=password,
    )  # fmt: skip
    keys_a, keys_b = "0123456789*#", "#*9876543210"
    end_a, end_b = asyncio.Event(), asyncio.Event()
    # Each caller's stream goes to one worker; its key presses go to the other.
    caller_a = _caller(
        on_a.destination, "c-on-a", b.dtmf_url,
        CallScript.of(Silence(1.0), Keypress(keys_a[:6]), Silence(0.3), Keypress(keys_a[6:]),
                      Silence(25)),
        end_a,
    )  # fmt: skip
    caller_b = _caller(
        on_b.destination, "c-on-b", a.dtmf_url,
        CallScript.of(Silence(1.0), Keypress(keys_b), Silence(25)),
        end_b,
    )  # fmt: skip
    try:
        await _until(lambda: len(_seen(digits)) >= 24, 15, "the digits of both calls")
        await asyncio.sleep(0.3)  # nothing more comes
        seen = _seen(digits)
        assert [d for p, c, d in seen if c == "c-on-a"] == list(keys_a)
        assert [d for p, c, d in seen if c == "c-on-b"] == list(keys_b)
        # Each ran in the worker holding the stream, not the one the webhook reached.
        assert {p for p, c, _ in seen if c == "c-on-a"} == {a.pid}
        assert {p for p, c, _ in seen if c == "c-on-b"} == {b.pid}

        a.process.send_signal(signal.SIGKILL)  # mid-call, no goodbye
        a.process.wait(5)
        async with aiohttp.ClientSession() as session:
            assert await _dtmf(session, b.dtmf_url, "c-on-a", "5") == 404
            assert await _dtmf(session, b.dtmf_url, "c-on-b", "5") == 204
            await asyncio.sleep(TTL + 0.5)  # past the dead worker's registration TTL
            assert await _dtmf(session, b.dtmf_url, "c-on-a", "6") == 404
            assert await _dtmf(session, b.dtmf_url, "c-on-b", "6") == 204
        await _until(lambda: len(_seen(digits)) >= 26, 5, "the live call's digits")
        seen = _seen(digits)
        assert [d for _, c, d in seen if c == "c-on-b"] == [*keys_b, "5", "6"]
        assert [d for _, c, d in seen if c == "c-on-a"] == list(keys_a)
    finally:
        end_a.set()
        end_b.set()
        for caller in (caller_a, caller_b):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(caller, 15)
    report_b = caller_b.result()
    assert [k.status for k in report_b.keypresses] == [204] * len(keys_b)  # type: ignore[attr-defined]


async def test_a_worker_refuses_to_start_when_redis_is_unreachable(
    fake_voice_api: FakeVoiceAPI, digits: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import redis_bot_app
    from fastapi import FastAPI

    port = free_port()  # nothing listens there
    for name, value in _env(
        f"redis://:s3cret-pass@127.0.0.1:{port}/0", fake_voice_api, digits
    ).items():
        monkeypatch.setenv(name, value)
    app = redis_bot_app.create_app()  # what uvicorn --factory runs; nothing connects yet
    assert isinstance(app, FastAPI)
    with pytest.raises(RegistryUnavailable) as info:
        async with app.router.lifespan_context(app):
            pass
    message = str(info.value)
    assert (
        f"cannot reach the Redis call registry at redis://<redacted>@127.0.0.1:{port}/0" in message
    )
    assert "s3cret-pass" not in message
