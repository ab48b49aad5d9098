"""The process-wide token cache: refresh timing and single-flight under cancellation."""

from __future__ import annotations

import asyncio

import pytest

from bwserial.voiceapi import _oauth as oauth
from bwserial.voiceapi._oauth import Token


@pytest.fixture(autouse=True)
def _clean() -> None:
    oauth.clear_cache()


def test_tokens_are_refreshed_a_minute_before_expiry() -> None:
    token = Token.issued("t", 3600, now=1000.0)
    assert token.fresh(1000 + 3539)
    assert not token.fresh(1000 + 3540)


def test_short_lived_tokens_are_refreshed_half_way() -> None:
    token = Token.issued("t", 30, now=0.0)
    assert token.fresh(14.9) and not token.fresh(15.0)


def test_repr_hides_the_token() -> None:
    assert "sekrit" not in repr(Token.issued("sekrit", 3600, now=0.0))


async def test_waiters_fetch_again_when_the_owner_is_cancelled() -> None:
    key = ("https://example.test/token", "cid", "digest")
    calls = 0
    gate = asyncio.Event()

    async def fetch() -> Token:
        nonlocal calls
        calls += 1
        if calls == 1:
            await gate.wait()  # the first fetch never finishes: its owner gets cancelled
        return Token.issued(f"token-{calls}", 3600, now=asyncio.get_running_loop().time())

    owner = asyncio.create_task(oauth.single_flight(key, fetch))
    await asyncio.sleep(0)
    waiter = asyncio.create_task(oauth.single_flight(key, fetch))
    await asyncio.sleep(0)
    owner.cancel()
    assert (await waiter).value == "token-2"
    assert calls == 2
    with pytest.raises(asyncio.CancelledError):
        await owner


async def test_concurrent_callers_share_one_fetch_and_its_failure() -> None:
    key = ("https://example.test/token", "cid", "digest")
    calls = 0

    async def failing() -> Token:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        raise oauth.TokenError(503, "busy", retryable=True)

    results = await asyncio.gather(*(oauth.single_flight(key, failing) for _ in range(5)), return_exceptions=True)
    assert calls == 1
    assert all(isinstance(r, oauth.TokenError) for r in results)
