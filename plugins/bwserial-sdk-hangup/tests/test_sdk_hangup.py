"""The ``sdk`` strategy against the fake Bandwidth API, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from bwserial import (
    BandwidthFrameSerializer,
    HangupConfig,
    HangupOutcome,
    HangupRequest,
    HangupResult,
    StreamContext,
    hookimpl,
)
from bwserial.testing.fake_voice_api import HANG, FakeVoiceAPI
from bwserial.voiceapi import _oauth as oauth
from bwserial.voiceapi._http_pool import close_sessions
from loguru import logger
from pipecat.frames.frames import EndFrame
from pydantic import SecretStr

from bwserial_sdk_hangup import SdkHangup, api_client, close_clients

SECRET = "sdk-test-s3cret"
FAKE_TOKEN = re.compile(r"fake-[A-Za-z0-9_-]{32}")
"""What every token FakeVoiceAPI issues looks like."""
CANCEL = HangupRequest(reason="cancel", playout_remaining_secs=0.0)


@pytest.fixture
async def api(
    make_fake_voice_api: Callable[..., Awaitable[FakeVoiceAPI]],
) -> AsyncIterator[FakeVoiceAPI]:
    """bwserial's fixture: token cache and pooled sessions are reset around the test."""
    yield await make_fake_voice_api(client_id="cid", client_secret=SECRET)
    close_clients()


def strategy(
    api: FakeVoiceAPI,
    call_id: str = "c-1",
    secret: str = SECRET,
    timeout_secs: float = 3.0,
    playout_wait_secs: float = 3.0,
) -> SdkHangup:
    """What the serializer builds for ``hangup="sdk"``, pointed at the fake API."""
    return SdkHangup(
        HangupConfig(
            call_id=call_id,
            account_id="9900000",
            client_id="cid",
            client_secret=SecretStr(secret),
            oauth_token_url=api.token_url,
            voice_api_base_url=api.voice_api_base_url,
            timeout_secs=timeout_secs,
            playout_wait_secs=playout_wait_secs,
        )
    )


class HangupRecorder:
    bwserial_plugin_name = "hangup-recorder"

    def __init__(self) -> None:
        self.results: list[HangupResult] = []

    @hookimpl
    def bwserial_hangup_finished(self, context: StreamContext, result: HangupResult) -> None:
        self.results.append(result)


async def test_the_serializer_selects_it_by_name_and_ends_the_trusted_call(
    api: FakeVoiceAPI,
) -> None:
    recorder = HangupRecorder()
    serializer = BandwidthFrameSerializer(
        "stream-1",
        call_id="c-1",
        account_id="9900000",
        client_id="cid",
        client_secret=SECRET,
        params=BandwidthFrameSerializer.InputParams(
            hangup="sdk",
            oauth_token_url=api.token_url,
            voice_api_base_url=api.voice_api_base_url,
        ),
        plugins=[recorder],
    )
    assert await serializer.serialize(EndFrame()) is None
    [result] = recorder.results
    assert (result.outcome, result.status, result.attempts) == (HangupOutcome.COMPLETED, 200, 1)
    assert result.strategy == "sdk" and serializer.hung_up
    [hangup] = api.hangups
    assert hangup.path == "/api/v2/accounts/9900000/calls/c-1"
    # The SDK's model also sends its default redirect methods, as for every SDK user.
    assert hangup.body["state"] == "completed" and "redirectUrl" not in hangup.body
    assert hangup.headers["Authorization"].startswith("Bearer ")
    assert hangup.headers["Content-Type"] == "application/json"
    assert [r.path for r in api.token_requests] == ["/api/v1/oauth2/token"]


async def test_404_means_the_call_already_ended(api: FakeVoiceAPI) -> None:
    api.end_call("c-1")
    result = await strategy(api).hang_up(CANCEL)
    assert (result.outcome, result.status, result.attempts) == (
        HangupOutcome.ALREADY_ENDED,
        404,
        1,
    )


@pytest.mark.parametrize("status", [400, 403, 409, 429, 500, 503])
async def test_any_other_answer_fails_with_its_status(api: FakeVoiceAPI, status: int) -> None:
    api.script_call(status)
    result = await strategy(api).hang_up(CANCEL)
    assert (result.outcome, result.status, result.attempts) == (HangupOutcome.FAILED, status, 1)
    assert result.reason == f"Voice API refused the hang-up ({status})"


async def test_a_refused_token_is_replaced_once(api: FakeVoiceAPI) -> None:
    hangup = strategy(api)
    await hangup.prepare()
    api.expire_tokens()
    result = await hangup.hang_up(CANCEL)
    assert (result.outcome, result.attempts) == (HangupOutcome.COMPLETED, 2)
    assert [r.token_serial for r in api.call_requests] == [1, 2]


async def test_the_token_is_fetched_ahead_and_shared_by_later_calls(api: FakeVoiceAPI) -> None:
    first = strategy(api, "c-1")
    await first.prepare()
    assert len(api.requests) == 1
    await first.hang_up(CANCEL)
    await strategy(api, "c-2").hang_up(CANCEL)
    assert len(api.token_requests) == 1
    assert [r.call_id for r in api.hangups] == ["c-1", "c-2"]


