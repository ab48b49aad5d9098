"""Fixtures for bwserial.runner: a fake Voice API and a small app built on the runner."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from runner_helpers import CLIENT_ID, CLIENT_SECRET, Serve, Served, app_for, runner_for

from bwserial.testing.fake_voice_api import FakeVoiceAPI
from bwserial.testing.server import serve
from bwserial.voiceapi import aclose


@pytest.fixture
async def voice_api() -> AsyncIterator[FakeVoiceAPI]:
    await aclose()
    async with FakeVoiceAPI(CLIENT_ID, CLIENT_SECRET) as api:
        yield api
    await aclose()


@pytest.fixture
async def serve_runner(voice_api: FakeVoiceAPI) -> AsyncIterator[Serve]:
    async with contextlib.AsyncExitStack() as stack:

        async def start(hold: Any = None, **overrides: Any) -> Served:
            served = Served("", runner_for(voice_api, **overrides))
            server = await stack.enter_async_context(serve(app_for(served, hold)))
            served.base_url = server.base_url
            return served

        yield start
