"""The installed package is found through its entry point, and can be blocked by name."""

from __future__ import annotations

from importlib import metadata

import pytest
from bwserial import BandwidthFrameSerializer, plugins
from bwserial.testing.messages import start
from prometheus_client import REGISTRY

import bwserial_prometheus

DISTRIBUTION = "bwserial-prometheus"


def test_the_entry_point_is_discovered_with_its_distribution() -> None:
    found = {p.name: p for p in plugins.discover(refresh=True).plugins}
    info = found["prometheus"]
    assert (info.distribution, info.version) == (DISTRIBUTION, metadata.version(DISTRIBUTION))
    assert info.plugin is bwserial_prometheus and not info.builtin
    described = {d.name: d for d in plugins.describe_plugins()}["prometheus"]
    assert described.enabled and len(described.hooks) == 7


def test_registering_it_twice_in_one_serializer_is_refused_not_double_counted() -> None:
    with pytest.raises(ValueError, match="'prometheus'"):
        BandwidthFrameSerializer(
            "s",
            params=BandwidthFrameSerializer.InputParams(auto_hang_up=False),
            plugins=[bwserial_prometheus],
        )


@pytest.mark.parametrize("blocked", ["prometheus", DISTRIBUTION])
async def test_blocking_it_by_env_var_removes_it(
    monkeypatch: pytest.MonkeyPatch, blocked: str
) -> None:
    monkeypatch.setenv("BWSERIAL_DISABLE_PLUGINS", blocked)
    found = plugins.discover(refresh=True)
    assert "prometheus" not in [p.name for p in found.plugins]
    assert [s.reason for s in found.skipped if s.name == "prometheus"] == [
        "blocked by BWSERIAL_DISABLE_PLUGINS"
    ]
    before = REGISTRY.get_sample_value("bwserial_streams_started_total")
    serializer = BandwidthFrameSerializer(
        "stream-1", params=BandwidthFrameSerializer.InputParams(auto_hang_up=False)
    )
    await serializer.deserialize(start())
    assert REGISTRY.get_sample_value("bwserial_streams_started_total") == before
