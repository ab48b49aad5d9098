"""Discovery: the built-ins, then the selected entry points, imported once per process.

Each plugin loads in isolation. Whatever one does while it is imported, inspected
or validated (raises, calls ``sys.exit()``, is a lazy module whose ``__dir__``
names a submodule that is not installed, is the very object another entry point
already named), it is reported once with its name and the reason, listed by
``bwserial plugins`` as failed, and the others load. Only ``KeyboardInterrupt``
gets through: the person at the keyboard wants the process to stop.
"""

from __future__ import annotations

import importlib
import inspect
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from importlib import metadata
from types import ModuleType
from typing import Final

import pluggy
from loguru import logger

from bwserial import hookspecs
from bwserial._env import ENV_DISABLE_PLUGINS, ENV_PLUGINS, env_list, normalize_name
from bwserial._log import escape

ENTRY_POINT_GROUP: Final = hookspecs.PROJECT_NAME

BUILTIN_PLUGINS: Final[tuple[tuple[str, str], ...]] = (
    ("pcmu", "bwserial.builtin.pcmu"),
    ("pcm", "bwserial.builtin.pcm"),
    ("voice-api", "bwserial.builtin.voice_api"),
    ("transfer", "bwserial.builtin.transfer"),
)
"""(plugin name, module) of the built-ins, registered first, in this order."""

SPECS: Final = ModuleType("bwserial.hookspecs")
"""The hookspecs alone: every manager is built from these, and the hook lists read them."""
for _name, _value in vars(hookspecs).items():
    if hasattr(_value, f"{ENTRY_POINT_GROUP}_spec"):
        setattr(SPECS, _name, _value)


def new_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
    pm.add_hookspecs(SPECS)
    return pm


@dataclass(frozen=True, slots=True)
class PluginInfo:
    """A plugin that was imported and validated: it can be registered."""

    name: str
    plugin: object
    """What the entry point (or built-in list) names: usually a module."""
    hooks: object
    """What gets registered: the plugin's marked hook functions only (:func:`hook_carrier`)."""
    builtin: bool
    distribution: str | None = None
    version: str | None = None
    description: str = ""


@dataclass(frozen=True, slots=True)
class SkippedPlugin:
    """An entry point that is not registered, and why: excluded, or ``failed`` to load."""

    name: str
    reason: str
    distribution: str | None = None
    version: str | None = None
    failed: bool = False


@dataclass(frozen=True, slots=True)
class Discovery:
    plugins: tuple[PluginInfo, ...]
    skipped: tuple[SkippedPlugin, ...] = ()


def hook_carrier(source: object) -> ModuleType:
    """A bare module holding just the marked hook functions of ``source``.

    pluggy inspects every attribute of a plugin each time it is registered;
    collecting the marked ones once, at discovery, keeps resolution cheap and
    means a hostile ``__dir__``/``__getattr__`` is met once, inside the guard.
    A misspelt but marked hook is carried too, so ``check_pending`` reports it.
    """
    carrier = ModuleType(str(getattr(source, "__name__", type(source).__name__)))
    for attr in dir(source):
        value = getattr(source, attr, None)
        if callable(value) and hasattr(value, f"{ENTRY_POINT_GROUP}_impl"):
            setattr(carrier, attr, value)
    return carrier


def _description(plugin: object, dist: metadata.Distribution | None) -> str:
    """``bwserial_plugin_description``, else the docstring's first line, else the summary."""
    explicit = getattr(plugin, "bwserial_plugin_description", None)
    if isinstance(explicit, str) and explicit.strip():
        return explicit.strip()
    doc = inspect.getdoc(plugin) if isinstance(plugin, ModuleType) else None
    if doc:
        return doc.strip().splitlines()[0].replace("``", "")
    return str((dist.metadata.get_all("Summary") or [""])[0]) if dist is not None else ""


def _failure(e: BaseException) -> str:
    """``'SystemExit': '3'``: escaped and cut short, since a plugin chose the message."""
    message = escape(e, 200)
    return escape(type(e).__name__) + (f": {message}" if message != "''" else "")


