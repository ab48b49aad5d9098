"""Keypad digits over real HTTP and WebSockets: Bandwidth's ``dtmf`` webhook reaches the
live call's Pipecat pipeline as ``InputDTMFFrame``s, in order and fast; everything else
is answered clearly and changes nothing."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import statistics
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from fastapi import FastAPI, Request, Response, WebSocket
from pipecat.frames.frames import Frame, InputDTMFFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams
from runner_helpers import ACCOUNT_ID, WEBHOOK, runner_for

from bwserial.demo._compat import PipelineParams, PipelineTask, run_pipeline
from bwserial.runner import MAX_WEBHOOK_BYTES, BandwidthRunner
from bwserial.testing.fake_voice_api import FakeVoiceAPI
from bwserial.testing.server import serve
from bwserial.testing.simulator import CallScript, Silence, SimulatorConfig, simulate_call
from bwserial.testing.webhook import call_webhook

DTMF_PATH = "/bandwidth/dtmf"


class DigitRecorder(FrameProcessor):
    """Stands where a bot's logic would: writes down each key press and when it came."""

    def __init__(self, seen: list[tuple[str, float]]) -> None:
        super().__init__(name="DigitRecorder")
        self.seen = seen

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InputDTMFFrame):
            self.seen.append((frame.button.value, time.monotonic()))
        await self.push_frame(frame, direction)


@dataclass
class Bot:
    base_url: str
    runner: BandwidthRunner
    digits: list[tuple[str, float]] = field(default_factory=list)
    calls_over: int = 0

    @property
    def dtmf_url(self) -> str:
        return self.base_url + DTMF_PATH


def _app(bot: Bot) -> FastAPI:
    runner = bot.runner
    app = FastAPI(lifespan=runner.lifespan)

    @app.post("/call")
    async def call(request: Request) -> Response:
        return await runner.answer_call(request)

    @app.post(DTMF_PATH)
    async def dtmf(request: Request) -> Response:
        return await runner.dtmf_event(request)

    @app.websocket("/ws/{token}")
    async def ws(websocket: WebSocket) -> None:
        stream = await runner.accept_stream(
            websocket, transport_params=FastAPIWebsocketParams(audio_in_enabled=True)
        )
        if stream is None:
            return
        async with stream:
            transport = stream.transport
            task = PipelineTask(
                Pipeline([transport.input(), DigitRecorder(bot.digits), transport.output()]),
                params=PipelineParams(audio_in_sample_rate=8000, audio_out_sample_rate=8000),
                enable_rtvi=False,
            )
            stream.end_on_disconnect(task)
            await run_pipeline(task)
        bot.calls_over += 1

    return app


@pytest.fixture
async def bot(voice_api: FakeVoiceAPI) -> AsyncIterator[Bot]:
    runner = runner_for(voice_api, dtmf_path=DTMF_PATH, start_timeout_secs=5.0)
    served = Bot("", runner)
    async with serve(_app(served)) as server:
        served.base_url = server.base_url
        yield served


def _auth(username: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


WEBHOOK_HEADERS = _auth(WEBHOOK.username, WEBHOOK.password.get_secret_value())


def _dtmf_body(call_id: str, digit: Any) -> dict[str, Any]:
    return {
        "eventType": "dtmf",
        "eventTime": "2026-12-02T02:00:00.000Z",
        "accountId": ACCOUNT_ID,
        "applicationId": "04e88489-df02-4e34-a0ee-27a91849555f",
        "from": "+19195551234",
        "to": "+19195554321",
        "direction": "inbound",
        "callId": call_id,
        "digit": digit,
    }


async def _post(
    session: aiohttp.ClientSession, url: str, *, headers: dict[str, str] | None = None, **kw: Any
) -> tuple[int, str]:
    async with session.post(
        url, headers=WEBHOOK_HEADERS if headers is None else headers, **kw
    ) as r:
        return r.status, await r.text()


@contextlib.asynccontextmanager
async def _live_call(bot: Bot, call_id: str, secs: float = 30.0) -> AsyncIterator[asyncio.Event]:
    """A call up through the webhook's BXML; yields the event that ends it (a hang-up)."""
    stream = await call_webhook(
        bot.base_url + "/call",
        call_id=call_id,
        account_id=ACCOUNT_ID,
        username=WEBHOOK.username,
        password=WEBHOOK.password.get_secret_value(),
    )
    end = asyncio.Event()
    caller = asyncio.create_task(
        simulate_call(
            SimulatorConfig(
                url=stream.destination,
                call_id=call_id,
                account_id=ACCOUNT_ID,
                username=stream.username,
                password=stream.password,
                linger_secs=0,
                max_call_secs=secs,
            ),
            CallScript.of(Silence(secs)),
            hangup=end,
        )
    )
    try:
        async with asyncio.timeout(10):  # the stream is accepted and the pipeline started
            while len(bot.runner.call_registry) == 0:  # type: ignore[arg-type]
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)
        yield end
    finally:
        end.set()
        await asyncio.wait_for(caller, 15)


