"""The load benchmark proves its own figures: a short real run adds up, and the checks
that would catch lost frames or calls that never started do fire."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

pytest.importorskip("psutil")  # the test extra; the sampler needs it
pytest.importorskip("fastapi")  # the demo extra; the bot process needs it

from loadbench.rounds import summarize  # noqa: E402
from loadbench.script import build_script  # noqa: E402


def run_load(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    out = tmp_path / "load.json"
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
    )
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "load.py"), *args, "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=120,  # the harness bounds itself far below this
        env=env,
        cwd=ROOT,
    )
    assert out.exists(), proc.stdout + proc.stderr
    return proc, json.loads(out.read_text())


def test_a_short_echo_run_accounts_for_every_frame_and_call(tmp_path: Path) -> None:
    proc, report = run_load(
        tmp_path, "--calls", "3", "--seconds", "3", "--modes", "echo", "--quiet-wait", "0"
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (row,) = report["rounds"]
    frames = 3 * 150  # 3 calls x 3 s x 50 frames a second
    assert row["ok"] and row["problems"] == []
    assert (row["started"], row["completed"], row["hung_up"]) == (3, 3, 3)
    assert row["frames_sent"] == row["frames_read"] == frames
    assert (row["gaps"], row["lost_silently"], row["abandoned_calls"]) == (0, 0, 0)
    # one 40 ms playAudio per two caller frames, every one of them received
    assert row["play_produced"] == row["play_received"] == frames // 2
    assert row["bot_audio_secs"] == pytest.approx(frames * 0.02)
    # the serializer was timed on every frame it handled, inside the bot's own CPU
    assert row["deserialize_cpu_us"]["n"] == frames + 2 * 3  # + each call's start and stop
    assert row["serialize_cpu_us"]["n"] == frames // 2
    assert 0 < row["serializer_share"] < 1
    assert row["frame_lag_ms"]["n"] == frames


def _outputs(call_ids: list[str], sent: int, plays: int) -> list[dict[str, Any]]:
    empty = {"unit": 1, "n": 0, "total": 0, "max": 0, "buckets": {}}
    calls = [
        {
            "call_id": c,
            "t0_ns": 1,
            "t_connected": 0.0,
            "t_stop_sent": 10.0,
            "t_closed": 11.0,
            "frames_sent": sent,
            "play_msgs": plays,
            "play_secs": plays * 0.04,
            "closed_by": "bot",
            "latencies": [],
        }
        for c in call_ids
    ]
    return [
        {"calls": calls, "send_lag": empty, "echo_delay": empty, "loop_lag": empty, "cpu_secs": 1.0}
    ]


def _summary(
    outputs: list[dict[str, Any]], records: list[dict[str, Any]], call_ids: list[str]
) -> dict[str, Any]:
    from loadbench.sampler import Sampler

    return summarize(
        mode="echo",
        n=len(call_ids),
        k=1,
        ramp=0.0,
        script=build_script(2.0),
        outputs=outputs,
        stats={"calls": records, "cpu_secs": 1.0, "wall_secs": 10.0},
        hangups=Counter(call_ids),
        sampler=Sampler(os.getpid(), []),
        t_go=0.0,
        t_done=10.0,
        rss_base=0,
        call_ids=call_ids,
        background=None,
        aborted=None,
        rate=16000,
    )


def _record(call_id: str, frames_in: int, frames_out: int, end: str = "stop") -> dict[str, Any]:
    return {
        "call_id": call_id,
        "frames_in": frames_in,
        "frames_out": frames_out,
        "gaps": 0,
        "duplicates": 0,
        "bad_messages": 0,
        "end_reason": end,
    }


def test_frames_the_bot_never_read_fail_the_round() -> None:
    ids = ["a", "b"]
    row = _summary(_outputs(ids, 100, 50), [_record("a", 100, 50), _record("b", 97, 50)], ids)
    assert not row["ok"]
    assert row["lost_silently"] == 3
    assert any("3 frame(s) lost silently" in p for p in row["problems"])


def test_a_call_that_never_started_fails_the_round() -> None:
    ids = ["a", "b"]
    outputs = _outputs(["a"], 100, 50)
    outputs[0]["calls"].append({"call_id": "b", "error": "connect: refused", "latencies": []})
    row = _summary(outputs, [_record("a", 100, 50)], ids)
    assert not row["ok"]
    assert row["started"] == 1
    assert any("never started" in p for p in row["problems"])


def test_playaudio_that_never_arrived_fails_the_round() -> None:
    ids = ["a"]
    row = _summary(_outputs(ids, 100, 49), [_record("a", 100, 50)], ids)
    assert not row["ok"]
    assert any("playAudio" in p for p in row["problems"])


def test_a_call_the_bot_fell_behind_on_is_counted_not_hidden() -> None:
    ids = ["a"]
    outputs = _outputs(ids, 100, 20)
    outputs[0]["calls"][0]["closed_by"] = "deadline"
    row = _summary(outputs, [_record("a", 60, 20, end="caller closed without stop")], ids)
    assert (row["abandoned_calls"], row["unread_when_abandoned"], row["lost_silently"]) == (
        1,
        40,
        0,
    )
    assert row["completed"] == 0


def test_load_command_lines_in_the_docs_use_real_options() -> None:
    import re
    import shlex

    from loadbench.cli import build_parser

    lines = [
        line
        for page in (ROOT / "docs").glob("*.md")
        for line in page.read_text(encoding="utf-8").splitlines()
        if "benchmarks/load.py" in line and line.lstrip().startswith("python")
    ]
    lines += re.findall(
        r"`(python benchmarks/load\.py[^`]*)`",
        "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "docs").glob("*.md")),
    )
    assert lines, "the docs show how to run the load benchmark"
    for line in lines:
        words = shlex.split(line.strip().strip("`"), comments=True)
        args = words[words.index("benchmarks/load.py") + 1 :]
        build_parser().parse_args(args)  # exits (status 2) on an unknown option
