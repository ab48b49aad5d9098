"""Several worker processes, one scrape: prometheus_client's multiprocess mode.

Two real worker processes count calls into the same ``PROMETHEUS_MULTIPROC_DIR``, as
``uvicorn --workers 2`` would; ``/metrics`` (``metrics_app()``, served here over HTTP)
answers with their sum. A worker that exits leaves the active-streams gauge; its
counts stay in the totals.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from bwserial.testing.server import serve
from prometheus_client.parser import text_string_to_metric_families

import bwserial_prometheus

WORKER = """
import asyncio, sys
from dataclasses import dataclass

import bwserial_prometheus
from bwserial import BandwidthFrameSerializer
from bwserial.testing.messages import media, start, stop


@dataclass
class Setup:
    audio_in_sample_rate: int = 8000
    audio_out_sample_rate: int = 8000


async def main(calls: int, keep: int) -> None:
    held = []
    for i in range(calls):
        call = BandwidthFrameSerializer(
            f"s-{i}",
            params=BandwidthFrameSerializer.InputParams(auto_hang_up=False),
            plugins=[bwserial_prometheus],
        )
        await call.setup(Setup())
        await call.deserialize(start(stream_id=f"s-{i}"))
        for seq in range(1, 6):
            await call.deserialize(media(seq=seq))
        if i < calls - keep:
            await call.deserialize(stop(stream_id=f"s-{i}"))
        else:
            held.append(call)  # still on the line
    print("counted", flush=True)
    sys.stdin.readline()  # exit when told, normally (atexit marks the worker dead)


asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
"""


def worker(directory: Path, calls: int, keep: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BWSERIAL_")}
    env |= {"PROMETHEUS_MULTIPROC_DIR": str(directory), "BWSERIAL_PLUGINS": ""}
    process = subprocess.Popen(
        [sys.executable, "-c", WORKER, str(calls), str(keep)],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "counted"
    return process


def stop_worker(process: subprocess.Popen[str]) -> int:
    assert process.stdin is not None
    process.stdin.write("\n")
    process.stdin.flush()
    return process.wait(30)


def samples(text: str) -> dict[str, float]:
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if not sample.labels
    }


async def test_two_workers_add_up_in_one_scrape(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "metrics"
    directory.mkdir()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
    first = worker(directory, calls=3, keep=1)  # 3 calls, one still up
    second = worker(directory, calls=2, keep=1)  # 2 calls, one still up
    try:
        async with (
            serve(bwserial_prometheus.metrics_app()) as server,
            aiohttp.ClientSession() as session,
        ):

            async def scrape() -> dict[str, float]:
                async with session.get(server.base_url + "/") as response:
                    assert response.status == 200
                    return samples(await response.text())

            both = await scrape()
            assert both["bwserial_streams_started_total"] == 5
            assert both["bwserial_active_streams"] == 2
            assert both["bwserial_frames_in_total"] == 5 * 3  # 3 stopped calls x 5 frames

            assert stop_worker(first) == 0
            after = await scrape()
            assert after["bwserial_active_streams"] == 1  # the exited worker's call left
            assert after["bwserial_streams_started_total"] == 5  # its counts stay
    finally:
        for process in (first, second):
            if process.poll() is None:
                stop_worker(process)


def test_single_process_mode_serves_the_default_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    from prometheus_client import REGISTRY

    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    assert bwserial_prometheus.multiprocess_dir() is None
    assert bwserial_prometheus.collector_registry() is REGISTRY
    bwserial_prometheus.mark_process_dead()  # a no-op, never an error
