"""Resolution: from discovered plugins to what one configuration provides.

A serializer is built per call, and building a pluggy manager costs about 0.3 ms,
so :func:`resolve` builds one per distinct configuration (disabled names,
in-process plugins, ``BWSERIAL_DISABLE_PLUGINS``) and caches the result: a
construction is a dictionary lookup. The hook lists are read from the hookspecs
(a registration hook is one without parameters), so a new hook needs no edit here.
:func:`describe_plugins` collects the same registrations one plugin at a time.
"""

from __future__ import annotations

import inspect
import os
import re
import threading
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from types import MappingProxyType, ModuleType
from typing import Any, Final, Generic, TypeVar, get_args, get_type_hints

import pluggy
from loguru import logger

from bwserial._env import ENV_DISABLE_PLUGINS, env_list, normalize_name
from bwserial._log import escape, log_repeated
from bwserial.plugins._loader import SPECS, Discovery, discover, new_manager
from bwserial.types import CallRegistryFactory, Codec, HangupStrategy, TransferStrategy

_SPECS: Final = {hook: spec for hook, spec in vars(SPECS).items() if hook.startswith("bwserial_")}
KINDS: Final[Mapping[str, type[Any]]] = MappingProxyType(
    {
        hook: get_args(get_type_hints(spec)["return"])[0]
        for hook, spec in _SPECS.items()
        if not inspect.signature(spec).parameters
    }
)
"""Registration hook -> the type each item it returns must have."""
REGISTRATION_HOOKS: Final = tuple(KINDS)
FACTORY_HOOKS: Final = ("bwserial_call_observer",)
"""Called once per call, directly, to build per-call observers (not event hooks)."""
EVENT_HOOKS: Final = tuple(h for h in _SPECS if h not in KINDS and h not in FACTORY_HOOKS)
FLAGS: Final = tuple((hook, hook.removeprefix("bwserial_")) for hook in EVENT_HOOKS)
"""(event hook, the :class:`~bwserial.plugins.Observers` flag that says someone implements it)."""

CACHE_SIZE: Final = 64
"""Distinct configurations remembered. An app passing a new plugin object per call
re-resolves each time: per-call state belongs in a ``bwserial_call_observer`` factory."""

T = TypeVar("T")
Impl = tuple[str, Callable[..., Any], tuple[str, ...]]
"""(plugin name, function, the parameter names it takes)."""


@dataclass(frozen=True, slots=True)
class Registered(Generic[T]):
    item: T
    plugin: str


@dataclass(frozen=True, slots=True)
class Resolved:
    """What one configuration provides; shared, read-only, by every serializer using it."""

    registries: Mapping[str, Mapping[str, Registered[Any]]]
    """Registration hook -> casefolded name -> what was registered under it, and by whom."""
    events: Mapping[str, tuple[Impl, ...]]
    factories: tuple[Impl, ...] = ()
    flags: Mapping[str, bool] = field(default_factory=dict)
    keep: tuple[object, ...] = field(default=(), repr=False)
    """The in-process plugins of the cache key, kept alive so their ids stay theirs."""

    @property
    def codecs(self) -> Mapping[str, Registered[Codec]]:
        return self.registries["bwserial_codecs"]

    @property
    def hangup_strategies(self) -> Mapping[str, Registered[HangupStrategy]]:
        return self.registries["bwserial_hangup_strategies"]

    @property
    def transfer_strategies(self) -> Mapping[str, Registered[TransferStrategy]]:
        return self.registries["bwserial_transfer_strategies"]

    @property
    def call_registries(self) -> Mapping[str, Registered[CallRegistryFactory]]:
        return self.registries["bwserial_call_registries"]


def plugin_name(plugin: object) -> str:
    """A readable name for an in-process plugin (pluggy would otherwise use id())."""
    explicit = getattr(plugin, "bwserial_plugin_name", None)
    if isinstance(explicit, str) and explicit:
        return explicit
    if isinstance(plugin, ModuleType) or inspect.isclass(plugin):
        return str(getattr(plugin, "__name__", "plugin"))
    return type(plugin).__name__


def close_if_awaitable(result: Any, plugin: str, hook: str) -> bool:
    """An ``async def`` implementation returned a coroutine: close it and warn (hooks are sync)."""
    if not inspect.isawaitable(result):
        return False
    if inspect.iscoroutine(result):
        result.close()
    log_repeated(
        ("async", plugin, hook),
        "WARNING",
        f"bwserial plugin {plugin!r} implements {hook} as async; hooks are synchronous "
        "and its result was ignored",
    )
    return True


def raised(plugin: str, hook: str, e: BaseException, after: str = "") -> None:
    """Log a plugin's exception: its name, the hook and the message; the traceback at DEBUG."""
    log_repeated(
        ("raised", plugin, hook, type(e).__name__),
        "ERROR",
        f"bwserial plugin {plugin!r} raised {escape(type(e).__name__)} in {hook}: "
        f"{escape(e, 200)}{after}",
        exception=e,
    )


