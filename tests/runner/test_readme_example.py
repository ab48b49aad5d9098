"""README's usage example, run as a user would: served, called like Bandwidth, hung up."""

from __future__ import annotations

import re
import types
from pathlib import Path

import aiohttp
import pytest

from bwserial.demo.phone import initiate_body, parse_stream_bxml
from bwserial.runner import basic_auth_header
from bwserial.testing.fake_voice_api import FakeVoiceAPI
from bwserial.testing.server import serve
from bwserial.testing.simulator import CallScript, Silence, SimulatorConfig, simulate_call

README = Path(__file__).resolve().parents[2] / "README.md"

# The example uses PipelineWorker/WorkerRunner, pipecat-ai 1.3's names.
pytest.importorskip("pipecat.pipeline.worker")


def usage_example() -> types.ModuleType:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Use it with FastAPIWebsocketTransport", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    module = types.ModuleType("readme_usage")
    exec(compile(code[1], str(README), "exec"), module.__dict__)
    return module


ENV = {
    "STREAM_TOKEN_SECRET": "readme-secret-of-at-least-16-bytes",
    "BW_CLIENT_ID": "cid",
    "BW_CLIENT_SECRET": "client-secret",
    "WEBHOOK_USER": "bandwidth",
    "WEBHOOK_PASSWORD": "webhook-password",
    "STREAM_USER": "bandwidth-stream",
    "STREAM_PASSWORD": "stream-password",
}


async def test_the_readme_bot_is_secure_and_hangs_up(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    app = usage_example().create_app()
    async with FakeVoiceAPI("cid", "client-secret") as api:
        bandwidth = app.state.bandwidth
        bandwidth.params = bandwidth.params.model_copy(
            update={"oauth_token_url": api.token_url, "voice_api_base_url": api.voice_api_base_url}
        )
        async with serve(app) as server, aiohttp.ClientSession() as http:
            url = f"{server.base_url}/call"
            body = initiate_body("c-readme", "9900000")
            async with http.post(url, json=body) as refused:
                assert refused.status == 401  # the webhook checks Basic auth
            auth = {"Authorization": basic_auth_header("bandwidth", "webhook-password")}
            async with http.post(url, json=body, headers=auth) as answer:
                assert answer.status == 200
                stream = parse_stream_bxml(await answer.text())
            assert (stream.username, stream.password) == ("bandwidth-stream", "stream-password")
            assert "/ws/v2." in stream.destination  # the signed token
            assert stream.pause_secs == 86400
            report = await simulate_call(
                SimulatorConfig(
                    url=stream.destination, call_id="c-readme", username=stream.username,
                    password=stream.password, end_with="close", linger_secs=0, max_call_secs=20,
                ),
                CallScript.of(Silence(0.4)),
            )  # fmt: skip
            assert report.close_code is None  # accepted, not refused
            hangup = await api.wait_for_hangup("c-readme", timeout=10)
            assert hangup.account_id == "9900000"
