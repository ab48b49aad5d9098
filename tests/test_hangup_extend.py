"""Replacing and extending the hang-up without forking: a new strategy, or one step of the built-in."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from pipecat.frames.frames import EndFrame

from bwserial import BandwidthFrameSerializer, HangupOutcome, HangupStrategy, hookimpl
from bwserial.testing.fake_voice_api import FakeVoiceAPI
from bwserial.voiceapi import VoiceApiHangup
from bwserial.voiceapi import _oauth as oauth
from bwserial.voiceapi._http_pool import close_sessions
from bwtest_helpers import Recorder

Params = BandwidthFrameSerializer.InputParams


@pytest.fixture
async def api() -> AsyncIterator[FakeVoiceAPI]:
    oauth.clear_cache()
    async with FakeVoiceAPI(client_id="cid", client_secret="secret") as fake:
        yield fake
    await close_sessions()
    oauth.clear_cache()


class VaultHangup(VoiceApiHangup):
    """The built-in, except the bearer token comes from a secrets vault."""

    name = "vault-voice-api"
    vault: dict[str, str] = {}

    async def get_token(self, deadline: float) -> str:
        return self.vault["bandwidth-token"]


class VaultPlugin:
    bwserial_plugin_name = "vault-hangup"

    @hookimpl
    def bwserial_hangup_strategies(self):  # type: ignore[no-untyped-def]
        return [HangupStrategy("vault-voice-api", VaultHangup)]


async def test_a_subclass_changes_where_the_token_comes_from(api: FakeVoiceAPI) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            api.token_url,
            headers={"Authorization": aiohttp.encode_basic_auth("cid", "secret")},
            data={"grant_type": "client_credentials"},
        ) as response,
    ):
        VaultHangup.vault["bandwidth-token"] = (await response.json())["access_token"]
    recorder = Recorder()
    serializer = BandwidthFrameSerializer(
        "s",
        call_id="c-1",
        account_id="9900000",
        client_id="cid",
        client_secret="unused",
        params=Params(
            hangup="vault-voice-api",
            oauth_token_url=api.token_url,
            voice_api_base_url=api.voice_api_base_url,
        ),
        plugins=[VaultPlugin(), recorder],
    )
    await serializer.serialize(EndFrame())
    [hangup] = api.hangups
    assert hangup.token_serial == 1  # the vault's token, not a new one
    assert len(api.token_requests) == 1  # only the one the "vault" made
    [finished] = recorder.of("hangup_finished")
    assert finished["result"].outcome is HangupOutcome.COMPLETED
    assert finished["result"].strategy == "vault-voice-api"


class SipByeHangup:
    """A different strategy altogether: e.g. a SIP BYE through the app's own SBC."""

    sent: list[str] = []

    def __init__(self, config) -> None:  # type: ignore[no-untyped-def]
        self.config = config

    async def prepare(self) -> None:
        return None

    async def hang_up(self, request):  # type: ignore[no-untyped-def]
        from bwserial import HangupResult

        self.sent.append(self.config.call_id)
        return HangupResult(HangupOutcome.COMPLETED, status=None, attempts=1)

    async def close(self) -> None:
        return None


class SipPlugin:
    bwserial_plugin_name = "sip-bye"

    @hookimpl
    def bwserial_hangup_strategies(self):  # type: ignore[no-untyped-def]
        return [HangupStrategy("sip-bye", SipByeHangup)]


async def test_a_third_party_strategy_is_selected_by_name(api: FakeVoiceAPI) -> None:
    serializer = BandwidthFrameSerializer(
        "s",
        call_id="c-9",
        account_id="9900000",
        client_id="cid",
        client_secret="secret",
        params=Params(hangup="sip-bye"),
        plugins=[SipPlugin()],
    )
    await serializer.serialize(EndFrame())
    assert SipByeHangup.sent == ["c-9"]
    assert api.requests == []  # the built-in did not run
    assert serializer.hung_up
