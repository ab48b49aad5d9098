"""The "call ended" report: the final facts of a call, built exactly once.

Observers used to stitch ``stream_stopped`` and ``hangup_finished`` together, in
either order, and got nothing when ``auto_hang_up`` was off. This keeps the
first trigger and hands out one :class:`~bwserial.types.CallEnded`, never two.
"""

from __future__ import annotations

import time

from bwserial.types import CallCounters, CallEnded, EndTrigger, HangupResult, StopReason

__all__ = ["EndOfCall"]


class EndOfCall:
    """Remembers the first trigger and builds the one report of the call."""

    __slots__ = ("_created", "_reported", "stop_reason", "trigger")

    def __init__(self) -> None:
        self._created = time.monotonic()
        self._reported = False
        self.trigger: EndTrigger | None = None
        self.stop_reason: StopReason | None = None

    @property
    def reported(self) -> bool:
        return self._reported

    def note(self, trigger: EndTrigger) -> None:
        """Record a trigger; only the first one is kept."""
        if self.trigger is None:
            self.trigger = trigger

    def report(
        self, counters: CallCounters, hangup: HangupResult | None, trigger: EndTrigger
    ) -> CallEnded | None:
        """The report, the first time only (None afterwards)."""
        if self._reported:
            return None
        self._reported = True
        self.note(trigger)
        assert self.trigger is not None
        return CallEnded(
            trigger=self.trigger,
            stop_reason=self.stop_reason,
            hangup=hangup,
            frames_in=counters.frames_in,
            frames_out=counters.frames_out,
            gaps=counters.gaps,
            duplicates=counters.duplicates,
            bad_messages=counters.bad_messages,
            interruptions=counters.interruptions,
            seconds=time.monotonic() - self._created,
        )
