"""Hostile-input properties of ``BandwidthFrameSerializer.deserialize``, shared by two runs.

``tests/fuzz`` runs them with a large budget (``BWSERIAL_FUZZ_EXAMPLES``, tox env ``fuzz``);
``tests/reliability/test_hostile_input_quick.py`` runs a small, derandomized budget so every
run of the main suite exercises them.

For every generated input, on a fresh serializer (``auto_hang_up=False``, an observer plugin
registered, set up at 16 kHz) that may first have received a few other generated messages:

* ``deserialize`` never raises;
* a frame only comes out of a message that PROTOCOL.md calls caller audio (see
  :func:`may_yield_frame`, written from the protocol, not from the implementation), and it
  is mono 16-bit audio at the pipeline rate, never more audio than the caller sent;
* one message is reported to ``bwserial_bad_message`` at most once, with at most 200
  characters of it; a message that is not a JSON object in a text frame always is;
* one message costs at most :data:`NORMAL_BOUND_SECS` (:data:`HUGE_BOUND_SECS` above
  64 KiB), measured per call; a slow call is re-timed on a fresh serializer and only the
  fastest of three counts, so a GC pause or a noisy CI neighbour is not a failure;
* one message (whatever an attacker puts in it) writes at most :data:`MAX_LOG_RECORDS`
  log records, :data:`MAX_LOG_CHARS` characters in all, and no line break (log forging).

Every input tried is counted in :data:`STATS`, which the fuzz run prints at the end.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import os
import random
import re
import string
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from loguru import logger
from pipecat.frames.frames import InputAudioRawFrame

from bwserial import BandwidthFrameSerializer
from bwserial import plugins as bw_plugins
from bwserial.testing import messages
from bwtest_helpers import Recorder, Setup

PIPELINE_RATE: Final = 16000
NORMAL_BOUND_SECS: Final = 0.050
HUGE_BOUND_SECS: Final = 0.250
HUGE_INPUT_CHARS: Final = 64 * 1024
MAX_LOG_RECORDS: Final = 8
MAX_LOG_CHARS: Final = 4096
LOG_LINE_BREAKS: Final = ("\n", "\r", "\u2028", "\u2029", "\x85")
"""What terminals and log viewers break lines on: an input that puts one in a log record
can forge the records that follow."""
RAW_LIMIT: Final = 200
MiB: Final = 1024 * 1024

# --------------------------------------------------------------------------- the oracle

_BASE64: Final = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
"""RFC 4648 standard alphabet with padding: what Bandwidth's ``payload`` is."""
_SEQUENCE: Final = re.compile(r"[0-9]+")
"""A decimal string: ``[0-9]`` is ASCII only, unlike ``\\d`` or ``str.isdigit``."""


def may_yield_frame(data: str | bytes) -> bool:
    """Whether PROTOCOL.md lets ``data`` carry caller audio (written without the code).

    Only a JSON text frame holding an object with ``eventType`` ``"media"``, a ``track``
    that is ``"inbound"`` or absent, a non-empty standard base64 ``payload``, and a
    ``sequenceNumber`` that is absent (or null), a decimal string, or (tolerated: one
    reading of the docs) a non-negative JSON integer. Nesting too deep for Python's json
    is still JSON, so such input is judged "may" (either answer is accepted).
    """
    if not isinstance(data, str):
        return False  # Bandwidth sends text frames only
    try:
        message = json.loads(data)
    except RecursionError:
        return True
    except ValueError:
        return False
    if not isinstance(message, dict) or message.get("eventType") != "media":
        return False
    if "track" in message and message["track"] != "inbound":
        return False
    payload = message.get("payload")
    if not isinstance(payload, str) or not payload or not _BASE64.fullmatch(payload):
        return False
    seq = message.get("sequenceNumber")
    return (
        seq is None
        or (isinstance(seq, str) and _SEQUENCE.fullmatch(seq) is not None)
        or (type(seq) is int and seq >= 0)
    )


