"""Bandwidth's side of a call before the media stream, pointed at the demo's webhook.

``bwserial demo`` plays Bandwidth end to end through :mod:`bwserial.testing.webhook`: it
posts the ``initiate`` webhook, reads ``<StartStream>`` out of the BXML answer, and only
then opens the stream, with the URL and credentials the bot itself handed out.
"""

from __future__ import annotations

from bwserial.demo.app import INITIATE_PATH
from bwserial.testing.webhook import (
    BxmlError,
    StreamInstruction,
    call_webhook,
    initiate_body,
    parse_stream_bxml,
)

__all__ = ["BxmlError", "StreamInstruction", "initiate_body", "parse_stream_bxml", "place_call"]


async def place_call(
    base_url: str,
    *,
    call_id: str,
    account_id: str,
    username: str,
    password: str,
) -> StreamInstruction:
    """Post ``initiate`` to the demo bot's webhook and return the stream it asks for.

    Raises:
        BxmlError: the bot refused the webhook or answered without a usable stream.
    """
    return await call_webhook(
        base_url + INITIATE_PATH,
        call_id=call_id,
        account_id=account_id,
        username=username,
        password=password,
    )
