"""The Voice webhook bodies a bot answers: call events and stream status events.

Only the fields the runner relies on are required; Bandwidth adds optional ones
(``uui``, ``diversion``, ``stirShaken``, ...) and may add more, so extra keys are kept,
not refused. These bodies are trusted only behind a checked Basic auth.
"""

from __future__ import annotations

from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bwserial.ids import check_id

__all__ = [
    "STREAMING_EVENTS",
    "STREAM_STATUS_EVENTS",
    "CallEvent",
    "InvalidCallEvent",
    "parse_call_event",
]

STREAMING_EVENTS: Final = frozenset({"initiate", "answer"})
"""``initiate``: an inbound call; ``answer``: an outbound call was picked up. Both expect
BXML back, and both carry the trusted ``callId``/``accountId``."""
STREAM_STATUS_EVENTS: Final = frozenset(
    {"mediaStreamStarted", "mediaStreamStopped", "mediaStreamRejected"}
)
"""Posted to ``<StartStream streamEventUrl>`` (Bandwidth's Voice webhook reference)."""


class InvalidCallEvent(ValueError):
    """The body is not a Voice webhook event; answer it with 400."""


class CallEvent(BaseModel):
    """A Voice webhook event, as far as a streaming bot needs it."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True)

    event_type: str = Field(alias="eventType")
    account_id: str = Field(alias="accountId")
    call_id: str = Field(alias="callId")
    application_id: str | None = Field(default=None, alias="applicationId")
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None
    direction: str | None = None
    cause: str | None = None
    """Stream status events only: why a stream stopped or was rejected."""

    @field_validator("account_id", mode="before")
    @classmethod
    def _account_id(cls, value: Any) -> Any:
        # A string in Bandwidth's spec, reported numeric on the wire: accept both.
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value

    @field_validator("account_id", "call_id")
    @classmethod
    def _url_safe(cls, value: str, info: Any) -> str:
        check_id(value, info.field_name)
        return value


def parse_call_event(body: Any) -> CallEvent:
    """Validate a decoded JSON body; raises :class:`InvalidCallEvent` with a short reason."""
    if not isinstance(body, dict):
        raise InvalidCallEvent("the body must be a JSON object")
    try:
        return CallEvent.model_validate(body)
    except ValidationError as e:
        fields = ", ".join(sorted({str(err["loc"][0]) for err in e.errors() if err["loc"]}))
        raise InvalidCallEvent(f"invalid or missing field(s): {fields}") from None
