"""Bad configuration fails at construction with a message that says what to fix."""

from __future__ import annotations

import pytest

from bwserial import BandwidthFrameSerializer

Params = BandwidthFrameSerializer.InputParams
CREDS = {"call_id": "c-1", "account_id": "9900000", "client_id": "cid", "client_secret": "s3cr3t"}


def test_documented_defaults_and_inherited_fields() -> None:
    params = Params()
    assert params.bandwidth_sample_rate == 8000
    assert params.sample_rate is None
    assert params.outbound_encoding == "PCMU"
    assert params.outbound_pcm_sample_rate == 24000
    assert params.auto_hang_up is True
    assert params.ignore_rtvi_messages is True  # inherited from Pipecat's FrameSerializer


def test_properties() -> None:
    serializer = BandwidthFrameSerializer("s-1", **CREDS)
    assert serializer.stream_id == "s-1"
    assert serializer.call_id == "c-1"


def test_every_missing_credential_is_named_in_one_message() -> None:
    with pytest.raises(ValueError) as info:
        BandwidthFrameSerializer("s-1")
    message = str(info.value)
    for name in ("call_id", "account_id", "client_id", "client_secret"):
        assert name in message


def test_only_the_missing_ones_are_named() -> None:
    with pytest.raises(ValueError) as info:
        BandwidthFrameSerializer("s-1", call_id="c-1", account_id="1", client_id="x")
    assert "client_secret" in str(info.value)
    assert "call_id" not in str(info.value)


async def test_no_credentials_needed_without_auto_hang_up() -> None:
    serializer = BandwidthFrameSerializer("s-1", params=Params(auto_hang_up=False))
    assert serializer.call_id is None and serializer.hangup_state == "disabled"
    assert await serializer.hang_up() is None  # nothing to hang up with, and no error
    assert not serializer.hung_up


@pytest.mark.parametrize("bad", ["c-1/../../x", "c 1", "c?x=1", "c#1", "c%2F", "", "ç"])
@pytest.mark.parametrize("field", ["call_id", "account_id"])
def test_ids_outside_unreserved_characters_are_rejected(field: str, bad: str) -> None:
    creds = dict(CREDS, **{field: bad})
    with pytest.raises(ValueError, match=field):
        BandwidthFrameSerializer("s-1", **creds, params=Params(auto_hang_up=bool(bad)))


def test_unknown_encoding_lists_registered_codecs() -> None:
    with pytest.raises(ValueError) as info:
        BandwidthFrameSerializer("s-1", params=Params(auto_hang_up=False, outbound_encoding="OPUS"))
    assert "OPUS" in str(info.value)
    assert "PCM, PCMU" in str(info.value)


def test_encoding_name_is_case_insensitive() -> None:
    serializer = BandwidthFrameSerializer(
        "s-1", params=Params(auto_hang_up=False, outbound_encoding="pcm")
    )
    assert serializer.codec_name == "PCM"


@pytest.mark.parametrize("rate", [0, 11025, 44100, 48000])
def test_pcm_rate_outside_supported_is_rejected(rate: int) -> None:
    with pytest.raises(ValueError, match="8000, 16000, 24000"):
        BandwidthFrameSerializer(
            "s-1",
            params=Params(
                auto_hang_up=False, outbound_encoding="PCM", outbound_pcm_sample_rate=rate
            ),
        )


async def test_pcm_rate_is_not_checked_for_pcmu() -> None:
    import json

    from pipecat.frames.frames import OutputAudioRawFrame

    serializer = BandwidthFrameSerializer(
        "s-1", params=Params(auto_hang_up=False, outbound_pcm_sample_rate=44100)
    )
    assert serializer.codec_name == "PCMU"
    out = await serializer.serialize(OutputAudioRawFrame(b"\x00\x10" * 160, 8000, 1))
    assert out is not None and json.loads(out)["media"]["contentType"] == "audio/pcmu"


def test_a_request_share_within_the_deadline_is_accepted() -> None:
    params = Params(hangup_timeout_secs=4.0, hangup_min_request_secs=4.0)
    assert (params.hangup_timeout_secs, params.hangup_min_request_secs) == (4.0, 4.0)
    serializer = BandwidthFrameSerializer("s-1", **CREDS, params=params)
    assert serializer.hangup_state == "idle"


@pytest.mark.parametrize("share", [4.01, 0.0, -1.0])
def test_a_request_share_outside_the_deadline_is_refused(share: float) -> None:
    with pytest.raises(ValueError, match="hangup_min_request_secs"):
        Params(hangup_timeout_secs=4.0, hangup_min_request_secs=share)


def test_unknown_hangup_strategy_lists_registered() -> None:
    with pytest.raises(ValueError, match="voice-api"):
        BandwidthFrameSerializer("s-1", **CREDS, params=Params(hangup="carrier-pigeon"))


@pytest.mark.parametrize(
    "url",
    [
        "http://api.bandwidth.com/api/v1/oauth2/token",
        "ftp://127.0.0.1/x",
        "https://u:p@example.com/",
    ],
)
def test_non_https_endpoints_off_loopback_are_rejected(url: str) -> None:
    with pytest.raises(ValueError, match="oauth_token_url"):
        Params(oauth_token_url=url)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]"])
def test_plain_http_is_allowed_on_loopback(host: str) -> None:
    assert Params(voice_api_base_url=f"http://{host}:8080/api/v2/").voice_api_base_url == (
        f"http://{host}:8080/api/v2"
    )


def test_bandwidth_rate_must_be_8000() -> None:
    with pytest.raises(ValueError, match="8000"):
        Params(bandwidth_sample_rate=16000)


def test_secret_never_in_repr_or_errors() -> None:
    serializer = BandwidthFrameSerializer("s-1", **CREDS)
    assert "s3cr3t" not in repr(serializer)
    assert "s3cr3t" not in str(serializer)
    with pytest.raises(ValueError) as info:
        BandwidthFrameSerializer("s-1", **dict(CREDS, call_id="bad/id"))
    assert "s3cr3t" not in str(info.value)


def test_reference_style_params_object_is_accepted() -> None:
    from pipecat_bandwidth import BandwidthFrameSerializer as Reference

    params = Reference.InputParams(
        auto_hang_up=False, outbound_encoding="PCM", outbound_pcm_sample_rate=16000
    )
    serializer = BandwidthFrameSerializer("s-1", params=params)  # type: ignore[arg-type]
    assert serializer.codec_name == "PCM"


def test_a_numeric_account_id_is_a_clear_value_error() -> None:
    with pytest.raises(ValueError, match="account_id must be a string"):
        BandwidthFrameSerializer("s-1", **dict(CREDS, account_id=9900000))  # type: ignore[arg-type]
