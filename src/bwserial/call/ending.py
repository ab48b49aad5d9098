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

A transfer (:meth:`HangupRunner.run_transfer`) is one more ending of the same
machine: the same play-out wait (a cancel cuts it short and the transfer goes at
once), then the transfer strategy's request instead of the hang-up's, under the
same deadline. A trigger that arrives while an ending is in flight joins it, so
End/Cancel/transfer triggers racing each other make one ending. A transfer that
worked is final (ENDED). One that failed applies its fallback inside the same
attempt: ``hang-up`` sends the hang-up (given at least ``min_request_secs`` even
if the transfer used up the deadline), ``leave`` ends in the final LEFT state
with no request.
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
from bwserial.call_control import TransferFallback, TransferRequest
from bwserial.types import (
    EndingKind,
    EndTrigger,
    Hangup,
    HangupOutcome,
    HangupRequest,
    HangupResult,
    Transfer,
)

__all__ = ["EndingState", "HangupRunner"]

_GRACEFUL_REASON: Final = "end"
_IMMEDIATE_REASON: Final = "cancel"


DELIVERY_MARGIN_SECS: Final = 0.1
"""Added to a play-out wait that is not zero: the caller hears each message a little
after we send it (the network, the far end's jitter buffer), so ending the call at our
own clock's end of play-out cut the last milliseconds of a goodbye."""


class EndingState(enum.StrEnum):
    """Where one call's hang-up stands."""

    IDLE = "idle"
    WAITING_FOR_PLAYOUT = "waiting-for-playout"
    REQUESTING = "requesting"
    ENDED = "ended"
    """A hang-up succeeded (or found the call already over): final."""
    FAILED = "failed-retryable"
    """The last attempt failed; the call may be up and the next trigger retries."""
    LEFT = "left"
    """A transfer failed and its fallback said to leave the call as it is: final,
    no request is sent by any later trigger."""


_FINAL: Final = frozenset({EndingState.ENDED, EndingState.LEFT})


ResultCallback = Callable[[HangupResult, EndTrigger], None]
StepCallback = Callable[[HangupResult], None]
"""An intermediate result (a failed transfer before its fallback hang-up)."""