async def test_answer_bxml_gathers_digits_with_the_webhook_credentials(bot: Bot) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            bot.base_url + "/call",
            json={**_dtmf_body("c-gather", "1"), "eventType": "initiate"},
            headers=WEBHOOK_HEADERS,
        ) as response,
    ):
        bxml = await response.text()
    verbs = list(ET.fromstring(bxml))
    assert [verb.tag for verb in verbs] == ["StartStream", "StartGather", "Pause"]
    gather = verbs[1]
    assert gather.get("dtmfUrl") == bot.dtmf_url
    assert gather.get("username") == WEBHOOK.username
    assert gather.get("password") == WEBHOOK.password.get_secret_value()


async def test_without_dtmf_path_the_answer_gathers_nothing(voice_api: FakeVoiceAPI) -> None:
    runner = runner_for(voice_api)
    bxml = runner.answer_bxml("http://127.0.0.1:1", "c-1", ACCOUNT_ID)
    assert "StartGather" not in bxml


async def test_digits_reach_the_pipeline_in_order_within_50_ms(
    bot: Bot, voice_api: FakeVoiceAPI
) -> None:
    call_id = "c-dtmf-order"
    pressed = list("0123456789*#" * 2)
    latencies: list[float] = []
    async with _live_call(bot, call_id), aiohttp.ClientSession() as session:
        for digit in pressed:
            seen = len(bot.digits)
            sent = time.monotonic()
            status, _ = await _post(session, bot.dtmf_url, json=_dtmf_body(call_id, digit))
            assert status == 204
            async with asyncio.timeout(5):
                while len(bot.digits) == seen:
                    await asyncio.sleep(0.001)
            latencies.append(bot.digits[-1][1] - sent)
    assert [digit for digit, _ in bot.digits] == pressed
    # From the webhook's POST to the frame in the pipeline, on one process.
    assert statistics.median(latencies) < 0.050, latencies
    assert max(latencies) < 0.250, latencies


async def test_a_burst_of_digits_arrives_in_order_exactly_once(bot: Bot) -> None:
    call_id = "c-dtmf-burst"
    pressed = list("9876543210#*")
    async with _live_call(bot, call_id), aiohttp.ClientSession() as session:
        for digit in pressed:  # back to back, as fast as the webhook answers
            status, _ = await _post(session, bot.dtmf_url, json=_dtmf_body(call_id, digit))
            assert status == 204
        async with asyncio.timeout(5):
            while len(bot.digits) < len(pressed):
                await asyncio.sleep(0.005)
        await asyncio.sleep(0.2)  # nothing more comes
    assert [digit for digit, _ in bot.digits] == pressed


