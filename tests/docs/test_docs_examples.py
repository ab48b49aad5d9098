"""Every fenced example in docs/*.md and README.md runs here, so the docs cannot rot.

Conventions, written as HTML comments on the lines right above an opening fence
(blank lines between them are allowed):

* A ```python block runs with ``exec`` as a module of its own, in a temporary working
  directory, with only the built-in plugins (``BWSERIAL_PLUGINS=""``, no other BWSERIAL_*
  variable), so installed plugins cannot change its outcome. If it defines ``main``, the runner then
  calls it: ``asyncio.run(main())`` for ``async def main()``, else ``main()``; bounded
  by ``TIMEOUT_SECS``.
* ``<!-- continues -->``: the block runs in the namespace the previous python block
  of the same file left behind (a step-by-step page); the chain is one test.
* ``<!-- pytest -->``: the block is a pytest test module. It is written to a temporary
  directory and run by pytest in a subprocess (``asyncio_mode=auto``, bwserial's pytest
  plugin loaded as its entry point would), exactly as a user would run it; it must
  collect at least one test and pass.
* ``<!-- requires: DIST>=VERSION -->``: skipped when the installed distribution is
  older (e.g. examples using Pipecat's PipelineWorker, new in pipecat-ai 1.3, are
  skipped in the lowest-pipecat tox env).
* ``<!-- not-executed: REASON -->``: compiled only. For examples that need a live
  Bandwidth account or a long-running server. Kept few (``MAX_NOT_EXECUTED``).
* ```toml blocks are parsed with ``tomllib``; ```xml blocks (BXML) with ElementTree.
  Other languages (bash, console, text) are not checked.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import re
import subprocess
import sys
import textwrap
import tomllib
import types
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC_FILES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
TIMEOUT_SECS = 60.0
MAX_NOT_EXECUTED = 6
"""Illustrative-only blocks rot silently; a new one must be worth raising this."""

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>[\w+-]*)[^\n]*$")
_MARKER = re.compile(r"^\s*<!--\s*(?P<name>[\w-]+)\s*(?::\s*(?P<arg>.*?))?\s*-->\s*$")
_REQUIRES = re.compile(r"^(?P<dist>[\w.-]+)\s*>=\s*(?P<version>[\w.]+)$")


@dataclass
class Block:
    path: Path
    line: int
    """1-based line of the opening fence."""
    lang: str
    code: str
    markers: dict[str, str] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def parse_blocks(path: Path) -> list[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if match is None:
            i += 1
            continue
        indent, fence, lang = match["indent"], match["fence"], match["lang"].lower()
        markers: dict[str, str] = {}
        j = i - 1
        while j >= 0 and (not lines[j].strip() or _MARKER.match(lines[j])):
            if marker := _MARKER.match(lines[j]):
                markers[marker["name"]] = (marker["arg"] or "").strip()
            j -= 1
        body: list[str] = []
        k = i + 1
        while k < len(lines) and not lines[k].strip().startswith(fence):
            line = lines[k]
            body.append(line[len(indent) :] if line.startswith(indent) else line.lstrip())
            k += 1
        blocks.append(Block(path, i + 1, lang, "\n".join(body) + "\n", markers))
        i = k + 1
    return blocks


ALL_BLOCKS = [block for path in DOC_FILES if path.exists() for block in parse_blocks(path)]
PYTHON = [b for b in ALL_BLOCKS if b.lang in ("python", "py")]


def chains() -> list[list[Block]]:
    """Python blocks grouped so that each ``continues`` block joins the one before it."""
    grouped: list[list[Block]] = []
    for block in PYTHON:
        if "not-executed" in block.markers or "pytest" in block.markers:
            continue
        if "continues" in block.markers:
            previous = grouped[-1] if grouped else None
            if previous is None or previous[-1].path != block.path:
                raise AssertionError(f"{block.where}: 'continues' without a block before it")
            previous.append(block)
        else:
            grouped.append([block])
    return grouped


def _skip_unless_requirements_met(blocks: list[Block]) -> None:
    for block in blocks:
        requirement = block.markers.get("requires")
        if not requirement:
            continue
        match = _REQUIRES.match(requirement)
        assert match, f"{block.where}: write requires as DIST>=VERSION, got {requirement!r}"
        try:
            installed = metadata.version(match["dist"])
        except metadata.PackageNotFoundError:
            pytest.skip(f"{block.where} needs {requirement} (not installed)")
        if _release(installed) < _release(match["version"]):
            pytest.skip(f"{block.where} needs {requirement}, found {installed}")


def _release(version: str) -> tuple[int, ...]:
    """The numeric release part of a version ("1.14.0rc1" -> (1, 14, 0)); enough here."""
    numbers = re.match(r"\d+(?:\.\d+)*", version)
    return tuple(int(n) for n in numbers[0].split(".")) if numbers else ()


@contextlib.contextmanager
def isolated(tmp_path: Path) -> Iterator[None]:
    """A clean working directory and environment; per-process caches reset afterwards."""
    from bwserial import plugins
    from bwserial.voiceapi import _oauth as oauth

    saved_env = dict(os.environ)
    saved_cwd = Path.cwd()
    saved_path = list(sys.path)
    for name in [n for n in os.environ if n.startswith("BWSERIAL_")]:
        del os.environ[name]
    os.environ["BWSERIAL_PLUGINS"] = ""  # only built-ins: what else is installed must not matter
    plugins.discover(refresh=True)
    os.chdir(tmp_path)
    try:
        yield
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        sys.path[:] = saved_path
        oauth.clear_cache()
        plugins.discover(refresh=True)


async def _bounded(main: object) -> None:
    async with asyncio.timeout(TIMEOUT_SECS):
        await main()  # type: ignore[operator]


def run_chain(blocks: list[Block]) -> None:
    module = types.ModuleType(f"docs_example_{blocks[0].path.stem}_{blocks[0].line}")
    module.__file__ = str(blocks[0].path)
    sys.modules[module.__name__] = module  # dataclasses and pydantic look their module up
    try:
        for block in blocks:
            code = compile(block.code, block.where, "exec")
            exec(code, module.__dict__)
            main = module.__dict__.pop("main", None)
            if main is None:
                continue
            if inspect.iscoroutinefunction(main):
                asyncio.run(_bounded(main))
            else:
                main()
    finally:
        del sys.modules[module.__name__]


def _chain_id(blocks: list[Block]) -> str:
    first = blocks[0]
    return f"{first.path.name}:{first.line}" + (f"+{len(blocks) - 1}" if len(blocks) > 1 else "")


CHAINS = chains()


@pytest.mark.parametrize("blocks", CHAINS, ids=[_chain_id(c) for c in CHAINS])
def test_python_example_runs(blocks: list[Block], tmp_path: Path) -> None:
    _skip_unless_requirements_met(blocks)
    with isolated(tmp_path):
        run_chain(blocks)


PYTEST_BLOCKS = [b for b in PYTHON if "pytest" in b.markers]


@pytest.mark.parametrize(
    "block", PYTEST_BLOCKS, ids=[f"{b.path.name}:{b.line}" for b in PYTEST_BLOCKS]
)
def test_pytest_example_passes(block: Block, tmp_path: Path) -> None:
    _skip_unless_requirements_met([block])
    (tmp_path / "test_doc_example.py").write_text(block.code, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BWSERIAL_")}
    env["BWSERIAL_PLUGINS"] = ""
    env.pop("PYTEST_ADDOPTS", None)
    env.pop("PYTEST_CURRENT_TEST", None)
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",  # what the pytest11 entry point loads once bwserial is installed
            "bwserial.testing.pytest_plugin",
            "-o",
            "asyncio_mode=auto",
            "-o",
            "asyncio_default_fixture_loop_scope=function",
            "-W",
            "ignore:'audioop' is deprecated:DeprecationWarning",
            "test_doc_example.py",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECS * 2,
        check=False,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, f"{block.where} failed under pytest:\n{output[-6000:]}"
    assert re.search(r"\b\d+ passed\b", output), f"{block.where}: no test ran:\n{output[-3000:]}"


NOT_EXECUTED = [b for b in PYTHON if "not-executed" in b.markers]


def test_not_executed_examples_compile_and_say_why() -> None:
    for block in NOT_EXECUTED:
        assert block.markers["not-executed"], f"{block.where}: say why it is not executed"
        compile(block.code, block.where, "exec")


def test_illustrative_only_examples_stay_few() -> None:
    where = [b.where for b in NOT_EXECUTED]
    assert len(where) <= MAX_NOT_EXECUTED, f"too many not-executed examples: {where}"


def test_markers_are_known() -> None:
    known = {"continues", "pytest", "requires", "not-executed"}
    for block in PYTHON:
        unknown = set(block.markers) - known
        assert not unknown, f"{block.where}: unknown marker(s) {sorted(unknown)}"


def test_every_page_has_examples_that_run() -> None:
    """A page of prose only is fine; a page whose examples are all skipped is not."""
    for path in DOC_FILES:
        blocks = [b for b in PYTHON if b.path == path]
        if blocks:
            assert any("not-executed" not in b.markers for b in blocks), path.name


CONFIG_BLOCKS = [b for b in ALL_BLOCKS if b.lang in ("toml", "xml")]


@pytest.mark.parametrize(
    "block", CONFIG_BLOCKS, ids=[f"{b.path.name}:{b.line}" for b in CONFIG_BLOCKS]
)
def test_config_snippet_parses(block: Block) -> None:
    if block.lang == "toml":
        tomllib.loads(block.code)
    else:
        ET.fromstring(textwrap.dedent(block.code).strip())
