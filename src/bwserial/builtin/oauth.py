"""OAuth 2.0 client-credentials tokens, cached per process and fetched single-flight.

Bandwidth's own SDKs cache the token and refresh it 60 s before expiry; doing
the same turns a hang-up into one request instead of two, and 20 calls ending
together make one token request, not 20.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

import aiohttp
from pydantic import SecretStr

REFRESH_MARGIN_SECS: Final = 60.0
"""Refresh this long before the token expires (what Bandwidth's SDKs do)."""
DEFAULT_EXPIRES_IN: Final = 3600.0


class TokenError(Exception):
    """The token endpoint did not issue a token. Never carries the secret."""

    def __init__(self, status: int | None, reason: str, retryable: bool) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.retryable = retryable


@dataclass(frozen=True, slots=True)
class Token:
    value: str
    refresh_at: float
    """``time.monotonic()`` from which a new token is fetched instead (60 s before
    expiry, or half-way for tokens that live under two minutes)."""

    @classmethod
    def issued(cls, value: str, expires_in: float, now: float) -> Token:
        lead = min(REFRESH_MARGIN_SECS, expires_in / 2)
        return cls(value, now + expires_in - lead)

    def fresh(self, now: float) -> bool:
        return now < self.refresh_at

    def __repr__(self) -> str:
        return f"Token(refresh_at={self.refresh_at:.0f})"


CacheKey = tuple[str, str, str]

TokenFetch = Callable[[], Awaitable["Token"]]

_tokens: dict[CacheKey, Token] = {}
_inflight: dict[tuple[int, CacheKey], asyncio.Future[Token]] = {}


def cache_key(token_url: str, client_id: str, secret: SecretStr) -> CacheKey:
    """One token per (token URL, client id); a rotated secret gets its own entry.

    Only a short digest of the secret is kept, so the key itself is safe to hold.
    """
    digest = hashlib.sha256(secret.get_secret_value().encode()).hexdigest()[:16]
    return (token_url, client_id, digest)


def cached(key: CacheKey) -> Token | None:
    token = _tokens.get(key)
    return token if token is not None and token.fresh(time.monotonic()) else None


def invalidate(key: CacheKey, value: str | None = None) -> None:
    """Drop a token the API refused, only if it is still the cached one: another call
    may already have replaced it with a fresh token that must be kept."""
    current = _tokens.get(key)
    if current is not None and (value is None or current.value == value):
        del _tokens[key]


def clear_cache() -> None:
    """Forget every cached token (tests, credential rotation)."""
    _tokens.clear()


async def request_token(
    session: aiohttp.ClientSession,
    token_url: str,
    client_id: str,
    secret: SecretStr,
    client_timeout: aiohttp.ClientTimeout,
) -> Token:
    """One POST to the token endpoint; raises :class:`TokenError` or aiohttp errors."""
    credentials = f"{client_id}:{secret.get_secret_value()}".encode()
    headers = {"Authorization": "Basic " + base64.b64encode(credentials).decode("ascii")}
    async with session.post(
        token_url,
        headers=headers,
        data={"grant_type": "client_credentials"},
        timeout=client_timeout,
    ) as response:
        status = response.status
        if status != 200:
            retryable = status == 429 or status >= 500
            raise TokenError(status, f"token endpoint answered {status}", retryable)
        try:
            body = await response.json(content_type=None)
        except ValueError:
            raise TokenError(status, "token endpoint answered non-JSON", True) from None
    value = body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(value, str) or not value:
        raise TokenError(status, "token response without access_token", True)
    expires_in = body.get("expires_in", DEFAULT_EXPIRES_IN)
    if not isinstance(expires_in, int | float) or expires_in <= 0:
        expires_in = DEFAULT_EXPIRES_IN
    return Token.issued(value, float(expires_in), time.monotonic())


async def single_flight(key: CacheKey, fetch: TokenFetch) -> Token:
    """Return the cached token, or fetch one with at most one request in flight per key.

    Concurrent callers on the same loop await the same request; its failure is
    raised to all of them (each then decides whether to retry). If the caller that
    owns the request is cancelled, the others start a new one instead of failing.
    """
    loop = asyncio.get_running_loop()
    slot = (id(loop), key)
    while True:
        token = cached(key)
        if token is not None:
            return token
        pending = _inflight.get(slot)
        if pending is None or pending.done():
            return await _fetch_as_owner(slot, key, fetch, loop)
        try:
            return await asyncio.shield(pending)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if pending.cancelled() and (task is None or not task.cancelling()):
                continue  # the owner went away, not us: try again
            raise


async def _fetch_as_owner(
    slot: tuple[int, CacheKey],
    key: CacheKey,
    fetch: TokenFetch,
    loop: asyncio.AbstractEventLoop,
) -> Token:
    pending: asyncio.Future[Token] = loop.create_future()
    _inflight[slot] = pending
    try:
        token = await fetch()
    except BaseException as e:
        if isinstance(e, asyncio.CancelledError):
            pending.cancel()
        else:
            pending.set_exception(e)
            pending.exception()  # mark retrieved: there may be no waiters
        raise
    finally:
        if _inflight.get(slot) is pending:
            del _inflight[slot]
    _tokens[key] = token
    pending.set_result(token)
    return token
