"""Who gets hung up, and where the credentials go.

The ``start`` message is unauthenticated (PROTOCOL.md section 1): whatever it claims, the
hang-up goes to the call the serializer was created for. The IDs given at construction
become URL path segments of a privileged request, so anything that could move that
request to another resource is refused up front. And the credentials only ever travel
over https, or plain http to a loopback test server.
"""

from __future__ import annotations

import asyncio
import string
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pipecat.frames.frames import EndFrame

from bwserial import BandwidthFrameSerializer, HangupOutcome
from bwserial.testing.fake_voice_api import FakeVoiceAPI
from bwserial.testing.messages import media, start, stop
from bwserial.voiceapi import _oauth as oauth
from bwserial.voiceapi._http_pool import close_sessions
from bwtest_helpers import Recorder, Setup

Params = BandwidthFrameSerializer.InputParams
TRUSTED_PATH = "/api/v2/accounts/9900000/calls/c-trusted"


@pytest.fixture
async def api() -> AsyncIterator[FakeVoiceAPI]:
    oauth.clear_cache()
    async with FakeVoiceAPI(client_id="cid", client_secret="s3cret") as fake:
        yield fake
    await close_sessions()
    oauth.clear_cache()


def make(
    api: FakeVoiceAPI, call_id: str = "c-trusted", account_id: str = "9900000", **params: Any
) -> tuple[BandwidthFrameSerializer, Recorder]:
    recorder = Recorder()
    serializer = BandwidthFrameSerializer(
        "stream-1",
        call_id=call_id,
        account_id=account_id,
        client_id="cid",
        client_secret="s3cret",
        params=Params(
            oauth_token_url=api.token_url,
            voice_api_base_url=api.voice_api_base_url,
            hangup_timeout_secs=2.0,
            **params,
        ),
        plugins=[recorder],
    )
    return serializer, recorder


SPOOFS = {
    "other call": [start(call_id="c-victim")],
    "other account": [start(account_id="1111111")],
    "numeric account": [start(account_id=1111111, call_id="c-victim")],
    "other stream": [start(stream_id="stream-evil", call_id="c-victim", account_id="1111111")],
    "path tricks": [start(call_id="../../accounts/1111111/calls/c-victim", account_id="..")],
    "url tricks": [start(call_id="c-victim?state=active#x", account_id="%2e%2e")],
    "one start after another": [
        start(),
        start(call_id="c-victim-1"),
        stop(),
        start(call_id="c-victim-2", account_id="2222222"),
    ],
}


@pytest.mark.parametrize("spoof", list(SPOOFS))
async def test_a_spoofed_start_never_changes_the_hang_up_target(
    api: FakeVoiceAPI, spoof: str
) -> None:
    serializer, recorder = make(api)
    await serializer.setup(Setup())
    for seq, message in enumerate(SPOOFS[spoof], start=1):
        await serializer.deserialize(message)
        await serializer.deserialize(media(seq=seq))
    await serializer.serialize(EndFrame())
    assert [r.path for r in api.call_requests] == [TRUSTED_PATH]
    [hangup] = api.hangups
    assert (hangup.account_id, hangup.call_id) == ("9900000", "c-trusted")
    assert api.completed_calls == {"c-trusted"}
    # Hooks see the claim as the claim, and the trusted IDs as the call's.
    [finished] = recorder.of("hangup_finished")
    assert finished["result"].outcome is HangupOutcome.COMPLETED
    assert finished["context"].call_id == "c-trusted"
    assert serializer.call_id == "c-trusted"


# --------------------------------------------------------------------------- IDs

BAD_IDS = [
    "c-1/x",
    "c-1/../../accounts/other",
    "c-1?state=active",
    "c-1#frag",
    "c-1%2F",
    "%2e%2e",
    "..",  # a whole dot-segment: ".../calls/.." is normalised to ".../calls" by the client
    ".",
    "c 1",
    " c-1",
    "c-1 ",
    "c-ü",
    "\uff43-1",  # fullwidth letter c
    "c-1\r\nX-Injected: 1",
    "c-1\n",
    "c-1\t",
    "c-1\x00",
    "c-1;x",
    "c-1@host",
    "c-1\\x",
    "",
]


@pytest.mark.parametrize("field", ["call_id", "account_id"])
@pytest.mark.parametrize("bad", BAD_IDS)
def test_ids_with_url_meta_characters_are_rejected_at_construction(field: str, bad: str) -> None:
    ids = {"call_id": "c-1", "account_id": "9900000", field: bad}
    with pytest.raises(ValueError, match=field) as raised:
        BandwidthFrameSerializer("stream-1", client_id="cid", client_secret="s3cret-value", **ids)
    assert "s3cret-value" not in str(raised.value)


