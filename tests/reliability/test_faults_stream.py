"""Faults on the stream side: sockets that close without ``stop``, and hostile plugins."""

from __future__ import annotations

import gc
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from pipecat.frames.frames import (
    EndFrame,
    InputAudioRawFrame,
    InterruptionFrame,
    OutputAudioRawFrame,
)

from bwserial import BandwidthFrameSerializer, Codec, HangupStrategy, StopReason, hookimpl
from bwserial.testing.messages import media, start, stop
from bwtest_helpers import Recorder, ScriptedStrategyPlugin, Setup, tone

Params = BandwidthFrameSerializer.InputParams


def make(*plugins: object, **params: Any) -> tuple[BandwidthFrameSerializer, Recorder]:
    recorder = Recorder()
    serializer = BandwidthFrameSerializer(
        "stream-1",
        call_id="c-trusted",
        account_id="9900000",
        params=Params(auto_hang_up=False, **params),
        plugins=[*plugins, recorder],
    )
    return serializer, recorder


def stopped(recorder: Recorder) -> list[StopReason]:
    return [kwargs["event"].reason for kwargs in recorder.of("stream_stopped")]


# --------------------------------------------------------------------------- socket closed


async def test_a_socket_closed_without_stop_fires_the_stopped_hook_once() -> None:
    serializer, recorder = make()
    await serializer.setup(Setup())
    await serializer.deserialize(start())
    for seq in range(1, 6):
        await serializer.deserialize(media(seq=seq))
    serializer.notify_socket_closed()
    serializer.notify_socket_closed()  # the transport may report it from two places
    assert stopped(recorder) == [StopReason.SOCKET_CLOSED]
    [event] = recorder.of("stream_stopped")
    assert event["context"].frames_in >= 1  # the final counters
    assert event["context"].call_id == "c-trusted"


async def test_a_socket_closed_before_start_still_reports_the_end_once() -> None:
    serializer, recorder = make()
    serializer.notify_socket_closed()
    serializer.notify_socket_closed()
    assert stopped(recorder) == [StopReason.SOCKET_CLOSED]


async def test_stop_then_close_fires_the_stopped_hook_once() -> None:
    serializer, recorder = make()
    await serializer.setup(Setup())
    await serializer.deserialize(start())
    await serializer.deserialize(stop())
    await serializer.deserialize(stop())  # a repeated stop
    serializer.notify_socket_closed()
    assert stopped(recorder) == [StopReason.STOP_MESSAGE]


async def test_a_start_after_stop_does_not_make_the_stream_end_twice() -> None:
    """``bwserial_stream_stopped`` is "called at most once per serializer" (hookspecs):
    a metrics plugin counts ended streams with it. A ``start`` arriving after the ``stop``
    (a replayed or forged message; anyone reaching the socket can send one) must not
    re-arm it."""
    serializer, recorder = make()
    await serializer.setup(Setup())
    await serializer.deserialize(start())
    await serializer.deserialize(stop())
    await serializer.deserialize(start())
    await serializer.deserialize(stop())
    serializer.notify_socket_closed()
    assert stopped(recorder) == [StopReason.STOP_MESSAGE]
    assert len(recorder.of("stream_started")) == 1


# --------------------------------------------------------------------------- hostile plugins

ALL_EVENT_HOOKS = (
    "bwserial_stream_started",
    "bwserial_stream_stopped",
    "bwserial_stream_warning",
    "bwserial_media_gap",
    "bwserial_interruption",
    "bwserial_hangup_finished",
    "bwserial_bad_message",
)


