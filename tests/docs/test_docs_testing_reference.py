"""docs/testing.md documents every public class and function of the testing kit, and every
field of its dataclasses (whether the signatures are right is test_docs_signatures's job)."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import re

import pytest
from doc_signatures import ROOT, signatures_in

from bwserial.testing import pytest_plugin

DOC = ROOT / "docs" / "testing.md"
MODULES = (
    "bwserial.testing",
    "bwserial.testing.fake_voice_api",
    "bwserial.testing.simulator",
    "bwserial.testing.messages",
    "bwserial.testing.inprocess",
    "bwserial.testing.webhook",
    "bwserial.testing.server",
    "bwserial.testing.turns",
    "bwserial.testing.report",
    "bwserial.testing.wav",
)
NOT_DOCUMENTED_SEPARATELY = {
    # Named in the text around the objects they belong to.
    "HANG", "FRAME_BYTES", "FRAME_SECS", "TRACKS_BOTH", "PCMU_RATE", "MULAW_SILENCE",
    "EndReason", "EndWith", "Segment", "SimulatorError", "ConnectionRejected", "BxmlError",
    "WavFormatError", "new_call_id", "new_stream_id",
}  # fmt: skip


def _public() -> list[tuple[str, str, object]]:
    found: dict[int, tuple[str, str, object]] = {}
    for name in MODULES:
        module = importlib.import_module(name)
        for attr in module.__all__:
            obj = getattr(module, attr)
            if attr in NOT_DOCUMENTED_SEPARATELY or id(obj) in found:
                continue
            if inspect.isclass(obj) or inspect.isfunction(obj):
                found[id(obj)] = (name, attr, obj)
    return sorted(found.values(), key=lambda item: (item[0], item[1]))


PUBLIC = _public()


def _text() -> str:
    return DOC.read_text(encoding="utf-8")


def _section(name: str) -> str | None:
    match = re.search(rf"^#+ `{re.escape(name)}`\n(.*?)(?=^#+ |\Z)", _text(), re.M | re.S)
    return match[1] if match else None


@pytest.mark.parametrize(("module", "name", "obj"), PUBLIC, ids=[f"{m}.{n}" for m, n, _ in PUBLIC])
def test_every_public_name_has_a_heading_or_a_signature_line(
    module: str, name: str, obj: object
) -> None:
    shown = {
        s.name.rsplit(".", 1)[-1]
        for s in signatures_in(DOC)
        if s.kind == "signature" and not s.owner
    }
    assert _section(name) is not None or name in shown, f"{module}.{name} is not in docs/testing.md"


DATACLASSES = [(m, n, o) for m, n, o in PUBLIC if dataclasses.is_dataclass(o)]


@pytest.mark.parametrize(("module", "name", "obj"), DATACLASSES, ids=[n for _, n, _ in DATACLASSES])
def test_every_dataclass_field_is_in_its_table(module: str, name: str, obj: object) -> None:
    section = _section(name)
    fields = [f.name for f in dataclasses.fields(obj)]  # type: ignore[arg-type]
    if section is None:  # documented by its signature line alone
        line = next(s for s in signatures_in(DOC) if s.name.rsplit(".", 1)[-1] == name)
        section = line.text
    rows = set(re.findall(r"^\|\s*`(\w+)", section, re.M))
    signature = "\n".join(line for line in section.splitlines() if line.startswith("`"))
    missing = [f for f in fields if f not in rows and not re.search(rf"[(, ]{f}\b", signature)]
    assert not missing, f"{name}: fields {missing} are not documented in docs/testing.md"


def test_every_fixture_is_in_the_fixture_table() -> None:
    fixtures = [n for n in pytest_plugin.__all__ if callable(getattr(pytest_plugin, n))]
    table = _text().split("## In pytest: the fixtures", 1)[1].split("###", 1)[0]
    rows = set(re.findall(r"^\|\s*`(\w+)`", table, re.M))
    assert fixtures and set(fixtures) == rows, f"fixtures {set(fixtures) ^ rows} differ"
