"""Bandwidth's side of a call before the media stream: the webhook and its BXML answer.

``bwserial demo`` plays Bandwidth end to end: it posts the ``initiate`` webhook the way
Bandwidth does (JSON, Basic auth), reads ``<StartStream>`` out of the BXML answer, and
only then opens the stream, with the URL and credentials the bot itself handed out. So
the demo exercises the same path as a real call, token included.
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

import aiohttp

from bwserial.demo.app import INITIATE_PATH
from bwserial.runner import basic_auth_header

__all__ = ["BxmlError", "StreamInstruction", "initiate_body", "parse_stream_bxml", "place_call"]


class BxmlError(ValueError):
    """The answer is not BXML that opens a bidirectional stream and keeps the call up."""


@dataclass(frozen=True, slots=True)
class StreamInstruction:
    """What Bandwidth takes from ``<StartStream>`` (and the verb after it)."""

    destination: str
    mode: str
    username: str | None
    password: str | None
    name: str | None
    pause_secs: float | None
    """Duration of a ``<Pause>`` right after the stream (None: the call would end at once)."""


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
    after = verbs[index + 1] if index + 1 < len(verbs) else None
    pause = (
        float(after.get("duration", "1")) if after is not None and after.tag == "Pause" else None
    )
    return StreamInstruction(
        destination=destination,
        mode=start.get("mode", "unidirectional"),
        username=start.get("destinationUsername"),
        password=start.get("destinationPassword"),
        name=start.get("name"),
        pause_secs=pause,
    )


async def place_call(
    base_url: str,
    *,
    call_id: str,
    account_id: str,
    username: str,
    password: str,
) -> StreamInstruction:
    """Post ``initiate`` to the bot's webhook and return the stream it asks for.

    Raises:
        BxmlError: the bot refused the webhook or answered without a usable stream.
    """
    headers = {"Authorization": basic_auth_header(username, password)}
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            base_url + INITIATE_PATH,
            json=initiate_body(call_id, account_id),
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=10),
        ) as response,
    ):
        text = await response.text()
        if response.status != 200:
            raise BxmlError(f"the webhook answered HTTP {response.status}: {text[:200]}")
        content_type = response.headers.get("Content-Type", "")
        if not content_type.startswith("application/xml"):
            raise BxmlError(f"the webhook answered {content_type!r}, not application/xml")
    return parse_stream_bxml(text)