class Raiser:
    """Raises in every hook, the registration hooks included."""

    bwserial_plugin_name = "raiser"

    @hookimpl
    def bwserial_codecs(self):  # type: ignore[no-untyped-def]
        raise RuntimeError("codecs boom")

    @hookimpl
    def bwserial_hangup_strategies(self):  # type: ignore[no-untyped-def]
        raise KeyError("strategies boom")

    @hookimpl
    def bwserial_stream_started(self, context, event):  # type: ignore[no-untyped-def]
        raise RuntimeError("started boom")

    @hookimpl
    def bwserial_stream_stopped(self, context, event):  # type: ignore[no-untyped-def]
        raise ValueError("stopped boom")

    @hookimpl
    def bwserial_stream_warning(self, context, warning):  # type: ignore[no-untyped-def]
        raise RuntimeError("warning boom")

    @hookimpl
    def bwserial_media_gap(self, context, gap):  # type: ignore[no-untyped-def]
        raise ZeroDivisionError("gap boom")

    @hookimpl
    def bwserial_interruption(self, context, event):  # type: ignore[no-untyped-def]
        raise RuntimeError("interruption boom")

    @hookimpl
    def bwserial_hangup_finished(self, context, result):  # type: ignore[no-untyped-def]
        raise RuntimeError("hangup boom")

    @hookimpl
    def bwserial_bad_message(self, context, message):  # type: ignore[no-untyped-def]
        raise RecursionError("bad message boom")


class Garbage:
    """Returns the wrong types: registrations that are not Codec/HangupStrategy objects,
    and values from event hooks (whose results are ignored)."""

    bwserial_plugin_name = "garbage"

    @hookimpl
    def bwserial_codecs(self):  # type: ignore[no-untyped-def]
        return [42, "PCMU", None, {"name": "PCMU"}, HangupStrategy("x", lambda c: None)]  # type: ignore[arg-type,return-value]

    @hookimpl
    def bwserial_hangup_strategies(self):  # type: ignore[no-untyped-def]
        return 3.14

    @hookimpl
    def bwserial_stream_started(self, context, event):  # type: ignore[no-untyped-def]
        return object()

    @hookimpl
    def bwserial_interruption(self, event):  # type: ignore[no-untyped-def]
        return [1, 2, 3]

    @hookimpl
    def bwserial_bad_message(self, message):  # type: ignore[no-untyped-def]
        return "ignored"


class AsyncEverywhere:
    """Every hook written as ``async def``: each call returns a coroutine nobody awaits."""

    bwserial_plugin_name = "async-hooks"

    @hookimpl
    async def bwserial_codecs(self):  # type: ignore[no-untyped-def]
        return []

    @hookimpl
    async def bwserial_hangup_strategies(self):  # type: ignore[no-untyped-def]
        return []

    @hookimpl
    async def bwserial_stream_started(self, context, event):  # type: ignore[no-untyped-def]
        return None

    @hookimpl
    async def bwserial_stream_stopped(self, context, event):  # type: ignore[no-untyped-def]
        return None

    @hookimpl
    async def bwserial_media_gap(self, context, gap):  # type: ignore[no-untyped-def]
        return None

    @hookimpl
    async def bwserial_interruption(self, context, event):  # type: ignore[no-untyped-def]
        return None

    @hookimpl
    async def bwserial_hangup_finished(self, context, result):  # type: ignore[no-untyped-def]
        return None

    @hookimpl
    async def bwserial_bad_message(self, context, message):  # type: ignore[no-untyped-def]
        return None


