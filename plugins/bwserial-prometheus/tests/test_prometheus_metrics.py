"""The metrics move with the call's events, read back from the default registry."""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass

import pytest
from bwserial import (
    BandwidthFrameSerializer,
    HangupConfig,
    HangupOutcome,
    HangupRequest,
    HangupResult,
    HangupStrategy,
    hookimpl,
)
from bwserial.testing.messages import media, start, stop
from pipecat.frames.frames import CancelFrame, InterruptionFrame, OutputAudioRawFrame
from prometheus_client import REGISTRY, generate_latest

import bwserial_prometheus

Params = BandwidthFrameSerializer.InputParams


@dataclass
class Setup:
    """Stands in for Pipecat's FrameProcessorSetup: the serializer reads the rates only."""

    audio_in_sample_rate: int = 16000
    audio_out_sample_rate: int = 24000


def value(name: str, **labels: str) -> float:
    """A sample's current value; 0 for a labelled series not created yet."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Deltas:
    """How much each sample moved since construction (metrics are never reset).

    Positional names are unlabelled samples; keywords name a (sample, labels) pair.
    """

    def __init__(self, *names: str, **labelled: tuple[str, dict[str, str]]) -> None:
        self.samples: dict[str, tuple[str, dict[str, str]]] = {
            name: (name, {}) for name in names
        } | labelled
        self.before = {key: value(name, **labels) for key, (name, labels) in self.samples.items()}

    def __call__(self) -> dict[str, float]:
        return {
            key: value(name, **labels) - self.before[key]
            for key, (name, labels) in self.samples.items()
        }


def serializer(stream_id: str = "stream-1") -> BandwidthFrameSerializer:
    return BandwidthFrameSerializer(stream_id, params=Params(auto_hang_up=False))


async def test_a_call_moves_every_stream_metric() -> None:
    deltas = Deltas(
        "bwserial_active_streams",
        "bwserial_streams_started_total",
        "bwserial_frames_in_total",
        "bwserial_frames_out_total",
        "bwserial_gap_frames_total",
        "bwserial_duplicate_frames_total",
        "bwserial_bad_messages_total",
        "bwserial_interruptions_total",
    )
    call = serializer()
    await call.setup(Setup())
    await call.deserialize(start())
    assert deltas()["bwserial_active_streams"] == 1
    for seq in (1, 2, 5, 5, 6):  # frames 3-4 lost, 5 repeated
        await call.deserialize(media(seq=seq))
    await call.deserialize("{not json")
    for _ in range(3):
        await call.serialize(OutputAudioRawFrame(b"\x10\x00" * 480, 24000, 1))
    await call.serialize(InterruptionFrame())
    assert deltas()["bwserial_frames_in_total"] == 0  # added at the stop, not per frame
    await call.deserialize(stop())
    assert deltas() == {
        "bwserial_active_streams": 0,
        "bwserial_streams_started_total": 1,
        "bwserial_frames_in_total": 4,
        "bwserial_frames_out_total": 3,
        "bwserial_gap_frames_total": 2,
        "bwserial_duplicate_frames_total": 1,
        "bwserial_bad_messages_total": 1,
        "bwserial_interruptions_total": 1,
    }


async def test_concurrent_streams_are_counted_separately() -> None:
    deltas = Deltas("bwserial_active_streams")
    calls = [serializer(f"stream-{i}") for i in range(3)]
    for i, call in enumerate(calls):
        await call.deserialize(start(stream_id=f"stream-{i}"))
    assert deltas() == {"bwserial_active_streams": 3}
    calls[1].notify_socket_closed()
    assert deltas() == {"bwserial_active_streams": 2}
    for call in calls:
        call.notify_socket_closed()
    assert deltas() == {"bwserial_active_streams": 0}


async def test_the_gauge_goes_down_exactly_once_per_stream() -> None:
    deltas = Deltas("bwserial_active_streams", "bwserial_frames_in_total")
    call = serializer()
    await call.setup(Setup())
    await call.deserialize(start())
    await call.deserialize(media(seq=1))
    await call.deserialize(stop())
    call.notify_socket_closed()  # the socket closing after the stop
    await call.deserialize(start())  # a repeated start, then a second stop
    await call.deserialize(stop())
    assert deltas() == {"bwserial_active_streams": 0, "bwserial_frames_in_total": 1}


async def test_a_stream_that_never_started_does_not_push_the_gauge_below_zero() -> None:
    deltas = Deltas("bwserial_active_streams")
    serializer().notify_socket_closed()
    assert deltas() == {"bwserial_active_streams": 0}


async def test_media_format_warnings_are_counted_by_kind() -> None:
    before = value("bwserial_stream_warnings_total", kind="media-format")
    call = serializer()
    await call.deserialize(start(encoding="audio/OPUS", rate=48000))
    assert value("bwserial_stream_warnings_total", kind="media-format") == before + 1
    call.notify_socket_closed()


class FixedHangup:
    """A hang-up whose result the test chooses: the metrics only see the result."""

    result = HangupResult(HangupOutcome.FAILED, status=503, attempts=2, seconds=0.2)

    def __init__(self, config: HangupConfig) -> None:
        self.config = config

    async def prepare(self) -> None:
        return None

    async def hang_up(self, request: HangupRequest) -> HangupResult:
        return self.result

    async def close(self) -> None:
        return None


class FixedHangupPlugin:
    bwserial_plugin_name = "fixed-hangup"

    @hookimpl
    def bwserial_hangup_strategies(self) -> list[HangupStrategy]:
        return [HangupStrategy("fixed", FixedHangup)]


async def test_hang_ups_are_counted_by_outcome_and_strategy_with_their_latency() -> None:
    labels = {"outcome": "failed", "strategy": "fixed"}
    deltas = Deltas(
        count=("bwserial_hangups_total", labels),
        observed=("bwserial_hangup_duration_seconds_count", labels),
        sum=("bwserial_hangup_duration_seconds_sum", labels),
        le_250ms=("bwserial_hangup_duration_seconds_bucket", labels | {"le": "0.25"}),
        le_100ms=("bwserial_hangup_duration_seconds_bucket", labels | {"le": "0.1"}),
    )
    call = BandwidthFrameSerializer(
        "stream-1",
        call_id="c-1",
        account_id="9900000",
        client_id="cid",
        client_secret="secret",
        params=Params(hangup="fixed"),
        plugins=[FixedHangupPlugin()],
    )
    await call.serialize(CancelFrame())
    assert deltas() == pytest.approx(
        {"count": 1, "observed": 1, "sum": 0.2, "le_250ms": 1, "le_100ms": 0}
    )


def test_the_metrics_are_on_the_default_registry_an_app_exposes() -> None:
    exposition = generate_latest(REGISTRY).decode()
    for name in (
        "bwserial_active_streams",
        "bwserial_frames_in_total",
        "bwserial_frames_out_total",
        "bwserial_gap_frames_total",
        "bwserial_duplicate_frames_total",
        "bwserial_bad_messages_total",
        "bwserial_interruptions_total",
        "# TYPE bwserial_hangups_total counter",
        "# TYPE bwserial_hangup_duration_seconds histogram",
    ):
        assert name in exposition


def test_importing_the_module_again_reuses_the_registered_metrics(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = bwserial_prometheus.FRAMES_IN
    assert importlib.reload(bwserial_prometheus).FRAMES_IN is first
    monkeypatch.delitem(sys.modules, "bwserial_prometheus")  # restored after the test
    fresh = importlib.import_module("bwserial_prometheus")
    assert fresh is not bwserial_prometheus
    assert fresh.FRAMES_IN is first and fresh.HANGUP_SECONDS is bwserial_prometheus.HANGUP_SECONDS


def test_a_clash_with_another_metric_type_is_still_an_error() -> None:
    from prometheus_client import Gauge

    with pytest.raises(ValueError, match="Duplicated timeseries"):
        bwserial_prometheus._metric(Gauge, "bwserial_frames_in", "not the same metric")