def _load(
    load: Callable[[], object], name: str, dist: metadata.Distribution | None, builtin: bool
) -> PluginInfo:
    plugin = load()
    hooks = hook_carrier(plugin)
    pm = new_manager()
    pm.register(hooks, name=name)
    pm.check_pending()  # a typo or a bad signature fails here, once, not per serializer
    return PluginInfo(
        name,
        plugin,
        hooks,
        builtin,
        "bwserial" if builtin else (str(dist.metadata["Name"]) if dist is not None else None),
        dist.version if dist is not None else None,
        _description(plugin, dist),
    )


def _scan() -> Discovery:
    found: list[PluginInfo] = []
    skipped: list[SkippedPlugin] = []
    taken: dict[str, str | None] = {}  # normalised name -> distribution
    listed = env_list(ENV_PLUGINS)
    wanted = None if listed is None else {normalize_name(n) for n in listed}
    blocked = {normalize_name(n) for n in env_list(ENV_DISABLE_PLUGINS) or ()}

    def fail(name: str, reason: str, dist: str | None, version: str | None = None) -> None:
        logger.error(f"bwserial plugin {escape(name)} ({dist or 'no distribution'}) {reason}")
        skipped.append(SkippedPlugin(name, reason, dist, version, failed=True))

    for name, module in BUILTIN_PLUGINS:
        try:
            found.append(_load(partial(importlib.import_module, module), name, None, True))
            taken[normalize_name(name)] = "bwserial"
        except KeyboardInterrupt:
            raise
        except BaseException as e:  # isolation is the point
            fail(name, f"failed to load: {_failure(e)}", "bwserial")
    builtins = set(taken)
    try:
        entry_points = list(metadata.entry_points(group=ENTRY_POINT_GROUP))
    except KeyboardInterrupt:
        raise
    except BaseException as e:  # a broken dist-info must not cost the built-ins
        logger.error(f"bwserial: could not read installed entry points: {_failure(e)}")
        entry_points = []
    for ep in entry_points:
        name, dist, version = ep.name, None, None
        try:
            if ep.dist is not None:
                dist, version = str(ep.dist.metadata["Name"]), ep.dist.version
            key, dist_key = normalize_name(name), normalize_name(dist) if dist else None
            if key in taken:
                if key in builtins or taken[key] != dist:
                    why = "reserved for a bwserial built-in"
                    why = why if key in builtins else f"already taken by {taken[key]!r}"
                    fail(name, f"plugin name {name!r} is {why}", dist, version)
                continue  # else the same distribution, visible twice on sys.path
            taken[key] = dist
            if key in blocked or dist_key in blocked:
                why = f"blocked by {ENV_DISABLE_PLUGINS}"
            elif wanted is not None and not {key, dist_key} & wanted:
                why = f"not listed in {ENV_PLUGINS}"
            else:
                info = _load(ep.load, name, ep.dist, False)
                twin = next((p.name for p in found if p.plugin is info.plugin), None)
                if twin is None:
                    found.append(info)
                else:
                    why = f"is the same object as plugin {twin!r}; give it one entry-point name"
                    fail(name, why, dist, version)
                continue
            skipped.append(SkippedPlugin(name, why, dist, version))
        except KeyboardInterrupt:
            raise
        except BaseException as e:  # SystemExit at import included
            fail(name, f"failed to load: {_failure(e)}", dist, version)
    known = set(taken) | {normalize_name(d) for d in taken.values() if d}
    unknown = [n for n in listed or () if normalize_name(n) not in known]
    if unknown:
        logger.warning(
            f"bwserial: {ENV_PLUGINS} names {', '.join(escape(n) for n in unknown)}, "
            f"which match no installed plugin; known: {', '.join(sorted(known))}"
        )
    return Discovery(tuple(found), tuple(skipped))


_lock = threading.RLock()  # a plugin may call discover() while being imported
_discovery: Discovery | None = None


def discover(refresh: bool = False) -> Discovery:
    """Import the built-ins and the selected entry-point plugins, once per process.

    ``BWSERIAL_PLUGINS`` and ``BWSERIAL_DISABLE_PLUGINS`` are read here: a plugin
    they exclude is never imported. Pass ``refresh=True`` (tests, long-lived
    tools) to rescan after changing them or installing a package. Never raises
    for a plugin's sake: failures are in :attr:`Discovery.skipped`.
    """
    global _discovery
    found = _discovery
    if found is not None and not refresh:
        return found  # the per-serializer path: no lock
    with _lock:
        if _discovery is None or refresh:
            _discovery = _scan()
        return _discovery
