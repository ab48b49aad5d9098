"""Observers: isolation whatever the order, rate-limited failure logs, per-call state, settings."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata
from typing import Any

import pluggy
import pytest

from bwserial import BandwidthFrameSerializer, hookimpl, hookspecs, plugins
from bwserial.testing.messages import media, start, stop
from bwtest_helpers import Recorder

Params = BandwidthFrameSerializer.InputParams


def make(*extra: object, **params: Any) -> BandwidthFrameSerializer:
    return BandwidthFrameSerializer(
        "stream-1",
        call_id="c-1",
        params=Params(auto_hang_up=False, **params),
        plugins=list(extra),
    )


class Raising:
    bwserial_plugin_name = "raising"

    @hookimpl
    def bwserial_stream_started(self, context, event):  # type: ignore[no-untyped-def]
        raise RuntimeError("observer bug: started")

    @hookimpl
    def bwserial_media_gap(self, context, gap):  # type: ignore[no-untyped-def]
        raise ZeroDivisionError("observer bug: gap")

    @hookimpl
    def bwserial_bad_message(self, context, message):  # type: ignore[no-untyped-def]
        raise KeyError("observer bug: bad")

    @hookimpl
    def bwserial_stream_stopped(self, context, event):  # type: ignore[no-untyped-def]
        raise ValueError("observer bug: stopped")


@dataclass(eq=False)
class SecondRecorder(Recorder):
    bwserial_plugin_name = "recorder-2"


@pytest.mark.parametrize("order", ["raising first", "raising last", "raising between"])
async def test_a_raising_observer_cannot_stop_the_others_whatever_the_order(order: str) -> None:
    before, after = Recorder(), SecondRecorder()
    extra = {
        "raising first": [Raising(), before, after],
        "raising last": [before, after, Raising()],
        "raising between": [before, Raising(), after],
    }[order]
    serializer = make(*extra)
    await serializer.deserialize(start(call_id="c-1"))
    await serializer.deserialize(media(seq=1))
    await serializer.deserialize(media(seq=3))
    await serializer.deserialize("{bad")
    await serializer.deserialize(stop())
    expected = ["stream_started", "media_gap", "bad_message", "stream_stopped"]
    assert before.names() == expected and after.names() == expected


async def test_ten_thousand_raising_events_write_one_record_with_name_and_message(logs) -> None:  # type: ignore[no-untyped-def]
    serializer = make(Raising())
    for _ in range(10_000):
        await serializer.deserialize("{bad")
    errors = [e for e in logs.at("ERROR") if "'raising'" in e]
    assert len(errors) == 1
    assert "KeyError" in errors[0] and "observer bug: bad" in errors[0]
    assert "bwserial_bad_message" in errors[0]
    # The traceback rides on a DEBUG record (the capture shows the exception after it).
    tracebacks = [d for d in logs.at("DEBUG") if "observer bug: bad" in d and "<traceback" in d]
    assert len(tracebacks) == 1  # the traceback at DEBUG, rate-limited like the record


async def test_the_limit_spans_calls_and_says_how_many_it_held_back(logs) -> None:  # type: ignore[no-untyped-def]
    from bwserial import _log

    now = [0.0]
    limiter = _log.RateLimiter(interval=10.0, clock=lambda: now[0])
    original = _log.log_repeated.__kwdefaults__["limiter"]
    _log.log_repeated.__kwdefaults__["limiter"] = limiter
    try:
        raising = Raising()
        for _ in range(50):  # fifty calls, one raising event each
            await make(raising).deserialize(start(call_id="c-1"))
        now[0] = 11.0
        await make(raising).deserialize(start(call_id="c-1"))
    finally:
        _log.log_repeated.__kwdefaults__["limiter"] = original
    errors = [e for e in logs.at("ERROR") if "'raising'" in e]
    assert len(errors) == 2
    assert errors[1].endswith("(49 more since the last one)")


# --------------------------------------------------------------------------- facade


def test_there_is_one_flag_per_event_hook_read_from_the_hookspecs() -> None:
    specs = {
        name
        for name in vars(hookspecs)
        if name.startswith("bwserial_") and hasattr(getattr(hookspecs, name), "bwserial_spec")
    }
    assert set(plugins.EVENT_HOOKS) == specs - set(plugins.REGISTRATION_HOOKS) - set(
        plugins.FACTORY_HOOKS
    )
    observers = make(Recorder())._observers  # type: ignore[attr-defined]
    for hook in plugins.EVENT_HOOKS:
        assert isinstance(getattr(observers, hook.removeprefix("bwserial_")), bool)
    assert observers.media_gap and observers.bad_message


def test_serializers_with_one_configuration_share_one_resolution() -> None:
    first, second = make(), make()
    assert first._plugins is second._plugins  # type: ignore[attr-defined]
    assert make(disable_plugins=["pcm"])._plugins is not first._plugins  # type: ignore[attr-defined]


def test_building_serializers_neither_rescans_nor_builds_a_plugin_manager(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Plugins are discovered once per process and resolved once per configuration:
    a construction is a lookup (docs/benchmarks.md has the time it takes)."""
    observer = Recorder()
    make(observer)  # this configuration is resolved here, once
    work: list[str] = []
    manager, scan = pluggy.PluginManager, metadata.entry_points

    def counting_manager(*args: Any, **kwargs: Any) -> pluggy.PluginManager:
        work.append("manager")
        return manager(*args, **kwargs)

    def counting_scan(*args: Any, **kwargs: Any) -> Any:
        work.append("scan")
        return scan(*args, **kwargs)

    monkeypatch.setattr(pluggy, "PluginManager", counting_manager)
    monkeypatch.setattr(metadata, "entry_points", counting_scan)
    for n in range(20):
        make(observer, plugin_settings={"recorder": {"n": n}})
        BandwidthFrameSerializer(
            f"s-{n}",
            call_id="c-1",
            account_id="a-1",
            client_id="i",
            client_secret="s",
            plugins=[observer],
        )
    assert work == []
    make(observer, disable_plugins=["pcm"])  # a new configuration: one manager, no rescan
    assert work == ["manager"]


