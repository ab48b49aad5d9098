"""bwserial's pytest plugin, run in-process by ``pytester`` the way a user's suite runs it."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = "bwserial.testing.pytest_plugin"


def run(pytester: pytest.Pytester, source: str, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_user=source)
    return pytester.runpytest_inprocess(
        "-p", PLUGIN, "-p", "no:cacheprovider", "-o", "asyncio_mode=auto",
        "-o", "asyncio_default_fixture_loop_scope=function",
        "-W", "ignore:'audioop' is deprecated:DeprecationWarning", *args,
    )  # fmt: skip


def test_the_entry_point_names_the_plugin_module() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["pytest11"] == {PLUGIN: PLUGIN}


def test_asking_for_the_plugin_again_is_harmless(pytester: pytest.Pytester) -> None:
    """With the entry point installed, ``-p`` or ``pytest_plugins`` name the loaded module."""
    pytester.makeconftest(f"pytest_plugins = [{PLUGIN!r}]")
    result = run(pytester, "def test_x(bandwidth_stream):\n    assert callable(bandwidth_stream)\n")
    result.assert_outcomes(passed=1)


def test_loading_the_plugin_imports_nothing_heavy() -> None:
    """Every pytest run of every project with bwserial installed pays for this import."""
    code = (
        "import sys, importlib; importlib.import_module(sys.argv[1]);"
        "print(','.join(m for m in ('aiohttp', 'numpy', 'pipecat', 'uvicorn', 'loguru')"
        " if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, PLUGIN], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
    assert "pipecat" not in result.stderr.lower()  # no banner


def test_a_run_that_uses_no_fixture_is_untouched(pytester: pytest.Pytester) -> None:
    """In a fresh process: nothing of bwserial's runtime is imported, no banner printed."""
    pytester.makepyfile(
        test_user="""
        import sys

        def test_plain():
            heavy = ("pipecat", "aiohttp", "bwserial.voiceapi", "bwserial.testing.simulator")
            assert [m for m in heavy if m in sys.modules] == []
        """
    )
    result = pytester.runpytest_subprocess("-p", PLUGIN, "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    output = result.stdout.str() + result.stderr.str()
    assert "ᓚᘏᗢ" not in output  # Pipecat's import banner: Pipecat was never imported


def test_fake_voice_api_answers_a_hang_up_and_is_closed_after_the_test(
    pytester: pytest.Pytester,
) -> None:
    result = run(
        pytester,
        """
        import aiohttp
        from pipecat.frames.frames import EndFrame

        from bwserial import BandwidthFrameSerializer

        PORTS = []

        def serializer_for(api, call_id):
            return BandwidthFrameSerializer(
                "s-1", call_id=call_id, account_id="9900000",
                client_id="client-id", client_secret="client-secret",
                params=BandwidthFrameSerializer.InputParams(
                    oauth_token_url=api.token_url, voice_api_base_url=api.voice_api_base_url
                ),
            )

        async def test_first(fake_voice_api):
            assert fake_voice_api.host == "127.0.0.1"
            PORTS.append(fake_voice_api.port)
            await serializer_for(fake_voice_api, "c-1").serialize(EndFrame())
            hangup = await fake_voice_api.wait_for_hangup("c-1", timeout=5)
            assert hangup.token_serial == 1

        async def test_second_gets_a_fresh_token_from_its_own_server(fake_voice_api):
            # The first test's token is cached per process: without the fixture's cleanup
            # this hang-up would present a token this server never issued.
            await serializer_for(fake_voice_api, "c-2").serialize(EndFrame())
            hangup = await fake_voice_api.wait_for_hangup("c-2", timeout=5)
            assert hangup.status == 200 and fake_voice_api.tokens_issued == 1

        async def test_the_first_server_is_gone():
            async with aiohttp.ClientSession() as session:
                try:
                    await session.post(f"http://127.0.0.1:{PORTS[0]}/api/v1/oauth2/token")
                except aiohttp.ClientConnectionError:
                    return
            raise AssertionError("the first test's fake Voice API still answers")
        """,
    )
    result.assert_outcomes(passed=3)


def test_make_fake_voice_api_passes_options(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        async def test_options(make_fake_voice_api):
            api = await make_fake_voice_api(client_id="id", client_secret="s", account_id="42")
            other = await make_fake_voice_api()
            assert api.client_id == "id" and api.account_id == "42"
            assert api.port != other.port
        """,
    )
    result.assert_outcomes(passed=1)


def test_bandwidth_call_against_a_served_bot(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        import base64, json

        from fastapi import FastAPI, WebSocket

        from bwserial.testing import Silence, Speech

        app = FastAPI()
        seen = []

        @app.websocket("/media")
        async def media(websocket: WebSocket):
            await websocket.accept()
            async for text in websocket.iter_text():
                event = json.loads(text)
                seen.append(event["eventType"])
                if event["eventType"] == "start":
                    payload = base64.b64encode(bytes([0x7F]) * 1600).decode()
                    await websocket.send_text(json.dumps({"eventType": "playAudio",
                        "media": {"contentType": "audio/pcmu", "payload": payload}}))
                if event["eventType"] == "stop":
                    break

        async def test_call(serve_bot, bandwidth_call):
            server = await serve_bot(app)
            report = await bandwidth_call(
                server, [Speech.tone(440, 0.2), Silence(0.2)], path="/media", fast=True,
                linger_secs=0.3,
            )
            assert report.bot_audio_received_secs == 0.2
            assert report.ended_by == "script" and report.stop_sent
            assert seen[0] == "start" and seen[-1] == "stop" and seen.count("media") >= 20

        async def test_the_bundled_caller_speaks_by_default(serve_bot, bandwidth_call):
            server = await serve_bot(app)
            report = await bandwidth_call(server.ws_url("/media"), fast=True, linger_secs=0)
            assert len(report.turns) == 3
            assert report.caller_audio_secs > 12
        """,
    )
    result.assert_outcomes(passed=2)


def test_bandwidth_stream_drives_a_serializer_in_process(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        from pipecat.frames.frames import InputAudioRawFrame

        from bwserial import BandwidthFrameSerializer, hookimpl
        from bwserial.testing import Silence, Speech

        class Stops:
            bwserial_plugin_name = "stops"
            def __init__(self):
                self.reasons = []
            @hookimpl
            def bwserial_stream_stopped(self, context, event):
                self.reasons.append((context.frames_in, event.reason.value))

        async def test_stream(bandwidth_stream):
            stops = Stops()
            serializer = BandwidthFrameSerializer("s-9", call_id="c-9",
                params=BandwidthFrameSerializer.InputParams(
                    auto_hang_up=False), plugins=[stops])
            call = bandwidth_stream(serializer)
            frames = await call.play([Speech.tone(300, 0.1), Silence(0.1)])
            assert call.frames_sent == 10
            assert all(isinstance(f, InputAudioRawFrame) for f in frames) and len(frames) == 10
            assert len(call.audio) == round(0.2 * frames[0].sample_rate) * 2  # 200 ms, 16-bit
            assert stops.reasons == [(10, "stop")]
        """,
    )
    result.assert_outcomes(passed=1)


def test_disabling_the_plugin_removes_its_fixtures(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user="def test_x(fake_voice_api):\n    pass\n")
    result = pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", "-p", f"no:{PLUGIN}",
        "-o", "asyncio_default_fixture_loop_scope=function",
    )  # fmt: skip
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'fake_voice_api' not found*"])
