"""A small, derandomized run of the hostile-input properties on every run of the main suite.

The full budget runs in ``tests/fuzz`` (tox env ``fuzz``); the properties themselves, and
what each one checks, are in ``bwfuzz_properties.py``.
"""

from __future__ import annotations

import bwfuzz_properties as props
import pytest

QUICK_EXAMPLES = {"huge": 40}
"""Examples per family here; 300 unless listed (1 MiB inputs cost ~30 ms each)."""


@pytest.mark.parametrize("kind", list(props.PROPERTIES))
def test_deserialize_survives_hostile_input(kind: str) -> None:
    strategy, _share = props.PROPERTIES[kind]
    with props.production_like_logging():
        props.run_property(kind, strategy, QUICK_EXAMPLES.get(kind, 300), derandomize=True)
