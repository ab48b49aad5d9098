"""The pure protocol layer: every inbound shape parses to the right typed event."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from bwserial import protocol
from bwserial.protocol import Malformed, MediaEvent, StartEvent, StopEvent, UnknownEvent
from bwserial.testing.messages import media, start, stop


def test_protocol_module_does_not_import_pipecat() -> None:
    source = Path(protocol.__file__).read_text()
    assert "pipecat" not in source.replace("Pipecat", "")


def test_media_decodes_payload_and_string_sequence() -> None:
    event = protocol.parse(media(b"\x01\x02\x03", seq="42"))
    assert event == MediaEvent("inbound", b"\x01\x02\x03", 42)


def test_media_accepts_integer_or_missing_sequence_and_missing_track() -> None:
    payload = base64.b64encode(b"\xff" * 4).decode()
    assert protocol.parse(
        json.dumps({"eventType": "media", "payload": payload, "sequenceNumber": 7})
    ) == (MediaEvent("inbound", b"\xff" * 4, 7))
    assert protocol.parse(json.dumps({"eventType": "media", "payload": payload})) == MediaEvent(
        "inbound", b"\xff" * 4, None
    )


def test_start_keeps_ids_tracks_and_stream_params() -> None:
    event = protocol.parse(start(account_id=9900000, params={"lang": "fr"}))
    assert isinstance(event, StartEvent)
    started = event.started
    assert started.account_id == "9900000"  # numeric on the wire, kept as a string
    assert (started.stream_id, started.call_id, started.stream_name) == ("stream-1", "c-abc", "bot")
    assert started.tracks[0].name == "inbound"
    assert started.tracks[0].media_format is not None
    assert started.tracks[0].media_format.encoding == "PCMU"  # "audio/PCMU" normalised
    assert started.tracks[0].media_format.sample_rate == 8000
    assert dict(started.stream_params) == {"lang": "fr"}


@pytest.mark.parametrize("raw", ["audio/PCMU", "PCMU", "pcmu", " Audio/pcmu "])
def test_encoding_names_compare_case_insensitively(raw: str) -> None:
    assert protocol.normalize_encoding(raw) == "PCMU"


def test_stop_and_unknown_events() -> None:
    assert protocol.parse(stop()) == StopEvent("stream-1", "c-abc")
    assert protocol.parse('{"eventType":"dtmf","digit":"1"}') == UnknownEvent("dtmf")


MALFORMED = {
    "invalid JSON": '{"eventType": "media", ',
    "JSON array": "[1, 2, 3]",
    "JSON string": '"media"',
    "JSON null": "null",
    "no eventType": '{"payload": "AAAA"}',
    "eventType not a string": '{"eventType": 5}',
    "start metadata null": '{"eventType": "start", "metadata": null}',
    "start metadata missing": '{"eventType": "start"}',
    "start metadata a list": '{"eventType": "start", "metadata": []}',
    "stop metadata null": '{"eventType": "stop", "metadata": null}',
    "start callId a number": '{"eventType":"start","metadata":{"streamId":"s","callId":5}}',
    "start tracks not a list": '{"eventType":"start","metadata":{"streamId":"s","callId":"c","tracks":{}}}',
    "start accountId a list": '{"eventType":"start","metadata":{"streamId":"s","callId":"c","accountId":[]}}',
    "streamParams value a number": (
        '{"eventType":"start","metadata":{"streamId":"s","callId":"c"},"streamParams":{"a":1}}'
    ),
    "payload missing": '{"eventType": "media", "track": "inbound"}',
    "payload a number": '{"eventType": "media", "payload": 12}',
    "payload null": '{"eventType": "media", "payload": null}',
    "payload not base64": '{"eventType": "media", "payload": "***not base64***"}',
    "payload bad padding": '{"eventType": "media", "payload": "AAA"}',
    "payload empty": '{"eventType": "media", "payload": ""}',
    "track a number": '{"eventType": "media", "payload": "AAAA", "track": 1}',
    "sequenceNumber text": '{"eventType": "media", "payload": "AAAA", "sequenceNumber": "one"}',
    "sequenceNumber negative": '{"eventType": "media", "payload": "AAAA", "sequenceNumber": -1}',
    "sequenceNumber a bool": '{"eventType": "media", "payload": "AAAA", "sequenceNumber": true}',
    "deep nesting": "[" * 100000 + "]" * 100000,
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_text_is_reported_not_raised(name: str) -> None:
    event = protocol.parse(MALFORMED[name])
    assert isinstance(event, Malformed), event
    assert event.reason
    assert len(event.raw) <= protocol.RAW_EXCERPT_CHARS


def test_binary_frames_are_malformed_even_when_they_hold_json() -> None:
    event = protocol.parse(media().encode())
    assert isinstance(event, Malformed)
    assert "binary" in event.reason


def test_raw_excerpt_is_cut_short() -> None:
    huge = '{"eventType": "media", "payload": "' + "!" * 10000 + '"}'
    event = protocol.parse(huge)
    assert isinstance(event, Malformed)
    assert len(event.raw) == protocol.RAW_EXCERPT_CHARS


def test_play_audio_and_clear_shapes() -> None:
    text = protocol.play_audio("audio/pcmu", b"\x00\x01\x02")
    assert json.loads(text) == {
        "eventType": "playAudio",
        "media": {
            "contentType": "audio/pcmu",
            "payload": base64.b64encode(b"\x00\x01\x02").decode(),
        },
    }
    assert json.loads(protocol.clear()) == {"eventType": "clear"}
    assert protocol.pcm_content_type(16000) == (
        "audio/pcm;rate=16000;channels=1;bit-depth=16;endian=little;encoding=signed"
    )


@pytest.mark.parametrize("payload", ["AAAAAAAA=", "AAAAAAAA==", "AAAAA", "AAAA=AAA"])
def test_excess_or_broken_base64_padding_is_malformed_on_every_python(payload: str) -> None:
    event = protocol.parse(json.dumps({"eventType": "media", "payload": payload}))
    assert isinstance(event, Malformed)
