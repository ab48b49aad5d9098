"""The Pipecat frames bwserial adds, for what a pipeline asks of the phone call.

Each one subclasses a frame that Pipecat's stock ``FastAPIWebsocketTransport`` already
hands to its serializer, so it works with an unmodified transport: a
:class:`TransferFrame` is an ``EndFrame``, so the pipeline ends as usual and the
serializer sees it where it would otherwise hang up.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipecat.frames.frames import EndFrame

from bwserial.call_control import TransferFallback, TransferRequest

__all__ = ["TransferFrame"]


@dataclass
class TransferFrame(EndFrame):  # type: ignore[misc]
    """End the bot's part of the call by transferring the caller to a person.

    Push it where you would push an ``EndFrame``: the goodbye queued before it plays
    out, then the call is handed to ``transfer.to`` instead of hung up.

    Parameters:
        transfer: The typed request (targets checked when it is built).
    """

    transfer: TransferRequest | None = None

    def __post_init__(self) -> None:
        super().__post_init__()  # type: ignore[no-untyped-call]
        if not isinstance(self.transfer, TransferRequest):
            raise TypeError("TransferFrame needs transfer=TransferRequest(...)")

    @classmethod
    def to(
        cls,
        *targets: str,
        caller_id: str | None = None,
        timeout_secs: float | None = None,
        fallback: TransferFallback | None = None,
    ) -> TransferFrame:
        """``TransferFrame.to("+15551234567")``: the request built and checked in one step."""
        return cls(
            transfer=TransferRequest(
                to=targets, caller_id=caller_id, timeout_secs=timeout_secs, fallback=fallback
            )
        )
