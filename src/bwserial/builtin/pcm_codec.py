"""The PCM encoder and decoder behind the built-in ``pcm`` plugin (:mod:`.pcm`)."""

from __future__ import annotations

from bwserial.builtin._encoding import ResamplingInput
from bwserial.protocol import pcm_content_type
from bwserial.types import CodecOptions


class PcmEncoder:
    """Pipeline PCM (any rate) to little-endian 16-bit PCM at the wire rate."""

    __slots__ = ("_input", "bytes_per_second", "content_type", "wire_rate")

    def __init__(self, options: CodecOptions) -> None:
        self.wire_rate = options.wire_rate
        self.content_type = pcm_content_type(options.wire_rate)
        self.bytes_per_second = options.wire_rate * 2
        self._input = ResamplingInput(options.resampler, options.wire_rate)

    def encode(self, pcm: bytes, sample_rate: int) -> bytes:
        return self._input.process(pcm, sample_rate)

    def reset(self) -> None:
        self._input.reset()


class PcmDecoder:
    """Linear PCM from the wire to the pipeline rate (if Bandwidth ever sends it)."""

    __slots__ = ("_resampler",)

    def __init__(self, options: CodecOptions) -> None:
        self._resampler = options.resampler(options.wire_rate, options.pipeline_rate)

    def decode(self, payload: bytes) -> bytes:
        if len(payload) % 2:
            payload = payload[:-1]
        return self._resampler.process(payload)

    def reset(self) -> None:
        self._resampler.reset()