def _collect(pm: pluggy.PluginManager, hook: str) -> dict[str, Registered[Any]]:
    kind, found = KINDS[hook], dict[str, Registered[Any]]()
    for impl in reversed(getattr(pm.hook, hook).get_hookimpls()):
        plugin = impl.plugin_name
        try:
            result = impl.function()
            if result is None or close_if_awaitable(result, plugin, hook):
                continue
            items: list[Any]
            try:
                items = [result] if isinstance(result, kind) else list(result)
            except TypeError:
                items = [result]  # not iterable: reported as the wrong type just below
        except KeyboardInterrupt:
            raise
        except BaseException as e:  # e.g. a generator implementation failing halfway
            raised(plugin, hook, e)
            continue
        for item in items:
            if not isinstance(item, kind):
                log_repeated(
                    ("type", plugin, hook),
                    "WARNING",
                    f"bwserial plugin {plugin!r} returned {type(item).__name__} from {hook}; "
                    f"expected {kind.__name__}",
                )
            elif (key := item.name.casefold()) in found:
                what = re.sub(r"(?<!^)(?=[A-Z])", " ", kind.__name__).lower()
                raise ValueError(
                    f"{what} {item.name!r} is registered by both plugin {found[key].plugin!r} "
                    f"and plugin {plugin!r}; disable one of them "
                    f"(InputParams.disable_plugins or {ENV_DISABLE_PLUGINS})"
                )
            else:
                found[key] = Registered(item, plugin)
    return found


def choose(
    registry: Mapping[str, Registered[T]], name: str, what: str, setting: str
) -> Registered[T]:
    """Pick by configured name, or a ValueError listing every registered name."""
    try:
        return registry[name.casefold()]
    except KeyError:
        known = ", ".join(sorted(getattr(r.item, "name", "?") for r in registry.values()))
        raise ValueError(
            f"unknown {what} {name!r} in {setting}; registered: {known or 'none'}. Install or "
            "enable the plugin that provides it."
        ) from None


def _impls(pm: pluggy.PluginManager, hook: str) -> tuple[Impl, ...]:
    found: list[Impl] = []
    for impl in reversed(getattr(pm.hook, hook).get_hookimpls()):
        if impl.hookwrapper or impl.wrapper:
            logger.warning(
                f"bwserial plugin {impl.plugin_name!r}: wrappers are not supported on "
                f"{hook}; ignored"
            )
        else:
            found.append((impl.plugin_name, impl.function, tuple(impl.argnames)))
    return tuple(found)


def _is_blocked(name: str, dist: str | None, blocked: set[str]) -> bool:
    """By plugin name, or by distribution for a third-party plugin (case, ``-``/``_`` ignored)."""
    return normalize_name(name) in blocked or (
        dist not in (None, "bwserial") and normalize_name(dist) in blocked
    )


def _entries(discovery: Discovery, extra: Sequence[object]) -> list[tuple[str, object, str | None]]:
    """(name, what to register, distribution or None for in-process) in registration order."""
    entries = [(i.name, i.hooks, i.distribution) for i in discovery.plugins]
    for item in extra:
        named = isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)
        entries.append((item[0], item[1], None) if named else (plugin_name(item), item, None))  # type: ignore[index]
    return entries


def _build(discovery: Discovery, blocked: set[str], extra: Sequence[object]) -> Resolved:
    pm = new_manager()
    for name, plugin, dist in _entries(discovery, extra):
        if _is_blocked(name, dist, blocked):
            continue
        if pm.has_plugin(name):
            raise ValueError(
                f"two plugins are named {name!r}; give in-process plugins distinct names "
                "(a 'bwserial_plugin_name' attribute or a (name, plugin) tuple)"
            )
        try:
            pm.register(plugin, name=name)
            pm.check_pending()  # discovered plugins passed this already
        except pluggy.PluginValidationError as e:
            raise ValueError(f"bwserial plugin {name!r} is invalid: {e} (a typo?)") from None
        except Exception as e:  # e.g. a __dir__ or __getattr__ that raises
            raise ValueError(
                f"bwserial plugin {name!r} could not be registered: "
                f"{escape(type(e).__name__)}: {escape(e, 200)}"
            ) from e
    events = {hook: _impls(pm, hook) for hook in EVENT_HOOKS}
    return Resolved(
        registries=MappingProxyType(
            {hook: MappingProxyType(_collect(pm, hook)) for hook in REGISTRATION_HOOKS}
        ),
        events=MappingProxyType(events),
        factories=tuple(i for hook in FACTORY_HOOKS for i in _impls(pm, hook)),
        flags=MappingProxyType({flag: bool(events[hook]) for hook, flag in FLAGS}),
        keep=tuple(extra),
    )


