"""``bwserial demo``: a whole phone call, offline, in one process on 127.0.0.1.

Three real servers and a client talk over loopback sockets, in the order of a live call:

1. the fake Bandwidth Voice API (:class:`~bwserial.testing.fake_voice_api.FakeVoiceAPI`),
   where the bot's hang-up lands;
2. the demo bot (:mod:`.app` under uvicorn), configured to hang up through that fake;
3. Bandwidth's part, played here: the ``initiate`` webhook, the BXML answer read back,
   then the media stream opened with the URL and credentials the bot gave, and the
   bundled caller recording spoken into it (:func:`~bwserial.testing.simulator.simulate_call`).

The caller's third turn starts while the bot is still answering the second, so a ``clear``
must happen; the call ends when the bot hangs up after its last answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from bwserial.demo.app import create_app
from bwserial.demo.calls import CallLog, CallRecord
from bwserial.demo.phone import place_call
from bwserial.demo.settings import DEMO_ACCOUNT_ID, DemoSettings, bundled_asset
from bwserial.testing.fake_voice_api import FakeVoiceAPI, RecordedRequest
from bwserial.testing.server import serve
from bwserial.testing.simulator import CallReport, SimulatorConfig, simulate_call
from bwserial.testing.turns import script_from_wav

__all__ = ["CALLER_TURNS", "Check", "DemoResult", "run_demo"]

CALLER_TURNS: Final = 3
"""Turns spoken in the bundled ``caller.wav``; the bot can answer at most these."""
LINGER_SECS: Final = 8.0
"""Line silence after the caller's last word: room for the last answer and the hang-up."""
RECORD_TIMEOUT_SECS: Final = 10.0


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class DemoResult:
    """The caller's report (hang-up slot filled), the bot's record and the verdict."""

    report: CallReport
    bot: CallRecord | None
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    def to_dict(self) -> dict[str, Any]:
        from bwserial.testing.report import report_json

        return {
            "ok": self.ok,
            "checks": [dataclasses.asdict(check) for check in self.checks],
            "report": report_json(self.report),
            "bot": dataclasses.asdict(self.bot) if self.bot is not None else None,
        }


def _hangup_slot(
    call_id: str, requests: list[RecordedRequest], hangups: list[RecordedRequest], started: float
) -> dict[str, Any]:
    done = next((h for h in hangups if h.call_id == call_id), hangups[0] if hangups else None)
    if done is None:
        return {"received": False, "requests": len(requests)}
    return {
        "received": True,
        "call_id": done.call_id,
        "account_id": done.account_id,
        "status": done.status,
        "path": done.path,
        "requests": len(requests),
        "after_secs": round(done.received_at - started, 4),
    }


def _checks(
    report: CallReport, bot: CallRecord | None, call_id: str, turns: int, api: FakeVoiceAPI
) -> tuple[Check, ...]:
    hangups = api.hangups
    targets = sorted({h.call_id or "" for h in api.call_requests})
    barge_ins = [c for c in report.clears if c.during_turn]
    checks = [
        Check(
            "bot audio",
            report.bot_audio_played_secs > 0,
            f"{report.bot_audio_played_secs:.2f} s of bot audio played to the caller",
        ),
        Check(
            "hang-up",
            bool(hangups),
            f"the Voice API ended the call ({len(hangups)} hang-up(s), "
            f"{len(api.call_requests)} request(s))",
        ),
        Check(
            "trusted call id",
            targets == [call_id],
            "the hang-up addressed the webhook's call id"
            if targets == [call_id]
            else f"the hang-up addressed {', '.join(targets) or 'no call'}, not {call_id}",
        ),
        Check(
            "bot ended",
            bot is not None and bot.end_reason == "bot finished",
            f"bot pipeline: {bot.end_reason if bot else 'no record'}"
            + (f", {bot.answers} answer(s), {bot.interruptions} interruption(s)" if bot else ""),
        ),
        Check(
            "well-formed",
            report.malformed_messages == 0,
            f"{report.malformed_messages} malformed message(s) from the bot",
        ),
    ]
    if turns >= 2:  # the barge-in comes with the caller's third turn, over answer two
        checks.insert(
            1,
            Check(
                "barge-in",
                bool(barge_ins),
                f"{len(barge_ins)} clear(s) while the caller was speaking",
            ),
        )
    return tuple(checks)


async def run_demo(
    *,
    turns: int = CALLER_TURNS,
    out_wav: str | Path | None = None,
    max_call_secs: float = 60.0,
    settings: dict[str, Any] | None = None,
    keep_audio: bool = False,
) -> DemoResult:
    """Place one simulated call to the demo bot and judge it.

    ``settings`` overrides :class:`~bwserial.demo.settings.DemoSettings` fields (the
    Voice API URLs and credentials are always the fake's). ``keep_audio`` keeps both
    sides' audio in the report, for :mod:`bwserial.testing.timeline`.
    """
    if not 1 <= turns <= CALLER_TURNS:
        raise ValueError(f"the bundled caller speaks {CALLER_TURNS} turns; turns must be 1-3")
    call_id = f"c-{uuid.uuid4()}"
    base = DemoSettings.model_validate({**(settings or {}), "turns": turns})
    async with FakeVoiceAPI(base.client_id, base.client_secret.get_secret_value()) as api:
        demo = base.model_copy(
            update={
                "oauth_token_url": api.token_url,
                "voice_api_base_url": api.voice_api_base_url,
            }
        )
        calls = CallLog()
        async with serve(create_app(demo, calls), demo.host, demo.port) as server:
            stream = await place_call(
                server.base_url,
                call_id=call_id,
                account_id=DEMO_ACCOUNT_ID,
                username=demo.webhook_username,
                password=demo.webhook_password.get_secret_value(),
            )
            hung_up = asyncio.Event()

            async def watch_hangup() -> None:
                with contextlib.suppress(TimeoutError):
                    await api.wait_for_hangup(call_id, timeout=max_call_secs + 5)
                    hung_up.set()

            watcher = asyncio.create_task(watch_hangup(), name="bwserial-demo-hangup-watch")
            started = time.monotonic()
            try:
                report = await simulate_call(
                    SimulatorConfig(
                        url=stream.destination,
                        call_id=call_id,
                        account_id=DEMO_ACCOUNT_ID,
                        username=stream.username,
                        password=stream.password,
                        linger_secs=LINGER_SECS,
                        max_call_secs=max_call_secs,
                        out_wav=out_wav,
                        keep_audio=keep_audio,
                    ),
                    script_from_wav(bundled_asset("caller.wav")),
                    hangup=hung_up,
                )
                try:
                    bot: CallRecord | None = await calls.wait_for(call_id, RECORD_TIMEOUT_SECS)
                except TimeoutError:
                    bot = None
            finally:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
        report = dataclasses.replace(
            report, hangup=_hangup_slot(call_id, api.call_requests, api.hangups, started)
        )
        return DemoResult(report, bot, _checks(report, bot, call_id, turns, api))
