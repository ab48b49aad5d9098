"""What every simulated caller says: the bundled caller recording, turn by turn.

The recording is cut into turns where it falls silent (-40 dBFS for 0.4 s), and each
turn is followed by enough silence for the bot to notice the end of the turn (VAD stop),
play its whole answer and pause: no turn talks over an answer, so an answer can be
matched to the turn before it by time alone. Turns repeat until the call is full.

The result is precomputed once per process as the base64 payload of every 20 ms frame,
so a caller's per-frame work is one string format and one WebSocket send.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["FRAME_BYTES", "FRAME_NS", "CallerScript", "asset", "build_script"]

FRAME_BYTES = 160
"""One Bandwidth media frame: 20 ms of 8 kHz mu-law."""
FRAME_NS = 20_000_000
SILENCE = b"\xff" * FRAME_BYTES
LEAD_IN_SECS = 0.5
SPEECH_DBFS = -40.0
MIN_GAP_SECS = 0.4
ANSWER_SLACK_SECS = 1.5
"""Silence after VAD stop + the answer, before the next turn."""


def asset(name: str) -> Path:
    """A WAV bundled with bwserial (``caller.wav``, ``prompt.wav``), wherever it lives."""
    import bwserial

    root = Path(bwserial.__file__).resolve().parent
    found = sorted(root.rglob(name))
    if not found:
        raise FileNotFoundError(f"no bundled {name} under {root}")
    return found[0]


def _turns(pcmu: bytes) -> list[bytes]:
    from bwserial.testing.wav import pcmu_to_pcm16

    frames = len(pcmu) // FRAME_BYTES
    samples = np.frombuffer(pcmu_to_pcm16(pcmu[: frames * FRAME_BYTES]), dtype="<i2")
    rms = np.sqrt(np.mean(samples.astype(np.float64).reshape(frames, FRAME_BYTES) ** 2, axis=1))
    voiced = 20 * np.log10(np.maximum(rms, 1e-9) / 32768.0) > SPEECH_DBFS
    runs: list[list[int]] = []
    for i, v in enumerate(voiced):
        if not v:
            continue
        if runs and i - runs[-1][1] <= MIN_GAP_SECS * 50:
            runs[-1][1] = i + 1
        else:
            runs.append([i, i + 1])
    return [pcmu[s * FRAME_BYTES : e * FRAME_BYTES] for s, e in runs if e - s >= 5]


@dataclass(frozen=True)
class CallerScript:
    payloads: tuple[str, ...]
    """Base64 of each 20 ms frame, in order."""
    turn_ends: tuple[int, ...]
    """Index of the first frame after each caller turn (the turn's end is its due time)."""
    speech_frames: int

    @property
    def seconds(self) -> float:
        return len(self.payloads) * FRAME_NS / 1e9


def build_script(seconds: float, vad_stop_secs: float = 0.5) -> CallerScript:
    """Turns of the bundled caller recording, each followed by room for the answer."""
    from bwserial.testing.wav import load_wav_as_pcm16, load_wav_as_pcmu

    turns = _turns(load_wav_as_pcmu(asset("caller.wav")))
    prompt_secs = len(load_wav_as_pcm16(asset("prompt.wav"), 8000)) / 16000
    gap_frames = round((vad_stop_secs + prompt_secs + ANSWER_SLACK_SECS) * 50)
    total = max(1, round(seconds * 50))
    frames: list[bytes] = [SILENCE] * min(total, round(LEAD_IN_SECS * 50))
    ends: list[int] = []
    speech = 0
    i = 0
    while True:
        turn = turns[i % len(turns)]
        n = len(turn) // FRAME_BYTES
        if len(frames) + n + gap_frames > total:
            break
        frames += [turn[k * FRAME_BYTES : (k + 1) * FRAME_BYTES] for k in range(n)]
        speech += n
        ends.append(len(frames))
        frames += [SILENCE] * gap_frames
        i += 1
    frames += [SILENCE] * (total - len(frames))
    payloads = tuple(base64.b64encode(f).decode("ascii") for f in frames[:total])
    return CallerScript(payloads, tuple(ends), speech)
