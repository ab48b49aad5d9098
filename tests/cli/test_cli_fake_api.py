"""``bwserial fake-api``: the fake Voice API from a shell, driven over real HTTP."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
BASIC = "Basic " + base64.b64encode(b"cid:sekrit").decode()


@pytest.fixture
def start_fake_api() -> Iterator[object]:
    started: list[subprocess.Popen[str]] = []

    def start(*args: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
        env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
        process = subprocess.Popen(
            [sys.executable, "-m", "bwserial", "fake-api", "--json", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        started.append(process)
        assert process.stdout is not None
        first = process.stdout.readline()  # the URLs, printed once it listens
        assert first, process.stderr.read() if process.stderr else ""
        return process, json.loads(first)

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def stop(process: subprocess.Popen[str], signum: int) -> tuple[int, list[dict[str, object]]]:
    process.send_signal(signum)
    out, _ = process.communicate(timeout=20)
    return process.returncode, json.loads(out)["requests"]


async def hang_up(session: aiohttp.ClientSession, urls: dict[str, str], call_id: str) -> int:
    async with session.post(
        urls["oauth_token_url"],
        headers={"Authorization": BASIC},
        data={"grant_type": "client_credentials"},
    ) as answer:
        token = (await answer.json())["access_token"]
    async with session.post(
        f"{urls['voice_api_base_url']}/accounts/9900000/calls/{call_id}",
        headers={"Authorization": f"Bearer {token}"},
        json={"state": "completed"},
    ) as answer:
        return answer.status


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_it_serves_until_signalled_and_lists_what_it_saw(start_fake_api, signum) -> None:
    process, urls = start_fake_api("--client-id", "cid", "--client-secret", "sekrit")
    assert urls["oauth_token_url"].startswith("http://127.0.0.1:")
    assert urls["oauth_token_url"].endswith("/api/v1/oauth2/token")
    async with aiohttp.ClientSession() as session:
        assert await hang_up(session, urls, "c-1") == 200
        assert await hang_up(session, urls, "c-1") == 404  # already ended, as Bandwidth says
    code, requests = stop(process, signum)
    assert code == 0
    assert [(r["kind"], r["status"], r["call_id"]) for r in requests] == [
        ("token", 200, None),
        ("call", 200, "c-1"),
        ("token", 200, None),
        ("call", 404, "c-1"),
    ]


async def test_failure_modes_come_from_options(start_fake_api) -> None:
    process, urls = start_fake_api(
        "--client-id", "cid", "--client-secret", "sekrit",
        "--fail-call", "503", "--fail-call", "429", "--retry-after", "2",
    )  # fmt: skip
    async with aiohttp.ClientSession() as session:
        statuses = [await hang_up(session, urls, "c-9") for _ in range(3)]
    assert statuses == [503, 429, 200]
    code, _ = stop(process, signal.SIGTERM)
    assert code == 0


async def test_latency_delays_every_answer(start_fake_api) -> None:
    process, urls = start_fake_api(
        "--client-id", "cid", "--client-secret", "sekrit", "--latency", "0.5"
    )  # fmt: skip
    async with aiohttp.ClientSession() as session:
        began = time.monotonic()
        assert await hang_up(session, urls, "c-2") == 200
        assert time.monotonic() - began >= 1.0  # token and call request, 0.5 s each
    stop(process, signal.SIGTERM)


def test_a_bad_failure_mode_is_a_usage_error() -> None:
    from click.testing import CliRunner

    from bwserial.cli import main

    result = CliRunner().invoke(main, ["fake-api", "--fail-call", "teapot"])
    assert result.exit_code == 2
    assert "expected an HTTP status or 'hang'" in result.output
