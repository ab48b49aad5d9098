"""The play-out clock accepts any frame and never raises."""

from __future__ import annotations

import time

import pytest

from bwserial.call.playout import SILENCE_PEAK, PlayoutClock, peak
from bwtest_helpers import tone


@pytest.mark.parametrize("pcm", [b"", b"\x01", b"\xff\x7f\x01", b"\x00" * 7, tone(300, 0.01, 8000)])
def test_any_frame_is_accepted_and_remaining_never_raises(pcm: bytes) -> None:
    clock = PlayoutClock()
    clock.on_sent(pcm, 0.5)
    remaining = clock.remaining_secs()
    assert 0.0 <= remaining <= 0.5


def test_odd_length_loud_audio_counts_as_speech() -> None:
    clock = PlayoutClock()
    clock.on_sent(tone(300, 0.5, 8000) + b"\x01", 1.0)
    assert clock.remaining_secs() > 0.9  # loud: waited for whole


def test_trailing_silence_beyond_half_a_second_is_not_waited_for() -> None:
    clock = PlayoutClock()
    clock.on_sent(tone(300, 0.2, 8000), 0.2)
    for _ in range(10):
        clock.on_sent(b"\x00\x00" * 1600, 0.2)  # 2 s of silence
    assert 0.6 <= clock.remaining_secs() <= 0.75  # 0.2 s of voice + 0.5 s


def test_clear_reports_what_was_discarded_and_resets() -> None:
    clock = PlayoutClock()
    clock.on_sent(tone(300, 1.0, 8000), 1.0)
    discarded = clock.clear()
    assert 0.9 <= discarded <= 1.0
    assert clock.remaining_secs() == 0.0
    assert clock.clear() == 0.0


def test_audio_sent_after_playing_out_starts_from_now() -> None:
    clock = PlayoutClock()
    clock.on_sent(tone(300, 0.01, 8000), 0.01)
    time.sleep(0.03)
    clock.on_sent(tone(300, 0.3, 8000), 0.3)
    assert 0.25 <= clock.remaining_secs() <= 0.3


def test_peak_ignores_a_dangling_byte() -> None:
    assert peak(b"") == 0 and peak(b"\x7f") == 0
    assert peak(b"\x00\x10\x7f") == 0x1000
    assert peak(b"\x00\x00" * 4) <= SILENCE_PEAK
