"""bwserial-redis: the call registry across worker processes, on Redis pub/sub.

With several bot workers behind a load balancer, Bandwidth's keypad-digit webhook
usually lands on a worker that does not hold the call's media stream. Installing
this package registers the ``redis://``, ``rediss://`` and ``unix://`` call registry
schemes, so configuration, not code, turns it on::

    BWSERIAL_CALL_REGISTRY_URL=redis://redis:6379/0

or ``BandwidthRunner(call_registry_url="redis://redis:6379/0")``, or an explicit
``BandwidthRunner(call_registry=RedisCallRegistry(url))``. How it works, and what each
failure does, is in :mod:`bwserial_redis._registry` and this package's README.

Importing this module does not import redis-py: ``bwserial plugins`` stays fast.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from bwserial import CallRegistryFactory, hookimpl

if TYPE_CHECKING:
    from bwserial_redis._registry import (
        DEFAULT_PREFIX,
        FALLBACKS,
        RedisCallRegistry,
        RegistryUnavailable,
    )

__all__ = [
    "DEFAULT_PREFIX",
    "FALLBACKS",
    "SCHEMES",
    "RedisCallRegistry",
    "RegistryUnavailable",
    "bwserial_call_registries",
]

SCHEMES = ("redis", "rediss", "unix")
"""The URL schemes redis-py connects with, each served by :class:`RedisCallRegistry`."""


def __getattr__(name: str) -> Any:
    if name in ("DEFAULT_PREFIX", "FALLBACKS", "RedisCallRegistry", "RegistryUnavailable"):
        from bwserial_redis import _registry

        return getattr(_registry, name)
    raise AttributeError(f"module 'bwserial_redis' has no attribute {name!r}")


def _make(url: str, **options: Any) -> RedisCallRegistry:
    from bwserial_redis._registry import RedisCallRegistry

    return RedisCallRegistry(url, **options)


@hookimpl
def bwserial_call_registries() -> Iterable[CallRegistryFactory]:
    about = "Redis pub/sub: webhooks reach the worker holding the call (bwserial-redis)"
    return [CallRegistryFactory(scheme, _make, about) for scheme in SCHEMES]
