"""The call registry: how a call webhook (a keypad digit today) reaches the live call.

Bandwidth posts call webhooks (``dtmf``, later others) to whatever URL the BXML named,
and with several worker processes the request usually lands on a worker that does not
hold the call's media stream. So a webhook handler never looks a call up itself: it
hands a :class:`CallSignal` to a :class:`CallRegistry`, which delivers it to whoever
registered the call. The default, :class:`InProcessCallRegistry`, serves one process;
a cross-process package (``bwserial-redis``) implements the same interface, and
:class:`~bwserial.runner.BandwidthRunner` takes one as ``call_registry=``.

The contract every implementation keeps:

* **Registration** (:meth:`CallRegistry.register`) names a call id and an async
  handler and returns a :class:`Registration`. It expires ``ttl_secs`` after it was
  made or last renewed, so a registry shared by a fleet forgets the calls of a worker
  that died; the holder keeps it alive with :meth:`Registration.renew`
  (:meth:`Registration.keep_alive` does that in the background). ``unregister`` ends it.
  A second registration of the same call replaces the first.
* **Delivery** (:meth:`CallRegistry.deliver`) answers at once: ``DELIVERED`` (queued
  for the holder; the handler runs soon after, in the order signals were delivered,
  each exactly once while the holder is alive), ``UNKNOWN`` (no live registration:
  never registered, unregistered or expired) or ``BUSY`` (the holder's queue is full).
* A handler's exception is logged (rate-limited) and does not stop later signals.

Configuration picks the implementation by URL (:func:`registry_from_url`):
``memory://`` (or nothing) is the in-process one, any other scheme a plugin's
(``bwserial_call_registries``), e.g. ``redis://`` from ``bwserial-redis``.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import enum
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Final

from bwserial._log import escape, log_repeated, redact_url
from bwserial.ids import check_id

__all__ = [
    "DEFAULT_QUEUE_SIZE",
    "DEFAULT_TTL_SECS",
    "ENV_CALL_REGISTRY_URL",
    "CallRegistry",
    "CallSignal",
    "Delivery",
    "InProcessCallRegistry",
    "Registration",
    "SignalHandler",
    "registry_from_url",
]

DEFAULT_TTL_SECS: Final = 30.0
"""How long a registration lives without a renewal: a dead worker's calls are refused
after at most this long, and a live one renews every third of it."""
DEFAULT_QUEUE_SIZE: Final = 256
"""Signals waiting for one call's handler; past that :meth:`CallRegistry.deliver`
answers ``BUSY`` (a person presses a few keys a second, not hundreds)."""
ENV_CALL_REGISTRY_URL: Final = "BWSERIAL_CALL_REGISTRY_URL"
"""The call registry's URL when the code gives none (``redis://redis:6379/0``)."""


