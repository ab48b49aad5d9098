"""Cut a caller recording into turns, so a call report can judge the bot turn by turn.

The simulator reports response latency and barge-in per ``Speech`` segment of its script.
A recording with several utterances, sent as one segment, would be one long "turn" and
every answer would count as barge-in. This splits it at pauses, by frame energy: frames
of 20 ms (one media frame) louder than ``threshold_dbfs`` are speech, speech separated by
less than ``min_gap_secs`` stays one turn (the pauses inside a sentence), and shorter
blips than ``min_turn_secs`` are treated as silence.

Only pauses are changed: they are sent as line silence, which a recording's noise floor
was below anyway. Speech goes out byte for byte.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bwserial.testing.simulator import FRAME_BYTES, CallScript, Segment, Silence, Speech
from bwserial.testing.wav import PCMU_RATE, load_wav_as_pcmu, pcmu_to_pcm16

__all__ = ["script_from_wav", "split_turns"]

DEFAULT_THRESHOLD_DBFS = -40.0
DEFAULT_MIN_GAP_SECS = 0.4
DEFAULT_MIN_TURN_SECS = 0.1


def _voiced_runs(pcmu: bytes, threshold_dbfs: float) -> list[tuple[int, int]]:
    """[start, end) frame indices of consecutive frames above the threshold."""
    frames = -(-len(pcmu) // FRAME_BYTES)
    if not frames:
        return []
    padded = pcmu + b"\xff" * (frames * FRAME_BYTES - len(pcmu))  # mu-law silence
    samples = np.frombuffer(pcmu_to_pcm16(padded), dtype="<i2").astype(np.float64)
    rms = np.sqrt(np.mean(samples.reshape(frames, FRAME_BYTES) ** 2, axis=1))
    voiced = 20 * np.log10(np.maximum(rms, 1e-9) / 32768.0) > threshold_dbfs
    runs: list[tuple[int, int]] = []
    start: int | None = None
    for index, loud in enumerate(voiced):
        if loud and start is None:
            start = index
        elif not loud and start is not None:
            runs.append((start, index))
            start = None
    if start is not None:
        runs.append((start, frames))
    return runs


def split_turns(
    pcmu: bytes,
    *,
    threshold_dbfs: float = DEFAULT_THRESHOLD_DBFS,
    min_gap_secs: float = DEFAULT_MIN_GAP_SECS,
    min_turn_secs: float = DEFAULT_MIN_TURN_SECS,
    label: str = "turn",
) -> CallScript:
    """Caller audio (8 kHz mu-law) as ``Silence``/``Speech`` segments, one Speech per turn.

    Turns are labelled ``"{label} 1"``, ``"{label} 2"``, ... Audio with no speech at all
    becomes one Silence of the same length.
    """
    frame_secs = FRAME_BYTES / PCMU_RATE
    merged: list[tuple[int, int]] = []
    for start, end in _voiced_runs(pcmu, threshold_dbfs):
        if merged and (start - merged[-1][1]) * frame_secs < min_gap_secs:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    turns = [(s, e) for s, e in merged if (e - s) * frame_secs >= min_turn_secs]
    segments: list[Segment] = []
    position = 0
    for number, (start, end) in enumerate(turns, 1):
        first, last = start * FRAME_BYTES, min(end * FRAME_BYTES, len(pcmu))
        if first > position:
            segments.append(Silence((first - position) / PCMU_RATE))
        segments.append(Speech(pcmu[first:last], f"{label} {number}"))
        position = last
    if position < len(pcmu):
        segments.append(Silence((len(pcmu) - position) / PCMU_RATE))
    return CallScript(segments)


def script_from_wav(
    path: str | Path,
    *,
    threshold_dbfs: float = DEFAULT_THRESHOLD_DBFS,
    min_gap_secs: float = DEFAULT_MIN_GAP_SECS,
    min_turn_secs: float = DEFAULT_MIN_TURN_SECS,
) -> CallScript:
    """Read any WAV the simulator reads and split it into turns (see :func:`split_turns`)."""
    return split_turns(
        load_wav_as_pcmu(path),
        threshold_dbfs=threshold_dbfs,
        min_gap_secs=min_gap_secs,
        min_turn_secs=min_turn_secs,
    )
