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

With ``press="0"`` (``bwserial demo --press 0``) the caller presses the transfer key
while the bot answers the first turn: Bandwidth's ``dtmf`` webhook (asked for by the
answer's ``<StartGather>``) brings the digit into the bot's pipeline, and the bot hands
the caller to ``transfer_to`` once its answer has played.
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

from bwserial.demo.app import INITIATE_PATH, create_app
from bwserial.demo.calls import CallLog, CallRecord
from bwserial.demo.phone import place_call
from bwserial.demo.settings import DEMO_ACCOUNT_ID, DemoSettings, bundled_asset
from bwserial.testing.fake_voice_api import FakeVoiceAPI, RecordedRequest
from bwserial.testing.server import serve
from bwserial.testing.simulator import (
    CallReport,
    CallScript,
    SimulatorConfig,
    Speech,
    simulate_call,
)
from bwserial.testing.turns import script_from_wav
from bwserial.testing.webhook import BxmlError, StreamInstruction, parse_stream_bxml
from bwserial.voiceapi import place_call as create_call

__all__ = ["CALLER_TURNS", "PRESS_AFTER_TURN_SECS", "Check", "DemoResult", "run_demo"]

CALLER_TURNS: Final = 3
"""Turns spoken in the bundled ``caller.wav``; the bot can answer at most these."""
LINGER_SECS: Final = 8.0
"""Line silence after the caller's last word: room for the last answer and the hang-up."""
RECORD_TIMEOUT_SECS: Final = 10.0
PRESS_AFTER_TURN_SECS: Final = 1.0
"""By default a key is pressed this long after the caller's first turn: mid-answer."""


DEMO_BOT_NUMBER: Final = "+15550100001"
"""The number an outbound demo call comes from (one of the account's, on Bandwidth)."""
DEMO_CALLEE_NUMBER: Final = "+15550100002"
"""Who the outbound demo call rings: the simulated caller."""
DEMO_APPLICATION_ID: Final = "bwserial-demo"


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


def _transfers(api: FakeVoiceAPI, call_id: str) -> list[RecordedRequest]:
    """Update-call-BXML requests to ``call_id`` that carry a ``<Transfer>``."""
    return [
        r
        for r in api.requests
        if r.method == "PUT"
        and r.call_id == call_id
        and r.path.endswith("/bxml")
        and "<Transfer" in str(r.body)
    ]


def _transfer_slot(
    call_id: str, api: FakeVoiceAPI, target: str | None, started: float
) -> dict[str, Any] | None:
    """The report's ``hangup`` slot for a transfer the fake Voice API received, if any."""
    done = next((t for t in _transfers(api, call_id) if t.status and t.status < 300), None)
    if done is None:
        return None
    return {
        "received": True,
        "kind": "transfer",
        "target": target,
        "call_id": done.call_id,
        "account_id": done.account_id,
        "status": done.status,
        "path": done.path,
        "requests": len(api.call_requests),
        "after_secs": round(done.received_at - started, 4),
    }


def _press_checks(
    report: CallReport, bot: CallRecord | None, press: str, demo: DemoSettings, api: FakeVoiceAPI
) -> list[Check]:
    sent = "".join(k.digit for k in report.keypresses)
    answered = [k.status for k in report.keypresses]
    got = bot.digits if bot is not None else ""
    checks = [
        Check(
            "digits",
            got == press and answered == [204] * len(press),
            f"pressed {sent!r} (webhook answers {answered}); the bot's pipeline got {got!r}",
        )
    ]
    if demo.transfer_key in press:
        transfer_to = demo.transfer_to
        asked = bot.transfer_to if bot is not None else None
        checks.append(
            Check(
                "transfer",
                asked == transfer_to and bot is not None and bot.end_reason == "bot transferred",
                f"the bot asked to transfer the caller to {asked or 'nobody'}"
                + (f" ({len(_transfers(api, report.call_id))} transfer BXML request(s))"),
            )
        )
    return checks


