"""Plugin loading: built-ins, entry-point discovery, per-serializer managers.

* Built-ins are an explicit list (not entry points) so bwserial works without
  installed metadata (``PYTHONPATH=src``, zipapps); once registered they are
  plugins like any other: same hooks, same blocking, same listing.
* Entry points (group ``bwserial``) are scanned and imported once per process;
  each serializer then builds a cheap manager from the already-imported
  plugins, minus the ones its configuration disables.
* Observer hooks are called one implementation at a time so a raising plugin
  is logged by name and cannot stop the others or the call.
"""

from __future__ import annotations

import importlib
import inspect
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata
from types import ModuleType
from typing import Any, Final, Generic, TypeVar

import pluggy
from loguru import logger

from bwserial import hookspecs
from bwserial.config import ENV_DISABLE_PLUGINS, ENV_PLUGINS, env_list
from bwserial.hookspecs import PROJECT_NAME
from bwserial.types import Codec, HangupStrategy, StreamContext

ENTRY_POINT_GROUP: Final = PROJECT_NAME

BUILTIN_PLUGINS: Final[tuple[tuple[str, str], ...]] = (
    ("pcmu", "bwserial.builtin.pcmu"),
    ("pcm", "bwserial.builtin.pcm"),
    ("voice-api", "bwserial.builtin.voice_api"),
)
"""(plugin name, module) of the built-ins, registered first, in this order."""

REGISTRATION_HOOKS: Final = ("bwserial_codecs", "bwserial_hangup_strategies")
EVENT_HOOKS: Final = tuple(
    name
    for name in dir(hookspecs)
    if name.startswith("bwserial_") and name not in REGISTRATION_HOOKS
)


@dataclass(frozen=True, slots=True)
class PluginInfo:
    """A plugin that was imported and can be registered."""

    name: str
    plugin: object
    """What the entry point (or built-in list) names: usually a module."""
    builtin: bool
    distribution: str | None = None
    version: str | None = None
    entry_point: str | None = None
    hooks: object = None
    """What gets registered: a module's hook functions only (see :func:`hook_carrier`)."""

    @property
    def registrable(self) -> object:
        return self.hooks if self.hooks is not None else self.plugin


@dataclass(frozen=True, slots=True)
class SkippedPlugin:
    """An entry point that was not imported, and why."""

    name: str
    reason: str
    distribution: str | None = None
    version: str | None = None


@dataclass(frozen=True, slots=True)
class Discovery:
    plugins: tuple[PluginInfo, ...]
    skipped: tuple[SkippedPlugin, ...] = ()


_lock = threading.Lock()
_discovery: Discovery | None = None


def hook_carrier(source: ModuleType, marker: str = f"{PROJECT_NAME}_impl") -> ModuleType:
    """A bare module holding just the marked hook functions of ``source``.

    pluggy inspects every attribute of a plugin (imports included) each time it is
    registered; collecting the marked functions once at discovery keeps building a
    manager per serializer cheap. Only marked attributes are carried, so a
    misspelt but marked hook still reaches ``check_pending``.
    """
    carrier = ModuleType(source.__name__, source.__doc__)
    carrier.__file__ = getattr(source, "__file__", None)
    for attr in dir(source):
        value = getattr(source, attr, None)
        if callable(value) and hasattr(value, marker):
            setattr(carrier, attr, value)
    return carrier


def _carrier(plugin: object) -> object:
    return hook_carrier(plugin) if isinstance(plugin, ModuleType) else plugin


def _load_builtins() -> list[PluginInfo]:
    return [
        PluginInfo(
            name=name,
            plugin=(imported := importlib.import_module(module)),
            builtin=True,
            distribution="bwserial",
            hooks=_carrier(imported),
        )
        for name, module in BUILTIN_PLUGINS
    ]


def _dist_of(ep: metadata.EntryPoint) -> tuple[str | None, str | None]:
    dist = ep.dist
    if dist is None:
        return None, None
    return dist.metadata["Name"], dist.version


