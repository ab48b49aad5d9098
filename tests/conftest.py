"""Shared fixtures: captured loguru output and clean plugin discovery."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from loguru import logger

from bwserial import _log, plugins


class LogCapture:
    def __init__(self) -> None:
        self.records: list[tuple[str, str]] = []

    def __call__(self, message: Any) -> None:
        record = message.record
        text = record["message"]
        if record["exception"] is not None:
            text += "\n" + "".join(str(x) for x in record["exception"])
        self.records.append((record["level"].name, text))

    def at(self, level: str) -> list[str]:
        return [text for lvl, text in self.records if lvl == level]

    @property
    def text(self) -> str:
        return "\n".join(text for _, text in self.records)


def pytest_configure(config: pytest.Config) -> None:
    """bwserial's fixtures come from its ``pytest11`` entry point once installed; a checkout
    run with ``PYTHONPATH=src`` (no entry point) registers the same module by hand. Both
    use the module's name, so this is a no-op when the entry point loaded it."""
    config.pluginmanager.import_plugin("bwserial.testing.pytest_plugin")


@pytest.fixture
def logs() -> Iterator[LogCapture]:
    capture = LogCapture()
    sink = logger.add(capture, level="TRACE", format="{message}")
    yield capture
    logger.remove(sink)


@pytest.fixture(autouse=True)
def clean_plugin_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test sees only the plugins its own environment selects."""
    monkeypatch.delenv("BWSERIAL_PLUGINS", raising=False)
    monkeypatch.delenv("BWSERIAL_DISABLE_PLUGINS", raising=False)
    plugins.discover(refresh=True)
    _log.REPEATS.clear()  # a record held back by an earlier test must not hide this one's
    yield
    plugins.discover(refresh=True)