def must_be_reported_bad(data: str | bytes) -> bool:
    """A binary frame, or text that is not a JSON object: malformed on any reading."""
    if not isinstance(data, str):
        return True
    try:
        message = json.loads(data)
    except RecursionError:
        return False  # deep but possibly valid JSON: no claim
    except ValueError:
        return True
    return not isinstance(message, dict)


def payload_bytes(data: str | bytes) -> int:
    """Audio bytes a message that may yield a frame carries (0 otherwise)."""
    if not may_yield_frame(data):
        return 0
    try:
        payload = json.loads(data)["payload"]
        return len(base64.b64decode(payload))
    except (RecursionError, ValueError, KeyError, TypeError, binascii.Error):
        return 0


# --------------------------------------------------------------------------- statistics


@dataclass
class Stats:
    """What the fuzz run reports at the end (module-level, summed over all properties)."""

    inputs: Counter[str] = field(default_factory=Counter)
    exceptions: int = 0
    frames: int = 0
    invalid_frames: int = 0
    retimed: int = 0
    max_secs: float = 0.0
    max_huge_secs: float = 0.0
    max_log_records: int = 0

    @property
    def total(self) -> int:
        return sum(self.inputs.values())

    def summary(self) -> str:
        kinds = ", ".join(f"{name} {count}" for name, count in sorted(self.inputs.items()))
        return (
            f"fuzz: {self.total} inputs tried ({kinds}), {self.exceptions} exceptions, "
            f"{self.invalid_frames} frames from invalid input, {self.frames} frames, "
            f"max {self.max_secs * 1000:.1f} ms/message up to 64 KiB, "
            f"max {self.max_huge_secs * 1000:.1f} ms/message above, "
            f"max {self.max_log_records} log records/message, {self.retimed} re-timed"
        )


STATS = Stats()


# --------------------------------------------------------------------------- the harness


