"""The fuzz run (tox env ``fuzz``): shares its properties with tests/reliability."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "reliability"))

import bwfuzz_properties as props


@pytest.fixture(scope="session", autouse=True)
def quiet_but_realistic_logging() -> Iterator[None]:
    """Thousands of malformed inputs must not flood the terminal (still formatted, to /dev/null)."""
    with props.production_like_logging():
        yield


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if props.STATS.total:
        terminalreporter.write_line(props.STATS.summary())