@dataclass(frozen=True, slots=True)
class CallSignal:
    """One webhook event for a live call, as plain data (a cross-process registry
    serializes it with :meth:`to_json` / :meth:`from_json`).

    Parameters:
        call_id: The call it is for (checked with :func:`bwserial.ids.check_id`).
        kind: What happened, e.g. ``"dtmf"``.
        data: Its fields, strings only (``{"digit": "0"}``).
        received_at: ``time.time()`` when the webhook arrived, for latency records.
    """

    call_id: str
    kind: str
    data: Mapping[str, str] = field(default_factory=dict)
    received_at: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        check_id(self.call_id, "call_id")
        if not self.kind:
            raise ValueError("a CallSignal needs a kind")

    def to_json(self) -> dict[str, Any]:
        """Plain JSON types."""
        return {
            "call_id": self.call_id,
            "kind": self.kind,
            "data": dict(self.data),
            "received_at": self.received_at,
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> CallSignal:
        """The inverse of :meth:`to_json`; ValueError for anything else."""
        try:
            data = value["data"]
            if not isinstance(data, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in data.items()
            ):
                raise ValueError("data must map strings to strings")
            return cls(
                str(value["call_id"]), str(value["kind"]), dict(data), float(value["received_at"])
            )
        except (KeyError, TypeError) as e:
            raise ValueError(f"not a CallSignal: {type(e).__name__} {e}") from None


SignalHandler = Callable[[CallSignal], Awaitable[None]]
"""What a call's holder runs for each signal, one at a time, in delivery order."""


class Delivery(enum.Enum):
    """What :meth:`CallRegistry.deliver` did with a signal."""

    DELIVERED = "delivered"
    """Queued for the call's holder."""
    UNKNOWN = "unknown"
    """No live registration: the call is unknown, ended, or its holder died."""
    BUSY = "busy"
    """The holder's queue is full; the signal was dropped."""


class Registration(abc.ABC):
    """One call held by one holder; ``async with`` unregisters on the way out."""

    def __init__(self, call_id: str, ttl_secs: float) -> None:
        self.call_id = call_id
        self.ttl_secs = ttl_secs
        self._renewer: asyncio.Task[None] | None = None

    @abc.abstractmethod
    async def renew(self) -> bool:
        """Push the expiry ``ttl_secs`` ahead; False if the registration is already
        gone (expired, replaced or unregistered)."""

    @abc.abstractmethod
    async def _unregister(self) -> None:
        """Forget the call (idempotent); signals not yet handled are dropped."""

    @property
    @abc.abstractmethod
    def active(self) -> bool:
        """Whether signals can still reach this holder."""

    def keep_alive(self, every_secs: float | None = None) -> None:
        """Renew in the background every ``every_secs`` (default a third of the TTL)
        until :meth:`unregister`; the renewals stop when the registration is gone."""
        if self._renewer is not None:
            return
        interval = every_secs if every_secs is not None else self.ttl_secs / 3

        async def renew_forever() -> None:
            while True:
                await asyncio.sleep(interval)
                try:
                    if not await self.renew():
                        return
                except Exception as e:  # a registry outage must not end the call
                    log_repeated(
                        ("bwserial-registry-renew", type(e).__name__),
                        "WARNING",
                        f"bwserial: renewing the registration of call {escape(self.call_id)} "
                        f"failed ({type(e).__name__})",
                        exception=e,
                    )

        self._renewer = asyncio.get_running_loop().create_task(
            renew_forever(), name=f"bwserial-registry-renew-{self.call_id}"
        )

    async def unregister(self) -> None:
        """Stop renewing and forget the call; safe to call twice."""
        renewer, self._renewer = self._renewer, None
        if renewer is not None:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
        await self._unregister()

    async def __aenter__(self) -> Registration:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.unregister()


class CallRegistry(abc.ABC):
    """Routes :class:`CallSignal` s to the holder of each call (see the module doc)."""

    @abc.abstractmethod
    async def register(
        self, call_id: str, handler: SignalHandler, *, ttl_secs: float = DEFAULT_TTL_SECS
    ) -> Registration:
        """Hold ``call_id``: its signals run ``handler`` here, in order, until the
        returned registration is unregistered or expires."""

    @abc.abstractmethod
    async def deliver(self, signal: CallSignal) -> Delivery:
        """Hand ``signal`` to its call's holder; never raises for an unknown call."""

    async def start(self) -> None:  # noqa: B027 - optional: nothing to open by default
        """Connect (a cross-process registry), so a registry that cannot work fails when
        the app starts, with an error naming its (redacted) URL, not on the first call.
        :meth:`~bwserial.runner.BandwidthRunner.lifespan` awaits it; idempotent."""

    async def aclose(self) -> None:  # noqa: B027 - optional: nothing to close by default
        """Release connections (a cross-process registry); the in-process one drops
        every registration."""


class _Entry:
    """One in-process registration's queue and the task that drains it in order."""

    __slots__ = ("expires_at", "handler", "queue", "task")

    def __init__(self, handler: SignalHandler, expires_at: float, size: int) -> None:
        self.handler = handler
        self.expires_at = expires_at
        self.queue: asyncio.Queue[CallSignal] = asyncio.Queue(size)
        self.task: asyncio.Task[None] | None = None


class _LocalRegistration(Registration):
    def __init__(self, registry: InProcessCallRegistry, call_id: str, entry: _Entry, ttl: float):
        super().__init__(call_id, ttl)
        self._registry = registry
        self._entry = entry

    @property
    def active(self) -> bool:
        return self._registry._live(self.call_id) is self._entry

    async def renew(self) -> bool:
        if not self.active:
            return False
        self._entry.expires_at = time.monotonic() + self.ttl_secs
        return True

    async def _unregister(self) -> None:
        self._registry._drop(self.call_id, self._entry)


class InProcessCallRegistry(CallRegistry):
    """The default: every call held and every webhook received by this one process.

    Args:
        queue_size: Signals waiting per call before ``deliver`` answers ``BUSY``.
    """

    def __init__(self, *, queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        if queue_size < 1:
            raise ValueError(f"queue_size must be at least 1, got {queue_size}")
        self._queue_size = queue_size
        self._calls: dict[str, _Entry] = {}

    def __len__(self) -> int:
        """Registrations held (expired ones count until a delivery finds them)."""
        return len(self._calls)

    async def register(
        self, call_id: str, handler: SignalHandler, *, ttl_secs: float = DEFAULT_TTL_SECS
    ) -> Registration:
        if call_id is None:
            raise ValueError("register() needs a call id")
        check_id(call_id, "call_id")
        if not (ttl_secs > 0 and math.isfinite(ttl_secs)):
            raise ValueError(f"ttl_secs must be positive and finite, got {ttl_secs}")
        entry = _Entry(handler, time.monotonic() + ttl_secs, self._queue_size)
        old = self._calls.pop(call_id, None)
        if old is not None:
            self._stop(old)
        self._calls[call_id] = entry
        entry.task = asyncio.get_running_loop().create_task(
            self._drain(call_id, entry), name=f"bwserial-registry-{call_id}"
        )
        return _LocalRegistration(self, call_id, entry, ttl_secs)

    async def deliver(self, signal: CallSignal) -> Delivery:
        entry = self._live(signal.call_id)
        if entry is None:
            return Delivery.UNKNOWN
        try:
            entry.queue.put_nowait(signal)
        except asyncio.QueueFull:
            return Delivery.BUSY
        return Delivery.DELIVERED

    async def aclose(self) -> None:
        for entry in self._calls.values():
            self._stop(entry)
        self._calls.clear()

    def _live(self, call_id: str) -> _Entry | None:
        entry = self._calls.get(call_id)
        if entry is not None and time.monotonic() >= entry.expires_at:
            self._drop(call_id, entry)
            return None
        return entry

    def _drop(self, call_id: str, entry: _Entry) -> None:
        if self._calls.get(call_id) is entry:
            del self._calls[call_id]
        self._stop(entry)

    @staticmethod
    def _stop(entry: _Entry) -> None:
        if entry.task is not None and not entry.task.done():
            entry.task.cancel()

    @staticmethod
    async def _drain(call_id: str, entry: _Entry) -> None:
        while True:
            signal = await entry.queue.get()
            try:
                await entry.handler(signal)
            except Exception as e:
                log_repeated(
                    ("bwserial-registry-handler", type(e).__name__),
                    "ERROR",
                    f"bwserial: the {escape(signal.kind)} handler of call {escape(call_id)} "
                    f"raised {type(e).__name__}",
                    exception=e,
                )


_MEMORY_SCHEMES: Final = ("memory",)


def registry_from_url(url: str | None, **options: Any) -> CallRegistry:
    """The call registry a URL names: configuration, not code, picks the engine.

    ``None``, ``""`` or ``memory://`` give an :class:`InProcessCallRegistry` (``options``
    are its keyword arguments). Any other scheme is looked up among the factories
    plugins register with the ``bwserial_call_registries`` hook (``bwserial-redis``
    serves ``redis://``, ``rediss://`` and ``unix://``), which get the whole URL and
    ``options``. Nothing connects here: the registry connects in
    :meth:`CallRegistry.start`.

    Raises:
        ValueError: no scheme, or one no enabled plugin registers; the message lists
            the registered schemes and names the URL without its password.
    """
    if not url:
        return InProcessCallRegistry(**options)
    scheme, sep, _ = url.partition("://")
    scheme = scheme.strip().casefold()
    shown = redact_url(url)
    if not sep or not scheme:
        raise ValueError(f"call registry URL {shown!r} has no scheme (e.g. redis://host:6379/0)")
    if scheme in _MEMORY_SCHEMES:
        return InProcessCallRegistry(**options)
    from bwserial.plugins import resolve

    factories = resolve().call_registries
    found = factories.get(scheme)
    if found is None:
        known = ", ".join(sorted({*_MEMORY_SCHEMES, *(r.item.scheme for r in factories.values())}))
        raise ValueError(
            f"no call registry serves {scheme}:// (URL {shown!r}); registered schemes: "
            f"{known}. Install the plugin that provides it (redis: pip install bwserial-redis)."
        )
    registry = found.item.factory(url, **options)
    if not isinstance(registry, CallRegistry):
        raise TypeError(
            f"the {scheme}:// factory of plugin {found.plugin!r} returned "
            f"{type(registry).__name__}, not a CallRegistry"
        )
    return registry