_lock = threading.Lock()
_cache: dict[Hashable, Resolved] = {}
_cache_for: list[Discovery | None] = [None]
_warned: set[str] = set()


def _warn_unknown(names: Iterable[str], discovery: Discovery, extra: Sequence[object]) -> None:
    known = {normalize_name(name) for name, _, _ in _entries(discovery, extra)}
    known |= {normalize_name(i.distribution) for i in discovery.plugins if i.distribution}
    known |= {normalize_name(s.name) for s in discovery.skipped}
    for name in names:
        if normalize_name(name) not in known and name not in _warned:
            _warned.add(name)
            logger.warning(
                f"bwserial: asked to disable plugin {escape(name)}, which matches no known "
                f"plugin; known: {', '.join(sorted(known))}"
            )


def resolve(disable: Iterable[str] = (), extra: Sequence[object] = ()) -> Resolved:
    """The plugins of one configuration, resolved once and cached.

    ``disable`` adds to ``BWSERIAL_DISABLE_PLUGINS`` (read here, on every call, so it
    applies to serializers built after it changes); names match like entry-point
    names (case, ``-`` and ``_`` ignored). Unknown names are warned about once.
    ``extra`` are in-process plugins: objects, modules or ``(name, plugin)`` tuples.

    Raises:
        ValueError: an in-process plugin is invalid (typo in a hook name or
            parameter), two plugins share a name, or two register one codec or
            strategy name.
    """
    discovery = discover()
    disable = tuple(disable)
    key = (disable, os.environ.get(ENV_DISABLE_PLUGINS), *map(_identity, extra))
    if _cache_for[0] is discovery and (hit := _cache.get(key)) is not None:
        return hit  # the per-serializer path: no lock, no manager
    env = env_list(ENV_DISABLE_PLUGINS) or ()
    with _lock:
        if _cache_for[0] is not discovery:
            _cache.clear()
            _warned.clear()
            _cache_for[0] = discovery
        _warn_unknown((*disable, *env), discovery, extra)
    resolved = _build(discovery, {normalize_name(n) for n in (*disable, *env)}, extra)
    with _lock:
        if len(_cache) >= CACHE_SIZE:
            del _cache[next(iter(_cache))]  # the oldest configuration
        _cache[key] = resolved
    return resolved


def _identity(item: object) -> Hashable:
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
        return (item[0], id(item[1]))
    return id(item)


# --------------------------------------------------------------------------- listing


@dataclass(frozen=True, slots=True)
class PluginDescription:
    """One plugin as ``bwserial plugins`` shows it."""

    name: str
    distribution: str | None
    version: str | None
    builtin: bool
    enabled: bool
    reason: str
    """Why it is not enabled (empty when it is)."""
    codecs: tuple[str, ...] = ()
    hangup_strategies: tuple[str, ...] = ()
    hooks: tuple[str, ...] = ()
    description: str = ""
    failed: bool = False
    """It could not be loaded (``reason`` says why); the other plugins work."""
    transfer_strategies: tuple[str, ...] = ()
    call_registries: tuple[str, ...] = ()
    """URL schemes of the call registries it provides (``bwserial_call_registries``)."""


def describe_plugins(disable: Iterable[str] = ()) -> list[PluginDescription]:
    """Every plugin discovery met, with what it provides; never raises for a plugin."""
    blocked = {normalize_name(n) for n in (*disable, *(env_list(ENV_DISABLE_PLUGINS) or ()))}
    found = discover()
    try:
        own_version: str | None = metadata.version("bwserial")
    except metadata.PackageNotFoundError:
        own_version = None
    described: list[PluginDescription] = []
    for info in found.plugins:
        try:  # the plugin alone: what it registers, whatever else is installed
            alone = _build(Discovery((info,)), set(), ()).registries
            names = {h: tuple(r.item.name for r in alone[h].values()) for h in KINDS}
        except ValueError:  # it registers one name twice
            names = {}
        is_blocked = _is_blocked(info.name, info.distribution, blocked)
        described.append(
            PluginDescription(
                name=info.name,
                distribution=info.distribution,
                version=own_version if info.builtin else info.version,
                builtin=info.builtin,
                enabled=not is_blocked,
                reason=f"blocked by {ENV_DISABLE_PLUGINS}" if is_blocked else "",
                codecs=names.get("bwserial_codecs", ()),
                hangup_strategies=names.get("bwserial_hangup_strategies", ()),
                hooks=tuple(sorted(h for h in vars(info.hooks) if h.startswith("bwserial_"))),
                description=info.description,
                transfer_strategies=names.get("bwserial_transfer_strategies", ()),
                call_registries=names.get("bwserial_call_registries", ()),
            )
        )
    described.extend(
        PluginDescription(
            name=s.name,
            distribution=s.distribution,
            version=s.version,
            builtin=s.distribution == "bwserial",
            enabled=False,
            reason=s.reason,
            failed=s.failed,
        )
        for s in found.skipped
    )
    return described
