"""A served Pipecat bot transfers its caller, and a call it places, end to end.

Real pieces only: uvicorn serving a FastAPI app with the stock
``FastAPIWebsocketTransport``, a Pipecat pipeline, the media-stream simulator over a
WebSocket, and the fake Voice API over HTTP (which POSTs the ``answer`` webhook of a
call the bot places, like Bandwidth).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi import FastAPI, Request, Response, WebSocket
from pipecat.frames.frames import Frame, InputAudioRawFrame, OutputAudioRawFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams

from bwserial import TransferFrame
from bwserial.config import InputParams
from bwserial.runner import BandwidthRunner, BasicAuth
from bwserial.testing.fake_voice_api import FakeVoiceAPI
from bwserial.testing.server import serve
from bwserial.testing.simulator import CallScript, Silence, SimulatorConfig, simulate_call
from bwserial.voiceapi import PlaceCallError, aclose, place_call
from bwserial.voiceapi import _oauth as oauth
from bwtest_helpers import tone

worker_module = pytest.importorskip("pipecat.pipeline.worker")
runner_module = pytest.importorskip("pipecat.workers.runner")

AGENT = "+15557654321"
WEBHOOK_USER, WEBHOOK_PASSWORD = "bandwidth", "webhook-password"
STREAM_USER, STREAM_PASSWORD = "bandwidth-stream", "stream-password"
GOODBYE_SECS = 0.6


class TransferOnFirstWords(FrameProcessor):  # type: ignore[misc]
    """The bot: when the caller first speaks, say goodbye and hand them to a person."""

    def __init__(self) -> None:
        super().__init__()
        self.done = False

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            if not self.done:
                self.done = True
                goodbye = tone(440, GOODBYE_SECS, 16000)
                for i in range(0, len(goodbye), 640):
                    await self.push_frame(OutputAudioRawFrame(goodbye[i : i + 640], 16000, 1))
                await self.push_frame(TransferFrame.to(AGENT, timeout_secs=20))
            return
        await self.push_frame(frame, direction)


def bot_app(api: FakeVoiceAPI) -> FastAPI:
    bandwidth = BandwidthRunner(
        token_secret="e2e-token-secret-of-32-bytes!!!!",
        client_id="cid",
        client_secret="client-secret",
        webhook_auth=BasicAuth(WEBHOOK_USER, WEBHOOK_PASSWORD),
        stream_auth=BasicAuth(STREAM_USER, STREAM_PASSWORD),
        params=InputParams(
            oauth_token_url=api.token_url,
            voice_api_base_url=api.voice_api_base_url,
            hangup_timeout_secs=5,
        ),
    )
    app = FastAPI(lifespan=bandwidth.lifespan)

    @app.post("/call")
    async def answer_call(request: Request) -> Response:
        return await bandwidth.answer_call(request)

    @app.websocket("/ws/{token}")
    async def media_stream(websocket: WebSocket) -> None:
        stream = await bandwidth.accept_stream(
            websocket,
            transport_params=FastAPIWebsocketParams(audio_in_enabled=True, audio_out_enabled=True),
        )
        if stream is None:
            return
        async with stream:
            transport = stream.transport
            worker = worker_module.PipelineWorker(
                Pipeline([transport.input(), TransferOnFirstWords(), transport.output()])
            )
            stream.end_on_disconnect(worker)
            runner = runner_module.WorkerRunner(handle_sigint=False)
            await runner.add_workers(worker)
            await runner.run()

    return app


@pytest.fixture
async def api() -> AsyncIterator[FakeVoiceAPI]:
    oauth.clear_cache()
    async with FakeVoiceAPI(client_id="cid", client_secret="client-secret") as fake:
        yield fake
    await aclose()


async def test_a_call_the_bot_places_is_transferred_after_the_goodbye(api: FakeVoiceAPI) -> None:
    async with serve(bot_app(api)) as server:
        call_id = await place_call(
            account_id="9900000",
            client_id="cid",
            client_secret="client-secret",
            from_number="+15550001111",
            to="+15552223333",
            application_id="app-1",
            answer_url=f"{server.base_url}/call",
            answer_username=WEBHOOK_USER,
            answer_password=WEBHOOK_PASSWORD,
            oauth_token_url=api.token_url,
            voice_api_base_url=api.voice_api_base_url,
        )
        created = await api.wait_for_answer(call_id, timeout=10)
        assert created.answer_status == 200, created.answer_error
        assert created.stream_url is not None and "/ws/" in created.stream_url
        assert created.body["password"] == "<redacted>"
        report = await simulate_call(
            SimulatorConfig(
                url=created.stream_url,
                call_id=call_id,
                username=STREAM_USER,
                password=STREAM_PASSWORD,
                linger_secs=0,
                max_call_secs=20,
            ),
            CallScript.of(Silence(3.0)),
            hangup=api.stream_ended(call_id),  # the line ends when the BXML says so
        )
        update = await api.wait_for_transfer(call_id, timeout=10)
    assert update.transfer is not None
    assert update.transfer.targets == (AGENT,) and update.transfer.call_timeout == "20"
    # The goodbye was heard before the line ended. (The last ~80 ms are not, in this
    # setup, with an EndFrame hang-up just the same: the transfer waits like the hang-up.)
    assert report.bot_audio_received_secs >= GOODBYE_SECS - 0.1
    assert report.ended_by in ("hangup", "bot_closed")  # not the 3 s script: the bot left
    assert api.call_requests == []  # the transferred call is not hung up afterwards


async def test_place_call_retries_then_returns_the_new_call_id(api: FakeVoiceAPI) -> None:
    from bwserial.testing.fake_voice_api import Response as Scripted

    api.script_create(Scripted(503, retry_after=0.05), Scripted(429, retry_after=0.05))
    call_id = await place_call(
        account_id="9900000",
        client_id="cid",
        client_secret="client-secret",
        from_number="+15550001111",
        to="+15552223333",
        application_id="app-1",
        answer_url="http://127.0.0.1:9/answer",  # nobody answers: the call is still created
        tag="campaign-7",
        call_timeout_secs=30,
        oauth_token_url=api.token_url,
        voice_api_base_url=api.voice_api_base_url,
        timeout_secs=5,
    )
    creates = [r for r in api.requests if r.kind == "create"]
    assert [r.status for r in creates] == [503, 429, 201]
    assert creates[-1].body["tag"] == "campaign-7" and creates[-1].body["callTimeout"] == 30
    created = await api.wait_for_answer(call_id)
    assert created.answer_status is None and created.answer_error is not None


async def test_place_call_refreshes_a_revoked_token(api: FakeVoiceAPI) -> None:
    kwargs = place_kwargs(api)
    await place_call(**kwargs)
    api.expire_tokens()
    await place_call(**kwargs)
    creates = [(r.status, r.token_serial) for r in api.requests if r.kind == "create"]
    assert creates == [(201, 1), (401, 1), (201, 2)]


def place_kwargs(api: FakeVoiceAPI, **overrides: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "account_id": "9900000",
        "client_id": "cid",
        "client_secret": "client-secret",
        "from_number": "+15550001111",
        "to": "+15552223333",
        "application_id": "app-1",
        "answer_url": "http://127.0.0.1:9/answer",
        "oauth_token_url": api.token_url,
        "voice_api_base_url": api.voice_api_base_url,
        "timeout_secs": 2,
    }
    kwargs.update(overrides)
    return kwargs


@pytest.mark.parametrize("status", [400, 403])
async def test_place_call_refused_raises_with_the_status(api: FakeVoiceAPI, status: int) -> None:
    api.script_create(status)
    with pytest.raises(PlaceCallError) as caught:
        await place_call(**place_kwargs(api))
    assert caught.value.status == status
    assert "client-secret" not in str(caught.value)


async def test_place_call_gives_up_at_its_deadline(api: FakeVoiceAPI) -> None:
    api.script_create(*[503] * 50)
    with pytest.raises(PlaceCallError, match="deadline"):
        await place_call(**place_kwargs(api, timeout_secs=0.8))


async def test_place_call_with_bad_credentials_fails_clearly(api: FakeVoiceAPI) -> None:
    with pytest.raises(PlaceCallError, match="client_id/client_secret"):
        await place_call(**place_kwargs(api, client_secret="wrong"))
    assert [r for r in api.requests if r.kind == "create"] == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("to", "5552223333"),
        ("from_number", "+1 555 000"),
        ("account_id", "99/../00"),
        ("application_id", "app?x=1"),
        ("answer_url", "http://bot.example.com/call"),  # credentials over plain http
        ("call_timeout_secs", 0),
    ],
)
async def test_place_call_refuses_bad_input_before_any_request(
    api: FakeVoiceAPI, field: str, value: Any
) -> None:
    with pytest.raises(ValueError, match=field.split("_secs")[0].replace("from_number", "from")):
        await place_call(**place_kwargs(api, **{field: value}))
    assert api.requests == []
