"""The fleet round's verdict (benchmarks/loadbench/workers.py): what it sent against what
the workers' pipelines saw. A lost frame, a digit out of order or a missing transfer
fails the round; the real run needs Redis and several workers (``tox run -e load-fleet``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

pytest.importorskip("psutil")
pytest.importorskip("fastapi")

from loadbench.workers import fleet_table, summarize  # noqa: E402


def _sent(call_id: str, holder: int, frames: int, transferred: bool = True) -> dict[str, Any]:
    return {
        "call_id": call_id,
        "holder": holder,
        "sent": frames,
        "dtmf": [
            {"digit": d, "worker": 1 + (holder + i) % 2, "status": 204}
            for i, d in enumerate("12340")
        ],
        "dtmf_secs": [0.003] * 5,
        "transfer_secs": 0.04 if transferred else None,
        "late_secs": 0.06,
        "error": None if transferred else "no transfer within 30 s",
    }


def _seen(call_id: str, frames: int, digits: str = "12340") -> dict[str, Any]:
    return {
        "call_id": call_id,
        "pid": 1,
        "frames": frames,
        "frames_at_transfer": frames,
        "serializer_frames_in": frames,
        "gaps": 0,
        "digits": digits,
    }


def _row(sent: list[dict[str, Any]], seen: list[dict[str, Any]], workers: int = 2) -> dict:
    return summarize(
        workers, len(sent), 4.0, sent, {s["call_id"]: s for s in seen},
        {1: 0.5, 2: 0.5}, 0.1, 6.0, 20.0,
    )  # fmt: skip


def test_every_frame_digit_and_transfer_accounted_for_passes() -> None:
    row = _row([_sent("a", 1, 200), _sent("b", 2, 200)], [_seen("a", 200), _seen("b", 200)])
    assert row["ok"], row["problems"]
    assert (row["frames_lost"], row["calls_digits_in_order"], row["transfers"]) == (0, 2, 2)
    assert row["digits_sent"] == 10 and row["digits_to_other_worker"] == 6
    assert row["worker_cpu_ms_per_call"] == 500.0


def test_frames_unread_when_the_transfer_key_arrived_fail_the_round() -> None:
    row = _row([_sent("a", 1, 200)], [_seen("a", 197)])
    assert not row["ok"] and (row["frames_behind"], row["calls_behind"]) == (3, 1)
    assert row["frames_lost"] == 0


def test_a_gap_in_the_sequence_numbers_is_a_lost_frame() -> None:
    seen = {**_seen("a", 199), "gaps": 1}
    row = _row([_sent("a", 1, 200)], [seen])
    assert not row["ok"] and row["frames_lost"] == 1


def test_digits_out_of_order_or_a_missing_transfer_fail_the_round() -> None:
    row = _row([_sent("a", 1, 200)], [_seen("a", 200, digits="21340")])
    assert not row["ok"] and row["calls_digits_in_order"] == 0
    assert any("'21340'" in p for p in row["problems"])
    row = _row([_sent("a", 1, 200, transferred=False)], [_seen("a", 200)])
    assert not row["ok"] and row["transfers"] == 0


def test_a_call_no_worker_recorded_loses_all_its_frames() -> None:
    row = _row([_sent("a", 1, 200)], [])
    assert not row["ok"] and row["frames_lost"] == 200
    assert "| 2 | 1 | 200 | 200 | 0 (0) |" in fleet_table([row])
