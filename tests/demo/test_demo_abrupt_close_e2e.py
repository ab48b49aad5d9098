"""Bandwidth may close the socket without ``stop``: the bot must notice, end and hang up.

With ``<Pause duration="86400"/>`` after the stream, a closed socket does not end the
call: if the bot did not hang up, the caller would hear silence for a day.
"""

from __future__ import annotations

import pytest
from demo_helpers import ACCOUNT_ID, StartBot

from bwserial import StopReason
from bwserial.testing.fake_voice_api import FakeVoiceAPI
from bwserial.testing.simulator import CallScript, Silence, SimulatorConfig, simulate_call
from bwtest_helpers import Recorder


@pytest.mark.parametrize("end_with", ["close", "drop"])
async def test_close_without_stop_fires_stopped_once_and_ends_the_pipeline(
    start_bot: StartBot, voice_api: FakeVoiceAPI, end_with: str
) -> None:
    recorder = Recorder()
    bot = await start_bot(plugins=[recorder])
    call_id = f"c-abrupt-{end_with}"
    stream = await bot.place_call(call_id)
    report = await simulate_call(
        SimulatorConfig(
            url=stream.destination,
            call_id=call_id,
            username=stream.username,
            password=stream.password,
            end_with=end_with,  # type: ignore[arg-type]
            linger_secs=0,
            max_call_secs=20,
        ),
        CallScript.of(Silence(0.6)),
    )
    assert not report.stop_sent

    # The pipeline ended (the record is written when run_call returns) ...
    record = await bot.calls.wait_for(call_id, timeout_secs=10)
    assert record.end_reason == "caller disconnected"
    assert record.frames_in > 0

    # ... the stopped hook fired exactly once, for the closed socket ...
    stopped = recorder.of("stream_stopped")
    assert len(stopped) == 1
    assert stopped[0]["event"].reason is StopReason.SOCKET_CLOSED
    assert record.stream_stops == 1
    assert recorder.names().count("stream_started") == 1

    # ... and the call was hung up, once, as the token says.
    hangup = await voice_api.wait_for_hangup(call_id, timeout=5)
    assert hangup.account_id == ACCOUNT_ID
    assert len(voice_api.hangups) == 1
    assert record.hung_up and record.hangup_outcome == "completed"
    (finished,) = recorder.of("hangup_finished")
    assert finished["context"].call_id == call_id


async def test_stop_then_close_fires_stopped_once(
    start_bot: StartBot, voice_api: FakeVoiceAPI
) -> None:
    recorder = Recorder()
    bot = await start_bot(plugins=[recorder])
    stream = await bot.place_call("c-stop")
    report = await simulate_call(
        SimulatorConfig(
            url=stream.destination,
            call_id="c-stop",
            username=stream.username,
            password=stream.password,
            linger_secs=0,
            max_call_secs=20,
        ),
        CallScript.of(Silence(0.6)),
    )
    assert report.stop_sent
    record = await bot.calls.wait_for("c-stop", timeout_secs=10)
    stopped = recorder.of("stream_stopped")
    assert [s["event"].reason for s in stopped] == [StopReason.STOP_MESSAGE]
    assert record.stream_stops == 1
    assert await voice_api.wait_for_hangup("c-stop", timeout=5)
