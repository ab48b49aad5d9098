"""Bounded property-based fuzzing of plugin loading with hostile installed plugins.

Each example installs one to four real distributions (modules plus a ``.dist-info``
with entry points, on ``sys.path``) built from hostile behaviours with random names
and messages, rescans, and checks that nothing escapes discovery, resolution,
listing or a call; that the built-ins survive; and that every entry point is either
loaded or listed with a reason. ``BWSERIAL_FUZZ_EXAMPLES`` scales the budget (0.5% of
it here: each example writes files and imports modules); counted as
``plugin-loading`` in the fuzz summary line.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import sys
import tempfile
from pathlib import Path

import bwfuzz_properties as props
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bwplugin_site import GOOD, HOSTILE, forget, install
from bwserial import BandwidthFrameSerializer, plugins
from bwserial.testing.messages import media, start, stop

DEFAULT_EXAMPLES = 20000
SHARE = 0.005

_counter = itertools.count()

BEHAVIOURS: dict[str, str] = {
    **HOSTILE,
    "good observer": GOOD,
    "raise with message": "raise RuntimeError(MSG)\n",
    "exit with message": "import sys\nsys.exit(MSG)\n",
    "observer raising everywhere": """
        from bwserial import hookimpl
        from bwserial.plugins import EVENT_HOOKS

        def _raise(**kwargs):
            raise RuntimeError(MSG)

        for _hook in EVENT_HOOKS:
            globals()[_hook] = hookimpl(lambda context, _h=_hook: _raise())
        """,
    "async hooks": """
        from bwserial import hookimpl

        @hookimpl
        async def bwserial_stream_started(context, event):
            raise RuntimeError(MSG)

        @hookimpl
        async def bwserial_codecs():
            return []
        """,
    "registration garbage": """
        from bwserial import hookimpl

        @hookimpl
        def bwserial_codecs():
            return [MSG, 42, None]

        @hookimpl
        def bwserial_hangup_strategies():
            return 7
        """,
    "registration raising": """
        from bwserial import hookimpl

        @hookimpl
        def bwserial_codecs():
            raise SystemExit(MSG)

        @hookimpl
        def bwserial_hangup_strategies():
            yield 1
            raise RuntimeError(MSG)
        """,
    "call observer factory chaos": """
        from bwserial import hookimpl

        class _Call:
            def bwserial_media_gap(self, gap):
                raise ValueError(MSG)

            def bwserial_stream_stopped(self, nonsense):
                pass

        @hookimpl
        def bwserial_call_observer(context, settings):
            return _Call() if len(MSG) % 2 else MSG
        """,
    "hook wrapper": """
        from bwserial import hookimpl

        @hookimpl(wrapper=True)
        def bwserial_stream_started(context, event):
            return (yield)
        """,
    "module getattr raising": """
        def __getattr__(name):
            raise RuntimeError(MSG)

        def __dir__():
            return ["bwserial_stream_started", "x"]
        """,
    "object with a lying dir": """
        class _Plugin:
            def __dir__(self):
                return ["bwserial_stream_started"]

            def __getattr__(self, name):
                raise LookupError(MSG)

        plugin = _Plugin()
        """,
    "re-enters discovery": """
        from bwserial import plugins
        plugins.discover(refresh=True)
        plugins.resolve(["nothing"], [])
        """,
    "changes the environment": """
        import os
        os.environ["BWSERIAL_DISABLE_PLUGINS"] = "pcmu"
        """,
}

_names = st.one_of(
    st.from_regex(r"[A-Za-z][A-Za-z0-9_.-]{0,15}", fullmatch=True),
    st.sampled_from(["pcmu", "PCM", "voice_api", "good", "dup"]),
)
_plugin = st.tuples(_names, st.sampled_from(sorted(BEHAVIOURS)), st.text(max_size=40))
_sets = st.lists(_plugin, min_size=1, max_size=4)


def _install_set(root: Path, chosen: list[tuple[str, str, str]]) -> list[str]:
    names = []
    for i, (name, behaviour, message) in enumerate(chosen):
        module = f"bwfuzzplug_{next(_counter)}"
        body = "MSG = " + repr(message) + "\n" + _dedent(BEHAVIOURS[behaviour])
        target = f"{module}:plugin" if behaviour == "object with a lying dir" else module
        entry_points = {name: target}
        if i == 0 and behaviour == "good observer":
            entry_points[name + "-again"] = target  # the same object under two names
        install(root, f"bwfuzz-dist-{module}", entry_points, {module: body})
        names.extend(entry_points)
    return names


def _dedent(text: str) -> str:
    import textwrap

    return textwrap.dedent(text)


async def _a_call() -> None:
    serializer = BandwidthFrameSerializer(
        "s-1", call_id="c-1", params=BandwidthFrameSerializer.InputParams(auto_hang_up=False)
    )
    await serializer.deserialize(start(call_id="c-1"))
    await serializer.deserialize(media(seq=1))
    await serializer.deserialize(media(seq=4))
    await serializer.deserialize("{bad")
    await serializer.deserialize(stop())


def _check(chosen: list[tuple[str, str, str]]) -> None:
    root = Path(tempfile.mkdtemp(prefix="bwfuzz-plugins-"))
    environ = dict(os.environ)
    sys.path.insert(0, str(root))
    try:
        names = _install_set(root, chosen)
        found = plugins.discover(refresh=True)  # must not raise, whatever the plugins do
        os.environ.clear()
        os.environ.update(environ)  # a plugin may have changed it at import
        plugins.discover(refresh=True)
        found = plugins.discover()
        assert {"pcmu", "pcm", "voice-api"} <= {p.name for p in found.plugins}
        seen = {p.name for p in found.plugins} | {s.name for s in found.skipped}
        assert set(names) <= seen, f"entry points neither loaded nor reported: {set(names) - seen}"
        assert all(s.reason for s in found.skipped)
        plugins.describe_plugins()
        asyncio.run(_a_call())
        props.STATS.inputs["plugin-loading"] += 1
    except BaseException:
        props.STATS.exceptions += 1
        raise
    finally:
        sys.path.remove(str(root))
        forget("bwfuzzplug_")
        shutil.rmtree(root, ignore_errors=True)
        os.environ.clear()
        os.environ.update(environ)
        plugins.discover(refresh=True)


def test_fuzz_plugin_loading() -> None:
    examples = max(20, round(props.examples_budget(DEFAULT_EXAMPLES) * SHARE))
    run = settings(
        max_examples=examples,
        deadline=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
        database=None,
    )(given(_sets)(_check))
    run()
