"""A 30-minute call stays usable: drawn in under 10 s, its page under 20 MB.

Built from synthetic report data (no 30-minute simulation): 200 turns of speech-like
noise, an answer to each, a barge-in every tenth turn, some line faults and malformed
messages, ended by a hang-up.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from timeline_helpers import embedded_wavs, outside_references

from bwserial.testing.simulator import (
    CallAudio,
    CallReport,
    ClearReport,
    LineFault,
    TurnReport,
)
from bwserial.testing.timeline import build_timeline
from bwserial.testing.timeline_page import write_timeline
from bwserial.testing.wav import pcm16_to_pcmu

RATE = 8000
MINUTES = 30
TURN_EVERY = 9.0  # seconds: 2.5 s of caller, 0.6 s latency, 4 s of bot, pauses


def _noise(rng: np.random.Generator, seconds: float) -> np.ndarray:
    samples = rng.normal(0, 6000, round(seconds * RATE))
    envelope = 0.5 + 0.5 * np.sin(np.linspace(0, 12 * np.pi, samples.size))
    return np.clip(samples * envelope, -32768, 32767).astype("<i2")


def long_report() -> CallReport:
    rng = np.random.default_rng(17)
    duration = MINUTES * 60.0
    total = round(duration * RATE)
    caller = np.zeros(total, dtype="<i2")
    bot = np.zeros(total, dtype="<i2")
    turns, clears, spans = [], [], []
    for index in range(int(duration // TURN_EVERY) - 1):
        start = 1.0 + index * TURN_EVERY
        end = start + 2.5
        answer = end + 0.6
        talk = 4.0
        a, b = round(start * RATE), round(end * RATE)
        caller[a:b] = _noise(rng, 2.5)[: b - a]
        if index % 10 == 9:  # the caller barges in: the answer is cut after 1 s
            talk = 1.0
            clears.append(ClearReport(answer + 1.0, 3.0, index, 0.2, True))
        a, b = round(answer * RATE), round((answer + talk) * RATE)
        bot[a:b] = _noise(rng, talk)[: b - a]
        spans.append((answer, answer + talk))
        turns.append(TurnReport(index, f"turn {index + 1}", start, end, 0.6))
    return CallReport(
        url="ws://127.0.0.1:1/ws",
        call_id="c-thirty-minutes",
        stream_id="s-1",
        ended_by="hangup",
        duration_secs=duration,
        wall_secs=duration,
        frames_sent=int(duration / 0.02),
        caller_audio_secs=duration,
        caller_speech_secs=2.5 * len(turns),
        turns=tuple(turns),
        play_audio_messages=len(spans) * 200,
        content_types={"audio/pcmu": len(spans) * 200},
        bot_audio_received_secs=sum(e - s for s, e in spans) + 3.0 * len(clears),
        bot_audio_played_secs=sum(e - s for s, e in spans),
        bot_audio_unplayed_secs=0.0,
        clears_received=len(clears),
        audio_discarded_secs=3.0 * len(clears),
        clears=tuple(clears),
        malformed_messages=5,
        malformed_samples=("invalid JSON: '{'",) * 5,
        stop_sent=False,
        bot_closed=False,
        close_code=None,
        hangup={"received": True, "status": 200},
        line_faults=tuple(LineFault("gap", 60.0 * m + 5, 10) for m in range(MINUTES)),
        malformed_at_secs=tuple(300.0 * k + 7 for k in range(5)),
        hangup_at_secs=duration - 0.5,
        bot_audio_spans=tuple(spans),
        audio=CallAudio(pcm16_to_pcmu(caller.tobytes()), bot.tobytes(), RATE),
    )


@pytest.fixture(scope="module")
def report() -> CallReport:
    return long_report()


def test_a_thirty_minute_call_renders_in_under_ten_seconds_and_twenty_megabytes(
    report: CallReport, tmp_path: Path
) -> None:
    started = time.monotonic()
    files = write_timeline(build_timeline(report), tmp_path / "long.html")
    elapsed = time.monotonic() - started

    assert elapsed < 10.0, f"rendering took {elapsed:.1f} s"
    size = files.html.stat().st_size
    assert size < 20 * 1024 * 1024, f"page is {size / 1e6:.1f} MB"
    assert files.png.stat().st_size < 1024 * 1024
    page = files.html.read_text(encoding="utf-8")
    assert outside_references(page) == []
    # both lanes still play, at a lower rate, for the whole call
    wavs = embedded_wavs(page)
    assert len(wavs) == 2
    for tag, rate, samples in wavs:
        assert tag == 7 and 2000 <= rate < 8000
        assert samples == pytest.approx(MINUTES * 60 * rate, rel=0.01)
    assert "downsampled" in page


def test_every_event_of_a_long_call_is_listed_on_its_page(
    report: CallReport, tmp_path: Path
) -> None:
    timeline = build_timeline(report)
    assert len(timeline.replies) == len(report.turns)
    assert len(timeline.of("clear")) == len(report.clears)
    assert len(timeline.of("gap")) == MINUTES
    files = write_timeline(timeline, tmp_path / "long.html")
    page = files.html.read_text(encoding="utf-8")
    assert page.count("data-t=") == len(timeline.turns) + len(timeline.replies) + len(
        timeline.markers
    )
