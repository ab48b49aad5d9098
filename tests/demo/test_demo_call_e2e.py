"""Whole calls through the demo bot over loopback: webhook, stream, VAD, answers, hang-up."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from demo_helpers import ACCOUNT_ID, RunningBot, StartBot, caller_turns, prompt_secs

from bwserial.testing.fake_voice_api import FakeVoiceAPI
from bwserial.testing.simulator import (
    CallReport,
    CallScript,
    Silence,
    SimulatorConfig,
    simulate_call,
)

LEAD_IN = 0.3


async def call(
    bot: RunningBot, voice_api: FakeVoiceAPI, call_id: str, script: CallScript, **config: object
) -> CallReport:
    """One call as Bandwidth places it; ends when the fake Voice API sees the hang-up."""
    stream = await bot.place_call(call_id)
    hung_up = asyncio.Event()

    async def watch() -> None:
        await voice_api.wait_for_hangup(call_id, timeout=30)
        hung_up.set()

    watcher = asyncio.create_task(watch())
    try:
        return await simulate_call(
            SimulatorConfig(
                url=stream.destination,
                call_id=call_id,
                account_id=ACCOUNT_ID,
                username=stream.username,
                password=stream.password,
                max_call_secs=30,
                **config,  # type: ignore[arg-type]
            ),
            script,
            hangup=hung_up,
        )
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await watcher


async def test_full_call_bot_answers_then_hangs_up_the_trusted_call(
    start_bot: StartBot, voice_api: FakeVoiceAPI
) -> None:
    bot = await start_bot(turns=1)
    first = caller_turns()[0]
    script = CallScript.of(Silence(LEAD_IN), first, Silence(6))
    report = await call(bot, voice_api, "c-full-call", script, linger_secs=3)

    # The bot answered the caller's turn, promptly, with its whole prompt, in PCMU.
    assert report.ended_by in ("hangup", "bot_closed")
    assert report.content_types.keys() == {"audio/pcmu"}
    assert abs(report.bot_audio_received_secs - prompt_secs()) < 0.1
    assert report.bot_audio_played_secs > prompt_secs() - 0.1
    (turn,) = report.turns
    assert turn.response_latency_secs is not None and turn.response_latency_secs < 1.5
    assert report.clears_received == 0 and report.malformed_messages == 0

    # The hang-up went to the Voice API once, for the call the webhook named.
    (hangup,) = voice_api.hangups
    assert (hangup.call_id, hangup.account_id, hangup.status) == ("c-full-call", ACCOUNT_ID, 200)
    record = await bot.calls.wait_for("c-full-call")
    assert (record.end_reason, record.answers, record.hangup_outcome) == (
        "bot finished",
        1,
        "completed",
    )


async def test_barge_in_sends_clear_and_stops_the_answer(
    start_bot: StartBot, voice_api: FakeVoiceAPI
) -> None:
    """The caller talks over the first answer: the bot must clear Bandwidth's queue and
    stop sending that answer, then answer the new turn in full."""
    bot = await start_bot(turns=2)
    first, _, third = caller_turns()
    script = CallScript.of(Silence(LEAD_IN), first, Silence(1.3), third, Silence(6))
    report = await call(bot, voice_api, "c-barge-in", script, linger_secs=3)

    assert report.clears_received == 1
    (clear,) = report.clears
    assert clear.during_turn and clear.turn == 1  # while the caller's second turn was spoken
    assert clear.since_turn_start_secs is not None and clear.since_turn_start_secs < 1.0

    # Playback stopped: of two answers, only the second played in full.
    interrupted = clear.at_secs - (report.turns[0].end_secs + report.turns[0].response_latency_secs)
    assert 0.2 < interrupted < prompt_secs() - 0.5
    assert report.bot_audio_received_secs < 2 * prompt_secs() - 0.5
    assert abs(report.bot_audio_received_secs - (interrupted + prompt_secs())) < 0.3
    assert report.turns[1].response_latency_secs is not None

    record = await bot.calls.wait_for("c-barge-in")
    assert (record.answers, record.interruptions, record.end_reason) == (2, 1, "bot finished")
    assert [h.call_id for h in voice_api.hangups] == ["c-barge-in"]


async def test_a_bot_that_fails_to_start_still_hangs_up(
    start_bot: StartBot, voice_api: FakeVoiceAPI, tmp_path: Path
) -> None:
    """With <Pause> in the BXML, a bot that dies would leave the caller in silence."""
    bot = await start_bot(prompt_wav=tmp_path / "missing.wav")
    script = CallScript.of(Silence(2))
    report = await call(bot, voice_api, "c-broken", script, linger_secs=0)
    assert report.play_audio_messages == 0
    record = await bot.calls.wait_for("c-broken")
    assert record.end_reason == "error: FileNotFoundError"
    assert record.hung_up
    assert [h.call_id for h in voice_api.hangups] == ["c-broken"]
