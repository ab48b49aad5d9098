"""Resolution: from discovered plugins to codecs, hang-up strategies and observers.

A serializer is built per call, so resolving the plugins for it must not cost a
pluggy manager each time: :func:`resolve` builds one per distinct configuration
(disabled names, in-process plugins, ``BWSERIAL_DISABLE_PLUGINS``) and caches
what it found, so a construction is a dictionary lookup.
"""

from __future__ import annotations

import inspect
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType, ModuleType
from typing import Any, Final, Generic, TypeVar

import pluggy
from loguru import logger

from bwserial._env import ENV_DISABLE_PLUGINS, env_list, normalize_name
from bwserial._log import escape, log_repeated
from bwserial.hookspecs import PROJECT_NAME
from bwserial.plugins._loader import SPECS, Discovery, discover
from bwserial.types import CallRegistryFactory, Codec, HangupStrategy, TransferStrategy

REGISTRATION_HOOKS: Final = (
    "bwserial_codecs",
    "bwserial_hangup_strategies",
    "bwserial_transfer_strategies",
    "bwserial_call_registries",
)
FACTORY_HOOKS: Final = ("bwserial_call_observer",)
"""Called once per call, directly, to build per-call observers (not event hooks)."""
EVENT_HOOKS: Final = tuple(
    name
    for name in vars(SPECS)
    if name.startswith("bwserial_") and name not in REGISTRATION_HOOKS and name not in FACTORY_HOOKS
)
"""Every observer hook the contract has, read from the hookspecs (new ones need no edit here)."""

CACHE_SIZE: Final = 64
"""Distinct plugin configurations remembered. Apps with one configuration use one entry;
an app passing a new plugin object per call re-resolves each time (use a factory)."""

T = TypeVar("T", Codec, HangupStrategy, TransferStrategy, CallRegistryFactory)
Impl = tuple[str, Callable[..., Any], tuple[str, ...]]
"""(plugin name, function, the parameter names it takes)."""


@dataclass(frozen=True, slots=True)
class Registered(Generic[T]):
    item: T
    plugin: str


