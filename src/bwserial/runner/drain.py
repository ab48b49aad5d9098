"""Draining a worker: a deploy or restart must not cut callers off mid-sentence.

A worker asked to stop (SIGTERM, SIGHUP) first *drains*: its readiness route answers
503 so the load balancer sends new calls elsewhere, new streams are refused, and the
calls it holds go on for up to ``drain_secs``; each call still up then is ended the
way a pipeline ends one (its queued audio plays out, then the transfer or hang-up),
within the hang-up deadline. Only then does the server itself shut down.

The server's own shutdown cannot do this: uvicorn closes every WebSocket (1012) the
moment it starts shutting down, before the app's lifespan hears anything. So the
drain hooks the signals themselves. :class:`SignalDrain` is installed by
:meth:`BandwidthRunner.lifespan <bwserial.runner.BandwidthRunner.lifespan>` inside
uvicorn's own signal capture (uvicorn installs its handlers before it starts the
lifespan, in every worker: ``uvicorn``, ``uvicorn --workers N``, gunicorn's uvicorn
worker), so the handler it replaces is uvicorn's. After the drain, the server is told
to exit: the replaced handler's server (a ``uvicorn.Server``, whose ``should_exit`` is
the documented way to stop it) exits normally, with status 0; any other handler is
called with the signal as if the drain had not been there.

SIGINT (Ctrl+C) is left to the server: it stops at once, and the lifespan hangs up
every call. A second SIGTERM/SIGHUP during a drain ends the calls now instead of
waiting the rest of ``drain_secs``.
"""

from __future__ import annotations

import asyncio
import math
import os
import signal
import threading
from collections.abc import Awaitable, Callable
from types import FrameType
from typing import Any, Final

from loguru import logger

__all__ = [
    "CLOSE_DRAINING",
    "DEFAULT_DRAIN_SECS",
    "DRAIN_SIGNALS",
    "ENV_DRAIN_SECS",
    "SignalDrain",
    "drain_secs_from_env",
]

ENV_DRAIN_SECS: Final = "BWSERIAL_DRAIN_SECS"
"""Overrides the default ``drain_secs`` of every :class:`BandwidthRunner` not given one."""
DEFAULT_DRAIN_SECS: Final = 15.0
"""Long enough for most calls' current exchange to finish; with the default hang-up
deadline (10 s) and slack (2 s), short enough that the whole stop (about 28 s) fits the
30 s most platforms allow by default (Kubernetes, gunicorn, ECS)."""
CLOSE_DRAINING: Final = 1013
"""Try again later: a stream that reached a worker that is draining."""
DRAIN_SIGNALS: Final[tuple[signal.Signals, ...]] = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)
"""The signals that drain (SIGHUP, a restart under uvicorn's and gunicorn's supervisors,
does not exist on Windows)."""


def drain_secs_from_env(environ: Any = None) -> float:
    """``BWSERIAL_DRAIN_SECS`` as a number of seconds, else :data:`DEFAULT_DRAIN_SECS`.

    0 is allowed (no waiting: calls are ended at once, cleanly). A value that is not a
    finite, non-negative number is a ValueError naming the variable.
    """
    env = os.environ if environ is None else environ
    raw = env.get(ENV_DRAIN_SECS, "").strip()
    if not raw:
        return DEFAULT_DRAIN_SECS
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{ENV_DRAIN_SECS} must be a number of seconds, got {raw!r}") from None
    if not (value >= 0 and math.isfinite(value)):
        raise ValueError(f"{ENV_DRAIN_SECS} must be finite and not negative, got {raw!r}")
    return value


Handler = Callable[[int, FrameType | None], Any] | int | None


class SignalDrain:
    """Turns SIGTERM/SIGHUP into ``drain()`` followed by the server's own stop.

    Args:
        drain: Runs the drain; called once, on the first signal.
        hurry: Called on a second signal during the drain (stop waiting for calls to
            end by themselves).
    """

    def __init__(self, drain: Callable[[], Awaitable[object]], hurry: Callable[[], None]) -> None:
        self._drain = drain
        self._hurry = hurry
        self._previous: dict[int, Handler] = {}
        self._original: dict[int, Handler] = {}
        """The handlers found at install, kept after uninstall: a stale copy of this
        drain's handler (restored by someone else later) passes the signal on to them."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def installed(self) -> bool:
        return bool(self._previous)

    def install(self) -> bool:
        """Take over the drain signals; False (and nothing done) off the main thread,
        where Python cannot set signal handlers, or without a running loop."""
        if threading.current_thread() is not threading.main_thread() or self._previous:
            return False
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        for sig in DRAIN_SIGNALS:
            self._previous[sig] = signal.getsignal(sig)
            signal.signal(sig, self._on_signal)
        self._original = dict(self._previous)
        return True

    def uninstall(self) -> None:
        """Give the signals back to the handlers found at :meth:`install` (only where
        this drain's handler is still the current one)."""
        if threading.current_thread() is not threading.main_thread():
            return
        previous, self._previous = self._previous, {}
        for sig, handler in previous.items():
            if signal.getsignal(sig) == self._on_signal:
                signal.signal(sig, handler if handler is not None else signal.SIG_DFL)

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        # Runs between two bytecodes of the loop's thread: only schedule work here.
        loop = self._loop
        if loop is None or loop.is_closed() or not self._previous:
            _deliver(sig, self._original.get(sig))  # no drain to run any more
            return
        loop.call_soon_threadsafe(self._start, sig)

    def _start(self, sig: int) -> None:
        if self._task is not None:
            logger.warning(f"bwserial: {signal.Signals(sig).name} again; ending the calls now")
            self._hurry()
            return
        logger.info(f"bwserial: {signal.Signals(sig).name} received; draining")
        self._task = asyncio.get_running_loop().create_task(
            self._drain_then_stop(sig), name="bwserial-drain"
        )

    async def _drain_then_stop(self, sig: int) -> None:
        try:
            await self._drain()
        except Exception:
            logger.opt(exception=True).error("bwserial: the drain failed; stopping anyway")
        finally:
            self._stop(sig)

    def _stop(self, sig: int) -> None:
        """Let the server stop as the signal would have made it."""
        handler = self._previous.get(sig)
        server = getattr(self._previous.get(signal.SIGTERM), "__self__", None)
        self.uninstall()
        if server is not None and isinstance(getattr(server, "should_exit", None), bool):
            server.should_exit = True  # uvicorn.Server: a normal exit, status 0
        else:
            _deliver(sig, handler)


def _deliver(sig: int, handler: Handler) -> None:
    """Do what ``handler`` (as found at install) would have done with ``sig``."""
    if callable(handler):
        handler(sig, None)
    elif handler in (signal.SIG_DFL, None):
        signal.signal(sig, signal.SIG_DFL)
        signal.raise_signal(sig)
