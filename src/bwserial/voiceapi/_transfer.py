"""The built-in transfer: replace the call's BXML with a ``<Transfer>`` to a person.

``PUT {voice_api_base_url}/accounts/{accountId}/calls/{callId}/bxml`` with an
``application/xml`` document built with bandwidth-sdk's BXML models. Bandwidth
interrupts the verbs executing and runs the new ones, so the caller is bridged to
the targets. The request runs through the hang-up's own machinery
(:class:`~bwserial.voiceapi.VoiceApiHangup`): the cached token, the deadline, the
retry table (429/5xx with Retry-After, 409 for a while, one refresh on 401) and the
404 check. A 404 of Bandwidth's means the caller hung up first: nothing to
transfer, the call is over.

bandwidth-sdk stays an optional dependency (``bwserial[transfer]``): importing its
BXML models takes about a second (it loads the whole SDK), which every process
that never transfers would pay. Its presence is checked when the strategy is built
(a clear ``ValueError``), and it is imported off the event loop while the call is
still running (:meth:`VoiceApiTransfer.prepare`), not when the transfer is due.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import importlib.util
import time
from typing import Any, ClassVar, Final

from loguru import logger

from bwserial.builtin.voice_api import NAME
from bwserial.call_control import TransferRequest, is_sip_uri
from bwserial.types import EndingKind, HangupConfig, HangupOutcome, HangupResult
from bwserial.voiceapi._hangup import VoiceApiAnswer, VoiceApiHangup, _Failed
from bwserial.voiceapi._http_pool import get_session

"""The name ``InputParams.transfer`` selects the built-in transfer strategy by."""

SDK_HINT: Final = (
    "the built-in 'voice-api' transfer builds its BXML with bandwidth-sdk, which is not "
    "installed: pip install 'bwserial[transfer]' (or set InputParams.transfer to another "
    "strategy)"
)


@functools.cache
def sdk_available() -> bool:
    """Whether bandwidth-sdk can be imported (without importing it: that takes ~1 s).

    Looked up once per process: serializers are built per call.
    """
    try:
        return importlib.util.find_spec("bandwidth") is not None
    except (ImportError, ValueError):
        return False


def _bxml_models() -> Any:
    return importlib.import_module("bandwidth.models.bxml")


class VoiceApiTransfer(VoiceApiHangup):
    """Transfer one call through Bandwidth's Voice API: the built-in ``voice-api`` transfer.

    One instance per call, built with the call's :class:`~bwserial.HangupConfig`.
    Override a step (``build_bxml``, ``send_bxml``, or the inherited ``get_token``,
    ``invalidate_token``, ``backoff_secs``) or a class attribute in a subclass and
    register it under another name with ``bwserial_transfer_strategies``.

    Raises:
        ValueError: bandwidth-sdk is not installed (at construction).
    """

    name: ClassVar[str] = NAME
    stop_stream: ClassVar[bool] = True
    """Put ``<StopStream name=...>`` before ``<Transfer>`` when the stream's name is
    known. Whether replacing the BXML alone ends a ``<StartStream>`` stream is not
    confirmed by Bandwidth's docs; stopping it explicitly keeps the bot from hearing
    the person the caller is put through to."""

    def __init__(self, config: HangupConfig) -> None:
        if not sdk_available():
            raise ValueError(SDK_HINT)
        super().__init__(config)

    @property
    def bxml_url(self) -> str:
        """The update-call-BXML URL (no secret in it: safe to log)."""
        return self.call_url + "/bxml"

    # ------------------------------------------------------------------ steps to override

    def build_bxml(self, request: TransferRequest, stream_name: str | None) -> str:
        """The BXML document that replaces the call's: ``[<StopStream>]<Transfer>``."""
        bxml = _bxml_models()
        targets = [
            bxml.SipUri(uri=t) if is_sip_uri(t) else bxml.PhoneNumber(number=t) for t in request.to
        ]
        transfer = bxml.Transfer(
            transfer_to=targets,
            transfer_caller_id=request.caller_id,
            call_timeout=None if request.timeout_secs is None else f"{request.timeout_secs:g}",
        )
        verbs = []
        if self.stop_stream and stream_name:
            verbs.append(bxml.StopStream(name=stream_name))
        verbs.append(transfer)
        return str(bxml.Response(nested_verbs=verbs).to_bxml())

    async def send_bxml(self, token: str, deadline: float, bxml: str) -> VoiceApiAnswer:
        """One update-call-BXML request: its status, Retry-After and whose error body it is."""
        from bwserial.voiceapi._hangup import is_bandwidth_error

        session = await get_session()
        async with session.put(
            self.bxml_url,
            data=bxml.encode("utf-8"),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/xml"},
            timeout=self._timeout(deadline),
        ) as response:
            body = await response.read()
            status = response.status
            return VoiceApiAnswer(
                status,
                response.headers.get("Retry-After"),
                is_bandwidth_error(response.content_type, body) if status >= 400 else None,
            )

    # ------------------------------------------------------------------ the Transfer contract

    async def prepare(self) -> None:
        """Fetch the token and import the BXML models off the event loop, ahead of time."""
        await super().prepare()
        try:
            await asyncio.to_thread(_bxml_models)
        except Exception as e:  # reported again, as a failed transfer, if it matters
            logger.debug(f"{self!r}: importing bandwidth-sdk failed ({type(e).__name__})")

    async def transfer(
        self, request: TransferRequest, deadline: float, stream_name: str | None
    ) -> HangupResult:
        """Put the caller through to ``request.to`` by ``deadline``; reports, never raises."""
        started = time.monotonic()
        counters = {"attempts": 0}
        status: int | None = None
        try:
            document = self.build_bxml(request, stream_name)

            async def send(token: str, until: float) -> VoiceApiAnswer:
                return await self.send_bxml(token, until, document)

            status = await self._until_done(deadline, counters, send, "transfer")
            if status == 404:
                outcome, reason = HangupOutcome.ALREADY_ENDED, "call was no longer active"
            else:
                outcome, reason = HangupOutcome.TRANSFERRED, "call BXML replaced by <Transfer>"
        except _Failed as e:
            outcome, status, reason = HangupOutcome.FAILED, e.status, e.reason
        return HangupResult(
            outcome=outcome,
            status=status,
            attempts=counters["attempts"],
            seconds=time.monotonic() - started,
            reason=reason,
            strategy=self.name,
            kind=EndingKind.TRANSFER,
            targets=request.to,
        )
