"""Plugin loading, in tox's shape: discover once, resolve once per configuration, emit.

* ``_loader``: built-ins are an explicit list (not entry points) so bwserial works
  without installed metadata (``PYTHONPATH=src``, zipapps); entry points (group
  ``bwserial``) are imported once per process, each in isolation: one that fails
  in any way is reported by name and skipped.
* ``_registry``: :func:`resolve` turns a configuration (disabled names, in-process
  plugins, ``BWSERIAL_DISABLE_PLUGINS``) into the typed registrations (codecs,
  hang-up and transfer strategies) and observer lists once, and caches it: a
  serializer's construction is a lookup. :func:`describe_plugins` is what
  ``bwserial plugins`` shows.
* ``_observers``: :class:`Observers`, the typed facade a serializer emits events
  through, one implementation at a time, so a raising plugin cannot stop the
  others or the call.

Nothing here imports Pipecat: ``bwserial plugins`` stays fast and quiet.
"""

from bwserial.plugins._loader import (
    BUILTIN_PLUGINS,
    ENTRY_POINT_GROUP,
    Discovery,
    PluginInfo,
    SkippedPlugin,
    discover,
)
from bwserial.plugins._observers import Observers, settings_for
from bwserial.plugins._registry import (
    EVENT_HOOKS,
    FACTORY_HOOKS,
    REGISTRATION_HOOKS,
    PluginDescription,
    Registered,
    Resolved,
    choose,
    describe_plugins,
    plugin_name,
    resolve,
)

__all__ = [
    "BUILTIN_PLUGINS",
    "ENTRY_POINT_GROUP",
    "EVENT_HOOKS",
    "FACTORY_HOOKS",
    "REGISTRATION_HOOKS",
    "Discovery",
    "Observers",
    "PluginDescription",
    "PluginInfo",
    "Registered",
    "Resolved",
    "SkippedPlugin",
    "choose",
    "describe_plugins",
    "discover",
    "plugin_name",
    "resolve",
    "settings_for",
]
