"""The client secret and the bearer tokens never leak: logs, reprs, results, errors.

The hang-up is driven through its chattiest paths against the fake API (retries, a token
refresh, rate limiting, a hanging request, refused connections, rejected credentials, a
raising observer) while everything that could carry a secret is collected:

* every loguru record at TRACE and up, both as raw messages and rendered by a sink with
  ``backtrace`` and ``diagnose`` on (loguru's default), which prints local variables of
  every frame of a logged exception;
* every stdlib ``logging`` record at DEBUG and up (aiohttp logs there);
* the reprs and strings of the serializer, its ``HangupConfig``, the hang-up object,
  every result and hook argument, and every exception raised at construction or by the
  hang-up's building blocks.

Then neither the secret nor any token the fake issued (``oauth._tokens`` values) may
appear in any of it.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from loguru import logger
from pipecat.frames.frames import CancelFrame, EndFrame
from pydantic import SecretStr

from bwserial import BandwidthFrameSerializer, HangupOutcome, hookimpl
from bwserial.testing.fake_voice_api import HANG, FakeVoiceAPI, Response
from bwserial.voiceapi import VoiceApiHangup
from bwserial.voiceapi import _oauth as oauth
from bwserial.voiceapi._http_pool import close_sessions, get_session
from bwtest_helpers import Recorder, Setup

Params = BandwidthFrameSerializer.InputParams
SECRET = "Zq8-very-s3cret-client-value"


@pytest.fixture
async def api() -> AsyncIterator[FakeVoiceAPI]:
    oauth.clear_cache()
    async with FakeVoiceAPI(client_id="cid", client_secret=SECRET) as fake:
        yield fake
    await close_sessions()
    oauth.clear_cache()


class Leaks:
    """Everything collected during a test that must not contain a credential."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.tokens: set[str] = set()

    def add(self, *values: Any) -> None:
        for value in values:
            self.texts.append(value if isinstance(value, str) else f"{value!r} {value}")

    def remember_tokens(self) -> None:
        self.tokens.update(token.value for token in oauth._tokens.values())

    def assert_clean(self, rendered: str) -> None:
        everything = "\n".join([*self.texts, rendered])
        assert SECRET not in everything
        for token in self.tokens:
            assert token not in everything, "a bearer token leaked"


@pytest.fixture
def collected(caplog: pytest.LogCaptureFixture) -> Iterator[tuple[Leaks, io.StringIO]]:
    leaks = Leaks()
    rendered = io.StringIO()
    raw = logger.add(lambda m: leaks.add(m.record["message"]), level="TRACE", format="{message}")
    pretty = logger.add(
        rendered, level="TRACE", backtrace=True, diagnose=True, colorize=False, catch=False
    )
    caplog.set_level(logging.DEBUG)
    try:
        yield leaks, rendered
    finally:
        logger.remove(raw)
        logger.remove(pretty)
    leaks.add(caplog.text)


class RaisingObserver:
    """Raises from the hang-up hook, so a traceback with local variables gets logged."""

    bwserial_plugin_name = "raising-observer"

    @hookimpl
    def bwserial_hangup_finished(self, context, result):  # type: ignore[no-untyped-def]
        raise RuntimeError(f"observer failed on {result.outcome}")


def make(
    api: FakeVoiceAPI, call_id: str, secret: str | SecretStr = SECRET, **params: Any
) -> tuple[BandwidthFrameSerializer, Recorder]:
    params.setdefault("hangup_timeout_secs", 1.0)
    recorder = Recorder()
    serializer = BandwidthFrameSerializer(
        "stream-1",
        call_id=call_id,
        account_id="9900000",
        client_id="cid",
        client_secret=secret,
        params=Params(
            oauth_token_url=api.token_url,
            voice_api_base_url=api.voice_api_base_url,
            **params,
        ),
        plugins=[recorder, RaisingObserver()],
    )
    return serializer, recorder


