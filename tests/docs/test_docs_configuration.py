"""docs/configuration.md documents every InputParams field with its real default,
every constructor argument, and every environment variable the package reads."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

from bwserial import BandwidthFrameSerializer

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "configuration.md"
FIELDS = BandwidthFrameSerializer.InputParams.model_fields
_ROW = re.compile(r"^\|\s*`(?P<name>\w+)`\s*\|\s*`(?P<default>[^`]*)`\s*\|", re.M)


def documented_defaults() -> dict[str, str]:
    return {m["name"]: m["default"] for m in _ROW.finditer(DOC.read_text(encoding="utf-8"))}


@pytest.mark.parametrize("name", list(FIELDS))
def test_every_input_params_field_is_documented_with_its_default(name: str) -> None:
    rows = documented_defaults()
    assert name in rows, f"InputParams.{name} is missing from docs/configuration.md's table"
    field = FIELDS[name]
    expected = field.default_factory() if field.default_factory is not None else field.default  # type: ignore[call-arg]
    try:
        documented = ast.literal_eval(rows[name])
    except (ValueError, SyntaxError):
        pytest.fail(f"{name}: write the default as a Python literal, got {rows[name]!r}")
    assert documented == expected and type(documented) is type(expected), (
        f"InputParams.{name}: docs say {rows[name]}, code says {expected!r}"
    )


def test_every_constructor_argument_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    for name in inspect.signature(BandwidthFrameSerializer.__init__).parameters:
        if name != "self":
            assert f"`{name}`" in text, f"constructor argument {name} is not documented"


_ENV_LITERAL = re.compile(r"""["'](BWSERIAL_[A-Z0-9_]+)["']""")
_ENV_READ = re.compile(
    r"""(?:environ\.get|environ\[|getenv|env_list)\(?\s*["']([A-Z][A-Z0-9_]+)["']"""
)


def test_every_environment_variable_the_package_reads_is_documented() -> None:
    names: set[str] = set()
    for path in (ROOT / "src" / "bwserial").rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        names |= set(_ENV_LITERAL.findall(source)) | set(_ENV_READ.findall(source))
    assert {"BWSERIAL_PLUGINS", "BWSERIAL_DISABLE_PLUGINS"} <= names
    text = DOC.read_text(encoding="utf-8")
    # A name ending in "_" is a prefix (BWSERIAL_DEMO_<FIELD>): documented by its expansions.
    missing = sorted(n for n in names if (f"`{n}" if n.endswith("_") else f"`{n}`") not in text)
    assert not missing, f"environment variables read in src/ but not in configuration.md: {missing}"


def test_every_demo_setting_has_its_variable_documented() -> None:
    settings = pytest.importorskip("bwserial.demo.settings")
    text = DOC.read_text(encoding="utf-8")
    prefix = getattr(settings, "ENV_PREFIX", "BWSERIAL_DEMO_")
    fields = list(settings.DemoSettings.model_fields)
    missing = [n for n in fields if f"`{prefix}{n.upper()}`" not in text]
    assert not missing, (
        f"DemoSettings fields without a {prefix}* row in configuration.md: {missing}"
    )
