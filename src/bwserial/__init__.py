"""bwserial: a pluggable Pipecat serializer for Bandwidth Programmable Voice media streams.

The public API is what this module exports; everything else is internal.
"""

from bwserial.hookspecs import hookimpl
from bwserial.serializer import BandwidthFrameSerializer
from bwserial.types import (
    BadMessage,
    Codec,
    CodecOptions,
    Decoder,
    Encoder,
    GapKind,
    Hangup,
    HangupConfig,
    HangupOutcome,
    HangupRequest,
    HangupResult,
    HangupStrategy,
    Interruption,
    MediaFormat,
    MediaGap,
    StopReason,
    StreamContext,
    StreamStarted,
    StreamStopped,
    StreamWarning,
    Track,
    WarningKind,
)

__all__ = [
    "BadMessage",
    "BandwidthFrameSerializer",
    "Codec",
    "CodecOptions",
    "Decoder",
    "Encoder",
    "GapKind",
    "Hangup",
    "HangupConfig",
    "HangupOutcome",
    "HangupRequest",
    "HangupResult",
    "HangupStrategy",
    "Interruption",
    "MediaFormat",
    "MediaGap",
    "StopReason",
    "StreamContext",
    "StreamStarted",
    "StreamStopped",
    "StreamWarning",
    "Track",
    "WarningKind",
    "hookimpl",
]
