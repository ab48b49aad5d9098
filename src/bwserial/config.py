"""Configuration: the pydantic ``InputParams`` and the environment overrides.

``InputParams`` is a superset of the documented ``pipecat-bandwidth`` fields, so
existing code keeps working; everything bwserial adds has a default. Errors are
pydantic ``ValidationError``s, which are ``ValueError``s that name the field.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from pipecat.serializers.base_serializer import FrameSerializer
from pydantic import ConfigDict, Field, field_validator, model_validator

# Re-exported for existing imports; they live in a Pipecat-free module.
from bwserial._env import ENV_DISABLE_PLUGINS as ENV_DISABLE_PLUGINS
from bwserial._env import ENV_PLUGINS as ENV_PLUGINS
from bwserial._env import env_list as env_list
from bwserial.call_control import TransferFallback

DEFAULT_OAUTH_TOKEN_URL: Final = "https://api.bandwidth.com/api/v1/oauth2/token"
DEFAULT_VOICE_API_BASE_URL: Final = "https://voice.bandwidth.com/api/v2"
DEFAULT_HANGUP_STRATEGY: Final = "voice-api"


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _redacted(url: str) -> str:
    """The URL for an error message, without a password it may embed."""
    password = urlsplit(url).password
    return url if password is None else url.replace(password, "<redacted>")


def check_endpoint_url(url: str, field: str) -> str:
    """Refuse to send credentials anywhere but https, or a loopback test server."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{field} must be an http(s) URL with a host, got {_redacted(url)!r}")
    if parts.scheme != "https" and not is_loopback_host(parts.hostname):
        raise ValueError(
            f"{field} must use https (plain http is only allowed on a loopback host "
            f"such as 127.0.0.1 for tests), got {_redacted(url)!r}"
        )
    if parts.username or parts.password:
        raise ValueError(f"{field} must not embed credentials")
    return url.rstrip("/")


