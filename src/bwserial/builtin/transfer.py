"""Built-in plugin ``transfer``: registers :class:`bwserial.voiceapi.VoiceApiTransfer`.

A separate plugin from ``voice-api`` (the hang-up), so an app can disable or
replace the transfer without touching the hang-up. The strategy lives in the
public :mod:`bwserial.voiceapi`, so a plugin author can extend it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from bwserial.hookspecs import hookimpl
from bwserial.types import TransferStrategy
from bwserial.voiceapi import VoiceApiTransfer

STRATEGY: Final = TransferStrategy(
    name=VoiceApiTransfer.name,
    factory=VoiceApiTransfer,
    description="Bandwidth Voice API update-call BXML with <Transfer> (needs bandwidth-sdk)",
)


@hookimpl
def bwserial_transfer_strategies() -> Iterable[TransferStrategy]:
    return [STRATEGY]
