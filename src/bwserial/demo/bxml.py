"""The BXML that answers an inbound call: open a bidirectional stream, keep the call up.

Built with the official ``bandwidth-sdk`` models rather than a string template, so
attribute names and XML escaping are Bandwidth's own (a token or password with ``&`` or
``"`` in it cannot break the document).
"""

from __future__ import annotations

from typing import Final

from bandwidth.models.bxml import Pause, Response, StartStream
from pydantic import SecretStr

__all__ = ["KEEP_CALL_UP_SECS", "STREAM_NAME", "stream_bxml"]

KEEP_CALL_UP_SECS: Final = 86400
"""``<StartStream>`` does not block: without a verb after it the call ends at once. The
longest ``<Pause>`` keeps it up until the bot hangs up through the Voice API."""
STREAM_NAME: Final = "bwserial-demo"


def stream_bxml(
    destination: str,
    *,
    auth: tuple[str, SecretStr] | None = None,
    name: str = STREAM_NAME,
) -> str:
    """``<Response><StartStream mode="bidirectional" .../><Pause duration="86400"/></Response>``.

    ``auth`` becomes ``destinationUsername``/``destinationPassword``, which Bandwidth sends
    as Basic credentials on the WebSocket upgrade.
    """
    username, password = auth if auth is not None else (None, None)
    start = StartStream(
        destination=destination,
        destination_username=username,
        destination_password=password.get_secret_value() if password is not None else None,
        stream_params=[],  # the SDK's default is a shared mutable list
        name=name,
        mode="bidirectional",
        tracks="inbound",
    )
    document: str = Response([start, Pause(duration=KEEP_CALL_UP_SECS)]).to_bxml()
    return document
