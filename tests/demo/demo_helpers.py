"""Shared pieces of the demo bot's end-to-end tests (imported directly, not fixtures)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from bwserial.demo.calls import CallLog
from bwserial.demo.phone import StreamInstruction, place_call
from bwserial.demo.settings import DEMO_ACCOUNT_ID, DemoSettings, bundled_asset
from bwserial.testing.simulator import Speech
from bwserial.testing.turns import script_from_wav
from bwserial.testing.wav import load_wav_as_pcm16

ACCOUNT_ID = DEMO_ACCOUNT_ID


@dataclass
class RunningBot:
    """A demo bot served on 127.0.0.1 and pointed at the test's fake Voice API."""

    base_url: str
    settings: DemoSettings
    calls: CallLog
    app: Any = None

    async def place_call(self, call_id: str, account_id: str = ACCOUNT_ID) -> StreamInstruction:
        """Post the initiate webhook as Bandwidth does; the answer names the stream."""
        return await place_call(
            self.base_url,
            call_id=call_id,
            account_id=account_id,
            username=self.settings.webhook_username,
            password=self.settings.webhook_password.get_secret_value(),
        )

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://") + "/ws"


StartBot = Callable[..., Awaitable[RunningBot]]


@cache
def caller_turns() -> tuple[Speech, ...]:
    """The three turns of the bundled caller recording, as the demo cuts them."""
    turns = tuple(s for s in script_from_wav(bundled_asset("caller.wav")).segments)
    speech = tuple(s for s in turns if isinstance(s, Speech))
    assert len(speech) == 3, speech
    return speech


@cache
def prompt_secs() -> float:
    return len(load_wav_as_pcm16(bundled_asset("prompt.wav"))) / 2 / 8000
