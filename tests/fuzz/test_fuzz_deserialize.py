"""Bounded property-based fuzzing of ``deserialize``: ``BWSERIAL_FUZZ_EXAMPLES`` in all.

The budget (default 20000) is shared between the property families by their weight in
``bwfuzz_properties.PROPERTIES``; the run ends with a line saying how many inputs were
tried, e.g. ``fuzz: 21345 inputs tried (...), 0 exceptions, ... max 3.1 ms/message``.
Examples are random on every run; a failure prints the falsifying input and a
``@reproduce_failure`` blob.
"""

from __future__ import annotations

import bwfuzz_properties as props
import pytest

DEFAULT_EXAMPLES = 20000


@pytest.mark.parametrize("kind", list(props.PROPERTIES))
def test_fuzz_deserialize(kind: str) -> None:
    strategy, share = props.PROPERTIES[kind]
    examples = round(props.examples_budget(DEFAULT_EXAMPLES) * share)
    props.run_property(kind, strategy, examples, derandomize=False)
