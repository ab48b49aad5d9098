"""Property: whatever the pipeline, the app and the Voice API do, the call ends (issue 11).

Hypothesis drives random sequences of triggers (bot audio frames of any length, odd and
empty included, at any rate; interruptions; EndFrame; CancelFrame; socket close; explicit
``hang_up()``; inbound messages), sequentially or concurrently, against a random Voice
API behaviour (200, 204, Bandwidth's 404, a wrong server's 404, 409, 429 with
Retry-After, 503 with and without Retry-After, 401 then 200, a hang past the deadline,
connections refused, the token endpoint down, latency). All over real HTTP on 127.0.0.1.

Invariants:

* nothing raises out of ``serialize``, ``deserialize`` or ``hang_up()``;
* no trigger waits longer than the deadline (plus the runner's 0.5 s grace and slack);
* a CancelFrame never waits for play-out (with a healthy API it returns at once);
* once the API is healthy again, one more ``hang_up()`` ends the call: a failure is
  always retried, and the call ends with at most one successful (2xx) hang-up request
  (exactly one, unless Bandwidth said the call was already over).

``BWSERIAL_HANGUP_EXAMPLES`` scales the run (default 8, a few seconds).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pipecat.frames.frames import (
    CancelFrame,
    EndFrame,
    InterruptionFrame,
    OutputAudioRawFrame,
)

from bwserial import BandwidthFrameSerializer, HangupOutcome
from bwserial.testing.fake_voice_api import HANG, WRONG_SERVER_404, FakeVoiceAPI, Response
from bwserial.testing.messages import media, start, stop
from bwserial.voiceapi import aclose

EXAMPLES = int(os.environ.get("BWSERIAL_HANGUP_EXAMPLES", "8"))
DEADLINE = 0.8
GRACE = 0.5
SLACK = 0.6
"""Event-loop slack on a loaded 2-core runner; never loosen the invariant itself."""
HEALTHY = ("200", "204", "api-404")

_ids = itertools.count()

BEHAVIOURS = st.sampled_from(
    [
        "200",
        "204",
        "api-404",
        "wrong-404",
        "409",
        "429",
        "503",
        "503-retry-after",
        "401-then-200",
        "hang",
        "refused",
        "token-down",
        "latency",
    ]
)

AUDIO = st.tuples(
    st.just("audio"),
    st.binary(min_size=0, max_size=1500),
    st.sampled_from([8000, 16000, 24000]),  # other rates: tests/fuzz/test_fuzz_serialize.py
)
STEP = st.one_of(
    AUDIO,
    AUDIO,
    st.tuples(
        st.sampled_from(["interrupt", "end", "cancel", "socket", "hang-up", "hang-up-graceful"])
    ),
    st.tuples(st.sampled_from(["start", "media", "stop", "garbage"])),
)
SCENARIO = st.tuples(
    BEHAVIOURS,
    st.integers(1, 3),  # how many answers the fault lasts (where it is scripted)
    st.lists(st.tuples(STEP, st.booleans()), min_size=1, max_size=8),  # (step, concurrent)
    st.sampled_from(["PCMU", "PCM"]),
)


@dataclass
class Timed:
    kind: str
    elapsed: float
    healthy_api: bool


async def break_api(api: FakeVoiceAPI, behaviour: str, times: int, call_id: str) -> None:
    if behaviour == "204":
        api.script_call(Response(204))
    elif behaviour == "api-404":
        api.end_call(call_id)
    elif behaviour == "wrong-404":
        api.script_call(*[WRONG_SERVER_404] * times)
    elif behaviour == "409":
        api.script_call(*[409] * times)
    elif behaviour == "429":
        api.script_call(*[Response(429, retry_after=0.1)] * times)
    elif behaviour == "503":
        api.script_call(*[503] * times)
    elif behaviour == "503-retry-after":
        api.script_call(*[Response(503, retry_after=0.1)] * times)
    elif behaviour == "401-then-200":
        api.script_call(401)
    elif behaviour == "hang":
        api.script_call(HANG)
    elif behaviour == "refused":
        await api.refuse_connections()
    elif behaviour == "token-down":
        api.token_status = 503
    elif behaviour == "latency":
        api.call_latency = 0.05 * times


async def heal(api: FakeVoiceAPI) -> None:
    api.clear_scripts()
    api.token_status = None
    api.call_latency = 0.0
    if not api.listening:
        await api.accept_connections()


async def run_step(
    serializer: BandwidthFrameSerializer, step: tuple[Any, ...], healthy: bool, timed: list[Timed]
) -> None:
    kind = step[0]
    started = time.monotonic()
    if kind == "audio":
        await serializer.serialize(OutputAudioRawFrame(step[1], step[2], 1))
    elif kind == "interrupt":
        await serializer.serialize(InterruptionFrame())
    elif kind == "end":
        await serializer.serialize(EndFrame())
    elif kind == "cancel":
        await serializer.serialize(CancelFrame())
    elif kind == "socket":
        serializer.notify_socket_closed()
    elif kind == "hang-up":
        await serializer.hang_up()
    elif kind == "hang-up-graceful":
        await serializer.hang_up(graceful=True)
    elif kind == "start":
        await serializer.deserialize(start(call_id="spoofed"))
    elif kind == "media":
        await serializer.deserialize(media(seq=None))
    elif kind == "stop":
        await serializer.deserialize(stop())
    else:
        await serializer.deserialize('{"eventType": "media", "payload": 7}')
    timed.append(Timed(kind, time.monotonic() - started, healthy))


async def scenario(behaviour: str, times: int, steps: list[Any], encoding: str) -> None:
    call_id = f"c-{next(_ids)}"
    await aclose()
    async with FakeVoiceAPI(client_id="cid", client_secret="s3cret") as api:
        serializer = BandwidthFrameSerializer(
            "stream-1",
            call_id=call_id,
            account_id="9900000",
            client_id="cid",
            client_secret="s3cret",
            params=BandwidthFrameSerializer.InputParams(
                outbound_encoding=encoding,
                oauth_token_url=api.token_url,
                voice_api_base_url=api.voice_api_base_url,
                hangup_timeout_secs=DEADLINE,
                hangup_playout_wait_secs=2.0,
            ),
        )
        await break_api(api, behaviour, times, call_id)
        healthy = behaviour in HEALTHY
        timed: list[Timed] = []
        pending: list[asyncio.Task[None]] = []
        for step, concurrent in steps:
            if concurrent:
                pending.append(asyncio.create_task(run_step(serializer, step, healthy, timed)))
                await asyncio.sleep(0)
            else:
                await run_step(serializer, step, healthy, timed)
        async with asyncio.timeout(DEADLINE * 8 + 5):
            await asyncio.gather(*pending)  # raises if any step raised

        for t in timed:
            assert t.elapsed <= DEADLINE + GRACE + SLACK, t
            if t.kind == "cancel" and t.healthy_api:
                assert t.elapsed < 0.5, f"a CancelFrame waited {t.elapsed:.2f} s"

        # A socket close starts an attempt nobody awaits: it must end within the deadline.
        background = serializer._runner._task  # type: ignore[union-attr]
        if background is not None and not background.done():
            started = time.monotonic()
            await asyncio.wait({background}, timeout=DEADLINE + GRACE + SLACK)
            assert background.done(), "a background hang-up outlived its deadline"
            assert time.monotonic() - started <= DEADLINE + GRACE + SLACK

        await heal(api)
        state = serializer.hangup_state
        requests_before = len(api.call_requests)
        final = await serializer.hang_up()
        if state == "failed-retryable":  # a failure is always retried by the next trigger
            assert len(api.call_requests) > requests_before
        if state != "ended":
            assert final is not None and final.outcome.ended, final
        assert serializer.hung_up
        successes = [r for r in api.hangups if r.call_id == call_id]
        if behaviour == "api-404":
            assert successes == []
        else:
            assert len(successes) <= 1
            last = final or _last_result(serializer)
            if last is not None and last.outcome is HangupOutcome.COMPLETED:
                assert len(successes) == 1
        # Quiet: nothing left running that could still send a request.
        assert not serializer._runner.in_flight  # type: ignore[union-attr]
    await aclose()


def _last_result(serializer: BandwidthFrameSerializer) -> Any:
    return serializer._runner.result  # type: ignore[union-attr]


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=os.environ.get("BWSERIAL_HANGUP_RANDOM") is None,
)
@given(SCENARIO)
def test_every_call_ends_whatever_the_triggers_and_the_api_do(case: Any) -> None:
    behaviour, times, steps, encoding = case
    asyncio.run(scenario(behaviour, times, steps, encoding))