class _LogCounter:
    """A loguru sink counting what one message logs (at every level)."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def __call__(self, message: Any) -> None:
        self.messages.append(message.record["message"])


@dataclass
class Outcome:
    secs: float
    frame: Any
    error: BaseException | None
    logs: list[str]
    bad_reports: list[Any]


@dataclass(frozen=True)
class Built:
    """A big input described by a few values, built when fed (so failure reports stay short)."""

    make: Callable[[str, int], str | bytes]
    kind: str
    size: int

    def build(self) -> str | bytes:
        return self.make(self.kind, self.size)

    def __repr__(self) -> str:
        return f"{self.make.__name__}({self.kind!r}, {self.size})"


Item = str | bytes | Built


class Harness:
    """Feeds generated messages to fresh serializers on one event loop and checks each."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.runner = asyncio.Runner()
        self.sink = _LogCounter()
        self.sink_id = logger.add(self.sink, level="TRACE", format="{message}", catch=False)
        self.third_party = [p.name for p in bw_plugins.discover().plugins if not p.builtin]

    def close(self) -> None:
        logger.remove(self.sink_id)
        self.runner.close()

    def _new(self) -> tuple[BandwidthFrameSerializer, Recorder]:
        recorder = Recorder()
        # Only bwserial and the observer: plugins installed in a dev venv may log per event.
        serializer = BandwidthFrameSerializer(
            "stream-1",
            call_id="c-trusted",
            account_id="9900000",
            params=BandwidthFrameSerializer.InputParams(
                auto_hang_up=False, disable_plugins=self.third_party
            ),
            plugins=[recorder],
        )
        self.runner.run(serializer.setup(Setup(audio_in_sample_rate=PIPELINE_RATE)))
        return serializer, recorder

    def _feed(
        self, serializer: BandwidthFrameSerializer, recorder: Recorder, data: str | bytes
    ) -> Outcome:
        async def timed() -> Outcome:
            before = len(recorder.of("bad_message"))
            del self.sink.messages[:]
            started = time.perf_counter()
            try:
                frame = await serializer.deserialize(data)
                error = None
            except BaseException as e:  # the property: nothing at all escapes
                frame, error = None, e
            secs = time.perf_counter() - started
            reports = recorder.of("bad_message")[before:]
            return Outcome(secs, frame, error, list(self.sink.messages), reports)

        return self.runner.run(timed())

    def _retime(self, messages: list[str | bytes], index: int) -> float:
        serializer, recorder = self._new()
        for earlier in messages[:index]:
            self._feed(serializer, recorder, earlier)
        return self._feed(serializer, recorder, messages[index]).secs

    def check(self, items: list[Item]) -> None:
        messages = [item.build() if isinstance(item, Built) else item for item in items]
        serializer, recorder = self._new()
        audio_in = 0
        audio_out = 0
        for index, data in enumerate(messages):
            STATS.inputs[self.kind] += 1
            outcome = self._feed(serializer, recorder, data)
            shown = _show(data)
            if outcome.error is not None:
                STATS.exceptions += 1
                raise AssertionError(
                    f"deserialize raised {outcome.error!r} for {shown}"
                ) from outcome.error
            valid = may_yield_frame(data)
            audio_in += payload_bytes(data)
            frame = outcome.frame
            if frame is not None:
                STATS.frames += 1
                if not valid:
                    STATS.invalid_frames += 1
                    raise AssertionError(f"a frame came out of an invalid message: {shown}")
                assert isinstance(frame, InputAudioRawFrame), frame
                assert (frame.sample_rate, frame.num_channels) == (PIPELINE_RATE, 1), frame
                assert len(frame.audio) % 2 == 0, frame
                audio_out += len(frame.audio)
            # Never more caller audio out than in (PCMU: 1 byte per 1/8000 s), plus what a
            # resampler may hold back from one frame to the next.
            out_secs = audio_out / 2 / PIPELINE_RATE
            assert out_secs <= audio_in / 8000 + 0.05, (out_secs, audio_in, shown)

            assert len(outcome.bad_reports) <= 1, (outcome.bad_reports, shown)
            if must_be_reported_bad(data):
                assert len(outcome.bad_reports) == 1, f"not reported as bad: {shown}"
            for report in outcome.bad_reports:
                assert len(report["message"].raw) <= RAW_LIMIT, shown

            STATS.max_log_records = max(STATS.max_log_records, len(outcome.logs))
            assert len(outcome.logs) <= MAX_LOG_RECORDS, (
                f"one message wrote {len(outcome.logs)} log records: {shown}"
            )
            logged = sum(len(m) for m in outcome.logs)
            assert logged <= MAX_LOG_CHARS, f"one message wrote {logged} log chars: {shown}"
            for line in outcome.logs:
                assert not any(c in line for c in LOG_LINE_BREAKS), (
                    f"input forged a line break into the log: {line[:300]!r}"
                )

            huge = len(data) > HUGE_INPUT_CHARS
            bound = HUGE_BOUND_SECS if huge else NORMAL_BOUND_SECS
            secs = outcome.secs
            if secs > bound:
                STATS.retimed += 1
                secs = min(secs, *(self._retime(messages, index) for _ in range(2)))
            if huge:
                STATS.max_huge_secs = max(STATS.max_huge_secs, secs)
            else:
                STATS.max_secs = max(STATS.max_secs, secs)
            assert secs <= bound, f"{secs * 1000:.0f} ms (bound {bound * 1000:.0f}) for {shown}"


def _show(data: str | bytes) -> str:
    return f"{type(data).__name__} of {len(data)} chars: {data[:300]!r}"


# --------------------------------------------------------------------------- running


def examples_budget(default: int) -> int:
    """The fuzz run's total number of examples (env ``BWSERIAL_FUZZ_EXAMPLES``)."""
    return int(os.environ.get("BWSERIAL_FUZZ_EXAMPLES", default))


