"""Keypad digits: Bandwidth's ``dtmf`` webhook, checked, and the frame it becomes.

Bandwidth's media stream carries no DTMF. ``<StartGather dtmfUrl=...>`` in the answer
BXML makes Bandwidth post one ``dtmf`` event per key press (``eventType``, ``callId``,
``digit`` and the usual call fields) to that URL, with the Basic credentials the verb
names. The runner checks it here and delivers it through the call registry
(:mod:`bwserial.calls`) to the pipeline as Pipecat's ``InputDTMFFrame``.
"""

from __future__ import annotations

from typing import Any, Final

from bandwidth.models.bxml import StartGather

from bwserial.basic_auth import BasicAuth
from bwserial.calls import CallSignal
from bwserial.runner.webhook import InvalidCallEvent, parse_call_event

__all__ = [
    "DTMF_DIGITS",
    "DTMF_EVENT",
    "MAX_WEBHOOK_BYTES",
    "digit_signal",
    "start_gather",
]

DTMF_EVENT: Final = "dtmf"
"""The ``eventType`` of a key press (and the :class:`~bwserial.calls.CallSignal` kind)."""
DTMF_DIGITS: Final = frozenset("0123456789*#")
"""The keys of a phone keypad, Pipecat's ``KeypadEntry`` values. Bandwidth documents
these twelve; anything else (``A``-``D`` included) is refused."""
MAX_WEBHOOK_BYTES: Final = 16 * 1024
"""A ``dtmf`` body is a few hundred bytes; a larger one is refused unread (413)."""


def digit_signal(body: Any) -> CallSignal:
    """A decoded ``dtmf`` body as a signal; :class:`InvalidCallEvent` with a short
    reason for anything else (wrong ``eventType``, an ID outside the ID rule, a
    missing or unknown ``digit``)."""
    event = parse_call_event(body)
    if event.event_type != DTMF_EVENT:
        raise InvalidCallEvent(f"expected eventType {DTMF_EVENT!r}")
    digit = body.get("digit")
    if not isinstance(digit, str) or digit not in DTMF_DIGITS:
        raise InvalidCallEvent("digit must be one of 0-9, * or #")
    return CallSignal(event.call_id, DTMF_EVENT, {"digit": digit})


def start_gather(dtmf_url: str, auth: BasicAuth | None) -> StartGather:
    """``<StartGather dtmfUrl=... username=... password=...>``: one ``dtmf`` webhook per
    key press, with ``auth`` as its Basic credentials, for as long as the call lasts."""
    return StartGather(
        dtmf_url=dtmf_url,
        dtmf_method="POST",
        username=auth.username if auth is not None else None,
        password=auth.password.get_secret_value() if auth is not None else None,
    )
