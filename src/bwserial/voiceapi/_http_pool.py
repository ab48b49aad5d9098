"""One pooled aiohttp session per event loop, closed when that loop shuts down.

Each call creating its own ``ClientSession`` (as the reference does) pays a TCP
and TLS handshake on every hang-up. Sessions are bound to a loop, so the pool is
keyed by loop; it is closed by :func:`close_sessions` (an app's shutdown hook)
or, failing that, when ``asyncio.run`` finalises async generators at the end of
the loop, so nothing leaks an "Unclosed client session" warning.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncGenerator

import aiohttp

_sessions: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aiohttp.ClientSession] = (
    weakref.WeakKeyDictionary()
)
_keepers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncGenerator[None, None]] = (
    weakref.WeakKeyDictionary()
)

CONNECTION_LIMIT = 100
"""Concurrent connections per loop; hang-ups are short, so this bounds bursts only."""


async def _closer(session: aiohttp.ClientSession) -> AsyncGenerator[None, None]:
    """Parked at its yield; loop shutdown (``shutdown_asyncgens``) runs its finally."""
    try:
        yield
    finally:
        await session.close()


async def get_session() -> aiohttp.ClientSession:
    """The running loop's shared session (created on first use)."""
    loop = asyncio.get_running_loop()
    session = _sessions.get(loop)
    if session is None or session.closed:
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=CONNECTION_LIMIT, ttl_dns_cache=300),
            raise_for_status=False,
        )
        _sessions[loop] = session
        keeper = _closer(session)
        await keeper.asend(None)
        _keepers[loop] = keeper
    return session


async def close_sessions() -> None:
    """Close the running loop's session; call from your app's shutdown (lifespan) hook."""
    loop = asyncio.get_running_loop()
    session = _sessions.pop(loop, None)
    keeper = _keepers.pop(loop, None)
    if session is not None:
        await session.close()
    if keeper is not None:
        await keeper.aclose()
