"""Bandwidth's Voice API, public: the built-in hang-up strategy, OAuth tokens, pooled HTTP.

What a plugin author extends and an integrator shuts down, without importing
bwserial's internals:

* :class:`VoiceApiHangup`: the built-in ``voice-api`` strategy, built from
  overridable steps (``get_token``, ``invalidate_token``, ``send_hangup``,
  ``backoff_secs``); subclass it and register the subclass under a new name.
* :class:`OAuthTokenProvider`: client-credentials tokens, cached per process
  and fetched single-flight (shared with the built-in strategy).
* :class:`VoiceApiTransfer`: the built-in ``voice-api`` transfer strategy (a
  ``<Transfer>`` BXML through the same retry loop), with overridable
  ``build_bxml`` and ``send_bxml`` steps.
* :func:`place_call`: place a call whose answer webhook connects the bot.
* :func:`aclose`: the one way to release what this module holds: the running
  loop's pooled HTTP session and every cached token. Call it from an app's
  shutdown (lifespan) hook, and after each test that talks to a fake API.
"""

from __future__ import annotations

from bwserial.builtin.voice_api import NAME
from bwserial.voiceapi._calls import PlaceCallError, place_call
from bwserial.voiceapi._hangup import (
    VoiceApiAnswer,
    VoiceApiHangup,
    is_bandwidth_error,
    parse_retry_after,
)
from bwserial.voiceapi._http_pool import close_sessions as _close_sessions
from bwserial.voiceapi._http_pool import get_session
from bwserial.voiceapi._oauth import MAX_CACHE_SECS, OAuthTokenProvider, TokenError
from bwserial.voiceapi._oauth import clear_cache as _clear_cache
from bwserial.voiceapi._transfer import SDK_HINT, VoiceApiTransfer, sdk_available

__all__ = [
    "MAX_CACHE_SECS",
    "NAME",
    "SDK_HINT",
    "OAuthTokenProvider",
    "PlaceCallError",
    "TokenError",
    "VoiceApiAnswer",
    "VoiceApiHangup",
    "VoiceApiTransfer",
    "aclose",
    "get_session",
    "is_bandwidth_error",
    "parse_retry_after",
    "place_call",
    "sdk_available",
]


async def aclose() -> None:
    """Close the running loop's pooled HTTP session and forget every cached token.

    Safe to call more than once, and with nothing open. The next hang-up opens a
    new session and fetches a new token.
    """
    _clear_cache()
    await _close_sessions()
