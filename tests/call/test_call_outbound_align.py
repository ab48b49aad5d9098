"""Whole samples out: a dangling byte is carried, never lost, and reset on interruption."""

from __future__ import annotations

from typing import Any

from bwserial.call.outbound import SampleAligner


def test_a_dangling_byte_is_carried_to_the_next_frame() -> None:
    aligner = SampleAligner()
    assert aligner.align(b"\x01\x02\x03", 1, 8000) == b"\x01\x02"
    assert aligner.carrying
    assert aligner.align(b"\x04\x05\x06", 1, 8000) == b"\x03\x04\x05\x06"
    assert not aligner.carrying


def test_no_byte_is_lost_over_many_odd_frames() -> None:
    aligner = SampleAligner()
    data = bytes(range(256)) * 10
    out = b""
    i = 0
    for size in [1, 3, 5, 7, 2, 9, 11] * 40:
        out += aligner.align(data[i : i + size], 1, 8000)
        i += size
        if i >= len(data):
            break
    assert all(len(piece) % 2 == 0 for piece in [out])
    assert data.startswith(out) and len(data[:i]) - len(out) <= 1


def test_interruption_forgets_the_carried_byte() -> None:
    aligner = SampleAligner()
    aligner.align(b"\x01", 1, 8000)
    aligner.reset()
    assert aligner.align(b"\x02\x03", 1, 8000) == b"\x02\x03"


def test_a_change_of_rate_drops_the_half_sample() -> None:
    aligner = SampleAligner()
    aligner.align(b"\x01", 1, 8000)
    assert aligner.align(b"\x02\x03", 1, 16000) == b"\x02\x03"


def test_stereo_is_cut_at_whole_frames() -> None:
    aligner = SampleAligner()
    assert aligner.align(b"\x00" * 6, 2, 8000) == b"\x00" * 4
    assert aligner.align(b"\x00" * 2, 2, 8000) == b"\x00" * 4


def test_a_flood_of_odd_frames_logs_a_few_lines(logs: Any) -> None:
    aligner = SampleAligner()
    for _ in range(100):
        aligner.align(b"\x00\x00\x00", 1, 8000)
    assert 1 <= len(logs.at("WARNING")) <= 2
