"""What happened on each call this process served: for the CLI's report and for tests.

This is observability, not state the calls depend on: the identity of a call travels in
its signed token (see :mod:`.tokens`), so any worker process can serve any call. A record
is added when a call's pipeline has ended. A long-running server keeps only the most
recent records (``maxlen``), so the log never grows with the number of calls served.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from typing import Final

__all__ = ["DEFAULT_MAXLEN", "CallLog", "CallRecord"]

DEFAULT_MAXLEN: Final = 1000
"""Records kept: the last thousand calls, a few hundred KB at most."""


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One served call, from the bot's side."""

    call_id: str
    """Trusted: from the signed token, the only ID the hang-up used."""
    account_id: str
    stream_id: str
    claimed_call_id: str
    """What the unauthenticated ``start`` message said (logged, never used)."""
    answers: int
    interruptions: int
    end_reason: str
    """``"bot finished"``, ``"bot transferred"``, ``"caller disconnected"`` or
    ``"error: ..."``."""
    hung_up: bool
    """The serializer's hang-up succeeded (or found the call already over)."""
    hangup_outcome: str | None
    """The last hang-up result's outcome (``completed``, ``already-ended``, ``failed``)."""
    hangup_status: int | None
    frames_in: int
    frames_out: int
    stream_stops: int
    """Times the serializer reported the stream stopped (``stop`` or socket closed)."""
    digits: str = ""
    """The keypad digits that reached the bot's pipeline, in order."""
    transfer_to: str | None = None
    """Where the bot asked to transfer the caller (its ``TransferFrame``), if it did."""


class CallLog:
    """Records of the last ``maxlen`` calls that ended in this process, oldest first."""

    def __init__(self, maxlen: int = DEFAULT_MAXLEN) -> None:
        if maxlen < 1:
            raise ValueError(f"maxlen must be at least 1, got {maxlen}")
        self._records: deque[CallRecord] = deque(maxlen=maxlen)
        self._changed = asyncio.Event()
        self.total = 0
        """Calls recorded since the start, including those no longer kept."""

    @property
    def maxlen(self) -> int:
        return self._records.maxlen or 0

    @property
    def records(self) -> list[CallRecord]:
        return list(self._records)

    def add(self, record: CallRecord) -> None:
        self._records.append(record)
        self.total += 1
        # Swap in a fresh event so each waiter wakes once per change.
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def wait_for(self, call_id: str, timeout_secs: float = 10.0) -> CallRecord:
        """The record of ``call_id``, waiting for its call to end; TimeoutError if it does not
        (or if it ended so long ago that its record was dropped)."""
        async with asyncio.timeout(timeout_secs):
            while True:
                for record in self._records:
                    if record.call_id == call_id:
                        return record
                await self._changed.wait()