async def test_bad_credentials_fail_without_touching_the_call(api: FakeVoiceAPI) -> None:
    result = await strategy(api, secret="wrong").hang_up(CANCEL)
    assert (result.outcome, result.status, result.attempts) == (HangupOutcome.FAILED, 401, 0)
    assert api.call_requests == []


async def test_a_hanging_voice_api_fails_at_the_deadline(api: FakeVoiceAPI) -> None:
    api.script_call(HANG)
    started = time.monotonic()
    result = await strategy(api, timeout_secs=1.0).hang_up(CANCEL)
    assert time.monotonic() - started <= 1.0 + 0.3
    assert (result.outcome, result.status, result.attempts) == (HangupOutcome.FAILED, None, 1)
    assert result.reason in ("deadline exceeded", "Voice API request failed: ReadTimeoutError")


async def test_a_hanging_token_endpoint_fails_at_the_deadline(api: FakeVoiceAPI) -> None:
    api.script_token(HANG)
    started = time.monotonic()
    result = await strategy(api, timeout_secs=1.0).hang_up(CANCEL)
    assert time.monotonic() - started <= 1.0 + 0.3
    assert (result.outcome, result.attempts) == (HangupOutcome.FAILED, 0)


@pytest.fixture
async def one_worker_thread() -> AsyncIterator[None]:
    """The loop's default executor with a single thread, so a stuck one is noticed."""
    executor = ThreadPoolExecutor(max_workers=1)
    asyncio.get_running_loop().set_default_executor(executor)
    yield
    executor.shutdown(wait=False)


@pytest.mark.usefixtures("one_worker_thread")
async def test_a_timed_out_request_does_not_keep_the_worker_thread(api: FakeVoiceAPI) -> None:
    """asyncio cannot stop a thread: the SDK request itself must give up by the deadline."""
    api.script_call(HANG)
    hung = await strategy(api, "c-1", timeout_secs=1.0).hang_up(CANCEL)
    assert hung.outcome is HangupOutcome.FAILED
    # If the hung request still held the only worker, this one could not start in time.
    result = await strategy(api, "c-2", timeout_secs=1.0).hang_up(CANCEL)
    assert result.outcome is HangupOutcome.COMPLETED


async def test_a_refused_connection_fails_with_the_transport_error(api: FakeVoiceAPI) -> None:
    hangup = strategy(api, timeout_secs=1.0)
    await hangup.prepare()  # the token is cached: the SDK request is what fails
    await api.refuse_connections()
    result = await hangup.hang_up(CANCEL)
    assert (result.outcome, result.status, result.attempts) == (HangupOutcome.FAILED, None, 1)
    assert result.reason.startswith("Voice API request failed: ")
    assert "Connection" in result.reason


async def test_end_waits_for_the_audio_still_playing(api: FakeVoiceAPI) -> None:
    started = time.monotonic()
    await strategy(api).hang_up(HangupRequest(reason="end", playout_remaining_secs=0.6))
    assert api.hangups[0].received_at - started >= 0.55


async def test_the_play_out_wait_is_capped_by_the_configuration(api: FakeVoiceAPI) -> None:
    started = time.monotonic()
    await strategy(api, playout_wait_secs=0.1).hang_up(
        HangupRequest(reason="end", playout_remaining_secs=5.0)
    )
    assert 0.1 <= api.hangups[0].received_at - started < 0.5


async def test_cancel_does_not_wait(api: FakeVoiceAPI) -> None:
    started = time.monotonic()
    await strategy(api).hang_up(HangupRequest(reason="cancel", playout_remaining_secs=5.0))
    assert api.hangups[0].received_at - started < 0.4


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> Iterator[list[str]]:
    """Everything logged, through loguru (bwserial) and stdlib logging (SDK, urllib3)."""
    caplog.set_level(logging.DEBUG)
    messages: list[str] = []
    sink = logger.add(lambda m: messages.append(str(m)), level="TRACE")
    yield messages
    logger.remove(sink)
    messages.extend(r.getMessage() for r in caplog.records)


async def test_the_secret_and_tokens_never_leak(api: FakeVoiceAPI, all_logs: list[str]) -> None:
    results: list[Any] = []
    hangup = strategy(api)
    await hangup.prepare()
    api.expire_tokens()
    results.append(await hangup.hang_up(CANCEL))
    api.script_call(403)
    results.append(await strategy(api, "c-2").hang_up(CANCEL))
    results.append(await strategy(api, "c-3", secret=SECRET + "-wrong").hang_up(CANCEL))
    assert api.tokens_issued and all_logs
    visible = [*all_logs, repr(hangup), repr(hangup.config), *map(repr, results)]
    for text in visible:
        assert SECRET not in text
        assert not FAKE_TOKEN.search(text)
    sdk_configuration = api_client(api.voice_api_base_url).configuration
    assert sdk_configuration.client_secret is None and sdk_configuration.access_token is None
