"""bwserial-jsonlog: one JSON line per call event, for log pipelines that parse JSON.

Installed, the package's entry point (``jsonlog``) registers this module with every
serializer, and each call event becomes one line on stderr, or appended to the file
named by ``BWSERIAL_JSONLOG_FILE``. To send one serializer's lines somewhere else,
pass an instance: ``BandwidthFrameSerializer(..., plugins=[JsonLogPlugin(stream)])``.

Every line has ``ts``, ``event`` (the hook name without ``bwserial_``),
``stream_id`` and ``call_id`` (the trusted one given to the serializer), then the
event's own fields and the context counters that matter for it.

What is deliberately left out, because a log line outlives the call and is read by
more people than the bot's code is:

* credentials and tokens: the hooks never receive them;
* the text of a bad message: it is whatever reached the socket (possibly a caller's
  data or an attacker's payload); the reason says what was wrong with it;
* ``streamParams`` values: applications put their own data there; only the keys are
  logged.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from datetime import UTC, datetime
from typing import Any, Final, TextIO

from bwserial import (
    BadMessage,
    HangupResult,
    Interruption,
    MediaGap,
    StreamContext,
    StreamStarted,
    StreamStopped,
    StreamWarning,
    hookimpl,
)
from loguru import logger

__all__ = ["ALL_COUNTERS", "ENV_FILE", "JsonLogPlugin", "default"]

ENV_FILE: Final = "BWSERIAL_JSONLOG_FILE"
"""Path of a file the entry-point plugin appends to instead of writing to stderr."""

ALL_COUNTERS: Final = (
    "frames_in",
    "frames_out",
    "gaps",
    "duplicates",
    "bad_messages",
    "interruptions",
)
"""The ``StreamContext`` counters, in the order the lines that carry them all list them."""


def _timestamp() -> str:
    """UTC with milliseconds and a ``Z``: sorts as text and parses everywhere."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonLogPlugin:
    """Writes one JSON line per event hook call.

    Args:
        stream: Where lines go. None (the entry point's default) picks, at each
            write, the file named by ``BWSERIAL_JSONLOG_FILE`` or else
            ``sys.stderr``, so a redirect or an env var set after import still counts.
        name: The plugin name bwserial registers the instance under. It differs from
            the entry point's ``jsonlog``, so an instance can run beside it (or
            replace it with ``disable_plugins=["jsonlog"]``); give two instances in
            one serializer different names.

    The stream is written and flushed once per line under a lock (calls on other
    threads' event loops must not interleave), never fsynced: hooks run on the
    call's event loop and must not wait for the disk.
    """

    def __init__(self, stream: TextIO | None = None, *, name: str = "jsonlog-stream") -> None:
        self.bwserial_plugin_name = name
        self._stream = stream
        self._lock = threading.Lock()
        self._file: TextIO | None = None
        self._file_path: str | None = None
        self._warned = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.bwserial_plugin_name!r})"

    # ------------------------------------------------------------------ writing

    def write(self, event: str, context: StreamContext, **fields: Any) -> None:
        """Write one line: the common fields first, so every line reads the same."""
        record: dict[str, Any] = {
            "ts": _timestamp(),
            "event": event,
            "stream_id": context.stream_id,
            "call_id": context.call_id,
        }
        record.update(fields)
        line = json.dumps(record, separators=(",", ":"), default=str) + "\n"
        with self._lock:
            try:
                target = self._target()
                if target is not None:
                    target.write(line)
                    target.flush()
            except (OSError, ValueError) as e:  # ValueError: the stream was closed
                self._warn_once(f"cannot write ({type(e).__name__}: {e})")

    def close(self) -> None:
        """Close the file this plugin opened from ``BWSERIAL_JSONLOG_FILE``.

        A stream passed to the constructor belongs to the caller and stays open.
        """
        with self._lock:
            if self._file is not None:
                self._file.close()
            self._file = self._file_path = None

    def _target(self) -> TextIO | None:
        if self._stream is not None:
            return self._stream
        path = os.environ.get(ENV_FILE) or None
        if path is None:
            return sys.stderr
        if path != self._file_path:
            if self._file is not None:
                self._file.close()
            self._file = None
            self._file_path = path
            try:
                # Line-buffered append: each line is one write(), so processes sharing
                # the file (several bot workers) do not interleave within a line.
                self._file = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115
            except OSError as e:
                self._warn_once(f"cannot open {ENV_FILE}={path!r} ({e.strerror}); lines dropped")
        return self._file

    def _warn_once(self, problem: str) -> None:
        """A broken sink must not flood the app log: bad messages arrive at frame rate."""
        if not self._warned:
            self._warned = True
            logger.warning(f"bwserial plugin {self.bwserial_plugin_name!r}: {problem}")

    # ------------------------------------------------------------------ hooks

    @hookimpl
    def bwserial_stream_started(self, context: StreamContext, event: StreamStarted) -> None:
        self.write(
            "stream_started",
            context,
            # What the start message claims; unauthenticated, so kept apart from call_id.
            claimed_call_id=event.call_id,
            claimed_account_id=event.account_id,
            stream_name=event.stream_name,
            tracks=[
                {
                    "name": track.name,
                    "encoding": track.media_format.encoding if track.media_format else None,
                    "sample_rate": track.media_format.sample_rate if track.media_format else None,
                }
                for track in event.tracks
            ],
            stream_param_keys=sorted(event.stream_params),
        )

    @hookimpl
    def bwserial_stream_stopped(self, context: StreamContext, event: StreamStopped) -> None:
        self.write("stream_stopped", context, reason=event.reason.value, **_counters(context))

    @hookimpl
    def bwserial_stream_warning(self, context: StreamContext, warning: StreamWarning) -> None:
        self.write("stream_warning", context, kind=warning.kind.value, detail=warning.detail)

    @hookimpl
    def bwserial_media_gap(self, context: StreamContext, gap: MediaGap) -> None:
        self.write(
            "media_gap",
            context,
            kind=gap.kind.value,
            expected=gap.expected,
            received=gap.received,
            missing=gap.missing,
            **_counters(context, "gaps", "duplicates"),
        )

    @hookimpl
    def bwserial_interruption(self, context: StreamContext, event: Interruption) -> None:
        self.write(
            "interruption",
            context,
            discarded_secs=round(event.discarded_secs, 3),
            **_counters(context, "interruptions", "frames_out"),
        )

    @hookimpl
    def bwserial_bad_message(self, context: StreamContext, message: BadMessage) -> None:
        self.write(
            "bad_message", context, reason=message.reason, **_counters(context, "bad_messages")
        )

    @hookimpl
    def bwserial_hangup_finished(self, context: StreamContext, result: HangupResult) -> None:
        self.write(
            "hangup_finished",
            context,
            outcome=result.outcome.value,
            status=result.status,
            attempts=result.attempts,
            seconds=round(result.seconds, 3),
            strategy=result.strategy,
            reason=result.reason,
            **_counters(context),
        )


def _counters(context: StreamContext, *names: str) -> dict[str, int]:
    return {name: getattr(context, name) for name in names or ALL_COUNTERS}


bwserial_plugin_name: Final = "jsonlog"
"""The name bwserial gives this module if it is passed to a serializer's ``plugins`` directly."""

default: Final = JsonLogPlugin(name="jsonlog")
"""The logger the entry point uses: ``BWSERIAL_JSONLOG_FILE``, else stderr."""

# The entry point registers this module, and pluggy collects hook implementations from
# the module's attributes: expose the default logger's (already marked) bound methods.
bwserial_stream_started = default.bwserial_stream_started
bwserial_stream_stopped = default.bwserial_stream_stopped
bwserial_stream_warning = default.bwserial_stream_warning
bwserial_media_gap = default.bwserial_media_gap
bwserial_interruption = default.bwserial_interruption
bwserial_bad_message = default.bwserial_bad_message
bwserial_hangup_finished = default.bwserial_hangup_finished
