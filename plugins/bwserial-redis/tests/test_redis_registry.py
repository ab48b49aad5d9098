"""RedisCallRegistry against a real redis-server: two registries in one process stand for
two workers (one holds the call, the other receives the webhook)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from bwserial import plugins
from bwserial.calls import CallRegistry, CallSignal, Delivery, registry_from_url
from loguru import logger
from redis_server import RedisServer, free_port

import bwserial_redis
from bwserial_redis import RedisCallRegistry, RegistryUnavailable

Registries = Callable[..., Awaitable[RedisCallRegistry]]


@pytest.fixture
async def make(redis_server: RedisServer) -> AsyncIterator[Registries]:
    made: list[RedisCallRegistry] = []

    async def build(url: str | None = None, **options: object) -> RedisCallRegistry:
        registry = RedisCallRegistry(url or redis_server.url, **options)  # type: ignore[arg-type]
        await registry.start()
        made.append(registry)
        return registry

    yield build
    for registry in made:
        await registry.aclose()


def _digit(call_id: str, digit: str) -> CallSignal:
    return CallSignal(call_id, "dtmf", {"digit": digit})


def _recorder() -> tuple[list[str], Callable[[CallSignal], Awaitable[None]]]:
    got: list[str] = []

    async def handler(signal: CallSignal) -> None:
        got.append(signal.data["digit"])

    return got, handler


async def _until(predicate: Callable[[], bool], secs: float = 5.0) -> None:
    async with asyncio.timeout(secs):
        while not predicate():  # noqa: ASYNC110 - another task or process sets it
            await asyncio.sleep(0.01)


async def test_the_entry_point_serves_redis_urls_by_configuration(
    redis_server: RedisServer,
) -> None:
    found = {p.name: p for p in plugins.discover(refresh=True).plugins}
    assert found["redis"].plugin is bwserial_redis
    described = {d.name: d for d in plugins.describe_plugins()}["redis"]
    assert described.call_registries == ("redis", "rediss", "unix")
    registry = registry_from_url(redis_server.url + "?prefix=t1:", queue_size=5)
    assert isinstance(registry, RedisCallRegistry)
    assert (registry.prefix, registry.queue_size) == ("t1:", 5)
    await registry.aclose()


async def test_a_digit_from_another_worker_reaches_the_holder_in_order_exactly_once(
    make: Registries,
) -> None:
    holder, webhook = await make(), await make()
    got, handler = _recorder()
    other_got, other = _recorder()
    registration = await holder.register("c-1", handler, ttl_secs=5)
    await webhook.register("c-2", other, ttl_secs=5)
    pressed = list("0123456789*#" * 3)
    results = [await webhook.deliver(_digit("c-1", d)) for d in pressed]
    assert await holder.deliver(_digit("c-2", "7")) is Delivery.DELIVERED  # and back
    assert results == [Delivery.DELIVERED] * len(pressed)
    await _until(lambda: len(got) == len(pressed) and other_got == ["7"])
    await asyncio.sleep(0.3)  # nothing more comes
    assert got == pressed and other_got == ["7"]
    assert registration.active and await registration.renew()


async def test_unknown_unregistered_and_expired_calls_are_answered_unknown(
    make: Registries,
) -> None:
    holder, webhook = await make(), await make()
    got, handler = _recorder()
    assert await webhook.deliver(_digit("c-nobody", "1")) is Delivery.UNKNOWN
    async with await holder.register("c-ended", handler, ttl_secs=5):
        assert await webhook.deliver(_digit("c-ended", "1")) is Delivery.DELIVERED
    assert await webhook.deliver(_digit("c-ended", "2")) is Delivery.UNKNOWN
    short = await holder.register("c-short", handler, ttl_secs=0.4)  # never renewed
    assert await webhook.deliver(_digit("c-short", "3")) is Delivery.DELIVERED
    await asyncio.sleep(0.6)
    assert await webhook.deliver(_digit("c-short", "4")) is Delivery.UNKNOWN
    assert not short.active and not await short.renew()
    await _until(lambda: "3" in got)
    assert "4" not in got


async def test_a_new_registration_replaces_the_old_holder(make: Registries) -> None:
    first, second, webhook = await make(), await make(), await make()
    old_got, old = _recorder()
    new_got, new = _recorder()
    old_registration = await first.register("c-moved", old, ttl_secs=5)
    await second.register("c-moved", new, ttl_secs=5)
    assert await webhook.deliver(_digit("c-moved", "5")) is Delivery.DELIVERED
    await _until(lambda: new_got == ["5"])
    assert old_got == [] and not await old_registration.renew()
    await old_registration.unregister()  # must not drop the new holder's key
    assert await webhook.deliver(_digit("c-moved", "6")) is Delivery.DELIVERED
    await _until(lambda: new_got == ["5", "6"])


async def test_a_full_queue_answers_busy_and_a_failing_handler_does_not_stop_the_rest(
    make: Registries,
) -> None:
    holder = await make(queue_size=3)
    webhook = await make()
    release = asyncio.Event()
    got: list[str] = []

    async def slow(signal: CallSignal) -> None:
        await release.wait()
        got.append(signal.data["digit"])
        if signal.data["digit"] == "2":
            raise RuntimeError("a bot bug")

    await holder.register("c-busy", slow, ttl_secs=5)
    assert await webhook.deliver(_digit("c-busy", "1")) is Delivery.DELIVERED
    await asyncio.sleep(0.2)  # taken off the queue, the handler is waiting
    results = [await webhook.deliver(_digit("c-busy", d)) for d in "2345"]
    assert results == [Delivery.DELIVERED] * 3 + [Delivery.BUSY]
    release.set()
    await _until(lambda: got == ["1", "2", "3", "4"])


async def test_a_dead_workers_calls_are_refused_and_others_are_unaffected(
    make: Registries,
) -> None:
    dying, alive, webhook = await make(), await make(), await make()
    dead_got, dead = _recorder()
    live_got, live = _recorder()
    await dying.register("c-dies", dead, ttl_secs=30)
    await alive.register("c-lives", live, ttl_secs=30)
    # Its connections drop without a goodbye: the key outlives it, but nobody hears it.
    for task in dying._tasks:
        task.cancel()
    for client in (dying._once, dying._redis):
        await client.connection_pool.disconnect()
    await asyncio.sleep(0.1)
    assert await webhook.deliver(_digit("c-dies", "1")) is Delivery.UNKNOWN
    assert await webhook.deliver(_digit("c-lives", "2")) is Delivery.DELIVERED
    await _until(lambda: live_got == ["2"])
    assert dead_got == []


async def test_redis_restarted_mid_call_reconnects_and_delivers_nothing_twice(
    make: Registries, redis_server: RedisServer
) -> None:
    holder, webhook = await make(), await make()
    got, handler = _recorder()
    registration = await holder.register("c-restart", handler, ttl_secs=6)
    registration.keep_alive(0.5)
    for digit in "123":
        assert await webhook.deliver(_digit("c-restart", digit)) is Delivery.DELIVERED
    await _until(lambda: got == list("123"))

    redis_server.stop()
    with pytest.raises(RegistryUnavailable, match=rf"127\.0\.0\.1:{redis_server.port}"):
        await webhook.deliver(_digit("c-restart", "9"))
    redis_server.start()  # empty: no persistence, every key is gone

    # The holder reconnects and re-creates its registration; until then a digit is
    # refused (the webhook answers 404 or 503), never queued for nobody.
    results: list[Delivery] = []
    async with asyncio.timeout(8):
        while True:
            try:
                result = await webhook.deliver(_digit("c-restart", "4"))
            except RegistryUnavailable:
                result = None
            if result is Delivery.DELIVERED:
                break
            if result is not None:
                results.append(result)
            await asyncio.sleep(0.05)
    assert set(results) <= {Delivery.UNKNOWN}
    for digit in "56":
        assert await webhook.deliver(_digit("c-restart", digit)) is Delivery.DELIVERED
    await _until(lambda: len(got) >= 6)
    await asyncio.sleep(1.5)  # a sweep or two: nothing is run again
    assert got == list("123456")
    assert registration.active


async def test_unreachable_redis_at_start_is_a_clear_error_without_the_password() -> None:
    port = free_port()  # nothing listens there
    url = f"redis://:s3cret-pass@127.0.0.1:{port}/0"
    registry = RedisCallRegistry(url, connect_timeout_secs=2)
    with pytest.raises(RegistryUnavailable) as info:
        await registry.start()
    message = str(info.value)
    assert f"127.0.0.1:{port}" in message and "s3cret-pass" not in message
    assert "fallback=memory" in message  # says how to run without Redis, if wanted
    assert "s3cret-pass" not in repr(registry)
    await registry.aclose()


@pytest.mark.parametrize("how", ["url", "keyword"])
async def test_the_in_process_fallback_serves_only_when_configured(how: str) -> None:
    url = f"redis://:s3cret-pass@127.0.0.1:{free_port()}/0"
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="ERROR")
    try:
        registry: CallRegistry = (
            registry_from_url(url + "?fallback=memory")
            if how == "url"
            else RedisCallRegistry(url, fallback="memory")
        )
        await registry.start()
        got, handler = _recorder()
        async with await registry.register("c-local", handler, ttl_secs=5):
            assert await registry.deliver(_digit("c-local", "1")) is Delivery.DELIVERED
            await _until(lambda: got == ["1"])
        assert await registry.deliver(_digit("c-other", "1")) is Delivery.UNKNOWN
        await registry.aclose()
    finally:
        logger.remove(sink)
    assert any("fallback=memory" in line and "127.0.0.1" in line for line in lines), lines
    assert not any("s3cret-pass" in line for line in lines)
    with pytest.raises(ValueError, match="fallback must be"):
        RedisCallRegistry(url + "?fallback=disk")
