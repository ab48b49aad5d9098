"""OAuth ``expires_in``: only a finite lifetime within a cap is cached (issue 12, item 10).

And the Basic header (base64 of ``id:secret``) never reaches the logs, even at DEBUG.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pipecat.frames.frames import EndFrame

from bwserial import BandwidthFrameSerializer, HangupOutcome
from bwserial.testing.fake_voice_api import FakeVoiceAPI
from bwserial.voiceapi import MAX_CACHE_SECS, OAuthTokenProvider, aclose
from bwserial.voiceapi._oauth import Token, cache_lifetime

Params = BandwidthFrameSerializer.InputParams


@pytest.fixture
async def api() -> AsyncIterator[FakeVoiceAPI]:
    await aclose()
    async with FakeVoiceAPI(client_id="cid", client_secret="s3cret") as fake:
        yield fake
    await aclose()


def make(api: FakeVoiceAPI, call_id: str) -> BandwidthFrameSerializer:
    return BandwidthFrameSerializer(
        "stream-1",
        call_id=call_id,
        account_id="9900000",
        client_id="cid",
        client_secret="s3cret",
        params=Params(oauth_token_url=api.token_url, voice_api_base_url=api.voice_api_base_url),
    )


@pytest.mark.parametrize(
    ("expires_in", "cached"),
    [
        (3600, 3600.0),
        (float("inf"), MAX_CACHE_SECS),
        (10**30, MAX_CACHE_SECS),
        (float("nan"), 0.0),
        (0, 0.0),
        (-5, 0.0),
        (True, 0.0),
        ("3600", 0.0),
        (None, 0.0),
    ],
)
def test_only_a_finite_lifetime_within_the_cap_is_cached(expires_in: Any, cached: float) -> None:
    assert cache_lifetime(expires_in) == cached
    token = Token.issued("t", cache_lifetime(expires_in), now=0.0)
    assert token.refresh_at <= MAX_CACHE_SECS  # never "forever"


@pytest.mark.parametrize("expires_in", [float("inf"), 1e300, 0, -60])
async def test_an_absurd_expires_in_is_never_cached_for_ever(
    api: FakeVoiceAPI, expires_in: float
) -> None:
    api.token_expires_in = expires_in  # rendered as Infinity / 1e300 / 0 / -60 in the JSON
    api.token_lifetime = 3600.0
    provider = OAuthTokenProvider(api.token_url, "cid", "s3cret")
    token = await provider.get_token()
    assert token.startswith("fake-")
    from bwserial.voiceapi import _oauth

    [cached] = _oauth._tokens.values() or [None]  # type: ignore[list-item]
    if expires_in > 0:
        assert cached is not None
        assert cached.refresh_at - asyncio.get_running_loop().time() <= MAX_CACHE_SECS
    else:
        assert cached is None  # "already expired": used once, not cached
        await provider.get_token()
        assert len(api.token_requests) == 2


async def test_short_lived_tokens_are_refreshed_before_they_expire(api: FakeVoiceAPI) -> None:
    """Fails if ``expires_in`` is ignored: the fake's tokens really die after 2 s."""
    api.token_expires_in = 2
    api.token_lifetime = 2.0
    first = await make(api, "c-1").hang_up()
    await asyncio.sleep(1.3)  # past the refresh point (half-way), before the expiry
    second = await make(api, "c-2").hang_up()
    assert first is not None and first.outcome is HangupOutcome.COMPLETED
    assert second is not None and second.outcome is HangupOutcome.COMPLETED
    assert [h.token_serial for h in api.hangups] == [1, 2]
    assert [r.status for r in api.call_requests] == [200, 200]  # no 401 on a stale token


async def test_the_basic_header_never_reaches_the_logs_at_debug(
    api: FakeVoiceAPI, logs: Any
) -> None:
    basic = base64.b64encode(b"cid:s3cret").decode()
    serializer = make(api, "c-1")
    api.script_token(503)  # a failure path logs more
    await serializer.serialize(EndFrame())
    assert api.token_requests, "the token endpoint was used"
    text = logs.text
    assert basic not in text and basic[:-2] not in text
    assert "s3cret" not in text
    assert any(level == "DEBUG" for level, _ in logs.records)  # DEBUG was captured
