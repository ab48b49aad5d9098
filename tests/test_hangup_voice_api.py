"""The built-in voice-api hang-up against the fake Bandwidth API, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pipecat.frames.frames import CancelFrame, EndFrame, OutputAudioRawFrame

from bwserial import BandwidthFrameSerializer, HangupOutcome, HangupResult
from bwserial.testing.fake_voice_api import HANG, FakeVoiceAPI, Response
from bwserial.voiceapi import _oauth as oauth
from bwserial.voiceapi import parse_retry_after
from bwserial.voiceapi._http_pool import close_sessions
from bwtest_helpers import Recorder, Setup, tone

Params = BandwidthFrameSerializer.InputParams
SECRET = "very-s3cret-value"


@pytest.fixture
async def api() -> AsyncIterator[FakeVoiceAPI]:
    oauth.clear_cache()
    async with FakeVoiceAPI(client_id="cid", client_secret=SECRET) as fake:
        yield fake
    await close_sessions()
    oauth.clear_cache()


RECORDERS: weakref.WeakKeyDictionary[BandwidthFrameSerializer, Recorder] = (
    weakref.WeakKeyDictionary()
)


def make(
    api: FakeVoiceAPI, call_id: str = "c-1", secret: str = SECRET, **params: Any
) -> BandwidthFrameSerializer:
    """A serializer pointed at the fake API, with a Recorder observing its hooks."""
    params.setdefault("hangup_timeout_secs", 3.0)
    recorder = Recorder()
    serializer = BandwidthFrameSerializer(
        "stream-1",
        call_id=call_id,
        account_id="9900000",
        client_id="cid",
        client_secret=secret,
        params=Params(
            oauth_token_url=api.token_url,
            voice_api_base_url=api.voice_api_base_url,
            **params,
        ),
        plugins=[recorder],
    )
    RECORDERS[serializer] = recorder
    return serializer


async def end(serializer: BandwidthFrameSerializer, frame: Any = None) -> HangupResult:
    """Send End (or the given frame) and return the result the hang-up hook received."""
    recorder = RECORDERS[serializer]
    seen = len(recorder.of("hangup_finished"))
    assert await serializer.serialize(frame or EndFrame()) is None
    return recorder.of("hangup_finished")[seen]["result"]  # type: ignore[no-any-return]


async def test_end_frame_hangs_up_the_trusted_call(api: FakeVoiceAPI) -> None:
    result = await end(make(api))
    assert result.outcome is HangupOutcome.COMPLETED
    assert (result.status, result.attempts, result.strategy) == (200, 1, "voice-api")
    [hangup] = api.hangups
    assert (hangup.account_id, hangup.call_id) == ("9900000", "c-1")
    assert hangup.body == {"state": "completed"}
    assert hangup.headers["Authorization"].startswith("Bearer")
    assert hangup.headers["Content-Type"].startswith("application/json")


async def test_token_is_fetched_ahead_so_the_hang_up_is_one_request(api: FakeVoiceAPI) -> None:
    serializer = make(api)
    await serializer.setup(Setup())
    for _ in range(100):
        if api.tokens_issued:
            break
        await asyncio.sleep(0.01)
    assert len(api.token_requests) == 1
    before = len(api.requests)
    await end(serializer)
    assert len(api.requests) == before + 1  # only the call update


async def test_the_token_is_shared_by_later_calls(api: FakeVoiceAPI) -> None:
    await end(make(api, "c-1"))
    await end(make(api, "c-2"))
    assert len(api.token_requests) == 1
    assert {r.call_id for r in api.hangups} == {"c-1", "c-2"}


async def test_twenty_concurrent_hang_ups_share_one_token_request(api: FakeVoiceAPI) -> None:
    api.token_latency = 0.05
    serializers = [make(api, f"c-{i}") for i in range(20)]
    results = await asyncio.gather(*(end(s) for s in serializers))
    assert all(r.outcome is HangupOutcome.COMPLETED for r in results)
    assert len(api.token_requests) == 1
    assert len(api.hangups) == 20


async def test_404_means_the_call_already_ended(api: FakeVoiceAPI) -> None:
    api.end_call("c-1")
    serializer = make(api)
    result = await end(serializer)
    assert (result.outcome, result.status) == (HangupOutcome.ALREADY_ENDED, 404)
    assert serializer.hung_up


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_server_errors_are_retried(api: FakeVoiceAPI, status: int) -> None:
    api.script_call(status, status)
    result = await end(make(api))
    assert (result.outcome, result.attempts) == (HangupOutcome.COMPLETED, 3)


async def test_409_is_retried_briefly(api: FakeVoiceAPI) -> None:
    api.script_call(409)
    result = await end(make(api))
    assert (result.outcome, result.attempts) == (HangupOutcome.COMPLETED, 2)


async def test_409_forever_fails_within_the_deadline(api: FakeVoiceAPI) -> None:
    api.script_call(*[409] * 100)
    started = time.monotonic()
    result = await end(make(api, hangup_timeout_secs=1.5))
    assert (result.outcome, result.status) == (HangupOutcome.FAILED, 409)
    assert time.monotonic() - started <= 1.5 + 0.3


async def test_429_honours_retry_after_in_seconds(api: FakeVoiceAPI) -> None:
    api.script_call(Response(429, retry_after=0.6))
    started = time.monotonic()
    result = await end(make(api))
    assert result.outcome is HangupOutcome.COMPLETED
    assert time.monotonic() - started >= 0.6


async def test_429_honours_retry_after_as_an_http_date(api: FakeVoiceAPI) -> None:
    api.script_call(Response(429, retry_after=1, retry_after_http_date=True))
    started = time.monotonic()
    result = await end(make(api))
    assert result.outcome is HangupOutcome.COMPLETED
    assert 0.5 <= time.monotonic() - started <= 2.5


async def test_retry_after_beyond_the_deadline_gives_up_at_once(api: FakeVoiceAPI) -> None:
    api.script_call(Response(429, retry_after=60))
    started = time.monotonic()
    result = await end(make(api, hangup_timeout_secs=2))
    assert (result.outcome, result.status, result.attempts) == (HangupOutcome.FAILED, 429, 1)
    assert time.monotonic() - started < 1


@pytest.mark.parametrize("status", [400, 403, 415])
async def test_client_errors_fail_at_once(api: FakeVoiceAPI, status: int) -> None:
    api.script_call(status)
    serializer = make(api)
    result = await end(serializer)
    assert (result.outcome, result.status, result.attempts) == (HangupOutcome.FAILED, status, 1)
    assert not serializer.hung_up


async def test_a_stale_token_is_refreshed_once_on_401(api: FakeVoiceAPI) -> None:
    await end(make(api, "c-1"))
    api.expire_tokens()
    result = await end(make(api, "c-2"))
    assert (result.outcome, result.attempts) == (HangupOutcome.COMPLETED, 2)
    assert len(api.token_requests) == 2


async def test_bad_credentials_fail_without_touching_the_call(api: FakeVoiceAPI) -> None:
    result = await end(make(api, secret="wrong"))
    assert (result.outcome, result.status) == (HangupOutcome.FAILED, 401)
    assert api.call_requests == []


async def test_a_failing_token_endpoint_is_retried(api: FakeVoiceAPI) -> None:
    api.script_token(500, 503)
    result = await end(make(api))
    assert result.outcome is HangupOutcome.COMPLETED
    assert len(api.token_requests) == 3


async def test_a_hanging_api_cannot_hold_the_pipeline_past_the_deadline(api: FakeVoiceAPI) -> None:
    api.script_call(*[HANG] * 10)
    started = time.monotonic()
    result = await end(make(api, hangup_timeout_secs=1.0))
    elapsed = time.monotonic() - started
    assert result.outcome is HangupOutcome.FAILED
    assert elapsed <= 1.0 + 0.3


async def test_a_hanging_token_endpoint_is_bounded_too(api: FakeVoiceAPI) -> None:
    api.script_token(*[HANG] * 10)
    started = time.monotonic()
    result = await end(make(api, hangup_timeout_secs=1.0), CancelFrame())
    assert result.outcome is HangupOutcome.FAILED
    assert time.monotonic() - started <= 1.3


async def test_connection_refused_fails_within_the_deadline(api: FakeVoiceAPI) -> None:
    await api.refuse_connections()
    started = time.monotonic()
    result = await end(make(api, hangup_timeout_secs=1.0))
    assert result.outcome is HangupOutcome.FAILED
    assert "Connect" in result.reason or "connect" in result.reason
    assert time.monotonic() - started <= 1.3


async def test_end_frame_waits_for_sent_audio_to_play(api: FakeVoiceAPI) -> None:
    serializer = make(api)
    speech = tone(300, 0.8, 24000)
    for i in range(0, len(speech), 1920):
        await serializer.serialize(OutputAudioRawFrame(speech[i : i + 1920], 24000, 1))
    started = time.monotonic()
    await end(serializer)
    [hangup] = api.hangups
    assert hangup.received_at - started >= 0.7  # the goodbye is not cut off


async def test_the_play_out_wait_is_capped(api: FakeVoiceAPI) -> None:
    serializer = make(api, hangup_playout_wait_secs=0.2)
    speech = tone(300, 2.0, 24000)
    for i in range(0, len(speech), 1920):
        await serializer.serialize(OutputAudioRawFrame(speech[i : i + 1920], 24000, 1))
    started = time.monotonic()
    await end(serializer)
    assert api.hangups[0].received_at - started < 0.6


async def test_cancel_frame_hangs_up_at_once(api: FakeVoiceAPI) -> None:
    serializer = make(api)
    speech = tone(300, 2.0, 24000)
    for i in range(0, len(speech), 1920):
        await serializer.serialize(OutputAudioRawFrame(speech[i : i + 1920], 24000, 1))
    started = time.monotonic()
    await end(serializer, CancelFrame())
    assert api.hangups[0].received_at - started < 0.3


async def test_hang_up_happens_at_most_once(api: FakeVoiceAPI) -> None:
    serializer = make(api)
    await end(serializer)
    assert await serializer.serialize(EndFrame()) is None
    assert await serializer.serialize(CancelFrame()) is None
    assert len(api.call_requests) == 1


async def test_outcome_is_logged_once_at_the_right_level(api: FakeVoiceAPI, logs) -> None:  # type: ignore[no-untyped-def]
    await end(make(api, "c-ok"))
    api.script_call(403)
    await end(make(api, "c-denied"))
    assert [m for m in logs.at("INFO") if "hang-up" in m and "c-ok" in m] != []
    assert len([m for m in logs.at("ERROR") if "c-denied" in m]) == 1


async def test_secrets_and_tokens_never_reach_the_logs(api: FakeVoiceAPI, logs) -> None:  # type: ignore[no-untyped-def]
    serializer = make(api)
    await serializer.setup(Setup())
    api.script_call(503, 401, 400)
    await end(serializer)
    api.expire_tokens()
    await end(make(api, "c-2"))
    await end(make(api, "c-3", secret=SECRET + "-wrong"))
    tokens = [t.value for t in oauth._tokens.values()]
    assert tokens
    text = logs.text
    assert SECRET not in text
    assert all(token not in text for token in tokens)
    assert SECRET not in repr(serializer) and SECRET not in repr(serializer._runner._hangup)  # type: ignore[attr-defined]


def test_retry_after_parsing() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480 - 10) == 10
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480 + 10) == 0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


async def test_a_closed_socket_hangs_the_call_up(api: FakeVoiceAPI) -> None:
    """Pipecat stops serializing frames once the socket is gone: the close itself hangs up."""
    serializer = make(api)
    serializer.notify_socket_closed()
    hangup = await api.wait_for_hangup("c-1", timeout=3)
    assert hangup.call_id == "c-1"
    result = await serializer.hang_up()  # the same hang-up's outcome, not a second one
    assert result is not None and result.outcome is HangupOutcome.COMPLETED
    assert len(api.call_requests) == 1
    assert await serializer.serialize(CancelFrame()) is None
    assert len(api.call_requests) == 1


async def test_a_caller_who_hung_up_first_is_already_ended(api: FakeVoiceAPI) -> None:
    api.end_call("c-1")
    serializer = make(api)
    serializer.notify_socket_closed()
    result = await serializer.hang_up()
    assert result is not None and result.outcome is HangupOutcome.ALREADY_ENDED
