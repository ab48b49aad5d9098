"""The small, frozen types plugins and the core exchange.

Plugins never see the serializer itself: they get these values, so the contract
stays stable while the serializer's insides change, and an observer cannot
reach credentials or mutate per-call state by accident.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from pydantic import SecretStr

    from bwserial.audio.resample import ResamplerFactory
    from bwserial.call_control import TransferRequest
    from bwserial.calls import CallRegistry

# --------------------------------------------------------------------------- codecs


@runtime_checkable
class Encoder(Protocol):
    """Per-call outbound encoder: pipeline PCM in, wire payload bytes out.

    One instance serves one call, so it may keep resampler state between frames.
    There is no ``flush``: no frame reaches the serializer at the end of a bot turn,
    so ``encode`` returns all it can and keeps only what its filter needs; that
    little is sent with the next frame (Pipecat's end silence included).
    """

    content_type: str
    """The ``media.contentType`` Bandwidth needs to play the payload."""

    wire_rate: int
    """Samples per second of the audio in the payload."""

    bytes_per_second: int
    """Payload bytes per second of audio, used to track how long playback lasts."""

    def encode(self, pcm: bytes, sample_rate: int) -> bytes:
        """Encode 16-bit mono PCM at ``sample_rate``; may return b"" while filling up."""
        ...

    def reset(self) -> None:
        """Forget held audio: called on interruption so nothing stale is sent after it."""
        ...


@runtime_checkable
class Decoder(Protocol):
    """Per-call inbound decoder: wire payload bytes in, pipeline PCM out."""

    def decode(self, payload: bytes) -> bytes:
        """Decode one media payload to 16-bit mono PCM at the pipeline input rate."""
        ...

    def reset(self) -> None:
        """Forget filter state: the media stream restarted (a second ``start``, or
        sequence numbers counting again), so the old stream must not bleed in."""
        ...


@dataclass(frozen=True, slots=True)
class CodecOptions:
    """What a codec factory is told when a call builds its encoder or decoder."""

    wire_rate: int
    """Rate on the wire (8000 for PCMU, ``outbound_pcm_sample_rate`` for PCM)."""

    pipeline_rate: int
    """Rate of the pipeline side: decoded output rate (decoders); advisory for encoders."""

    resampler: ResamplerFactory
    """The resampler factory codecs must use, so the engine is swapped in one place."""

    settings: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    """This codec's entry of ``InputParams.plugin_settings`` (empty when none)."""


@dataclass(frozen=True, slots=True)
class Codec:
    """A codec registration, returned from ``bwserial_codecs``.

    ``name`` is what ``InputParams.outbound_encoding`` selects (compared
    case-insensitively); ``rates`` are the wire rates Bandwidth accepts for it.
    """

    name: str
    rates: tuple[int, ...]
    content_type: Callable[[int], str]
    encoder: Callable[[CodecOptions], Encoder]
    decoder: Callable[[CodecOptions], Decoder] | None = None
    """None for an encode-only codec: it is never picked for Bandwidth's inbound audio."""
    description: str = ""

    def __post_init__(self) -> None:
        if not self.name or not self.name.strip():
            raise ValueError("a codec needs a non-empty name")
        if not self.rates or any(r <= 0 for r in self.rates):
            raise ValueError(f"codec {self.name!r} needs at least one positive wire rate")


# --------------------------------------------------------------------------- hang-up


class HangupOutcome(enum.StrEnum):
    """How a hang-up ended, from the caller's point of view."""

    COMPLETED = "completed"
    """The API confirmed the call was ended by this request."""

    ALREADY_ENDED = "already-ended"
    """The call was no longer active (404): the phone call is over all the same."""

    FAILED = "failed"
    """The call may still be up: the deadline passed or the API refused."""

    TRANSFERRED = "transferred"
    """The call's BXML was replaced by a ``<Transfer>``: the caller is being put
    through to a person, and the bot's part of the call is over."""

    @property
    def ended(self) -> bool:
        """Whether the phone call is known to be over."""
        return self is not HangupOutcome.FAILED


class EndingKind(enum.StrEnum):
    """Which way the bot's part of the call ended."""

    HANG_UP = "hang-up"
    """The call was (to be) hung up."""
    TRANSFER = "transfer"
    """The caller was (to be) transferred to a person (:class:`bwserial.TransferRequest`)."""


@dataclass(frozen=True, slots=True)
class HangupResult:
    """What a hang-up or transfer strategy reports; reaches ``bwserial_hangup_finished``.

    ``kind`` tells a transfer's result from a hang-up's: a transfer that worked is
    ``kind=TRANSFER, outcome=TRANSFERRED``; one that failed is ``kind=TRANSFER,
    outcome=FAILED``, followed by the fallback hang-up's own result (``kind=HANG_UP``)
    when the fallback is to hang up.
    """

    outcome: HangupOutcome
    status: int | None = None
    """Last HTTP status seen, or None when no answer arrived."""
    attempts: int = 0
    """Call-update requests made (token requests not counted)."""
    seconds: float = 0.0
    """Wall time from the start of the hang-up to its end, play-out wait included."""
    reason: str = ""
    """Short human-readable detail; never contains secrets."""
    strategy: str = ""
    kind: EndingKind = EndingKind.HANG_UP
    """A hang-up's result or a transfer's."""
    targets: tuple[str, ...] = ()
    """A transfer's targets (E.164 numbers or SIP URIs); empty for a hang-up."""


@dataclass(frozen=True, slots=True)
class HangupRequest:
    """Why and when the serializer asks for a hang-up."""

    reason: str
    """``"end"`` (EndFrame: the goodbye has been let play) or ``"cancel"`` (at once)."""

    playout_remaining_secs: float
    """How long the audio already sent still needs to play at Bandwidth's side.

    The serializer waits for the play-out itself before calling ``hang_up`` (a
    CancelFrame cuts that wait short, and the wait never takes the share of the
    deadline that the requests need), so it passes 0 here. A strategy called
    directly (tests, scripts) may be given more; it should then wait at most this,
    capped by ``playout_wait_secs``, before ending the call on ``"end"``."""

    deadline: float | None = None
    """``time.monotonic()`` by which ``hang_up`` must have returned, or None for
    "``timeout_secs`` from now". The serializer stops waiting shortly after it."""


@dataclass(frozen=True, slots=True)
class HangupConfig:
    """Everything a hang-up strategy factory needs for one call.

    This is the only place credentials are handed to a plugin; the secret stays a
    ``SecretStr`` so it cannot leak through a repr or a log line.
    """

    call_id: str
    account_id: str
    client_id: str
    client_secret: SecretStr
    oauth_token_url: str
    voice_api_base_url: str
    timeout_secs: float
    playout_wait_secs: float
    settings: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    min_request_secs: float | None = None
    """The share of ``timeout_secs`` that no play-out wait may take
    (``hangup_min_request_secs``; None: half the deadline, at most 2 s)."""


@runtime_checkable
class Hangup(Protocol):
    """A per-call hang-up object built by a strategy factory."""

    async def prepare(self) -> None:
        """Warm up (e.g. fetch a token) once the pipeline is set up; must not raise."""
        ...

    async def hang_up(self, request: HangupRequest) -> HangupResult:
        """End the call; must return within ``timeout_secs`` and report, not raise."""
        ...

    async def close(self) -> None:
        """Release per-call resources; shared pools stay open for other calls."""
        ...


@dataclass(frozen=True, slots=True)
class HangupStrategy:
    """A hang-up strategy registration, returned from ``bwserial_hangup_strategies``."""

    name: str
    factory: Callable[[HangupConfig], Hangup]
    description: str = ""

    def __post_init__(self) -> None:
        if not self.name or not self.name.strip():
            raise ValueError("a hang-up strategy needs a non-empty name")


# --------------------------------------------------------------------------- transfer


@runtime_checkable
class Transfer(Protocol):
    """A per-call transfer object built by a transfer strategy factory.

    Built with the same :class:`HangupConfig` as the hang-up (trusted IDs,
    credentials, deadline); ``settings`` is the strategy's own entry of
    ``InputParams.plugin_settings``.
    """

    async def prepare(self) -> None:
        """Warm up once the pipeline is set up; must not raise."""
        ...

    async def transfer(
        self, request: TransferRequest, deadline: float, stream_name: str | None
    ) -> HangupResult:
        """Put the caller through to ``request.to`` by ``deadline`` (``time.monotonic()``).

        ``stream_name`` is the media stream's name from its ``start`` message (None
        if unknown), for a ``<StopStream>``. Report, do not raise: a ``FAILED``
        outcome makes the serializer apply the request's fallback.
        """
        ...

    async def close(self) -> None:
        """Release per-call resources."""
        ...


@dataclass(frozen=True, slots=True)
class TransferStrategy:
    """A transfer strategy registration, returned from ``bwserial_transfer_strategies``."""

    name: str
    factory: Callable[[HangupConfig], Transfer]
    description: str = ""

    def __post_init__(self) -> None:
        if not self.name or not self.name.strip():
            raise ValueError("a transfer strategy needs a non-empty name")


# --------------------------------------------------------------------------- call registries


@dataclass(frozen=True, slots=True)
class CallRegistryFactory:
    """A call registry registration, returned from ``bwserial_call_registries``."""

    scheme: str
    """The URL scheme it serves, e.g. ``"redis"`` (``redis://host:6379/0``)."""
    factory: Callable[..., CallRegistry]
    """Called with the whole URL and the caller's keyword options; must not do I/O
    (connections open on the registry's ``start()``)."""
    description: str = ""

    @property
    def name(self) -> str:
        """The scheme, as the key registrations are collected by."""
        return self.scheme

    def __post_init__(self) -> None:
        if not self.scheme or not self.scheme.strip() or "://" in self.scheme:
            raise ValueError(
                f"a call registry factory needs a URL scheme like 'redis', got {self.scheme!r}"
            )


# --------------------------------------------------------------------------- stream events


@dataclass(frozen=True, slots=True)
class MediaFormat:
    encoding: str
    """Normalised: upper case, ``audio/`` prefix stripped (``"PCMU"``)."""
    sample_rate: int | None


@dataclass(frozen=True, slots=True)
class Track:
    name: str
    media_format: MediaFormat | None


@dataclass(frozen=True, slots=True)
class StreamStarted:
    """The ``start`` message as Bandwidth sent it.

    These IDs are unauthenticated (anyone reaching the socket can send any): they
    are reported, never used to address the Voice API.
    """

    stream_id: str
    call_id: str
    account_id: str | None
    stream_name: str | None
    tracks: tuple[Track, ...]
    stream_params: Mapping[str, str]


class StopReason(enum.StrEnum):
    STOP_MESSAGE = "stop"
    """Bandwidth sent ``stop``."""
    SOCKET_CLOSED = "closed"
    """The application reported the socket closed without a ``stop``."""


class EndTrigger(enum.StrEnum):
    """What ended the call from bwserial's point of view (the first one wins)."""

    END_FRAME = "end-frame"
    """The pipeline ended gracefully (``EndFrame``): the goodbye is let play first."""
    CANCEL_FRAME = "cancel-frame"
    """The pipeline was cancelled (``CancelFrame``): the call is ended at once."""
    SOCKET_CLOSED = "socket-closed"
    """The application called ``notify_socket_closed()``."""
    STOP_MESSAGE = "stop-message"
    """Bandwidth sent ``stop`` (only with ``auto_hang_up`` off: a stop alone does not
    hang up)."""
    HANG_UP = "hang-up"
    """The application called ``await serializer.hang_up()``."""
    TRANSFER_FRAME = "transfer-frame"
    """The pipeline asked for a transfer (:class:`bwserial.TransferFrame`)."""


@dataclass(frozen=True, slots=True)
class CallEnded:
    """The final facts of one call, reported once by ``bwserial_call_ended``."""

    trigger: EndTrigger
    """What ended the call first."""
    stop_reason: StopReason | None
    """How the media stream stopped, or None if it had not (the pipeline ended first)."""
    hangup: HangupResult | None
    """The hang-up's result; None when ``auto_hang_up`` is off. A ``FAILED`` outcome
    means the phone call may still be up: a later trigger retries, and its result
    reaches ``bwserial_hangup_finished``."""
    frames_in: int
    frames_out: int
    gaps: int
    duplicates: int
    bad_messages: int
    interruptions: int
    seconds: float
    """From the serializer's construction to now."""


@dataclass(frozen=True, slots=True)
class StreamStopped:
    reason: StopReason


class GapKind(enum.StrEnum):
    GAP = "gap"
    DUPLICATE = "duplicate"
    """A sequence number at or below one already seen (repeat or reordering)."""


@dataclass(frozen=True, slots=True)
class MediaGap:
    """A discontinuity in inbound ``sequenceNumber``s."""

    kind: GapKind
    expected: int
    received: int
    missing: int
    """Frames skipped (0 for duplicates)."""


class WarningKind(enum.StrEnum):
    STREAM_ID_MISMATCH = "stream-id-mismatch"
    """``start`` names another stream than the serializer was created for."""
    CALL_ID_MISMATCH = "call-id-mismatch"
    """``start`` claims another call than the trusted one (a spoof or a mix-up)."""
    ACCOUNT_ID_MISMATCH = "account-id-mismatch"
    """``start`` claims another account than the trusted one."""
    MEDIA_FORMAT = "media-format"
    """Inbound audio is not PCMU/8000."""


@dataclass(frozen=True, slots=True)
class StreamWarning:
    """Something odd that does not stop the call (it keeps working)."""

    kind: WarningKind
    detail: str


@dataclass(frozen=True, slots=True)
class BadMessage:
    """An inbound message that was dropped; the call goes on."""

    reason: str
    raw: str
    """The message cut to at most 200 characters (never the whole payload)."""


@dataclass(frozen=True, slots=True)
class Interruption:
    discarded_secs: float
    """Audio sent to Bandwidth that had not played yet and is flushed by ``clear``."""


class StreamContext:
    """A read-only view of one call, handed to every event hook.

    It reads live values from the serializer's per-call state, so counters are
    current when a hook runs; it has no setters and holds no credentials.
    """

    __slots__ = ("__weakref__", "_state")

    def __init__(self, state: CallCounters) -> None:
        self._state = state

    @property
    def stream_id(self) -> str:
        return self._state.stream_id

    @property
    def call_id(self) -> str | None:
        """The trusted call id given to the serializer (not the one from ``start``)."""
        return self._state.call_id

    @property
    def account_id(self) -> str | None:
        return self._state.account_id

    @property
    def stream_params(self) -> Mapping[str, str]:
        return self._state.stream_params

    @property
    def frames_in(self) -> int:
        """Inbound caller media frames turned into pipeline audio."""
        return self._state.frames_in

    @property
    def frames_out(self) -> int:
        """``playAudio`` messages produced."""
        return self._state.frames_out

    @property
    def gaps(self) -> int:
        """Inbound frames missing according to sequence numbers."""
        return self._state.gaps

    @property
    def duplicates(self) -> int:
        return self._state.duplicates

    @property
    def bad_messages(self) -> int:
        return self._state.bad_messages

    @property
    def interruptions(self) -> int:
        return self._state.interruptions

    def __repr__(self) -> str:
        return (
            f"StreamContext(stream_id={self.stream_id!r}, call_id={self.call_id!r}, "
            f"frames_in={self.frames_in}, frames_out={self.frames_out})"
        )


class CallCounters(Protocol):
    """What a :class:`StreamContext` and the call-ended report read: the serializer's
    per-call IDs, stream parameters and counters."""

    @property
    def stream_id(self) -> str: ...
    @property
    def call_id(self) -> str | None: ...
    @property
    def account_id(self) -> str | None: ...
    @property
    def stream_params(self) -> Mapping[str, str]: ...
    @property
    def frames_in(self) -> int: ...
    @property
    def frames_out(self) -> int: ...
    @property
    def gaps(self) -> int: ...
    @property
    def duplicates(self) -> int: ...
    @property
    def bad_messages(self) -> int: ...
    @property
    def interruptions(self) -> int: ...
