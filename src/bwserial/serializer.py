"""``BandwidthFrameSerializer``: Pipecat frames <-> Bandwidth media-stream messages.

This is the only module that knows both Pipecat frames and the wire protocol.
Everything replaceable (codecs, the hang-up, observers) comes from plugins,
resolved once at construction so the per-frame path does no lookups. The call's
lifecycle (play-out clock, hang-up runner, deadline budget, the call-ended
report) lives in :mod:`bwserial.call`; this module is the glue.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Final

from loguru import logger
from pipecat.frames.frames import (
    AudioRawFrame,
    CancelFrame,
    EndFrame,
    Frame,
    InputAudioRawFrame,
    InterruptionFrame,
    OutputTransportMessageFrame,
    OutputTransportMessageUrgentFrame,
    StartFrame,
)
from pipecat.serializers.base_serializer import FrameSerializer
from pydantic import BaseModel, SecretStr

from bwserial import protocol
from bwserial._log import RateLimiter, escape
from bwserial.audio.resample import create_resampler, warm_up
from bwserial.call.budget import DeadlineBudget
from bwserial.call.ending import HangupRunner
from bwserial.call.outbound import SampleAligner
from bwserial.call.playout import PlayoutClock
from bwserial.call.report import EndOfCall
from bwserial.call_control import TransferFallback
from bwserial.config import InputParams as _InputParams
from bwserial.frames import TransferFrame
from bwserial.ids import check_id
from bwserial.plugins import Observers, Registered, choose, resolve, settings_for
from bwserial.protocol import MediaEvent, StartEvent, StopEvent, UnknownEvent
from bwserial.types import (
    BadMessage,
    Codec,
    CodecOptions,
    Decoder,
    Encoder,
    EndTrigger,
    GapKind,
    HangupConfig,
    HangupResult,
    Interruption,
    MediaGap,
    StopReason,
    StreamContext,
    StreamStarted,
    StreamStopped,
    StreamWarning,
    Transfer,
    WarningKind,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

# The wire format lives in protocol.py; bound here to save a lookup a frame.
_parse = protocol.parse
_play_audio = protocol.play_audio

DEFAULT_PIPELINE_RATE: Final = 16000
BAD_MESSAGE_LOG_INTERVAL_SECS: Final = 10.0
DUPLICATE_WINDOW: Final = 50
"""A sequence number this far below the last one is a restart, not a duplicate."""
MAX_GAP_FRAMES: Final = 3000
"""A jump of more than this many frames (60 s of 20 ms frames) is a restarted count,
not a gap: no real stream loses a minute of audio and carries on."""


@dataclass(slots=True)
class _CallState:
    """Everything that changes during one call; read by plugins via StreamContext."""

    stream_id: str
    call_id: str | None
    account_id: str | None
    stream_params: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    frames_in: int = 0
    frames_out: int = 0
    gaps: int = 0
    duplicates: int = 0
    bad_messages: int = 0
    interruptions: int = 0
    started: StreamStarted | None = None
    stopped: bool = False
    last_sequence: int | None = None


class BandwidthFrameSerializer(FrameSerializer):  # type: ignore[misc]
    """Serializer for Bandwidth Programmable Voice bidirectional media streams.

    A drop-in for the documented ``pipecat-bandwidth`` API: plug it into
    ``FastAPIWebsocketTransport`` for a WebSocket opened by
    ``<StartStream mode="bidirectional">``. Caller audio arrives as PCMU and
    becomes ``InputAudioRawFrame`` at the pipeline rate; bot audio goes out as
    ``playAudio`` in the configured codec; interruptions send ``clear``; and the
    end of the pipeline hangs the call up through the selected strategy.

    The ``call_id`` and ``account_id`` given here are the only ones used for the
    hang-up: take them from the authenticated call webhook, never from the
    WebSocket ``start`` message, which anyone reaching the socket can forge.
    """

    InputParams = _InputParams

    def __init__(
        self,
        stream_id: str,
        call_id: str | None = None,
        account_id: str | None = None,
        client_id: str | None = None,
        client_secret: str | SecretStr | None = None,
        params: _InputParams | None = None,
        *,
        plugins: Sequence[object] = (),
    ) -> None:
        """Validate the configuration and resolve codecs and hang-up from plugins.

        ``plugins`` are in-process plugins for this serializer only: objects or modules
        with ``@hookimpl`` functions, or ``("name", plugin)`` tuples. They are not part
        of ``params`` (a configuration is data); pass the same objects to every call,
        so their resolution is cached (per-call state belongs in a
        ``bwserial_call_observer`` factory).

        Raises:
            ValueError: missing credentials with ``auto_hang_up`` on (all named at
                once), IDs with URL meta-characters, an unknown codec or hang-up
                strategy (the message lists the registered ones), an unsupported
                wire rate, or an invalid plugin.
        """
        params = _coerce_params(params)
        super().__init__(params)
        self._params: _InputParams = params
        if not isinstance(stream_id, str) or not stream_id:
            raise ValueError("stream_id must be a non-empty string")
        if isinstance(client_secret, SecretStr):
            secret = client_secret if client_secret.get_secret_value() else None
        else:
            secret = SecretStr(client_secret) if client_secret else None
        if params.auto_hang_up and not (call_id and account_id and client_id and secret):
            missing = [
                name
                for name, value in (
                    ("call_id", call_id),
                    ("account_id", account_id),
                    ("client_id", client_id),
                    ("client_secret", secret),
                )
                if not value
            ]
            raise ValueError(
                "auto_hang_up is on, so the serializer needs "
                + ", ".join(missing)
                + " (from your Bandwidth call webhook and OAuth credentials); "
                "or pass InputParams(auto_hang_up=False)"
            )
        check_id(call_id, "call_id")
        check_id(account_id, "account_id")

        self._stream_id = stream_id
        self._call_id = call_id
        self._account_id = account_id
        self._state = _CallState(stream_id, call_id, account_id)
        self._context = StreamContext(self._state)

        resolved = resolve(params.disable_plugins, plugins)
        self._plugins = resolved
        self._codecs: Mapping[str, Registered[Codec]] = resolved.codecs
        codec = choose(self._codecs, params.outbound_encoding, "codec", "outbound_encoding").item
        self._codec: Codec = codec
        self._wire_rate = _wire_rate(codec, params.outbound_pcm_sample_rate)
        self._observers = Observers(resolved, self._context, params.plugin_settings)

        self._ending = EndOfCall()
        self._playout = PlayoutClock()
        self._runner: HangupRunner | None = None
        if params.auto_hang_up:
            budget = DeadlineBudget.of(
                params.hangup_timeout_secs,
                params.hangup_playout_wait_secs,
                params.hangup_min_request_secs,
            )
            strategies = resolved.hangup_strategies
            chosen = choose(strategies, params.hangup, "hang-up strategy", "hangup")
            assert call_id and account_id and client_id and secret  # checked above
            config = HangupConfig(
                call_id=call_id,
                account_id=account_id,
                client_id=client_id,
                client_secret=secret,
                oauth_token_url=params.oauth_token_url,
                voice_api_base_url=params.voice_api_base_url,
                timeout_secs=params.hangup_timeout_secs,
                playout_wait_secs=params.hangup_playout_wait_secs,
                settings=settings_for(params.plugin_settings, chosen.item.name),
                min_request_secs=params.hangup_min_request_secs,
            )
            hangup = chosen.item.factory(config)
            transfer, transfer_name, transfer_plugin = _build_transfer(params, resolved, config)
            self._runner = HangupRunner(
                hangup,
                budget=budget,
                playout_remaining=self._playout.remaining_secs,
                call_id=call_id,
                strategy=chosen.item.name,
                plugin=chosen.plugin,
                on_result=self._on_hangup_result,
                transfer=transfer,
                transfer_strategy=transfer_name,
                transfer_plugin=transfer_plugin,
                transfer_fallback=TransferFallback(params.transfer_fallback),
                stream_name=self._stream_name,
                on_step=self._on_hangup_step,
            )

        self._in_rate = params.sample_rate or DEFAULT_PIPELINE_RATE
        self._set_up = False
        self._encoder: Encoder = self._build_encoder()
        pcmu = self._codecs.get("pcmu")
        if pcmu is None or pcmu.item.decoder is None:
            raise ValueError(
                "no enabled plugin provides the PCMU codec, which Bandwidth uses for caller "
                "audio; enable the built-in 'pcmu' plugin"
            )
        self._decoder_codec: Codec = pcmu.item
        self._decoder_rate = params.bandwidth_sample_rate
        self._decoder: Decoder | None = None
        self._max_chars = params.max_message_chars
        self._max_payload_chars = _payload_chars(
            params.max_media_payload_secs, pcmu.item, self._decoder_rate
        )
        self._content_type = self._encoder.content_type
        self._prefix = _play_audio_prefix(self._content_type)
        self._bytes_per_second = self._encoder.bytes_per_second
        self._aligner = SampleAligner(repr(self))
        self._carrying = False  # a byte of odd-length audio waits for the next frame
        self._repeats = RateLimiter(BAD_MESSAGE_LOG_INTERVAL_SECS)
        """This call's repeated warnings and errors, each kind at most once per interval."""

    # ------------------------------------------------------------------ public API

    @property
    def stream_id(self) -> str:
        """The Bandwidth stream id this serializer was created for."""
        return self._stream_id

    @property
    def call_id(self) -> str | None:
        """The trusted call id used for the hang-up (never the one from ``start``)."""
        return self._call_id

    @property
    def context(self) -> StreamContext:
        """The read-only view of this call that event hooks receive."""
        return self._context

    @property
    def codec_name(self) -> str:
        return self._codec.name

    @property
    def hung_up(self) -> bool:
        """Whether a hang-up succeeded (or found the call already ended)."""
        return self._runner is not None and self._runner.ended

    @property
    def hangup_state(self) -> str:
        """Where the hang-up stands: ``idle``, ``waiting-for-playout``, ``requesting``,
        ``ended`` (hung up or transferred), ``failed-retryable``, or ``left`` (a
        transfer failed and its fallback left the call); ``disabled`` without
        ``auto_hang_up``."""
        return "disabled" if self._runner is None else self._runner.state.value

    def notify_socket_closed(self) -> None:
        """Tell the serializer the WebSocket closed: fires the stopped hook once and,
        with ``auto_hang_up``, ends the call in the background.

        Call it from the transport's ``on_client_disconnected`` handler. Bandwidth
        may close the socket without a ``stop``, and once the socket is closed
        Pipecat no longer passes End/Cancel frames to the serializer: with a
        ``<Pause>`` after ``<StartStream>`` the caller would otherwise sit in
        silence. If the caller already hung up, the API answers 404 and the
        outcome is "already-ended". A graceful EndFrame still waiting for its
        goodbye to play stops waiting and hangs up at once. If this background
        attempt fails, the next trigger (``await serializer.hang_up()``, an
        End/Cancel frame) retries. Harmless after a ``stop`` or a hang-up.
        """
        self._mark_stopped(StopReason.SOCKET_CLOSED)
        self._end(EndTrigger.SOCKET_CLOSED)
        if self._runner is not None:
            self._runner.start(EndTrigger.SOCKET_CLOSED)

    async def hang_up(self, *, graceful: bool = False) -> HangupResult | None:
        """End the call now and return the outcome.

        Sends a request whenever the call is not known to be over: a failed
        earlier attempt (whatever started it) is retried, and an attempt in
        flight is joined rather than doubled (``graceful=False`` also cuts its
        play-out wait short). ``graceful=True`` first lets audio already sent
        finish playing, like an EndFrame. Returns None when there is nothing to
        do (no ``auto_hang_up``, or the call was already hung up). Safe to call
        concurrently with anything; cancelling the caller does not cancel the
        hang-up. Never raises ``Exception``.
        """
        self._end(EndTrigger.HANG_UP)
        if self._runner is None:
            return None
        return await self._runner.run(EndTrigger.HANG_UP, graceful)

    def __repr__(self) -> str:
        return (
            f"BandwidthFrameSerializer(stream_id={self._stream_id!r}, "
            f"call_id={self._call_id!r}, codec={self._codec.name!r})"
        )

    async def setup(self, setup: Any) -> None:
        """Take the pipeline rates; safe to call more than once.

        Pipecat's FastAPI transport calls this from both its input and output
        halves, with a ``StartFrame`` (pipecat-ai < 1.8) or a
        ``FrameProcessorSetup`` (1.8+). A changed input rate rebuilds the
        decoder instead of failing.
        """
        rate = self._params.sample_rate or _audio_in_rate(setup) or DEFAULT_PIPELINE_RATE
        if rate != self._in_rate or self._decoder is None:
            self._in_rate = rate
            self._decoder = None  # rebuilt on the next media frame at the new rate
        first = not self._set_up
        self._set_up = True
        if first and self._runner is not None:
            self._runner.prepare_in_background()

    async def deserialize(self, data: str | bytes) -> Frame | None:
        """Turn one Bandwidth message into a frame (caller audio) or None.

        Never raises: a malformed message (or one over ``max_message_chars`` /
        ``max_media_payload_secs``, or an input that is not text) is logged
        (rate-limited), reported to ``bwserial_bad_message`` and dropped, and the
        call goes on.
        """
        try:
            event = _parse(data, self._max_chars, self._max_payload_chars)
            kind = type(event)
            if kind is MediaEvent:
                return self._on_media(event)  # type: ignore[arg-type]
            if kind is StartEvent:
                self._on_start(event)  # type: ignore[arg-type]
            elif kind is StopEvent:
                self._mark_stopped(StopReason.STOP_MESSAGE)
            elif kind is UnknownEvent:
                logger.debug(f"Ignoring Bandwidth event {escape(event.event_type)}")  # type: ignore[union-attr]
            else:
                self._on_bad(event.reason, event.raw)  # type: ignore[union-attr]
        except Exception as e:
            self._on_bad(f"internal error: {type(e).__name__}", protocol._excerpt(data))
        return None

    async def serialize(self, frame: Frame) -> str | bytes | None:
        """Turn a Pipecat frame into a Bandwidth message, or None for nothing to send.

        EndFrame/CancelFrame run the hang-up (bounded by ``hangup_timeout_secs``)
        and return None. Never raises ``Exception``.
        """
        try:
            if isinstance(frame, AudioRawFrame):
                return self._on_audio(frame)
            if isinstance(frame, InterruptionFrame):
                return self._on_interruption()
            if isinstance(frame, EndFrame | CancelFrame):
                if type(frame) is not EndFrame and isinstance(frame, TransferFrame):
                    await self._on_transfer(frame)
                    return None
                graceful = isinstance(frame, EndFrame)
                trigger = EndTrigger.END_FRAME if graceful else EndTrigger.CANCEL_FRAME
                self._end(trigger)
                if self._runner is not None:
                    await self._runner.run(trigger, graceful)
                return None
            if isinstance(frame, OutputTransportMessageFrame | OutputTransportMessageUrgentFrame):
                try:  # first: should_ignore_frame itself fails on a non-object
                    text = protocol.json_text(frame.message)
                except protocol.NotStrictJSON as e:
                    self._refused_transport_message(str(e))
                    return None
                return None if self.should_ignore_frame(frame) else text
        except Exception as e:
            self._frame_failed(frame, e)
        return None

    def _frame_failed(self, frame: object, e: Exception) -> None:
        kind = type(frame).__name__
        suppressed = self._repeats.allow(("serialize", kind))
        if suppressed is not None:
            logger.opt(exception=e).error(
                f"{self!r}: failed to serialize {kind}; frame dropped"
                f"{RateLimiter.suffix(suppressed)}"
            )

    # ------------------------------------------------------------------ inbound

    def _on_media(self, event: MediaEvent) -> Frame | None:
        """Every 20 ms of a call: kept to the checks, one decode and the frame."""
        if event.track != "inbound":
            return None  # the call's own outgoing audio (tracks="both"): never feed it back
        seq = event.sequence_number
        state = self._state
        if seq is not None:
            last = state.last_sequence
            if last is not None and seq != last + 1 and self._out_of_order(seq, last):
                return None
            state.last_sequence = seq
        decoder = self._decoder
        if decoder is None:
            decoder = self._decoder = self._build_decoder()
        pcm = decoder.decode(event.payload)
        if not pcm:
            return None
        state.frames_in += 1
        # Positional: AudioRawFrame's fields are (audio, sample_rate, num_channels).
        return InputAudioRawFrame(pcm, self._in_rate, 1)

    def _out_of_order(self, seq: int, last: int) -> bool:
        """Count a duplicate (True: drop it) or a gap (False: play it)."""
        state = self._state
        if last - DUPLICATE_WINDOW < seq <= last:
            state.duplicates += 1
            if self._observers.media_gap:
                self._observers.on_media_gap(
                    MediaGap(GapKind.DUPLICATE, last + 1, seq, 0),
                )
            return True
        if last + 1 < seq <= last + MAX_GAP_FRAMES:
            missing = seq - last - 1
            state.gaps += missing
            if self._observers.media_gap:
                self._observers.on_media_gap(
                    MediaGap(GapKind.GAP, last + 1, seq, missing),
                )
        elif self._decoder is not None:
            # Far below or far above: a restarted count, not 10**9 lost frames. The
            # audio goes on from here, without the old stream's filter state.
            self._decoder.reset()
        return False

    def _on_start(self, event: StartEvent) -> None:
        started = event.started
        state = self._state
        first = state.started is None
        state.started = started
        state.stream_params = started.stream_params
        state.last_sequence = None
        logger.debug(
            f"Bandwidth stream started: stream_id={escape(started.stream_id)} "
            f"call_id={escape(started.call_id)} tracks={len(started.tracks)}"
        )
        if first and self._observers.stream_started:
            self._observers.on_stream_started(started)
        if not first and self._decoder is not None:
            self._decoder.reset()  # a restarted stream: nothing of the old one bleeds in
        claims = (
            (WarningKind.STREAM_ID_MISMATCH, "stream", started.stream_id, self._stream_id),
            (WarningKind.CALL_ID_MISMATCH, "call", started.call_id, self._call_id),
            (WarningKind.ACCOUNT_ID_MISMATCH, "account", started.account_id, self._account_id),
        )
        for kind, what, claimed, trusted in claims:
            if trusted is not None and claimed is not None and claimed != trusted:
                self._warn(
                    kind,
                    f"start names {what} {escape(claimed)}, serializer was created for "
                    f"{trusted!r} (the configured one is used)",
                )
        self._check_media_format(started)

    def _check_media_format(self, started: StreamStarted) -> None:
        inbound = [t for t in started.tracks if t.name == "inbound" and t.media_format]
        for track in inbound[:1]:  # a stream has one inbound track
            fmt = track.media_format
            assert fmt is not None
            if fmt.encoding == "PCMU" and fmt.sample_rate in (None, 8000):
                if self._decoder_codec.name.casefold() != "pcmu":  # back from another format
                    self._decoder_codec = self._codecs["pcmu"].item
                    self._decoder_rate = self._params.bandwidth_sample_rate
                    self._decoder = None
                continue
            registered = self._codecs.get(fmt.encoding.casefold())
            if (
                registered is not None
                and registered.item.decoder is not None
                and fmt.sample_rate in registered.item.rates
            ):
                self._decoder_codec = registered.item
                self._decoder_rate = fmt.sample_rate
                self._decoder = None
                note = f"decoding it with codec {registered.item.name!r}"
            else:
                note = "decoding it as PCMU/8000 anyway"
            self._warn(
                WarningKind.MEDIA_FORMAT,
                f"inbound media format is {escape(fmt.encoding)}/{fmt.sample_rate}, expected "
                f"PCMU/8000; {note}",
            )

    def _warn(self, kind: WarningKind, detail: str) -> None:
        suppressed = self._repeats.allow(kind)
        if suppressed is not None:
            logger.warning(f"{self!r}: {detail}{RateLimiter.suffix(suppressed)}")
        if self._observers.stream_warning:
            self._observers.on_stream_warning(StreamWarning(kind, detail))

    def _refused_transport_message(self, reason: str) -> None:
        suppressed = self._repeats.allow("transport message")
        if suppressed is not None:
            logger.warning(f"{self!r}: {reason}{RateLimiter.suffix(suppressed)}")

    def _mark_stopped(self, reason: StopReason) -> None:
        state = self._state
        if state.stopped:
            return
        state.stopped = True
        logger.debug(f"Bandwidth stream stopped ({reason.value}): {escape(self._stream_id)}")
        if self._ending.stop_reason is None:
            self._ending.stop_reason = reason
        if self._observers.stream_stopped:
            self._observers.on_stream_stopped(StreamStopped(reason))
        if reason is StopReason.STOP_MESSAGE and self._runner is None:
            self._end(EndTrigger.STOP_MESSAGE)  # a stop alone does not hang up

    # ------------------------------------------------------------------ the end of the call

    async def _on_transfer(self, frame: TransferFrame) -> None:
        self._end(EndTrigger.TRANSFER_FRAME)
        if self._runner is None:
            if (suppressed := self._repeats.allow("transfer-off")) is not None:
                logger.warning(
                    f"{self!r}: TransferFrame ignored: auto_hang_up is off, so the serializer "
                    f"has no Voice API credentials; the pipeline ends as for an EndFrame"
                    f"{RateLimiter.suffix(suppressed)}"
                )
            return
        request = frame.transfer
        assert request is not None  # TransferFrame refuses to be built without one
        await self._runner.run_transfer(request)

    def _stream_name(self) -> str | None:
        started = self._state.started
        return started.stream_name if started is not None else None

    def _on_hangup_step(self, result: HangupResult) -> None:
        if self._observers.hangup_finished:
            self._observers.on_hangup_finished(result)

    def _end(self, trigger: EndTrigger) -> None:
        """A trigger that ends the call: without a hang-up, the call is over now."""
        self._ending.note(trigger)
        if self._runner is None:
            self._report_end(None, trigger)

    def _on_hangup_result(self, result: HangupResult, trigger: EndTrigger) -> None:
        if self._observers.hangup_finished:
            self._observers.on_hangup_finished(result)
        self._report_end(result, trigger)

    def _report_end(self, result: HangupResult | None, trigger: EndTrigger) -> None:
        if self._ending.reported:
            return
        event = self._ending.report(self._state, result, trigger)
        if event is not None and self._observers.call_ended:
            self._observers.on_call_ended(event)

    def _on_bad(self, reason: str, raw: str) -> None:
        self._state.bad_messages += 1
        suppressed = self._repeats.allow("bad message")
        if suppressed is not None:
            logger.warning(
                f"{self!r}: dropped a malformed Bandwidth message: {reason}"
                f"{RateLimiter.suffix(suppressed)}"
            )
        if self._observers.bad_message:
            self._observers.on_bad_message(BadMessage(reason, raw))

    # ------------------------------------------------------------------ outbound

    def _on_audio(self, frame: AudioRawFrame) -> str | None:
        pcm = frame.audio
        if len(pcm) & 1 or frame.num_channels != 1 or self._carrying:
            pcm = self._aligner.align(pcm, frame.num_channels, frame.sample_rate)
            self._carrying = self._aligner.carrying
            if frame.num_channels > 1 and pcm:
                pcm = _downmix(pcm, frame.num_channels)
            if not pcm:
                return None
        payload = self._encoder.encode(pcm, frame.sample_rate)
        if not payload:
            return None
        self._playout.on_sent(pcm, len(payload) / self._bytes_per_second)
        self._state.frames_out += 1
        return _play_audio(self._content_type, payload, self._prefix)

    def _on_interruption(self) -> str:
        discarded = self._playout.clear()
        self._aligner.reset()
        self._carrying = False
        self._encoder.reset()
        self._state.interruptions += 1
        if self._observers.interruption:
            self._observers.on_interruption(Interruption(discarded))
        return protocol.clear()

    def playout_remaining_secs(self) -> float:
        """How long audio already sent still plays, trailing silence past 0.5 s excluded.

        Pipecat sends the goodbye and then its end silence just before EndFrame;
        waiting for the words matters, waiting for the silence only delays the
        hang-up. Loudness is checked here, on the recent frames, not per frame.
        Never raises, whatever frames were sent.
        """
        return self._playout.remaining_secs()

    # ------------------------------------------------------------------ building

    def _options(self, wire_rate: int, codec: Codec) -> CodecOptions:
        return CodecOptions(
            wire_rate=wire_rate,
            pipeline_rate=self._in_rate,
            resampler=create_resampler,
            settings=settings_for(self._params.plugin_settings, codec.name),
        )

    def _build_encoder(self) -> Encoder:
        return self._codec.encoder(self._options(self._wire_rate, self._codec))

    def _build_decoder(self) -> Decoder:
        factory = self._decoder_codec.decoder
        assert factory is not None  # only codecs with a decoder are chosen for inbound audio
        self._max_payload_chars = _payload_chars(
            self._params.max_media_payload_secs, self._decoder_codec, self._decoder_rate
        )
        return factory(self._options(self._decoder_rate, self._decoder_codec))