async def test_no_credential_leaks_through_the_hang_up_paths(
    api: FakeVoiceAPI, collected: tuple[Leaks, io.StringIO]
) -> None:
    leaks, rendered = collected
    scenarios = [
        ("c-retry", lambda: api.script_call(503, Response(429, retry_after=0.05), 200)),
        ("c-refresh", api.expire_tokens),
        ("c-denied", lambda: api.script_call(403)),
        ("c-hang", lambda: api.script_call(*[HANG] * 20)),
        ("c-token-500", lambda: (oauth.clear_cache(), api.script_token(*[500] * 200))),
    ]
    serializers = []
    for call_id, break_api in scenarios:
        api.clear_scripts()
        break_api()
        serializer, recorder = make(api, call_id)
        serializers.append((serializer, recorder))
        await serializer.setup(Setup())
        await serializer.serialize(EndFrame() if call_id != "c-hang" else CancelFrame())
        leaks.remember_tokens()
    api.clear_scripts()

    # Rejected credentials, a SecretStr secret, and a socket that refuses connections.
    wrong, _ = make(api, "c-wrong", secret=SecretStr(SECRET + "-rotated"))
    await wrong.serialize(EndFrame())
    await api.refuse_connections()
    refused, _ = make(api, "c-refused", hangup_timeout_secs=0.5)
    await refused.serialize(EndFrame())
    serializers += [(wrong, Recorder()), (refused, Recorder())]

    outcomes = set()
    for serializer, recorder in serializers:
        hangup = serializer._runner._hangup  # type: ignore[attr-defined]
        assert isinstance(hangup, VoiceApiHangup)
        leaks.add(serializer, hangup, hangup.config, serializer.context)
        leaks.add(serializer._state)  # type: ignore[attr-defined]  # what plugins read from
        for name, kwargs in recorder.calls:
            leaks.add(name, *kwargs.values())
            if name == "hangup_finished":
                outcomes.add(kwargs["result"].outcome)
    assert outcomes == {HangupOutcome.COMPLETED, HangupOutcome.FAILED}  # both paths ran
    assert len(leaks.tokens) >= 2  # a refresh happened: several tokens to look for
    assert "Traceback" in rendered.getvalue()  # the diagnose sink did render a traceback
    leaks.assert_clean(rendered.getvalue())


async def test_construction_errors_never_carry_the_secret(
    collected: tuple[Leaks, io.StringIO],
) -> None:
    leaks, rendered = collected
    bad_calls: list[dict[str, Any]] = [
        {"call_id": "c/1"},
        {"account_id": "../x"},
        {"call_id": None},
        {"client_id": None},
        {"params": Params(hangup="no-such-strategy")},
        {"params": Params(outbound_encoding="no-such-codec")},
        {"params": {"oauth_token_url": "http://example.com/token"}},
        {"params": {"hangup_timeout_secs": -1}},
        {"params": "not params"},
        {"stream_id": ""},
    ]
    for overrides in bad_calls:
        kwargs: dict[str, Any] = {
            "stream_id": "stream-1",
            "call_id": "c-1",
            "account_id": "9900000",
            "client_id": "cid",
            "client_secret": SECRET,
            **overrides,
        }
        with pytest.raises(ValueError) as raised:
            BandwidthFrameSerializer(**kwargs)
        leaks.add(raised.value, repr(raised.value), *raised.value.args)
    leaks.assert_clean(rendered.getvalue())


async def test_the_hang_up_building_blocks_raise_without_credentials(
    api: FakeVoiceAPI, collected: tuple[Leaks, io.StringIO]
) -> None:
    """What the strategy catches internally (and a subclass might log) is clean too."""
    leaks, rendered = collected
    session = await get_session()
    timeout = aiohttp.ClientTimeout(total=1)
    token = await oauth.request_token(session, api.token_url, "cid", SecretStr(SECRET), timeout)
    leaks.tokens.add(token.value)
    leaks.add(token)
    errors: list[BaseException] = []
    try:
        await oauth.request_token(session, api.token_url, "cid", SecretStr(SECRET + "x"), timeout)
    except oauth.TokenError as e:
        errors.append(e)
    api.script_token(HANG)
    try:
        await oauth.request_token(
            session, api.token_url, "cid", SecretStr(SECRET), aiohttp.ClientTimeout(total=0.2)
        )
    except (aiohttp.ClientError, TimeoutError) as e:
        errors.append(e)
    serializer, _ = make(api, "c-1")
    hangup = serializer._runner._hangup  # type: ignore[attr-defined]
    api.script_call(HANG)
    try:
        await hangup.send_hangup(token.value, time.monotonic() + 0.2)
    except (aiohttp.ClientError, TimeoutError) as e:
        errors.append(e)
    await api.refuse_connections()
    try:
        await hangup.send_hangup(token.value, time.monotonic() + 0.5)
    except (aiohttp.ClientError, OSError) as e:
        errors.append(e)
    assert len(errors) == 4
    for error in errors:
        leaks.add(error, *error.args, getattr(error, "request_info", ""))
    leaks.assert_clean(rendered.getvalue())
