"""Signed, expiring stream tokens: the call identity handed from the webhook to the WebSocket.

Bandwidth's ``start`` message is unauthenticated (anyone who reaches the WebSocket URL can
claim any ``callId``), while the ``initiate`` webhook, behind HTTP Basic auth, is the
trusted source of ``callId``/``accountId``. The webhook therefore signs that identity into
the ``<StartStream destination>`` URL, and the WebSocket handler believes only what the
signature covers. The token is stateless (HMAC-SHA256 with a shared secret), so the
webhook and the WebSocket may land on different worker processes or machines: every
worker needs the same secret, and nothing else.

Format: ``base64url(payload JSON) "." base64url(HMAC-SHA256(secret, domain + payload))``,
URL-safe without escaping. The payload carries the IDs, the expiry (Unix seconds) and a
random nonce, so no two tokens are alike even for the same call. A token is not single-use
(that needs shared state); its short lifetime bounds how long a leaked URL can open a
stream, and a stream opened with it can only ever hang up the call it was issued for.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "MAX_TOKEN_CHARS",
    "InvalidStreamToken",
    "StreamIdentity",
    "is_bandwidth_id",
    "sign_stream_token",
    "verify_stream_token",
]

MAX_TOKEN_CHARS: Final = 1024
"""Longer input is refused before any decoding work is done."""
MIN_SECRET_BYTES: Final = 16
_VERSION: Final = 1
_DOMAIN: Final = b"bwserial-stream-token-v1\x00"
"""Prefixed to the signed bytes, so a MAC made for anything else with the same secret
cannot pass as a stream token."""
_ID: Final = re.compile(r"[A-Za-z0-9._~-]{1,128}")
"""Bandwidth IDs are RFC 3986 unreserved characters, the same rule the serializer applies."""


def is_bandwidth_id(value: object) -> bool:
    """Whether ``value`` can be a call or account id: it becomes a Voice API URL path
    segment, so only unreserved characters, and not the dot-segments ``.`` and ``..``
    that would move the hang-up request to another resource."""
    return isinstance(value, str) and bool(_ID.fullmatch(value)) and value not in (".", "..")


class InvalidStreamToken(ValueError):
    """The token is malformed, forged, signed with another secret, or expired.

    ``reason`` is short and safe to log; it never contains the token or the secret.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(f"invalid stream token: {reason}")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class StreamIdentity:
    """The trusted call identity a valid token carries."""

    call_id: str
    account_id: str
    expires_at: float
    """Unix time after which the token no longer opens a stream."""
    nonce: str


def _key(secret: str | bytes) -> bytes:
    key = secret.encode() if isinstance(secret, str) else bytes(secret)
    if len(key) < MIN_SECRET_BYTES:
        raise ValueError(
            f"the stream-token secret must be at least {MIN_SECRET_BYTES} bytes "
            "(e.g. secrets.token_urlsafe(32))"
        )
    return key


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, payload: str) -> bytes:
    return hmac.new(key, _DOMAIN + payload.encode("ascii"), hashlib.sha256).digest()


def _check_id(value: str, name: str) -> None:
    if not is_bandwidth_id(value):
        raise ValueError(
            f"{name} must be 1-128 letters, digits or . _ ~ - (as Bandwidth IDs are); got {value!r}"
        )


def sign_stream_token(
    secret: str | bytes,
    call_id: str,
    account_id: str,
    ttl_secs: float,
    now: float | None = None,
) -> str:
    """Issue a token for one call, valid for ``ttl_secs`` from ``now`` (Unix time).

    Bandwidth opens the stream right after it reads the BXML, so a lifetime of a few
    minutes is plenty; the token is checked when the stream opens, not during the call.

    Raises:
        ValueError: a secret shorter than 16 bytes, a non-positive lifetime, or IDs that
            are not Bandwidth-shaped (they end up in a Voice API URL path).
    """
    key = _key(secret)
    _check_id(call_id, "call_id")
    _check_id(account_id, "account_id")
    if not ttl_secs > 0:
        raise ValueError(f"ttl_secs must be positive, got {ttl_secs}")
    issued = time.time() if now is None else now
    body = {
        "v": _VERSION,
        "c": call_id,
        "a": account_id,
        "e": math.ceil(issued + ttl_secs),
        "n": secrets.token_urlsafe(12),
    }
    payload = _b64encode(json.dumps(body, separators=(",", ":")).encode())
    return f"{payload}.{_b64encode(_mac(key, payload))}"


def verify_stream_token(
    secret: str | bytes, token: str, now: float | None = None
) -> StreamIdentity:
    """Check a token's signature, then its expiry, and return the identity it carries.

    The MAC is compared in constant time and checked before anything in the payload is
    parsed, so a forged token never reaches the JSON decoder.

    Raises:
        InvalidStreamToken: with ``reason`` one of ``"missing"``, ``"malformed"``,
            ``"bad signature"`` (tampered or another secret), ``"expired"``.
        ValueError: the secret itself is unusable (a configuration error).
    """
    key = _key(secret)
    if not token:
        raise InvalidStreamToken("missing")
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS or token.count(".") != 1:
        raise InvalidStreamToken("malformed")
    payload, _, signature = token.partition(".")
    try:
        presented = _b64decode(signature)
    except (ValueError, binascii.Error):
        raise InvalidStreamToken("malformed") from None
    if not hmac.compare_digest(presented, _mac(key, payload)):
        raise InvalidStreamToken("bad signature")
    try:
        body: Any = json.loads(_b64decode(payload))
        if not isinstance(body, dict) or body.get("v") != _VERSION:
            raise ValueError("unknown token version")
        call_id, account_id, expiry, nonce = body["c"], body["a"], body["e"], body["n"]
        _check_id(call_id, "call_id")
        _check_id(account_id, "account_id")
        if not isinstance(expiry, int) or not isinstance(nonce, str):
            raise ValueError("bad field types")
    except (ValueError, KeyError, binascii.Error, UnicodeDecodeError):
        # Signed by us but unreadable: only possible if the secret signed something else.
        raise InvalidStreamToken("malformed") from None
    current = time.time() if now is None else now
    if current >= expiry:
        raise InvalidStreamToken("expired")
    return StreamIdentity(call_id, account_id, float(expiry), nonce)