def run_property(
    kind: str,
    strategy: st.SearchStrategy[list[Item]],
    examples: int,
    *,
    derandomize: bool,
) -> None:
    """Check ``strategy``'s message sequences with :class:`Harness`, ``examples`` times."""
    harness = Harness(kind)
    phases = list(Phase)
    if kind in NO_SHRINK:
        phases.remove(Phase.shrink)

    @settings(
        max_examples=max(1, examples),
        deadline=None,
        database=None,
        derandomize=derandomize,
        suppress_health_check=list(HealthCheck),
        print_blob=not derandomize,
        phases=phases,
    )
    @given(messages=strategy)
    def hostile_messages(messages: list[Item]) -> None:
        harness.check(messages)

    try:
        hostile_messages()
    finally:
        harness.close()


_stderr_sink: int | None = 0
"""loguru's default stderr sink (id 0), or the one put back in its place."""


@contextmanager
def production_like_logging() -> Iterator[None]:
    """Swap loguru's stderr sink for one that formats every record into /dev/null.

    Thousands of hostile inputs must not flood the terminal or pytest's captured output,
    while logging still costs what it costs in production (DEBUG, default format).
    """
    global _stderr_sink
    removed = False
    if _stderr_sink is not None:
        try:
            logger.remove(_stderr_sink)
            removed = True
        except ValueError:  # someone else removed it: leave their configuration alone
            _stderr_sink = None
    with open(os.devnull, "w") as null:
        sink = logger.add(null, level="DEBUG")
        try:
            yield
        finally:
            logger.remove(sink)
            if removed:
                _stderr_sink = logger.add(sys.__stderr__)


# --------------------------------------------------------------------------- strategies

JsonValue = Any

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=30)
)
json_values: st.SearchStrategy[JsonValue] = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=10,
)

FIELD_NAMES: Final = (
    "eventType",
    "payload",
    "track",
    "sequenceNumber",
    "metadata",
    "streamParams",
    "media",
    "callId",
    "streamId",
    "accountId",
    "tracks",
)
EVENT_TYPES: Final = (
    "media",
    "start",
    "stop",
    "clear",
    "playAudio",
    "Media",
    "MEDIA",
    " media",
    "media ",
    "media\x00",
    "",
)

event_types = st.sampled_from(EVENT_TYPES) | st.text(max_size=10)
ids = st.text(string.ascii_letters + string.digits + "-_.", min_size=1, max_size=40) | st.text(
    max_size=40
)
weird_strings = (
    st.text(max_size=20)
    | st.text(st.characters(categories=["Cs"]), min_size=1, max_size=4)  # lone surrogates
    | st.text(st.characters(categories=["Nd", "No", "Nl"]), min_size=1, max_size=4)
    | st.text(st.characters(codec="ascii"), max_size=20)
    | st.binary(max_size=20).map(lambda b: b.decode("utf-8", "surrogateescape"))
    | st.sampled_from(["", " ", "\n", "\r\n", "\x00", "0", "-1", "1e3", "1.0", "+1", " 1", "null"])
)

arbitrary_objects = st.dictionaries(
    st.sampled_from(FIELD_NAMES) | st.text(max_size=8), json_values, max_size=6
)


@st.composite
def media_dicts(draw: st.DrawFn) -> dict[str, JsonValue]:
    message: dict[str, JsonValue] = {}
    track = draw(st.sampled_from([None, "inbound", "inbound", "outbound"]))
    if track is not None:
        message["track"] = track
    audio = draw(st.binary(min_size=0, max_size=200))
    message["payload"] = base64.b64encode(audio).decode()
    seq = draw(
        st.none()
        | st.integers(0, 10**6).map(str)
        | st.integers(0, 10**6)
        | st.integers(0, 10**25).map(str)
    )
    if seq is not None:
        message["sequenceNumber"] = seq
    message["eventType"] = "media"
    return message


formats = st.fixed_dictionaries(
    {
        "encoding": st.sampled_from(
            ["audio/PCMU", "PCMU", "pcmu", "audio/PCM", "PCM", "L16", "OPUS"]
        )
        | st.text(max_size=10),
        "sampleRate": st.sampled_from([8000, 16000, 24000, 44100, 0, -8000, "8000"])
        | st.integers(),
    }
)
tracks = st.lists(
    st.fixed_dictionaries(
        {"name": st.sampled_from(["inbound", "outbound"]) | st.text(max_size=8)},
        optional={"mediaFormat": formats},
    ),
    max_size=4,
)


