"""What ``bwserial plugins`` prints: every plugin found, enabled, disabled or failed, and why."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata

import pluggy

from bwserial._env import ENV_DISABLE_PLUGINS, env_list, normalize_name
from bwserial.hookspecs import PROJECT_NAME
from bwserial.plugins._loader import SPECS, discover
from bwserial.plugins._registry import _collect
from bwserial.types import CallRegistryFactory, Codec, HangupStrategy, TransferStrategy


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


def _bwserial_version() -> str | None:
    try:
        return metadata.version("bwserial")
    except metadata.PackageNotFoundError:
        return None


def describe_plugins(disable: Iterable[str] = ()) -> list[PluginDescription]:
    """Every plugin discovery met, with what it provides; never raises for a plugin."""
    blocked = {normalize_name(n) for n in (*disable, *(env_list(ENV_DISABLE_PLUGINS) or ()))}
    found = discover()
    described: list[PluginDescription] = []
    for info in found.plugins:
        is_blocked = normalize_name(info.name) in blocked or (
            not info.builtin
            and info.distribution is not None
            and normalize_name(info.distribution) in blocked
        )
        pm = pluggy.PluginManager(PROJECT_NAME)
        pm.add_hookspecs(SPECS)
        pm.register(info.registrable, name=info.name)
        hooks = tuple(sorted(c.name for c in pm.get_hookcallers(info.registrable) or ()))
        try:
            codecs = tuple(r.item.name for r in _collect(pm, "bwserial_codecs", Codec, "").values())
            strategies = tuple(
                r.item.name
                for r in _collect(pm, "bwserial_hangup_strategies", HangupStrategy, "").values()
            )
            transfers = tuple(
                r.item.name
                for r in _collect(pm, "bwserial_transfer_strategies", TransferStrategy, "").values()
            )
            registries = tuple(
                r.item.scheme
                for r in _collect(pm, "bwserial_call_registries", CallRegistryFactory, "").values()
            )
        except ValueError:
            codecs, strategies, transfers, registries = (), (), (), ()
        described.append(
            PluginDescription(
                name=info.name,
                distribution=info.distribution,
                version=_bwserial_version() if info.builtin else info.version,
                builtin=info.builtin,
                enabled=not is_blocked,
                reason=f"blocked by {ENV_DISABLE_PLUGINS}" if is_blocked else "",
                codecs=codecs,
                hangup_strategies=strategies,
                transfer_strategies=transfers,
                call_registries=registries,
                hooks=hooks,
                description=info.description,
            )
        )
    for skipped in found.skipped:
        described.append(
            PluginDescription(
                name=skipped.name,
                distribution=skipped.distribution,
                version=skipped.version,
                builtin=skipped.distribution == "bwserial",
                enabled=False,
                reason=skipped.reason,
                failed=skipped.failed,
            )
        )
    return described
