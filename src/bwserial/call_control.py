"""What a pipeline asks of the call besides hanging up: the typed transfer request.

Pure and Pipecat-free, so plugins, webhooks and tests can build and check requests
without a pipeline. The frame that carries a request through Pipecat is
:class:`bwserial.frames.TransferFrame`.

Targets are checked here, at construction, because a bad number found only when the
Voice API refuses the new BXML would leave the caller with a dead bot.
"""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass
from typing import Final

__all__ = [
    "MAX_TRANSFER_TARGETS",
    "TransferFallback",
    "TransferRequest",
    "check_transfer_target",
    "is_e164",
    "is_sip_uri",
]

MAX_TRANSFER_TARGETS: Final = 8
"""Bandwidth rings a ``<Transfer>``'s targets in parallel; more than a handful is a bug."""

_E164: Final = re.compile(r"\+[1-9][0-9]{1,14}")
_SIP: Final = re.compile(r"sips?:(?:[A-Za-z0-9._~!$&'()*+,;=%-]+@)?[A-Za-z0-9.-]+(?::[0-9]{1,5})?")
_MAX_SIP_CHARS: Final = 256


def is_e164(value: object) -> bool:
    """Whether ``value`` is an E.164 number: ``+``, a country code, at most 15 digits."""
    return isinstance(value, str) and _E164.fullmatch(value) is not None


def is_sip_uri(value: object) -> bool:
    """Whether ``value`` is a plain ``sip:``/``sips:`` URI (user@host[:port], no params)."""
    return (
        isinstance(value, str)
        and len(value) <= _MAX_SIP_CHARS
        and _SIP.fullmatch(value) is not None
    )


def check_transfer_target(value: object) -> str:
    """Return ``value`` if it is an E.164 number or a SIP URI, else raise ValueError."""
    if is_e164(value) or is_sip_uri(value):
        return value  # type: ignore[return-value]  # narrowed by the checks above
    shown = repr(value)[:80]
    raise ValueError(
        f"a transfer target must be an E.164 number (+15551234567) or a SIP URI "
        f"(sip:agent@pbx.example.com), got {shown}"
    )


class TransferFallback(enum.StrEnum):
    """What happens to the call when the transfer request fails."""

    HANG_UP = "hang-up"
    """End the call (the default): a caller never stays with a dead bot."""
    LEAVE = "leave"
    """Leave the call as it is: for apps whose BXML goes on after the stream."""


@dataclass(frozen=True, slots=True)
class TransferRequest:
    """Hand the caller to a person: bridge the call to ``to`` after the goodbye plays.

    Parameters:
        to: One or more E.164 numbers or SIP URIs, rung together; the first to answer
            gets the caller.
        caller_id: The number the person sees (``transferCallerId``); None: the
            caller's own number, as Bandwidth does by default.
        timeout_secs: How long the targets ring (``callTimeout``); None: Bandwidth's
            default.
        fallback: What to do if the transfer request fails; None: the serializer's
            configured fallback.
    """

    to: tuple[str, ...]
    caller_id: str | None = None
    timeout_secs: float | None = None
    fallback: TransferFallback | None = None

    def __post_init__(self) -> None:
        targets = (self.to,) if isinstance(self.to, str) else tuple(self.to)
        if not targets:
            raise ValueError("a transfer needs at least one target")
        if len(targets) > MAX_TRANSFER_TARGETS:
            raise ValueError(f"a transfer rings at most {MAX_TRANSFER_TARGETS} targets")
        object.__setattr__(self, "to", tuple(check_transfer_target(t) for t in targets))
        if self.caller_id is not None and not is_e164(self.caller_id):
            raise ValueError(f"caller_id must be an E.164 number, got {self.caller_id!r:.80}")
        if self.timeout_secs is not None and not (
            isinstance(self.timeout_secs, int | float)
            and math.isfinite(self.timeout_secs)
            and 1 <= self.timeout_secs <= 300
        ):
            raise ValueError(f"timeout_secs must be 1-300 seconds, got {self.timeout_secs!r:.40}")
        if self.fallback is not None:
            object.__setattr__(self, "fallback", TransferFallback(self.fallback))
