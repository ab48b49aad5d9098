"""Transfer to a person: TransferFrame -> <Transfer> BXML, against the fake Voice API over HTTP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pipecat.frames.frames import CancelFrame, EndFrame, OutputAudioRawFrame

from bwserial import (
    BandwidthFrameSerializer,
    CallEnded,
    EndingKind,
    EndTrigger,
    HangupConfig,
    HangupOutcome,
    HangupResult,
    TransferFallback,
    TransferFrame,
    TransferRequest,
    TransferStrategy,
    hookimpl,
)
from bwserial.testing.fake_voice_api import HANG, FakeVoiceAPI, Response
from bwserial.voiceapi import VoiceApiTransfer
from bwserial.voiceapi import _oauth as oauth
from bwserial.voiceapi._http_pool import close_sessions
from bwtest_helpers import tone

Params = BandwidthFrameSerializer.InputParams
SECRET = "very-s3cret-value"
AGENT = "+15557654321"


@pytest.fixture
async def api() -> AsyncIterator[FakeVoiceAPI]:
    oauth.clear_cache()
    async with FakeVoiceAPI(client_id="cid", client_secret=SECRET) as fake:
        yield fake
    await close_sessions()
    oauth.clear_cache()


class Events:
    """Records the ending hooks of one serializer."""

    bwserial_plugin_name = "transfer-events"

    def __init__(self) -> None:
        self.results: list[HangupResult] = []
        self.ended: list[CallEnded] = []

    @hookimpl
    def bwserial_hangup_finished(self, context: Any, result: HangupResult) -> None:
        self.results.append(result)

    @hookimpl
    def bwserial_call_ended(self, context: Any, event: CallEnded) -> None:
        self.ended.append(event)


def make(
    api: FakeVoiceAPI, call_id: str = "c-1", **params: Any
) -> tuple[BandwidthFrameSerializer, Events]:
    params.setdefault("hangup_timeout_secs", 3.0)
    events = Events()
    extra = params.pop("plugins", [])
    serializer = BandwidthFrameSerializer(
        "stream-1",
        call_id=call_id,
        account_id="9900000",
        client_id="cid",
        client_secret=SECRET,
        params=Params(
            oauth_token_url=api.token_url,
            voice_api_base_url=api.voice_api_base_url,
            **params,
        ),
        plugins=[events, *extra],
    )
    return serializer, events


async def play(serializer: BandwidthFrameSerializer, secs: float) -> None:
    speech = tone(300, secs, 24000)
    for i in range(0, len(speech), 1920):
        await serializer.serialize(OutputAudioRawFrame(speech[i : i + 1920], 24000, 1))


async def test_transfer_replaces_the_bxml_after_the_goodbye(api: FakeVoiceAPI) -> None:
    serializer, events = make(api)
    await play(serializer, 0.8)
    started = time.monotonic()
    frame = TransferFrame.to(AGENT, "sip:desk@pbx.example.com", caller_id="+15550001111")
    assert await serializer.serialize(frame) is None
    [update] = api.bxml_updates
    assert update.received_at - started >= 0.7  # the goodbye is not cut off
    assert update.call_id == "c-1" and update.account_id == "9900000"
    assert update.transfer is not None
    assert update.transfer.targets == (AGENT, "sip:desk@pbx.example.com")
    assert update.transfer.caller_id == "+15550001111"
    assert api.hangups == []  # the call goes on, with the person
    assert api.stream_ended("c-1").is_set()
    [result] = events.results
    assert (result.kind, result.outcome) == (EndingKind.TRANSFER, HangupOutcome.TRANSFERRED)
    assert result.targets == (AGENT, "sip:desk@pbx.example.com")
    assert (result.status, result.attempts, result.strategy) == (204, 1, "voice-api")
    [ended] = events.ended
    assert ended.trigger is EndTrigger.TRANSFER_FRAME and ended.hangup == result
    assert serializer.hangup_state == "ended"
    # Nothing later hangs the transferred call up.
    await serializer.serialize(EndFrame())
    serializer.notify_socket_closed()
    await asyncio.sleep(0.05)
    assert await serializer.hang_up() is None
    assert api.call_requests == [] and len(api.bxml_requests) == 1


async def test_bxml_is_sent_as_xml_with_call_timeout_and_a_bearer_token(
    api: FakeVoiceAPI,
) -> None:
    serializer, _ = make(api)
    await serializer.serialize(TransferFrame.to(AGENT, timeout_secs=25))
    [request] = api.bxml_requests
    assert request.method == "PUT"
    assert request.path == "/api/v2/accounts/9900000/calls/c-1/bxml"
    assert request.headers["Content-Type"] == "application/xml"
    assert request.headers["Authorization"] == "Bearer <redacted>"
    assert request.token_serial == 1
    [update] = api.transfers
    assert update.transfer is not None
    assert update.transfer.call_timeout == "25"
    assert update.transfer.caller_id is None  # Bandwidth's default: the caller's number
    assert update.verbs == ("Transfer",)  # no stream name known: no <StopStream>


async def test_stop_stream_names_the_stream_from_start(api: FakeVoiceAPI) -> None:
    serializer, _ = make(api)
    start = (
        '{"eventType":"start","metadata":{"accountId":"9900000","callId":"c-1",'
        '"streamId":"stream-1","streamName":"bot-stream","tracks":[{"name":"inbound",'
        '"mediaFormat":{"encoding":"audio/PCMU","sampleRate":8000}}]}}'
    )
    await serializer.deserialize(start)
    await serializer.serialize(TransferFrame.to(AGENT))
    [update] = api.bxml_updates
    assert update.verbs == ("StopStream", "Transfer")
    assert update.stop_streams == ("bot-stream",)


@pytest.mark.parametrize(
    "refusal", [Response(503, retry_after=0.1), Response(429, retry_after=0.1)]
)
async def test_transfer_retries_a_busy_api(api: FakeVoiceAPI, refusal: Response) -> None:
    api.script_bxml(refusal)
    serializer, events = make(api)
    await serializer.serialize(TransferFrame.to(AGENT))
    assert [r.status for r in api.bxml_requests] == [refusal.status, 204]
    gap = api.bxml_requests[1].received_at - api.bxml_requests[0].received_at
    assert gap >= 0.09  # Retry-After honoured
    assert events.results[-1].outcome is HangupOutcome.TRANSFERRED
    assert events.results[-1].attempts == 2
    assert api.call_requests == []


async def test_transfer_refreshes_a_revoked_token_once(api: FakeVoiceAPI) -> None:
    serializer, events = make(api)
    await serializer.setup(None)
    for _ in range(200):
        if api.tokens_issued:
            break
        await asyncio.sleep(0.01)
    api.expire_tokens()
    await serializer.serialize(TransferFrame.to(AGENT))
    assert [(r.status, r.token_serial) for r in api.bxml_requests] == [(401, 1), (204, 2)]
    assert events.results[-1].outcome is HangupOutcome.TRANSFERRED


async def test_failed_transfer_falls_back_to_one_hang_up(api: FakeVoiceAPI) -> None:
    api.script_bxml(400)  # e.g. Bandwidth refusing the document
    serializer, events = make(api)
    await serializer.serialize(TransferFrame.to(AGENT))
    assert [r.status for r in api.bxml_requests] == [400]
    assert len(api.call_requests) == 1 and len(api.hangups) == 1
    transfer, hangup = events.results
    assert (transfer.kind, transfer.outcome, transfer.status) == (
        EndingKind.TRANSFER,
        HangupOutcome.FAILED,
        400,
    )
    assert (hangup.kind, hangup.outcome) == (EndingKind.HANG_UP, HangupOutcome.COMPLETED)
    assert "after a failed transfer" in hangup.reason
    [ended] = events.ended
    assert ended.hangup == hangup
    await serializer.serialize(EndFrame())
    assert len(api.call_requests) == 1


async def test_failed_transfer_with_leave_sends_no_hang_up(api: FakeVoiceAPI) -> None:
    api.script_bxml(400)
    serializer, events = make(api, transfer_fallback="leave")
    await serializer.serialize(TransferFrame.to(AGENT))
    assert api.call_requests == []
    [result] = events.results
    assert (result.kind, result.outcome) == (EndingKind.TRANSFER, HangupOutcome.FAILED)
    assert "left as it is" in result.reason
    assert serializer.hangup_state == "left"
    await serializer.serialize(CancelFrame())
    serializer.notify_socket_closed()
    await asyncio.sleep(0.05)
    assert api.call_requests == [] and len(events.ended) == 1


async def test_the_request_fallback_overrides_the_configured_one(api: FakeVoiceAPI) -> None:
    api.script_bxml(400)
    serializer, _ = make(api, transfer_fallback="leave")
    await serializer.serialize(TransferFrame.to(AGENT, fallback=TransferFallback.HANG_UP))
    assert len(api.hangups) == 1


async def test_a_transfer_past_its_deadline_still_gets_its_fallback(api: FakeVoiceAPI) -> None:
    api.script_bxml(HANG)
    serializer, events = make(api, hangup_timeout_secs=0.6, hangup_min_request_secs=0.3)
    started = time.monotonic()
    await serializer.serialize(TransferFrame.to(AGENT))
    assert time.monotonic() - started < 3.0
    assert events.results[0].outcome is HangupOutcome.FAILED
    assert len(api.hangups) == 1  # the caller is not left with a dead bot


async def test_cancel_during_the_play_out_wait_transfers_at_once(api: FakeVoiceAPI) -> None:
    serializer, events = make(api)
    await play(serializer, 2.0)
    started = time.monotonic()
    transfer = asyncio.create_task(serializer.serialize(TransferFrame.to(AGENT)))
    await asyncio.sleep(0.2)
    assert serializer.hangup_state == "waiting-for-playout"
    await serializer.serialize(CancelFrame())
    await transfer
    [update] = api.transfers
    assert update.received_at - started < 1.0  # not after the 2 s goodbye
    assert api.call_requests == []  # the cancel joined the transfer: one ending
    assert [r.kind for r in events.results] == [EndingKind.TRANSFER]


async def test_concurrent_triggers_make_one_ending(api: FakeVoiceAPI) -> None:
    api.call_latency = 0.1
    serializer, events = make(api)
    await play(serializer, 0.3)
    await asyncio.gather(
        serializer.serialize(TransferFrame.to(AGENT)),
        serializer.serialize(EndFrame()),
        serializer.serialize(CancelFrame()),
        serializer.hang_up(),
    )
    serializer.notify_socket_closed()
    await asyncio.sleep(0.2)
    assert len(api.bxml_requests) == 1 and api.call_requests == []
    assert len(events.results) == 1 and len(events.ended) == 1


async def test_a_transfer_after_a_hang_up_began_joins_the_hang_up(api: FakeVoiceAPI) -> None:
    api.call_latency = 0.1
    serializer, events = make(api)
    await asyncio.gather(
        serializer.serialize(CancelFrame()), serializer.serialize(TransferFrame.to(AGENT))
    )
    assert api.bxml_requests == [] and len(api.hangups) == 1
    assert [r.kind for r in events.results] == [EndingKind.HANG_UP]


async def test_a_call_the_caller_already_left_is_not_transferred(api: FakeVoiceAPI) -> None:
    api.end_call("c-1")
    serializer, events = make(api)
    await serializer.serialize(TransferFrame.to(AGENT))
    [result] = events.results
    assert (result.kind, result.outcome) == (EndingKind.TRANSFER, HangupOutcome.ALREADY_ENDED)
    assert api.call_requests == []


class Raising:
    bwserial_plugin_name = "raising-transfer"

    class Strategy:
        def __init__(self, config: HangupConfig) -> None:
            self.config = config

        async def prepare(self) -> None:
            return None

        async def transfer(
            self, request: TransferRequest, deadline: float, stream_name: str | None
        ) -> HangupResult:
            raise RuntimeError("switchboard on fire")

        async def close(self) -> None:
            return None

    @hookimpl
    def bwserial_transfer_strategies(self) -> list[TransferStrategy]:
        return [TransferStrategy("raising", self.Strategy)]


async def test_a_strategy_that_raises_is_reported_and_falls_back(api: FakeVoiceAPI) -> None:
    serializer, events = make(api, transfer="raising", plugins=[Raising()])
    assert await serializer.serialize(TransferFrame.to(AGENT)) is None
    transfer, hangup = events.results
    assert transfer.outcome is HangupOutcome.FAILED and transfer.kind is EndingKind.TRANSFER
    assert "RuntimeError" in transfer.reason and "switchboard on fire" in transfer.reason
    assert "raising-transfer" in transfer.reason
    assert hangup.outcome is HangupOutcome.COMPLETED and len(api.hangups) == 1


class Subclassed(VoiceApiTransfer):
    """Extends the built-in: a display name on every transfer."""

    name = "named"

    def build_bxml(self, request: TransferRequest, stream_name: str | None) -> str:
        return (
            super()
            .build_bxml(request, stream_name)
            .replace("<Transfer ", '<Transfer transferCallerDisplayName="Front desk" ', 1)
        )


class SubclassPlugin:
    bwserial_plugin_name = "named-transfer"

    @hookimpl
    def bwserial_transfer_strategies(self) -> list[TransferStrategy]:
        return [TransferStrategy("named", Subclassed)]


async def test_a_subclass_of_the_built_in_changes_one_step(api: FakeVoiceAPI) -> None:
    serializer, events = make(api, transfer="named", plugins=[SubclassPlugin()])
    await serializer.serialize(TransferFrame.to(AGENT, timeout_secs=10))
    [update] = api.transfers
    assert update.transfer is not None
    assert update.transfer.attributes["transferCallerDisplayName"] == "Front desk"
    assert events.results[0].strategy == "named"


def test_an_unknown_transfer_strategy_is_refused_at_construction(api: FakeVoiceAPI) -> None:
    with pytest.raises(ValueError, match=r"unknown transfer strategy 'nope'.*voice-api"):
        make(api, transfer="nope")


def test_disabling_the_built_in_leaves_transfers_to_the_fallback_by_default(
    api: FakeVoiceAPI,
) -> None:
    serializer, _ = make(api, disable_plugins=["transfer"])
    assert serializer.hangup_state == "idle"


async def test_without_a_strategy_a_transfer_falls_back(api: FakeVoiceAPI) -> None:
    serializer, events = make(api, disable_plugins=["transfer"])
    await serializer.serialize(TransferFrame.to(AGENT))
    transfer, hangup = events.results
    assert "no transfer strategy" in transfer.reason
    assert hangup.outcome is HangupOutcome.COMPLETED
    assert len(api.hangups) == 1 and api.bxml_requests == []


@pytest.mark.parametrize(
    "targets",
    [("5551234567",), ("+0123",), ("sip:",), ("http://x.example",), ("+1555\n",), ()],
)
def test_bad_targets_are_refused_when_the_frame_is_built(targets: tuple[str, ...]) -> None:
    with pytest.raises(ValueError):
        TransferFrame.to(*targets)


async def test_auto_hang_up_off_ignores_a_transfer_with_a_warning(logs: Any) -> None:
    serializer = BandwidthFrameSerializer("s-1", params=Params(auto_hang_up=False))
    assert await serializer.serialize(TransferFrame.to(AGENT)) is None
    assert any("TransferFrame ignored" in m for m in logs.at("WARNING"))
