"""Signed, expiring stream tokens: the call identity handed from the webhook to the WebSocket.

Bandwidth's ``start`` message is unauthenticated (anyone who reaches the WebSocket URL can
claim any ``callId``), while the call webhook, behind HTTP Basic auth, is the trusted
source of ``callId``/``accountId``. The webhook therefore signs that identity into the
``<StartStream destination>`` URL, and the WebSocket handler believes only what the
signature covers. The token is stateless, so the webhook and the WebSocket may land on
different worker processes or machines: every worker needs the same secret, nothing else.

Signing is itsdangerous's (HMAC-SHA256, key derived with a salt that names the purpose
and the format version, signature checked in constant time before the payload is
decoded). A token reads ``v2.<payload>.<signature>``: the version is visible before any
decoding, so a token of another format (the hand-written v1 format of bwserial 0.1, or a
future one) fails with the reason ``"unsupported version"`` instead of a puzzling
``"bad signature"``; it is also part of the salt, so it cannot be changed without
breaking the signature. The payload holds the IDs, the expiry (Unix seconds) and a random
nonce, so no two tokens are alike even for the same call. A token is not single-use
(that needs shared state); its short lifetime bounds how long a leaked URL can open a
stream, and a stream opened with it can only ever hang up the call it was issued for.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import time
from dataclasses import dataclass
from typing import Any, Final

from itsdangerous import BadSignature, URLSafeSerializer

from bwserial.ids import check_id, is_bandwidth_id

__all__ = [
    "MAX_TOKEN_CHARS",
    "MIN_SECRET_BYTES",
    "TOKEN_VERSION",
    "InvalidStreamToken",
    "StreamIdentity",
    "sign_stream_token",
    "verify_stream_token",
]

MAX_TOKEN_CHARS: Final = 1024
"""Longer input is refused before any decoding work is done."""
MIN_SECRET_BYTES: Final = 16
TOKEN_VERSION: Final = 2
"""Version 1 was bwserial 0.1's hand-written HMAC format (``payload.signature``)."""
_PREFIX: Final = f"v{TOKEN_VERSION}."
_SALT: Final = f"bwserial-stream-token-v{TOKEN_VERSION}"
"""Keys the signature to this purpose: a value signed for anything else with the same
secret (another itsdangerous user in the app) cannot pass as a stream token."""


class InvalidStreamToken(ValueError):
    """The token is missing, malformed, forged, of another version, or expired.

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


def _serializer(secret: str | bytes) -> URLSafeSerializer:
    key = secret.encode() if isinstance(secret, str) else bytes(secret)
    if len(key) < MIN_SECRET_BYTES:
        raise ValueError(
            f"the stream-token secret must be at least {MIN_SECRET_BYTES} bytes "
            "(e.g. secrets.token_urlsafe(32))"
        )
    return URLSafeSerializer(key, salt=_SALT, signer_kwargs={"digest_method": hashlib.sha256})


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
    serializer = _serializer(secret)
    check_id(call_id, "call_id")
    check_id(account_id, "account_id")
    if call_id is None or account_id is None:
        raise ValueError("call_id and account_id are required")
    if not ttl_secs > 0 or not math.isfinite(ttl_secs):
        raise ValueError(f"ttl_secs must be positive and finite, got {ttl_secs}")
    issued = time.time() if now is None else now
    body = {
        "c": call_id,
        "a": account_id,
        "e": math.ceil(issued + ttl_secs),
        "n": secrets.token_urlsafe(12),
    }
    return _PREFIX + serializer.dumps(body)


def verify_stream_token(
    secret: str | bytes, token: str, now: float | None = None
) -> StreamIdentity:
    """Check a token's version, signature and expiry; return the identity it carries.

    Raises:
        InvalidStreamToken: with ``reason`` one of ``"missing"``, ``"malformed"``,
            ``"unsupported version"``, ``"bad signature"`` (tampered or another
            secret), ``"expired"``.
        ValueError: the secret itself is unusable (a configuration error).
    """
    serializer = _serializer(secret)
    if not token:
        raise InvalidStreamToken("missing")
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS or not token.isascii():
        raise InvalidStreamToken("malformed")
    if not token.startswith(_PREFIX):
        version, dot, _ = token.partition(".")
        versioned = dot and version[:1] == "v" and version[1:].isdigit()
        # v1 tokens had no prefix: two dot-separated parts, the second the signature.
        if versioned or token.count(".") == 1:
            raise InvalidStreamToken("unsupported version")
        raise InvalidStreamToken("malformed")
    try:
        body: Any = serializer.loads(token[len(_PREFIX) :])
    except BadSignature:
        raise InvalidStreamToken("bad signature") from None
    except Exception:  # signed by us, yet undecodable: only if the secret signed junk
        raise InvalidStreamToken("malformed") from None
    if not isinstance(body, dict):
        raise InvalidStreamToken("malformed")
    call_id, account_id, expiry, nonce = (body.get(k) for k in ("c", "a", "e", "n"))
    if not (
        is_bandwidth_id(call_id)
        and is_bandwidth_id(account_id)
        and isinstance(expiry, int)
        and isinstance(nonce, str)
    ):
        raise InvalidStreamToken("malformed")
    current = time.time() if now is None else now
    if current >= expiry:
        raise InvalidStreamToken("expired")
    return StreamIdentity(str(call_id), str(account_id), float(expiry), nonce)
