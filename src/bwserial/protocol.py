"""Bandwidth's bidirectional media-stream protocol, as pure functions.

Nothing here imports Pipecat or does I/O: ``parse`` turns one WebSocket text
frame into a typed event (or a :class:`Malformed` value that says why it was
rejected), and the builders produce the outbound JSON text. Parsing never
raises, because an exception escaping ``deserialize`` ends Pipecat's receive
loop and with it the phone call.
"""

from __future__ import annotations

import binascii
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from bwserial.types import MediaFormat, StreamStarted, Track

__all__ = [
    "CLEAR",
    "Malformed",
    "MediaEvent",
    "NotStrictJSON",
    "StartEvent",
    "StopEvent",
    "UnknownEvent",
    "clear",
    "json_text",
    "normalize_encoding",
    "parse",
    "pcm_content_type",
    "play_audio",
    "play_audio_prefix",
]

RAW_EXCERPT_CHARS: Final = 200
"""How much of a rejected message is kept for logs and hooks."""

MAX_STREAM_PARAMS: Final = 12
MAX_STREAM_PARAM_NAME: Final = 256
MAX_STREAM_PARAM_VALUE: Final = 2048
MAX_TRACKS: Final = 4
"""Bandwidth allows at most 4 track streams per call; a longer list is not from Bandwidth."""

DEFAULT_MAX_MESSAGE_CHARS: Final = 64 * 1024
"""Longest inbound text frame parsed. Bandwidth's largest message is a ``start`` with 12
stream params (~27 KB); a 20 ms media message is ~300 characters."""
DEFAULT_MAX_PAYLOAD_CHARS: Final = 10_668
"""Longest base64 ``payload`` decoded: 1 s of PCMU (8000 bytes) is 10,668 characters."""
MAX_SEQUENCE: Final = 2**32 - 1
"""Sequence numbers are 32-bit unsigned on a real stream; larger ones are not from Bandwidth."""


@dataclass(slots=True)  # not frozen: a frozen dataclass costs ~0.4 us more per frame
class MediaEvent:
    track: str
    payload: bytes
    """The decoded audio bytes (base64 already undone)."""
    sequence_number: int | None


@dataclass(frozen=True, slots=True)
class StartEvent:
    started: StreamStarted


@dataclass(frozen=True, slots=True)
class StopEvent:
    stream_id: str | None
    call_id: str | None


@dataclass(frozen=True, slots=True)
class UnknownEvent:
    """A well-formed message of a type this version does not know; ignored."""

    event_type: str


@dataclass(frozen=True, slots=True)
class Malformed:
    reason: str
    raw: str
    """The input cut to :data:`RAW_EXCERPT_CHARS` characters."""


Event = MediaEvent | StartEvent | StopEvent | UnknownEvent | Malformed

_loads = json.JSONDecoder().decode
_a2b = binascii.a2b_base64
_b2a = binascii.b2a_base64


def _media_decoder() -> tuple[Callable[[str], Any] | None, type | None]:
    """The fast path: one C pass (msgspec) that parses a media message, checks its types
    and decodes its base64 payload.

    It answers only for a JSON object whose ``eventType`` is ``"media"``, whose fields
    have the types a real media message has (duplicate keys are checked at each
    occurrence, and the last wins, as with ``json``) and whose payload is valid padded
    base64 (msgspec accepts exactly the strings ``binascii``'s strict mode does);
    everything else, malformed input included, goes down the general ``json`` path,
    which gives the reason. Both paths end in the same field checks, so they accept and
    refuse exactly the same messages.
    """
    try:
        import msgspec
    except ImportError:  # pragma: no cover - msgspec is a dependency; be safe without it
        return None, None

    class WireMedia(msgspec.Struct, tag_field="eventType", tag="media"):
        payload: bytes  # base64 on the wire: decoded in the same pass
        track: str = "inbound"
        sequenceNumber: str | int | None = None  # the wire's name

    class Unused(msgspec.Struct, tag_field="eventType", tag="\x00"):
        """A second member makes a tagged union, in which the tag is required (a lone
        tagged Struct accepts a message without ``eventType``)."""

    decode: Callable[[str], Any] = msgspec.json.Decoder(WireMedia | Unused).decode
    return decode, WireMedia


