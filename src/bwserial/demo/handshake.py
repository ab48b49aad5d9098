"""Kept for ``benchmarks/load.py``: closing a socket whose peer may already have left.

The demo's handshake itself is :meth:`bwserial.runner.BandwidthRunner.accept_stream`.
"""

from __future__ import annotations

import contextlib

from fastapi import WebSocket

__all__ = ["close_quietly"]


async def close_quietly(websocket: WebSocket, code: int, reason: str) -> None:
    """Close with ``code``; a client that already left is not an error."""
    with contextlib.suppress(Exception):
        await websocket.close(code=code, reason=reason)