def _checks(
    report: CallReport,
    bot: CallRecord | None,
    call_id: str,
    turns: int,
    api: FakeVoiceAPI,
    transferring: bool = False,
) -> tuple[Check, ...]:
    hangups = api.hangups
    transfers = _transfers(api, call_id)
    targets = sorted({r.call_id or "" for r in (*api.call_requests, *api.bxml_requests)})
    barge_ins = [c for c in report.clears if c.during_turn]
    checks = [
        Check(
            "bot audio",
            report.bot_audio_played_secs > 0,
            f"{report.bot_audio_played_secs:.2f} s of bot audio played to the caller",
        ),
        Check(
            "hang-up",
            bool(hangups) or bool(transfers),
            f"the Voice API ended the call ({len(hangups)} hang-up(s), {len(transfers)} "
            f"transfer(s), {len(api.call_requests)} request(s))",
        ),
        Check(
            "trusted call id",
            targets == [call_id],
            "the hang-up (or transfer) addressed the webhook's call id"
            if targets == [call_id]
            else f"the hang-up (or transfer) addressed {', '.join(targets) or 'no call'}, "
            f"not {call_id}",
        ),
        Check(
            "bot ended",
            bot is not None and bot.end_reason in ("bot finished", "bot transferred"),
            f"bot pipeline: {bot.end_reason if bot else 'no record'}"
            + (f", {bot.answers} answer(s), {bot.interruptions} interruption(s)" if bot else ""),
        ),
        Check(
            "well-formed",
            report.malformed_messages == 0,
            f"{report.malformed_messages} malformed message(s) from the bot",
        ),
    ]
    # The barge-in comes with the caller's third turn, over answer two (a transfer on the
    # first answer ends the call before it).
    if turns >= 2 and not transferring:
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
    press: str | None = None,
    press_at_secs: float | None = None,
    outbound: bool = False,
) -> DemoResult:
    """Place one simulated call to the demo bot and judge it.

    ``settings`` overrides :class:`~bwserial.demo.settings.DemoSettings` fields (the
    Voice API URLs and credentials are always the fake's). ``keep_audio`` keeps both
    sides' audio in the report, for :mod:`bwserial.testing.timeline`. ``press``: keys
    the caller presses at ``press_at_secs`` (default :data:`PRESS_AFTER_TURN_SECS`
    after the first turn); pressing the transfer key (``0``) hands the caller to
    ``transfer_to``. ``outbound``: the bot places the call instead (the Voice API's
    create-call, whose ``answer`` webhook hands back the BXML that starts the stream).
    """
    if not 1 <= turns <= CALLER_TURNS:
        raise ValueError(f"the bundled caller speaks {CALLER_TURNS} turns; turns must be 1-3")
    script = script_from_wav(bundled_asset("caller.wav"))
    if press:
        at = press_at_secs if press_at_secs is not None else _first_turn_end(script)
        script = script.with_keypress(at, press)
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
            if outbound:
                call_id, stream = await _place_outbound(api, demo, server.base_url)
            else:
                stream = await place_call(
                    server.base_url,
                    call_id=call_id,
                    account_id=DEMO_ACCOUNT_ID,
                    username=demo.webhook_username,
                    password=demo.webhook_password.get_secret_value(),
                )
            hung_up = asyncio.Event()
            transferred = asyncio.Event()

            async def watch_hangup() -> None:
                with contextlib.suppress(TimeoutError):
                    await api.wait_for_hangup(call_id, timeout=max_call_secs + 5)
                    hung_up.set()

            async def watch_transfer() -> None:
                # The fake Voice API's update-BXML endpoint records a request like any
                # other; a <Transfer> in it ends the caller's part with the bot.
                seen = 0
                with contextlib.suppress(TimeoutError):
                    while not _transfers(api, call_id):
                        seen += 1
                        await api.wait_for_request(count=seen, timeout=max_call_secs + 5)
                    transferred.set()

            watcher = asyncio.create_task(watch_hangup(), name="bwserial-demo-hangup-watch")
            transfer_watcher = asyncio.create_task(
                watch_transfer(), name="bwserial-demo-transfer-watch"
            )
            started = time.monotonic()
            try:
                report = await simulate_call(
                    _caller(stream, call_id, max_call_secs, out_wav, keep_audio),
                    script,
                    hangup=hung_up,
                    transfer=transferred,
                )
                try:
                    bot: CallRecord | None = await calls.wait_for(call_id, RECORD_TIMEOUT_SECS)
                except TimeoutError:
                    bot = None
            finally:
                for task in (watcher, transfer_watcher):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
        return _judge(report, bot, call_id, turns, api, demo, started, press, outbound)


