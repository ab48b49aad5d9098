"""bwserial: a pluggable Pipecat serializer for Bandwidth Programmable Voice media streams.

The public API is what this module exports; everything else is internal.
"""

from typing import TYPE_CHECKING, Any

from bwserial.call_control import TransferFallback, TransferRequest
from bwserial.hookspecs import hookimpl
from bwserial.types import (
    BadMessage,
    CallEnded,
    CallRegistryFactory,
    Codec,
    CodecOptions,
    Decoder,
    Encoder,
    EndingKind,
    EndTrigger,
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
    Transfer,
    TransferStrategy,
    WarningKind,
)

if TYPE_CHECKING:
    from bwserial.frames import TransferFrame
    from bwserial.serializer import BandwidthFrameSerializer


def __getattr__(name: str) -> Any:
    # Imported on first use: it pulls in Pipecat, which the CLI, plugin listing and
    # plugin packages' hook modules do not need (and whose import prints a banner).
    if name == "BandwidthFrameSerializer":
        from bwserial.serializer import BandwidthFrameSerializer

        return BandwidthFrameSerializer
    if name == "TransferFrame":
        from bwserial.frames import TransferFrame

        return TransferFrame
    raise AttributeError(f"module 'bwserial' has no attribute {name!r}")


__all__ = [
    "BadMessage",
    "BandwidthFrameSerializer",
    "CallEnded",
    "CallRegistryFactory",
    "Codec",
    "CodecOptions",
    "Decoder",
    "Encoder",
    "EndTrigger",
    "EndingKind",
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
    "Transfer",
    "TransferFallback",
    "TransferFrame",
    "TransferRequest",
    "TransferStrategy",
    "WarningKind",
    "hookimpl",
]