@pytest.fixture
def no_unawaited_coroutines() -> Iterator[list[warnings.WarningMessage]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield caught
        gc.collect()
    never_awaited = [w for w in caught if "never awaited" in str(w.message)]
    assert never_awaited == []


async def run_a_whole_call(serializer: BandwidthFrameSerializer) -> dict[str, Any]:
    """start, caller audio (with a gap), a bad message, bot audio, barge-in, end, stop."""
    await serializer.setup(Setup())
    await serializer.deserialize(start(stream_id="stream-other"))  # also a stream warning
    frames_in = []
    for seq in [*range(1, 26), *range(28, 51)]:  # frames 26 and 27 are lost
        frame = await serializer.deserialize(media(seq=seq))
        if frame is not None:
            frames_in.append(frame)
    assert await serializer.deserialize("{not json") is None
    bot = tone(440, 0.2, 24000)
    sent = [
        await serializer.serialize(OutputAudioRawFrame(bot[i : i + 1920], 24000, 1))
        for i in range(0, len(bot), 1920)
    ]
    cleared = await serializer.serialize(InterruptionFrame())
    assert await serializer.serialize(EndFrame()) is None
    await serializer.deserialize(stop())
    return {"frames_in": frames_in, "sent": sent, "cleared": cleared}


async def test_a_plugin_raising_in_every_hook_does_not_break_the_call(
    logs, no_unawaited_coroutines
) -> None:  # type: ignore[no-untyped-def]
    hangups = ScriptedStrategyPlugin()
    recorder = Recorder()
    serializer = BandwidthFrameSerializer(
        "stream-1",
        call_id="c-trusted",
        account_id="9900000",
        client_id="cid",
        client_secret="s3cret",
        params=Params(
            hangup="scripted",
        ),
        plugins=[Raiser(), Garbage(), AsyncEverywhere(), hangups, recorder],
    )
    call = await run_a_whole_call(serializer)

    # The call itself went through: audio in and out, barge-in, hang-up.
    assert len(call["frames_in"]) >= 40
    assert all(isinstance(f, InputAudioRawFrame) and f.audio for f in call["frames_in"])
    assert all(isinstance(m, str) and '"playAudio"' in m for m in call["sent"] if m)
    assert sum(1 for m in call["sent"] if m) >= 4
    assert call["cleared"] == '{"eventType":"clear"}'
    assert serializer.hung_up and len(hangups.log) >= 1

    # A well-behaved observer next to them saw every event.
    names = set(recorder.names())
    assert {
        "stream_started",
        "stream_warning",
        "media_gap",
        "bad_message",
        "interruption",
        "hangup_finished",
        "stream_stopped",
    } <= names

    # Each failure is in the log, naming the plugin and the hook.
    problems = logs.at("ERROR") + logs.at("WARNING")
    for hook in ("bwserial_codecs", "bwserial_hangup_strategies", *ALL_EVENT_HOOKS):
        assert any("'raiser'" in m and hook in m for m in problems), f"raiser/{hook} not logged"
    for hook in ("bwserial_codecs", "bwserial_hangup_strategies"):
        assert any("'garbage'" in m and hook in m for m in problems), f"garbage/{hook} not logged"
    for hook in ("bwserial_codecs", "bwserial_stream_started", "bwserial_interruption"):
        assert any("'async-hooks'" in m and hook in m for m in problems), hook


class GeneratorRegistrations:
    """Registration hooks written as generators (``yield Codec(...)``), which fail halfway.

    The call to the hook succeeds (it only creates the generator); the exception comes
    out while bwserial iterates it, and must be treated like any other plugin failure.
    """

    bwserial_plugin_name = "generator"

    @hookimpl
    def bwserial_codecs(self):  # type: ignore[no-untyped-def]
        yield Codec("broken", (8000,), lambda rate: "audio/x", lambda options: None)  # type: ignore[arg-type,return-value]
        raise RuntimeError("codec table is corrupt")

    @hookimpl
    def bwserial_hangup_strategies(self):  # type: ignore[no-untyped-def]
        yield from ()
        raise OSError("cannot read strategies")


async def test_a_registration_generator_that_raises_does_not_break_the_call(logs) -> None:  # type: ignore[no-untyped-def]
    hangups = ScriptedStrategyPlugin()
    serializer = BandwidthFrameSerializer(  # must not raise
        "stream-1",
        call_id="c-trusted",
        account_id="9900000",
        client_id="cid",
        client_secret="s3cret",
        params=Params(hangup="scripted"),
        plugins=[GeneratorRegistrations(), hangups],
    )
    await serializer.setup(Setup())
    await serializer.deserialize(start())
    frame = await serializer.deserialize(media(seq=1))
    assert frame is not None or await serializer.deserialize(media(seq=2)) is not None
    await serializer.serialize(EndFrame())
    assert serializer.hung_up
    errors = logs.at("ERROR")
    assert any("'generator'" in m and "bwserial_codecs" in m for m in errors)
    assert any("'generator'" in m and "bwserial_hangup_strategies" in m for m in errors)
