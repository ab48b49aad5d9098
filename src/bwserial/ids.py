"""The one rule for Bandwidth call and account IDs.

Both IDs become path segments of a privileged Voice API request
(``/accounts/{accountId}/calls/{callId}``), so they are checked wherever they enter
bwserial: the serializer's constructor, the signed stream token, the call webhook.
Only RFC 3986 unreserved characters pass (letters, digits, ``. _ ~ -``), so ``/``,
``?``, ``#`` or ``%`` can never move the request to another resource; the whole
dot-segments ``.`` and ``..`` are refused too, because HTTP clients normalise
``.../calls/..`` to ``.../accounts/{id}``.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["MAX_ID_CHARS", "check_id", "is_bandwidth_id"]

MAX_ID_CHARS: Final = 128
"""Bandwidth's IDs are far shorter (a call id is about 47 characters); the cap keeps a
hostile value from growing URLs and log lines."""

_UNRESERVED: Final = re.compile(r"[A-Za-z0-9._~-]+")


def is_bandwidth_id(value: object) -> bool:
    """Whether ``value`` can be a call or account id (see the module docstring)."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= MAX_ID_CHARS
        and _UNRESERVED.fullmatch(value) is not None
        and value not in (".", "..")
    )


def check_id(value: object, name: str) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value`` is None or a Bandwidth id.

    None passes because an ID is optional where the hang-up is off; callers that need
    one check for None themselves. The message shows the value with ``repr`` (so a
    control character cannot forge a log line) and never anything else.
    """
    if value is None or is_bandwidth_id(value):
        return
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, got {type(value).__name__}")
    shown = repr(value) if len(value) <= MAX_ID_CHARS else f"{value[:MAX_ID_CHARS]!r}..."
    raise ValueError(
        f"{name} must be 1-{MAX_ID_CHARS} letters, digits or . _ ~ - (RFC 3986 unreserved "
        f"characters, not . or ..); got {shown}"
    )
