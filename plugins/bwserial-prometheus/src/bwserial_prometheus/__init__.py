"""bwserial-prometheus: call metrics on prometheus_client's default registry.

The metrics live on ``prometheus_client.REGISTRY``, so the ``/metrics`` endpoint an
application already serves (``make_asgi_app()``, ``start_http_server()``, a
framework integration) shows them with no extra wiring. All names start with
``bwserial_``.

Frame counts are added when a stream stops, from the counters bwserial keeps per
call, and not frame by frame: bwserial deliberately has no per-frame hooks (one
pluggy call costs about a microsecond, a large share of a frame's budget), and the
per-call counters cost nothing. A running call's frames therefore show up when it
ends; every other metric moves as its event happens.

Everything here is module-level: the metrics are process-wide (one series per
process, however many serializers register this module), and one import creates them.

With several worker processes (``uvicorn --workers``, gunicorn, replicas sharing a
volume), prometheus_client's multiprocess mode adds every worker's values up: set
``PROMETHEUS_MULTIPROC_DIR`` to an empty directory before the workers start, serve
:func:`metrics_app` (or :func:`collector_registry`) as ``/metrics``, and a worker that
exits marks itself dead (its active streams leave the gauge, its counts stay in the
totals). Under gunicorn, also call :func:`mark_process_dead` from its ``child_exit``
hook, which covers a worker that was killed.
"""

from __future__ import annotations

import atexit
import contextlib
import os
from typing import Any, Final, TypeVar

from bwserial import (
    GapKind,
    HangupResult,
    MediaGap,
    StreamContext,
    StreamWarning,
    hookimpl,
)
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

__all__ = [
    "ACTIVE_STREAMS",
    "BAD_MESSAGES",
    "DUPLICATE_FRAMES",
    "FRAMES_IN",
    "FRAMES_OUT",
    "GAP_FRAMES",
    "HANGUPS",
    "HANGUP_SECONDS",
    "HANGUP_SECONDS_BUCKETS",
    "INTERRUPTIONS",
    "MULTIPROC_DIR_ENV",
    "STREAMS_STARTED",
    "STREAM_WARNINGS",
    "collector_registry",
    "mark_process_dead",
    "metrics_app",
    "multiprocess_dir",
]

MULTIPROC_DIR_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
"""prometheus_client's switch to multiprocess mode: read when prometheus_client is
first imported, so it must be set before the worker processes start."""


def multiprocess_dir() -> str | None:
    """The multiprocess directory, or None in single-process mode."""
    return os.environ.get(MULTIPROC_DIR_ENV) or None


def collector_registry() -> CollectorRegistry:
    """The registry a ``/metrics`` endpoint serves: in multiprocess mode a new one
    whose collector adds up every worker's files at each scrape (a worker's own
    registry shows only itself); otherwise the default registry."""
    path = multiprocess_dir()
    if path is None:
        return REGISTRY
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=path)
    return registry


def metrics_app() -> Any:
    """An ASGI app serving :func:`collector_registry` in Prometheus' text format:
    ``app.mount("/metrics", metrics_app())``. Every worker answers with the sum of all."""
    from prometheus_client import make_asgi_app

    return make_asgi_app(registry=collector_registry())


def mark_process_dead(pid: int | None = None) -> None:
    """Take a worker that exited out of the live gauges (active streams); its counters
    stay in the totals. No-op in single-process mode.

    Each worker does it for itself at a normal exit. A worker that was killed cannot:
    call this from the supervisor (gunicorn's ``child_exit(server, worker)`` hook:
    ``mark_process_dead(worker.pid)``).
    """
    path = multiprocess_dir()
    if path is None:
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(os.getpid() if pid is None else pid, path)


def _mark_this_process_dead() -> None:
    with contextlib.suppress(OSError):  # the directory was removed first: nothing to mark
        mark_process_dead()


if multiprocess_dir() is not None:
    atexit.register(_mark_this_process_dead)

_M = TypeVar("_M", Counter, Gauge, Histogram)


def _metric(kind: type[_M], name: str, documentation: str, *args: Any, **kwargs: Any) -> _M:
    """Create a metric on the default registry, or return the one already registered.

    A second import of this module (``importlib.reload``, or a test that drops it
    from ``sys.modules``) would otherwise fail with "Duplicated timeseries in
    CollectorRegistry". prometheus_client has no public lookup by name, so this
    reads the registry's index, as common integrations do; if that ever goes away
    the original error is raised.
    """
    try:
        return kind(name, documentation, *args, **kwargs)
    except ValueError:
        existing = getattr(REGISTRY, "_names_to_collectors", {}).get(name)
        if isinstance(existing, kind):
            return existing
        raise


