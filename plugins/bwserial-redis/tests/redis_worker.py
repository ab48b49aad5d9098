"""A worker process stand-in: holds calls in a RedisCallRegistry, prints every signal it
runs, and (told "go" on stdin) delivers a numbered series to the next worker's calls.

    python redis_worker.py URL INDEX WORKERS CALLS SIGNALS TTL
"""

from __future__ import annotations

import asyncio
import sys

from bwserial.calls import CallSignal, SignalHandler

from bwserial_redis import RedisCallRegistry


def _handler(call_id: str) -> SignalHandler:
    async def handle(signal: CallSignal) -> None:
        print(f"got {call_id} {signal.data['n']}", flush=True)

    return handle


async def main(url: str, index: int, workers: int, calls: int, signals: int, ttl: float) -> None:
    registry = RedisCallRegistry(url)
    await registry.start()
    for j in range(calls):
        call_id = f"c-{index}-{j}"
        registration = await registry.register(call_id, _handler(call_id), ttl_secs=ttl)
        registration.keep_alive()
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)  # "go"
    target = (index + 1) % workers
    for n in range(signals):
        for j in range(calls):
            call_id = f"c-{target}-{j}"
            result = await registry.deliver(CallSignal(call_id, "seq", {"n": str(n)}))
            print(f"sent {call_id} {n} {result.value}", flush=True)
    print("done", flush=True)
    await asyncio.to_thread(sys.stdin.readline)  # "exit", or EOF when the test ends
    await registry.aclose()


if __name__ == "__main__":
    url, index, workers, calls, signals, ttl = sys.argv[1:7]
    asyncio.run(main(url, int(index), int(workers), int(calls), int(signals), float(ttl)))