@st.composite
def metadata(draw: st.DrawFn) -> dict[str, JsonValue]:
    return {
        "accountId": draw(ids | st.integers(0, 10**10)),
        "callId": draw(ids),
        "streamId": draw(st.sampled_from(["stream-1"]) | ids),
        "streamName": draw(ids),
        "tracks": draw(tracks),
    }


@st.composite
def start_dicts(draw: st.DrawFn) -> dict[str, JsonValue]:
    message: dict[str, JsonValue] = {"metadata": draw(metadata())}
    if draw(st.booleans()):
        message["streamParams"] = draw(
            st.dictionaries(st.text(max_size=20), st.text(max_size=30), max_size=14)
        )
    message["eventType"] = "start"
    return message


@st.composite
def stop_dicts(draw: st.DrawFn) -> dict[str, JsonValue]:
    return {
        "metadata": {"streamId": draw(ids), "callId": draw(ids)},
        "eventType": "stop",
    }


valid_dicts = media_dicts() | start_dicts() | stop_dicts()


def _paths(value: JsonValue, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every position in a JSON document, as the keys/indexes leading to it."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield (*prefix, key)
            yield from _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield (*prefix, index)
            yield from _paths(child, (*prefix, index))


def _swap_type(value: JsonValue) -> JsonValue:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return int(value) if value == value and abs(value) < 1e300 else str(value)
    if isinstance(value, str):
        return int(value) if value.isascii() and value.isdigit() else [value]
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)}
    if isinstance(value, dict):
        return list(value.values())
    return {"value": value}


def _string_tweaks(value: str) -> st.SearchStrategy[str]:
    """Edits that keep a string almost right: the near misses parsers get wrong."""
    tweaks = [
        st.just(value + "="),
        st.just(value.rstrip("=")),
        st.just(value[:-1]),
        st.just(" " + value),
        st.just(value + "\n"),
        st.just(value.upper()),
        st.just(value.translate(str.maketrans("+/", "-_"))),
        st.just(value * 2),
        weird_strings.map(lambda w: value + w),
        st.tuples(st.integers(0, max(0, len(value))), weird_strings).map(
            lambda t: value[: t[0]] + t[1] + value[t[0] :]
        ),
    ]
    if value.isascii() and value.isdigit():
        digits = "٠١٢٣٤٥٦٧٨٩"  # Arabic-Indic: str.isdigit() is True, yet not ASCII
        tweaks.append(st.just(value.translate(str.maketrans("0123456789", digits))))
        tweaks.append(st.just("-" + value))
        tweaks.append(st.just(value + ".0"))
    return st.one_of(tweaks)


@st.composite
def mutated(draw: st.DrawFn, base: st.SearchStrategy[dict[str, JsonValue]]) -> dict[str, JsonValue]:
    """A valid message with one to three positions removed, replaced or type-swapped."""
    message = draw(base)
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(message))
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent: Any = message
        for key in path[:-1]:
            parent = parent[key]
        key = path[-1]
        old = parent[key]
        action = draw(st.sampled_from(["delete", "replace", "swap", "tweak", "null", "add"]))
        if action == "delete":
            del parent[key]
        elif action == "replace":
            parent[key] = draw(json_values)
        elif action == "swap":
            parent[key] = _swap_type(old)
        elif action == "tweak":
            parent[key] = draw(_string_tweaks(old)) if isinstance(old, str) else draw(json_values)
        elif action == "null":
            parent[key] = None
        elif isinstance(parent, dict):
            parent[draw(st.sampled_from(FIELD_NAMES) | st.text(max_size=8))] = draw(json_values)
        else:
            parent.append(draw(json_values))
    return message