# ---------------------------------------------------------------------- helpers


def _coerce_params(params: Any) -> _InputParams:
    if params is None:
        return _InputParams()
    if isinstance(params, _InputParams):
        return params
    if isinstance(params, BaseModel):  # e.g. pipecat-bandwidth's own InputParams
        return _InputParams.model_validate(params.model_dump())
    if isinstance(params, Mapping):
        return _InputParams.model_validate(dict(params))
    raise ValueError(f"params must be BandwidthFrameSerializer.InputParams, got {type(params)!r}")


_CALL_PAIRS: Final = ((8000, 16000), (8000, 24000), (16000, 8000), (24000, 8000), (24000, 16000))
"""A call's usual rate pairs (8 kHz wire, 16 or 24 kHz pipeline and TTS): ~0.05 s to design."""


def _prepare_audio() -> None:
    """Load the compiled resampler kernel and design the usual filters, once per process.

    At import, not during a call: the kernel comes from numba's on-disk cache (~0.5 s,
    plus ~1 s to import numba; compiled and cached the first time in an environment),
    and every call, the first one of a worker included, then runs it from its first
    frame. Loading it in the background instead left the first call's frames on the
    numpy kernel (~10x the CPU) and sharing the interpreter with the loading thread.
    The rarer pairs (48 kHz; 8k -> 48k alone takes 1-3 s to design) are designed in a
    background thread. ``BWSERIAL_RESAMPLER_ENGINE=numpy`` skips numba altogether.
    """
    try:
        warm_up(_CALL_PAIRS)
    except Exception as e:  # the first resampler will try again, and report
        logger.debug(f"bwserial audio warm-up failed: {type(e).__name__}")
        return
    threading.Thread(target=_warm_up_quietly, name="bwserial-warm-up", daemon=True).start()


