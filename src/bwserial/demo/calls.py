"""What happened on each call this process served: for the CLI's report and for tests.

This is observability, not state the calls depend on: the identity of a call travels in
its signed token (see :mod:`.tokens`), so any worker process can serve any call. A record
is added when a call's pipeline has ended.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

__all__ = ["CallLog", "CallRecord"]


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
    """``"bot finished"``, ``"caller disconnected"`` or ``"error: ..."``."""
    hung_up: bool
    """The serializer's hang-up succeeded (or found the call already over)."""
    hangup_outcome: str | None
    """The last hang-up result's outcome (``completed``, ``already-ended``, ``failed``)."""
    hangup_status: int | None
    frames_in: int
    frames_out: int
    stream_stops: int
    """Times the serializer reported the stream stopped (``stop`` or socket closed)."""


class CallLog:
    """Records of the calls that ended in this process, in the order they ended."""

    def __init__(self) -> None:
        self._records: list[CallRecord] = []
        self._changed = asyncio.Event()

    @property
    def records(self) -> list[CallRecord]:
        return list(self._records)

    def add(self, record: CallRecord) -> None:
        self._records.append(record)
        # Swap in a fresh event so each waiter wakes once per change.
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def wait_for(self, call_id: str, timeout_secs: float = 10.0) -> CallRecord:
        """The record of ``call_id``, waiting for its call to end; TimeoutError if it does not."""
        async with asyncio.timeout(timeout_secs):
            while True:
                for record in self._records:
                    if record.call_id == call_id:
                        return record
                await self._changed.wait()