# --------------------------------------------------------------------------- per-call state


class PerCall:
    """What an observer author writes for per-call state: a factory and a small class."""

    bwserial_plugin_name = "per-call"

    def __init__(self) -> None:
        self.finished: list[tuple[str | None, int, float]] = []

    class Call:
        def __init__(self, owner: PerCall, context: Any, threshold: float) -> None:
            self.owner, self.context, self.threshold = owner, context, threshold
            self.lost = 0

        def bwserial_media_gap(self, gap):  # type: ignore[no-untyped-def]
            self.lost += gap.missing

        def bwserial_stream_stopped(self):  # type: ignore[no-untyped-def]
            self.owner.finished.append((self.context.call_id, self.lost, self.threshold))

    @hookimpl
    def bwserial_call_observer(self, context, settings):  # type: ignore[no-untyped-def]
        return PerCall.Call(self, context, float(settings.get("threshold", 0.0)))


async def test_a_call_observer_keeps_state_per_call_and_gets_its_settings() -> None:
    plugin = PerCall()
    settings = {"Per_Call": {"threshold": 0.5}}  # matched like entry-point names
    calls = []
    for call_id in ("c-a", "c-b"):
        serializer = BandwidthFrameSerializer(
            "stream-1",
            call_id=call_id,
            params=Params(auto_hang_up=False, plugin_settings=settings),
            plugins=[plugin],
        )
        calls.append(serializer)
    for seq in (1, 5):  # call a loses 3 frames
        await calls[0].deserialize(media(seq=seq))
    for seq in (1, 2, 4):  # call b loses 1, interleaved
        await calls[1].deserialize(media(seq=seq))
    for serializer in reversed(calls):
        await serializer.deserialize(stop())
    assert plugin.finished == [("c-b", 1, 0.5), ("c-a", 3, 0.5)]


class BrokenFactory:
    bwserial_plugin_name = "broken-factory"

    @hookimpl
    def bwserial_call_observer(self, context):  # type: ignore[no-untyped-def]
        raise RuntimeError("factory bug")


async def test_a_raising_call_observer_factory_costs_only_itself(logs) -> None:  # type: ignore[no-untyped-def]
    recorder = Recorder()
    serializer = make(BrokenFactory(), recorder)
    await serializer.deserialize(start(call_id="c-1"))
    assert recorder.names() == ["stream_started"]
    assert any("'broken-factory'" in e and "factory bug" in e for e in logs.at("ERROR"))


# --------------------------------------------------------------------------- names


def test_disable_names_match_like_entry_point_names(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="registered: PCMU"):
        make(disable_plugins=["PCM"], outbound_encoding="PCM")
    monkeypatch.setenv("BWSERIAL_DISABLE_PLUGINS", "Voice_API")
    with pytest.raises(ValueError, match="hang-up strategy"):
        BandwidthFrameSerializer("s", call_id="c", account_id="a", client_id="i", client_secret="s")


def test_unknown_disable_names_warn_once_naming_the_known_plugins(
    monkeypatch: pytest.MonkeyPatch, logs
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("BWSERIAL_DISABLE_PLUGINS", "voice-apy")
    for _ in range(3):
        make(disable_plugins=["pcmx"])
    warnings = logs.at("WARNING")
    for typo in ("'voice-apy'", "'pcmx'"):
        [line] = [w for w in warnings if typo in w]
        assert "pcmu" in line and "voice-api" in line


def test_unknown_names_in_bwserial_plugins_warn_once(monkeypatch: pytest.MonkeyPatch, logs) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("BWSERIAL_PLUGINS", "jsonlogg")
    plugins.discover(refresh=True)
    make()
    [line] = [w for w in logs.at("WARNING") if "'jsonlogg'" in w]
    assert "BWSERIAL_PLUGINS" in line and "pcmu" in line
