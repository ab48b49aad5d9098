"""Built-in plugin ``voice-api``: registers :class:`bwserial.voiceapi.VoiceApiHangup`.

The strategy itself lives in the public :mod:`bwserial.voiceapi`, so a plugin
author can extend it without importing this module.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from bwserial.hookspecs import hookimpl
from bwserial.types import HangupStrategy
from bwserial.voiceapi import NAME, VoiceApiHangup

STRATEGY: Final = HangupStrategy(
    name=NAME,
    factory=VoiceApiHangup,
    description="Bandwidth Voice API call update, OAuth 2.0 client credentials",
)


@hookimpl
def bwserial_hangup_strategies() -> Iterable[HangupStrategy]:
    return [STRATEGY]
