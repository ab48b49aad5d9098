"""The installed package is found through its entry point, and can be blocked by name."""

from __future__ import annotations

from importlib import metadata

import pytest
from bwserial import BandwidthFrameSerializer, plugins

import bwserial_sdk_hangup

DISTRIBUTION = "bwserial-sdk-hangup"


def with_sdk_hangup(disable_plugins: tuple[str, ...] = ()) -> BandwidthFrameSerializer:
    return BandwidthFrameSerializer(
        "stream-1",
        call_id="c-1",
        account_id="9900000",
        client_id="cid",
        client_secret="secret",
        params=BandwidthFrameSerializer.InputParams(
            hangup="sdk", disable_plugins=list(disable_plugins)
        ),
    )


def test_the_entry_point_is_discovered_with_its_distribution() -> None:
    found = {p.name: p for p in plugins.discover(refresh=True).plugins}
    info = found["sdk-hangup"]
    assert (info.distribution, info.version) == (DISTRIBUTION, metadata.version(DISTRIBUTION))
    assert info.plugin is bwserial_sdk_hangup and not info.builtin
    described = {d.name: d for d in plugins.describe_plugins()}["sdk-hangup"]
    assert described.enabled and described.hangup_strategies == ("sdk",)


@pytest.mark.parametrize("blocked", ["sdk-hangup", DISTRIBUTION])
def test_blocking_it_by_env_var_removes_it_and_its_strategy(
    monkeypatch: pytest.MonkeyPatch, blocked: str
) -> None:
    monkeypatch.setenv("BWSERIAL_DISABLE_PLUGINS", blocked)
    found = plugins.discover(refresh=True)
    assert "sdk-hangup" not in [p.name for p in found.plugins]
    assert [s.reason for s in found.skipped if s.name == "sdk-hangup"] == [
        "blocked by BWSERIAL_DISABLE_PLUGINS"
    ]
    with pytest.raises(ValueError, match=r"unknown hang-up strategy 'sdk'.*registered: voice-api"):
        with_sdk_hangup()


def test_blocking_it_for_one_serializer_removes_its_strategy() -> None:
    with pytest.raises(ValueError, match="registered: voice-api"):
        with_sdk_hangup(disable_plugins=("sdk-hangup",))
