"""The timeline as data: how each way a call can end is marked, and what the line did.

Built from hand-made reports, so each ending is checked without a bot; the last test
checks on the wire that ``Gap`` and ``Duplicate`` do what their markers say.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from aiohttp import WSMsgType, web

from bwserial.testing.simulator import (
    CallReport,
    CallScript,
    Duplicate,
    Gap,
    Silence,
    SimulatorConfig,
    Speech,
    TurnReport,
    simulate_call,
)
from bwserial.testing.timeline import build_timeline


def _report(**changes: Any) -> CallReport:
    base = CallReport(
        url="ws://127.0.0.1:1/ws",
        call_id="c-1",
        stream_id="s-1",
        ended_by="script",
        duration_secs=10.0,
        wall_secs=10.0,
        frames_sent=500,
        caller_audio_secs=10.0,
        caller_speech_secs=2.0,
        turns=(TurnReport(0, "hi", 1.0, 3.0, 0.5), TurnReport(1, "", 5.0, 6.0, None)),
        play_audio_messages=100,
        content_types={"audio/pcmu": 100},
        bot_audio_received_secs=2.0,
        bot_audio_played_secs=2.0,
        bot_audio_unplayed_secs=0.0,
        clears_received=0,
        audio_discarded_secs=0.0,
        clears=(),
        malformed_messages=0,
        malformed_samples=(),
        stop_sent=True,
        bot_closed=False,
        close_code=None,
        stop_at_secs=10.0,
        bot_audio_spans=((3.5, 4.5), (4.7, 5.5)),
    )
    return dataclasses.replace(base, **changes)


def test_a_hangup_is_marked_at_the_time_it_landed_with_its_status() -> None:
    timeline = build_timeline(
        _report(ended_by="hangup", hangup={"received": True, "status": 204}, hangup_at_secs=7.25)
    )
    (marker,) = timeline.of("hangup")
    assert (marker.at_secs, marker.label) == (7.25, "hang-up 204")
    assert timeline.ending.text == "hang-up: HTTP 204 at 7.25 s"


def test_a_failed_hangup_is_a_failure_marker() -> None:
    timeline = build_timeline(_report(hangup={"received": True, "status": 503}, hangup_at_secs=6.0))
    assert timeline.ending.kind == "failure"
    (marker,) = timeline.of("failure")
    assert marker.at_secs == 6.0 and marker.label == "failure 503"
    assert not timeline.of("hangup")


def test_no_hangup_at_all_is_a_failure_at_the_end_of_the_line() -> None:
    timeline = build_timeline(_report(hangup={"received": False, "requests": 2}))
    (marker,) = timeline.of("failure")
    assert marker.at_secs == 10.0
    assert "no hang-up reached the Voice API (2 request(s))" in marker.detail


def test_a_call_still_up_at_the_time_limit_is_a_failure() -> None:
    timeline = build_timeline(_report(ended_by="max_call_secs", stop_at_secs=None))
    assert timeline.ending.kind == "failure" and "time limit" in timeline.ending.text


def test_a_transfer_is_its_own_ending() -> None:
    timeline = build_timeline(
        _report(
            hangup={"received": True, "status": 200, "kind": "transfer", "target": "+15550100"},
            hangup_at_secs=8.0,
        )
    )
    (marker,) = timeline.of("transfer")
    assert marker.at_secs == 8.0
    assert timeline.ending.text == "transfer to +15550100: HTTP 200 at 8.00 s"


def test_a_line_that_followed_a_transfer_ends_as_a_transfer_without_hangup_data() -> None:
    timeline = build_timeline(_report(ended_by="transfer", transfer_at_secs=6.5))
    (marker,) = timeline.of("transfer")
    assert marker.at_secs == 6.5
    assert timeline.ending.text == "transferred at 6.50 s"


def test_the_bot_closing_the_stream_and_stop_are_marked() -> None:
    timeline = build_timeline(_report(ended_by="bot_closed", bot_closed=True, close_code=1000))
    assert timeline.ending.kind == "bot_closed"
    assert [m.kind for m in timeline.markers] == ["stop", "closed"]


def test_an_answer_runs_over_its_pauses_until_the_next_turn() -> None:
    timeline = build_timeline(_report())
    (reply,) = timeline.replies  # turn 2 got no answer
    assert (reply.start_secs, reply.end_secs, reply.latency_secs) == (3.5, 5.5, 0.5)
    assert dict(timeline.summary)["answer latency"] == "p50 500 ms, p95 500 ms"


async def test_gap_and_duplicate_on_the_wire() -> None:
    received: list[dict[str, Any]] = []

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                received.append(json.loads(msg.data))
        return ws

    app = web.Application()
    app.router.add_get("/ws", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        report = await simulate_call(
            SimulatorConfig(
                url=f"ws://127.0.0.1:{runner.addresses[0][1]}/ws",
                fast=True,
                linger_secs=0,
                keep_audio=True,
            ),
            CallScript.of(Speech.tone(300, 0.2), Gap(0.1), Silence(0.1), Duplicate(2)),
        )
    finally:
        await runner.cleanup()
    numbers = [int(e["sequenceNumber"]) for e in received if e["eventType"] == "media"]
    assert numbers == [*range(1, 11), *range(16, 21), 20, 20]  # 11-15 lost, 20 sent 3 times
    assert report.frames_sent == 15
    assert [(f.kind, f.at_secs, f.frames) for f in report.line_faults] == [
        ("gap", pytest.approx(0.2), 5),
        ("duplicate", pytest.approx(0.38), 2),
    ]
    assert report.audio is not None
    assert len(report.audio.caller_pcmu) == 20 * 160  # lost frames kept as silence
    assert set(report.audio.caller_pcmu[10 * 160 : 15 * 160]) == {0xFF}


def test_an_answer_still_playing_ends_where_the_next_answer_starts() -> None:
    timeline = build_timeline(
        _report(
            turns=(TurnReport(0, "", 1.0, 3.0, 0.5), TurnReport(1, "", 4.0, 4.5, 0.1)),
            bot_audio_spans=((3.5, 4.4), (4.45, 5.5)),
        )
    )
    first, second = timeline.replies
    assert (first.start_secs, first.end_secs) == (3.5, 4.6)
    assert (second.start_secs, second.end_secs) == (4.6, 5.5)
