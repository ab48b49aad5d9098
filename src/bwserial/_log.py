"""The two logging rules every module follows: wire strings escaped, repeats rate-limited.

One bot process logs for every call it serves. A string that came from the wire
(an id in a ``start`` message, a reason from a plugin) can carry newlines or
terminal escapes that forge log lines, so it goes through :func:`escape`. A fault
that repeats per frame or per call (a flood of bad messages, an observer that
always raises) must cost a few log lines, not one per event, so it goes through
a :class:`RateLimiter`, which says how many records it held back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Final

__all__ = ["DEFAULT_INTERVAL_SECS", "RateLimiter", "escape"]

DEFAULT_INTERVAL_SECS: Final = 10.0
"""At most one record per key in this many seconds."""

_MAX_KEYS: Final = 1024
"""Keys remembered per limiter; past that the oldest are forgotten (a key space
driven by the wire must not grow without bound)."""


def escape(value: object, limit: int = 64) -> str:
    """``value`` as one quoted, printable token, cut to ``limit`` characters.

    ``repr`` escapes newlines, carriage returns, ANSI escapes and every other
    non-printable character, so the result can never start a new log line.
    """
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        return repr(text[:limit]) + "..."
    return repr(text)


class RateLimiter:
    """Decides which of many repeated records to write: the first per key, then
    at most one per ``interval`` seconds, each telling how many were held back.

    Not thread-safe by design: each event loop (and each call) owns its limiters.
    """

    __slots__ = ("_clock", "_interval", "_state")

    def __init__(
        self,
        interval: float = DEFAULT_INTERVAL_SECS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._interval = interval
        self._clock = clock
        self._state: dict[Hashable, list[float | int]] = {}

    def allow(self, key: Hashable = None) -> int | None:
        """None to hold this record back; otherwise how many were held back since
        the last one written for ``key`` (0 for the first)."""
        now = self._clock()
        state = self._state.get(key)
        if state is None:
            if len(self._state) >= _MAX_KEYS:
                self._state.pop(next(iter(self._state)))
            self._state[key] = [now + self._interval, 0]
            return 0
        if now < state[0]:
            state[1] += 1
            return None
        suppressed = int(state[1])
        state[0] = now + self._interval
        state[1] = 0
        return suppressed

    @staticmethod
    def suffix(suppressed: int) -> str:
        """The text to append to a written record, e.g. " (12 more suppressed)"."""
        return f" ({suppressed} more since the last one)" if suppressed else ""
