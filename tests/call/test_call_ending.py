"""The hang-up runner's state machine, with in-process strategies (no network needed)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from bwserial import EndTrigger, HangupOutcome, HangupRequest, HangupResult
from bwserial.call.budget import DeadlineBudget
from bwserial.call.ending import EndingState, HangupRunner


class Strategy:
    """Answers from a list of outcomes, after ``delay`` seconds; records each request."""

    def __init__(self, outcomes: list[Any] | None = None, delay: float = 0.0) -> None:
        self.outcomes = outcomes or []
        self.delay = delay
        self.requests: list[tuple[float, HangupRequest]] = []
        self.closed = 0

    async def prepare(self) -> None:
        return None

    async def hang_up(self, request: HangupRequest) -> Any:
        self.requests.append((time.monotonic(), request))
        await asyncio.sleep(self.delay)
        outcome = self.outcomes.pop(0) if self.outcomes else HangupOutcome.COMPLETED
        if isinstance(outcome, BaseException):
            raise outcome
        return HangupResult(outcome, status=200, attempts=1)

    async def close(self) -> None:
        self.closed += 1


def runner(
    strategy: Strategy, playout: float = 0.0, timeout: float = 2.0, results: list[Any] | None = None
) -> HangupRunner:
    sink = results if results is not None else []
    return HangupRunner(
        strategy,
        budget=DeadlineBudget.of(timeout, 3.0, None),
        playout_remaining=lambda: playout,
        call_id="c-1",
        strategy="test",
        plugin="test-plugin",
        on_result=lambda result, trigger: sink.append((result, trigger)),
    )


async def test_concurrent_triggers_share_one_attempt() -> None:
    strategy = Strategy(delay=0.1)
    r = runner(strategy)
    results = await asyncio.gather(
        r.run(EndTrigger.CANCEL_FRAME), r.run(EndTrigger.HANG_UP), r.run(EndTrigger.END_FRAME, True)
    )
    assert len(strategy.requests) == 1
    assert results[0] is results[1] is results[2]
    assert r.state is EndingState.ENDED and strategy.closed == 1


async def test_success_is_final() -> None:
    strategy = Strategy()
    r = runner(strategy)
    assert (await r.run(EndTrigger.CANCEL_FRAME)) is not None
    assert await r.run(EndTrigger.HANG_UP) is None
    assert r.start(EndTrigger.SOCKET_CLOSED) is None
    assert len(strategy.requests) == 1


async def test_a_failure_is_retried_by_the_next_trigger_whichever_it_is() -> None:
    strategy = Strategy([HangupOutcome.FAILED, HangupOutcome.FAILED, HangupOutcome.COMPLETED])
    r = runner(strategy)
    task = r.start(EndTrigger.SOCKET_CLOSED)
    assert task is not None
    assert (await task).outcome is HangupOutcome.FAILED
    assert r.state is EndingState.FAILED
    assert (await r.run(EndTrigger.END_FRAME, True)).outcome is HangupOutcome.FAILED  # type: ignore[union-attr]
    assert (await r.run(EndTrigger.HANG_UP)).outcome is HangupOutcome.COMPLETED  # type: ignore[union-attr]
    assert len(strategy.requests) == 3


async def test_cancel_pre_empts_the_play_out_wait() -> None:
    strategy = Strategy()
    r = runner(strategy, playout=1.5, timeout=10.0)
    graceful = asyncio.create_task(r.run(EndTrigger.END_FRAME, True))
    await asyncio.sleep(0.1)
    assert r.state is EndingState.WAITING_FOR_PLAYOUT
    started = time.monotonic()
    await r.run(EndTrigger.CANCEL_FRAME)
    assert time.monotonic() - started < 0.5
    await graceful
    [(_, request)] = strategy.requests
    assert request.reason == "cancel"


async def test_a_graceful_attempt_waits_for_the_play_out_then_requests() -> None:
    strategy = Strategy()
    r = runner(strategy, playout=0.4, timeout=10.0)
    started = time.monotonic()
    await r.run(EndTrigger.END_FRAME, True)
    [(at, request)] = strategy.requests
    assert 0.35 <= at - started <= 0.8
    assert request.reason == "end" and request.deadline is not None
    assert request.deadline == pytest.approx(started + 10.0, abs=0.2)


async def test_a_hanging_strategy_is_cut_off_after_the_deadline() -> None:
    strategy = Strategy(delay=30.0)
    r = runner(strategy, timeout=0.5)
    started = time.monotonic()
    result = await r.run(EndTrigger.CANCEL_FRAME)
    assert time.monotonic() - started < 0.5 + 0.5 + 0.3
    assert result is not None and result.outcome is HangupOutcome.FAILED
    assert "deadline" in result.reason


@pytest.mark.parametrize(
    "returned", [RuntimeError("boom"), "completed-ish", None, HangupOutcome.ALREADY_ENDED]
)
async def test_a_misbehaving_strategy_never_raises_out(returned: Any) -> None:
    class Odd(Strategy):
        async def hang_up(self, request: HangupRequest) -> Any:
            if isinstance(returned, BaseException):
                raise returned
            if isinstance(returned, HangupOutcome):
                return HangupResult(returned.value)  # type: ignore[arg-type]  # a plain str
            return returned

    r = runner(Odd())
    result = await r.run(EndTrigger.HANG_UP)
    assert result is not None
    if isinstance(returned, HangupOutcome):
        assert result.outcome is HangupOutcome.ALREADY_ENDED  # coerced from its value
    else:
        assert result.outcome is HangupOutcome.FAILED and "test-plugin" in result.reason


async def test_cancelling_the_caller_does_not_cancel_the_hang_up() -> None:
    strategy = Strategy(delay=0.2)
    r = runner(strategy)
    caller = asyncio.create_task(r.run(EndTrigger.END_FRAME, True))
    await asyncio.sleep(0.05)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    await asyncio.sleep(0.3)
    assert r.state is EndingState.ENDED


async def test_a_cancelled_attempt_is_logged_at_error_with_the_call_id(logs: Any) -> None:
    results: list[Any] = []
    strategy = Strategy(delay=5.0)
    r = runner(strategy, results=results)
    task = r.start(EndTrigger.SOCKET_CLOSED)
    assert task is not None
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert any("c-1" in line and "cancelled" in line for line in logs.at("ERROR"))
    assert r.state is EndingState.FAILED
    assert [result.outcome for result, _ in results] == [HangupOutcome.FAILED]
    strategy.delay = 0.0
    retried = await r.run(EndTrigger.HANG_UP)  # and it can be retried
    assert retried is not None and retried.outcome is HangupOutcome.COMPLETED


async def test_a_trigger_whose_attempt_is_cancelled_gets_a_failure_not_an_exception() -> None:
    strategy = Strategy(delay=5.0)
    r = runner(strategy)
    waiting = asyncio.create_task(r.run(EndTrigger.END_FRAME, True))
    await asyncio.sleep(0.05)
    r._task.cancel()  # type: ignore[union-attr]  # e.g. someone cancels the hang-up task
    result = await waiting
    assert result is not None and result.outcome is HangupOutcome.FAILED
    assert "cancelled" in result.reason
