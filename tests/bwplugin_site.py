"""Real installed plugins for tests: modules plus a ``.dist-info`` with entry points.

``importlib.metadata`` finds them on ``sys.path`` exactly as it finds a pip-installed
package, so discovery runs its real code path: nothing is mocked.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path


def install(
    root: Path,
    dist: str,
    entry_points: dict[str, str],
    modules: dict[str, str],
    summary: str = "",
) -> None:
    """Write ``modules`` (name -> source) and a distribution declaring ``entry_points``."""
    for module, body in modules.items():
        (root / f"{module}.py").write_text(textwrap.dedent(body))
    info = root / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    meta = f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n"
    if summary:
        meta += f"Summary: {summary}\n"
    (info / "METADATA").write_text(meta)
    lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[bwserial]\n{lines}")


def forget(prefix: str) -> None:
    """Drop imported test modules so the next test imports its own files afresh."""
    for name in [m for m in sys.modules if m.startswith(prefix)]:
        del sys.modules[name]


GOOD = """
'''Counts started streams.'''
from bwserial import hookimpl

STARTED = []

@hookimpl
def bwserial_stream_started(context, event):
    STARTED.append(context.call_id)
"""

HOSTILE: dict[str, str] = {
    "sys-exit": "import sys\nsys.exit(3)\n",
    "keyboard-free base exception": (
        "class Boom(BaseException):\n    pass\nraise Boom('import-time BaseException')\n"
    ),
    "import error": "raise ImportError('a dependency is missing')\n",
    "lazy module": """
        import importlib

        _LAZY = ["missing_submodule"]

        def __getattr__(name):
            if name in _LAZY:
                return importlib.import_module(__name__ + "." + name)
            raise AttributeError(name)

        def __dir__():
            return sorted(globals()) + _LAZY
        """,
    "typo in a hook name": """
        from bwserial import hookimpl

        @hookimpl
        def bwserial_stream_stoped(context, event):
            pass
        """,
    "unknown hook parameter": """
        from bwserial import hookimpl

        @hookimpl
        def bwserial_media_gap(context, gap, extra):
            pass
        """,
    "generator exit at import": "raise GeneratorExit()\n",
    "unprintable exception": (
        "class E(Exception):\n    def __str__(self):\n        raise RuntimeError('no')\nraise E()\n"
    ),
    "forging exception": "raise type('Boom\\nERROR forged', (Exception,), {})('x\\r\\x1b[31m')\n",
    "recursion": "def f():\n    return f()\nf()\n",
}
"""Module bodies that must each fail alone: (what they do) -> source."""
