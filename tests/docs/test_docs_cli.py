"""`bwserial ...` command lines in the docs use commands and options that exist.

Console blocks are not executed (a demo call takes ~20 s, `simulate` needs a bot), so
this checks them against the click definitions instead: a renamed option fails here.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

cli = pytest.importorskip("bwserial.cli")

ROOT = Path(__file__).resolve().parents[2]
DOCS = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
_BLOCK = re.compile(r"^```(?:console|bash|sh|shell)\n(.*?)^```", re.M | re.S)


def _options(command: click.Command) -> set[str]:
    names: set[str] = set()
    for param in command.params:
        names.update(getattr(param, "opts", ()))
        names.update(getattr(param, "secondary_opts", ()))
        if getattr(param, "count", False):  # -v also as -vv, -vvv
            short = [o for o in getattr(param, "opts", ()) if len(o) == 2]
            names.update("-" + o[1] * n for o in short for n in (2, 3))
    return names | {"-h", "--help"}


def command_lines() -> list[tuple[str, list[str]]]:
    found = []
    for path in DOCS:
        for block in _BLOCK.findall(path.read_text(encoding="utf-8")):
            for line in block.replace("\\\n", " ").splitlines():
                line = line.strip().removeprefix("$ ")
                words = shlex.split(line, comments=True) if line else []
                if "bwserial" in words:
                    start = words.index("bwserial")
                    args = []
                    for word in words[start + 1 :]:
                        if word in ("&&", "||", "|", ";"):
                            break
                        args.append(word)
                    found.append((f"{path.name}: {line}", args))
    return found


LINES = command_lines()


def test_the_docs_show_the_cli() -> None:
    assert {args[0] for _, args in LINES if args} >= {"plugins", "simulate", "demo"}


@pytest.mark.parametrize(("where", "args"), LINES, ids=[w for w, _ in LINES])
def test_command_line_uses_real_commands_and_options(where: str, args: list[str]) -> None:
    group: click.Group = cli.main
    global_options = _options(group)
    words = list(args)
    while words and words[0].startswith("-"):
        assert words.pop(0) in global_options, where
    if not words:
        return
    command = group.commands.get(words[0])
    assert command is not None, f"{where}: no command {words[0]!r}"
    known = _options(command)
    for word in words[1:]:
        if word.startswith("-") and word != "-":
            option = word.split("=", 1)[0]
            assert option in known, f"{where}: {option} is not an option of {words[0]}"


def test_options_named_in_testing_md_exist() -> None:
    text = (ROOT / "docs" / "testing.md").read_text(encoding="utf-8")
    section = text.split("## From the command line", 1)[1].split("\n## ", 1)[0]
    every = set().union(*(_options(c) for c in cli.main.commands.values()), _options(cli.main))
    named = set(re.findall(r"`(--?[a-z][\w-]*)", section))
    assert named, "the section names no options"
    assert named <= every, f"options in testing.md that the CLI lacks: {sorted(named - every)}"