class InputParams(FrameSerializer.InputParams):  # type: ignore[misc]
    """Configuration for :class:`~bwserial.BandwidthFrameSerializer`.

    Parameters:
        bandwidth_sample_rate: Rate of Bandwidth's PCMU audio. Always 8000 Hz.
        sample_rate: Pipeline input rate override; default: the rate the
            pipeline is set up with.
        outbound_encoding: Name of the codec for audio sent to the call:
            ``"PCMU"`` (8 kHz mu-law), ``"PCM"`` (16-bit linear at
            ``outbound_pcm_sample_rate``) or any codec a plugin registers.
        outbound_pcm_sample_rate: Wire rate for codecs with several rates
            (PCM: 8000, 16000 or 24000).
        auto_hang_up: End the phone call when the pipeline ends (EndFrame or
            CancelFrame). Needs call_id, account_id, client_id, client_secret.
        hangup: Name of the hang-up strategy (default ``"voice-api"``).
        oauth_token_url: OAuth 2.0 token endpoint (https, or loopback for tests).
        voice_api_base_url: Voice API base URL, up to and including ``/api/v2``.
        hangup_timeout_secs: Deadline for the whole hang-up, retries included.
        hangup_playout_wait_secs: On EndFrame, wait at most this long for audio
            already sent to finish playing before hanging up.
        hangup_min_request_secs: The share of ``hangup_timeout_secs`` kept for the
            hang-up requests, which no play-out wait may take (default: half the
            timeout, at most 2 s). Must not exceed ``hangup_timeout_secs``.
        disable_plugins: Plugin names to leave out of this serializer (built-ins
            included), on top of ``BWSERIAL_DISABLE_PLUGINS``. In-process plugin
            objects are not configuration: pass them as
            ``BandwidthFrameSerializer(..., plugins=[...])``.
        plugin_settings: Per-plugin settings, keyed by codec or strategy name;
            each factory receives its own entry.
        max_message_chars: Longest inbound WebSocket text frame that is parsed;
            a longer one is refused by its length alone (default 64 KiB, twice
            Bandwidth's largest ``start``).
        max_media_payload_secs: Longest audio one ``media`` message may carry
            (default 1 s; Bandwidth sends 20 ms); a longer payload is refused
            before it is decoded.
        transfer: Name of the transfer strategy a ``TransferFrame`` uses. None (the
            default): the built-in ``"voice-api"`` when bandwidth-sdk is installed,
            else transfers are refused (the fallback applies). Naming one that
            cannot work (``"voice-api"`` without bandwidth-sdk) is a ``ValueError``
            at construction.
        transfer_fallback: What happens when a transfer request fails and the
            ``TransferRequest`` names no fallback: ``"hang-up"`` (default) or
            ``"leave"``.
    """

    # Validation errors end up in logs: never echo a rejected value (URLs may embed
    # credentials); each validator's own message shows what is safe to show.
    model_config = ConfigDict(hide_input_in_errors=True)

    bandwidth_sample_rate: int = 8000
    sample_rate: int | None = None
    outbound_encoding: str = "PCMU"
    outbound_pcm_sample_rate: int = 24000
    auto_hang_up: bool = True
    hangup: str = DEFAULT_HANGUP_STRATEGY
    oauth_token_url: str = DEFAULT_OAUTH_TOKEN_URL
    voice_api_base_url: str = DEFAULT_VOICE_API_BASE_URL
    hangup_timeout_secs: float = Field(default=10.0, gt=0, le=300)
    hangup_playout_wait_secs: float = Field(default=3.0, ge=0, le=60)
    hangup_min_request_secs: float | None = Field(default=None, gt=0, le=300)
    disable_plugins: list[str] = Field(default_factory=list)
    plugin_settings: dict[str, dict[str, Any]] = Field(default_factory=dict)
    resampler_clear_after_secs: float | None = 0.2
    """Pipecat's (pipecat-ai 1.5+), declared here so every supported Pipecat accepts it;
    ignored: bwserial's codecs do not use Pipecat's resampler."""
    max_message_chars: int = Field(default=64 * 1024, ge=1024, le=64 * 1024 * 1024)
    max_media_payload_secs: float = Field(default=1.0, gt=0, le=60)
    transfer: str | None = None
    transfer_fallback: Literal["hang-up", "leave"] = TransferFallback.HANG_UP.value

    @model_validator(mode="before")
    @classmethod
    def _moved(cls, data: Any) -> Any:
        if isinstance(data, dict) and "extra_plugins" in data:
            raise ValueError(
                "InputParams.extra_plugins was removed: plugin objects are not configuration. "
                "Pass them to the serializer, BandwidthFrameSerializer(..., plugins=[...]), "
                "or to BandwidthRunner(..., plugins=[...])"
            )
        return data

    @field_validator("bandwidth_sample_rate")
    @classmethod
    def _bandwidth_rate(cls, value: int) -> int:
        if value != 8000:
            raise ValueError(f"Bandwidth media streams carry 8000 Hz audio, got {value}")
        return value

    @field_validator("sample_rate")
    @classmethod
    def _pipeline_rate(cls, value: int | None) -> int | None:
        if value is not None and not 8000 <= value <= 192000:
            raise ValueError(f"sample_rate must be between 8000 and 192000 Hz, got {value}")
        return value

    @field_validator("outbound_encoding", "hangup", "transfer")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.strip():
            raise ValueError("must name a registered plugin, got an empty string")
        return value.strip()

    @model_validator(mode="after")
    def _hangup_budget(self) -> InputParams:
        share = self.hangup_min_request_secs
        if share is not None and share > self.hangup_timeout_secs:
            raise ValueError(
                f"hangup_min_request_secs ({share}) must not exceed hangup_timeout_secs "
                f"({self.hangup_timeout_secs}): it is the share of the hang-up deadline kept "
                "for the requests"
            )
        return self

    @field_validator("oauth_token_url")
    @classmethod
    def _token_url(cls, value: str) -> str:
        return check_endpoint_url(value, "oauth_token_url")

    @field_validator("voice_api_base_url")
    @classmethod
    def _voice_url(cls, value: str) -> str:
        return check_endpoint_url(value, "voice_api_base_url")
