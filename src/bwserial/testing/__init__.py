"""A fake Bandwidth for tests: the Voice API server and the media-stream simulator.

Everything here runs on 127.0.0.1, so a bot's hang-up and audio can be tested in
pytest or from the CLI without a Bandwidth account, a phone number or a tunnel.
"""

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
    "simulate_call",
]
