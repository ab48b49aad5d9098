"""The hang-up under faults of the Voice API: every call still ends on time and is reported.

Each test points real serializers at the fake Bandwidth API (real HTTP on 127.0.0.1),
breaks the API in one way, sends the EndFrame/CancelFrame a pipeline sends when the bot
is done, and checks what a user depends on:

* ``serialize`` returns within ``hangup_timeout_secs`` (plus a small margin for the event
  loop), so a broken API cannot hold the pipeline;
* ``bwserial_hangup_finished`` gets exactly one typed result per call, whose outcome,
  status and attempt count say what happened.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from pipecat.frames.frames import CancelFrame, EndFrame, Frame

from bwserial import BandwidthFrameSerializer, HangupOutcome, HangupResult
from bwserial.testing.fake_voice_api import HANG, FakeVoiceAPI, Response
from bwserial.voiceapi import _oauth as oauth
from bwserial.voiceapi._http_pool import close_sessions
from bwtest_helpers import Recorder, Setup

Params = BandwidthFrameSerializer.InputParams
DEADLINE = 0.8
"""``hangup_timeout_secs`` of these tests: the whole hang-up, retries included."""
MARGIN = 0.3
"""Event-loop slack on top of the deadline (a loaded CI runner)."""
MANY = 1000
"""Scripted answers enough for "for ever" within one deadline."""


@pytest.fixture
async def api() -> AsyncIterator[FakeVoiceAPI]:
    oauth.clear_cache()
    async with FakeVoiceAPI(client_id="cid", client_secret="s3cret") as fake:
        yield fake
    await close_sessions()
    oauth.clear_cache()


@dataclass
class Call:
    serializer: BandwidthFrameSerializer
    recorder: Recorder

    def results(self) -> list[HangupResult]:
        return [kwargs["result"] for kwargs in self.recorder.of("hangup_finished")]


def make(api: FakeVoiceAPI, call_id: str = "c-1", **params: Any) -> Call:
    params.setdefault("hangup_timeout_secs", DEADLINE)
    recorder = Recorder()
    serializer = BandwidthFrameSerializer(
        "stream-1",
        call_id=call_id,
        account_id="9900000",
        client_id="cid",
        client_secret=params.pop("secret", "s3cret"),
        params=Params(
            oauth_token_url=api.token_url,
            voice_api_base_url=api.voice_api_base_url,
            **params,
        ),
        plugins=[recorder],
    )
    return Call(serializer, recorder)


async def end(call: Call, frame: Frame | None = None) -> tuple[HangupResult, float]:
    """End the pipeline; return the one reported result and how long ``serialize`` took."""
    started = time.monotonic()
    assert await call.serializer.serialize(frame or EndFrame()) is None
    elapsed = time.monotonic() - started
    [result] = call.results()
    return result, elapsed


def assert_typed_failure(
    result: HangupResult, elapsed: float, status: int | None, deadline: float = DEADLINE
) -> None:
    """A failure reported with the last status the API really answered (None: no answer)."""
    assert isinstance(result, HangupResult)
    assert result.outcome is HangupOutcome.FAILED
    assert result.status == status, result
    assert isinstance(result.attempts, int) and result.attempts >= 0
    assert 0 < result.seconds <= elapsed + 0.01
    assert result.strategy == "voice-api"
    assert result.reason
    assert elapsed <= deadline + MARGIN, f"hang-up took {elapsed:.2f} s, deadline {deadline} s"


Fault = Callable[[FakeVoiceAPI], Awaitable[None]]


async def token_hangs(api: FakeVoiceAPI) -> None:
    api.script_token(*[HANG] * MANY)


async def call_hangs(api: FakeVoiceAPI) -> None:
    api.script_call(*[HANG] * MANY)


async def token_slow_then_call_hangs(api: FakeVoiceAPI) -> None:
    api.token_latency = 0.4
    api.script_call(*[HANG] * MANY)


async def call_503_for_ever(api: FakeVoiceAPI) -> None:
    api.script_call(*[503] * MANY)


async def call_503_with_retry_after(api: FakeVoiceAPI) -> None:
    api.script_call(*[Response(503, retry_after=0.25)] * MANY)


async def call_429_retry_after_seconds(api: FakeVoiceAPI) -> None:
    api.script_call(*[Response(429, retry_after=0.3)] * MANY)


async def call_429_retry_after_http_date(api: FakeVoiceAPI) -> None:
    api.script_call(*[Response(429, retry_after=1, retry_after_http_date=True)] * MANY)


async def connections_refused(api: FakeVoiceAPI) -> None:
    await api.refuse_connections()


async def token_500_for_ever(api: FakeVoiceAPI) -> None:
    api.script_token(*[500] * MANY)


async def token_503_for_ever(api: FakeVoiceAPI) -> None:
    api.script_token(*[503] * MANY)


async def call_slower_than_the_deadline(api: FakeVoiceAPI) -> None:
    api.call_latency = 10.0


FAULTS: dict[str, tuple[Fault, int | None, Callable[[int], bool]]] = {
    # name: (fault, last status reported, attempts (call updates) that make sense)
    "token hangs": (token_hangs, None, lambda n: n == 0),
    "call hangs": (call_hangs, None, lambda n: n >= 1),
    "slow token, then the call hangs": (token_slow_then_call_hangs, None, lambda n: n >= 1),
    "call 503 for ever": (call_503_for_ever, 503, lambda n: n >= 2),
    "call 503 with Retry-After": (call_503_with_retry_after, 503, lambda n: 2 <= n <= 5),
    "call 429, Retry-After in seconds": (call_429_retry_after_seconds, 429, lambda n: 2 <= n <= 4),
    "call 429, Retry-After as HTTP-date": (call_429_retry_after_http_date, 429, lambda n: n >= 1),
    "connections refused": (connections_refused, None, lambda n: n == 0),
    "token 500 for ever": (token_500_for_ever, 500, lambda n: n == 0),
    "token 503 for ever": (token_503_for_ever, 503, lambda n: n == 0),
    "call slower than the deadline": (call_slower_than_the_deadline, None, lambda n: n >= 1),
}


CANCEL_FAULTS = ("token hangs", "call hangs", "call 503 for ever", "connections refused")
"""Also ended by a CancelFrame (no play-out wait; the path is otherwise the same)."""


@pytest.mark.parametrize(
    ("fault", "frame"),
    [(fault, EndFrame) for fault in FAULTS] + [(fault, CancelFrame) for fault in CANCEL_FAULTS],
)
async def test_a_broken_api_cannot_hold_the_call_past_the_deadline(
    api: FakeVoiceAPI, fault: str, frame: type[Frame]
) -> None:
    break_api, status, attempts_ok = FAULTS[fault]
    await break_api(api)
    call = make(api)
    result, elapsed = await end(call, frame())
    assert_typed_failure(result, elapsed, status)
    assert result.status == status, result
    assert attempts_ok(result.attempts), result
    assert not call.serializer.hung_up
    assert api.hangups == []


async def test_refused_connections_after_the_token_warm_up_are_retried_until_the_deadline(
    api: FakeVoiceAPI,
) -> None:
    call = make(api)
    await call.serializer.setup(Setup())  # fetches the token ahead of time
    await api.wait_for_request("token")
    for _ in range(100):
        if oauth._tokens:
            break
        await asyncio.sleep(0.01)
    await api.refuse_connections()
    result, elapsed = await end(call)
    assert_typed_failure(result, elapsed, None)  # refused: no answer was ever seen
    assert result.attempts >= 2  # call updates were tried, and retried
    assert "connect" in result.reason.lower()


async def test_the_call_is_ended_once_the_api_recovers_within_the_deadline(
    api: FakeVoiceAPI,
) -> None:
    await api.refuse_connections()
    call = make(api, hangup_timeout_secs=3.0)

    async def recover() -> None:
        await asyncio.sleep(0.4)
        await api.accept_connections()

    recovery = asyncio.create_task(recover())
    result, elapsed = await end(call)
    await recovery
    assert result.outcome is HangupOutcome.COMPLETED, result
    assert elapsed <= 3.0
    assert [h.call_id for h in api.hangups] == ["c-1"]


@pytest.mark.parametrize("case", ["token endpoint answers 401", "wrong client secret"])
async def test_rejected_credentials_fail_at_once_without_touching_the_call(
    api: FakeVoiceAPI, case: str
) -> None:
    secret = "s3cret"
    if case == "wrong client secret":
        secret = "wrong"
    else:
        api.script_token(401)
    result, elapsed = await end(make(api, secret=secret))
    assert_typed_failure(result, elapsed, 401)
    assert (result.status, result.attempts) == (401, 0)
    assert elapsed < 0.5  # retrying cannot fix bad credentials
    assert api.call_requests == []


async def test_a_call_update_refused_with_401_for_ever_refreshes_the_token_once(
    api: FakeVoiceAPI,
) -> None:
    api.script_call(*[401] * MANY)
    result, elapsed = await end(make(api))
    assert_typed_failure(result, elapsed, 401)
    assert (result.status, result.attempts) == (401, 2)
    assert len(api.token_requests) == 2


@pytest.mark.parametrize("retry_after", ["0", "-5", "Wed, 21 Oct 2015 07:28:00 GMT"])
async def test_a_429_storm_is_not_answered_with_a_request_storm(
    api: FakeVoiceAPI, retry_after: str
) -> None:
    """A rate limiter that says "retry now" (or a date in the past) for ever.

    Retrying in a tight loop sends thousands of requests per second per call to an API
    that is already rate limiting us; the backoff must still apply.
    """
    api.script_call(*[Response(429, retry_after=retry_after)] * 20_000)
    result, elapsed = await end(make(api))
    assert_typed_failure(result, elapsed, 429)
    assert result.status == 429
    sent = len(api.call_requests)
    assert sent <= 10, f"{sent} hang-up requests in {elapsed:.1f} s"


CONCURRENT_FAULTS = [
    "token hangs",
    "call hangs",
    "call 503 for ever",
    "call 429, Retry-After in seconds",
    "connections refused",
]


@pytest.mark.parametrize("fault", CONCURRENT_FAULTS)
async def test_ten_concurrent_calls_under_one_fault_are_all_bounded_and_reported(
    api: FakeVoiceAPI, fault: str
) -> None:
    break_api, status, attempts_ok = FAULTS[fault]
    await break_api(api)
    calls = [make(api, f"c-{i}") for i in range(10)]
    for call in calls[::2]:
        await call.serializer.setup(Setup())  # half of them warm the token up first
    outcomes = await asyncio.gather(
        *(end(call, EndFrame() if i % 2 else CancelFrame()) for i, call in enumerate(calls))
    )
    for result, elapsed in outcomes:
        assert_typed_failure(result, elapsed, status)
        assert result.status == status, result
        assert attempts_ok(result.attempts), result
    assert all(len(call.results()) == 1 for call in calls)
    assert api.hangups == []


async def test_cancelling_one_call_while_it_fetches_the_shared_token_spares_the_others(
    api: FakeVoiceAPI, logs: Any
) -> None:
    """The token request is shared: the hang-up that made it may be cancelled (the event
    loop shutting down under it) while the others wait for that very request."""
    api.script_token(HANG)  # the first token request never answers; the next ones do
    owner = make(api, "c-owner")
    others = [make(api, f"c-{i}") for i in range(3)]
    owner_task = asyncio.create_task(owner.serializer.serialize(EndFrame()))
    await api.wait_for_request("token")
    other_tasks = [asyncio.create_task(end(call)) for call in others]
    await asyncio.sleep(0.1)  # they now wait for the owner's token request
    owner_task.cancel()  # cancelling the frame's caller does not cancel the hang-up...
    with pytest.raises(asyncio.CancelledError):
        await owner_task
    attempt = owner.serializer._runner._task  # type: ignore[attr-defined]
    assert attempt is not None and not attempt.done()
    attempt.cancel()  # ...cancelling the hang-up itself does, and is logged with the call id
    with pytest.raises(asyncio.CancelledError):
        await attempt
    assert any("c-owner" in line and "cancelled" in line for line in logs.at("ERROR"))
    outcomes = await asyncio.gather(*other_tasks)  # none of them may raise CancelledError
    for result, elapsed in outcomes:
        assert result.outcome is HangupOutcome.COMPLETED, result
        assert elapsed <= DEADLINE + MARGIN
    assert sorted(h.call_id for h in api.hangups) == ["c-0", "c-1", "c-2"]


async def test_a_failed_hang_up_can_be_retried_by_a_later_end_frame(api: FakeVoiceAPI) -> None:
    api.script_call(*[503] * MANY)
    call = make(api)
    first, _ = await end(call)
    assert first.outcome is HangupOutcome.FAILED
    api.clear_scripts()
    assert await call.serializer.serialize(CancelFrame()) is None
    second = call.results()[1]
    assert second.outcome is HangupOutcome.COMPLETED
    assert call.serializer.hung_up
    assert [h.call_id for h in api.hangups] == ["c-1"]


# ------------------------------------------------------------------ retry policy, timed
# These run with a deadline longer than the windows and delays they check, so a bug that
# only shows over time (a 409 window restarting on every 409, Retry-After ignored for
# 503, a constant backoff) cannot hide behind the deadline.


async def test_the_409_window_counts_from_the_first_409_not_the_last(api: FakeVoiceAPI) -> None:
    api.script_call(*[409] * MANY)
    call = make(api, hangup_timeout_secs=6.0)
    result, elapsed = await end(call)
    assert result.outcome is HangupOutcome.FAILED and result.status == 409
    assert "409" in result.reason
    # conflict_retry_secs is 3 s: give up after it, well before the 6 s deadline.
    assert 2.8 <= elapsed <= 4.5, f"gave up on 409 after {elapsed:.2f} s"


async def test_retry_after_is_honoured_for_503(api: FakeVoiceAPI) -> None:
    api.script_call(Response(503, retry_after=0.8))
    call = make(api, hangup_timeout_secs=4.0)
    result, _ = await end(call)
    assert result.outcome is HangupOutcome.COMPLETED
    first, second = api.call_requests
    assert second.received_at - first.received_at >= 0.75  # backoff alone is 0.1-0.2 s


async def test_backoff_grows_exponentially(api: FakeVoiceAPI) -> None:
    api.script_call(*[503] * 4)  # no Retry-After: the backoff alone paces the retries
    call = make(api, hangup_timeout_secs=8.0)
    result, _ = await end(call)
    assert result.outcome is HangupOutcome.COMPLETED
    at = [r.received_at for r in api.call_requests]
    gaps = [b - a for a, b in itertools.pairwise(at)]
    assert len(gaps) == 4
    # Equal jitter around 0.2 * 2**(n-1): [0.1, 0.2], [0.2, 0.4], [0.4, 0.8], [0.8, 1.6].
    assert gaps[0] < 0.45
    assert gaps[3] >= 0.75
    assert gaps[3] > 2 * gaps[0]
