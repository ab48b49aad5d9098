"""A fake Bandwidth for tests: the Voice API server, the media-stream simulator, fixtures.

Everything here runs on 127.0.0.1, so a bot's hang-up and audio can be tested in
pytest or from the CLI without a Bandwidth account, a phone number or a tunnel.

Names are imported on first use: pytest imports this package in every test run of every
project that has bwserial installed (for the ``pytest11`` plugin), which must cost next
to nothing and must not start aiohttp, numpy or Pipecat.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bwserial.testing.fake_voice_api import HANG, FakeVoiceAPI, RecordedRequest, Response
    from bwserial.testing.simulator import (
        CallReport,
        CallScript,
        Silence,
        SimulatorConfig,
        Speech,
        simulate_call,
    )

__all__ = [
    "HANG",
    "CallReport",
    "CallScript",
    "FakeVoiceAPI",
    "RecordedRequest",
    "Response",
    "Silence",
    "SimulatorConfig",
    "Speech",
    "sample_caller_wav",
    "simulate_call",
]

_LAZY = {
    "HANG": "bwserial.testing.fake_voice_api",
    "FakeVoiceAPI": "bwserial.testing.fake_voice_api",
    "RecordedRequest": "bwserial.testing.fake_voice_api",
    "Response": "bwserial.testing.fake_voice_api",
    "CallReport": "bwserial.testing.simulator",
    "CallScript": "bwserial.testing.simulator",
    "Silence": "bwserial.testing.simulator",
    "SimulatorConfig": "bwserial.testing.simulator",
    "Speech": "bwserial.testing.simulator",
    "simulate_call": "bwserial.testing.simulator",
}


def sample_caller_wav() -> Path:
    """A bundled 8 kHz recording of a caller speaking three turns (about 12 s).

    The same recording ``bwserial demo`` plays; ``bwserial simulate`` speaks it when no
    ``--wav`` is given, so a bot can be tried before anyone records anything.
    """
    from importlib import resources

    return Path(str(resources.files("bwserial.demo").joinpath("assets", "caller.wav")))


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'bwserial.testing' has no attribute {name!r}")
    # Not cached in globals(): the submodule's own object stays the one source, even if
    # something (pytester's in-process runs) drops and re-imports the submodule.
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
