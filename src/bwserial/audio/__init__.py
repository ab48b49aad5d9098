"""Audio helpers shared by codecs: resampling and sample-format conversion.

Codecs depend only on the small :class:`Resampler` interface so the resampling
engine can be swapped without touching any codec.
"""

from bwserial.audio.resample import Resampler, ResamplerFactory, create_resampler

__all__ = ["Resampler", "ResamplerFactory", "create_resampler"]
