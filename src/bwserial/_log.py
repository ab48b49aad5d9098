"""The two logging rules every module follows: wire strings escaped, repeats rate-limited.

One bot process logs for every call it serves. A string that came from the wire
(an id in a ``start`` message, a reason from a plugin) can carry newlines or
terminal escapes that forge log lines, so it goes through :func:`escape`. A fault
that repeats per frame or per call (a flood of bad messages, an observer that
always raises) must cost a few log lines, not one per event, so it goes through
a :class:`RateLimiter`, which says how many records it held back.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Hashable
from contextlib import AbstractContextManager, nullcontext
from typing import Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from loguru import logger

__all__ = [
    "DEFAULT_INTERVAL_SECS",
    "REDACTED",
    "REPEATS",
    "RateLimiter",
    "escape",
    "log_repeated",
    "redact_url",
]

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
    try:
        text = value if isinstance(value, str) else str(value)
    except Exception:  # a hostile __str__ must not turn logging into a crash
        text = f"<unprintable {type(value).__name__}>"
    if len(text) > limit:
        return repr(text[:limit]) + "..."
    return repr(text)


REDACTED: Final = "<redacted>"
_SECRET_KEYS: Final = re.compile(
    r"token|secret|passw|pwd|auth|key|sig|credential|session|jwt|code|bearer", re.IGNORECASE
)
_TOKEN_LIKE: Final = re.compile(r"[A-Za-z0-9_~+/=.%-]{20,}")


def _looks_like_token(segment: str) -> bool:
    """A JWT/itsdangerous/HMAC-looking value: long, URL-safe, letters mixed with digits."""
    return segment.startswith("eyJ") or bool(
        _TOKEN_LIKE.fullmatch(segment)
        and any(c.isdigit() for c in segment)
        and any(c.isalpha() for c in segment)
    )


def redact_url(url: str) -> str:
    """``url`` for a report or a log line, without the credentials it may carry.

    Stream URLs carry credentials in three places: userinfo (``user:pass@``), the
    query (``?token=``) and the path (``/ws/eyJ...``, a signed token as a path
    segment). Each is replaced with ``<redacted>``: query values whose name looks
    like a credential, and any value or path segment that looks like a token.
    Never raises: an unparseable URL is redacted whole.
    """
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            netloc = REDACTED + "@" + netloc.rpartition("@")[2]
        path = "/".join(
            REDACTED if _looks_like_token(segment) else segment for segment in parts.path.split("/")
        )
        query = urlencode(
            [
                (k, REDACTED if _SECRET_KEYS.search(k) or _looks_like_token(v) else v)
                for k, v in parse_qsl(parts.query, keep_blank_values=True)
            ],
            safe="<>",
        )
        fragment = REDACTED if parts.fragment else ""
        return urlunsplit((parts.scheme, netloc, path, query, fragment))
    except ValueError:
        return REDACTED


_NO_LOCK: Final[AbstractContextManager[object]] = nullcontext()
"""Stateless, so one serves every limiter that needs no lock."""


class RateLimiter:
    """Decides which of many repeated records to write: the first per key, then
    at most one per ``interval`` seconds, each telling how many were held back.

    A limiter owned by one call or one event loop needs no lock; the process-wide
    :data:`REPEATS` is shared by every call and thread, so it takes one
    (``threadsafe=True``; only records that repeat pay for it).
    """

    __slots__ = ("_clock", "_interval", "_lock", "_state")

    def __init__(
        self,
        interval: float = DEFAULT_INTERVAL_SECS,
        clock: Callable[[], float] = time.monotonic,
        *,
        threadsafe: bool = False,
    ) -> None:
        self._interval = interval
        self._clock = clock
        self._state: dict[Hashable, list[float | int]] = {}
        self._lock: AbstractContextManager[object] = threading.Lock() if threadsafe else _NO_LOCK

    def allow(self, key: Hashable = None) -> int | None:
        """None to hold this record back; otherwise how many were held back since
        the last one written for ``key`` (0 for the first)."""
        with self._lock:
            return self._allow(key)

    def clear(self) -> None:
        """Forget every key (tests start each case with a quiet limiter)."""
        with self._lock:
            self._state.clear()

    def _allow(self, key: Hashable) -> int | None:
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


REPEATS: Final = RateLimiter(threadsafe=True)
"""The process-wide limiter for faults that repeat across calls (an observer that
raises on every event of every call, a plugin hook that always fails): one bot
serving 10,000 calls writes a few records, not 10,000."""


def log_repeated(
    key: Hashable,
    level: str,
    message: str,
    *,
    exception: BaseException | None = None,
    limiter: RateLimiter = REPEATS,
) -> bool:
    """Write ``message`` at ``level`` unless ``limiter`` holds it back; False if held.

    The written record ends with how many were held back since the last one. With
    ``exception``, its traceback follows at DEBUG only (the message itself should
    already name the exception): a traceback per fault would drown the log.
    """
    suppressed = limiter.allow(key)
    if suppressed is None:
        return False
    logger.opt(depth=1).log(level, message + RateLimiter.suffix(suppressed))
    if exception is not None:
        logger.opt(depth=1, exception=exception).debug(f"traceback of the above: {message}")
    return True
