"""bwserial's pytest plugin: fixtures for a fake Bandwidth, registered through ``pytest11``.

Installing bwserial makes these fixtures available in every project's tests, the way
pytest-asyncio or pytest-httpserver do:

``fake_voice_api``
    A started :class:`~bwserial.testing.fake_voice_api.FakeVoiceAPI` on 127.0.0.1
    (credentials ``client-id``/``client-secret``). bwserial's per-process token cache is
    cleared before and after the test and its pooled HTTP sessions closed after it, so
    no token or connection leaks from one test's server into the next.
``make_fake_voice_api``
    The same with options: ``await make_fake_voice_api(latency=0.2, account_id="99")``
    (any ``FakeVoiceAPI`` argument); every server made is closed after the test.
``bandwidth_call``
    ``await bandwidth_call(url_or_server, script=None, *, path="/ws", hangup=None,
    **config)``: one simulated
    Bandwidth call over a real WebSocket (:func:`~bwserial.testing.simulator.simulate_call`),
    returning its :class:`~bwserial.testing.simulator.CallReport`. Without a script the
    bundled caller recording speaks, split into turns.
``bandwidth_stream``
    ``bandwidth_stream(serializer, **options)``: a
    :class:`~bwserial.testing.inprocess.SerializerCall` that delivers ``start``, media
    frames and ``stop`` straight to ``serializer.deserialize``, no socket.
``serve_bot``
    ``server = await serve_bot(app)``: an ASGI app (a FastAPI bot) served by uvicorn on a
    free port of 127.0.0.1 for the test's duration (needs the ``demo`` extra).

The async fixtures run on pytest-asyncio (in the test's event loop).

This module is imported at the start of every pytest run wherever bwserial is installed,
used or not, so it imports nothing heavy at module level (no aiohttp, numpy or Pipecat)
and has no autouse fixture and no hook with side effects. The entry point is named as
the module, so ``-p bwserial.testing.pytest_plugin`` (for runs with
``PYTEST_DISABLE_PLUGIN_AUTOLOAD``) is harmless when it is loaded already, and
``-p no:bwserial.testing.pytest_plugin`` disables it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

if TYPE_CHECKING:
    import asyncio

    from bwserial.serializer import BandwidthFrameSerializer
    from bwserial.testing.fake_voice_api import FakeVoiceAPI
    from bwserial.testing.inprocess import SerializerCall
    from bwserial.testing.server import RunningServer
    from bwserial.testing.simulator import CallReport, CallScript, Segment

__all__ = [
    "bandwidth_call",
    "bandwidth_stream",
    "fake_voice_api",
    "make_fake_voice_api",
    "serve_bot",
]

_F = TypeVar("_F", bound=Callable[..., Any])

try:  # pytest-asyncio runs async fixtures; without it they fail saying so.
    import pytest_asyncio

    _fixture_decorator: Any = pytest_asyncio.fixture
    _HAVE_PYTEST_ASYNCIO = True
except ImportError:  # pragma: no cover - exercised only without pytest-asyncio
    _fixture_decorator = pytest.fixture
    _HAVE_PYTEST_ASYNCIO = False


def _async_fixture(function: _F) -> _F:
    decorated: _F = _fixture_decorator(function)
    return decorated


def _needs_pytest_asyncio() -> None:
    if not _HAVE_PYTEST_ASYNCIO:  # pragma: no cover
        pytest.fail("bwserial's async fixtures need pytest-asyncio", pytrace=False)


async def _reset_voice_api_state() -> None:
    """Forget cached tokens and close pooled HTTP sessions: the one place that knows how.

    Per process and per event loop, bwserial keeps what every call shares; a test that
    points hang-ups at its own fake server must not inherit the previous one's.
    """
    from bwserial.voiceapi import aclose

    await aclose()


@_async_fixture
async def make_fake_voice_api() -> AsyncIterator[Callable[..., Awaitable[FakeVoiceAPI]]]:
    """Start fake Voice APIs with any ``FakeVoiceAPI`` options; all closed after the test."""
    _needs_pytest_asyncio()
    from bwserial.testing.fake_voice_api import FakeVoiceAPI

    started: list[FakeVoiceAPI] = []

    async def make(**options: Any) -> FakeVoiceAPI:
        api = FakeVoiceAPI(**options)
        await api.start()
        started.append(api)
        return api

    await _reset_voice_api_state()
    try:
        yield make
    finally:
        for api in started:
            await api.close()
        await _reset_voice_api_state()


@_async_fixture
async def fake_voice_api(
    make_fake_voice_api: Callable[..., Awaitable[FakeVoiceAPI]],
) -> FakeVoiceAPI:
    """A running fake Voice API on 127.0.0.1, credentials ``client-id``/``client-secret``."""
    return await make_fake_voice_api()


@pytest.fixture
def bandwidth_call() -> Callable[..., Awaitable[CallReport]]:
    """``await bandwidth_call(target, script=None, *, path="/ws", hangup=None, **config)``."""

    async def call(
        target: str | RunningServer,
        script: CallScript | Iterable[Segment] | None = None,
        *,
        path: str = "/ws",
        hangup: asyncio.Event | None = None,
        **config: Any,
    ) -> CallReport:
        from bwserial.testing import sample_caller_wav
        from bwserial.testing.simulator import SimulatorConfig, simulate_call
        from bwserial.testing.turns import script_from_wav

        url = target if isinstance(target, str) else target.ws_url(path)
        if script is None:
            script = script_from_wav(sample_caller_wav())
        return await simulate_call(SimulatorConfig(url=url, **config), script, hangup=hangup)

    return call


@pytest.fixture
def bandwidth_stream() -> Callable[..., SerializerCall]:
    """``bandwidth_stream(serializer, call_id=None, account_id=..., stream_params=None)``."""
    from bwserial.testing.inprocess import SerializerCall

    def stream(serializer: BandwidthFrameSerializer, **options: Any) -> SerializerCall:
        return SerializerCall(serializer, **options)

    return stream


@_async_fixture
async def serve_bot() -> AsyncIterator[Callable[..., Awaitable[RunningServer]]]:
    """``server = await serve_bot(app, host="127.0.0.1", port=0)``; stopped after the test."""
    _needs_pytest_asyncio()
    try:
        from bwserial.testing.server import serve
    except ImportError as e:
        pytest.fail(f"serve_bot needs the 'demo' extra ({e.name} is missing)", pytrace=False)

    async with contextlib.AsyncExitStack() as stack:

        async def start(app: Any, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
            return await stack.enter_async_context(serve(app, host, port))

        yield start
