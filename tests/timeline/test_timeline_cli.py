"""``bwserial simulate --report``: the call's page and PNG from the command line.

The bot runs on the test's event loop; the command runs in a worker thread, where
``asyncio.run`` gives it a loop of its own, exactly as from a shell.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from timeline_bot import CLIENT_ID, CLIENT_SECRET, Plan, scripted_bot
from timeline_helpers import embedded_wavs, outside_references

from bwserial.cli import main
from bwserial.testing.fake_voice_api import FakeVoiceAPI
from bwserial.testing.wav import write_wav

PLAN = Plan(speak_at_seq=40, speak_secs=1.5, clear_at_seq=70, malformed_at_seq=75, hangup_at_seq=0)


def _caller_wav(path: Path) -> Path:
    t = np.arange(8000) / 8000
    speech = (0.3 * 32767 * np.sin(2 * np.pi * 300 * t[:4800])).astype("<i2")
    pcm = np.concatenate([np.zeros(1600, "<i2"), speech, np.zeros(2400, "<i2"), speech])
    write_wav(path, pcm.tobytes(), 8000)
    return path


async def test_simulate_report_writes_a_page_and_a_png(tmp_path: Path) -> None:
    wav = _caller_wav(tmp_path / "caller.wav")
    html = tmp_path / "call.html"
    async with (
        FakeVoiceAPI(client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as api,
        scripted_bot(PLAN, api, "c-cli") as url,
    ):
        result = await asyncio.to_thread(
            CliRunner().invoke,
            main,
            [
                "simulate",
                url,
                "--wav",
                str(wav),
                "--one-turn",
                "--speed",
                "2",
                "--linger",
                "1",
                "--json",
                "--report",
                str(html),
            ],
        )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["timeline"] == {"html": str(html), "png": str(tmp_path / "call.png")}
    assert (tmp_path / "call.png").read_bytes().startswith(b"\x89PNG")
    page = html.read_text(encoding="utf-8")
    assert outside_references(page) == []
    assert len(embedded_wavs(page)) == 2
    assert "clear" in page and "malformed message from the bot" in page
    assert "token" not in data["timeline"]["html"]


def test_text_output_says_where_the_timeline_is(tmp_path: Path) -> None:
    async def run() -> str:
        wav = _caller_wav(tmp_path / "caller.wav")
        async with (
            FakeVoiceAPI(client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as api,
            scripted_bot(PLAN, api, "c-cli") as url,
        ):
            result = await asyncio.to_thread(
                CliRunner().invoke,
                main,
                [
                    "simulate",
                    url,
                    "--wav",
                    str(wav),
                    "--fast",
                    "--linger",
                    "0.5",
                    "--report",
                    str(tmp_path / "c.html"),
                ],
            )
        assert result.exit_code == 0, result.output
        return result.stdout

    out = asyncio.run(run())
    assert f"timeline      {tmp_path / 'c.html'} (picture: {tmp_path / 'c.png'})" in out


def test_report_without_the_extra_is_a_clear_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    result = CliRunner().invoke(
        main,
        [
            "simulate",
            "ws://127.0.0.1:9/ws",
            "--wav",
            str(_caller_wav(tmp_path / "c.wav")),
            "--report",
            str(tmp_path / "call.html"),
        ],
    )
    assert result.exit_code == 2
    assert "pip install 'bwserial[report]'" in result.output
    assert not (tmp_path / "call.html").exists()
