"""HTTP Basic auth, checked in constant time: the call webhook and the stream upgrade.

Bandwidth signs neither its webhooks nor its WebSocket upgrades: Basic credentials
configured on the voice application (webhooks) and in ``<StartStream
destinationUsername/destinationPassword>`` (the upgrade) are all that tells Bandwidth
apart from anyone else on the internet. Both halves are compared with
``secrets.compare_digest``, and both comparisons always run, so the response time does not
reveal whether the username alone was right.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from dataclasses import dataclass
from typing import Final

from pydantic import SecretStr

__all__ = ["REALM", "BasicAuth", "basic_auth_header", "basic_auth_ok"]

REALM: Final = "bwserial"
"""The realm a 401 answer names (``WWW-Authenticate: Basic realm="bwserial"``)."""


def _secret(password: SecretStr | str) -> str:
    return password.get_secret_value() if isinstance(password, SecretStr) else password


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
    user_ok = secrets.compare_digest(given_user, username.encode())
    password_ok = secrets.compare_digest(given_password, _secret(password).encode())
    return user_ok & password_ok


def basic_auth_header(username: str, password: SecretStr | str) -> str:
    """The ``Authorization`` value a client sends (tests and simulators playing Bandwidth)."""
    token = base64.b64encode(f"{username}:{_secret(password)}".encode()).decode("ascii")
    return "Basic " + token


@dataclass(frozen=True, slots=True)
class BasicAuth:
    """One pair of Basic credentials; the password never appears in a repr."""

    username: str
    password: SecretStr

    def __init__(self, username: str, password: SecretStr | str) -> None:
        if not username or not _secret(password):
            raise ValueError("Basic credentials need a non-empty username and password")
        object.__setattr__(self, "username", username)
        object.__setattr__(
            self, "password", password if isinstance(password, SecretStr) else SecretStr(password)
        )

    def check(self, header: str | None) -> bool:
        """Whether ``header`` (an ``Authorization`` value) carries these credentials."""
        return basic_auth_ok(header, self.username, self.password)

    def header(self) -> str:
        """The ``Authorization`` value that carries these credentials."""
        return basic_auth_header(self.username, self.password)
