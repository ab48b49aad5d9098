"""Stream tokens: the only thing that carries a trusted call identity to the WebSocket."""

from __future__ import annotations

import base64
import json
import time

import pytest
from itsdangerous import URLSafeSerializer

from bwserial.runner import (
    MAX_TOKEN_CHARS,
    InvalidStreamToken,
    StreamIdentity,
    sign_stream_token,
    verify_stream_token,
)

SECRET = "x" * 32
OTHER_SECRET = "y" * 32
NOW = 1_800_000_000.0


def _reason(secret: str | bytes, token: str, now: float = NOW) -> str:
    with pytest.raises(InvalidStreamToken) as caught:
        verify_stream_token(secret, token, now=now)
    return caught.value.reason


def test_round_trip_returns_the_signed_identity() -> None:
    token = sign_stream_token(SECRET, "c-abc", "9900000", 60, now=NOW)
    identity = verify_stream_token(SECRET, token, now=NOW + 1)
    assert isinstance(identity, StreamIdentity)
    assert (identity.call_id, identity.account_id) == ("c-abc", "9900000")
    assert identity.expires_at == NOW + 60


def test_default_clock_is_now() -> None:
    token = sign_stream_token(SECRET.encode(), "c-abc", "9900000", 30)
    assert verify_stream_token(SECRET.encode(), token).expires_at > time.time()


def test_token_is_url_safe_and_unique_per_issue() -> None:
    first = sign_stream_token(SECRET, "c-abc", "9900000", 60, now=NOW)
    second = sign_stream_token(SECRET, "c-abc", "9900000", 60, now=NOW)
    assert first != second  # random nonce: the same call never gets the same token twice
    allowed = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
    assert set(first) <= allowed


@pytest.mark.parametrize(
    ("offset", "valid"), [(59.9, True), (60.0, False), (3600.0, False), (-5.0, True)]
)
def test_expiry(offset: float, valid: bool) -> None:
    token = sign_stream_token(SECRET, "c-abc", "9900000", 60, now=NOW)
    if valid:
        verify_stream_token(SECRET, token, now=NOW + offset)
    else:
        assert _reason(SECRET, token, now=NOW + offset) == "expired"


def test_wrong_secret_is_a_bad_signature() -> None:
    token = sign_stream_token(SECRET, "c-abc", "9900000", 60, now=NOW)
    assert _reason(OTHER_SECRET, token) == "bad signature"


def _tamper_payload(token: str, **changes: object) -> str:
    version, _, rest = token.partition(".")
    signature = rest.rsplit(".", 1)[1]
    _, body = URLSafeSerializer("unused").loads_unsafe(rest)  # the payload, unverified
    body.update(changes)
    forged = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=").decode()
    return f"{version}.{forged}.{signature}"


@pytest.mark.parametrize(
    "changes", [{"c": "c-victim"}, {"a": "1234567"}, {"e": 4_000_000_000}, {"n": "other"}]
)
def test_tampered_payload_is_refused(changes: dict[str, object]) -> None:
    token = sign_stream_token(SECRET, "c-abc", "9900000", 60, now=NOW)
    assert _reason(SECRET, _tamper_payload(token, **changes)) == "bad signature"


def test_tampered_signature_is_refused() -> None:
    token = sign_stream_token(SECRET, "c-abc", "9900000", 60, now=NOW)
    head, _, signature = token.rpartition(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    assert _reason(SECRET, f"{head}.{flipped}") == "bad signature"
    assert _reason(SECRET, f"{head}.") == "bad signature"


@pytest.mark.parametrize(
    "token",
    ["abc", "a.b.c", "v2.payload.sig!", "v2." + "x" * MAX_TOKEN_CHARS + ".y", "v2..", "é.é"],
)
def test_malformed_tokens(token: str) -> None:
    assert _reason(SECRET, token) in {"malformed", "bad signature"}


# A token in bwserial 0.1's hand-written format (payload.signature, version 1 inside).
V1_TOKEN = (
    "eyJ2IjoxLCJjIjoiYy1hYmMiLCJhIjoiOTkwMDAwMCIsImUiOjE4MDAwMDAwNjAsIm4iOiJub25jZSJ9"
    ".c2lnbmF0dXJlLW9mLXRoaXJ0eS10d28tYnl0ZXMtLS0tLS0"
)


@pytest.mark.parametrize("token", [V1_TOKEN, "v1." + V1_TOKEN, "v3.payload.signature"])
def test_tokens_of_another_version_fail_clearly(token: str) -> None:
    assert _reason(SECRET, token) == "unsupported version"


def test_the_version_is_visible_and_signed() -> None:
    token = sign_stream_token(SECRET, "c-abc", "9900000", 60, now=NOW)
    assert token.startswith("v2.")
    # Relabelling a v2 token as another version cannot make it pass as one.
    assert _reason(SECRET, "v3" + token[2:]) == "unsupported version"


def test_signed_with_itsdangerous_under_the_versioned_salt() -> None:
    """The library does the signing: a token is an itsdangerous token keyed by purpose."""
    import hashlib

    from itsdangerous import BadSignature, URLSafeSerializer

    token = sign_stream_token(SECRET, "c-abc", "9900000", 60, now=NOW)
    signer = {"digest_method": hashlib.sha256}
    ours = URLSafeSerializer(SECRET, salt="bwserial-stream-token-v2", signer_kwargs=signer)
    assert ours.loads(token[3:])["c"] == "c-abc"
    other_purpose = URLSafeSerializer(SECRET, salt="session", signer_kwargs=signer)
    with pytest.raises(BadSignature):
        other_purpose.loads(token[3:])
    # A value this app signs with the same secret for another purpose is no token.
    assert (
        _reason(SECRET, "v2." + other_purpose.dumps({"c": "c-x", "a": "1", "e": 2**40, "n": "n"}))
        == "bad signature"
    )


def test_missing_token() -> None:
    assert _reason(SECRET, "") == "missing"


def test_error_message_never_contains_the_token_or_secret() -> None:
    token = sign_stream_token(SECRET, "c-abc", "9900000", 60, now=NOW)
    with pytest.raises(InvalidStreamToken) as caught:
        verify_stream_token(OTHER_SECRET, token, now=NOW)
    assert token not in str(caught.value) and OTHER_SECRET not in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_short_secret_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        sign_stream_token("short", "c-abc", "9900000", 60)
    with pytest.raises(ValueError, match="at least 16 bytes"):
        verify_stream_token(b"short", "a.b")


@pytest.mark.parametrize("call_id", ["", "c/abc", "c?x", "c abc", "ç", ".", "..", "c" * 129])
def test_ids_must_be_bandwidth_shaped(call_id: str) -> None:
    with pytest.raises(ValueError, match="call_id"):
        sign_stream_token(SECRET, call_id, "9900000", 60)


def test_lifetime_must_be_positive() -> None:
    with pytest.raises(ValueError, match="ttl_secs"):
        sign_stream_token(SECRET, "c-abc", "9900000", 0)