_decode_media: Callable[[str], Any] | None
_WireMedia: Any
_decode_media, _WireMedia = _media_decoder()


def _excerpt(data: object) -> str:
    """The head of a rejected input for logs and hooks; never raises, whatever ``data`` is."""
    if isinstance(data, str):
        return str.__str__(data[:RAW_EXCERPT_CHARS])
    if isinstance(data, bytes | bytearray | memoryview):
        head = bytes(data[:RAW_EXCERPT_CHARS])
        return repr(head)[:RAW_EXCERPT_CHARS]
    try:
        return f"<{type(data).__name__}>"[:RAW_EXCERPT_CHARS]
    except Exception:  # a hostile metaclass: still say something
        return "<object>"


def parse(
    data: str | bytes,
    max_chars: int = DEFAULT_MAX_MESSAGE_CHARS,
    max_payload_chars: int = DEFAULT_MAX_PAYLOAD_CHARS,
) -> Event:
    """Parse one inbound WebSocket message; never raises.

    Bandwidth only sends JSON text frames, so a binary frame is malformed even if
    its bytes happen to be JSON. A message longer than ``max_chars`` is refused by
    its length before any parsing, and a media payload longer than
    ``max_payload_chars`` before decoding, so a refusal costs the same (well under a
    millisecond) however large the message is.
    """
    if type(data) is not str:
        if isinstance(data, str):  # a str subclass: parse its plain value
            data = str.__str__(data)
        elif isinstance(data, bytes | bytearray | memoryview):
            return Malformed("binary frame; Bandwidth sends JSON text", _excerpt(data))
        else:
            return Malformed(
                f"unsupported input type {type(data).__name__}; expected JSON text",
                _excerpt(data),
            )
    if len(data) > max_chars:
        return Malformed(
            f"message of {len(data)} characters is longer than max_message_chars ({max_chars})",
            _excerpt(data),
        )
    if _decode_media is not None:
        try:
            wire: Any = _decode_media(data)
        except Exception:  # not a well-typed media message: the general path says why
            wire = None
        # The payload decoded from n base64 characters is n // 4 * 3 bytes, minus padding:
        # at most max_payload_chars characters means at most this many bytes.
        if type(wire) is _WireMedia and len(wire.payload) <= max_payload_chars // 4 * 3:
            audio = wire.payload
            seq = wire.sequenceNumber
            if type(seq) is str:  # as Bandwidth sends it; -1: not a sequence number
                seq = int(seq) if seq.isdigit() and seq.isascii() and len(seq) <= 10 else -1
            if (seq is None or 0 <= seq <= MAX_SEQUENCE) and audio:
                return MediaEvent(wire.track, audio, seq)
            # A bad sequence number or an empty payload: the general path says why.
    try:
        message = _loads(data)
    except (ValueError, RecursionError) as e:
        return Malformed(f"invalid JSON: {type(e).__name__}", _excerpt(data))
    if type(message) is not dict:
        return Malformed(f"JSON {type(message).__name__}, expected an object", _excerpt(data))
    event_type = message.get("eventType")
    try:
        if event_type == "media":
            return _media(message, data, max_payload_chars)
        if event_type == "start":
            return _start(message, data)
        if event_type == "stop":
            return _stop(message, data)
    except Exception as e:  # a bug here must cost one message, not the call
        return Malformed(f"unexpected {type(e).__name__} while parsing", _excerpt(data))
    if isinstance(event_type, str):
        return UnknownEvent(event_type[:RAW_EXCERPT_CHARS])
    if event_type is None:
        return Malformed("missing eventType", _excerpt(data))
    return Malformed("eventType is not a string", _excerpt(data))


def _media(message: dict[str, Any], data: str, max_payload_chars: int) -> MediaEvent | Malformed:
    return _media_fields(
        message.get("payload"),
        message.get("track", "inbound"),
        message.get("sequenceNumber"),
        data,
        max_payload_chars,
    )


