"""The in-process call registry keeps the contract a cross-process one must keep too:
order, exactly once while held, unregister, expiry, a clear answer for unknown calls."""

from __future__ import annotations

import asyncio

import pytest

from bwserial.calls import (
    CallRegistry,
    CallSignal,
    Delivery,
    InProcessCallRegistry,
    Registration,
)


def _digit(call_id: str, digit: str) -> CallSignal:
    return CallSignal(call_id, "dtmf", {"digit": digit})


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_signals_run_the_handler_in_order_exactly_once() -> None:
    registry = InProcessCallRegistry()
    got: list[str] = []

    async def handler(signal: CallSignal) -> None:
        await asyncio.sleep(0.001 if signal.data["digit"] in "13579" else 0)  # uneven work
        got.append(signal.data["digit"])

    async with await registry.register("c-1", handler):
        results = [await registry.deliver(_digit("c-1", d)) for d in "0123456789"]
        async with asyncio.timeout(2):
            while len(got) < 10:
                await asyncio.sleep(0.001)
        await asyncio.sleep(0.05)
    assert results == [Delivery.DELIVERED] * 10
    assert got == list("0123456789")


async def test_calls_are_kept_apart() -> None:
    registry = InProcessCallRegistry()
    got: dict[str, list[str]] = {"a": [], "b": []}

    async def for_call(name: str) -> object:
        async def handler(signal: CallSignal) -> None:
            got[name].append(signal.data["digit"])

        return handler

    await registry.register("c-a", await for_call("a"))  # type: ignore[arg-type]
    await registry.register("c-b", await for_call("b"))  # type: ignore[arg-type]
    await registry.deliver(_digit("c-a", "1"))
    await registry.deliver(_digit("c-b", "2"))
    await registry.deliver(_digit("c-a", "3"))
    await _settle()
    assert got == {"a": ["1", "3"], "b": ["2"]}
    await registry.aclose()
    assert len(registry) == 0


async def test_unknown_and_unregistered_calls_are_answered_unknown() -> None:
    registry = InProcessCallRegistry()
    got: list[CallSignal] = []

    async def handler(signal: CallSignal) -> None:
        got.append(signal)

    assert await registry.deliver(_digit("c-none", "1")) is Delivery.UNKNOWN
    registration = await registry.register("c-1", handler)
    assert registration.active
    await registration.unregister()
    await registration.unregister()  # twice is fine
    assert not registration.active
    assert await registry.deliver(_digit("c-1", "1")) is Delivery.UNKNOWN
    assert not await registration.renew()
    await _settle()
    assert got == []


async def test_a_registration_expires_unless_renewed() -> None:
    registry = InProcessCallRegistry()
    got: list[str] = []

    async def handler(signal: CallSignal) -> None:
        got.append(signal.data["digit"])

    kept = await registry.register("c-kept", handler, ttl_secs=0.15)
    lost = await registry.register("c-lost", handler, ttl_secs=0.15)
    kept.keep_alive()  # a live holder renews every 50 ms
    await asyncio.sleep(0.4)
    assert await registry.deliver(_digit("c-lost", "1")) is Delivery.UNKNOWN
    assert not lost.active
    assert await registry.deliver(_digit("c-kept", "2")) is Delivery.DELIVERED
    await _settle()
    assert got == ["2"]
    await kept.unregister()
    assert await registry.deliver(_digit("c-kept", "3")) is Delivery.UNKNOWN


async def test_a_new_registration_replaces_the_old_holder() -> None:
    registry = InProcessCallRegistry()
    old: list[str] = []
    new: list[str] = []

    async def old_handler(signal: CallSignal) -> None:
        old.append(signal.data["digit"])

    async def new_handler(signal: CallSignal) -> None:
        new.append(signal.data["digit"])

    first = await registry.register("c-1", old_handler)
    await registry.register("c-1", new_handler)
    assert not first.active
    await first.unregister()  # the stale holder leaving does not drop the new one
    assert await registry.deliver(_digit("c-1", "4")) is Delivery.DELIVERED
    await _settle()
    assert (old, new) == ([], ["4"])


async def test_a_full_queue_answers_busy_and_a_failing_handler_does_not_stop_the_rest() -> None:
    registry = InProcessCallRegistry(queue_size=2)
    gate = asyncio.Event()
    got: list[str] = []

    async def handler(signal: CallSignal) -> None:
        digit = signal.data["digit"]
        if digit == "1":
            await gate.wait()
            raise RuntimeError("the bot failed on 1")
        got.append(digit)

    await registry.register("c-1", handler)
    assert await registry.deliver(_digit("c-1", "1")) is Delivery.DELIVERED
    await _settle()  # "1" is being handled; the queue is empty again
    assert await registry.deliver(_digit("c-1", "2")) is Delivery.DELIVERED
    assert await registry.deliver(_digit("c-1", "3")) is Delivery.DELIVERED
    assert await registry.deliver(_digit("c-1", "4")) is Delivery.BUSY
    gate.set()
    await _settle()
    assert got == ["2", "3"]


async def test_bad_registrations_and_signals_are_refused() -> None:
    registry = InProcessCallRegistry()

    async def handler(signal: CallSignal) -> None:
        return None

    with pytest.raises(ValueError, match="call_id"):
        await registry.register("c/1", handler)
    with pytest.raises(ValueError, match="ttl_secs"):
        await registry.register("c-1", handler, ttl_secs=0)
    with pytest.raises(ValueError, match="call_id"):
        CallSignal("..", "dtmf")
    with pytest.raises(ValueError, match="queue_size"):
        InProcessCallRegistry(queue_size=0)


def test_signals_round_trip_through_json() -> None:
    signal = _digit("c-1", "#")
    assert CallSignal.from_json(signal.to_json()) == signal
    with pytest.raises(ValueError, match="CallSignal"):
        CallSignal.from_json({"call_id": "c-1"})
    with pytest.raises(ValueError, match="strings"):
        CallSignal.from_json({**signal.to_json(), "data": {"digit": 1}})


async def test_another_package_can_implement_the_interface() -> None:
    """What a cross-process registry subclasses: two abstract methods and a Registration."""

    class Recording(CallRegistry):
        def __init__(self) -> None:
            self.delivered: list[CallSignal] = []

        async def register(
            self, call_id: str, handler: object, *, ttl_secs: float = 30.0
        ) -> Registration:
            class Held(Registration):
                active = True

                async def renew(self) -> bool:
                    return True

                async def _unregister(self) -> None:
                    type(self).active = False

            return Held(call_id, ttl_secs)

        async def deliver(self, signal: CallSignal) -> Delivery:
            self.delivered.append(signal)
            return Delivery.DELIVERED

    registry = Recording()
    async with await registry.register("c-1", None) as held:
        assert held.active
    assert not held.active
    assert await registry.deliver(_digit("c-1", "0")) is Delivery.DELIVERED
    await registry.aclose()
