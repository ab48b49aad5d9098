"""Find every signature docs/ shows and compare it with the real object's.

What counts as a signature (the convention is written in docs/plugins.md's and
docs/testing.md's own words; this is its one implementation):

1. **Signature lines**: a line whose only content is one code span ``NAME(PARAMS)``,
   optionally ``-> TYPE`` (``BandwidthFrameSerializer(stream_id, call_id=None, ...)``).
   NAME is a public name (see :func:`resolve`); the parameters must be the real ones, in
   order, with the same kinds (``*`` and ``/`` included) and, where the doc gives a
   literal default, the same default. A trailing ``...`` says "more parameters follow".
2. **Member tables**: in a table under a heading that is a code span naming a public
   class (``### `FakeVoiceAPI` ``), a first cell ``name(PARAMS)`` (``async`` allowed) is
   a method signature checked as above, and a first cell ``name`` must be a field or
   attribute of that class.
3. **Overrides in python blocks**: a ``class X(Base)`` in a ```python block whose base is
   a public class, and whose method overrides one of the base's, must accept every call
   the base's signature allows (the built-in calls ``self.invalidate_token(token)``: an
   override ``def invalidate_token(self)`` fails).
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DOC_FILES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]

NAMESPACES = (
    "bwserial",
    "bwserial.hookspecs",
    "bwserial.audio",
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
"""Where a bare name in a signature is looked up, in order (their public names only)."""

ALIASES = {"InputParams": "BandwidthFrameSerializer.InputParams"}
"""Short names the docs use for a public nested name."""

_LINE = re.compile(
    r"^\s*(?:[-*]\s+)?`(?P<name>[A-Za-z_][\w.]*)\((?P<params>[^`]*)\)(?:\s*->\s*[^`]+)?`[,.:;]?\s*$"
)
_HEADING = re.compile(r"^#{1,6}\s+`(?P<name>[A-Za-z_][\w.]*)`\s*$")
_ANY_HEADING = re.compile(r"^#{1,6}\s")
_ROW = re.compile(r"^\s*\|\s*`(?P<cell>[^`]+)`\s*\|")
_METHOD = re.compile(r"^(?:async\s+)?(?P<name>[A-Za-z_]\w*)\((?P<params>.*)\)$")
_FENCE = re.compile(r"^\s*(`{3,}|~{3,})\s*(\w*)")


@dataclass(frozen=True)
class Shown:
    """One signature found in a doc."""

    where: str
    kind: str  # "signature", "field" or "override"
    owner: str
    name: str
    text: str

    def __str__(self) -> str:
        return f"{self.where}: {self.text}"


def _public(module: Any) -> list[str]:
    names = getattr(module, "__all__", None)
    return list(names) if names is not None else [n for n in vars(module) if n[:1] != "_"]


def resolve(name: str) -> Any:
    """A dotted path (``bwserial.testing.messages.media``) or a public bare name."""
    head, _, rest = name.partition(".")
    if head in ALIASES:
        return resolve(ALIASES[head] + (f".{rest}" if rest else ""))
    for namespace in NAMESPACES:
        module = importlib.import_module(namespace)
        if head in _public(module) or (namespace == "bwserial.hookspecs" and hasattr(module, head)):
            obj = getattr(module, head)
            for part in rest.split(".") if rest else ():
                obj = getattr(obj, part)
            return obj
    if "." in name:  # a full module path
        parts = name.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:cut]))
            except ImportError:
                continue
            for part in parts[cut:]:
                obj = getattr(obj, part)
            return obj
    raise LookupError(f"{name!r} is not a public name of bwserial")


def _outside_fences(lines: list[str]) -> Iterator[tuple[int, str]]:
    fence: str | None = None
    for number, line in enumerate(lines, 1):
        match = _FENCE.match(line)
        if match and (fence is None or match[1].startswith(fence)):
            fence = None if fence is not None else match[1]
            continue
        if fence is None:
            yield number, line


def signatures_in(path: Path, text: str | None = None) -> list[Shown]:
    """Rules 1 and 2 over one Markdown document."""
    lines = (path.read_text(encoding="utf-8") if text is None else text).splitlines()
    where = path.name
    found: list[Shown] = []
    heading: str | None = None
    for number, line in _outside_fences(lines):
        if match := _LINE.match(line):
            found.append(
                Shown(f"{where}:{number}", "signature", "", match["name"], match[0].strip())
            )
            continue
        if match := _HEADING.match(line):
            heading = match["name"]
            continue
        if _ANY_HEADING.match(line):
            heading = None
            continue
        if heading is None or not (row := _ROW.match(line)):
            continue
        cell = row["cell"].strip()
        if method := _METHOD.match(cell):
            found.append(Shown(f"{where}:{number}", "signature", heading, method["name"], cell))
        elif cell.isidentifier():
            found.append(Shown(f"{where}:{number}", "field", heading, cell, cell))
    return found


def overrides_in(path: Path, blocks: list[tuple[int, str]]) -> list[Shown]:
    """Rule 3 over the ```python blocks of one document: ``(first line, code)`` pairs."""
    found: list[Shown] = []
    for line, code in blocks:
        try:
            tree = ast.parse(code)
        except SyntaxError:
            continue  # test_docs_examples reports it
        imported: dict[str, str] = {}
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.startswith("bwserial")
            ):
                for alias in node.names:
                    imported[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        for node in ast.walk(tree):
            if not isinstance(node, ast.ClassDef):
                continue
            bases = [
                imported[b.id] for b in node.bases if isinstance(b, ast.Name) and b.id in imported
            ]
            for base in bases:
                for item in node.body:
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                        text = f"def {item.name}({ast.unparse(item.args)})"
                        found.append(
                            Shown(
                                f"{path.name}:{line + item.lineno}",
                                "override",
                                base,
                                item.name,
                                text,
                            )
                        )
    return found


# ------------------------------------------------------------------------------ checks


def _documented_parameters(params: str) -> tuple[list[inspect.Parameter], bool]:
    """Parse ``a, b=1, *, c`` as a parameter list; a trailing ``...`` means "and more"."""
    params = params.strip()
    open_ended = params == "..." or params.endswith(", ...")
    if open_ended:
        params = params[: -len("...")].rstrip().rstrip(",")
    tree = ast.parse(f"def _({params}): pass")
    function = tree.body[0]
    assert isinstance(function, ast.FunctionDef)
    args = function.args
    result: list[inspect.Parameter] = []
    positional = [*args.posonlyargs, *args.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults))
    defaults += list(args.defaults)
    for index, (arg, default) in enumerate(zip(positional, defaults, strict=True)):
        kind = (
            inspect.Parameter.POSITIONAL_ONLY
            if index < len(args.posonlyargs)
            else inspect.Parameter.POSITIONAL_OR_KEYWORD
        )
        result.append(_parameter(arg.arg, kind, default))
    if args.vararg:
        result.append(inspect.Parameter(args.vararg.arg, inspect.Parameter.VAR_POSITIONAL))
    for arg, kw_default in zip(args.kwonlyargs, args.kw_defaults, strict=True):
        result.append(_parameter(arg.arg, inspect.Parameter.KEYWORD_ONLY, kw_default))
    if args.kwarg:
        result.append(inspect.Parameter(args.kwarg.arg, inspect.Parameter.VAR_KEYWORD))
    return result, open_ended


_UNCHECKED = object()


def _parameter(name: str, kind: Any, default: ast.expr | None) -> inspect.Parameter:
    if default is None:
        return inspect.Parameter(name, kind)
    try:
        value = ast.literal_eval(default)
    except ValueError:
        value = _UNCHECKED  # a default the doc spells as an expression: only its presence counts
    return inspect.Parameter(name, kind, default=value)


def _real_parameters(obj: Any, *, method: bool) -> list[inspect.Parameter]:
    parameters = list(inspect.signature(obj).parameters.values())
    if method and parameters and parameters[0].name in ("self", "cls"):
        parameters = parameters[1:]
    return parameters


def check_signature(shown: Shown) -> str | None:
    """None if the doc matches the code, else what differs."""
    if shown.kind == "field":
        owner = resolve(shown.owner)
        fields = (
            {f.name for f in dataclasses.fields(owner)}
            if dataclasses.is_dataclass(owner)
            else set()
        )
        annotations = set(getattr(owner, "__annotations__", {}))
        annotations |= set(getattr(owner, "model_fields", {}))  # pydantic models
        if shown.name in fields | annotations or hasattr(owner, shown.name):
            return None
        if _set_in_init(owner, shown.name):
            return None
        return f"{shown.owner} has no field or attribute {shown.name!r}"
    if shown.kind == "override":
        return _check_override(shown)
    match = (
        _METHOD.match(shown.text.strip("`").split(" -> ")[0].strip())
        if shown.owner
        else _LINE.match(shown.text)
    )
    assert match is not None
    qualified = f"{shown.owner}.{shown.name}" if shown.owner else shown.name
    try:
        obj = resolve(qualified)
    except (LookupError, AttributeError) as e:
        return f"{qualified}: not found ({e})"
    is_method = bool(shown.owner) and not inspect.isclass(obj)
    try:
        real = _real_parameters(obj, method=is_method)
    except (TypeError, ValueError):
        return None  # no introspectable signature (a C function): nothing to compare
    documented, open_ended = _documented_parameters(match["params"])
    if open_ended:
        real = real[: len(documented)]
    if len(documented) != len(real):
        return f"{qualified}: documented {_render(documented)}, real {_render(real)}"
    for doc, code in zip(documented, real, strict=True):
        if (doc.name, doc.kind) != (code.name, code.kind):
            return f"{qualified}: documented {_render(documented)}, real {_render(real)}"
        if doc.default is inspect.Parameter.empty:
            if code.default is not inspect.Parameter.empty and doc.kind not in (
                inspect.Parameter.VAR_POSITIONAL,
                inspect.Parameter.VAR_KEYWORD,
            ):
                return f"{qualified}: {doc.name} has a default ({code.default!r}) the doc omits"
        elif code.default is inspect.Parameter.empty:
            return f"{qualified}: {doc.name} is documented with a default but is required"
        elif doc.default is not _UNCHECKED and doc.default != code.default:
            return f"{qualified}: {doc.name} defaults to {code.default!r}, not {doc.default!r}"
    return None


