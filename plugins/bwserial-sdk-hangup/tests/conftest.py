"""Every test starts from the installed plugins only, and with no cached token."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from bwserial import plugins
from bwserial.voiceapi import _oauth as oauth


@pytest.fixture(autouse=True)
def clean_plugin_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Discovery reads the env vars, so reset them and rescan around each test.

    The token cache is per process: a token from one test's fake API must not be
    presented to the next one's.
    """
    monkeypatch.delenv("BWSERIAL_PLUGINS", raising=False)
    monkeypatch.delenv("BWSERIAL_DISABLE_PLUGINS", raising=False)
    plugins.discover(refresh=True)
    oauth.clear_cache()
    yield
    oauth.clear_cache()
    monkeypatch.undo()
    plugins.discover(refresh=True)
