"""``bwserial demo``: the README's first command, run once end to end (about 15 s)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bwserial.cli import main
from bwserial.testing.wav import read_wav


def test_demo_json_completes_the_call_with_a_barge_in_and_a_hangup(tmp_path: Path) -> None:
    out = tmp_path / "bot.wav"
    result = CliRunner().invoke(main, ["demo", "--json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)

    assert data["ok"] is True
    assert {c["name"]: c["ok"] for c in data["checks"]} == {
        "bot audio": True,
        "barge-in": True,
        "hang-up": True,
        "trusted call id": True,
        "bot ended": True,
        "well-formed": True,
    }
    report = data["report"]
    assert report["url"].endswith("?token=<redacted>")
    assert len(report["turns"]) == 3
    assert all(t["response_latency_secs"] is not None for t in report["turns"])
    assert report["clears_received"] >= 1 and any(c["during_turn"] for c in report["clears"])
    hangup = report["hangup"]
    assert hangup["received"] and hangup["status"] == 200
    assert hangup["call_id"] == report["call_id"] == data["bot"]["call_id"]
    assert data["bot"]["answers"] == 3 and data["bot"]["interruptions"] == 1

    samples, rate = read_wav(out)
    assert rate == 8000 and samples.shape[0] > 0

    # the call drawn beside its WAV: a page that holds everything, and its picture
    assert data["files"] == {
        "wav": str(out),
        "html": str(tmp_path / "bot.html"),
        "png": str(tmp_path / "bot.png"),
    }
    assert (tmp_path / "bot.png").read_bytes().startswith(b"\x89PNG")
    page = (tmp_path / "bot.html").read_text(encoding="utf-8")
    assert "hang-up: HTTP 200" in page and "barge-in" in page and page.count("<audio") == 2


def test_demo_turns_is_bounded_by_the_bundled_caller() -> None:
    result = CliRunner().invoke(main, ["demo", "--turns", "4"])
    assert result.exit_code == 2
    assert "1<=x<=3" in result.output or "between 1 and 3" in result.output


def test_demo_press_zero_shows_the_digit_and_the_transfer() -> None:
    result = CliRunner().invoke(main, ["demo", "--press", "0", "--no-report"])
    assert result.exit_code == 0, result.output
    assert "digits received: 0 (pressed: 0 at" in result.output
    assert "transfer requested to +15550100000" in result.output
    assert "[ok] transfer: the bot asked to transfer the caller to +15550100000" in result.output


def test_demo_press_refuses_keys_that_are_not_on_a_keypad() -> None:
    result = CliRunner().invoke(main, ["demo", "--press", "A"])
    assert result.exit_code == 2
    assert "keys are 0-9, * and #" in result.output


def test_demo_workers_without_the_redis_plugin_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "bwserial_redis", None)  # as if not installed
    result = CliRunner().invoke(main, ["demo", "--workers", "2", "--no-report"])
    assert result.exit_code == 2
    assert "--workers needs the bwserial-redis plugin" in result.output
    assert "pip install bwserial-redis" in result.output
