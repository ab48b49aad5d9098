"""The hang-up runner: one explicit state machine per call that ends the phone call.

Every trigger (EndFrame, CancelFrame, ``notify_socket_closed()``, an explicit
``hang_up()``) goes through :meth:`HangupRunner.run` or :meth:`HangupRunner.start`:

::

    IDLE --trigger--> [WAITING_FOR_PLAYOUT] --> REQUESTING --ok--> ENDED (final)
      ^                     |  cancel pre-empts                 \\--failed--> FAILED
      |                     v                                                  |
      +---------------- (one attempt in flight, shared by every trigger) <-----+
                                                  the next trigger retries

* One attempt at a time: a trigger that arrives while one is in flight awaits
  that attempt's result instead of queueing a second.
* A non-graceful trigger (CancelFrame, socket closed, ``hang_up()``) cuts a
  graceful attempt's play-out wait short: the requests start at once.
* Success is final; a failure is retried by the next trigger, whichever it is.
* The attempt runs as its own task, so a trigger that is cancelled (Pipecat
  cancelling ``serialize``) does not cancel the hang-up. If the attempt itself is
  cancelled anyway (the event loop shutting down), that is logged at ERROR with
  the call id: the phone call may still be up.
* Nothing a strategy does (raise, hang, return garbage) escapes: every attempt
  ends in a :class:`~bwserial.types.HangupResult` within the deadline.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Final

from loguru import logger

from bwserial._log import escape
from bwserial.call.budget import GRACE_SECS, DeadlineBudget
from bwserial.types import EndTrigger, Hangup, HangupOutcome, HangupRequest, HangupResult

__all__ = ["EndingState", "HangupRunner"]

_GRACEFUL_REASON: Final = "end"
_IMMEDIATE_REASON: Final = "cancel"


class EndingState(enum.StrEnum):
    """Where one call's hang-up stands."""

    IDLE = "idle"
    WAITING_FOR_PLAYOUT = "waiting-for-playout"
    REQUESTING = "requesting"
    ENDED = "ended"
    """A hang-up succeeded (or found the call already over): final."""
    FAILED = "failed-retryable"
    """The last attempt failed; the call may be up and the next trigger retries."""


ResultCallback = Callable[[HangupResult, EndTrigger], None]