@st.composite
def as_text(draw: st.DrawFn, documents: st.SearchStrategy[JsonValue]) -> str:
    """JSON text of a document, with the freedoms the wire has (key order, escaping)."""
    document = draw(documents)
    if isinstance(document, dict) and draw(st.booleans()):
        items = list(document.items())
        random.Random(draw(st.integers(0, 2**16))).shuffle(items)
        document = dict(items)
    return json.dumps(document, ensure_ascii=draw(st.booleans()))


@st.composite
def text_damage(draw: st.DrawFn) -> str:
    """Valid message text cut, spliced or with a key repeated: broken JSON near the real thing."""
    text = draw(as_text(valid_dicts))
    action = draw(st.sampled_from(["cut", "insert", "delete", "duplicate-key", "trailing"]))
    at = draw(st.integers(0, len(text)))
    if action == "cut":
        return text[:at]
    if action == "insert":
        return text[:at] + draw(weird_strings | st.sampled_from(list('{}[]",:\\'))) + text[at:]
    if action == "delete":
        return text[:at] + text[at + draw(st.integers(1, 8)) :]
    if action == "duplicate-key":
        key = draw(st.sampled_from(FIELD_NAMES))
        value = json.dumps(draw(json_values))
        return text[:-1] + f', "{key}": {value}' + "}"
    return text + draw(st.sampled_from([" ", "\n", "x", "{}", "[]", "\x00"]))


SETUP_MESSAGES: Final = (
    messages.start(),
    messages.start(encoding="audio/PCM", rate=16000),  # switches the inbound decoder
    messages.start(stream_id="stream-spoofed", call_id="c-spoofed", account_id=1),
    messages.media(seq=1),
    messages.media(seq=None, track="outbound"),
    messages.stop(),
)
"""Real messages that may come first, to reach the states a call goes through."""


def sequences(message: st.SearchStrategy[Item]) -> st.SearchStrategy[list[Item]]:
    """One or two messages under test, sometimes after a ``start`` and some audio."""
    setup = st.lists(st.sampled_from(SETUP_MESSAGES), max_size=2)
    return st.tuples(setup, st.lists(message, min_size=1, max_size=2)).map(lambda t: t[0] + t[1])


# The property families; each yields lists of messages for Harness.check.

ARBITRARY_JSON = sequences(as_text(json_values | arbitrary_objects))
NEAR_VALID = sequences(as_text(mutated(valid_dicts)) | text_damage())
BYTES = sequences(
    st.binary(max_size=300)
    | as_text(valid_dicts | mutated(valid_dicts)).map(lambda t: t.encode("utf-8", "surrogatepass"))
    | as_text(media_dicts()).map(lambda t: t.encode("utf-16"))
)
STRANGE_TEXT = sequences(
    st.text(st.characters(), max_size=200)  # any code point, lone surrogates included
    | st.binary(max_size=200).map(lambda b: b.decode("utf-8", "surrogateescape"))
    | st.binary(max_size=200).map(lambda b: b.decode("latin-1"))
    | st.builds(
        lambda m, w: json.dumps(m, ensure_ascii=False)[:-1] + f', "x": "{w}"' + "}",
        valid_dicts,
        weird_strings,
    )
    | as_text(mutated(valid_dicts)).map(lambda t: t.replace("a", "\ud800"))
)


def _deep(kind: str, depth: int) -> str:
    if kind == "open-arrays":
        return "[" * depth
    if kind == "arrays":
        return "[" * depth + "]" * depth
    if kind == "objects":
        return '{"a":' * depth + "1" + "}" * depth
    if kind == "media-with-deep-field":
        return '{"eventType":"media","payload":"/////w==","x":' + "[" * depth + "]" * depth + "}"
    if kind == "start-with-deep-params":
        head = '{"eventType":"start","metadata":{"streamId":"stream-1","callId":"c"},'
        return head + '"streamParams":{"a":' + "[" * depth + "]" * depth + "}}"
    return '{"eventType":"media","payload":' + '{"p":' * depth + "1" + "}" * depth + "}"


