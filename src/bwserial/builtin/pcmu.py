"""Built-in plugin ``pcmu``: G.711 mu-law at 8 kHz, Bandwidth's native format.

Only the registration lives here: the encoder and decoder (numpy, the resampler) are
imported when a call first builds one, so listing or resolving plugins stays light.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from bwserial.hookspecs import hookimpl
from bwserial.types import Codec, CodecOptions, Decoder, Encoder

CONTENT_TYPE: Final = "audio/pcmu"
RATE: Final = 8000


def _encoder(options: CodecOptions) -> Encoder:
    from bwserial.builtin.pcmu_codec import PcmuEncoder

    return PcmuEncoder(options)


def _decoder(options: CodecOptions) -> Decoder:
    from bwserial.builtin.pcmu_codec import PcmuDecoder

    return PcmuDecoder(options)


def _content_type(rate: int) -> str:
    return CONTENT_TYPE


CODEC: Final = Codec(
    name="PCMU",
    rates=(RATE,),
    content_type=_content_type,
    encoder=_encoder,
    decoder=_decoder,
    description="G.711 mu-law, 8 kHz (audio/pcmu)",
)


@hookimpl
def bwserial_codecs() -> Iterable[Codec]:
    return [CODEC]
