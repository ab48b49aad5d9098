"""Every test starts from the installed plugins only.

Metrics are process-wide and never reset, so tests compare values before and after.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from bwserial import plugins


@pytest.fixture(autouse=True)
def clean_plugin_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Discovery reads the env vars, so reset them and rescan around each test."""
    monkeypatch.delenv("BWSERIAL_PLUGINS", raising=False)
    monkeypatch.delenv("BWSERIAL_DISABLE_PLUGINS", raising=False)
    plugins.discover(refresh=True)
    yield
    monkeypatch.undo()
    plugins.discover(refresh=True)



def pytest_configure(config: pytest.Config) -> None:
    """bwserial's fixtures come from its ``pytest11`` entry point; from a source checkout
    without installed metadata, register the same module by hand (a no-op otherwise)."""
    config.pluginmanager.import_plugin("bwserial.testing.pytest_plugin")
