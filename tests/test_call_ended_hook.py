"""``bwserial_call_ended``: exactly once per call, with the final facts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pipecat.frames.frames import CancelFrame, EndFrame, OutputAudioRawFrame

from bwserial import (
    BandwidthFrameSerializer,
    CallEnded,
    EndTrigger,
    HangupOutcome,
    StopReason,
    hookimpl,
)
from bwserial.testing.fake_voice_api import FakeVoiceAPI
from bwserial.testing.messages import media, start, stop
from bwserial.voiceapi import aclose
from bwtest_helpers import tone

Params = BandwidthFrameSerializer.InputParams


class Ended:
    bwserial_plugin_name = "ended"

    def __init__(self) -> None:
        self.events: list[CallEnded] = []

    @hookimpl
    def bwserial_call_ended(self, context: Any, event: CallEnded) -> None:
        self.events.append(event)


@pytest.fixture
async def api() -> AsyncIterator[FakeVoiceAPI]:
    await aclose()
    async with FakeVoiceAPI(client_id="cid", client_secret="s3cret") as fake:
        yield fake
    await aclose()


def make(
    observer: Ended, api: FakeVoiceAPI | None = None, **params: Any
) -> BandwidthFrameSerializer:
    if api is not None:
        params.update(oauth_token_url=api.token_url, voice_api_base_url=api.voice_api_base_url)
    else:
        params["auto_hang_up"] = False
    return BandwidthFrameSerializer(
        "stream-1",
        call_id="c-1",
        account_id="9900000",
        client_id="cid",
        client_secret="s3cret",
        params=Params(**params),
        plugins=[observer],
    )


async def test_without_auto_hang_up_the_first_end_reports_once_with_no_hang_up() -> None:
    observer = Ended()
    serializer = make(observer)
    await serializer.serialize(OutputAudioRawFrame(tone(300, 0.04, 16000), 16000, 1))
    await serializer.serialize(EndFrame())
    await serializer.serialize(CancelFrame())
    serializer.notify_socket_closed()
    [event] = observer.events
    assert event.trigger is EndTrigger.END_FRAME
    assert event.hangup is None and event.frames_out == 1


async def test_with_auto_hang_up_it_reports_the_hang_up_and_how_the_stream_stopped(
    api: FakeVoiceAPI,
) -> None:
    observer = Ended()
    serializer = make(observer, api)
    await serializer.deserialize(start(stream_id="stream-1", call_id="c-1"))
    await serializer.deserialize(media(seq=1))
    await serializer.deserialize(media(seq=3))
    await serializer.deserialize(stop())
    assert observer.events == []  # a stop alone does not hang up: the pipeline still ends
    await serializer.serialize(EndFrame())
    [event] = observer.events
    assert event.trigger is EndTrigger.END_FRAME
    assert event.stop_reason is StopReason.STOP_MESSAGE
    assert event.hangup is not None and event.hangup.outcome is HangupOutcome.COMPLETED
    assert (event.frames_in, event.gaps) == (2, 1)


async def test_a_failed_then_retried_hang_up_still_reports_once(api: FakeVoiceAPI) -> None:
    api.script_call(*[503] * 1000)
    observer = Ended()
    serializer = make(observer, api, hangup_timeout_secs=0.6)
    serializer.notify_socket_closed()
    await serializer.hang_up()  # joins the background attempt
    api.clear_scripts()
    result = await serializer.hang_up()
    assert result is not None and result.outcome is HangupOutcome.COMPLETED
    [event] = observer.events
    assert event.trigger is EndTrigger.SOCKET_CLOSED
    assert event.stop_reason is StopReason.SOCKET_CLOSED
    assert event.hangup is not None and event.hangup.outcome is HangupOutcome.FAILED
