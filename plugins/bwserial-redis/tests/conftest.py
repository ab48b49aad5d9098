"""Fixtures: a real redis-server per test (see redis_server.py), a clean plugin setup."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from bwserial import plugins
from redis_server import RedisServer, redis_server_binary


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(redis_server_binary(), tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def clean_plugin_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Discovery reads the env vars, so reset them and rescan around each test."""
    monkeypatch.delenv("BWSERIAL_PLUGINS", raising=False)
    monkeypatch.delenv("BWSERIAL_DISABLE_PLUGINS", raising=False)
    monkeypatch.delenv("BWSERIAL_CALL_REGISTRY_URL", raising=False)
    plugins.discover(refresh=True)
    yield
    monkeypatch.undo()
    plugins.discover(refresh=True)


def pytest_configure(config: pytest.Config) -> None:
    """bwserial's fixtures come from its ``pytest11`` entry point; from a source checkout
    without installed metadata, register the same module by hand (a no-op otherwise)."""
    config.pluginmanager.import_plugin("bwserial.testing.pytest_plugin")
