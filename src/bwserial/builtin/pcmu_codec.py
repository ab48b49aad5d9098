"""The PCMU encoder and decoder behind the built-in ``pcmu`` plugin (:mod:`.pcmu`)."""

from __future__ import annotations

from bwserial.audio.mulaw import pcm_to_ulaw, ulaw_to_pcm
from bwserial.audio.resample import Resampler, ResamplerFactory
from bwserial.builtin.pcmu import CONTENT_TYPE, RATE
from bwserial.types import CodecOptions


class PcmuEncoder:
    """Pipeline PCM (any rate) to 8 kHz mu-law.

    This runs for every 20-40 ms of bot speech, so the common case (same rate as
    the last frame) is kept to one resampler call and one mu-law call.
    """

    __slots__ = ("_factory", "_resampler")
    content_type = CONTENT_TYPE
    wire_rate = RATE
    bytes_per_second = RATE

    def __init__(self, options: CodecOptions) -> None:
        self._factory: ResamplerFactory = options.resampler
        self._resampler: Resampler | None = None

    def encode(self, pcm: bytes, sample_rate: int) -> bytes:
        resampler = self._resampler
        if resampler is None or resampler.in_rate != sample_rate:
            return self._switch(pcm, sample_rate)
        linear = resampler.process(pcm)
        return pcm_to_ulaw(linear) if linear else b""

    def _switch(self, pcm: bytes, sample_rate: int) -> bytes:
        """A new input rate (e.g. another TTS voice): keep the old tail, then go on."""
        tail = self._resampler.flush() if self._resampler is not None else b""
        self._resampler = self._factory(sample_rate, RATE)
        linear = tail + self._resampler.process(pcm)
        return pcm_to_ulaw(linear) if linear else b""

    def reset(self) -> None:
        if self._resampler is not None:
            self._resampler.reset()


class PcmuDecoder:
    """8 kHz mu-law to pipeline PCM at the pipeline's input rate."""

    __slots__ = ("_resampler",)

    def __init__(self, options: CodecOptions) -> None:
        self._resampler = options.resampler(RATE, options.pipeline_rate)

    def decode(self, payload: bytes) -> bytes:
        return self._resampler.process(ulaw_to_pcm(payload))

    def reset(self) -> None:
        self._resampler.reset()
