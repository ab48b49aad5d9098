"""Audio helpers shared by codecs: resampling and sample-format conversion.

Codecs depend only on the small :class:`Resampler` interface so the resampling
engine can be swapped without touching any codec.
"""

from bwserial.audio.mulaw import pcm_to_ulaw, ulaw_to_pcm
from bwserial.audio.resample import (
    TELEPHONY_PAIRS,
    PassThrough,
    PolyphaseResampler,
    Resampler,
    ResamplerFactory,
    SoxrStream,
    create_resampler,
    warm_up,
)

__all__ = [
    "TELEPHONY_PAIRS",
    "PassThrough",
    "PolyphaseResampler",
    "Resampler",
    "ResamplerFactory",
    "SoxrStream",
    "create_resampler",
    "pcm_to_ulaw",
    "ulaw_to_pcm",
    "warm_up",
]