class HangupRunner:
    """Runs one call's hang-up attempts through the strategy; see the module docstring."""

    __slots__ = (
        "_budget",
        "_call_id",
        "_hangup",
        "_on_result",
        "_on_step",
        "_playout",
        "_plugin",
        "_preempt",
        "_prepare_task",
        "_strategy",
        "_stream_name",
        "_task",
        "_transfer",
        "_transfer_fallback",
        "_transfer_name",
        "_transfer_plugin",
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
        transfer: Transfer | None = None,
        transfer_strategy: str = "",
        transfer_plugin: str = "",
        transfer_fallback: TransferFallback = TransferFallback.HANG_UP,
        stream_name: Callable[[], str | None] = lambda: None,
        on_step: StepCallback | None = None,
    ) -> None:
        self._transfer = transfer
        self._transfer_name = transfer_strategy
        self._transfer_plugin = transfer_plugin
        self._transfer_fallback = TransferFallback(transfer_fallback)
        self._stream_name = stream_name
        self._on_step = on_step
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

    @property
    def final(self) -> bool:
        """Whether nothing more will be requested (ended, transferred, or left)."""
        return self.state in _FINAL

    def start(
        self,
        trigger: EndTrigger,
        graceful: bool = False,
        transfer: TransferRequest | None = None,
    ) -> asyncio.Task[HangupResult] | None:
        """Begin (or join) an attempt without waiting; None when nothing is to be done.

        With ``transfer``, the attempt transfers the call instead of hanging up
        (unless another attempt is in flight: then it is joined, and the call ends
        that attempt's way). Needs a running event loop; without one it does
        nothing (the app can still ``await`` :meth:`run` later).
        """
        if self.state in _FINAL:
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
            self._attempt(trigger, graceful, self._preempt, transfer),
            name=f"bwserial-{'transfer' if transfer else 'hangup'}-{self._call_id}",
        )
        return task

    async def run(self, trigger: EndTrigger, graceful: bool = False) -> HangupResult | None:
        """Run (or join) an attempt and return its result; None once the call has ended.

        Cancelling the caller does not cancel the attempt. Never raises ``Exception``.
        """
        return await self._await(self.start(trigger, graceful))

    async def run_transfer(
        self, request: TransferRequest, trigger: EndTrigger = EndTrigger.TRANSFER_FRAME
    ) -> HangupResult | None:
        """Transfer the call after the goodbye plays; None once the call has ended.

        Joins an attempt already in flight instead (one ending per call). Never
        raises ``Exception``; cancelling the caller does not cancel the transfer.
        """
        return await self._await(self.start(trigger, True, request))

    async def _await(self, task: asyncio.Task[HangupResult] | None) -> HangupResult | None:
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
        for what, name, strategy in (
            ("hang-up", self._strategy, self._hangup),
            ("transfer", self._transfer_name, self._transfer),
        ):
            if strategy is None:
                continue
            try:
                await strategy.prepare()
            except Exception as e:
                logger.warning(
                    f"Bandwidth call {self._call_id}: {what} warm-up of strategy "
                    f"{name!r} failed ({type(e).__name__}); it is retried when needed"
                )

    async def _attempt(
        self,
        trigger: EndTrigger,
        graceful: bool,
        preempt: asyncio.Event,
        transfer: TransferRequest | None = None,
    ) -> HangupResult:
        started = time.monotonic()
        deadline = self._budget.deadline(started)
        reason = _GRACEFUL_REASON if graceful else _IMMEDIATE_REASON
        try:
            if graceful:
                remaining = self._remaining_playout()
                wait = self._budget.playout_wait(
                    remaining + DELIVERY_MARGIN_SECS if remaining > 0 else 0.0
                )
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
            if transfer is not None:
                result = await self._transfer_then_fallback(transfer, deadline, started)
            else:
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
        if self.state in _FINAL:
            await self._close()
        return result

    async def _transfer_then_fallback(
        self, request: TransferRequest, deadline: float, started: float
    ) -> HangupResult:
        """The transfer; if it fails, its fallback, all inside one attempt."""
        result = await self._request_transfer(request, deadline)
        if result.outcome.ended:
            return result
        fallback = request.fallback or self._transfer_fallback
        if fallback is TransferFallback.LEAVE:
            return replace(result, reason=f"{result.reason}; fallback: call left as it is")
        result = replace(result, seconds=result.seconds or time.monotonic() - started)
        self._log(result)
        if self._on_step is not None:
            try:
                self._on_step(result)
            except Exception:
                logger.opt(exception=True).error(
                    f"Bandwidth call {self._call_id}: reporting the failed transfer failed"
                )
        # The fallback must not be starved by a transfer that used the deadline up.
        until = max(deadline, time.monotonic() + self._budget.min_request_secs)
        hangup = await self._request(HangupRequest(_IMMEDIATE_REASON, 0.0, until), until)
        return replace(hangup, reason=f"after a failed transfer: {hangup.reason}")

    async def _request_transfer(self, request: TransferRequest, deadline: float) -> HangupResult:
        name, plugin = self._transfer_name, self._transfer_plugin
        if self._transfer is None:
            return self._failed_transfer(
                request,
                "no transfer strategy (the built-in one needs bandwidth-sdk: "
                "pip install 'bwserial[transfer]')",
            )
        try:
            async with asyncio.timeout(max(0.0, deadline - time.monotonic()) + GRACE_SECS):
                returned = await self._transfer.transfer(request, deadline, self._stream_name())
        except TimeoutError:
            return self._failed_transfer(request, "deadline exceeded")
        except Exception as e:
            logger.opt(exception=e).debug(
                f"Bandwidth call {self._call_id}: traceback of transfer strategy {name!r} "
                f"(plugin {plugin!r})"
            )
            return self._failed_transfer(
                request,
                f"transfer strategy {name!r} (plugin {plugin!r}) raised "
                f"{type(e).__name__}: {escape(str(e), 200)}",
            )
        if not isinstance(returned, HangupResult):
            return self._failed_transfer(
                request,
                f"transfer strategy {name!r} (plugin {plugin!r}) returned "
                f"{type(returned).__name__}, not a HangupResult",
            )
        try:
            outcome = HangupOutcome(returned.outcome)
            seconds = float(returned.seconds or 0.0)
        except (TypeError, ValueError):
            return self._failed_transfer(
                request,
                f"transfer strategy {name!r} (plugin {plugin!r}) returned an invalid "
                f"outcome {escape(returned.outcome)}",
            )
        if outcome is HangupOutcome.COMPLETED:
            outcome = HangupOutcome.TRANSFERRED  # a strategy that says "done" transferred
        return replace(
            returned,
            outcome=outcome,
            seconds=seconds,
            kind=EndingKind.TRANSFER,
            targets=request.to,
            strategy=returned.strategy or name,
        )

    def _failed_transfer(self, request: TransferRequest, reason: str) -> HangupResult:
        return HangupResult(
            HangupOutcome.FAILED,
            reason=reason,
            strategy=self._transfer_name,
            kind=EndingKind.TRANSFER,
            targets=request.to,
        )

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
        if result.outcome.ended:
            self.state = EndingState.ENDED
        elif result.kind is EndingKind.TRANSFER:
            self.state = EndingState.LEFT  # a failed transfer reaches here only to be left
        else:
            self.state = EndingState.FAILED
        self._log(result)
        try:
            self._on_result(result, trigger)
        except Exception:  # reporting must not cost the result
            logger.opt(exception=True).error(
                f"Bandwidth call {self._call_id}: reporting the hang-up result failed"
            )

    def _log(self, result: HangupResult) -> None:
        summary = (
            f"call {self._call_id}: {result.kind.value} {result.outcome.value} via "
            f"{result.strategy} (status {result.status}, {result.attempts} attempt(s), "
            f"{result.seconds:.2f} s)"
        )
        if result.outcome is HangupOutcome.FAILED and result.kind is EndingKind.TRANSFER:
            then = "" if self.state is EndingState.LEFT else "; falling back to a hang-up"
            logger.warning(f"Bandwidth {summary}: {result.reason}{then}")
        elif result.outcome is HangupOutcome.FAILED:
            logger.error(f"Bandwidth {summary}: {result.reason}; the call may still be up")
        else:
            logger.info(f"Bandwidth {summary}")

    async def _close(self) -> None:
        for what, name, strategy in (
            ("hang-up", self._strategy, self._hangup),
            ("transfer", self._transfer_name, self._transfer),
        ):
            if strategy is None:
                continue
            try:
                await strategy.close()
            except Exception as e:
                logger.warning(
                    f"Bandwidth call {self._call_id}: {what} strategy {name!r} "
                    f"close() raised {type(e).__name__}"
                )
