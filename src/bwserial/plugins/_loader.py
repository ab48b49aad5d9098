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
from bwserial.hookspecs import PROJECT_NAME

ENTRY_POINT_GROUP: Final = PROJECT_NAME

BUILTIN_PLUGINS: Final[tuple[tuple[str, str], ...]] = (
    ("pcmu", "bwserial.builtin.pcmu"),
    ("pcm", "bwserial.builtin.pcm"),
    ("voice-api", "bwserial.builtin.voice_api"),
    ("transfer", "bwserial.builtin.transfer"),
)
"""(plugin name, module) of the built-ins, registered first, in this order."""


@dataclass(frozen=True, slots=True)
class PluginInfo:
    """A plugin that was imported and validated: it can be registered."""

    name: str
    plugin: object
    """What the entry point (or built-in list) names: usually a module."""
    builtin: bool
    distribution: str | None = None
    version: str | None = None
    entry_point: str | None = None
    hooks: object = None
    """What gets registered: the plugin's marked hook functions only (see :func:`hook_carrier`)."""
    description: str = ""

    @property
    def registrable(self) -> object:
        return self.hooks if self.hooks is not None else self.plugin


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


_lock = threading.RLock()  # a plugin may call discover() while being imported
_discovery: Discovery | None = None
SPECS: Final = ModuleType("bwserial.hookspecs")
for _name, _value in vars(hookspecs).items():
    if callable(_value) and hasattr(_value, f"{PROJECT_NAME}_spec"):
        setattr(SPECS, _name, _value)


def hook_carrier(source: object, marker: str = f"{PROJECT_NAME}_impl") -> ModuleType:
    """A bare module holding just the marked hook functions of ``source``.

    pluggy inspects every attribute of a plugin each time it is registered;
    collecting the marked ones once, at discovery, keeps resolution cheap and
    means a hostile ``__dir__``/``__getattr__`` is met once, inside the guard.
    Only marked attributes are carried, so a misspelt but marked hook still
    reaches ``check_pending``.
    """
    carrier = ModuleType(str(getattr(source, "__name__", type(source).__name__)))
    for attr in dir(source):
        value = getattr(source, attr, None)
        if callable(value) and hasattr(value, marker):
            setattr(carrier, attr, value)
    return carrier


def validate(name: str, registrable: object) -> None:
    """Register in a throwaway manager: a bad signature or a typo fails here, once."""
    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(SPECS)
    pm.register(registrable, name=name)
    pm.check_pending()


def description_of(plugin: object, dist: metadata.Distribution | None = None) -> str:
    """``bwserial_plugin_description``, else the docstring's first line, else the summary."""
    explicit = getattr(plugin, "bwserial_plugin_description", None)
    if isinstance(explicit, str) and explicit.strip():
        return explicit.strip()
    doc = inspect.getdoc(plugin) if isinstance(plugin, ModuleType) else None
    if doc:
        return doc.strip().splitlines()[0].replace("``", "")
    if dist is None:
        return ""
    return str((dist.metadata.get_all("Summary") or [""])[0])


def _failure(e: BaseException) -> str:
    """``'SystemExit: 3'``: escaped and cut short, since a plugin chose the message."""
    message = escape(e, 200)
    return escape(type(e).__name__) + (f": {message}" if message != "''" else "")


def _load(
    load: Callable[[], object],
    name: str,
    dist: metadata.Distribution | None = None,
    entry_point: str | None = None,
) -> PluginInfo:
    plugin = load()
    carrier = hook_carrier(plugin)
    validate(name, carrier)
    return PluginInfo(
        name,
        plugin,
        builtin=entry_point is None,
        distribution="bwserial" if entry_point is None else _dist_name(dist),
        version=dist.version if dist is not None else None,
        entry_point=entry_point,
        hooks=carrier,
        description=description_of(plugin, dist),
    )


def _dist_name(dist: metadata.Distribution | None) -> str | None:
    return str(dist.metadata["Name"]) if dist is not None else None