def _media_fields(
    payload: object, track: object, seq_raw: object, data: str, max_payload_chars: int
) -> MediaEvent | Malformed:
    """The checks of a media message, shared by the fast and the general path."""
    if type(payload) is not str:
        why = "missing payload" if payload is None else "payload is not a string"
        return Malformed(why, _excerpt(data))
    if len(payload) > max_payload_chars:
        return Malformed(
            f"payload of {len(payload)} base64 characters is longer than the media bound "
            f"({max_payload_chars}, max_media_payload_secs)",
            _excerpt(data),
        )
    if type(track) is not str:
        return Malformed("track is not a string", _excerpt(data))
    sequence: int | None
    if seq_raw is None:
        sequence = None
    elif type(seq_raw) is str:
        if not (seq_raw.isascii() and seq_raw.isdigit()):
            return Malformed("sequenceNumber is not a number", _excerpt(data))
        if len(seq_raw) > 10 or int(seq_raw) > MAX_SEQUENCE:
            return Malformed("sequenceNumber is out of the 32-bit range", _excerpt(data))
        sequence = int(seq_raw)
    elif type(seq_raw) is int and seq_raw >= 0:
        if seq_raw > MAX_SEQUENCE:
            return Malformed("sequenceNumber is out of the 32-bit range", _excerpt(data))
        sequence = seq_raw
    else:
        return Malformed("sequenceNumber is not a number", _excerpt(data))
    if len(payload) & 3:  # padded base64 comes in 4-char groups; Python < 3.13 lets
        return Malformed("payload is not valid base64", _excerpt(data))  # "AAAA=" through
    try:
        audio = _a2b(payload, strict_mode=True)
    except (binascii.Error, ValueError):
        return Malformed("payload is not valid base64", _excerpt(data))
    if not audio:
        return Malformed("empty payload", _excerpt(data))
    return MediaEvent(track, audio, sequence)


def _metadata(message: dict[str, Any]) -> dict[str, Any] | str:
    metadata = message.get("metadata")
    if metadata is None:
        return "missing metadata"
    if type(metadata) is not dict:
        return "metadata is not an object"
    return metadata


def _optional_str(metadata: dict[str, Any], key: str) -> str | None:
    value = metadata.get(key)
    if value is None:
        return None
    if type(value) is not str:
        raise _FieldError(f"{key} is not a string")
    return value


class _FieldError(Exception):
    pass


def normalize_encoding(encoding: str) -> str:
    """``"audio/PCMU"`` and ``"pcmu"`` both mean PCMU: compare on this form."""
    value = encoding.strip().upper()
    return value[6:] if value.startswith("AUDIO/") else value


def _tracks(raw: Any) -> tuple[Track, ...]:
    if raw is None:
        return ()
    if type(raw) is not list:
        raise _FieldError("tracks is not a list")
    if len(raw) > MAX_TRACKS:
        raise _FieldError(f"more than {MAX_TRACKS} tracks")
    tracks = []
    for item in raw:
        if type(item) is not dict:
            raise _FieldError("a track is not an object")
        name = item.get("name")
        if type(name) is not str:
            raise _FieldError("a track has no name")
        fmt = item.get("mediaFormat")
        media_format = None
        if fmt is not None:
            if type(fmt) is not dict:
                raise _FieldError("mediaFormat is not an object")
            encoding = fmt.get("encoding")
            rate = fmt.get("sampleRate")
            if type(encoding) is not str:
                raise _FieldError("mediaFormat.encoding is not a string")
            if type(rate) is str and rate.isascii() and rate.isdigit():
                rate = int(rate)
            if rate is not None and (type(rate) is not int or rate <= 0):
                raise _FieldError("mediaFormat.sampleRate is not a positive integer")
            media_format = MediaFormat(normalize_encoding(encoding), rate)
        tracks.append(Track(name, media_format))
    return tuple(tracks)


def _stream_params(raw: Any) -> Mapping[str, str]:
    if raw is None:
        return MappingProxyType({})
    if type(raw) is not dict:
        raise _FieldError("streamParams is not an object")
    if len(raw) > MAX_STREAM_PARAMS:
        raise _FieldError(f"more than {MAX_STREAM_PARAMS} streamParams")
    params: dict[str, str] = {}
    for name, value in raw.items():
        if type(value) is not str:
            raise _FieldError("a streamParams value is not a string")
        if len(name) > MAX_STREAM_PARAM_NAME or len(value) > MAX_STREAM_PARAM_VALUE:
            raise _FieldError("a streamParams entry is too long")
        params[name] = value
    return MappingProxyType(params)