def _selected(
    ep_name: str, dist: str | None, listed: list[str] | None, blocked: set[str]
) -> str | None:
    """Why an entry point is not loaded, or None to load it."""
    if ep_name in blocked or (dist is not None and dist in blocked):
        return f"blocked by {ENV_DISABLE_PLUGINS}"
    if listed is not None and ep_name not in listed and dist not in listed:
        return f"not listed in {ENV_PLUGINS}"
    return None


def discover(refresh: bool = False) -> Discovery:
    """Import the built-ins and the selected entry-point plugins, once per process.

    ``BWSERIAL_PLUGINS`` and ``BWSERIAL_DISABLE_PLUGINS`` are read here: a plugin
    they exclude is never imported. Pass ``refresh=True`` (tests, long-lived
    tools) to rescan after changing them or installing a package.
    """
    global _discovery
    with _lock:
        if _discovery is not None and not refresh:
            return _discovery
        plugins = _load_builtins()
        builtin_names = {p.name for p in plugins}
        skipped: list[SkippedPlugin] = []
        listed = env_list(ENV_PLUGINS)
        blocked = set(env_list(ENV_DISABLE_PLUGINS) or ())
        seen: dict[str, str | None] = {}
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            dist, version = _dist_of(ep)
            if ep.name in seen:
                if seen[ep.name] == dist:
                    continue  # the same distribution visible twice on sys.path
                reason = (
                    f"plugin name {ep.name!r} is already taken by distribution {seen[ep.name]!r}"
                )
                logger.error(f"bwserial: ignoring entry point from {dist!r}: {reason}")
                skipped.append(SkippedPlugin(ep.name, reason, dist, version))
                continue
            if ep.name in builtin_names:
                reason = f"plugin name {ep.name!r} is reserved for a bwserial built-in"
                logger.error(f"bwserial: ignoring entry point from {dist!r}: {reason}")
                skipped.append(SkippedPlugin(ep.name, reason, dist, version))
                continue
            seen[ep.name] = dist
            why_not = _selected(ep.name, dist, listed, blocked)
            if why_not is not None:
                skipped.append(SkippedPlugin(ep.name, why_not, dist, version))
                continue
            try:
                plugin = ep.load()
            except Exception as e:
                reason = f"failed to import: {type(e).__name__}: {e}"
                logger.opt(exception=True).error(f"bwserial plugin {ep.name!r} ({dist}) {reason}")
                skipped.append(SkippedPlugin(ep.name, reason, dist, version))
                continue
            plugins.append(
                PluginInfo(ep.name, plugin, False, dist, version, ep.value, _carrier(plugin))
            )
        _discovery = Discovery(tuple(plugins), tuple(skipped))
        return _discovery


def plugin_name(plugin: object) -> str:
    """A readable name for an in-process plugin (pluggy would otherwise use id())."""
    explicit = getattr(plugin, "bwserial_plugin_name", None)
    if isinstance(explicit, str) and explicit:
        return explicit
    if isinstance(plugin, ModuleType) or inspect.isclass(plugin):
        return str(getattr(plugin, "__name__", "plugin"))
    return type(plugin).__name__


@dataclass(slots=True)
class Manager:
    """One serializer's plugin manager and what it resolved from it."""

    pm: pluggy.PluginManager
    disabled: tuple[str, ...] = ()
    names: tuple[str, ...] = ()


def _blocked_names(disable: Iterable[str]) -> set[str]:
    return set(disable) | set(env_list(ENV_DISABLE_PLUGINS) or ())


def build_manager(disable: Iterable[str] = (), extra: Sequence[object] = ()) -> Manager:
    """Build a plugin manager for one serializer from already-imported plugins.

    Raises:
        ValueError: a plugin implements a hook that does not exist (a typo) or
            with parameters the hook does not have; the message names the plugin.
    """
    blocked = _blocked_names(disable)
    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(_SPECS)
    disabled: list[str] = []
    names: list[str] = []
    entries: list[tuple[str, object, str | None]] = [
        (info.name, info.registrable, info.distribution) for info in discover().plugins
    ]
    for item in extra:
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
            entries.append((item[0], item[1], None))
        else:
            entries.append((plugin_name(item), item, None))
    for name, plugin, dist in entries:
        if name in blocked or (dist is not None and dist != "bwserial" and dist in blocked):
            pm.set_blocked(name)
            disabled.append(name)
            continue
        if pm.has_plugin(name):
            raise ValueError(
                f"two plugins are named {name!r}; give in-process plugins distinct names "
                "(a 'bwserial_plugin_name' attribute or a (name, plugin) tuple)"
            )
        try:
            pm.register(plugin, name=name)
        except pluggy.PluginValidationError as e:
            raise ValueError(f"bwserial plugin {name!r} is invalid: {e}") from None
        names.append(name)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as e:
        name = pm.get_name(e.plugin) or plugin_name(e.plugin)
        raise ValueError(f"bwserial plugin {name!r}: {e} (a typo in a hook name?)") from None
    return Manager(pm, tuple(disabled), tuple(names))