DEEP = sequences(
    st.builds(
        Built,
        st.just(_deep),
        st.sampled_from(
            [
                "open-arrays",
                "arrays",
                "objects",
                "media-with-deep-field",
                "start-with-deep-params",
                "payload",
            ]
        ),
        st.integers(1, 100_000) | st.sampled_from([999, 1000, 1001, 10_000, 100_000]),
    )
)


def _huge(kind: str, seed: int) -> str | bytes:
    """A message of about 1 MiB; built from a seed so a failure report stays short."""
    rng = random.Random(seed)
    audio = rng.randbytes(768 * 1024)  # 1 MiB of base64
    payload = base64.b64encode(audio).decode()
    at = rng.randrange(len(payload))

    def media_text(p: str, **extra: Any) -> str:
        return json.dumps(
            {"track": "inbound", "payload": p, "sequenceNumber": "1", **extra}
            | {"eventType": "media"}
        )

    if kind == "valid":
        return media_text(payload)
    if kind == "outbound":
        return media_text(payload, track="outbound")
    if kind == "bad-char":
        return media_text(payload[:at] + rng.choice("!-_.*~ é\x00") + payload[at + 1 :])
    if kind == "whitespace":
        return media_text(payload[:at] + rng.choice([" ", "\n", "\r\n", "\t"]) + payload[at:])
    if kind == "unpadded":
        return media_text(base64.b64encode(audio[:-1]).decode().rstrip("="))
    if kind == "truncated":
        return media_text(payload[:-1])
    if kind == "base64url":
        return media_text(base64.urlsafe_b64encode(audio).decode())
    if kind == "cut-json":
        return media_text(payload)[: -rng.randint(1, 10)]
    if kind == "huge-sequence":
        return media_text("/////w==", sequenceNumber="9" * MiB)
    if kind == "huge-event-type":
        return json.dumps({"eventType": "x" * MiB})
    if kind == "huge-ids":
        return json.dumps(
            {
                "metadata": {"streamId": "s" * MiB, "callId": "c\n" * (MiB // 4), "tracks": []},
                "eventType": "start",
            }
        )
    if kind == "many-tracks":
        track = {"name": "inbound", "mediaFormat": {"encoding": "OPUS", "sampleRate": 48000}}
        metadata = {"streamId": "stream-1", "callId": "c", "tracks": [track] * 20_000}
        return json.dumps({"metadata": metadata, "eventType": "start"})
    if kind == "many-params":
        params = {f"p{i}": "v" for i in range(60_000)}
        metadata = {"streamId": "stream-1", "callId": "c"}
        return json.dumps({"metadata": metadata, "streamParams": params, "eventType": "start"})
    if kind == "binary":
        return audio + b"\x00" * (MiB - len(audio))
    if kind == "binary-json":
        return media_text(payload).encode()
    return payload  # bare base64, not JSON


HUGE_KINDS: Final = (
    "valid",
    "outbound",
    "bad-char",
    "whitespace",
    "unpadded",
    "truncated",
    "base64url",
    "cut-json",
    "huge-sequence",
    "huge-event-type",
    "huge-ids",
    "many-tracks",
    "many-params",
    "binary",
    "binary-json",
    "bare-base64",
)
HUGE = st.tuples(
    st.lists(as_text(valid_dicts), max_size=1),
    st.lists(
        st.builds(Built, st.just(_huge), st.sampled_from(HUGE_KINDS), st.integers(0, 2**32)),
        min_size=1,
        max_size=2,
    ),
).map(lambda t: t[0] + t[1])

NO_SHRINK: Final = frozenset({"huge"})
"""Families whose examples are already minimal (a kind and a seed) and slow to re-run."""

PROPERTIES: Final[dict[str, tuple[st.SearchStrategy[list[Item]], float]]] = {
    "json": (ARBITRARY_JSON, 0.22),
    "near-valid": (NEAR_VALID, 0.40),
    "bytes": (BYTES, 0.10),
    "strange-text": (STRANGE_TEXT, 0.15),
    "deep": (DEEP, 0.08),
    "huge": (HUGE, 0.05),
}
"""Property family -> (strategy, share of the fuzz run's example budget)."""
