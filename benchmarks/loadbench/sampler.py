"""CPU and memory of the run's processes and of the whole machine, through psutil.

The orchestrator samples every 250 ms: the bot's CPU and resident memory, the callers'
CPU, and how busy the machine's CPUs were in all (so other load on a shared machine is
visible in the report, not silently folded into the figures).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import psutil

__all__ = ["Sample", "Sampler", "machine_busy_secs", "wait_until_quiet", "window_rate"]


def machine_busy_secs() -> float:
    """CPU seconds all CPUs of the machine spent busy (every process, kernel included)."""
    t = psutil.cpu_times()
    idle = t.idle + getattr(t, "iowait", 0.0)
    total = (
        t.user
        + t.nice
        + t.system
        + t.idle
        + sum(getattr(t, name, 0.0) for name in ("iowait", "irq", "softirq", "steal"))
    )  # guest time is already inside user on Linux
    return total - idle


def _cpu_secs(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return times.user + times.system


@dataclass
class Sample:
    t: float
    bot_cpu: float
    bot_rss: int
    callers_cpu: float
    ours_cpu: float
    """bot + callers + this process."""
    machine_busy: float


class Sampler:
    """Samples the bot and the callers by pid; an exited caller keeps its last value."""

    def __init__(self, bot_pid: int, caller_pids: Sequence[int]) -> None:
        self._bot = psutil.Process(bot_pid)
        self._callers = [psutil.Process(pid) for pid in caller_pids]
        self._last_callers = [0.0] * len(self._callers)
        self._me = psutil.Process(os.getpid())
        self.samples: list[Sample] = []

    def bot_rss(self) -> int:
        return int(self._bot.memory_info().rss)

    def sample(self) -> Sample:
        for i, proc in enumerate(self._callers):
            with contextlib.suppress(psutil.Error):
                self._last_callers[i] = _cpu_secs(proc)
        bot_cpu = _cpu_secs(self._bot)
        callers = sum(self._last_callers)
        sample = Sample(
            time.monotonic(),
            bot_cpu,
            self.bot_rss(),
            callers,
            bot_cpu + callers + _cpu_secs(self._me),
            machine_busy_secs(),
        )
        self.samples.append(sample)
        return sample


def window_rate(
    samples: Sequence[Sample], start: float, end: float, value: Callable[[Sample], float]
) -> float | None:
    """d(value)/dt over the samples inside [start, end]; None if under 2 s of them."""
    inside = [s for s in samples if start <= s.t <= end]
    if len(inside) < 2 or inside[-1].t - inside[0].t < 2.0:
        return None
    return (value(inside[-1]) - value(inside[0])) / (inside[-1].t - inside[0].t)


async def wait_until_quiet(max_wait: float, threshold: float = 0.3) -> float:
    """Wait (at most ``max_wait`` s) for a second in which other processes use less than
    ``threshold`` cores; return the load seen last, in cores."""
    me = psutil.Process(os.getpid())
    deadline = time.monotonic() + max_wait
    while True:
        busy0, ours0, t0 = machine_busy_secs(), _cpu_secs(me), time.monotonic()
        await asyncio.sleep(1.0)
        elapsed = time.monotonic() - t0
        load = (machine_busy_secs() - busy0 - (_cpu_secs(me) - ours0)) / elapsed
        if load < threshold or time.monotonic() >= deadline:
            return max(0.0, load)
