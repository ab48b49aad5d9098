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

from bwserial.voiceapi._http_pool import get_session

REFRESH_MARGIN_SECS: Final = 60.0
"""Refresh this long before the token expires (what Bandwidth's SDKs do)."""
DEFAULT_EXPIRES_IN: Final = 3600.0
"""Assumed when the answer has no ``expires_in`` (Bandwidth always sends 3600)."""
MAX_CACHE_SECS: Final = 3600.0
"""The longest a token is cached, whatever ``expires_in`` says: an Infinity, a huge
number or a typo on the server side must not pin a revoked token in every worker."""


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
        """A token answered ``now``; its lifetime is clamped by :func:`cache_lifetime`."""
        lifetime = cache_lifetime(expires_in)
        lead = min(REFRESH_MARGIN_SECS, lifetime / 2)
        return cls(value, now + lifetime - lead)

    def fresh(self, now: float) -> bool:
        return now < self.refresh_at

    def __repr__(self) -> str:
        return f"Token(refresh_at={self.refresh_at:.0f})"


def cache_lifetime(expires_in: object) -> float:
    """Seconds a token may be cached: finite, at most :data:`MAX_CACHE_SECS`.

    Zero, negative, NaN or a value that is not a number means "do not cache" (the
    token is used for the request at hand and a new one fetched next time): a
    server that says its token is already expired must not be trusted for an hour.
    """
    if isinstance(expires_in, bool) or not isinstance(expires_in, int | float):
        return 0.0
    if expires_in != expires_in or expires_in <= 0:  # NaN, zero, negative
        return 0.0
    return float(min(float(expires_in), MAX_CACHE_SECS))


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
    if isinstance(expires_in, str):  # some servers send "3600"
        try:
            expires_in = float(expires_in)
        except ValueError:
            expires_in = 0.0
    return Token.issued(value, cache_lifetime(expires_in), time.monotonic())


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
    if token.fresh(time.monotonic()):
        _tokens[key] = token  # a token that must not be cached is still used once
    pending.set_result(token)
    return token


class OAuthTokenProvider:
    """Bearer tokens for one set of Bandwidth OAuth credentials, cached per process.

    Every provider for the same token URL, client id and secret shares one cache
    entry and one in-flight request per event loop, so 20 calls ending together
    make one token request, and a token is reused until 60 s before it expires
    (never longer than :data:`MAX_CACHE_SECS`).
    """

    __slots__ = ("_client_id", "_key", "_secret", "_token_url")

    def __init__(self, token_url: str, client_id: str, client_secret: SecretStr | str) -> None:
        secret = client_secret if isinstance(client_secret, SecretStr) else SecretStr(client_secret)
        self._token_url = token_url
        self._client_id = client_id
        self._secret = secret
        self._key: CacheKey | None = None  # hashed on first use: providers are built per call

    def __repr__(self) -> str:
        return f"OAuthTokenProvider(token_url={self._token_url!r}, client_id={self._client_id!r})"

    async def get_token(
        self,
        request_timeout: aiohttp.ClientTimeout | float | None = None,
    ) -> str:
        """A valid bearer token: the cached one, or one fetched now.

        ``request_timeout`` bounds the token request (seconds or an aiohttp timeout;
        default 10 s).

        Raises:
            TokenError: the endpoint answered without a token (``retryable`` says
                whether trying again may help; 401/400 never will).
            aiohttp.ClientError, TimeoutError: the endpoint was not reached.
        """
        if request_timeout is None or isinstance(request_timeout, int | float):
            total = 10.0 if request_timeout is None else float(request_timeout)
            client_timeout = aiohttp.ClientTimeout(total=total)
        else:
            client_timeout = request_timeout

        async def fetch() -> Token:
            return await request_token(
                await get_session(), self._token_url, self._client_id, self._secret, client_timeout
            )

        return (await single_flight(self._cache_entry, fetch)).value

    @property
    def _cache_entry(self) -> CacheKey:
        """This provider's cache entry: token URL, client id and a digest of the secret."""
        if self._key is None:
            self._key = cache_key(self._token_url, self._client_id, self._secret)
        return self._key

    def invalidate(self, token: str) -> None:
        """Forget ``token`` after an API refused it, unless another call already replaced it."""
        invalidate(self._cache_entry, token)