def _start(message: dict[str, Any], data: str) -> StartEvent | Malformed:
    metadata = _metadata(message)
    if isinstance(metadata, str):
        return Malformed(metadata, _excerpt(data))
    try:
        stream_id = _optional_str(metadata, "streamId")
        call_id = _optional_str(metadata, "callId")
        if stream_id is None or call_id is None:
            return Malformed("start without streamId or callId", _excerpt(data))
        account_raw = metadata.get("accountId")
        if account_raw is None or type(account_raw) is str:
            account_id = account_raw
        elif type(account_raw) is int:
            account_id = str(account_raw)  # one source reports it numeric on the wire
        else:
            raise _FieldError("accountId is not a string or number")
        started = StreamStarted(
            stream_id=stream_id,
            call_id=call_id,
            account_id=account_id,
            stream_name=_optional_str(metadata, "streamName"),
            tracks=_tracks(metadata.get("tracks")),
            stream_params=_stream_params(message.get("streamParams")),
        )
    except _FieldError as e:
        return Malformed(str(e), _excerpt(data))
    return StartEvent(started)


def _stop(message: dict[str, Any], data: str) -> StopEvent | Malformed:
    metadata = _metadata(message)
    if isinstance(metadata, str):
        return Malformed(metadata, _excerpt(data))
    try:
        return StopEvent(_optional_str(metadata, "streamId"), _optional_str(metadata, "callId"))
    except _FieldError as e:
        return Malformed(str(e), _excerpt(data))


# --------------------------------------------------------------------------- outbound

CLEAR: Final = '{"eventType":"clear"}'


def clear() -> str:
    """Flush Bandwidth's play-out queue (barge-in)."""
    return CLEAR


class NotStrictJSON(ValueError):
    """An application's transport message that bwserial will not send (the reason says why)."""


def json_text(message: Any) -> str:
    """Pass-through of an application's transport message as compact, strict JSON text.

    Everything bwserial sends is strict JSON, because a strict client (Bandwidth's)
    rejects ``NaN``/``Infinity`` and expects one JSON object per message.

    Raises:
        NotStrictJSON: the message is not a dict, holds NaN or Infinity, or holds
            something JSON cannot represent.
    """
    if not isinstance(message, dict):
        raise NotStrictJSON(
            f"transport message is a {type(message).__name__}, not a JSON object; not sent"
        )
    try:
        return json.dumps(message, separators=(",", ":"), allow_nan=False)
    except ValueError as e:
        if "Out of range float" in str(e):
            raise NotStrictJSON(
                "transport message holds NaN or Infinity, which is not JSON; not sent"
            ) from None
        raise NotStrictJSON(
            f"transport message is not JSON ({type(e).__name__}); not sent"
        ) from None
    except (TypeError, RecursionError) as e:
        raise NotStrictJSON(
            f"transport message is not JSON ({type(e).__name__}); not sent"
        ) from None


def pcm_content_type(rate: int) -> str:
    """The content type Bandwidth's own code uses for 16-bit little-endian PCM."""
    return f"audio/pcm;rate={rate};channels=1;bit-depth=16;endian=little;encoding=signed"


def play_audio_prefix(content_type: str) -> str:
    """The constant head of every ``playAudio`` message for one content type.

    Serializers compute it once per call so each frame costs one string join.
    """
    return (
        '{"eventType":"playAudio","media":{"contentType":'
        + json.dumps(content_type)
        + (',"payload":"')
    )


_SUFFIX: Final = '"}}'


def play_audio(content_type: str, audio: bytes, prefix: str | None = None) -> str:
    """Build a ``playAudio`` message carrying ``audio`` (already encoded for the wire)."""
    if prefix is None:
        prefix = play_audio_prefix(content_type)
    return prefix + _b2a(audio, newline=False).decode("ascii") + _SUFFIX
