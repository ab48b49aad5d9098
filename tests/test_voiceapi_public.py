"""``bwserial.voiceapi`` is the public edge of the Voice API: typed, documented, closable."""

from __future__ import annotations

import inspect
import subprocess
import sys
import textwrap

import bwserial.voiceapi as voiceapi
from bwserial.testing.fake_voice_api import FakeVoiceAPI
from bwserial.voiceapi import OAuthTokenProvider, VoiceApiHangup, aclose, get_session


def test_every_public_name_is_documented() -> None:
    for name in voiceapi.__all__:
        value = getattr(voiceapi, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert inspect.getdoc(value), f"bwserial.voiceapi.{name} has no docstring"


def test_the_overridable_steps_have_the_documented_signatures() -> None:
    assert list(inspect.signature(VoiceApiHangup.get_token).parameters) == ["self", "deadline"]
    assert list(inspect.signature(VoiceApiHangup.invalidate_token).parameters) == ["self", "token"]
    assert list(inspect.signature(VoiceApiHangup.send_hangup).parameters) == [
        "self",
        "token",
        "deadline",
    ]
    assert list(inspect.signature(VoiceApiHangup.backoff_secs).parameters) == ["self", "retry"]


async def test_aclose_closes_the_pooled_session_and_forgets_cached_tokens() -> None:
    async with FakeVoiceAPI(client_id="cid", client_secret="s3cret") as api:
        provider = OAuthTokenProvider(api.token_url, "cid", "s3cret")
        first = await provider.get_token()
        assert await provider.get_token() == first  # cached
        session = await get_session()
        await aclose()
        assert session.closed
        second = await provider.get_token()  # a new session, a new token
        assert second != first and api.tokens_issued == 2
        await aclose()
        await aclose()  # idempotent


def test_importing_it_does_not_import_pipecat() -> None:
    code = textwrap.dedent(
        """
        import sys
        import bwserial.voiceapi
        assert not any(m == "pipecat" or m.startswith("pipecat.") for m in sys.modules), "pipecat"
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
