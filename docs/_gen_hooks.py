"""Regenerate the hook reference in docs/plugins.md from ``bwserial.hookspecs``.

    python docs/_gen_hooks.py          # rewrite the generated block in docs/plugins.md
    python docs/_gen_hooks.py --check  # exit 1 if it is out of date (what the tests do)

The block sits between the BEGIN/END markers below; everything else in plugins.md is
hand-written. Hook docstrings (Google style, as in Pipecat) and the attribute
docstrings of ``bwserial.types`` are the single source: edit those, then rerun this.
"""

from __future__ import annotations

import ast
import inspect
import re
import sys
from dataclasses import dataclass
from pathlib import Path

DOCS = Path(__file__).resolve().parent
PLUGINS_MD = DOCS / "plugins.md"
BEGIN = (
    "<!-- BEGIN GENERATED hook-reference: `python docs/_gen_hooks.py` writes this block; "
    "edit src/bwserial/hookspecs.py and src/bwserial/types.py instead -->"
)
END = "<!-- END GENERATED hook-reference -->"

TYPES_SHOWN = (
    "StreamContext",
    "Codec",
    "CodecOptions",
    "Encoder",
    "Decoder",
    "HangupStrategy",
    "HangupConfig",
    "Hangup",
    "HangupRequest",
    "HangupResult",
    "HangupOutcome",
    "EndingKind",
    "TransferStrategy",
    "Transfer",
    "CallRegistryFactory",
    "StreamStarted",
    "Track",
    "MediaFormat",
    "StreamStopped",
    "StopReason",
    "StreamWarning",
    "WarningKind",
    "MediaGap",
    "GapKind",
    "Interruption",
    "BadMessage",
    "CallEnded",
    "EndTrigger",
)
"""The types a plugin meets, in reading order (all exported from ``bwserial``)."""


@dataclass(frozen=True)
class HookDoc:
    name: str
    params: tuple[str, ...]
    signature: str
    summary: str
    """First line of the docstring."""
    kind: str
    body: str


def _rst_to_md(text: str) -> str:
    def role(match: re.Match[str]) -> str:
        target = match["target"]
        return f"`{target.rsplit('.', 1)[-1] if match['tilde'] else target}`"

    role_pattern = r":(?:class|func|meth|data|attr|mod|obj):`(?P<tilde>~?)(?P<target>[^`]+)`"
    text = re.sub(role_pattern, role, text)
    return re.sub(r"``([^`]+)``", r"`\1`", text)


_SECTION = re.compile(r"^(Args|Arguments|Parameters|Returns|Raises|Yields|Note|Notes):\s*$")


def _docstring_to_md(doc: str) -> str:
    """Google-style docstring to Markdown: section bodies dedented, roles unwrapped."""
    out: list[str] = []
    lines = doc.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        section = _SECTION.match(line)
        if section:
            body: list[str] = []
            i += 1
            while i < len(lines) and (lines[i].startswith((" ", "\t")) or not lines[i].strip()):
                blank = not lines[i].strip()
                if blank and (i + 1 >= len(lines) or not lines[i + 1].startswith(" ")):
                    break
                body.append(lines[i].strip())
                i += 1
            out.append(f"**{section[1]}:** " + " ".join(b for b in body if b))
            continue
        out.append(line)
        i += 1
    return _rst_to_md("\n".join(out)).strip()


def hook_docs() -> list[HookDoc]:
    """Every hookspec, in source order."""
    from bwserial import hookspecs
    from bwserial.plugins import FACTORY_HOOKS, REGISTRATION_HOOKS

    found = []
    for name, function in vars(hookspecs).items():
        if not name.startswith("bwserial_") or not inspect.isfunction(function):
            continue
        options = getattr(function, f"{hookspecs.PROJECT_NAME}_spec", None)
        if options is None:
            continue
        signature = inspect.signature(function)
        doc = inspect.getdoc(function) or ""
        if name in FACTORY_HOOKS:
            kind = (
                "Per-call factory: every enabled plugin's implementation is called once per "
                "serializer; the object it returns observes that call only."
            )
        elif name in REGISTRATION_HOOKS:
            kind = (
                "Registration hook: every enabled plugin's implementation is called once per "
                "serializer; the items are collected by name."
            )
        else:
            kind = (
                "Event hook: every implementation is called, one at a time; return values are "
                "ignored and an exception is logged with the plugin's name."
            )
        if options.get("firstresult"):
            kind += " The first non-None result wins."
        found.append(
            HookDoc(
                name=name,
                params=tuple(signature.parameters),
                signature=f"{name}{signature}".replace("'", ""),
                summary=doc.splitlines()[0] if doc else "",
                kind=kind,
                body=_docstring_to_md(doc),
            )
        )
    return found


# --------------------------------------------------------------------------- types


