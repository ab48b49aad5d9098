"""One call: the Pipecat pipeline on an accepted stream, run to the end.

This is the part of the demo a real bot copies. The pipeline is the smallest one that
behaves like a voice bot on a phone line::

    transport.input() -> VADProcessor(Silero) -> PromptBot -> transport.output()

It needs no cloud keys: Silero VAD ships inside pipecat-ai and runs on onnxruntime, and
the bot plays a bundled recording. Replace ``PromptBot`` with STT -> LLM -> TTS for a
real bot; everything around it stays. The serializer and transport come ready from
:meth:`bwserial.runner.BandwidthRunner.accept_stream`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from loguru import logger
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADParams
from pipecat.pipeline.pipeline import Pipeline
from pipecat.processors.audio.vad_processor import VADProcessor

from bwserial import BandwidthFrameSerializer, HangupResult, hookimpl
from bwserial.config import InputParams
from bwserial.demo._compat import PipelineParams, PipelineTask, run_pipeline
from bwserial.demo.bot import PromptBot
from bwserial.demo.calls import CallRecord
from bwserial.demo.settings import DemoSettings
from bwserial.runner import BandwidthStream
from bwserial.testing.wav import load_wav_as_pcm16
from bwserial.types import StreamContext, StreamStopped

__all__ = ["CallObserver", "call_params", "call_plugins", "run_call"]


@dataclass
class CallObserver:
    """A bwserial plugin scoped to one call: what the serializer reports, for the record."""

    bwserial_plugin_name = "bwserial-demo"
    stops: int = 0
    hangups: list[HangupResult] = field(default_factory=list)

    @hookimpl
    def bwserial_stream_stopped(self, context: StreamContext, event: StreamStopped) -> None:
        self.stops += 1

    @hookimpl
    def bwserial_hangup_finished(self, context: StreamContext, result: HangupResult) -> None:
        self.hangups.append(result)


def call_params(settings: DemoSettings) -> InputParams:
    """The serializer settings of every call."""
    return BandwidthFrameSerializer.InputParams(
        outbound_encoding=settings.outbound_encoding,
        oauth_token_url=settings.oauth_token_url,
        voice_api_base_url=settings.voice_api_base_url,
    )


def call_plugins(
    plugins: Sequence[object] = (), observer: CallObserver | None = None
) -> list[object]:
    """The in-process plugins of one call (``observer`` records what it reports)."""
    return [*([observer] if observer is not None else []), *plugins]


async def run_call(
    stream: BandwidthStream, settings: DemoSettings, observer: CallObserver
) -> CallRecord:
    """Run the bot on an accepted stream until the call is over.

    Returns when the pipeline has ended and the call has been hung up (or the hang-up
    has failed, which the record says).
    """
    serializer = stream.serializer
    transport = stream.transport
    bot: PromptBot | None = None
    disconnected = False
    end_reason = "ended"
    async with stream:  # however the pipeline ends, leaving this ends the phone call
        try:
            rate = settings.sample_rate
            bot = PromptBot(
                load_wav_as_pcm16(settings.prompt_path(), rate),
                rate,
                turns=settings.turns,
                audible=serializer.playout_remaining_secs,
                transfer_key=settings.transfer_key,
                transfer_to=settings.transfer_to,
            )
            vad = VADProcessor(
                vad_analyzer=SileroVADAnalyzer(
                    params=VADParams(
                        confidence=settings.vad_confidence,
                        start_secs=settings.vad_start_secs,
                        stop_secs=settings.vad_stop_secs,
                    )
                )
            )
            task = PipelineTask(
                Pipeline([transport.input(), vad, bot, transport.output()]),
                params=PipelineParams(audio_in_sample_rate=rate, audio_out_sample_rate=rate),
                enable_rtvi=False,
            )
            stream.end_on_disconnect(task)  # the one disconnect handler

            @transport.event_handler("on_client_disconnected")  # type: ignore[untyped-decorator]
            async def note_disconnect(_transport: Any, _websocket: Any) -> None:
                nonlocal disconnected
                disconnected = True

            await run_pipeline(task)
            if bot.transferred_to is not None:
                end_reason = "bot transferred"
            elif bot.finished:
                end_reason = "bot finished"
            elif disconnected:
                end_reason = "caller disconnected"
        except Exception as e:
            end_reason = f"error: {type(e).__name__}"
            logger.opt(exception=True).error(f"demo bot: call {stream.call_id} failed")
    context = serializer.context
    last = observer.hangups[-1] if observer.hangups else None
    return CallRecord(
        call_id=stream.call_id,
        account_id=stream.identity.account_id,
        stream_id=stream.started.stream_id,
        claimed_call_id=stream.started.call_id,
        answers=bot.answers if bot is not None else 0,
        interruptions=bot.interruptions if bot is not None else 0,
        end_reason=end_reason,
        hung_up=serializer.hung_up,
        hangup_outcome=last.outcome.value if last is not None else None,
        hangup_status=last.status if last is not None else None,
        frames_in=context.frames_in,
        frames_out=context.frames_out,
        stream_stops=observer.stops,
        digits=bot.digits if bot is not None else "",
        transfer_to=bot.transferred_to if bot is not None else None,
    )
