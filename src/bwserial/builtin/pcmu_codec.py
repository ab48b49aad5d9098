"""The PCMU encoder and decoder behind the built-in ``pcmu`` plugin (:mod:`.pcmu`)."""

from __future__ import annotations

from bwserial.audio.mulaw import pcm_to_ulaw, ulaw_to_pcm
from bwserial.audio.resample import (
    Resampler,
    ResamplerFactory,
    create_mulaw_resampler,
    create_resampler,
)
from bwserial.builtin.pcmu import CONTENT_TYPE, RATE
from bwserial.types import CodecOptions


class PcmuEncoder:
    """Pipeline PCM (any rate) to 8 kHz mu-law.

    This runs for every 20-40 ms of bot speech, so the common case (same rate as
    the last frame) is one call: with the default resampler, the mu-law conversion
    runs inside the resampler's compiled call.
    """

    __slots__ = ("_factory", "_fused", "_resampler")
    content_type = CONTENT_TYPE
    wire_rate = RATE
    bytes_per_second = RATE

    def __init__(self, options: CodecOptions) -> None:
        self._factory: ResamplerFactory = options.resampler
        self._resampler: Resampler | None = None
        self._fused = False  # the resampler returns mu-law itself

    def encode(self, pcm: bytes, sample_rate: int) -> bytes:
        resampler = self._resampler
        if resampler is None or resampler.in_rate != sample_rate:
            return self._switch(pcm, sample_rate)
        if self._fused:
            return resampler.process(pcm)
        linear = resampler.process(pcm)
        return pcm_to_ulaw(linear) if linear else b""

    def _switch(self, pcm: bytes, sample_rate: int) -> bytes:
        """A new input rate (e.g. another TTS voice): keep the old tail, then go on."""
        tail = self._tail()
        fused = None
        if self._factory is create_resampler:
            fused = create_mulaw_resampler(sample_rate, RATE, "out")
        self._fused = fused is not None
        self._resampler = fused if fused is not None else self._factory(sample_rate, RATE)
        return tail + self.encode(pcm, sample_rate)

    def _tail(self) -> bytes:
        """What the old rate's resampler still holds, encoded (only on a rate switch)."""
        if self._resampler is None:
            return b""
        tail = self._resampler.flush()
        if self._fused:
            return tail
        return pcm_to_ulaw(tail) if tail else b""

    def reset(self) -> None:
        if self._resampler is not None:
            self._resampler.reset()


class PcmuDecoder:
    """8 kHz mu-law to pipeline PCM at the pipeline's input rate.

    With the default resampler the mu-law conversion runs inside its compiled call.
    """

    __slots__ = ("_fused", "_resampler")

    def __init__(self, options: CodecOptions) -> None:
        fused = None
        if options.resampler is create_resampler:
            fused = create_mulaw_resampler(RATE, options.pipeline_rate, "in")
        self._fused = fused is not None
        self._resampler = (
            fused if fused is not None else options.resampler(RATE, options.pipeline_rate)
        )

    def decode(self, payload: bytes) -> bytes:
        if self._fused:
            return self._resampler.process(payload)
        return self._resampler.process(ulaw_to_pcm(payload))

    def reset(self) -> None:
        self._resampler.reset()
