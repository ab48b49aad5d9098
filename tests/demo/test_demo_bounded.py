"""A long-running demo server keeps nothing per call forever (issue 12, item 11)."""

from __future__ import annotations

import asyncio

import pytest
from demo_helpers import StartBot

from bwserial.demo.calls import DEFAULT_MAXLEN, CallLog, CallRecord
from bwserial.testing.fake_voice_api import FakeVoiceAPI
from bwserial.testing.simulator import CallScript, Silence, SimulatorConfig, simulate_call


def record(i: int) -> CallRecord:
    return CallRecord(
        call_id=f"c-{i}", account_id="9900000", stream_id=f"s-{i}", claimed_call_id=f"c-{i}",
        answers=1, interruptions=0, end_reason="bot finished", hung_up=True,
        hangup_outcome="completed", hangup_status=200, frames_in=50, frames_out=50,
        stream_stops=1,
    )  # fmt: skip


def test_the_call_log_keeps_only_the_most_recent_records() -> None:
    log = CallLog(maxlen=100)
    for i in range(10_000):
        log.add(record(i))
    assert len(log.records) == 100
    assert [r.call_id for r in log.records[:2]] == ["c-9900", "c-9901"]
    assert log.total == 10_000
    assert CallLog().maxlen == DEFAULT_MAXLEN


async def test_waiting_for_a_dropped_record_times_out() -> None:
    log = CallLog(maxlen=2)
    for i in range(3):
        log.add(record(i))
    with pytest.raises(TimeoutError):
        await log.wait_for("c-0", timeout_secs=0.1)
    assert (await log.wait_for("c-2", timeout_secs=0.1)).call_id == "c-2"


def test_maxlen_must_be_positive() -> None:
    with pytest.raises(ValueError, match="maxlen"):
        CallLog(maxlen=0)


async def test_a_served_bot_forgets_ended_calls(
    start_bot: StartBot, voice_api: FakeVoiceAPI
) -> None:
    """Calls that ended leave no live entry, no armed timer, and at most call_log_size records."""
    bot = await start_bot(call_log_size=2, turns=1)
    for i in range(4):
        stream = await bot.place_call(f"c-served-{i}")
        await simulate_call(
            SimulatorConfig(
                url=stream.destination, call_id=f"c-served-{i}", username=stream.username,
                password=stream.password, end_with="close", linger_secs=0, max_call_secs=10,
            ),
            CallScript.of(Silence(0.2)),
        )  # fmt: skip
        await bot.calls.wait_for(f"c-served-{i}", timeout_secs=10)
    await asyncio.sleep(0.1)
    runner = bot.app.state.runner
    assert (runner.calls.live, runner.calls.armed) == (0, 0)
    assert [r.call_id for r in bot.calls.records] == ["c-served-2", "c-served-3"]
    assert bot.calls.total == 4
