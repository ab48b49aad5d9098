"""RedisCallRegistry: bwserial's call registry shared by a fleet of workers through Redis.

How a signal crosses processes (every step one Redis command or one Lua script, so
Redis's single thread orders them):

* The worker holding a call stores ``<prefix>call:<id>`` = ``<worker> <registration>``
  with a TTL (renewed by :meth:`Registration.renew`), and listens on its own channel
  ``<prefix>w:<worker>``.
* ``deliver`` on any worker runs one script: no owner key -> ``UNKNOWN``; the call's
  queue (the list ``<prefix>q:<id>``) holding ``queue_size`` signals -> ``BUSY``; else
  it publishes the call id on the holder's channel, and if nobody received it (the
  holder died or lost Redis: ``PUBLISH`` returns 0 receivers) answers ``UNKNOWN``,
  otherwise appends the signal to the call's queue and answers ``DELIVERED``.
* The holder, woken by the message (or by its once-a-second sweep, which catches a
  wake-up lost in a reconnect), pops the queue with one script that checks it still
  owns the call, and runs the handler for each signal in list order: Redis's order of
  the ``deliver`` scripts. A pop removes what it returns, so a signal runs at most
  once; each carries a random id the holder remembers, so a ``deliver`` retried after
  a lost reply is not run twice either.

Pub/sub is only the doorbell; the queue is a Redis list, so a holder whose
connection blips loses no signal that was answered ``DELIVERED``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
import uuid
from collections import deque
from typing import Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis.asyncio as aioredis
from bwserial._log import escape, log_repeated, redact_url
from bwserial.calls import (
    DEFAULT_QUEUE_SIZE,
    DEFAULT_TTL_SECS,
    CallRegistry,
    CallSignal,
    Delivery,
    InProcessCallRegistry,
    Registration,
    SignalHandler,
)
from bwserial.ids import check_id
from loguru import logger
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.exceptions import RedisError

__all__ = [
    "DEFAULT_PREFIX",
    "FALLBACKS",
    "RedisCallRegistry",
    "RegistryUnavailable",
]

DEFAULT_PREFIX: Final = "bwserial:"
"""Every key and channel starts with it; give each fleet sharing one Redis its own."""
FALLBACKS: Final = ("memory",)
"""What ``fallback=`` (or ``?fallback=`` in the URL) may name when Redis is unreachable
at start: ``memory``, an in-process registry (digits reach only calls held by the
worker that receives them). Without it an unreachable Redis fails the start."""
SWEEP_SECS: Final = 1.0
"""How often a holder looks for signals whose wake-up it missed (a reconnect)."""
_OPTIONS: Final = ("fallback", "prefix")
_SEEN: Final = 64
"""Signal ids remembered per call, to drop a ``deliver`` retried after a lost reply."""
_BATCH: Final = 32

_DELIVER: Final = """
local owner = redis.call('GET', KEYS[1])
if not owner then return 0 end
local worker, limit = string.match(owner, '^(%S+) %S+ (%d+)$')
if not worker then return 0 end
if redis.call('LLEN', KEYS[2]) >= tonumber(limit) then return 2 end
if redis.call('PUBLISH', ARGV[1] .. worker, ARGV[3]) == 0 then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[2])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then ttl = 60000 end
redis.call('PEXPIRE', KEYS[2], ttl + 5000)
return 1
"""
_CLAIM: Final = """
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] or (not current and ARGV[3] == '1') then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
_RELEASE: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1], KEYS[2])
  return 1
end
return 0
"""
_POP: Final = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return {} end
local n = tonumber(ARGV[2])
local items = redis.call('LRANGE', KEYS[1], 0, n - 1)
if #items > 0 then redis.call('LTRIM', KEYS[1], #items, -1) end
return items
"""

_OUTAGE: Final = (RedisError, OSError, TimeoutError)


