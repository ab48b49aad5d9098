"""The play-out clock: how much of the audio already sent the caller has still to hear.

Bandwidth sends no play-out acknowledgements, so the only clock is our own: each
``playAudio`` message extends the end of play-out by its duration on the wire. A
graceful hang-up waits for that end, minus trailing silence, so the goodbye is
heard but Pipecat's end-of-speech silence does not delay the hang-up.

The per-frame part (:meth:`PlayoutClock.on_sent`) is two float operations and a
deque append; loudness is only looked at when a hang-up asks. Nothing here raises
on odd-length, empty or strange frames: the clock runs inside the EndFrame path,
and an exception there once lost the hang-up.
"""

from __future__ import annotations

import time
import warnings
from collections import deque
from typing import Final

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

__all__ = ["RECENT_FRAMES", "SILENCE_PEAK", "TRAILING_SILENCE_SECS", "PlayoutClock", "peak"]

TRAILING_SILENCE_SECS: Final = 0.5
"""Audio quieter than this at the end of the bot's output is not waited for."""
SILENCE_PEAK: Final = 64
"""Peak amplitude (of 32767) under which a frame counts as silence (~ -54 dBFS)."""
RECENT_FRAMES: Final = 50
"""Frames remembered for the loudness check: 2 s of Pipecat's default 40 ms chunks
(its default end silence), at most ~100 KB of audio per call. Silence longer than
the window is waited for up to the window's start plus 0.5 s."""


def peak(pcm: bytes) -> int:
    """The peak amplitude of 16-bit PCM; a dangling odd byte is ignored. Never raises."""
    usable = len(pcm) & ~1
    if not usable:
        return 0
    try:
        return int(audioop.max(pcm[:usable] if usable != len(pcm) else pcm, 2))
    except Exception:  # audioop refusing a buffer must not cost the hang-up
        return 32767  # unknown loudness: wait for it rather than cut the goodbye


class PlayoutClock:
    """The end of play-out at Bandwidth's side, as ``time.monotonic()`` seconds."""

    __slots__ = ("_end", "_recent")

    def __init__(self) -> None:
        self._end = 0.0
        self._recent: deque[tuple[float, bytes]] = deque(maxlen=RECENT_FRAMES)

    @property
    def end(self) -> float:
        """When the audio sent so far finishes playing (in the past when it has)."""
        return self._end

    def on_sent(self, pcm: bytes, seconds: float) -> None:
        """Record a message carrying ``seconds`` of audio (``pcm``: the bot's samples)."""
        now = time.monotonic()
        start = self._end if self._end > now else now
        self._end = end = start + seconds
        self._recent.append((end, pcm))  # loudness is only checked if a hang-up asks

    def clear(self) -> float:
        """Forget queued audio (``clear`` was sent); returns the seconds discarded."""
        now = time.monotonic()
        discarded = self._end - now
        self._end = now
        self._recent.clear()
        return discarded if discarded > 0 else 0.0

    def remaining_secs(self) -> float:
        """How long audio already sent still plays, trailing silence past 0.5 s excluded.

        Pipecat sends the goodbye and then its end silence just before EndFrame;
        waiting for the words matters, waiting for the silence only delays the
        hang-up. Never raises.
        """
        now = time.monotonic()
        if self._end <= now:
            return 0.0
        voice_end = 0.0
        silence_from = now
        for end, pcm in reversed(self._recent):
            if end <= now:
                break  # played already
            if peak(pcm) > SILENCE_PEAK:
                voice_end = end
                break
            silence_from = end
        else:  # everything remembered is silent: the voice ended before the window
            voice_end = silence_from
        until = min(self._end, max(voice_end, now) + TRAILING_SILENCE_SECS)
        return max(0.0, until - now)
