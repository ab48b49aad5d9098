"""The bundled recordings and the turn splitter the demo's report relies on."""

from __future__ import annotations

import numpy as np
import pytest

from bwserial.demo.settings import bundled_asset
from bwserial.testing.simulator import Silence, Speech
from bwserial.testing.turns import script_from_wav, split_turns
from bwserial.testing.wav import pcm16_to_pcmu, read_wav

RATE = 8000


def tone(seconds: float) -> bytes:
    t = np.arange(round(seconds * RATE)) / RATE
    return pcm16_to_pcmu((0.3 * 32767 * np.sin(2 * np.pi * 300 * t)).astype("<i2").tobytes())


def silence(seconds: float) -> bytes:
    return b"\xff" * round(seconds * RATE)


@pytest.mark.parametrize("name", ["prompt.wav", "caller.wav"])
def test_assets_ship_in_the_package_small_and_at_phone_rate(name: str) -> None:
    path = bundled_asset(name)
    assert path.is_file()
    assert path.stat().st_size < 200_000
    samples, rate = read_wav(path)
    assert (rate, samples.shape[1]) == (RATE, 1)


def test_bundled_caller_has_three_turns_the_third_soon_after_the_second() -> None:
    script = script_from_wav(bundled_asset("caller.wav"))
    kinds = [type(s).__name__ for s in script.segments]
    assert kinds == ["Silence", "Speech", "Silence", "Speech", "Silence", "Speech", "Silence"]
    gaps = [s.seconds for s in script.segments if isinstance(s, Silence)]
    prompt = read_wav(bundled_asset("prompt.wav"))[0].shape[0] / RATE
    assert gaps[1] > prompt + 0.8  # the first answer plays out before turn two
    assert gaps[2] < prompt - 0.8  # turn three starts while the second answer plays
    assert [s.label for s in script.segments if isinstance(s, Speech)] == [
        "turn 1",
        "turn 2",
        "turn 3",
    ]


def test_split_keeps_speech_bytes_and_total_length() -> None:
    audio = silence(0.5) + tone(1.0) + silence(0.2) + tone(0.5) + silence(1.0) + tone(0.3)
    script = split_turns(audio)
    speech = [s for s in script.segments if isinstance(s, Speech)]
    assert len(speech) == 2  # the 0.2 s pause is inside a turn, the 1 s one separates turns
    assert abs(script.duration_secs - len(audio) / RATE) < 1e-9
    assert speech[0].pcmu == audio[4000 : 4000 + 8000 + 1600 + 4000]


def test_blips_and_silence() -> None:
    assert [type(s) for s in split_turns(silence(1.0)).segments] == [Silence]
    assert split_turns(b"").segments == ()
    blip = silence(0.5) + tone(0.04) + silence(0.5)
    assert all(isinstance(s, Silence) for s in split_turns(blip).segments)
    assert [type(s) for s in split_turns(tone(0.7)).segments] == [Speech]