class RegistryUnavailable(ConnectionError):
    """Redis cannot be reached; the message names the URL without its password."""


def _split_url(url: str) -> tuple[str, dict[str, str]]:
    """The URL redis-py gets, and bwserial's own query options taken out of it."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    ours = {k: v for k, v in query if k in _OPTIONS}
    rest = urlencode([(k, v) for k, v in query if k not in _OPTIONS])
    return urlunsplit((parts.scheme, parts.netloc, parts.path, rest, parts.fragment)), ours


def _ms(secs: float) -> int:
    return max(1, math.ceil(secs * 1000))


class _RedisRegistration(Registration):
    """One call held by this worker: its owner key, its wake-up, its drain task."""

    def __init__(
        self, registry: RedisCallRegistry, call_id: str, handler: SignalHandler, ttl: float
    ) -> None:
        super().__init__(call_id, ttl)
        self._registry = registry
        self._handler = handler
        # "<worker> <registration> <queue size>": whoever delivers reads the holder's limit.
        self.owner = f"{registry.worker_id} {uuid.uuid4().hex} {registry.queue_size}"
        self.expires_at = time.monotonic() + ttl
        self.gone = False
        self.wake = asyncio.Event()
        self._seen: deque[str] = deque(maxlen=_SEEN)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(
            self._drain(), name=f"bwserial-redis-{self.call_id}"
        )

    @property
    def active(self) -> bool:
        return not self.gone and time.monotonic() < self.expires_at

    async def renew(self) -> bool:
        if self.gone:
            return False
        # While this holder has not outlived its TTL, a missing key means Redis lost it
        # (a restart): re-create it. Held by someone else: replaced, so gone.
        alive = time.monotonic() < self.expires_at
        claimed = await self._registry._claim(self, self.owner, self.ttl_secs, create=alive)
        if claimed:
            self.expires_at = time.monotonic() + self.ttl_secs
            return True
        self._stop()
        return False

    async def _unregister(self) -> None:
        if self.gone:
            return
        self._stop()
        try:
            await self._registry._release(self)
        except _OUTAGE as e:  # the key expires by itself
            log_repeated(
                ("bwserial-redis-release", type(e).__name__),
                "WARNING",
                f"bwserial-redis: could not release call {escape(self.call_id)} "
                f"({type(e).__name__}); it expires in at most {self.ttl_secs:g} s",
            )

    def _stop(self) -> None:
        self.gone = True
        self._registry._forget(self)
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _drain(self) -> None:
        while not self.gone:
            await self.wake.wait()
            self.wake.clear()
            while not self.gone:
                try:
                    items = await self._registry._pop(self)
                except _OUTAGE as e:
                    log_repeated(
                        ("bwserial-redis-pop", type(e).__name__),
                        "WARNING",
                        f"bwserial-redis: reading the signals of call {escape(self.call_id)} "
                        f"failed ({type(e).__name__}); retrying",
                    )
                    await asyncio.sleep(0.2)
                    self.wake.set()
                    break
                if not items:
                    break
                for raw in items:
                    await self._run(raw)

    async def _run(self, raw: bytes | str) -> None:
        try:
            envelope = json.loads(raw)
            signal_id = str(envelope["id"])
            signal = CallSignal.from_json(envelope["signal"])
        except (ValueError, KeyError, TypeError) as e:
            log_repeated(
                "bwserial-redis-bad-signal",
                "WARNING",
                f"bwserial-redis: dropped an undecodable signal for call "
                f"{escape(self.call_id)} ({type(e).__name__})",
            )
            return
        if signal_id in self._seen:
            return
        self._seen.append(signal_id)
        try:
            await self._handler(signal)
        except Exception as e:
            log_repeated(
                ("bwserial-registry-handler", type(e).__name__),
                "ERROR",
                f"bwserial: the {escape(signal.kind)} handler of call {escape(self.call_id)} "
                f"raised {type(e).__name__}",
                exception=e,
            )


DEFAULT_MAX_CONNECTIONS: Final = 100
"""Connections per client unless the URL says ``?max_connections=``. When all are busy
a command waits for one (up to ``POOL_WAIT_SECS``) instead of failing: a burst of
digits on a busy worker is queued, not refused with a 503."""
POOL_WAIT_SECS: Final = 5.0


def _client(redis_url: str, connect_timeout_secs: float, retry: Retry) -> aioredis.Redis:
    """A client on a blocking pool: redis-py's default pool raises ``MaxConnectionsError``
    the moment its connections are all in use, which refused digits under load."""
    pool = aioredis.BlockingConnectionPool.from_url(
        redis_url,
        max_connections=DEFAULT_MAX_CONNECTIONS,
        timeout=POOL_WAIT_SECS,
        socket_connect_timeout=connect_timeout_secs,
        retry=retry,
    )
    return aioredis.Redis.from_pool(pool)


class RedisCallRegistry(CallRegistry):
    """A :class:`~bwserial.calls.CallRegistry` shared by every worker using one Redis.

    Args:
        url: ``redis://[:password@]host:port/db``, ``rediss://`` (TLS) or
            ``unix:///path/redis.sock``; redis-py's own query options pass through.
            ``?fallback=memory`` and ``?prefix=`` are read here (the keywords win).
        ttl_secs: The TTL of a registration made without one: how long a dead worker's
            calls are still routed to it (their signals answered ``UNKNOWN`` as soon
            as Redis sees the worker's connection close, at the latest after this).
        queue_size: Signals waiting per call this worker holds before ``deliver`` (on any
            worker: the limit travels in the ownership key) answers ``BUSY``.
        prefix: Key and channel prefix; fleets sharing one Redis need distinct ones.
        fallback: ``"memory"``: if Redis is unreachable at :meth:`start`, log an error
            and serve from an in-process registry instead of failing.
        connect_timeout_secs: How long :meth:`start` waits for Redis.

    Nothing connects until :meth:`start` (the runner's lifespan awaits it; ``register``
    and ``deliver`` call it if nobody did).
    """

    def __init__(
        self,
        url: str,
        *,
        ttl_secs: float = DEFAULT_TTL_SECS,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        prefix: str | None = None,
        fallback: str | None = None,
        connect_timeout_secs: float = 5.0,
    ) -> None:
        redis_url, options = _split_url(url)
        self.url = redact_url(url)
        """The URL without its password: safe to log."""
        if not (ttl_secs > 0 and math.isfinite(ttl_secs)):
            raise ValueError(f"ttl_secs must be positive and finite, got {ttl_secs}")
        if queue_size < 1:
            raise ValueError(f"queue_size must be at least 1, got {queue_size}")
        fallback = fallback if fallback is not None else options.get("fallback") or None
        if fallback is not None and fallback not in FALLBACKS:
            raise ValueError(
                f"fallback must be one of {', '.join(FALLBACKS)} or unset, got {fallback!r} "
                f"(call registry {self.url})"
            )
        self.ttl_secs = ttl_secs
        self.queue_size = queue_size
        self.prefix = prefix if prefix is not None else options.get("prefix", DEFAULT_PREFIX)
        self.fallback = fallback
        self.connect_timeout_secs = connect_timeout_secs
        self.worker_id = uuid.uuid4().hex
        """This registry's channel name suffix: one per process (per registry)."""
        self._redis_url = redis_url
        try:
            # Commands that are safe to repeat (deliver: the holder drops a repeat by
            # id; claim, release) retry a broken connection; a pop never does, as a
            # repeated pop would drop what the first one took.
            self._redis: aioredis.Redis = _client(
                redis_url, connect_timeout_secs, Retry(ExponentialBackoff(cap=0.5, base=0.05), 3)
            )
            self._once: aioredis.Redis = _client(
                redis_url, connect_timeout_secs, Retry(NoBackoff(), 0)
            )
        except ValueError as e:
            reason = str(e)
            secret = urlsplit(url).password
            if secret:
                reason = reason.replace(secret, "<redacted>")
            raise ValueError(f"invalid Redis URL {self.url}: {escape(reason, 200)}") from None
        self._deliver = self._redis.register_script(_DELIVER)
        self._claim_script = self._redis.register_script(_CLAIM)
        self._release_script = self._redis.register_script(_RELEASE)
        self._pop_script = self._once.register_script(_POP)
        self._held: dict[str, _RedisRegistration] = {}
        self._memory: InProcessCallRegistry | None = None
        self._started = False
        self._start_lock: asyncio.Lock | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._subscribed = asyncio.Event()
        self._closed = False

    def __repr__(self) -> str:
        mode = "memory fallback" if self._memory is not None else f"{len(self._held)} held"
        return f"RedisCallRegistry({self.url!r}, {mode})"

    @property
    def channel(self) -> str:
        return f"{self.prefix}w:{self.worker_id}"

    def _key(self, call_id: str) -> str:
        return f"{self.prefix}call:{call_id}"

    def _queue(self, call_id: str) -> str:
        return f"{self.prefix}q:{call_id}"

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Connect and subscribe; idempotent.

        Raises:
            RegistryUnavailable: Redis cannot be reached within
                ``connect_timeout_secs`` and no ``fallback`` is configured.
        """
        if self._started:
            return
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        async with self._start_lock:
            if self._started:
                return
            try:
                async with asyncio.timeout(self.connect_timeout_secs):
                    await self._once.ping()
            except _OUTAGE as e:
                reason = f"{type(e).__name__}: {escape(str(e), 200)}"
                if self.fallback != "memory":
                    raise RegistryUnavailable(
                        f"cannot reach the Redis call registry at {self.url} ({reason}); "
                        "start Redis or fix BWSERIAL_CALL_REGISTRY_URL (add ?fallback=memory "
                        "to serve from this process alone instead)"
                    ) from None
                logger.error(
                    f"bwserial-redis: cannot reach {self.url} ({reason}); serving calls from "
                    "this process only (fallback=memory): a digit reaches a call only if it "
                    "lands on the worker holding it"
                )
                self._memory = InProcessCallRegistry(queue_size=self.queue_size)
                self._started = True
                return
            loop = asyncio.get_running_loop()
            self._tasks = [
                loop.create_task(self._listen(), name="bwserial-redis-listen"),
                loop.create_task(self._sweep(), name="bwserial-redis-sweep"),
            ]
            self._started = True
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.connect_timeout_secs):
                await self._subscribed.wait()

    async def aclose(self) -> None:
        """Release every call this worker holds, stop listening and close connections."""
        self._closed = True
        for registration in list(self._held.values()):
            with contextlib.suppress(*_OUTAGE):
                async with asyncio.timeout(1.0):
                    await registration.unregister()
            registration._stop()
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, *_OUTAGE):
                await task
        if self._memory is not None:
            await self._memory.aclose()
        for client in (self._redis, self._once):
            with contextlib.suppress(*_OUTAGE):
                await client.aclose()

    # ------------------------------------------------------------------ the contract

    async def register(
        self, call_id: str, handler: SignalHandler, *, ttl_secs: float | None = None
    ) -> Registration:
        if call_id is None:
            raise ValueError("register() needs a call id")
        check_id(call_id, "call_id")
        ttl = self.ttl_secs if ttl_secs is None else ttl_secs
        if not (ttl > 0 and math.isfinite(ttl)):
            raise ValueError(f"ttl_secs must be positive and finite, got {ttl}")
        await self.start()
        if self._memory is not None:
            return await self._memory.register(call_id, handler, ttl_secs=ttl)
        registration = _RedisRegistration(self, call_id, handler, ttl)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._key(call_id), registration.owner, px=_ms(ttl))
            pipe.delete(self._queue(call_id))  # the previous holder's leftovers
            await pipe.execute()
        old = self._held.get(call_id)
        if old is not None:
            old._stop()
        self._held[call_id] = registration
        registration.start()
        return registration

    async def deliver(self, signal: CallSignal) -> Delivery:
        """Route ``signal`` to its holder (see the module doc).

        Raises:
            RegistryUnavailable: Redis cannot be reached (the runner answers 503, so
                Bandwidth may retry); never for an unknown call.
        """
        await self.start()
        if self._memory is not None:
            return await self._memory.deliver(signal)
        envelope = json.dumps({"id": uuid.uuid4().hex, "signal": signal.to_json()})
        try:
            answer = await self._deliver(
                keys=[self._key(signal.call_id), self._queue(signal.call_id)],
                args=[f"{self.prefix}w:", envelope, signal.call_id],
            )
        except _OUTAGE as e:
            raise RegistryUnavailable(
                f"the Redis call registry at {self.url} is unreachable ({type(e).__name__}); "
                f"the signal for call {escape(signal.call_id)} was not delivered"
            ) from e
        return {1: Delivery.DELIVERED, 2: Delivery.BUSY}.get(int(answer), Delivery.UNKNOWN)

    # ------------------------------------------------------------------ internals

    async def _claim(
        self, registration: _RedisRegistration, owner: str, ttl: float, *, create: bool
    ) -> bool:
        answer = await self._claim_script(
            keys=[self._key(registration.call_id)],
            args=[owner, _ms(ttl), "1" if create else "0"],
        )
        return int(answer) == 1

    async def _release(self, registration: _RedisRegistration) -> None:
        await self._release_script(
            keys=[self._key(registration.call_id), self._queue(registration.call_id)],
            args=[registration.owner],
        )

    async def _pop(self, registration: _RedisRegistration) -> list[bytes]:
        items = await self._pop_script(
            keys=[self._queue(registration.call_id), self._key(registration.call_id)],
            args=[registration.owner, _BATCH],
        )
        return list(items or ())

    def _forget(self, registration: _RedisRegistration) -> None:
        if self._held.get(registration.call_id) is registration:
            del self._held[registration.call_id]

    def _wake(self, call_id: str) -> None:
        registration = self._held.get(call_id)
        if registration is not None:
            registration.wake.set()

    async def _reclaim(self) -> None:
        """After a reconnect: re-create the keys Redis may have lost, then drain."""
        for registration in list(self._held.values()):
            with contextlib.suppress(*_OUTAGE):
                await registration.renew()
            registration.wake.set()

    async def _listen(self) -> None:
        backoff = 0.05
        first = True
        while not self._closed:
            pubsub = self._once.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                if not first:
                    logger.info(f"bwserial-redis: reconnected to {self.url}")
                    await self._reclaim()
                first = False
                backoff = 0.05
                self._subscribed.set()
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        data = message["data"]
                        self._wake(data.decode() if isinstance(data, bytes) else str(data))
            except asyncio.CancelledError:
                raise
            except _OUTAGE as e:
                self._subscribed.clear()
                log_repeated(
                    ("bwserial-redis-listen", type(e).__name__),
                    "WARNING",
                    f"bwserial-redis: lost {self.url} ({type(e).__name__}); reconnecting "
                    f"(digits for this worker's calls are refused meanwhile)",
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 1.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _sweep(self) -> None:
        while not self._closed:
            await asyncio.sleep(SWEEP_SECS)
            held = list(self._held.values())
            if not held or not self._subscribed.is_set():
                continue
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for registration in held:
                        pipe.llen(self._queue(registration.call_id))
                    lengths = await pipe.execute()
            except _OUTAGE:
                continue
            for registration, length in zip(held, lengths, strict=True):
                if length:
                    registration.wake.set()
