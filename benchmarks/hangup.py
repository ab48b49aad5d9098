"""Hang-up side by side: bwserial vs pipecat-bandwidth against the fake Voice API.

Both talk real HTTP to bwserial.testing.FakeVoiceAPI on 127.0.0.1 with the same
added latency per request. Prints, per implementation: time from
``serialize(EndFrame)`` to its return, requests made per hang-up, and what happens
when the API never answers. Ratios are what matter; absolute times vary by machine.

    python benchmarks/hangup.py [--latency 0.05] [--runs 10] [--hang-cap 12]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

from pipecat.frames.frames import EndFrame
from pipecat_bandwidth import BandwidthFrameSerializer as Reference

from bwserial import BandwidthFrameSerializer
from bwserial.testing.fake_voice_api import HANG, FakeVoiceAPI
from bwserial.voiceapi import _oauth as oauth
from bwserial.voiceapi._http_pool import close_sessions

CLIENT_ID, SECRET, ACCOUNT = "bench-client", "bench-secret", "9900000"


class _Setup:
    audio_in_sample_rate = 16000
    audio_out_sample_rate = 24000


def reference(api: FakeVoiceAPI, call_id: str) -> Any:
    serializer = Reference("s", call_id=call_id, account_id=ACCOUNT, client_id=CLIENT_ID,
                           client_secret=SECRET)
    serializer.OAUTH_TOKEN_URL = api.token_url  # the reference hard-codes its endpoints
    serializer.VOICE_API_BASE_URL = api.voice_api_base_url
    return serializer


def ours(api: FakeVoiceAPI, call_id: str, **params: Any) -> BandwidthFrameSerializer:
    return BandwidthFrameSerializer(
        "s", call_id=call_id, account_id=ACCOUNT, client_id=CLIENT_ID, client_secret=SECRET,
        params=BandwidthFrameSerializer.InputParams(
            oauth_token_url=api.token_url, voice_api_base_url=api.voice_api_base_url, **params
        ),
    )


async def timed_end(serializer: Any, cap: float | None = None) -> float | None:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(serializer.serialize(EndFrame()), cap)
    except TimeoutError:
        return None
    return time.perf_counter() - started


class BenchmarkError(AssertionError):
    """The benchmark did not do the work it timed: its figures would be wrong."""


def check_hung_up(api: FakeVoiceAPI, call_ids: list[str], who: str) -> None:
    """Every timed hang-up must have ended its call at the fake API, or the time is of nothing."""
    missing = [c for c in call_ids if c not in api.completed_calls]
    if missing:
        raise BenchmarkError(f"{who}: {len(missing)} of {len(call_ids)} calls were not hung up "
                             f"(e.g. {missing[0]}); the timing measured a failure path")


async def normal_path(latency: float, runs: int) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    async with FakeVoiceAPI(CLIENT_ID, SECRET, latency=latency) as api:
        times, before = [], len(api.requests)
        for i in range(runs):
            times.append(await timed_end(reference(api, f"ref-{i}")))
        check_hung_up(api, [f"ref-{i}" for i in range(runs)], "pipecat-bandwidth")
        results["pipecat-bandwidth"] = {
            "median_s": statistics.median(times),  # type: ignore[type-var]
            "requests": (len(api.requests) - before) / runs,
        }

        oauth.clear_cache()
        warm = ours(api, "warm-up")
        await warm.setup(_Setup())  # fetches the token ahead, as in a real call
        while api.tokens_issued == 0 or not oauth._tokens:
            await asyncio.sleep(0.005)
        times, before = [], len(api.requests)
        for i in range(runs):
            serializer = ours(api, f"bw-{i}")
            await serializer.setup(_Setup())
            times.append(await timed_end(serializer))
            if not serializer.hung_up:
                raise BenchmarkError(f"bwserial bw-{i}: the serializer reports no hang-up")
        check_hung_up(api, [f"bw-{i}" for i in range(runs)], "bwserial (warm token)")
        results["bwserial (warm token)"] = {
            "median_s": statistics.median(times),  # type: ignore[type-var]
            "requests": (len(api.requests) - before) / runs,
        }

        times, before = [], len(api.requests)
        for i in range(runs):
            oauth.clear_cache()
            times.append(await timed_end(ours(api, f"cold-{i}")))
        check_hung_up(api, [f"cold-{i}" for i in range(runs)], "bwserial (cold token)")
        results["bwserial (cold token)"] = {
            "median_s": statistics.median(times),  # type: ignore[type-var]
            "requests": (len(api.requests) - before) / runs,
        }
        await close_sessions()
    return results


async def hanging_api(cap: float, deadline: float) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    async with FakeVoiceAPI(CLIENT_ID, SECRET) as api:
        api.script_token(*[HANG] * 50)
        api.script_call(*[HANG] * 50)
        out["pipecat-bandwidth"] = await timed_end(reference(api, "ref-hang"), cap)
        oauth.clear_cache()
        out["bwserial"] = await timed_end(ours(api, "bw-hang", hangup_timeout_secs=deadline), cap)
        if api.completed_calls:  # the API never answered: no call can have ended
            raise BenchmarkError(f"a hanging API completed {sorted(api.completed_calls)}")
        await close_sessions()
    return out


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.05, help="seconds added per request")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--hang-cap", type=float, default=12.0,
                        help="stop waiting for an implementation after this many seconds")
    parser.add_argument("--deadline", type=float, default=10.0, help="bwserial hangup_timeout_secs")
    args = parser.parse_args()

    normal = await normal_path(args.latency, args.runs)
    ref = normal["pipecat-bandwidth"]["median_s"]
    print(f"Hang-up, {args.latency * 1000:.0f} ms added per request, median of {args.runs} runs")
    print(f"{'implementation':<24} {'EndFrame->return':>17} {'ratio':>7} {'requests':>9}")
    for name, row in normal.items():
        print(f"{name:<24} {row['median_s'] * 1000:>14.1f} ms {row['median_s'] / ref:>7.2f} "
              f"{row['requests']:>9.1f}")

    hang = await hanging_api(args.hang_cap, args.deadline)
    print(f"\nAPI that never answers (we stop waiting after {args.hang_cap:.0f} s)")
    for name, value in hang.items():
        shown = f"returned after {value:.2f} s" if value is not None else (
            f"still waiting after {args.hang_cap:.0f} s (aiohttp's default timeout is 300 s)")
        print(f"{name:<24} {shown}")
    bound = hang["bwserial"]
    print(f"\nbwserial bounded by its deadline ({args.deadline:.0f} s): "
          f"{'yes' if bound is not None and bound <= args.deadline + 0.5 else 'NO'}")


if __name__ == "__main__":
    asyncio.run(main())
