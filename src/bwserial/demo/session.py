"""One call: the serializer, the transport and the Pipecat pipeline, run to the end.

This is the part of the demo a real bot copies. The pipeline is the smallest one that
behaves like a voice bot on a phone line::

    transport.input() -> VADProcessor(Silero) -> PromptBot -> transport.output()

It needs no cloud keys: Silero VAD ships inside pipecat-ai and runs on onnxruntime, and
the bot plays a bundled recording. Replace ``PromptBot`` with STT -> LLM -> TTS for a
real bot; everything around it stays.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import WebSocket
from loguru import logger
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADParams
from pipecat.pipeline.pipeline import Pipeline
from pipecat.processors.audio.vad_processor import VADProcessor
from pipecat.transports.websocket.fastapi import (
    FastAPIWebsocketParams,
    FastAPIWebsocketTransport,
)

from bwserial import BandwidthFrameSerializer, HangupResult, hookimpl
from bwserial.demo._compat import PipelineParams, PipelineTask, run_pipeline
from bwserial.demo.bot import PromptBot
from bwserial.demo.calls import CallRecord
from bwserial.demo.settings import DemoSettings
from bwserial.demo.tokens import StreamIdentity
from bwserial.testing.wav import load_wav_as_pcm16
from bwserial.types import StreamContext, StreamStarted, StreamStopped

__all__ = ["run_call"]


@dataclass
class _CallObserver:
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


def _serializer(
    settings: DemoSettings, identity: StreamIdentity, stream_id: str, observer: _CallObserver
) -> BandwidthFrameSerializer:
    # The IDs come from the signed token, never from ``start``: they address the hang-up.
    return BandwidthFrameSerializer(
        stream_id=stream_id,
        call_id=identity.call_id,
        account_id=identity.account_id,
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        params=BandwidthFrameSerializer.InputParams(
            outbound_encoding=settings.outbound_encoding,
            oauth_token_url=settings.oauth_token_url,
            voice_api_base_url=settings.voice_api_base_url,
            extra_plugins=[observer, *settings.serializer_plugins],
        ),
    )


async def run_call(
    websocket: WebSocket,
    identity: StreamIdentity,
    started: StreamStarted,
    start_text: str,
    settings: DemoSettings,
) -> CallRecord:
    """Run the bot on an accepted, authenticated stream whose ``start`` was already read.

    Returns when the pipeline has ended and the call has been hung up (or the hang-up
    has failed, which the record says).
    """
    observer = _CallObserver()
    serializer = _serializer(settings, identity, started.stream_id, observer)
    # The app read ``start`` itself (for the stream id); replaying it lets the
    # serializer check the media format and run the stream-started plugin hooks.
    await serializer.deserialize(start_text)

    bot: PromptBot | None = None
    disconnected = False
    end_reason = "ended"
    try:
        # Built inside the try: whatever fails from here on, the call is still hung up
        # (with <Pause> in the BXML it would otherwise stay up, silent, for a day).
        transport = FastAPIWebsocketTransport(
            websocket=websocket,
            params=FastAPIWebsocketParams(
                audio_in_enabled=True,
                audio_out_enabled=True,
                add_wav_header=False,
                serializer=serializer,
                # The serializer waits for queued audio to play before hanging up, so the
                # transport's default 2 s of trailing silence would only delay the hang-up.
                audio_out_end_silence_secs=0,
            ),
        )
        rate = settings.sample_rate
        bot = PromptBot(
            load_wav_as_pcm16(settings.prompt_path(), rate),
            rate,
            turns=settings.turns,
            audible=serializer.playout_remaining_secs,
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

        @transport.event_handler("on_client_disconnected")  # type: ignore[untyped-decorator]
        async def on_client_disconnected(_transport: Any, _websocket: Any) -> None:
            nonlocal disconnected
            disconnected = True
            serializer.notify_socket_closed()  # Bandwidth may close without a ``stop``
            await task.cancel()

        await run_pipeline(task)
        if bot.finished:
            end_reason = "bot finished"
        elif disconnected:
            end_reason = "caller disconnected"
    except Exception as e:
        end_reason = f"error: {type(e).__name__}"
        logger.opt(exception=True).error(f"demo bot: call {identity.call_id} failed")
    finally:
        if not serializer.hung_up:
            # Pipecat's FastAPI transport only serializes the CancelFrame while the socket
            # is still open; whatever ended the pipeline, the call must end too. This also
            # waits for a hang-up that notify_socket_closed() started (never a second one).
            logger.debug(f"demo bot: call {identity.call_id}: hanging up after the pipeline")
            await serializer.hang_up()
    context = serializer.context
    last = observer.hangups[-1] if observer.hangups else None
    return CallRecord(
        call_id=identity.call_id,
        account_id=identity.account_id,
        stream_id=started.stream_id,
        claimed_call_id=started.call_id,
        answers=bot.answers if bot is not None else 0,
        interruptions=bot.interruptions if bot is not None else 0,
        end_reason=end_reason,
        hung_up=serializer.hung_up,
        hangup_outcome=last.outcome.value if last is not None else None,
        hangup_status=last.status if last is not None else None,
        frames_in=context.frames_in,
        frames_out=context.frames_out,
        stream_stops=observer.stops,
    )
