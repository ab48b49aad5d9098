"""``bwserial plugins``: what the plugin machinery found, for people and for machines."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from bwserial.cli import main


def test_plugins_lists_the_builtins_with_what_they_provide() -> None:
    result = CliRunner().invoke(main, ["plugins"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("PLUGIN")
    for name in ("pcmu (built-in)", "pcm (built-in)", "voice-api (built-in)"):
        assert name in out
    assert "codecs:  PCMU" in out
    assert "hang-up: voice-api" in out
    assert "bwserial_codecs" in out


def test_plugins_json() -> None:
    result = CliRunner().invoke(main, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    by_name = {p["name"]: p for p in data["plugins"]}
    assert {"pcmu", "pcm", "voice-api"} <= by_name.keys()
    pcmu = by_name["pcmu"]
    assert pcmu["builtin"] and pcmu["enabled"] and pcmu["distribution"] == "bwserial"
    assert pcmu["codecs"] == ["PCMU"] and pcmu["hooks"] == ["bwserial_codecs"]
    assert by_name["voice-api"]["hangup_strategies"] == ["voice-api"]
    assert set(data["environment"]) == {"BWSERIAL_PLUGINS", "BWSERIAL_DISABLE_PLUGINS"}


def test_disabled_plugins_say_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BWSERIAL_DISABLE_PLUGINS", "pcm")
    data = json.loads(CliRunner().invoke(main, ["plugins", "--json"]).stdout)
    pcm = next(p for p in data["plugins"] if p["name"] == "pcm")
    assert not pcm["enabled"] and "BWSERIAL_DISABLE_PLUGINS" in pcm["reason"]
    assert data["environment"]["BWSERIAL_DISABLE_PLUGINS"] == ["pcm"]
    text = CliRunner().invoke(main, ["plugins"]).stdout
    assert "disabled: blocked by BWSERIAL_DISABLE_PLUGINS" in text
    assert "BWSERIAL_DISABLE_PLUGINS=pcm" in text


def test_python_dash_m_runs_the_same_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bwserial", "plugins", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "pcmu" in {p["name"] for p in json.loads(done.stdout)["plugins"]}


def test_help_lists_the_commands() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("plugins", "simulate", "demo"):
        assert command in result.stdout


def test_listing_plugins_does_not_import_pipecat() -> None:
    """Issue 13: the listing stays fast and prints no Pipecat banner."""
    code = (
        "import sys\n"
        "import bwserial.plugins\n"
        "from click.testing import CliRunner\n"
        "from bwserial.cli import main\n"
        "out = CliRunner().invoke(main, ['plugins']).output\n"
        "assert 'pcmu' in out, out\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'pipecat'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    assert "pipecat" not in done.stderr.lower()  # no banner on a listing