_SPECS: Final = hook_carrier(hookspecs, f"{PROJECT_NAME}_spec")

# --------------------------------------------------------------------------- registries

T = TypeVar("T", Codec, HangupStrategy)


@dataclass(frozen=True, slots=True)
class Registered(Generic[T]):
    item: T
    plugin: str


def _close_if_awaitable(result: Any, plugin: str, hook: str) -> bool:
    if inspect.isawaitable(result):
        if inspect.iscoroutine(result):
            result.close()
        logger.warning(
            f"bwserial plugin {plugin!r} implements {hook} as async; hooks are synchronous "
            "and its result was ignored"
        )
        return True
    return False


def _collect(
    pm: pluggy.PluginManager, hook: str, kind: type[T], what: str
) -> dict[str, Registered[T]]:
    found: dict[str, Registered[T]] = {}
    caller = getattr(pm.hook, hook)
    for impl in reversed(caller.get_hookimpls()):
        try:
            result = impl.function()
        except Exception:
            logger.opt(exception=True).error(
                f"bwserial plugin {impl.plugin_name!r} raised in {hook}"
            )
            continue
        if result is None or _close_if_awaitable(result, impl.plugin_name, hook):
            continue
        try:
            items = [result] if isinstance(result, kind) else list(result)
        except TypeError:
            items = [result]  # not iterable: reported as the wrong type just below
        except Exception:  # e.g. a generator implementation failing halfway
            logger.opt(exception=True).error(
                f"bwserial plugin {impl.plugin_name!r} raised in {hook}"
            )
            continue
        for item in items:
            if not isinstance(item, kind):
                logger.warning(
                    f"bwserial plugin {impl.plugin_name!r} returned {type(item).__name__} from "
                    f"{hook}; expected {kind.__name__}"
                )
                continue
            key = item.name.casefold()
            if key in found:
                raise ValueError(
                    f"{what} {item.name!r} is registered by both plugin {found[key].plugin!r} "
                    f"and plugin {impl.plugin_name!r}; disable one of them "
                    f"(InputParams.disable_plugins or {ENV_DISABLE_PLUGINS})"
                )
            found[key] = Registered(item, impl.plugin_name)
    return found


def collect_codecs(pm: pluggy.PluginManager) -> dict[str, Registered[Codec]]:
    """Codecs by case-folded name. Raises ValueError when two plugins claim one name."""
    return _collect(pm, "bwserial_codecs", Codec, "codec")


def collect_hangup_strategies(pm: pluggy.PluginManager) -> dict[str, Registered[HangupStrategy]]:
    """Hang-up strategies by case-folded name. Raises ValueError on duplicate names."""
    return _collect(pm, "bwserial_hangup_strategies", HangupStrategy, "hang-up strategy")


def choose(registry: dict[str, Registered[T]], name: str, what: str, setting: str) -> Registered[T]:
    """Pick by configured name, or a ValueError listing every registered name."""
    try:
        return registry[name.casefold()]
    except KeyError:
        known = ", ".join(sorted(r.item.name for r in registry.values())) or "none"
        raise ValueError(
            f"unknown {what} {name!r} in {setting}; registered: {known}. Install or enable "
            "the plugin that provides it."
        ) from None


# --------------------------------------------------------------------------- observers

_Impl = tuple[str, Callable[..., Any], tuple[str, ...]]


