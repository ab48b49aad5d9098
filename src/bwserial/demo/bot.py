"""The demo's "bot": answer every caller turn with one recorded prompt, and end the call.

It stands where a real bot has STT -> LLM -> TTS, so the demo needs no cloud keys. It
produces exactly what a TTS service produces (``TTSStartedFrame``, ``TTSAudioRawFrame``
chunks, ``TTSStoppedFrame``): the output transport then paces it at real time, reports
``BotStarted/StoppedSpeakingFrame`` back upstream, and hands it to the serializer.

Turn-taking comes from the ``VADUserStarted/StoppedSpeakingFrame`` that Pipecat's
``VADProcessor`` (Silero) pushes downstream. Barge-in uses Pipecat's own interruption
mechanism, ``broadcast_interruption()``, present from pipecat-ai 1.0 to today: the
``InterruptionFrame`` empties the output transport's queue and reaches the serializer,
which sends Bandwidth's ``clear``. (Pipecat 1.x has no ``allow_interruptions`` switch any
more; in a bot with an LLM, the user aggregator's turn strategies make the same call.)
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from pipecat.frames.frames import (
    BotStoppedSpeakingFrame,
    Frame,
    InputDTMFFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from bwserial.demo._compat import EndPipelineFrame
from bwserial.frames import TransferFrame

__all__ = ["PromptBot"]

CHUNK_SECS = 0.04
"""The output transport's own chunk (4 x 10 ms); smaller pushes only cost more frames."""
END_SLACK_SECS = 0.5
"""How much sooner than its length an answer may be reported stopped (pacing jitter)."""


class PromptBot(FrameProcessor):
    """Answers each caller turn with ``prompt``; ends the pipeline after ``turns`` answers.

    A turn counts when its answer starts, whether it then plays out or is interrupted:
    after the last one stops (played, or cut by the caller), the bot asks the pipeline
    to end (``EndWorkerFrame``, ``EndTaskFrame`` before pipecat-ai 1.4, pushed upstream to
    the pipeline's source), and the serializer hangs up once the audio already sent
    has played at Bandwidth.

    Keypad digits (``InputDTMFFrame``) are recorded in ``digits``; ``transfer_key``
    ("press 0") makes the bot end its part by handing the caller to ``transfer_to``: it
    pushes ``TransferFrame.to(transfer_to)`` after whatever it is saying, which then
    plays out before the call is transferred.

    ``audible`` (optional) says how many seconds of bot audio Bandwidth still has queued,
    e.g. ``serializer.playout_remaining_secs``. The transport sends audio a little ahead of
    play-out, so with it a caller who talks over the very end of an answer still gets a
    ``clear``; without it, barge-in counts only while the answer is being sent.
    """

    def __init__(
        self,
        prompt: bytes,
        sample_rate: int,
        *,
        turns: int,
        audible: Callable[[], float] | None = None,
        name: str | None = None,
        transfer_key: str | None = None,
        transfer_to: str | None = None,
    ) -> None:
        super().__init__(name=name or "PromptBot")
        if turns < 1:
            raise ValueError(f"turns must be at least 1, got {turns}")
        if not prompt:
            raise ValueError("the prompt has no audio")
        chunk = max(2, round(sample_rate * CHUNK_SECS) * 2)
        self._chunks = [prompt[i : i + chunk] for i in range(0, len(prompt), chunk)]
        self._rate = sample_rate
        self._turns = turns
        self._audible = audible
        self.answers = 0
        """Answers started so far."""
        self.interruptions = 0
        """Answers cut short because the caller started talking."""
        self._answer_secs = len(prompt) / (2 * sample_rate)
        self._answering = False
        """An answer was pushed and has not stopped playing (nor been interrupted)."""
        self._earliest_end = 0.0
        self._ending = False
        if (transfer_key is None) != (transfer_to is None):
            raise ValueError("transfer_key and transfer_to go together")
        self._transfer_key = transfer_key
        self._transfer_to = transfer_to
        if transfer_to is not None:
            TransferFrame.to(transfer_to)  # a bad target fails here, not on the key press
        self.digits = ""
        """Keypad digits received, in order."""
        self.transferred_to: str | None = None
        """Where the bot asked to transfer the caller, once it did."""

    @property
    def finished(self) -> bool:
        """Whether the bot has asked the pipeline to end."""
        return self._ending

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)
        if isinstance(frame, InputDTMFFrame):
            await self._digit(frame.button.value)
        elif isinstance(frame, VADUserStartedSpeakingFrame):
            if self._answering or (self._audible is not None and self._audible() > 0):
                await self._interrupt()
        elif isinstance(frame, VADUserStoppedSpeakingFrame):
            await self._answer()
        elif isinstance(frame, BotStoppedSpeakingFrame) and self._answer_has_played():
            self._answering = False
            await self._maybe_end()

    async def _digit(self, digit: str) -> None:
        self.digits += digit
        if digit != self._transfer_key or self._transfer_to is None or self._ending:
            return
        self._ending = True
        self.transferred_to = self._transfer_to
        # Downstream, after the audio already queued: it plays out, then the transfer.
        await self.push_frame(TransferFrame.to(self._transfer_to))

    def _answer_has_played(self) -> bool:
        """Whether a BotStoppedSpeakingFrame can mean the current answer is over.

        The frame carries no reference to what stopped: one from an answer cut short can
        arrive after the next answer started (and after a cut, the transport may not
        announce the next start at all). The transport plays at real time, so nothing
        before the answer's own length has passed can be its end.
        """
        return self._answering and time.monotonic() >= self._earliest_end

    async def _answer(self) -> None:
        if self._ending or self.answers >= self._turns:
            return
        self.answers += 1
        self._answering = True
        self._earliest_end = time.monotonic() + self._answer_secs - END_SLACK_SECS
        context_id = str(uuid.uuid4())
        await self.push_frame(TTSStartedFrame(context_id=context_id))
        for chunk in self._chunks:
            await self.push_frame(
                TTSAudioRawFrame(
                    audio=chunk, sample_rate=self._rate, num_channels=1, context_id=context_id
                )
            )
        await self.push_frame(TTSStoppedFrame(context_id=context_id))

    async def _interrupt(self) -> None:
        self.interruptions += 1
        self._answering = False
        await self.broadcast_interruption()  # type: ignore[no-untyped-call]
        await self._maybe_end()

    async def _maybe_end(self) -> None:
        if self._ending or self._answering or self.answers < self._turns:
            return
        self._ending = True
        await self.push_frame(
            EndPipelineFrame(reason=f"answered {self.answers} caller turn(s)"),
            FrameDirection.UPSTREAM,
        )
