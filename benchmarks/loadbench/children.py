"""Child processes of a run: how they are started, talked to, and always stopped.

Every child is this same script in another role (``--role bot`` / ``--role fleet``),
given its job as JSON. Three independent stops make sure none outlives the run: the
parent closes the child's stdin (the polite stop), the parent kills the pid after a
grace period, and the child's own watchdog ends it whatever happened to the parent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

from loguru import logger

__all__ = ["ENTRY", "Child", "exit_on_eof", "quiet_logging", "start_watchdog"]

ENTRY = Path(__file__).resolve().parent.parent / "load.py"
"""The script every child runs (``benchmarks/load.py``)."""


def start_watchdog(seconds: float, what: str) -> None:
    """A child process ends itself after ``seconds``, whatever happens to its parent."""

    def expire() -> None:
        sys.stderr.write(f"load {what}: watchdog expired after {seconds:.0f} s\n")
        sys.stderr.flush()
        os._exit(3)

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.start()


def exit_on_eof(what: str) -> None:
    """Block on stdin; when the parent closes it (or dies), end this process at once."""
    with contextlib.suppress(Exception):
        sys.stdin.buffer.read()
    sys.stderr.write(f"load {what}: stdin closed, exiting\n")
    sys.stderr.flush()
    os._exit(4)


def quiet_logging() -> None:
    """Warnings only: per-call INFO lines at 1,000 calls would be a load of their own."""
    logger.remove()
    logger.add(sys.stderr, level="WARNING")


class Child:
    """A child process (this script in another role), killed by its pid if it outstays."""

    def __init__(self, name: str, proc: asyncio.subprocess.Process, log: Path) -> None:
        self.name, self.proc, self.log = name, proc, log

    @classmethod
    async def start(cls, name: str, role: str, job: dict[str, Any], logdir: Path) -> Child:
        log = logdir / f"{name}.log"
        with log.open("wb") as stderr:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                str(ENTRY),
                "--role",
                role,
                "--job",
                json.dumps(job),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
                limit=64 * 1024 * 1024,  # a fleet's report is one (long) JSON line
            )
        return cls(name, proc, log)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_tail(self, lines: int = 5) -> str:
        with contextlib.suppress(OSError):
            return " | ".join(self.log.read_text(errors="replace").strip().splitlines()[-lines:])
        return ""

    async def read_json_line(self, within_secs: float) -> dict[str, Any]:
        """The child's next JSON object on stdout (other lines are skipped)."""
        assert self.proc.stdout is not None
        async with asyncio.timeout(within_secs):
            while True:
                line = await self.proc.stdout.readline()
                if not line:
                    raise RuntimeError(f"{self.name} exited early: {self.log_tail()}")
                with contextlib.suppress(ValueError):
                    data = json.loads(line)
                    if isinstance(data, dict):
                        return data

    def send(self, data: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(data) + "\n").encode())

    async def stop(self, grace: float) -> None:
        """Close stdin (the polite stop), then kill this pid if it is still running."""
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), grace)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.proc.wait(), 5)
