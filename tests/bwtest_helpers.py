"""Plugins and signal helpers used across tests (importable: tests/ is on sys.path)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bwserial import (
    HangupOutcome,
    HangupRequest,
    HangupResult,
    HangupStrategy,
    hookimpl,
)
from bwserial.types import HangupConfig


def tone(freq: float, secs: float, rate: int, amplitude: float = 0.5) -> bytes:
    t = np.arange(int(secs * rate)) / rate
    return (np.sin(2 * math.pi * freq * t) * amplitude * 32767).astype("<i2").tobytes()


def pcm_array(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype="<i2").astype(np.float64)


def tone_snr_db(signal: np.ndarray, freq: float, rate: int, skip_secs: float = 0.02) -> float:
    """SNR of a recorded tone: least-squares fit of the tone (any phase), residual = noise.

    Phase-independent, so resampler delays (even fractional) do not count as noise.
    """
    skip = int(skip_secs * rate)
    x = signal[skip : len(signal) - skip]
    t = np.arange(len(x)) / rate
    basis = np.column_stack(
        [np.sin(2 * math.pi * freq * t), np.cos(2 * math.pi * freq * t), np.ones_like(t)]
    )
    coeffs, *_ = np.linalg.lstsq(basis, x, rcond=None)
    fitted = basis @ coeffs
    noise = x - fitted
    return 10 * math.log10(float(np.dot(fitted, fitted)) / max(float(np.dot(noise, noise)), 1e-9))


@dataclass
class Recorder:
    """An observer plugin that records every event hook call."""

    bwserial_plugin_name = "recorder"
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def of(self, name: str) -> list[dict[str, Any]]:
        return [kwargs for n, kwargs in self.calls if n == name]

    @hookimpl
    def bwserial_stream_started(self, context, event):  # type: ignore[no-untyped-def]
        self.calls.append(("stream_started", {"context": context, "event": event}))

    @hookimpl
    def bwserial_stream_stopped(self, context, event):  # type: ignore[no-untyped-def]
        self.calls.append(("stream_stopped", {"context": context, "event": event}))

    @hookimpl
    def bwserial_stream_warning(self, context, warning):  # type: ignore[no-untyped-def]
        self.calls.append(("stream_warning", {"warning": warning}))

    @hookimpl
    def bwserial_media_gap(self, context, gap):  # type: ignore[no-untyped-def]
        self.calls.append(("media_gap", {"gap": gap}))

    @hookimpl
    def bwserial_interruption(self, context, event):  # type: ignore[no-untyped-def]
        self.calls.append(("interruption", {"event": event}))

    @hookimpl
    def bwserial_hangup_finished(self, context, result):  # type: ignore[no-untyped-def]
        self.calls.append(("hangup_finished", {"result": result, "context": context}))

    @hookimpl
    def bwserial_bad_message(self, context, message):  # type: ignore[no-untyped-def]
        self.calls.append(("bad_message", {"message": message}))


class ScriptedHangup:
    """A hang-up strategy whose outcomes a test chooses, recording each request."""

    def __init__(self, config: HangupConfig, outcomes: list[HangupOutcome], log: list[Any]) -> None:
        self.config = config
        self.outcomes = outcomes
        self.log = log

    async def prepare(self) -> None:
        self.log.append("prepare")

    async def hang_up(self, request: HangupRequest) -> HangupResult:
        self.log.append(request)
        outcome = self.outcomes.pop(0) if self.outcomes else HangupOutcome.COMPLETED
        return HangupResult(outcome, status=200, attempts=1)

    async def close(self) -> None:
        return None


class ScriptedStrategyPlugin:
    """Registers the ``scripted`` hang-up strategy."""

    bwserial_plugin_name = "scripted-hangup"

    def __init__(self, outcomes: list[HangupOutcome] | None = None) -> None:
        self.outcomes = outcomes or []
        self.log: list[Any] = []
        self.configs: list[HangupConfig] = []

    @hookimpl
    def bwserial_hangup_strategies(self):  # type: ignore[no-untyped-def]
        def factory(config: HangupConfig) -> ScriptedHangup:
            self.configs.append(config)
            return ScriptedHangup(config, self.outcomes, self.log)

        return [HangupStrategy("scripted", factory)]


@dataclass
class Setup:
    """Stands in for Pipecat's FrameProcessorSetup: the serializer only reads the rates."""

    audio_in_sample_rate: int = 16000
    audio_out_sample_rate: int = 24000


MALFORMED_SAMPLES: dict[str, str | bytes] = {
    "invalid JSON": '{"eventType": "media", ',
    "JSON that is not an object": "[1, 2]",
    "metadata null": '{"eventType": "start", "metadata": null}',
    "metadata missing": '{"eventType": "stop"}',
    "payload missing": '{"eventType": "media", "track": "inbound"}',
    "payload not a string": '{"eventType": "media", "payload": 42}',
    "payload not base64": '{"eventType": "media", "payload": "%%%%"}',
    "wrong field types": '{"eventType": "media", "payload": "AAAA", "sequenceNumber": {"n": 1}}',
    "bytes instead of text": b'{"eventType": "media", "payload": "AAAA"}',
    "non-UTF-8 bytes": b"\xff\xfe\x00garbage",
}