async def _place_outbound(
    api: FakeVoiceAPI, demo: DemoSettings, base_url: str
) -> tuple[str, StreamInstruction]:
    """The bot's side of a call it places: create-call through the (fake) Voice API, whose
    ``answer`` webhook reaches the demo app; its BXML says where the stream goes."""
    call_id = await create_call(
        account_id=DEMO_ACCOUNT_ID,
        client_id=demo.client_id,
        client_secret=demo.client_secret,
        from_number=DEMO_BOT_NUMBER,
        to=DEMO_CALLEE_NUMBER,
        application_id=DEMO_APPLICATION_ID,
        answer_url=base_url + INITIATE_PATH,
        answer_username=demo.webhook_username,
        answer_password=demo.webhook_password,
        oauth_token_url=api.token_url,
        voice_api_base_url=api.voice_api_base_url,
    )
    created = await api.wait_for_answer(call_id, timeout=RECORD_TIMEOUT_SECS)
    if created.answer_status != 200 or not created.answer_bxml:
        why = created.answer_error or f"HTTP {created.answer_status}"
        raise BxmlError(f"the bot's answer webhook did not start a stream ({why})")
    return call_id, parse_stream_bxml(created.answer_bxml)


def _outbound_check(api: FakeVoiceAPI, call_id: str) -> Check:
    placed = [c for c in api.created_calls if c.call_id == call_id]
    ok = len(placed) == 1 and placed[0].answer_status == 200
    return Check(
        "outbound",
        ok,
        f"the bot placed the call to {DEMO_CALLEE_NUMBER} (create-call), and its answer "
        "webhook started the stream"
        if ok
        else f"create-call: {len(placed)} call(s) placed, none answered with a stream",
    )


def _caller(
    stream: StreamInstruction,
    call_id: str,
    max_call_secs: float,
    out_wav: str | Path | None,
    keep_audio: bool,
    dtmf_url: str | None = None,
) -> SimulatorConfig:
    """The simulated caller on the stream the answer BXML names; its digits go to
    ``dtmf_url`` (another worker's, in the multi-worker demo), else to the BXML's."""
    return SimulatorConfig(
        url=stream.destination,
        call_id=call_id,
        account_id=DEMO_ACCOUNT_ID,
        username=stream.username,
        password=stream.password,
        linger_secs=LINGER_SECS,
        max_call_secs=max_call_secs,
        out_wav=out_wav,
        keep_audio=keep_audio,
        dtmf_url=dtmf_url if dtmf_url is not None else stream.dtmf_url,
        dtmf_username=stream.dtmf_username,
        dtmf_password=stream.dtmf_password,
    )


def _judge(
    report: CallReport,
    bot: CallRecord | None,
    call_id: str,
    turns: int,
    api: FakeVoiceAPI,
    demo: DemoSettings,
    started: float,
    press: str | None,
    outbound: bool,
) -> DemoResult:
    """The call's ending (transfer, else hang-up) put in its report, and every check
    the demo runs on it: the same for one process and for several workers."""
    slot = _transfer_slot(call_id, api, demo.transfer_to, started)
    if slot is None:
        slot = _hangup_slot(call_id, api.call_requests, api.hangups, started)
    report = dataclasses.replace(report, hangup=slot)
    transferring = bool(press) and demo.transfer_key in (press or "")
    checks = _checks(report, bot, call_id, turns, api, transferring)
    if press:
        checks = (*checks, *_press_checks(report, bot, press, demo, api))
    if outbound:
        checks = (*checks, _outbound_check(api, call_id))
    return DemoResult(report, bot, checks)


def _first_turn_end(script: CallScript) -> float:
    position = 0.0
    for segment in script.segments:
        if isinstance(segment, Speech):
            return position + segment.duration_secs + PRESS_AFTER_TURN_SECS
        position += segment.seconds
    return position + PRESS_AFTER_TURN_SECS
