"""Built-in plugin ``pcmu``: G.711 mu-law at 8 kHz, Bandwidth's native format."""

from __future__ import annotations

import warnings
from collections.abc import Iterable

from bwserial.builtin._encoding import ResamplingInput
from bwserial.hookspecs import hookimpl
from bwserial.types import Codec, CodecOptions

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # the audioop-lts package provides it on Python 3.13

CONTENT_TYPE = "audio/pcmu"
RATE = 8000


class PcmuEncoder:
    """Pipeline PCM (any rate) to 8 kHz mu-law."""

    __slots__ = ("_input",)
    content_type = CONTENT_TYPE
    wire_rate = RATE
    bytes_per_second = RATE

    def __init__(self, options: CodecOptions) -> None:
        self._input = ResamplingInput(options.resampler, RATE)

    def encode(self, pcm: bytes, sample_rate: int) -> bytes:
        linear = self._input.process(pcm, sample_rate)
        return audioop.lin2ulaw(linear, 2) if linear else b""

    def flush(self) -> bytes:
        linear = self._input.flush()
        return audioop.lin2ulaw(linear, 2) if linear else b""

    def reset(self) -> None:
        self._input.reset()


class PcmuDecoder:
    """8 kHz mu-law to pipeline PCM at the pipeline's input rate."""

    __slots__ = ("_resampler",)

    def __init__(self, options: CodecOptions) -> None:
        self._resampler = options.resampler(RATE, options.pipeline_rate)

    def decode(self, payload: bytes) -> bytes:
        return self._resampler.process(audioop.ulaw2lin(payload, 2))

    def reset(self) -> None:
        self._resampler.reset()


def _content_type(rate: int) -> str:
    return CONTENT_TYPE


CODEC = Codec(
    name="PCMU",
    rates=(RATE,),
    content_type=_content_type,
    encoder=PcmuEncoder,
    decoder=PcmuDecoder,
    description="G.711 mu-law, 8 kHz (audio/pcmu)",
)


@hookimpl
def bwserial_codecs() -> Iterable[Codec]:
    return [CODEC]
