"""A call always ends: regressions for the paths that left a phone call up (issue 11).

Every test runs real serializers against the fake Bandwidth API over real HTTP on
127.0.0.1 and checks what the caller would notice: whether a hang-up request reached
Bandwidth, and when.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from loguru import logger
from pipecat.frames.frames import CancelFrame, EndFrame, OutputAudioRawFrame

from bwserial import BandwidthFrameSerializer, HangupOutcome, HangupResult, HangupStrategy, hookimpl
from bwserial.testing.fake_voice_api import WRONG_SERVER_404, FakeVoiceAPI, Response
from bwserial.voiceapi import VoiceApiHangup, aclose
from bwtest_helpers import Recorder, Setup, tone

Params = BandwidthFrameSerializer.InputParams


@pytest.fixture
async def api() -> AsyncIterator[FakeVoiceAPI]:
    await aclose()
    async with FakeVoiceAPI(client_id="cid", client_secret="s3cret") as fake:
        yield fake
    await aclose()


def make(
    api: FakeVoiceAPI, call_id: str = "c-1", *plugins: object, **params: Any
) -> tuple[BandwidthFrameSerializer, Recorder]:
    recorder = Recorder()
    params.setdefault("oauth_token_url", api.token_url)
    params.setdefault("voice_api_base_url", api.voice_api_base_url)
    serializer = BandwidthFrameSerializer(
        "stream-1",
        call_id=call_id,
        account_id="9900000",
        client_id="cid",
        client_secret="s3cret",
        params=Params(**params),
        plugins=[recorder, *plugins],
    )
    return serializer, recorder


def results(recorder: Recorder) -> list[HangupResult]:
    return [kwargs["result"] for kwargs in recorder.of("hangup_finished")]


async def speak(serializer: BandwidthFrameSerializer, secs: float, rate: int = 24000) -> None:
    """Send ``secs`` of loud speech at once, in 40 ms frames (as a fast TTS does)."""
    pcm = tone(300, secs, rate)
    step = rate * 40 // 1000 * 2
    for i in range(0, len(pcm), step):
        await serializer.serialize(OutputAudioRawFrame(pcm[i : i + step], rate, 1))


async def wait_for(predicate: Any, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


# ---------------------------------------------------------------- path 1


async def test_a_failed_hang_up_started_by_socket_close_is_retried_by_hang_up(
    api: FakeVoiceAPI,
) -> None:
    api.script_call(*[503] * 1000)
    serializer, recorder = make(api, hangup_timeout_secs=0.8)
    serializer.notify_socket_closed()
    await wait_for(lambda: results(recorder), timeout=3)
    assert results(recorder)[0].outcome is HangupOutcome.FAILED
    api.clear_scripts()
    sent_before = len(api.call_requests)

    result = await serializer.hang_up()

    assert result is not None and result.outcome is HangupOutcome.COMPLETED
    assert len(api.call_requests) == sent_before + 1
    assert [h.call_id for h in api.hangups] == ["c-1"]
    assert serializer.hung_up


# ---------------------------------------------------------------- path 2


async def test_a_long_goodbye_leaves_the_requests_their_share_of_the_deadline(
    api: FakeVoiceAPI,
) -> None:
    serializer, recorder = make(api, hangup_timeout_secs=2.0)
    await serializer.setup(Setup())
    await speak(serializer, 3.0)  # 3 s of goodbye still to play, a 2 s deadline
    started = time.monotonic()
    await serializer.serialize(EndFrame())
    elapsed = time.monotonic() - started

    [result] = results(recorder)
    assert result.outcome is HangupOutcome.COMPLETED, result
    [hangup] = api.hangups
    assert 0.8 <= hangup.received_at - started <= 1.6  # waited 1 s of the goodbye
    assert elapsed <= 2.0 + 0.5


def test_a_request_share_larger_than_the_deadline_is_refused_naming_both_fields() -> None:
    with pytest.raises(ValueError, match="hangup_min_request_secs") as info:
        Params(hangup_timeout_secs=2.0, hangup_min_request_secs=3.0)
    assert "hangup_timeout_secs" in str(info.value)


# ---------------------------------------------------------------- path 4


@pytest.mark.parametrize(
    ("encoding", "wire_rate", "pipeline_rate"),
    [("PCM", 8000, 8000), ("PCMU", 8000, 16000), ("PCM", 24000, 24000)],
)
async def test_an_odd_length_frame_in_the_play_out_window_does_not_lose_the_end_frame(
    api: FakeVoiceAPI, encoding: str, wire_rate: int, pipeline_rate: int
) -> None:
    serializer, recorder = make(
        api,
        outbound_encoding=encoding,
        outbound_pcm_sample_rate=wire_rate,
        hangup_playout_wait_secs=0.3,
    )
    pcm = tone(300, 0.2, pipeline_rate)
    await serializer.serialize(OutputAudioRawFrame(pcm + b"\x01", pipeline_rate, 1))  # odd
    await serializer.serialize(EndFrame())
    [result] = results(recorder)
    assert result.outcome is HangupOutcome.COMPLETED
    assert [h.call_id for h in api.hangups] == ["c-1"]


# ---------------------------------------------------------------- path 5


class _WrongSignature(VoiceApiHangup):
    name = "wrong-signature"

    def invalidate_token(self) -> None:  # type: ignore[override]  # the old docs' bug
        pass


class _BadOutcome(VoiceApiHangup):
    name = "bad-outcome"

    async def hang_up(self, request: Any) -> HangupResult:
        result = await super().hang_up(request)
        return HangupResult("done", status=result.status)  # type: ignore[arg-type]


class _Plugin:
    bwserial_plugin_name = "misbehaving-strategies"

    @hookimpl
    def bwserial_hangup_strategies(self) -> list[HangupStrategy]:
        return [HangupStrategy(c.name, c) for c in (_WrongSignature, _BadOutcome)]


async def test_a_strategy_that_raises_is_reported_with_plugin_name_message_and_traceback(
    api: FakeVoiceAPI, logs: Any
) -> None:
    api.script_call(401)  # makes the built-in call invalidate_token(token)
    serializer, _ = make(api, "c-1", _Plugin(), hangup="wrong-signature")
    tracebacks: list[Any] = []
    sink = logger.add(
        lambda m: tracebacks.append(m.record["exception"]),
        level="DEBUG",
        filter=lambda r: r["level"].name == "DEBUG" and r["exception"] is not None,
    )
    try:
        result = await serializer.hang_up()
    finally:
        logger.remove(sink)
    assert result is not None and result.outcome is HangupOutcome.FAILED
    assert "misbehaving-strategies" in result.reason
    assert "invalidate_token() takes 1 positional argument" in result.reason
    [error] = [line for line in logs.at("ERROR") if "c-1" in line]
    assert "misbehaving-strategies" in error and "invalidate_token()" in error
    assert [type(e.value) for e in tracebacks] == [TypeError]  # the traceback, at DEBUG


async def test_a_result_with_an_invalid_outcome_is_a_failure_not_an_exception(
    api: FakeVoiceAPI,
) -> None:
    serializer, recorder = make(api, "c-1", _Plugin(), hangup="bad-outcome")
    result = await serializer.hang_up()
    assert result is not None and result.outcome is HangupOutcome.FAILED
    assert "outcome" in result.reason
    assert results(recorder) == [result]
    # It is retried by the next trigger, like any failure.
    assert await serializer.serialize(CancelFrame()) is None
    assert len(results(recorder)) == 2


# ---------------------------------------------------------------- path 6


async def test_a_cancel_frame_does_not_wait_behind_a_graceful_end_frame(
    api: FakeVoiceAPI,
) -> None:
    serializer, recorder = make(api, hangup_playout_wait_secs=3.0)
    await serializer.setup(Setup())
    await speak(serializer, 3.0)
    graceful = asyncio.create_task(serializer.serialize(EndFrame()))
    await asyncio.sleep(0.2)  # the EndFrame now waits for the goodbye to play
    assert api.call_requests == []
    started = time.monotonic()
    await serializer.serialize(CancelFrame())
    elapsed = time.monotonic() - started
    await graceful

    assert elapsed < 1.0
    [hangup] = api.hangups
    assert hangup.received_at - started < 1.0
    [result] = results(recorder)  # one attempt, shared by both frames
    assert result.outcome is HangupOutcome.COMPLETED


async def test_socket_close_also_cuts_the_play_out_wait_short(api: FakeVoiceAPI) -> None:
    serializer, _ = make(api, hangup_playout_wait_secs=3.0)
    await speak(serializer, 3.0)
    graceful = asyncio.create_task(serializer.serialize(EndFrame()))
    await asyncio.sleep(0.2)
    started = time.monotonic()
    serializer.notify_socket_closed()
    hangup = await api.wait_for_hangup("c-1", timeout=5)
    await graceful
    assert hangup.received_at - started < 1.0


# ---------------------------------------------------------------- path 7


async def test_bandwidths_404_means_the_call_already_ended(api: FakeVoiceAPI) -> None:
    api.end_call("c-1")  # the caller hung up first: Bandwidth answers its JSON 404
    serializer, _ = make(api)
    result = await serializer.hang_up()
    assert result is not None and result.outcome is HangupOutcome.ALREADY_ENDED
    assert result.status == 404 and serializer.hung_up


async def test_a_404_of_a_wrong_server_is_a_failure_logged_as_misconfiguration(
    api: FakeVoiceAPI, logs: Any
) -> None:
    wrong = api.base_url + "/v1"  # a real 404 from a server that is not the Voice API
    serializer, _ = make(api, voice_api_base_url=wrong, hangup_timeout_secs=1.0)
    result = await serializer.hang_up()
    assert result is not None and result.outcome is HangupOutcome.FAILED
    assert result.status == 404 and not serializer.hung_up
    warnings = [w for w in logs.at("WARNING") if "voice_api_base_url" in w]
    assert warnings and wrong in warnings[0]
    assert "s3cret" not in logs.text


async def test_a_scripted_html_404_is_not_taken_for_an_ended_call(api: FakeVoiceAPI) -> None:
    api.script_call(WRONG_SERVER_404)
    serializer, _ = make(api)
    result = await serializer.hang_up()
    assert result is not None and result.outcome is HangupOutcome.FAILED
    # ...and the next trigger retries (the fake answers normally again).
    second = await serializer.hang_up()
    assert second is not None and second.outcome is HangupOutcome.COMPLETED


async def test_a_404_without_a_body_is_still_taken_as_call_not_found(api: FakeVoiceAPI) -> None:
    """Unconfirmed whether Bandwidth always sends its error body: an empty 404 is accepted."""
    api.script_call(Response(404, text=""))
    serializer, _ = make(api)
    result = await serializer.hang_up()
    assert result is not None and result.outcome is HangupOutcome.ALREADY_ENDED
