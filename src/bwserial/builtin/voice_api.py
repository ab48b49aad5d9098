"""Built-in plugin ``voice-api``: registers :class:`bwserial.voiceapi.VoiceApiHangup`.

The strategy itself lives in the public :mod:`bwserial.voiceapi`, so a plugin
author can extend it without importing this module. It is imported when a call
first builds its hang-up, not here: listing or resolving plugins stays free of
aiohttp.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from bwserial.hookspecs import hookimpl
from bwserial.types import Hangup, HangupConfig, HangupStrategy

NAME: Final = "voice-api"


def _hang_up(config: HangupConfig) -> Hangup:
    from bwserial.voiceapi import VoiceApiHangup

    return VoiceApiHangup(config)


STRATEGY: Final = HangupStrategy(
    name=NAME,
    factory=_hang_up,
    description="Bandwidth Voice API call update, OAuth 2.0 client credentials",
)


@hookimpl
def bwserial_hangup_strategies() -> Iterable[HangupStrategy]:
    return [STRATEGY]
