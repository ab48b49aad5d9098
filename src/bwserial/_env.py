"""The plugin environment variables and plugin-name matching, free of Pipecat.

``bwserial plugins`` and plugin discovery read these; importing Pipecat (through
``bwserial.config``) would cost half a second and print its banner on a listing.
"""

from __future__ import annotations

import os
import re
from typing import Final

__all__ = ["ENV_DISABLE_PLUGINS", "ENV_PLUGINS", "env_list", "normalize_name"]

ENV_PLUGINS: Final = "BWSERIAL_PLUGINS"
"""Unset: load every installed entry-point plugin. Empty: none. A comma list: only those."""
ENV_DISABLE_PLUGINS: Final = "BWSERIAL_DISABLE_PLUGINS"
"""A comma list of plugin names to block, built-ins included. Wins over ENV_PLUGINS."""

_SEPARATORS: Final = re.compile(r"[-_.]+")


def env_list(name: str) -> list[str] | None:
    """Read a comma-separated environment variable; None when unset.

    Read when needed (plugin discovery, plugin resolution), never at import time,
    so a test or an app can set it after importing bwserial.
    """
    raw = os.environ.get(name)
    if raw is None:
        return None
    return [item.strip() for item in raw.split(",") if item.strip()]


def normalize_name(name: str) -> str:
    """Compare plugin and distribution names the way packaging does (PEP 503):
    case, ``-``, ``_`` and ``.`` do not matter, so ``My_Plugin`` names ``my-plugin``."""
    return _SEPARATORS.sub("-", name.strip()).casefold()