async def test_a_digit_for_an_unknown_or_ended_call_is_answered_404(
    bot: Bot, voice_api: FakeVoiceAPI
) -> None:
    async with aiohttp.ClientSession() as session:
        status, text = await _post(session, bot.dtmf_url, json=_dtmf_body("c-nobody", "1"))
        assert (status, "unknown or ended call" in text) == (404, True)
        call_id = "c-dtmf-ended"
        async with _live_call(bot, call_id):
            pass
        async with asyncio.timeout(10):
            while bot.calls_over < 1:
                await asyncio.sleep(0.01)
        status, text = await _post(session, bot.dtmf_url, json=_dtmf_body(call_id, "5"))
        assert status == 404
    assert bot.digits == []
    assert len(bot.runner.call_registry) == 0  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("no credentials", 401),
        ("wrong password", 401),
        ("not json", 400),
        ("json array", 400),
        ("oversized", 413),
        ("unknown digit", 400),
        ("two digits", 400),
        ("digit as number", 400),
        ("missing digit", 400),
        ("bad call id", 400),
        ("dot-dot call id", 400),
        ("not a dtmf event", 400),
    ],
)
async def test_bad_requests_are_refused_and_nothing_happens(
    bot: Bot, voice_api: FakeVoiceAPI, case: str, expected: int
) -> None:
    call_id = f"c-dtmf-bad-{abs(hash(case))}"
    body: Any = _dtmf_body(call_id, "1")
    headers = WEBHOOK_HEADERS
    data: bytes | None = None
    if case == "no credentials":
        headers = {}
    elif case == "wrong password":
        headers = _auth(WEBHOOK.username, "not-the-password")
    elif case == "not json":
        data = b"digit=1"
    elif case == "json array":
        body = [body]
    elif case == "oversized":
        data = b'{"pad": "' + b"x" * (MAX_WEBHOOK_BYTES + 1) + b'"}'
    elif case == "unknown digit":
        body["digit"] = "A"
    elif case == "two digits":
        body["digit"] = "12"
    elif case == "digit as number":
        body["digit"] = 1
    elif case == "missing digit":
        del body["digit"]
    elif case == "bad call id":
        body["callId"] = "c-1/../../calls/other"
    elif case == "dot-dot call id":
        body["callId"] = ".."
    elif case == "not a dtmf event":
        body["eventType"] = "answer"
    async with _live_call(bot, call_id), aiohttp.ClientSession() as session:
        requests_before = len(voice_api.call_requests)
        if data is not None:
            status, text = await _post(session, bot.dtmf_url, headers=headers, data=data)
        else:
            status, text = await _post(session, bot.dtmf_url, headers=headers, json=body)
        await asyncio.sleep(0.3)
        assert status == expected, text
        if expected == 401:
            assert "WWW-Authenticate" not in text  # the header, not the body, asks
        else:
            assert "error" in text
        assert bot.digits == []
        assert len(voice_api.call_requests) == requests_before  # the call is untouched
        assert bot.calls_over == 0
        # The call still takes a good digit afterwards.
        status, _ = await _post(session, bot.dtmf_url, json=_dtmf_body(call_id, "7"))
        assert status == 204
        async with asyncio.timeout(5):
            while not bot.digits:
                await asyncio.sleep(0.005)
    assert [digit for digit, _ in bot.digits] == ["7"]


def test_dtmf_path_must_be_a_route(voice_api: FakeVoiceAPI) -> None:
    with pytest.raises(ValueError, match="dtmf_path"):
        runner_for(voice_api, dtmf_path="bandwidth/dtmf")
    with pytest.raises(TypeError, match="CallRegistry"):
        runner_for(voice_api, call_registry=object())


async def test_a_registry_given_to_the_runner_carries_the_calls_and_digits(
    voice_api: FakeVoiceAPI,
) -> None:
    """What a cross-process package plugs in: registrations and deliveries go through it."""
    from bwserial.calls import CallSignal, Delivery, InProcessCallRegistry, Registration

    class Counting(InProcessCallRegistry):
        def __init__(self) -> None:
            super().__init__()
            self.registered: list[str] = []
            self.delivered: list[CallSignal] = []
            self.closed = False

        async def register(
            self, call_id: str, handler: Any, *, ttl_secs: float = 30.0
        ) -> Registration:
            self.registered.append(call_id)
            return await super().register(call_id, handler, ttl_secs=ttl_secs)

        async def deliver(self, signal: CallSignal) -> Delivery:
            self.delivered.append(signal)
            return await super().deliver(signal)

        async def aclose(self) -> None:
            self.closed = True
            await super().aclose()

    registry = Counting()
    runner = runner_for(
        voice_api,
        dtmf_path=DTMF_PATH,
        start_timeout_secs=5.0,
        call_registry=registry,
        registration_ttl_secs=0.3,
    )
    bot = Bot("", runner)
    async with serve(_app(bot)) as server:
        bot.base_url = server.base_url
        async with _live_call(bot, "c-plugged"), aiohttp.ClientSession() as session:
            await asyncio.sleep(0.6)  # past the TTL: the holder renews while the call is up
            status, _ = await _post(session, bot.dtmf_url, json=_dtmf_body("c-plugged", "3"))
            assert status == 204
            async with asyncio.timeout(5):
                while not bot.digits:
                    await asyncio.sleep(0.005)
    assert registry.registered == ["c-plugged"]
    assert [(s.call_id, s.kind, dict(s.data)) for s in registry.delivered] == [
        ("c-plugged", "dtmf", {"digit": "3"})
    ]
    assert [digit for digit, _ in bot.digits] == ["3"]
    assert registry.closed  # the runner's shutdown closed it