class _Scan:
    """One pass over the built-ins and the entry points."""

    def __init__(self) -> None:
        self.plugins: list[PluginInfo] = []
        self.skipped: list[SkippedPlugin] = []
        self.taken: dict[str, str | None] = {}  # normalised name -> distribution
        self.objects: dict[int, str] = {}  # id of a loaded plugin object -> its name
        listed = env_list(ENV_PLUGINS)
        self.listed = listed
        self.wanted = None if listed is None else {normalize_name(n) for n in listed}
        self.blocked = {normalize_name(n) for n in env_list(ENV_DISABLE_PLUGINS) or ()}

    def fail(self, name: str, reason: str, dist: str | None, version: str | None) -> None:
        logger.error(f"bwserial plugin {escape(name)} ({dist or 'no distribution'}) {reason}")
        self.skipped.append(SkippedPlugin(name, reason, dist, version, failed=True))

    def add(self, info: PluginInfo) -> None:
        self.taken[normalize_name(info.name)] = info.distribution
        self.objects[id(info.plugin)] = info.name
        self.plugins.append(info)

    def builtins(self) -> None:
        for name, module in BUILTIN_PLUGINS:
            try:
                self.add(_load(partial(importlib.import_module, module), name))
            except KeyboardInterrupt:
                raise
            except BaseException as e:  # isolation is the point
                self.fail(name, f"failed to load: {_failure(e)}", "bwserial", None)

    def entry_point(self, ep: metadata.EntryPoint, builtin_names: set[str]) -> None:
        name, dist, version = ep.name, None, None
        try:
            dist_obj = ep.dist
            dist, version = _dist_name(dist_obj), dist_obj.version if dist_obj else None
            key = normalize_name(name)
            if key in self.taken:
                if key in builtin_names:
                    why = f"plugin name {name!r} is reserved for a bwserial built-in"
                elif self.taken[key] != dist:
                    why = f"plugin name {name!r} is already taken by {self.taken[key]!r}"
                else:
                    return  # the same distribution visible twice on sys.path
                self.fail(name, why, dist, version)
                return
            self.taken[key] = dist
            dist_key = normalize_name(dist) if dist else None
            if key in self.blocked or dist_key in self.blocked:
                why = f"blocked by {ENV_DISABLE_PLUGINS}"
            elif self.wanted is not None and not {key, dist_key} & self.wanted:
                why = f"not listed in {ENV_PLUGINS}"
            else:
                info = _load(ep.load, name, dist_obj, ep.value)
                if id(info.plugin) in self.objects:
                    self.fail(
                        name,
                        f"is the same object as plugin {self.objects[id(info.plugin)]!r}; "
                        "give it one entry-point name",
                        dist,
                        version,
                    )
                else:
                    self.add(info)
                return
            self.skipped.append(SkippedPlugin(name, why, dist, version))
        except KeyboardInterrupt:
            raise
        except BaseException as e:  # SystemExit at import included
            self.fail(name, f"failed to load: {_failure(e)}", dist, version)

    def run(self) -> Discovery:
        self.builtins()
        builtin_names = set(self.taken)
        known = set(builtin_names)
        try:
            entry_points = list(metadata.entry_points(group=ENTRY_POINT_GROUP))
        except KeyboardInterrupt:
            raise
        except BaseException as e:  # a broken dist-info must not cost the built-ins
            logger.error(f"bwserial: could not read installed entry points: {_failure(e)}")
            entry_points = []
        for ep in entry_points:
            self.entry_point(ep, builtin_names)
        known |= set(self.taken) | {normalize_name(d) for d in self.taken.values() if d}
        unknown = [n for n in self.listed or () if normalize_name(n) not in known]
        if unknown:
            logger.warning(
                f"bwserial: {ENV_PLUGINS} names {', '.join(escape(n) for n in unknown)}, "
                f"which match no installed plugin; known: {', '.join(sorted(known))}"
            )
        return Discovery(tuple(self.plugins), tuple(self.skipped))


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
            _discovery = _Scan().run()
        return _discovery
