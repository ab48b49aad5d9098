"""Serve an ASGI app with uvicorn inside the running event loop, on a free port.

``bwserial demo`` and the tests run the bot, the fake Voice API and the simulated caller in
one process and one loop, over real sockets on 127.0.0.1. The listening socket is bound
here, before uvicorn starts, so the port (0 = any free one) is known without races and
without parsing uvicorn's log.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import uvicorn

__all__ = ["RunningServer", "serve"]

_STARTUP_TIMEOUT_SECS = 60.0
"""Generous: the lifespan compiles the resampler first (seconds on a cold cache)."""
_SHUTDOWN_TIMEOUT_SECS = 20.0
"""The 2 s grace for open streams, plus the lifespan's hang-ups (bounded by their deadline)."""


@dataclass(frozen=True, slots=True)
class RunningServer:
    """Where a served app listens; the port is the one actually bound (never 0)."""

    host: str
    port: int

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def ws_url(self, path: str = "/ws") -> str:
        """The ``ws://`` URL of a WebSocket route, for the simulator."""
        return f"ws://{self.host}:{self.port}{path}"


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


@contextlib.asynccontextmanager
async def serve(app: Any, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[RunningServer]:
    """Run ``app`` until the block exits, then shut it down (open streams get 2 s to end,
    then the app's lifespan shutdown runs: the runner's hangs up every call still up).

    uvicorn's logging config is left alone (``log_config=None``): the host application
    owns logging, and Pipecat logs through loguru anyway.
    """
    sock = _bind(host, port)
    config = uvicorn.Config(
        app,
        log_config=None,
        log_level="warning",
        access_log=False,
        lifespan="auto",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="bwserial-demo-uvicorn")
    try:
        async with asyncio.timeout(_STARTUP_TIMEOUT_SECS):
            while not server.started:
                if task.done():
                    task.result()  # raises what stopped uvicorn
                    raise RuntimeError("uvicorn exited during startup")
                await asyncio.sleep(0.01)
        yield RunningServer(host, int(sock.getsockname()[1]))
    finally:
        server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(task), _SHUTDOWN_TIMEOUT_SECS)
        except TimeoutError:
            server.force_exit = True
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        finally:
            sock.close()
