"""Whole samples out: carries a dangling byte of bot audio over to the next frame.

Pipecat frames are normally whole 16-bit samples, but a TTS service that splits
its byte stream anywhere can hand out odd-length frames. Encoding one as is drops
it (mu-law refuses half a sample) or sends half a sample (PCM), which shifts
every sample after it by a byte: loud noise. The byte that does not fit is kept
and put in front of the next frame of the same stream instead, so no audio is
lost; an interruption forgets it, like the rest of the queued audio.

Only frames that need it come here: the serializer tests ``len(pcm) & 1`` (and
whether a byte is carried) before calling, so even frames cost one branch.
"""

from __future__ import annotations

from typing import Final

from loguru import logger

from bwserial._log import RateLimiter

__all__ = ["SampleAligner"]

_LOG_INTERVAL_SECS: Final = 60.0


class SampleAligner:
    """Cuts 16-bit PCM at whole frames (all channels of a sample), carrying the rest."""

    __slots__ = ("_carry", "_key", "_limiter", "_owner")

    def __init__(self, owner: str = "bwserial") -> None:
        self._carry = b""
        self._key: tuple[int, int] = (0, 0)
        self._owner = owner
        self._limiter = RateLimiter(_LOG_INTERVAL_SECS)

    @property
    def carrying(self) -> bool:
        return bool(self._carry)

    def align(self, pcm: bytes, channels: int, sample_rate: int) -> bytes:
        """The whole frames of carried bytes + ``pcm``; keeps what is left for next time."""
        width = 2 * channels if channels > 0 else 2
        key = (width, sample_rate)
        carry = self._carry
        if carry and key != self._key:
            carry = b""  # part of a sample in another layout or rate: not audio any more
        data = carry + pcm if carry else pcm
        cut = len(data) - len(data) % width
        self._carry = data[cut:]
        self._key = key
        if len(pcm) % width and (suppressed := self._limiter.allow()) is not None:
            logger.warning(
                f"{self._owner}: bot audio frame of {len(pcm)} bytes is not a whole number of "
                f"{width}-byte samples; the rest is carried over to the next frame"
                f"{RateLimiter.suffix(suppressed)}"
            )
        return data[:cut] if cut != len(data) else data

    def reset(self) -> None:
        """Forget the carried bytes (interruption: the audio they belong to is cleared)."""
        self._carry = b""
