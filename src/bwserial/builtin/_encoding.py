"""Shared encoder machinery: one resampler per input rate, rebuilt when it changes."""

from __future__ import annotations

from bwserial.audio.resample import Resampler, ResamplerFactory


class ResamplingInput:
    """Feeds pipeline audio of any rate through a resampler to a fixed wire rate.

    TTS services can switch rates between utterances; a changed rate flushes the
    old resampler (its held tail is kept, not dropped) and starts a new one.
    """

    __slots__ = ("_factory", "_resampler", "wire_rate")

    def __init__(self, factory: ResamplerFactory, wire_rate: int) -> None:
        self._factory = factory
        self.wire_rate = wire_rate
        self._resampler: Resampler | None = None

    def process(self, pcm: bytes, sample_rate: int) -> bytes:
        resampler = self._resampler
        if resampler is None or resampler.in_rate != sample_rate:
            tail = resampler.flush() if resampler is not None else b""
            resampler = self._resampler = self._factory(sample_rate, self.wire_rate)
            return tail + resampler.process(pcm)
        return resampler.process(pcm)

    def reset(self) -> None:
        if self._resampler is not None:
            self._resampler.reset()
