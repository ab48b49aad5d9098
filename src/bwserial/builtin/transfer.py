"""Built-in plugin ``transfer``: registers :class:`bwserial.voiceapi.VoiceApiTransfer`.

A separate plugin from ``voice-api`` (the hang-up), so an app can disable or
replace the transfer without touching the hang-up. The strategy lives in the
public :mod:`bwserial.voiceapi`, so a plugin author can extend it; it is imported
when a call first builds its transfer, not here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from bwserial.builtin.voice_api import NAME
from bwserial.hookspecs import hookimpl
from bwserial.types import HangupConfig, Transfer, TransferStrategy


def _transfer(config: HangupConfig) -> Transfer:
    from bwserial.voiceapi import VoiceApiTransfer

    return VoiceApiTransfer(config)


STRATEGY: Final = TransferStrategy(
    name=NAME,
    factory=_transfer,
    description="Bandwidth Voice API update-call BXML with <Transfer> (needs bandwidth-sdk)",
)


@hookimpl
def bwserial_transfer_strategies() -> Iterable[TransferStrategy]:
    return [STRATEGY]
