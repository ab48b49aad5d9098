"""The calls one process is responsible for, so that shutting down never leaves one up.

Two kinds of call are tracked:

* **live**: a stream was accepted and a serializer built for it. A draining worker
  (SIGTERM, SIGHUP: :mod:`bwserial.runner.drain`) waits for them to end, then ends each
  one still up through its stream (:meth:`BandwidthStream.wind_down`). On shutdown
  every live call that has not been hung up gets ``await serializer.hang_up()``, all at
  once, each bounded by its own deadline. When uvicorn stops without a drain (Ctrl+C) it
  closes every WebSocket (1012) and then runs the app's lifespan shutdown: the stream
  handlers normally hang up themselves (:meth:`BandwidthStream.end`), and this is the
  net under them when uvicorn's ``--timeout-graceful-shutdown`` cancelled them first.
* **armed**: the webhook answered with a stream, and the stream has not started here
  yet. A timer hangs the call up if it does not start in time (the BXML's ``<Pause>``
  would otherwise keep a call with no bot on it up for a day). Only meaningful when
  the webhook and the stream reach the same process: see :class:`BandwidthRunner`.

Memory is bounded by the calls in progress: an entry leaves when its call ends.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from loguru import logger

from bwserial._log import escape

if TYPE_CHECKING:
    from bwserial.runner.stream import BandwidthStream
    from bwserial.serializer import BandwidthFrameSerializer

__all__ = ["LiveCalls"]

HangUp = Callable[[], Awaitable[object]]


class LiveCalls:
    """The live and armed calls of one app (one per :class:`BandwidthRunner`)."""

    def __init__(self) -> None:
        self._live: dict[int, BandwidthFrameSerializer] = {}
        self._armed: dict[str, tuple[asyncio.TimerHandle, HangUp]] = {}
        self._pending: dict[asyncio.Task[object], str] = {}
        self._closing = False
        self._emptied: asyncio.Event | None = None
        self._streams: dict[int, BandwidthStream] = {}

    @property
    def live(self) -> int:
        """Calls with an accepted stream that have not ended."""
        return len(self._live)

    @property
    def armed(self) -> int:
        """Calls answered with a stream that has not started in this process yet."""
        return len(self._armed)

    @property
    def closing(self) -> bool:
        """Shutdown has begun: new streams are hung up, not served."""
        return self._closing

    def add(self, serializer: BandwidthFrameSerializer) -> None:
        self._live[id(serializer)] = serializer

    def attach(self, stream: BandwidthStream) -> None:
        """Remember the stream of a live call (a drain ends calls through their pipeline)."""
        if id(stream.serializer) in self._live:
            self._streams[id(stream.serializer)] = stream

    def stream_of(self, serializer: BandwidthFrameSerializer) -> BandwidthStream | None:
        return self._streams.get(id(serializer))

    def discard(self, serializer: BandwidthFrameSerializer) -> None:
        self._live.pop(id(serializer), None)
        self._streams.pop(id(serializer), None)
        if not self._live and self._emptied is not None:
            self._emptied.set()

    def serializers(self) -> list[BandwidthFrameSerializer]:
        """The live calls' serializers (a copy)."""
        return list(self._live.values())

    async def wait_empty(self, timeout_secs: float) -> bool:
        """Wait until no call is live, at most ``timeout_secs``; whether none is."""
        if not self._live:
            return True
        if self._emptied is None or self._emptied.is_set():
            self._emptied = asyncio.Event()
        try:
            async with asyncio.timeout(timeout_secs):
                await self._emptied.wait()
        except TimeoutError:
            pass
        return not self._live

    def arm(self, call_id: str, after_secs: float, hang_up: HangUp) -> None:
        """Run ``hang_up`` after ``after_secs`` unless :meth:`disarm` comes first."""
        self.disarm(call_id)
        loop = asyncio.get_running_loop()
        handle = loop.call_later(after_secs, self._fire, call_id)
        self._armed[call_id] = (handle, hang_up)

    def disarm(self, call_id: str) -> bool:
        """Forget the timer of ``call_id``; whether one was armed."""
        entry = self._armed.pop(call_id, None)
        if entry is None:
            return False
        entry[0].cancel()
        return True

    def _fire(self, call_id: str) -> None:
        entry = self._armed.pop(call_id, None)
        if entry is None:
            return
        hang_up = entry[1]
        logger.warning(f"Bandwidth call {escape(call_id)}: no stream started in time; hanging up")
        self.spawn(call_id, hang_up())

    def spawn(self, call_id: str, hang_up: Awaitable[object]) -> None:
        """Run a hang-up of ``call_id`` in the background; shutdown waits for it."""

        async def run() -> object:
            return await hang_up

        task: asyncio.Task[object] = asyncio.get_running_loop().create_task(run())
        self._pending[task] = call_id
        task.add_done_callback(lambda done: self._pending.pop(done, None))

    async def shutdown(self, timeout_secs: float) -> None:
        """Hang up every call this process holds, waiting at most ``timeout_secs``.

        Armed calls are hung up too: once this process stops, their stream can no
        longer start here. A hang-up that does
        not finish (cancelled, or past the timeout) is logged at ERROR with its call id.
        """
        self._closing = True
        for call_id, (handle, hang_up) in list(self._armed.items()):
            handle.cancel()
            self.spawn(call_id, hang_up())
        self._armed.clear()
        waits: dict[asyncio.Task[object], str] = {}
        for serializer in list(self._live.values()):
            if not serializer.hung_up:
                task: asyncio.Task[object] = asyncio.ensure_future(serializer.hang_up())
                waits[task] = serializer.call_id or "?"
        waits.update(self._pending)
        if not waits:
            return
        logger.info(f"bwserial: shutting down; waiting for {len(waits)} hang-up(s)")
        done: set[asyncio.Task[object]] = set()
        try:
            done, _ = await asyncio.wait(waits, timeout=timeout_secs)
        finally:
            for task, call_id in waits.items():
                if task not in done:
                    logger.error(
                        f"Bandwidth call {escape(call_id)}: hang-up did not finish before "
                        "shutdown; the call may still be up"
                    )
                    task.cancel()
            for task in done:
                with contextlib.suppress(BaseException):
                    task.result()
            self._live.clear()
            self._streams.clear()
