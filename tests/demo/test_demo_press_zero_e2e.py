"""The demo's transfer scenario: the caller presses 0, the digit reaches the bot's pipeline
through the dtmf webhook, and the bot asks for a transfer to the configured number."""

from __future__ import annotations

from bwserial.demo.run import run_demo


async def test_press_zero_reaches_the_bot_and_it_asks_for_the_transfer() -> None:
    result = await run_demo(press="0", settings={"transfer_to": "+15557654321"})
    checks = {check.name: check for check in result.checks}
    assert result.ok, result.checks
    report, bot = result.report, result.bot
    assert bot is not None
    # The key press: one dtmf webhook, delivered (204), mid-answer.
    assert [(k.digit, k.status) for k in report.keypresses] == [("0", 204)]
    first_turn = report.turns[0]
    assert report.keypresses[0].at_secs > first_turn.end_secs
    # It reached the pipeline, and the bot pushed TransferFrame.to(the configured number).
    assert bot.digits == "0"
    assert bot.transfer_to == "+15557654321"
    assert bot.end_reason == "bot transferred"
    assert checks["digits"].ok and checks["transfer"].ok
    assert "+15557654321" in checks["transfer"].detail
    # The answer in progress played out before the call ended: a goodbye, not a cut.
    assert report.bot_audio_played_secs > 2.0
    assert report.bot_audio_unplayed_secs == 0
    assert report.clears_received == 0
    # The bot answered only the turn before the key: the call ended with its part.
    assert bot.answers == 1
    assert result.to_dict()["bot"]["digits"] == "0"
    # The serializer replaced the call's BXML with the transfer (and did not hang up): the
    # simulated line followed it.
    assert report.ended_by == "transfer"
    assert report.hangup is not None and report.hangup["kind"] == "transfer"
    assert report.hangup["target"] == "+15557654321"
    assert "0 hang-up(s), 1 transfer(s)" in checks["hang-up"].detail


async def test_other_keys_are_received_and_the_call_goes_on() -> None:
    result = await run_demo(turns=1, press="12", press_at_secs=1.0)
    assert result.ok, result.checks
    assert result.bot is not None
    assert result.bot.digits == "12"
    assert result.bot.transfer_to is None
    assert result.bot.end_reason == "bot finished"
    assert "transfer" not in {check.name for check in result.checks}