class Observers:
    """Calls event hooks for one serializer, one implementation at a time.

    The implementation lists are resolved once, so a hook nobody implements costs
    one attribute test on the hot path (``if observers.media_gap:``).
    """

    __slots__ = (
        "_context",
        "_impls",
        "bad_message",
        "call_ended",
        "hangup_finished",
        "interruption",
        "media_gap",
        "stream_started",
        "stream_stopped",
        "stream_warning",
    )

    def __init__(self, pm: pluggy.PluginManager, context: StreamContext) -> None:
        self._context = context
        self._impls: dict[str, tuple[_Impl, ...]] = {}
        for name in EVENT_HOOKS:
            impls: list[_Impl] = []
            for impl in reversed(getattr(pm.hook, name).get_hookimpls()):
                if impl.hookwrapper or impl.wrapper:
                    logger.warning(
                        f"bwserial plugin {impl.plugin_name!r}: wrappers are not "
                        f"supported on event hook {name}; ignored"
                    )
                    continue
                impls.append((impl.plugin_name, impl.function, tuple(impl.argnames)))
            self._impls[name] = tuple(impls)
        self.stream_started = bool(self._impls["bwserial_stream_started"])
        self.stream_stopped = bool(self._impls["bwserial_stream_stopped"])
        self.stream_warning = bool(self._impls["bwserial_stream_warning"])
        self.media_gap = bool(self._impls["bwserial_media_gap"])
        self.interruption = bool(self._impls["bwserial_interruption"])
        self.hangup_finished = bool(self._impls["bwserial_hangup_finished"])
        self.bad_message = bool(self._impls["bwserial_bad_message"])
        self.call_ended = bool(self._impls["bwserial_call_ended"])

    def emit(self, hook: str, **kwargs: Any) -> None:
        """Call every implementation of ``hook``; never raises ``Exception``."""
        kwargs["context"] = self._context
        for plugin, function, argnames in self._impls[hook]:
            try:
                result = function(**{a: kwargs[a] for a in argnames})
            except Exception:
                logger.opt(exception=True).error(
                    f"bwserial plugin {plugin!r} raised in {hook}; the call goes on"
                )
                continue
            if result is not None:
                _close_if_awaitable(result, plugin, hook)


# --------------------------------------------------------------------------- listing


@dataclass(frozen=True, slots=True)
class PluginDescription:
    """What ``bwserial plugins`` prints for one plugin."""

    name: str
    distribution: str | None
    version: str | None
    builtin: bool
    enabled: bool
    reason: str
    codecs: tuple[str, ...] = ()
    hangup_strategies: tuple[str, ...] = ()
    hooks: tuple[str, ...] = ()


def describe_plugins(disable: Iterable[str] = ()) -> list[PluginDescription]:
    """Every known plugin, enabled or not, with what it provides."""
    blocked = _blocked_names(disable)
    found = discover()
    described: list[PluginDescription] = []
    for info in found.plugins:
        is_blocked = info.name in blocked or (
            not info.builtin and info.distribution is not None and info.distribution in blocked
        )
        pm = pluggy.PluginManager(PROJECT_NAME)
        pm.add_hookspecs(_SPECS)
        pm.register(info.registrable, name=info.name)
        hooks = tuple(sorted(c.name for c in pm.get_hookcallers(info.registrable) or ()))
        try:
            codecs = tuple(r.item.name for r in collect_codecs(pm).values())
            strategies = tuple(r.item.name for r in collect_hangup_strategies(pm).values())
        except ValueError:
            codecs, strategies = (), ()
        version = info.version
        if info.builtin:
            try:
                version = metadata.version("bwserial")
            except metadata.PackageNotFoundError:
                version = None
        described.append(
            PluginDescription(
                name=info.name,
                distribution=info.distribution,
                version=version,
                builtin=info.builtin,
                enabled=not is_blocked,
                reason=f"blocked by {ENV_DISABLE_PLUGINS}" if is_blocked else "",
                codecs=codecs,
                hangup_strategies=strategies,
                hooks=hooks,
            )
        )
    for skipped in found.skipped:
        described.append(
            PluginDescription(
                name=skipped.name,
                distribution=skipped.distribution,
                version=skipped.version,
                builtin=False,
                enabled=False,
                reason=skipped.reason,
            )
        )
    return described
