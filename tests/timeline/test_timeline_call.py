"""A simulated call with a known script: the timeline puts each event where it happened.

The caller speaks, the line loses 300 ms of media and resends one frame, the bot answers,
clears its answer when the caller barges in, sends one malformed message and hangs up
through the fake Voice API. Every one of these is at a known call time; the timeline's
markers must be within one frame (20 ms) of it, and the page and PNG must show them.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
from pathlib import Path

import pytest
from timeline_bot import CLIENT_ID, CLIENT_SECRET, Plan, scripted_bot
from timeline_helpers import embedded_wavs, outside_references

from bwserial.testing.fake_voice_api import FakeVoiceAPI
from bwserial.testing.simulator import (
    CallScript,
    Duplicate,
    Gap,
    Silence,
    SimulatorConfig,
    Speech,
    simulate_call,
)
from bwserial.testing.timeline import Timeline, build_timeline
from bwserial.testing.timeline_page import write_timeline

FRAME = 0.020
CALL_ID = "c-timeline-known-script"
SCRIPT = CallScript.of(
    Silence(0.2),
    Speech.tone(440, 0.6, label="hello"),  # turn 1: 0.2 - 0.8 s
    Silence(0.4),
    Gap(0.3),  # 1.2 - 1.5 s never reaches the bot
    Silence(0.1),
    Duplicate(),  # the frame of 1.58 - 1.60 s is sent twice
    Silence(0.2),
    Speech.tone(300, 0.6, label="wait"),  # turn 2: 1.8 - 2.4 s, over the bot's answer
    Silence(3.0),
)
PLAN = Plan(
    speak_at_seq=45,  # 0.90 s: a 2 s answer, 100 ms after turn 1
    speak_secs=2.0,
    clear_at_seq=100,  # 2.00 s: 0.2 s into turn 2, the answer is cut (barge-in)
    malformed_at_seq=110,  # 2.20 s
    hangup_at_seq=150,  # 3.00 s: the hang-up lands on the fake Voice API
)


async def _call(out_dir: Path) -> Timeline:
    async with (
        FakeVoiceAPI(client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as voice_api,
        scripted_bot(PLAN, voice_api, CALL_ID) as url,
    ):
        hung_up = asyncio.Event()

        async def watch() -> None:
            await voice_api.wait_for_hangup(CALL_ID, timeout=60)
            hung_up.set()

        watcher = asyncio.create_task(watch())
        try:
            report = await simulate_call(
                SimulatorConfig(
                    url=url,
                    call_id=CALL_ID,
                    speed=0.5,  # half speed: loop latency counts half on the call's clock
                    keep_audio=True,
                    linger_secs=0,
                    max_call_secs=60,
                    out_wav=out_dir / "heard.wav",
                ),
                SCRIPT,
                hangup=hung_up,
            )
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await watcher
        hangup = voice_api.hangups[0]
    report = dataclasses.replace(
        report, hangup={"received": True, "status": hangup.status, "path": hangup.path}
    )
    return build_timeline(report)


@pytest.fixture(scope="module")
def timeline(tmp_path_factory: pytest.TempPathFactory) -> Timeline:
    """One call for every test here (it takes about 7 s), in its own event loop."""
    return asyncio.run(_call(tmp_path_factory.mktemp("call")))


def test_markers_sit_where_the_script_put_the_events(timeline: Timeline) -> None:
    (clear,) = timeline.of("clear")
    assert clear.at_secs == pytest.approx(2.00, abs=FRAME)
    assert "barge-in" in clear.detail and "0.20 s into turn 2" in clear.detail
    # the answer queued until 2.90 s; everything after the clear never played
    assert clear.until_secs is not None
    assert clear.until_secs == pytest.approx(2.90, abs=FRAME)

    (gap,) = timeline.of("gap")
    assert gap.at_secs == pytest.approx(1.20, abs=1e-9)
    assert gap.until_secs == pytest.approx(1.50, abs=1e-9)
    assert "15 frame(s)" in gap.detail

    (duplicate,) = timeline.of("duplicate")
    assert duplicate.at_secs == pytest.approx(1.58, abs=1e-9)

    (malformed,) = timeline.of("malformed")
    assert malformed.at_secs == pytest.approx(2.20, abs=FRAME)
    assert "invalid JSON" in malformed.detail

    (hangup,) = timeline.of("hangup")
    assert hangup.at_secs == pytest.approx(3.00, abs=FRAME)
    assert hangup.label == "hang-up 200"
    assert timeline.ending.kind == "hangup" and timeline.ending.status == 200
    assert not timeline.of("stop") or timeline.of("stop")[0].at_secs >= hangup.at_secs
    assert [m.at_secs for m in timeline.markers] == sorted(m.at_secs for m in timeline.markers)


def test_turns_and_replies_carry_their_latency(timeline: Timeline) -> None:
    assert [(t.start_secs, t.end_secs) for t in timeline.turns] == [
        pytest.approx((0.2, 0.8)),
        pytest.approx((1.8, 2.4)),
    ]
    (reply,) = timeline.replies  # turn 2 got no answer: the bot only cleared
    assert reply.turn == 0
    assert reply.latency_secs == pytest.approx(0.10, abs=FRAME)
    assert reply.end_secs == pytest.approx(2.00, abs=FRAME)  # cut by the clear
    assert reply.cut_secs == pytest.approx(0.90, abs=FRAME)
    summary = dict(timeline.summary)
    assert summary["turns"] == "2 caller turn(s), 1 answered"
    assert summary["answer latency"].startswith("p50 ")
    assert "1 clear(s)" in summary["audio held"]


def test_lanes_hold_both_sides_on_one_axis(timeline: Timeline) -> None:
    import numpy as np

    assert timeline.caller is not None and timeline.bot is not None
    caller = np.frombuffer(timeline.caller.pcm16, dtype="<i2").astype(float)
    bot = np.frombuffer(timeline.bot.pcm16, dtype="<i2").astype(float)

    def loud(samples: np.ndarray, t0: float, t1: float) -> bool:
        part = samples[round(t0 * 8000) : round(t1 * 8000)]
        return bool(np.sqrt(np.mean(part**2)) > 1000)

    assert loud(caller, 0.3, 0.7) and not loud(caller, 1.25, 1.45)  # speech; the gap
    assert loud(bot, 1.0, 1.9) and not loud(bot, 2.1, 2.9)  # the answer; cut by the clear


def test_page_and_png_are_written_and_need_nothing_else(timeline: Timeline, tmp_path: Path) -> None:
    from matplotlib.image import imread

    files = write_timeline(timeline, tmp_path / "call.html")
    assert files.png == tmp_path / "call.png"
    png = files.png.read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    height, width, _ = imread(io.BytesIO(png)).shape
    assert width >= 1200 and height >= 500

    page = files.html.read_text(encoding="utf-8")
    assert outside_references(page) == []
    assert page.count("<audio") == 2
    wavs = embedded_wavs(page)
    assert [(tag, rate) for tag, rate, _ in wavs] == [(7, 8000), (7, 8000)]  # mu-law
    assert all(samples == pytest.approx(3.0 * 8000, abs=8000 * 0.1) for *_, samples in wavs)
    for text in ("hang-up: HTTP 200", "barge-in", "media gap", "duplicate", "invalid JSON"):
        assert text in page
    assert "p50" in page and "frames" in page