@dataclass(frozen=True, slots=True)
class Resolved:
    """What one plugin configuration provides; shared, read-only, by every serializer using it."""

    names: tuple[str, ...]
    disabled: tuple[str, ...]
    codecs: Mapping[str, Registered[Codec]]
    hangup_strategies: Mapping[str, Registered[HangupStrategy]]
    events: Mapping[str, tuple[Impl, ...]]
    factories: tuple[Impl, ...] = ()
    transfer_strategies: Mapping[str, Registered[TransferStrategy]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    call_registries: Mapping[str, Registered[CallRegistryFactory]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    keep: tuple[object, ...] = field(default=(), repr=False)
    """The in-process plugins of the cache key, kept alive so their ids stay theirs."""


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


def _raised(plugin: str, hook: str, e: BaseException) -> None:
    log_repeated(
        ("raised", plugin, hook, type(e).__name__),
        "ERROR",
        f"bwserial plugin {plugin!r} raised {escape(type(e).__name__)} in {hook}: {escape(e, 200)}",
        exception=e,
    )


def _collect(
    pm: pluggy.PluginManager, hook: str, kind: type[T], what: str
) -> dict[str, Registered[T]]:
    found: dict[str, Registered[T]] = {}
    for impl in reversed(getattr(pm.hook, hook).get_hookimpls()):
        try:
            result = impl.function()
            if result is None or close_if_awaitable(result, impl.plugin_name, hook):
                continue
            try:
                items = [result] if isinstance(result, kind) else list(result)
            except TypeError:
                items = [result]  # not iterable: reported as the wrong type just below
        except KeyboardInterrupt:
            raise
        except BaseException as e:  # e.g. a generator implementation failing halfway
            _raised(impl.plugin_name, hook, e)
            continue
        for item in items:
            if not isinstance(item, kind):
                log_repeated(
                    ("type", impl.plugin_name, hook),
                    "WARNING",
                    f"bwserial plugin {impl.plugin_name!r} returned {type(item).__name__} "
                    f"from {hook}; expected {kind.__name__}",
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


def choose(
    registry: Mapping[str, Registered[T]], name: str, what: str, setting: str
) -> Registered[T]:
    """Pick by configured name, or a ValueError listing every registered name."""
    try:
        return registry[name.casefold()]
    except KeyError:
        known = ", ".join(sorted(r.item.name for r in registry.values())) or "none"
        raise ValueError(
            f"unknown {what} {name!r} in {setting}; registered: {known}. Install or enable "
            "the plugin that provides it."
        ) from None


def _impls(pm: pluggy.PluginManager, hook: str) -> tuple[Impl, ...]:
    found: list[Impl] = []
    for impl in reversed(getattr(pm.hook, hook).get_hookimpls()):
        if impl.hookwrapper or impl.wrapper:
            logger.warning(
                f"bwserial plugin {impl.plugin_name!r}: wrappers are not supported on "
                f"{hook}; ignored"
            )
            continue
        found.append((impl.plugin_name, impl.function, tuple(impl.argnames)))
    return tuple(found)


def _entries(
    discovery: Discovery, extra: Sequence[object]
) -> list[tuple[str, object, str | None, bool]]:
    """(name, what to register, distribution, in-process?) in registration order."""
    entries = [(i.name, i.registrable, i.distribution, False) for i in discovery.plugins]
    for item in extra:
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
            entries.append((item[0], item[1], None, True))
        else:
            entries.append((plugin_name(item), item, None, True))
    return entries


def _build(discovery: Discovery, blocked: set[str], extra: Sequence[object]) -> Resolved:
    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(SPECS)
    names: list[str] = []
    disabled: list[str] = []
    for name, plugin, dist, in_process in _entries(discovery, extra):
        key = normalize_name(name)
        if key in blocked or (dist not in (None, "bwserial") and normalize_name(dist) in blocked):
            disabled.append(name)
            continue
        if pm.has_plugin(name):
            raise ValueError(
                f"two plugins are named {name!r}; give in-process plugins distinct names "
                "(a 'bwserial_plugin_name' attribute or a (name, plugin) tuple)"
            )
        try:
            pm.register(plugin, name=name)
            if in_process:
                pm.check_pending()
        except pluggy.PluginValidationError as e:
            raise ValueError(f"bwserial plugin {name!r} is invalid: {e} (a typo?)") from None
        except Exception as e:  # e.g. a __dir__ or __getattr__ that raises
            raise ValueError(
                f"bwserial plugin {name!r} could not be registered: "
                f"{escape(type(e).__name__)}: {escape(e, 200)}"
            ) from e
        names.append(name)
    return Resolved(
        names=tuple(names),
        disabled=tuple(disabled),
        codecs=MappingProxyType(_collect(pm, "bwserial_codecs", Codec, "codec")),
        hangup_strategies=MappingProxyType(
            _collect(pm, "bwserial_hangup_strategies", HangupStrategy, "hang-up strategy")
        ),
        events=MappingProxyType({hook: _impls(pm, hook) for hook in EVENT_HOOKS}),
        factories=tuple(i for hook in FACTORY_HOOKS for i in _impls(pm, hook)),
        transfer_strategies=MappingProxyType(
            _collect(pm, "bwserial_transfer_strategies", TransferStrategy, "transfer strategy")
        ),
        call_registries=MappingProxyType(
            _collect(pm, "bwserial_call_registries", CallRegistryFactory, "call registry scheme")
        ),
        keep=tuple(extra),
    )


_cache_lock = threading.Lock()
_cache: OrderedDict[Hashable, Resolved] = OrderedDict()
_cache_for: list[Discovery | None] = [None]
_warned: set[str] = set()


def _warn_unknown(names: Iterable[str], discovery: Discovery, extra: Sequence[object]) -> None:
    known = {normalize_name(name) for name, _, _, _ in _entries(discovery, extra)}
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

    Raises:
        ValueError: an in-process plugin is invalid (typo in a hook name or
            parameter), two plugins share a name, or two register one codec or
            strategy name.
    """
    discovery = discover()
    raw_env = os.environ.get(ENV_DISABLE_PLUGINS)
    disable = tuple(disable)
    key = (disable, raw_env, tuple(_identity(item) for item in extra) if extra else ())
    with _cache_lock:
        if _cache_for[0] is not discovery:
            _cache.clear()
            _warned.clear()
            _cache_for[0] = discovery
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    env = env_list(ENV_DISABLE_PLUGINS) or ()
    _warn_unknown((*disable, *env), discovery, extra)
    resolved = _build(discovery, {normalize_name(n) for n in (*disable, *env)}, extra)
    with _cache_lock:
        _cache[key] = resolved
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return resolved


def _identity(item: object) -> Hashable:
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
        return (item[0], id(item[1]))
    return id(item)