@pytest.mark.parametrize("bad", BAD_IDS[:-1])  # "" simply means "not given" without hang-up
def test_ids_are_checked_even_without_auto_hang_up(bad: str) -> None:
    with pytest.raises(ValueError, match="call_id"):
        BandwidthFrameSerializer("stream-1", call_id=bad, params=Params(auto_hang_up=False))


unreserved_ids = st.text(string.ascii_letters + string.digits + "._~-", min_size=1, max_size=12)


@settings(
    max_examples=60,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    call_id=unreserved_ids | st.sampled_from([".", "..", "...", "~", "-", "_.", ".a", "a.."]),
    account_id=unreserved_ids | st.sampled_from([".", "..", "9900000"]),
)
def test_an_accepted_id_pair_addresses_exactly_that_call(call_id: str, account_id: str) -> None:
    """Whatever the constructor accepts, the hang-up reaches exactly that call's URL and is
    reported as ended only when the API ended that call."""

    async def scenario() -> None:
        oauth.clear_cache()
        async with FakeVoiceAPI(client_id="cid", client_secret="s3cret") as fake:
            try:
                serializer, recorder = make(fake, call_id, account_id)
            except ValueError:
                return  # refused: fine
            await serializer.serialize(EndFrame())
            result = recorder.of("hangup_finished")[0]["result"]
            assert [(r.account_id, r.call_id) for r in fake.call_requests] == [
                (account_id, call_id)
            ], f"{call_id=!r} {account_id=!r} went to {[r.path for r in fake.requests]}"
            assert result.outcome is HangupOutcome.COMPLETED, result
        await close_sessions()

    asyncio.run(scenario())


# --------------------------------------------------------------------------- endpoints

OFF_LOOPBACK_HTTP = [
    "http://example.com",
    "http://10.0.0.1",
    "http://169.254.169.254",  # cloud metadata service
    "http://169.254.169.254/latest/meta-data/",
    "http://[::ffff:169.254.169.254]",
    "http://192.168.1.10:8080/api/v2",
    "http://0.0.0.0",
    "http://[::]",
    "http://localhost.example.com",
    "http://127.0.0.1.nip.io",
    "http://127.0.0.1@example.com",  # userinfo trick: the host is example.com
    "http://example.com#@127.0.0.1",
    "HTTP://EXAMPLE.COM",
    "ws://127.0.0.1",
    "ftp://127.0.0.1",
    "file:///etc/passwd",
    "//127.0.0.1",
    "127.0.0.1:8080",
    "https://user:pw@api.bandwidth.com",  # embedded credentials, even on https
    "http://user:pw@127.0.0.1",
]
LOOPBACK_OR_HTTPS = [
    "http://127.0.0.1:8080/api/v2",
    "http://127.0.0.2",
    "http://localhost:9000",
    "http://[::1]:8080",
    "https://test.api.bandwidth.com/api/v1/oauth2/token",
    "https://voice.bandwidth.com/api/v2",
]


@pytest.mark.parametrize("field", ["oauth_token_url", "voice_api_base_url"])
@pytest.mark.parametrize("url", OFF_LOOPBACK_HTTP)
def test_credentials_never_go_to_a_plain_http_or_odd_endpoint(field: str, url: str) -> None:
    with pytest.raises(ValueError, match=field):
        Params(**{field: url})


@pytest.mark.parametrize("field", ["oauth_token_url", "voice_api_base_url"])
@pytest.mark.parametrize("url", LOOPBACK_OR_HTTPS)
def test_https_and_loopback_http_endpoints_are_accepted(field: str, url: str) -> None:
    params = Params(**{field: url})
    serializer = BandwidthFrameSerializer(
        "stream-1", "c-1", "9900000", "cid", "s3cret", params=params
    )
    assert serializer.call_id == "c-1"


@pytest.mark.parametrize(
    "url",
    ["http://user:hunter2-pw@example.com/token", "https://user:hunter2-pw@api.bandwidth.com"],
)
def test_a_refused_endpoint_url_is_not_echoed_with_its_password(url: str) -> None:
    """Error messages end up in logs and CI output; a password in a rejected URL must not."""
    with pytest.raises(ValueError) as raised:
        Params(oauth_token_url=url)
    assert "hunter2-pw" not in str(raised.value)
