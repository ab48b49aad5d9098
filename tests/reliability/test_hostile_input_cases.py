"""Hostile inputs checked one by one, with the same checks as the property runs.

The property runs (``test_hostile_input_quick.py``, ``tests/fuzz``) draw their inputs at
random; these are the cases that must be covered on every run whatever is drawn: each
kind of 1 MiB message, 10^5-deep nesting, and the near misses the fuzzing found.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import bwfuzz_properties as props
import pytest


@pytest.fixture
def harness() -> Iterator[props.Harness]:
    with props.production_like_logging():
        checker = props.Harness("cases")
        try:
            yield checker
        finally:
            checker.close()


@pytest.mark.parametrize("kind", props.HUGE_KINDS)
def test_a_1_mib_message_is_handled_in_bounded_time_and_log(
    harness: props.Harness, kind: str
) -> None:
    harness.check([props.Built(props._huge, kind, 1)])


@pytest.mark.parametrize("kind", props.HUGE_KINDS)
def test_a_1_mib_message_mid_call(harness: props.Harness, kind: str) -> None:
    """The same after a start and some audio, so the decoder is warm and state is set."""
    start, _pcm_start, _spoof, first_media, *_ = props.SETUP_MESSAGES
    harness.check([start, first_media, props.Built(props._huge, kind, 2)])


@pytest.mark.parametrize(
    "kind",
    [
        "open-arrays",
        "arrays",
        "objects",
        "media-with-deep-field",
        "start-with-deep-params",
        "payload",
    ],
)
def test_100_000_levels_of_nesting(harness: props.Harness, kind: str) -> None:
    harness.check([props.Built(props._deep, kind, 100_000)])


def media_with_sequence(seq: object) -> str:
    return json.dumps(
        {"track": "inbound", "payload": "/////w==", "sequenceNumber": seq} | {"eventType": "media"}
    )


@pytest.mark.parametrize(
    "seq",
    [
        "\u0661\u0662",  # Arabic-Indic digits: str.isdigit() is True, int() accepts them
        "\u00b2",  # superscript two: str.isdigit() is True, int() refuses it
        "\uff11",  # fullwidth digit one
        "1\u0662",
        "-1",
        "+1",
        " 1",
        "1 ",
        "1.0",
        "1e3",
        "0x1",
        "1_000",
        "",
        -1,
        1.0,
        True,
        [1],
    ],
)
def test_a_sequence_number_that_is_not_a_decimal_number_is_dropped(
    harness: props.Harness, seq: object
) -> None:
    """PROTOCOL.md: ``sequenceNumber`` is a decimal string counting from "1" (a JSON number
    is tolerated). Anything else is not a frame Bandwidth sent: no audio, and reported."""
    harness.check([media_with_sequence(seq)])  # no frame from an invalid message
    serializer, recorder = harness._new()
    harness._feed(serializer, recorder, media_with_sequence(seq))
    assert len(recorder.of("bad_message")) == 1


@pytest.mark.parametrize(
    "seqs",
    [
        ("1", "2", "3"),
        ("000123", "000124", "000125"),
        ("4294967293", "4294967294", "4294967295"),  # the top of the 32-bit range
        (7, 8, 9),
        (0, 1, 2),
    ],
)
def test_a_decimal_sequence_number_is_caller_audio(
    harness: props.Harness, seqs: tuple[object, ...]
) -> None:
    serializer, recorder = harness._new()
    frames = [harness._feed(serializer, recorder, media_with_sequence(seq)).frame for seq in seqs]
    assert recorder.of("bad_message") == [] and recorder.of("media_gap") == []
    assert any(frame is not None for frame in frames)
