"""One accepted Bandwidth stream: its trusted identity, serializer and transport.

The object an app's WebSocket endpoint gets back from
:meth:`BandwidthRunner.accept_stream`. Its one rule: however the call's pipeline ends,
``await stream.end()`` (or leaving ``async with stream:``) ends the phone call too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from loguru import logger

from bwserial._log import escape
from bwserial.calls import Registration
from bwserial.runner.calls import LiveCalls
from bwserial.runner.tokens import StreamIdentity
from bwserial.types import HangupResult, StreamStarted

if TYPE_CHECKING:
    from bwserial.serializer import BandwidthFrameSerializer

__all__ = ["BandwidthStream", "Cancellable", "DrainHandler"]


class Cancellable(Protocol):
    """What :meth:`BandwidthStream.end_on_disconnect` needs of a pipeline worker/task."""

    async def cancel(self) -> Any: ...


DrainHandler = Callable[["BandwidthStream"], Awaitable[object]]
"""An app's own ending for a call a draining worker still holds
(:attr:`BandwidthStream.on_drain`)."""


class BandwidthStream:
    """An authenticated stream whose ``start`` was read: ready for a pipeline.

    Attributes:
        identity: The call named by the signed token: the only IDs the hang-up uses.
        started: The ``start`` message as sent (its IDs are claims, never used).
        start_message: Its raw text (already shown to the serializer).
        serializer: A :class:`~bwserial.BandwidthFrameSerializer` for this call.
        transport: A ready ``FastAPIWebsocketTransport`` if transport params were
            given to ``accept_stream``, else None.
        websocket: The accepted socket (for apps that drive the serializer themselves).
    """

    def __init__(
        self,
        identity: StreamIdentity,
        started: StreamStarted,
        start_message: str,
        serializer: BandwidthFrameSerializer,
        transport: Any,
        calls: LiveCalls,
        websocket: Any = None,
    ) -> None:
        self.identity = identity
        self.started = started
        self.start_message = start_message
        self.serializer = serializer
        self.transport = transport
        self.websocket = websocket
        self._calls = calls
        self.registration: Registration | None = None
        """The call's entry in the runner's call registry (webhooks such as digits
        reach the pipeline through it), or None; :meth:`end` unregisters it."""
        self._ending: asyncio.Task[HangupResult | None] | None = None
        self.worker: Any = None
        """The pipeline worker/task given to :meth:`end_on_disconnect`, if any: a
        draining worker queues the call's ending frame on it."""
        self.on_drain: DrainHandler | None = None
        """Your own ending for this call when the worker drains and ``drain_secs`` has
        passed: an async callable given this stream that makes the pipeline end the
        call (queue a goodbye, then an ``EndFrame`` or a ``TransferFrame``). None: the
        runner queues the ``EndFrame`` (or ``TransferFrame`` to the runner's
        ``drain_transfer_to``) itself. Either way the call must be over within the
        hang-up deadline, or it is hung up."""

    @property
    def call_id(self) -> str:
        """The trusted call id (from the token)."""
        return self.identity.call_id

    def end_on_disconnect(self, worker: Cancellable) -> None:
        """The disconnect handler: when Bandwidth closes the socket, end the call and
        cancel ``worker`` (a ``PipelineWorker``/``PipelineTask``).

        Bandwidth may close without a ``stop`` (and uvicorn closes every socket with
        1012 on shutdown); once the socket is closed Pipecat no longer hands End/Cancel
        frames to the serializer, so the handler starts the hang-up itself
        (``notify_socket_closed``) before cancelling the pipeline.
        """
        if self.transport is None:
            raise ValueError("accept_stream() built no transport: pass transport_params")
        serializer = self.serializer
        self.worker = worker

        async def on_client_disconnected(_transport: Any, _client: Any) -> None:
            serializer.notify_socket_closed()
            await worker.cancel()

        self.transport.add_event_handler("on_client_disconnected", on_client_disconnected)

    async def wind_down(self, transfer_to: str | None = None) -> None:
        """End the call the way its pipeline would: what the bot is saying plays out,
        then the transfer (to ``transfer_to``) or the hang-up. Returns once that is
        under way, not when it is over (the serializer reports the outcome).

        Uses :attr:`on_drain` if set; else queues an ``EndFrame`` (or a
        ``TransferFrame``) on the pipeline worker given to :meth:`end_on_disconnect`;
        without one, a graceful ``serializer.hang_up()`` (no transfer). Never raises
        ``Exception``.
        """
        try:
            if self.on_drain is not None:
                await self.on_drain(self)
                return
            queue = getattr(self.worker, "queue_frame", None)
            if queue is not None:
                if transfer_to is not None:
                    from bwserial.frames import TransferFrame

                    await queue(TransferFrame.to(transfer_to))
                else:
                    from pipecat.frames.frames import EndFrame

                    await queue(EndFrame())
                return
        except Exception as e:
            logger.warning(
                f"Bandwidth call {escape(self.call_id)}: ending the pipeline failed "
                f"({type(e).__name__}: {escape(str(e), 200)}); hanging up"
            )
        if transfer_to is not None:
            logger.warning(
                f"Bandwidth call {escape(self.call_id)}: no pipeline worker to transfer "
                "through; hanging up instead"
            )
        self._ending = asyncio.get_running_loop().create_task(
            self.serializer.hang_up(graceful=True), name=f"bwserial-drain-{self.call_id}"
        )

    async def end(self) -> HangupResult | None:
        """Hang up unless that already happened; waits for an attempt in flight.

        Returns the hang-up's result (None when there was nothing to do). Never raises
        ``Exception``. If cancelled (a server shutting down past its grace period), the
        call stays registered, so the app's lifespan shutdown hangs it up.
        """
        registration, self.registration = self.registration, None
        if registration is not None:
            try:
                await registration.unregister()
            except Exception as e:  # a registry outage must not keep the call up
                logger.warning(
                    f"Bandwidth call {escape(self.call_id)}: unregistering failed "
                    f"({type(e).__name__})"
                )
        serializer = self.serializer
        try:
            result = None if serializer.hung_up else await serializer.hang_up()
        except asyncio.CancelledError:
            logger.warning(
                f"Bandwidth call {escape(self.call_id)}: hang-up interrupted; the app's "
                "shutdown retries it"
            )
            raise
        self._calls.discard(serializer)
        return result

    async def __aenter__(self) -> BandwidthStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.end()

    def __repr__(self) -> str:
        return f"BandwidthStream(call_id={self.call_id!r}, stream_id={self.started.stream_id!r})"
