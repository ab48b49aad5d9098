"""Regenerate the demo's bundled WAVs (src/bwserial/demo/assets/) with espeak-ng.

The demo must run offline with no TTS service, so its voices are pre-rendered and shipped
in the wheel. Rendering them here (instead of committing opaque recordings) keeps their
provenance and timing reviewable: caller.wav's layout is what makes the demo's barge-in
happen, and it is spelled out in CALLER below.

Usage: ``apt-get install espeak-ng && python scripts/make_demo_assets.py``. The output is
deterministic for a given espeak-ng version (1.51 was used).
"""

from __future__ import annotations

import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np
import soxr

RATE = 8000
"""Phone-line rate: no resampling anywhere on the demo's audio path."""
ASSETS = Path(__file__).resolve().parents[1] / "src" / "bwserial" / "demo" / "assets"
PEAK = 0.5  # -6 dBFS: loud enough for the VAD, far from mu-law clipping

BOT_VOICE = ("en-us+m3", 175)
CALLER_VOICE = ("en-us+f2", 165)
PROMPT = "Thanks, I heard you. This is the demo bot."

# (seconds of silence before, caller line). The third line starts while the bot is still
# answering the second one (the bot answers ~0.6 s after a turn ends and talks for ~2.5 s).
CALLER = (
    (0.6, "Hello? Is anybody there?"),
    (3.9, "I would like to check my account."),
    (1.4, "Wait, sorry, one more thing."),
)
CALLER_TAIL_SECS = 0.5


def speak(text: str, voice: tuple[str, int]) -> np.ndarray:
    """Render ``text`` at RATE, silence trimmed, peak-normalised to PEAK."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "out.wav"
        name, words_per_minute = voice
        subprocess.run(
            ["espeak-ng", "-v", name, "-s", str(words_per_minute), "-w", str(path), text],
            check=True,
        )
        with wave.open(str(path)) as w:
            rate = w.getframerate()
            raw = w.readframes(w.getnframes())
    samples = np.frombuffer(raw, dtype="<i2").astype(np.float64) / 32768.0
    loud = np.flatnonzero(np.abs(samples) > 0.01)
    samples = samples[loud[0] : loud[-1] + 1]
    samples = soxr.resample(samples, rate, RATE, quality="VHQ")
    return samples * (PEAK / np.max(np.abs(samples)))


def write(path: Path, samples: np.ndarray) -> None:
    pcm = np.clip(np.round(samples * 32767), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.tobytes())
    print(f"{path.name}: {len(pcm) / RATE:.2f} s, {path.stat().st_size // 1024} KiB")


def main() -> None:
    ASSETS.mkdir(parents=True, exist_ok=True)
    write(ASSETS / "prompt.wav", speak(PROMPT, BOT_VOICE))
    parts: list[np.ndarray] = []
    position = 0.0
    for gap, line in CALLER:
        parts.append(np.zeros(round(gap * RATE)))
        speech = speak(line, CALLER_VOICE)
        position += gap
        print(f"  caller turn at {position:5.2f} s, {len(speech) / RATE:.2f} s: {line!r}")
        position += len(speech) / RATE
        parts.append(speech)
    parts.append(np.zeros(round(CALLER_TAIL_SECS * RATE)))
    write(ASSETS / "caller.wav", np.concatenate(parts))


if __name__ == "__main__":
    main()
