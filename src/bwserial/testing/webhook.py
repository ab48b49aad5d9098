"""Bandwidth's side of a call before the media stream: the webhook and its BXML answer.

On a real call Bandwidth first posts the ``initiate`` webhook (JSON, HTTP Basic auth),
reads ``<StartStream>`` out of the BXML the app answers, and only then opens the stream,
with the URL and the ``destinationUsername``/``destinationPassword`` the app handed out.
Playing that step too tests what a stream-only test skips: the BXML itself, and the
signed token or credentials the app puts in it (PROTOCOL.md section 2).
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

from bwserial.basic_auth import basic_auth_header

__all__ = [
    "BxmlError",
    "StreamInstruction",
    "call_webhook",
    "dtmf_body",
    "initiate_body",
    "parse_stream_bxml",
]

_TIMEOUT_SECS = 10.0


class BxmlError(ValueError):
    """The answer is not BXML that opens a stream (or the webhook refused the call)."""


@dataclass(frozen=True, slots=True)
class StreamInstruction:
    """What Bandwidth takes from ``<StartStream>`` (and the verb after it)."""

    destination: str
    mode: str
    username: str | None
    password: str | None
    name: str | None
    pause_secs: float | None
    """Duration of the ``<Pause>`` that keeps the call up (None: the call would end at once)."""
    dtmf_url: str | None = None
    """``<StartGather dtmfUrl>``: where key presses are posted (None: no digits gathered)."""
    dtmf_username: str | None = None
    """``<StartGather username>``."""
    dtmf_password: str | None = None
    """``<StartGather password>``."""

    def __repr__(self) -> str:
        # The destination carries the stream token and the password opens the socket.
        return (
            f"StreamInstruction(mode={self.mode!r}, name={self.name!r}, "
            f"username={self.username!r}, pause_secs={self.pause_secs!r}, "
            f"gathers_digits={self.dtmf_url is not None})"
        )


def initiate_body(call_id: str, account_id: str, event_type: str = "initiate") -> dict[str, Any]:
    """An inbound-call webhook body with the fields Bandwidth sends (PROTOCOL.md section 2)."""
    now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {
        "eventType": event_type,
        "eventTime": now,
        "accountId": account_id,
        "applicationId": "04e88489-df02-4e34-a0ee-27a91849555f",
        "from": "+19195551234",
        "to": "+19195554321",
        "direction": "inbound",
        "callId": call_id,
        "callUrl": f"https://voice.bandwidth.com/api/v2/accounts/{account_id}/calls/{call_id}",
        "startTime": now,
    }


def dtmf_body(call_id: str, account_id: str, digit: str) -> dict[str, Any]:
    """A key-press webhook body (``eventType: "dtmf"``) as ``<StartGather>`` posts it."""
    body = initiate_body(call_id, account_id, "dtmf")
    body["digit"] = digit
    return body


def parse_stream_bxml(bxml: str) -> StreamInstruction:
    """Read the stream instruction out of a BXML answer; BxmlError if there is none."""
    try:
        root = ET.fromstring(bxml)
    except ET.ParseError as e:
        raise BxmlError(f"the answer is not XML: {e}") from None
    if root.tag != "Response":
        raise BxmlError(f"the root element is <{root.tag}>, not <Response>")
    verbs = list(root)
    index = next((i for i, verb in enumerate(verbs) if verb.tag == "StartStream"), None)
    if index is None:
        raise BxmlError("no <StartStream> in the answer")
    start = verbs[index]
    destination = start.get("destination")
    if not destination:
        raise BxmlError("<StartStream> has no destination")
    # Background verbs (<StartGather>) may sit between the stream and the <Pause>.
    rest = [verb for verb in verbs[index + 1 :] if verb.tag != "StartGather"]
    after = rest[0] if rest else None
    pause = (
        float(after.get("duration", "1")) if after is not None and after.tag == "Pause" else None
    )
    gather = next((verb for verb in verbs if verb.tag == "StartGather"), None)
    return StreamInstruction(
        destination=destination,
        mode=start.get("mode", "unidirectional"),
        username=start.get("destinationUsername"),
        password=start.get("destinationPassword"),
        name=start.get("name"),
        pause_secs=pause,
        dtmf_url=gather.get("dtmfUrl") if gather is not None else None,
        dtmf_username=gather.get("username") if gather is not None else None,
        dtmf_password=gather.get("password") if gather is not None else None,
    )


async def call_webhook(
    url: str,
    *,
    call_id: str,
    account_id: str,
    username: str | None = None,
    password: str | None = None,
    verify_tls: bool = True,
) -> StreamInstruction:
    """Post ``initiate`` to the app's call webhook, as Bandwidth does; return its stream.

    ``username``/``password`` are the voice application's Basic credentials (Bandwidth's
    webhooks carry no signature, only these).

    Raises:
        BxmlError: the webhook refused the call or answered without a usable stream.
    """
    import aiohttp

    headers = {}
    if username is not None or password is not None:
        headers["Authorization"] = basic_auth_header(username or "", password or "")
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                url,
                json=initiate_body(call_id, account_id),
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=_TIMEOUT_SECS),
                ssl=verify_tls,
            ) as response,
        ):
            text = await response.text()
            content_type = response.headers.get("Content-Type", "")
    except (aiohttp.ClientError, OSError, TimeoutError) as e:
        raise BxmlError(f"cannot reach the webhook: {e or type(e).__name__}") from None
    if response.status != 200:
        raise BxmlError(f"the webhook answered HTTP {response.status}: {text[:200]}")
    if not content_type.startswith(("application/xml", "text/xml")):
        raise BxmlError(f"the webhook answered {content_type!r}, not application/xml")
    return parse_stream_bxml(text)
