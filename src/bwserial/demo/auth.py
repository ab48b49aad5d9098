"""HTTP Basic auth, checked in constant time, for the webhook and the stream upgrade.

Bandwidth signs neither its webhooks nor its WebSocket upgrades: Basic credentials
configured on the voice application (webhooks) and in ``<StartStream
destinationUsername/destinationPassword>`` (the upgrade) are all that tells Bandwidth
apart from anyone else on the internet. So both halves are compared with
``secrets.compare_digest``, and both comparisons always run, so the response time does not
reveal whether the username alone was right.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from typing import Final

from pydantic import SecretStr

__all__ = ["REALM", "basic_auth_header", "basic_auth_ok"]

REALM: Final = "bwserial-demo"


def basic_auth_ok(header: str | None, username: str, password: SecretStr | str) -> bool:
    """Whether an ``Authorization`` header carries exactly these Basic credentials."""
    scheme, _, value = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    given_user, sep, given_password = decoded.partition(b":")
    if not sep:
        return False
    expected = password.get_secret_value() if isinstance(password, SecretStr) else password
    user_ok = secrets.compare_digest(given_user, username.encode())
    password_ok = secrets.compare_digest(given_password, expected.encode())
    return user_ok & password_ok


def basic_auth_header(username: str, password: SecretStr | str) -> str:
    """The header value a client sends; used by the demo when it plays Bandwidth."""
    secret = password.get_secret_value() if isinstance(password, SecretStr) else password
    return "Basic " + base64.b64encode(f"{username}:{secret}".encode()).decode("ascii")
