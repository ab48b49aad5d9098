"""The demo bot's configuration: one pydantic model whose defaults run offline.

Every default is chosen so that ``DemoSettings()`` works on 127.0.0.1 with no account
and no cloud keys (the CLI points the Voice API URLs at the fake one). For a real
deployment, set at least the four credentials, ``token_secret`` (the same value on every
worker process) and ``public_url``, in code or as ``BWSERIAL_DEMO_<FIELD>`` environment
variables read by :meth:`DemoSettings.from_env` (what ``create_app()`` uses by default,
so ``uvicorn --workers 4 --factory bwserial.demo.app:create_app`` works).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Final

from loguru import logger
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from bwserial.call_control import check_transfer_target
from bwserial.config import (
    DEFAULT_OAUTH_TOKEN_URL,
    DEFAULT_VOICE_API_BASE_URL,
    check_endpoint_url,
)

__all__ = ["DEMO_ACCOUNT_ID", "ENV_PREFIX", "DemoSettings", "bundled_asset"]

DEMO_ACCOUNT_ID: Final = "9900000"
ENV_PREFIX: Final = "BWSERIAL_DEMO_"
"""``BWSERIAL_DEMO_TOKEN_SECRET``, ``BWSERIAL_DEMO_CLIENT_ID``, ... (field names, upper case)."""


def bundled_asset(name: str) -> Path:
    """Path of a WAV shipped in the wheel (``prompt.wav``, ``caller.wav``).

    The package is installed as files (hatchling wheels are not zip-safe imports here),
    so the resource is a real path the WAV reader and the simulator can open.
    """
    return Path(str(resources.files("bwserial.demo").joinpath("assets", name)))


def _random_secret() -> SecretStr:
    return SecretStr(secrets.token_urlsafe(32))


class DemoSettings(BaseModel):
    """Everything the demo bot needs, with defaults for a zero-configuration run.

    Parameters:
        host: Interface uvicorn binds (127.0.0.1: never exposed by default).
        port: TCP port; 0 picks a free one.
        public_url: Base URL Bandwidth reaches this app at (``https://bot.example.com``);
            the stream URL is derived from it (``wss://bot.example.com/ws``). None: taken
            from each webhook request's own URL, which is right on loopback and behind a
            proxy that forwards ``Host`` and ``X-Forwarded-Proto``.
        webhook_username: Basic-auth user Bandwidth's voice application sends.
        webhook_password: Its password.
        stream_username: ``destinationUsername`` put in the BXML and required on the
            WebSocket upgrade. None: no Basic auth on the stream (the token still is).
        stream_password: ``destinationPassword``.
        token_secret: HMAC key of the stream tokens. Random per process by default, which
            is right for one process; with several workers give them all the same value.
        token_ttl_secs: How long after the webhook answer the stream may open.
        client_id: OAuth client id for the Voice API hang-up.
        client_secret: OAuth client secret.
        oauth_token_url: Token endpoint (the fake one in the demo).
        voice_api_base_url: Voice API base (the fake one in the demo).
        turns: Caller turns the bot answers before it ends the call.
        prompt_wav: The answer the bot plays; None: the bundled ``prompt.wav``.
        sample_rate: Pipeline rate in and out. 8000 is the phone line's own rate, so
            no audio is resampled anywhere (Silero VAD runs at 8 or 16 kHz).
        vad_start_secs: Speech needed before a caller turn starts (and barges in).
        vad_stop_secs: Silence needed before a caller turn ends and the bot answers.
        vad_confidence: Silero speech probability threshold.
        start_timeout_secs: How long to wait for Bandwidth's ``start`` message; a stream
            that sends none in time hangs its call up.
        stream_start_timeout_secs: The webhook's safety net: hang up a call whose stream
            has not started in this process this long after the webhook answered. 0
            turns it off, as it must be with several workers (the stream usually starts
            on another one).
        call_log_size: Records of ended calls kept in memory (the most recent ones).
        outbound_encoding: Codec of the bot's audio (``PCMU`` or ``PCM``).
        transfer_key: The key that hands the caller to a person ("press 0").
        transfer_to: Where that transfer goes: an E.164 number or a SIP URI.
        call_registry_url: The call registry the workers share, so a keypad digit posted
            to any worker reaches the one holding the call (``redis://host:6379/0`` with
            ``bwserial-redis`` installed). None: ``BWSERIAL_CALL_REGISTRY_URL``, else
            in-process (right for one worker). A secret: it may carry a password.
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)
    public_url: str | None = None
    webhook_username: str = "bandwidth"
    webhook_password: SecretStr = SecretStr("demo-webhook-password")
    stream_username: str | None = "bandwidth-stream"
    stream_password: SecretStr | None = SecretStr("demo-stream-password")
    token_secret: SecretStr = Field(default_factory=_random_secret)
    token_ttl_secs: float = Field(default=300.0, gt=0, le=3600)
    client_id: str = "demo-client-id"
    client_secret: SecretStr = SecretStr("demo-client-secret")
    oauth_token_url: str = DEFAULT_OAUTH_TOKEN_URL
    voice_api_base_url: str = DEFAULT_VOICE_API_BASE_URL
    turns: int = Field(default=3, ge=1, le=1000)
    prompt_wav: Path | None = None
    sample_rate: int = 8000
    vad_start_secs: float = Field(default=0.2, gt=0, le=2)
    vad_stop_secs: float = Field(default=0.5, gt=0, le=5)
    vad_confidence: float = Field(default=0.7, gt=0, lt=1)
    start_timeout_secs: float = Field(default=10.0, gt=0, le=120)
    stream_start_timeout_secs: float = Field(default=15.0, ge=0, le=600)
    call_log_size: int = Field(default=1000, ge=1, le=1_000_000)
    outbound_encoding: str = "PCMU"
    transfer_key: str = Field(default="0", pattern=r"^[0-9*#]$")
    transfer_to: str = "+15550100000"
    call_registry_url: SecretStr | None = None

    @field_validator("transfer_to")
    @classmethod
    def _transfer_to(cls, value: str) -> str:
        return check_transfer_target(value)

    @field_validator("oauth_token_url", "voice_api_base_url")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        return check_endpoint_url(value, "Voice API endpoint")

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://", "ws://", "wss://")):
            raise ValueError(f"public_url must be an http(s) or ws(s) URL, got {value!r}")
        return value.rstrip("/") if value else value

    @field_validator("sample_rate")
    @classmethod
    def _rate(cls, value: int) -> int:
        if value not in (8000, 16000):
            raise ValueError(f"Silero VAD runs at 8000 or 16000 Hz, got {value}")
        return value

    @field_validator("token_secret")
    @classmethod
    def _secret(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value().encode()) < 16:
            raise ValueError("token_secret must be at least 16 bytes")
        return value

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> DemoSettings:
        """Settings from ``BWSERIAL_DEMO_*`` variables, then ``overrides``, then defaults.

        Empty variables count as unset. Without ``BWSERIAL_DEMO_TOKEN_SECRET`` each process
        signs with its own random secret, which breaks as soon as the webhook and the
        stream reach different workers, so that case is logged.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name in cls.model_fields:
            raw = env.get(ENV_PREFIX + name.upper())
            if raw:
                values[name] = raw
        values.update(overrides)
        if "token_secret" not in values:
            logger.warning(
                f"bwserial demo: {ENV_PREFIX}TOKEN_SECRET is not set; stream tokens are signed "
                "with a random per-process secret, valid on this worker only"
            )
        return cls.model_validate(values)

    def prompt_path(self) -> Path:
        return self.prompt_wav if self.prompt_wav is not None else bundled_asset("prompt.wav")

    def stream_auth(self) -> tuple[str, SecretStr] | None:
        """The stream's Basic credentials, or None when the stream has none."""
        if self.stream_username is None or self.stream_password is None:
            return None
        return self.stream_username, self.stream_password