HANGUP_SECONDS_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 15.0, 30.0)
"""Hang-ups include the play-out wait (3 s by default) and end by the deadline (10 s)."""

ACTIVE_STREAMS: Final = _metric(
    Gauge,
    "bwserial_active_streams",
    "Bandwidth media streams started and not yet stopped.",
    multiprocess_mode="livesum",  # the sum over live workers (ignored in one process)
)
STREAMS_STARTED: Final = _metric(
    Counter, "bwserial_streams_started", "Bandwidth media streams started."
)
FRAMES_IN: Final = _metric(
    Counter,
    "bwserial_frames_in",
    "Inbound caller media frames decoded to pipeline audio (added when a stream stops).",
)
FRAMES_OUT: Final = _metric(
    Counter,
    "bwserial_frames_out",
    "playAudio messages sent to Bandwidth (added when a stream stops).",
)
GAP_FRAMES: Final = _metric(
    Counter,
    "bwserial_gap_frames",
    "Inbound media frames missing according to sequence numbers.",
)
DUPLICATE_FRAMES: Final = _metric(
    Counter,
    "bwserial_duplicate_frames",
    "Inbound media frames dropped as repeated or reordered sequence numbers.",
)
BAD_MESSAGES: Final = _metric(
    Counter, "bwserial_bad_messages", "Malformed inbound messages dropped (the call went on)."
)
INTERRUPTIONS: Final = _metric(
    Counter, "bwserial_interruptions", "Bot interruptions (a clear message was sent)."
)
STREAM_WARNINGS: Final = _metric(
    Counter,
    "bwserial_stream_warnings",
    "Tolerated oddities in a stream, by kind (stream-id-mismatch, media-format).",
    ["kind"],
)
HANGUPS: Final = _metric(
    Counter,
    "bwserial_hangups",
    "Hang-up attempts by outcome (completed, already-ended, failed) and strategy.",
    ["outcome", "strategy"],
)
HANGUP_SECONDS: Final = _metric(
    Histogram,
    "bwserial_hangup_duration_seconds",
    "Wall time of a hang-up attempt, play-out wait included.",
    ["outcome", "strategy"],
    buckets=HANGUP_SECONDS_BUCKETS,
)

bwserial_plugin_name: Final = "prometheus"
"""The name bwserial gives this module if it is passed to a serializer's ``plugins`` directly."""

_active: dict[int, StreamContext] = {}
"""Streams counted in ACTIVE_STREAMS, by context identity.

Pairing started with stopped here, rather than trusting the hooks' order, keeps the
gauge exact whatever arrives: a stop for a stream that never started, a second stop
after the socket closes, a stop-start-stop. The context is held, not just its id,
so the id cannot be reused by another call while the entry exists.
"""


@hookimpl
def bwserial_stream_started(context: StreamContext) -> None:
    if id(context) in _active:
        return
    _active[id(context)] = context
    ACTIVE_STREAMS.inc()
    STREAMS_STARTED.inc()


@hookimpl
def bwserial_stream_stopped(context: StreamContext) -> None:
    if _active.pop(id(context), None) is None:
        return
    ACTIVE_STREAMS.dec()
    FRAMES_IN.inc(context.frames_in)
    FRAMES_OUT.inc(context.frames_out)


@hookimpl
def bwserial_media_gap(gap: MediaGap) -> None:
    if gap.kind is GapKind.GAP:
        GAP_FRAMES.inc(gap.missing)
    else:
        DUPLICATE_FRAMES.inc()


@hookimpl
def bwserial_bad_message() -> None:
    BAD_MESSAGES.inc()


@hookimpl
def bwserial_interruption() -> None:
    INTERRUPTIONS.inc()


@hookimpl
def bwserial_stream_warning(warning: StreamWarning) -> None:
    STREAM_WARNINGS.labels(kind=warning.kind.value).inc()


@hookimpl
def bwserial_hangup_finished(result: HangupResult) -> None:
    labels = {"outcome": result.outcome.value, "strategy": result.strategy or "unknown"}
    HANGUPS.labels(**labels).inc()
    HANGUP_SECONDS.labels(**labels).observe(result.seconds)
