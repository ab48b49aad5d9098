"""The typed facade in front of the event hooks: one per call, no pluggy call per event.

A serializer asks ``if observers.media_gap:`` (one attribute read, False when no
plugin implements the hook) before building an event, then
``observers.emit("bwserial_media_gap", gap=...)``. One flag exists per event hook
of :mod:`bwserial.hookspecs`, named after it without the ``bwserial_`` prefix,
so a new hook needs no edit here.

Implementations are called one at a time, in pluggy's order (tryfirst/trylast respected,
otherwise the last registered first). One that raises
is logged (rate-limited, with its plugin name and the message; the traceback at
DEBUG) and the others still run, whatever the order. ``Exception`` only:
``asyncio.CancelledError`` must reach the task that is being cancelled.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

from bwserial._env import normalize_name
from bwserial._log import escape, log_repeated
from bwserial.plugins._loader import SPECS
from bwserial.plugins._registry import EVENT_HOOKS, Impl, Resolved, close_if_awaitable
from bwserial.types import StreamContext

_PREFIX: Final = "bwserial_"
_SPEC_ARGS: Final = {
    hook: frozenset(inspect.signature(getattr(SPECS, hook)).parameters) for hook in EVENT_HOOKS
}
_FLAGS: Final = tuple((hook, hook.removeprefix(_PREFIX)) for hook in EVENT_HOOKS)
_argnames: dict[tuple[type, str], tuple[str, ...] | None] = {}


def _method_args(obj: object, hook: str, method: Any) -> tuple[str, ...] | None:
    """The parameters a per-call observer's method takes, or None when the hook lacks one."""
    key = (type(obj), hook)
    if key not in _argnames:
        params = inspect.signature(method).parameters.values()
        names = tuple(p.name for p in params if p.default is inspect.Parameter.empty)
        _argnames[key] = names if set(names) <= _SPEC_ARGS[hook] else None
    return _argnames[key]


def settings_for(settings: Mapping[str, Mapping[str, Any]], plugin: str) -> Mapping[str, Any]:
    """A plugin's entry of ``InputParams.plugin_settings``, its name matched like entry points."""
    wanted = normalize_name(plugin)
    for key, value in settings.items():
        if normalize_name(key) == wanted:
            return MappingProxyType(dict(value))
    return MappingProxyType({})


class Observers:
    """Calls one call's observers; ``observers.<hook>`` says whether any implements it."""

    def __init__(
        self,
        resolved: Resolved,
        context: StreamContext,
        settings: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self._context = context
        impls: Mapping[str, tuple[Impl, ...]] = resolved.events
        if resolved.factories:
            impls = self._per_call(resolved, impls, settings or {})
        self._impls = impls
        for hook, flag in _FLAGS:
            setattr(self, flag, bool(impls[hook]))

    def _per_call(
        self,
        resolved: Resolved,
        shared: Mapping[str, tuple[Impl, ...]],
        settings: Mapping[str, Mapping[str, Any]],
    ) -> dict[str, tuple[Impl, ...]]:
        impls = dict(shared)
        for plugin, factory, argnames in resolved.factories:
            call_observer = self._build(plugin, factory, argnames, settings)
            if call_observer is not None:
                for hook in EVENT_HOOKS:
                    method = getattr(call_observer, hook, None)
                    if callable(method):
                        args = _method_args(call_observer, hook, method)
                        if args is None:
                            log_repeated(
                                ("args", plugin, hook),
                                "ERROR",
                                f"bwserial plugin {plugin!r}: its per-call observer's {hook} "
                                f"takes a parameter the hook does not have; ignored",
                            )
                            continue
                        impls[hook] = (*impls[hook], (plugin, method, args))
        return impls

    if TYPE_CHECKING:  # the flags are set per hook in __init__

        def __getattr__(self, name: str) -> bool:
            raise AttributeError(f"no event hook bwserial_{name}")

    def _build(
        self,
        plugin: str,
        factory: Any,
        argnames: tuple[str, ...],
        settings: Mapping[str, Mapping[str, Any]],
    ) -> object | None:
        hook = "bwserial_call_observer"
        given = {"context": self._context, "settings": settings_for(settings, plugin)}
        try:
            built: object = factory(**{a: given[a] for a in argnames})
        except Exception as e:
            _raised(plugin, hook, e)
            return None
        if built is None or close_if_awaitable(built, plugin, hook):
            return None
        return built

    def emit(self, hook: str, **kwargs: Any) -> None:
        """Call every implementation of ``hook`` with the arguments it asks for.

        Never raises ``Exception``: a raising observer is logged and skipped.
        """
        kwargs["context"] = self._context
        for plugin, function, argnames in self._impls[hook]:
            try:
                result = function(**{a: kwargs[a] for a in argnames})
            except Exception as e:
                _raised(plugin, hook, e)
                continue
            if result is not None:
                close_if_awaitable(result, plugin, hook)


def _raised(plugin: str, hook: str, e: Exception) -> None:
    log_repeated(
        ("observer", plugin, hook, type(e).__name__),
        "ERROR",
        f"bwserial plugin {plugin!r} raised {escape(type(e).__name__)} in {hook}: "
        f"{escape(e, 200)}; the call goes on",
        exception=e,
    )
