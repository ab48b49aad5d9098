"""The BXML that answers a call: open an authenticated bidirectional stream, keep the call up.

Built with the official ``bandwidth-sdk`` models rather than a string template, so
attribute names and XML escaping are Bandwidth's own (a token or password with ``&`` or
``"`` in it cannot break the document).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from bandwidth.models.bxml import Pause, Response, StartStream, Verb

from bwserial.basic_auth import BasicAuth

__all__ = ["KEEP_CALL_UP_SECS", "STREAM_NAME", "stream_bxml", "stream_destination"]

KEEP_CALL_UP_SECS: Final = 86400
"""``<StartStream>`` does not block: without a verb after it the call ends at once. The
longest ``<Pause>`` keeps it up until the bot hangs up through the Voice API."""
STREAM_NAME: Final = "bwserial"


def stream_destination(base_url: str, path: str, token: str) -> str:
    """The ``destination`` URL: ``base_url`` + ``path`` with the token in it.

    ``path`` either holds a ``{token}`` placeholder (``"/ws/{token}"``: the token is a
    path segment) or gets ``?token=...`` appended. ``http``/``https`` become
    ``ws``/``wss``. Tokens are URL-safe as they are.
    """
    scheme, sep, rest = base_url.rstrip("/").partition("://")
    ws_scheme = {"http": "ws", "https": "wss"}.get(scheme, scheme)
    if "{token}" in path:
        return f"{ws_scheme}{sep}{rest}{path.replace('{token}', token)}"
    joiner = "&" if "?" in path else "?"
    return f"{ws_scheme}{sep}{rest}{path}{joiner}token={token}"


def stream_bxml(
    destination: str,
    *,
    auth: BasicAuth | None,
    name: str = STREAM_NAME,
    stream_event_url: str | None = None,
    event_auth: BasicAuth | None = None,
    extra_verbs: Sequence[Verb] = (),
    keep_call_up_secs: int = KEEP_CALL_UP_SECS,
) -> str:
    """``<Response><StartStream mode="bidirectional" .../>[extra]<Pause/></Response>``.

    Args:
        destination: The stream URL, token included (:func:`stream_destination`).
        auth: Becomes ``destinationUsername``/``destinationPassword``, which Bandwidth
            sends as Basic credentials on the WebSocket upgrade. Required by name: pass
            None only knowingly (anyone holding a leaked URL could then open the stream).
        name: The stream's name (unique per call).
        stream_event_url: Where Bandwidth posts ``mediaStreamStarted/Stopped/Rejected``.
        event_auth: Basic credentials Bandwidth sends to ``stream_event_url`` (which
            Bandwidth then requires to be https).
        extra_verbs: ``bandwidth.models.bxml`` verbs placed after ``<StartStream>``
            and before the ``<Pause>``, e.g. ``StartGather`` for DTMF digits.
        keep_call_up_secs: The ``<Pause>`` that keeps the call up.
    """
    start = StartStream(
        destination=destination,
        destination_username=auth.username if auth is not None else None,
        destination_password=auth.password.get_secret_value() if auth is not None else None,
        stream_params=[],  # the SDK's default is a shared mutable list
        name=name,
        mode="bidirectional",
        tracks="inbound",
        stream_event_url=stream_event_url,
        stream_event_method="POST" if stream_event_url else None,
        username=event_auth.username if event_auth and stream_event_url else None,
        password=(
            event_auth.password.get_secret_value() if event_auth and stream_event_url else None
        ),
    )
    verbs: list[Verb] = [start, *extra_verbs, Pause(duration=keep_call_up_secs)]
    document: str = Response(verbs).to_bxml()
    return document
