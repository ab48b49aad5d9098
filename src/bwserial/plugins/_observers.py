"""The typed facade in front of the event hooks: one per call, no pluggy call per event.

A serializer asks ``if observers.media_gap:`` (one attribute read, False when no
plugin implements the hook) before building an event, then calls the typed method
``observers.on_media_gap(gap)``, so a wrong argument is a type error, not a
``KeyError`` inside a call. One flag exists per event hook of :mod:`bwserial.hookspecs`,
named after it without the ``bwserial_`` prefix, and one ``on_<name>`` method.

Implementations are called one at a time, in pluggy's order (tryfirst/trylast
respected, otherwise the last registered first). One that raises is logged
(rate-limited, with its plugin name and the message; the traceback at DEBUG) and
the others still run. ``Exception`` only: ``asyncio.CancelledError`` must reach
the task that is being cancelled.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

from bwserial._env import normalize_name
from bwserial._log import log_repeated
from bwserial.plugins._loader import SPECS
from bwserial.plugins._registry import FLAGS, Resolved, close_if_awaitable, raised
from bwserial.types import (
    BadMessage,
    CallEnded,
    HangupResult,
    Interruption,
    MediaGap,
    StreamContext,
    StreamStarted,
    StreamStopped,
    StreamWarning,
)

_EMPTY: Final[Mapping[str, Any]] = MappingProxyType({})
_SPEC_ARGS: Final = {
    hook: frozenset(inspect.signature(getattr(SPECS, hook)).parameters) for hook, _ in FLAGS
}
_argnames: dict[tuple[type, str], tuple[str, ...] | None] = {}


def settings_for(settings: Mapping[str, Mapping[str, Any]], name: str) -> Mapping[str, Any]:
    """The entry of ``InputParams.plugin_settings`` for a plugin, codec or strategy name,
    matched like entry-point names (case, ``-`` and ``_`` ignored); read-only."""
    if settings:
        wanted = normalize_name(name)
        for key, value in settings.items():
            if normalize_name(key) == wanted:
                return MappingProxyType(dict(value))
    return _EMPTY


class Observers:
    """Calls one call's observers; ``observers.<hook>`` says whether any implements it."""

    def __init__(
        self,
        resolved: Resolved,
        context: StreamContext,
        settings: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self._context = context
        self._impls = resolved.events
        self.__dict__.update(resolved.flags)
        for plugin, factory, argnames in resolved.factories:
            self._add(plugin, self._build(plugin, factory, argnames, settings or _EMPTY))

    if TYPE_CHECKING:  # the flags are set per hook in __init__

        def __getattr__(self, name: str) -> bool:
            raise AttributeError(f"no event hook bwserial_{name}")

    def _build(
        self, plugin: str, factory: Any, argnames: tuple[str, ...], settings: Mapping[str, Any]
    ) -> object | None:
        given = {"context": self._context, "settings": settings_for(settings, plugin)}
        try:
            built: object = factory(**{a: given[a] for a in argnames})
        except Exception as e:
            raised(plugin, "bwserial_call_observer", e, "; the call goes on without it")
            return None
        if close_if_awaitable(built, plugin, "bwserial_call_observer"):
            return None
        return built

    def _add(self, plugin: str, call_observer: object | None) -> None:
        """Add a per-call observer's methods named like event hooks, for this call only."""
        if call_observer is None:
            return
        impls = dict(self._impls)
        for hook, flag in FLAGS:
            method = getattr(call_observer, hook, None)
            if not callable(method):
                continue
            key = (type(call_observer), hook)
            if key not in _argnames:
                params = inspect.signature(method).parameters.values()
                names = tuple(p.name for p in params if p.default is inspect.Parameter.empty)
                _argnames[key] = names if set(names) <= _SPEC_ARGS[hook] else None
            if (args := _argnames[key]) is None:
                log_repeated(
                    ("args", plugin, hook),
                    "ERROR",
                    f"bwserial plugin {plugin!r}: its per-call observer's {hook} takes a "
                    "parameter the hook does not have; ignored",
                )
                continue
            impls[hook] = (*impls[hook], (plugin, method, args))
            setattr(self, flag, True)
        self._impls = impls

    def on_stream_started(self, event: StreamStarted) -> None:
        self._emit("bwserial_stream_started", event=event)

    def on_stream_stopped(self, event: StreamStopped) -> None:
        self._emit("bwserial_stream_stopped", event=event)

    def on_stream_warning(self, warning: StreamWarning) -> None:
        self._emit("bwserial_stream_warning", warning=warning)

    def on_media_gap(self, gap: MediaGap) -> None:
        self._emit("bwserial_media_gap", gap=gap)

    def on_interruption(self, event: Interruption) -> None:
        self._emit("bwserial_interruption", event=event)

    def on_hangup_finished(self, result: HangupResult) -> None:
        self._emit("bwserial_hangup_finished", result=result)

    def on_call_ended(self, event: CallEnded) -> None:
        self._emit("bwserial_call_ended", event=event)

    def on_bad_message(self, message: BadMessage) -> None:
        self._emit("bwserial_bad_message", message=message)

    def _emit(self, hook: str, **kwargs: Any) -> None:
        """Call every implementation of ``hook`` with the arguments it asks for.

        Never raises ``Exception``: a raising observer is logged and skipped.
        """
        kwargs["context"] = self._context
        for plugin, function, argnames in self._impls[hook]:
            try:
                result = function(**{a: kwargs[a] for a in argnames})
            except Exception as e:
                raised(plugin, hook, e, "; the call goes on")
                continue
            if result is not None:
                close_if_awaitable(result, plugin, hook)