@dataclass(frozen=True)
class Member:
    name: str
    kind: str
    """"field", "property", "method" or "value"."""
    annotation: str
    default: str
    doc: str


def _first_paragraph(doc: str | None) -> str:
    if not doc:
        return ""
    paragraph = inspect.cleandoc(doc).split("\n\n", 1)[0]
    return " ".join(line.strip() for line in paragraph.splitlines())


def _class_members(node: ast.ClassDef) -> list[Member]:
    members: list[Member] = []
    body = node.body
    for index, item in enumerate(body):
        following = body[index + 1] if index + 1 < len(body) else None
        doc = ""
        if (
            isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            doc = _first_paragraph(following.value.value)
        if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
            name = item.target.id
            if name.startswith("_"):
                continue
            default = ast.unparse(item.value) if item.value is not None else ""
            if "default_factory" in default:
                default = "empty"
            elif default.startswith("_"):
                default = "optional"
            members.append(Member(name, "field", ast.unparse(item.annotation), default, doc))
        elif isinstance(item, ast.Assign) and len(item.targets) == 1:
            target = item.targets[0]
            if isinstance(target, ast.Name) and not target.id.startswith("_"):
                members.append(Member(target.id, "value", "", ast.unparse(item.value), doc))
        elif isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
            if item.name.startswith("_"):
                continue
            decorators = {ast.unparse(d) for d in item.decorator_list}
            returns = ast.unparse(item.returns) if item.returns else ""
            fdoc = _first_paragraph(ast.get_docstring(item))
            if "property" in decorators:
                members.append(Member(item.name, "property", returns, "", fdoc))
            else:
                args = [a.arg for a in item.args.args if a.arg not in ("self", "cls")]
                prefix = "async " if isinstance(item, ast.AsyncFunctionDef) else ""
                signature = f"{prefix}{item.name}({', '.join(args)})"
                members.append(Member(signature, "method", returns, "", fdoc))
    return members


def _cell(text: str) -> str:
    return _rst_to_md(text).replace("|", "\\|")


def types_reference() -> str:
    import bwserial.types as types_module

    tree = ast.parse(Path(inspect.getfile(types_module)).read_text(encoding="utf-8"))
    classes = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}
    parts: list[str] = []
    for name in TYPES_SHOWN:
        node = classes[name]
        bases = {ast.unparse(b) for b in node.bases}
        decorators = " ".join(ast.unparse(d) for d in node.decorator_list)
        if "Protocol" in bases:
            what = "protocol (implement these)"
        elif "enum.StrEnum" in bases:
            what = "string enum"
        elif "dataclass" in decorators:
            what = "frozen dataclass" if "frozen=True" in decorators else "dataclass"
        else:
            what = "read-only view"
        summary = _rst_to_md(_first_paragraph(ast.get_docstring(node)))
        parts.append(f"#### `{name}`\n\n*{what}*" + (f". {summary}" if summary else "") + "\n")
        members = _class_members(node)
        if not members:
            continue
        rows = ["| member | type / value | meaning |", "|---|---|---|"]
        for m in members:
            if m.kind == "value":
                shown = f"`{m.default}`"
            else:
                shown = f"`{m.annotation}`" if m.annotation else ""
                if m.default in ("empty", "optional"):
                    shown += f" ({m.default})"
                elif m.default:
                    shown += f" = `{m.default}`"
            rows.append(f"| `{m.name}` | {_cell(shown)} | {_cell(m.doc)} |")
        parts.append("\n".join(rows) + "\n")
    return "\n".join(parts)


# --------------------------------------------------------------------------- page


def render() -> str:
    """The whole generated block, markers included."""
    out = [BEGIN, "", "### Hooks", ""]
    for hook in hook_docs():
        out += [
            f"#### `{hook.name}`",
            "",
            f"`{hook.signature}`",
            "",
            f"*{hook.kind}*",
            "",
            hook.body,
            "",
        ]
    out += ["### Types hooks exchange", "", "All importable from `bwserial`.", ""]
    out += [types_reference().rstrip(), "", END]
    return "\n".join(out)


def current_block(text: str) -> str:
    start = text.index(BEGIN)
    end = text.index(END, start) + len(END)
    return text[start:end]


def main(argv: list[str]) -> int:
    text = PLUGINS_MD.read_text(encoding="utf-8")
    try:
        old = current_block(text)
    except ValueError:
        print(f"{PLUGINS_MD}: markers not found", file=sys.stderr)
        return 2
    new = render()
    if "--check" in argv:
        if old != new:
            print(f"{PLUGINS_MD} is out of date: run python docs/_gen_hooks.py", file=sys.stderr)
            return 1
        return 0
    if old != new:
        PLUGINS_MD.write_text(text.replace(old, new), encoding="utf-8")
        print(f"updated {PLUGINS_MD}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
