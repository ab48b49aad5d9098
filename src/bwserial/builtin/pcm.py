"""Built-in plugin ``pcm``: 16-bit linear PCM at 8, 16 or 24 kHz.

Bandwidth plays PCM at up to 24 kHz, which sounds clearly better than mu-law for TTS
voices on HD-capable calls. Only the registration lives here; the encoder and decoder
are imported when a call first builds one.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from bwserial.hookspecs import hookimpl
from bwserial.protocol import pcm_content_type
from bwserial.types import Codec, CodecOptions, Decoder, Encoder

RATES: Final = (8000, 16000, 24000)


def _encoder(options: CodecOptions) -> Encoder:
    from bwserial.builtin.pcm_codec import PcmEncoder

    return PcmEncoder(options)


def _decoder(options: CodecOptions) -> Decoder:
    from bwserial.builtin.pcm_codec import PcmDecoder

    return PcmDecoder(options)


CODEC: Final = Codec(
    name="PCM",
    rates=RATES,
    content_type=pcm_content_type,
    encoder=_encoder,
    decoder=_decoder,
    description="16-bit signed little-endian PCM at 8, 16 or 24 kHz",
)


@hookimpl
def bwserial_codecs() -> Iterable[Codec]:
    return [CODEC]