def _warm_up_quietly() -> None:
    try:
        warm_up()
    except Exception as e:  # the resampler that needs it will try again, and report
        logger.debug(f"bwserial audio warm-up failed: {type(e).__name__}")


_prepare_audio()


_prefixes: dict[str, str] = {}


def _play_audio_prefix(content_type: str) -> str:
    """The ``playAudio`` message up to its payload, built once per content type."""
    prefix = _prefixes.get(content_type)
    if prefix is None:
        prefix = protocol.play_audio_prefix(content_type)
        if len(_prefixes) < 64:
            _prefixes[content_type] = prefix
    return prefix


def _payload_chars(secs: float, codec: Codec, rate: int) -> int:
    """Base64 length of ``secs`` of audio: mu-law is 1 byte a sample, linear PCM 2."""
    per_sample = 1 if codec.name.casefold() == "pcmu" else 2
    raw = int(secs * rate * per_sample)
    return -(-raw // 3) * 4


_sdk: list[bool] = []


def _sdk_available() -> bool:
    """Whether bandwidth-sdk is installed: looked up (and ``voiceapi`` imported) once."""
    if not _sdk:
        from bwserial.voiceapi import sdk_available

        _sdk.append(sdk_available())
    return _sdk[0]


def _build_transfer(
    params: _InputParams, resolved: Any, config: HangupConfig
) -> tuple[Transfer | None, str, str]:
    """The call's transfer object: the configured strategy, or the built-in if usable.

    ``InputParams.transfer`` None picks the built-in ``voice-api`` only when
    bandwidth-sdk is installed, so an app that never transfers does not need it;
    naming a strategy makes every problem with it a construction-time error.
    """
    strategies = resolved.transfer_strategies
    name = params.transfer
    if name is None:
        builtin = strategies.get("voice-api")
        if builtin is None or (builtin.plugin == "transfer" and not _sdk_available()):
            return None, "", ""
        name = "voice-api"
    chosen = choose(strategies, name, "transfer strategy", "transfer")
    settings = settings_for(params.plugin_settings, chosen.item.name)
    if settings is not config.settings:  # both empty: the hang-up's config as it is
        config = replace(config, settings=settings)
    transfer = chosen.item.factory(config)
    return transfer, chosen.item.name, chosen.plugin


def _wire_rate(codec: Codec, requested: int) -> int:
    if len(codec.rates) == 1:
        return codec.rates[0]
    if requested not in codec.rates:
        allowed = ", ".join(str(r) for r in codec.rates)
        raise ValueError(
            f"outbound_pcm_sample_rate must be one of {allowed} for codec {codec.name!r}, "
            f"got {requested}"
        )
    return requested


def _audio_in_rate(setup: Any) -> int | None:
    # A StartFrame warns on attribute reads from pipecat-ai 1.8; bypass its hook.
    if isinstance(setup, StartFrame):
        value = object.__getattribute__(setup, "audio_in_sample_rate")
    else:
        value = getattr(setup, "audio_in_sample_rate", None)
    return value if isinstance(value, int) and value > 0 else None


def _downmix(pcm: bytes, channels: int) -> bytes:
    if channels == 2:
        return audioop.tomono(pcm, 2, 0.5, 0.5)
    import numpy as np

    samples = np.frombuffer(pcm, dtype="<i2")
    usable = len(samples) - len(samples) % channels
    mono = samples[:usable].reshape(-1, channels).mean(axis=1)
    return bytes(mono.astype("<i2").tobytes())
