"""Four worker processes share one real Redis: each holds calls and delivers to another's,
in order and exactly once; a worker killed with SIGKILL has its calls refused (UNKNOWN),
the others' calls are unaffected."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from bwserial.calls import CallSignal, Delivery
from redis_server import RedisServer

from bwserial_redis import RedisCallRegistry

WORKER = Path(__file__).with_name("redis_worker.py")
WORKERS, CALLS, SIGNALS, TTL = 4, 5, 20, 1.5


@dataclass
class Worker:
    process: asyncio.subprocess.Process
    lines: list[str] = field(default_factory=list)
    reader: asyncio.Task[None] | None = None

    def has(self, line: str) -> bool:
        return line in self.lines

    async def tell(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line.encode() + b"\n")
        await self.process.stdin.drain()


async def _read(worker: Worker) -> None:
    assert worker.process.stdout is not None
    async for raw in worker.process.stdout:
        worker.lines.append(raw.decode().strip())


@pytest.fixture
async def workers(redis_server: RedisServer) -> AsyncIterator[list[Worker]]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(WORKER.parent), *sys.path])}
    started: list[Worker] = []
    for index in range(WORKERS):
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(WORKER), redis_server.url, str(index), str(WORKERS),
            str(CALLS), str(SIGNALS), str(TTL),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env,
        )  # fmt: skip
        worker = Worker(process)
        worker.reader = asyncio.create_task(_read(worker))
        started.append(worker)
    try:
        yield started
    finally:
        for worker in started:
            if worker.process.returncode is None:
                worker.process.kill()
            await worker.process.wait()
            if worker.reader is not None:
                await worker.reader


async def _until(condition: object, secs: float, what: str) -> None:
    try:
        async with asyncio.timeout(secs):
            while not condition():  # type: ignore[operator]  # noqa: ASYNC110
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


def _got(worker: Worker) -> dict[str, list[int]]:
    per_call: dict[str, list[int]] = defaultdict(list)
    for line in worker.lines:
        if line.startswith("got "):
            _, call_id, n = line.split()
            per_call[call_id].append(int(n))
    return per_call


async def test_signals_cross_processes_in_order_exactly_once_and_a_killed_worker_is_refused(
    workers: list[Worker], redis_server: RedisServer
) -> None:
    await _until(lambda: all(w.has("ready") for w in workers), 20, "the workers to start")
    for worker in workers:
        await worker.tell("go")
    await _until(lambda: all(w.has("done") for w in workers), 20, "the deliveries")
    expected = list(range(SIGNALS))
    await _until(
        lambda: all(
            len(_got(w)) == CALLS and all(len(s) == SIGNALS for s in _got(w).values())
            for w in workers
        ),
        10,
        "every signal to be handled",
    )
    await asyncio.sleep(0.5)  # nothing more comes
    for index, worker in enumerate(workers):
        sent = [line for line in workers[index - 1].lines if line.startswith("sent ")]
        assert len(sent) == CALLS * SIGNALS
        assert all(line.endswith(" delivered") for line in sent), sent[:3]
        # Each signal ran once, in the holder that owns the call, in the order sent.
        assert _got(worker) == {f"c-{index}-{j}": expected for j in range(CALLS)}

    # SIGKILL worker 0 mid-call: no unregister, no goodbye.
    workers[0].process.send_signal(signal.SIGKILL)
    await workers[0].process.wait()
    webhook = RedisCallRegistry(redis_server.url)
    await webhook.start()
    try:
        refused = await webhook.deliver(CallSignal("c-0-0", "seq", {"n": "99"}))
        assert refused is Delivery.UNKNOWN  # nobody listens on its channel any more
        before = len(workers[1].lines)
        assert await webhook.deliver(CallSignal("c-1-0", "seq", {"n": "99"})) is Delivery.DELIVERED
        await _until(lambda: "got c-1-0 99" in workers[1].lines[before:], 5, "the live worker")
        # Its ownership keys expire within the TTL (the live workers' are renewed).
        client = aioredis.Redis.from_url(redis_server.url)
        try:
            await asyncio.sleep(TTL + 0.3)
            assert await client.exists("bwserial:call:c-0-0") == 0
            assert await client.exists("bwserial:call:c-1-0") == 1
        finally:
            await client.aclose()
        assert await webhook.deliver(CallSignal("c-0-1", "seq", {"n": "1"})) is Delivery.UNKNOWN
    finally:
        await webhook.aclose()
