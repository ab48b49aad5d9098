"""The installed package is found through its entry point, and can be blocked by name."""

from __future__ import annotations

from importlib import metadata

import pytest
from bwserial import BandwidthFrameSerializer, plugins
from bwserial.testing.messages import start

import bwserial_jsonlog

DISTRIBUTION = "bwserial-jsonlog"


def test_the_entry_point_is_discovered_with_its_distribution() -> None:
    found = {p.name: p for p in plugins.discover(refresh=True).plugins}
    info = found["jsonlog"]
    assert (info.distribution, info.version) == (DISTRIBUTION, metadata.version(DISTRIBUTION))
    assert info.plugin is bwserial_jsonlog and not info.builtin
    described = {d.name: d for d in plugins.describe_plugins()}["jsonlog"]
    assert described.enabled
    assert "bwserial_hangup_finished" in described.hooks and len(described.hooks) == 7


@pytest.mark.parametrize("blocked", ["jsonlog", DISTRIBUTION])
async def test_blocking_it_by_env_var_removes_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], blocked: str
) -> None:
    monkeypatch.setenv("BWSERIAL_DISABLE_PLUGINS", blocked)
    found = plugins.discover(refresh=True)
    assert "jsonlog" not in [p.name for p in found.plugins]
    assert [s.reason for s in found.skipped if s.name == "jsonlog"] == [
        "blocked by BWSERIAL_DISABLE_PLUGINS"
    ]
    serializer = BandwidthFrameSerializer(
        "stream-1", params=BandwidthFrameSerializer.InputParams(auto_hang_up=False)
    )
    await serializer.deserialize(start())
    assert '"event":"stream_started"' not in capsys.readouterr().err