def _set_in_init(owner: Any, name: str) -> bool:
    """An instance attribute assigned in ``__init__`` (``self.name = ...``)."""
    init = getattr(owner, "__init__", None)
    try:
        source = inspect.getsource(init) if init is not None else ""
    except (OSError, TypeError):
        return False
    return re.search(rf"\bself\.{re.escape(name)}\s*(?::[^=]+)?=(?!=)", source) is not None


def _render(parameters: list[inspect.Parameter]) -> str:
    return (
        "("
        + ", ".join(str(p.replace(annotation=inspect.Parameter.empty)) for p in parameters)
        + ")"
    )


def _check_override(shown: Shown) -> str | None:
    try:
        base = resolve(shown.owner)
    except (LookupError, AttributeError, ImportError):
        return None  # not a bwserial class (a Pipecat one): not ours to check
    if not inspect.isclass(base) or not hasattr(base, shown.name):
        return None  # a new method, not an override
    real = inspect.signature(getattr(base, shown.name))
    override = ast.parse(shown.text + ": pass").body[0]
    assert isinstance(override, ast.FunctionDef)
    namespace: dict[str, Any] = {}
    exec(compile(ast.Module([override], []), "<doc>", "exec"), namespace)
    mine = inspect.signature(namespace[shown.name])
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for parameter in real.parameters.values():
        if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
            args.append(parameter.name)
        elif parameter.kind is parameter.KEYWORD_ONLY:
            kwargs[parameter.name] = parameter.name
    try:
        mine.bind(*args, **kwargs)
    except TypeError as e:
        return (
            f"{shown.owner}.{shown.name}{real} is called as such; the doc overrides it as "
            f"{shown.text[4:]} ({e})"
        )
    return None