class HangupRunner:
    """Runs one call's hang-up attempts through the strategy; see the module docstring."""

    __slots__ = (
        "_budget",
        "_call_id",
        "_hangup",
        "_on_result",
        "_playout",
        "_plugin",
        "_preempt",
        "_prepare_task",
        "_strategy",
        "_task",
        "result",
        "state",
    )

    def __init__(
        self,
        hangup: Hangup,
        *,
        budget: DeadlineBudget,
        playout_remaining: Callable[[], float],
        call_id: str,
        strategy: str,
        plugin: str,
        on_result: ResultCallback,
    ) -> None:
        self._hangup = hangup
        self._budget = budget
        self._playout = playout_remaining
        self._call_id = call_id
        self._strategy = strategy
        self._plugin = plugin
        self._on_result = on_result
        self._task: asyncio.Task[HangupResult] | None = None
        self._preempt: asyncio.Event | None = None
        self._prepare_task: asyncio.Task[None] | None = None
        self.state = EndingState.IDLE
        self.result: HangupResult | None = None
        """The last attempt's result (None before the first one ends)."""

    @property
    def ended(self) -> bool:
        return self.state is EndingState.ENDED

    @property
    def in_flight(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(
        self, trigger: EndTrigger, graceful: bool = False
    ) -> asyncio.Task[HangupResult] | None:
        """Begin (or join) an attempt without waiting; None when nothing is to be done.

        Needs a running event loop; without one it does nothing (the app can still
        ``await`` :meth:`run` later).
        """
        if self.state is EndingState.ENDED:
            return None
        task = self._task
        if task is not None and not task.done():
            if not graceful and self._preempt is not None:
                self._preempt.set()  # a cancel never waits for play-out
            return task
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return None
        self._preempt = asyncio.Event()
        task = self._task = loop.create_task(
            self._attempt(trigger, graceful, self._preempt), name=f"bwserial-hangup-{self._call_id}"
        )
        return task

    async def run(self, trigger: EndTrigger, graceful: bool = False) -> HangupResult | None:
        """Run (or join) an attempt and return its result; None once the call has ended.

        Cancelling the caller does not cancel the attempt. Never raises ``Exception``.
        """
        task = self.start(trigger, graceful)
        if task is None:
            return None
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # the caller itself is being cancelled: let it go
            # The attempt was cancelled under a caller that was not: report, never raise.
            return self.result or self._failed("hang-up cancelled before it finished")

    def prepare_in_background(self) -> None:
        """Let the strategy warm up (fetch a token) once the pipeline is set up."""
        if self._prepare_task is not None:
            return
        try:
            self._prepare_task = asyncio.get_running_loop().create_task(self._prepare())
        except RuntimeError:
            return

    # ------------------------------------------------------------------ internals

    async def _prepare(self) -> None:
        try:
            await self._hangup.prepare()
        except Exception as e:
            logger.warning(
                f"Bandwidth call {self._call_id}: hang-up warm-up of strategy "
                f"{self._strategy!r} failed ({type(e).__name__}); it is retried at hang-up time"
            )

    async def _attempt(
        self, trigger: EndTrigger, graceful: bool, preempt: asyncio.Event
    ) -> HangupResult:
        started = time.monotonic()
        deadline = self._budget.deadline(started)
        reason = _GRACEFUL_REASON if graceful else _IMMEDIATE_REASON
        try:
            if graceful:
                wait = self._budget.playout_wait(self._remaining_playout())
                if wait > 0 and not preempt.is_set():
                    self.state = EndingState.WAITING_FOR_PLAYOUT
                    try:
                        async with asyncio.timeout(wait):
                            await preempt.wait()
                    except TimeoutError:
                        pass
                if preempt.is_set():
                    reason = _IMMEDIATE_REASON
            self.state = EndingState.REQUESTING
            result = await self._request(HangupRequest(reason, 0.0, deadline), deadline)
        except asyncio.CancelledError:
            result = HangupResult(
                HangupOutcome.FAILED,
                reason="hang-up cancelled before it finished (event loop shutting down?)",
                seconds=time.monotonic() - started,
                strategy=self._strategy,
            )
            self._finish(result, trigger)
            raise
        if not result.seconds:
            result = replace(result, seconds=time.monotonic() - started)
        self._finish(result, trigger)
        if self.state is EndingState.ENDED:
            await self._close()
        return result

    async def _request(self, request: HangupRequest, deadline: float) -> HangupResult:
        try:
            async with asyncio.timeout(max(0.0, deadline - time.monotonic()) + GRACE_SECS):
                returned = await self._hangup.hang_up(request)
        except TimeoutError:
            return self._failed("deadline exceeded")
        except Exception as e:
            logger.opt(exception=e).debug(
                f"Bandwidth call {self._call_id}: traceback of hang-up strategy "
                f"{self._strategy!r} (plugin {self._plugin!r})"
            )
            return self._failed(
                f"strategy {self._strategy!r} (plugin {self._plugin!r}) raised "
                f"{type(e).__name__}: {escape(str(e), 200)}"
            )
        return self._checked(returned)

    def _checked(self, returned: object) -> HangupResult:
        if not isinstance(returned, HangupResult):
            return self._failed(
                f"strategy {self._strategy!r} (plugin {self._plugin!r}) returned "
                f"{type(returned).__name__}, not a HangupResult"
            )
        try:
            outcome = HangupOutcome(returned.outcome)
            seconds = float(returned.seconds or 0.0)
        except (TypeError, ValueError):
            return self._failed(
                f"strategy {self._strategy!r} (plugin {self._plugin!r}) returned an invalid "
                f"outcome {escape(returned.outcome)}"
            )
        result = replace(returned, outcome=outcome, seconds=seconds)
        if not result.strategy:
            result = replace(result, strategy=self._strategy)
        return result

    def _failed(self, reason: str) -> HangupResult:
        return HangupResult(HangupOutcome.FAILED, reason=reason, strategy=self._strategy)

    def _remaining_playout(self) -> float:
        try:
            return float(self._playout())
        except Exception:  # the clock never raises; if it did, do not wait for it
            return 0.0

    def _finish(self, result: HangupResult, trigger: EndTrigger) -> None:
        self.result = result
        self.state = EndingState.ENDED if result.outcome.ended else EndingState.FAILED
        self._log(result)
        try:
            self._on_result(result, trigger)
        except Exception:  # reporting must not cost the result
            logger.opt(exception=True).error(
                f"Bandwidth call {self._call_id}: reporting the hang-up result failed"
            )

    def _log(self, result: HangupResult) -> None:
        summary = (
            f"call {self._call_id}: hang-up {result.outcome.value} via {result.strategy} "
            f"(status {result.status}, {result.attempts} attempt(s), {result.seconds:.2f} s)"
        )
        if result.outcome is HangupOutcome.FAILED:
            logger.error(f"Bandwidth {summary}: {result.reason}; the call may still be up")
        else:
            logger.info(f"Bandwidth {summary}")

    async def _close(self) -> None:
        try:
            await self._hangup.close()
        except Exception as e:
            logger.warning(
                f"Bandwidth call {self._call_id}: hang-up strategy {self._strategy!r} "
                f"close() raised {type(e).__name__}"
            )
