"""Fixtures for the demo bot's tests: a fake Voice API and the bot served on 127.0.0.1."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from demo_helpers import RunningBot, StartBot

from bwserial.demo.app import create_app
from bwserial.demo.calls import CallLog
from bwserial.demo.settings import DemoSettings
from bwserial.testing.fake_voice_api import FakeVoiceAPI
from bwserial.testing.server import serve

CLIENT_ID = "demo-test-client"
CLIENT_SECRET = "demo-test-secret"


@pytest.fixture
async def voice_api() -> AsyncIterator[FakeVoiceAPI]:
    async with FakeVoiceAPI(CLIENT_ID, CLIENT_SECRET) as api:
        yield api


@pytest.fixture
async def start_bot(voice_api: FakeVoiceAPI) -> AsyncIterator[StartBot]:
    """Start a demo bot with DemoSettings overrides; stopped at the end of the test."""
    async with contextlib.AsyncExitStack() as stack:

        async def start(*, plugins: Sequence[object] = (), **overrides: Any) -> RunningBot:
            settings = DemoSettings(
                client_id=CLIENT_ID,
                client_secret=CLIENT_SECRET,
                oauth_token_url=voice_api.token_url,
                voice_api_base_url=voice_api.voice_api_base_url,
                **overrides,
            )
            calls = CallLog(settings.call_log_size)
            app = create_app(settings, calls, plugins=plugins)
            server = await stack.enter_async_context(serve(app))
            return RunningBot(server.base_url, settings, calls, app)

        yield start
