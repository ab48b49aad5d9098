"""Built-in plugins: registered through the same hooks as third-party ones.

Each module here is one plugin (see ``bwserial.plugins.BUILTIN_PLUGINS``); block
one by name (``pcmu``, ``pcm``, ``voice-api``) like any other plugin.
"""
