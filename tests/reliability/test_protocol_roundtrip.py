"""Properties of the protocol builders: what we send is valid, and what we read round-trips."""

from __future__ import annotations

import base64
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from bwserial import protocol
from bwserial.protocol import MediaEvent, StartEvent, StopEvent
from bwserial.testing.messages import media, start, stop

EXAMPLES = settings(max_examples=300, deadline=None, database=None, derandomize=True)

content_types = (
    st.sampled_from(
        ["audio/pcmu", protocol.pcm_content_type(8000), protocol.pcm_content_type(24000)]
    )
    | st.text()  # quotes, backslashes, control characters, non-ASCII
    | st.text(st.characters(categories=["Cc"]))  # NUL, CR, LF, ESC...
    | st.characters(categories=["Cs"])  # a lone surrogate (not a pair: JSON would join it)
)


@EXAMPLES
@given(content_type=content_types, audio=st.binary(max_size=4000))
def test_play_audio_is_valid_json_carrying_exactly_the_audio(
    content_type: str, audio: bytes
) -> None:
    for message in (
        protocol.play_audio(content_type, audio),
        protocol.play_audio(content_type, audio, protocol.play_audio_prefix(content_type)),
    ):
        assert message.isascii()  # plain text on the wire, whatever the content type
        decoded = json.loads(message)
        assert decoded == {
            "eventType": "playAudio",
            "media": {"contentType": content_type, "payload": decoded["media"]["payload"]},
        }
        payload = decoded["media"]["payload"]
        assert base64.b64decode(payload, validate=True) == audio
        assert "\n" not in payload


@EXAMPLES
@given(
    audio=st.binary(min_size=1, max_size=4000),
    seq=st.none()
    | st.integers(min_value=0, max_value=protocol.MAX_SEQUENCE)
    | st.sampled_from([0, 1, 2**32 - 1]),
    track=st.sampled_from(["inbound", "outbound"]) | st.text(),
    as_string=st.booleans(),
)
def test_a_media_message_parses_back_to_its_audio_and_sequence_number(
    audio: bytes, seq: int | None, track: str, as_string: bool
) -> None:
    message = media(audio, seq=seq, track=track)  # a decimal string, as Bandwidth sends it
    if seq is not None and not as_string:  # the tolerated reading: a JSON number
        message = json.dumps(json.loads(message) | {"sequenceNumber": seq})
    event = protocol.parse(message)
    assert event == MediaEvent(track=track, payload=audio, sequence_number=seq)


@EXAMPLES
@given(audio=st.binary(min_size=1, max_size=400), seq=st.integers(0, 10**9), data=st.data())
def test_field_order_and_escaping_do_not_matter(
    audio: bytes, seq: int, data: st.DataObject
) -> None:
    fields = json.loads(media(audio, seq=seq))
    keys = data.draw(st.permutations(list(fields)))
    text = json.dumps({k: fields[k] for k in keys}, ensure_ascii=data.draw(st.booleans()))
    assert protocol.parse(text) == MediaEvent("inbound", audio, seq)


ids = st.text(min_size=1, max_size=60)
params = st.dictionaries(
    st.text(max_size=protocol.MAX_STREAM_PARAM_NAME),
    st.text(max_size=200),
    max_size=protocol.MAX_STREAM_PARAMS,
)


@EXAMPLES
@given(stream_id=ids, call_id=ids, account=ids | st.integers(0, 10**12), stream_params=params)
def test_start_and_stop_keep_what_bandwidth_claimed(
    stream_id: str, call_id: str, account: str | int, stream_params: dict[str, str]
) -> None:
    event = protocol.parse(
        start(stream_id=stream_id, call_id=call_id, account_id=account, params=stream_params)
    )
    assert isinstance(event, StartEvent)
    started = event.started
    assert (started.stream_id, started.call_id, started.account_id) == (
        stream_id,
        call_id,
        str(account),
    )
    assert dict(started.stream_params) == stream_params
    assert [
        (t.name, t.media_format.encoding, t.media_format.sample_rate)
        for t in started.tracks
        if t.media_format
    ] == [("inbound", "PCMU", 8000)]
    assert protocol.parse(stop(stream_id=stream_id, call_id=call_id)) == StopEvent(
        stream_id, call_id
    )


@EXAMPLES
@given(
    value=st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=8), children, max_size=4)
        ),
        max_leaves=15,
    )
)
def test_transport_messages_pass_through_as_equivalent_json(value: object) -> None:
    message = {"value": value}  # a transport message is a JSON object
    assert json.loads(protocol.json_text(message)) == message


def _general_path(text: str) -> object:
    """``protocol.parse`` with the msgspec fast path switched off: the json path alone."""
    saved = protocol._decode_media
    protocol._decode_media = None
    try:
        return protocol.parse(text)
    finally:
        protocol._decode_media = saved


_values = (
    st.none()
    | st.booleans()
    | st.integers(-5, 2**70)
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(["AAAA", "/////w==", "AAAA=", "", "1", "4294967295", "4294967296", "١٢"])
    | st.lists(st.integers(), max_size=2)
)
_keys = st.sampled_from(["eventType", "payload", "track", "sequenceNumber", "other"])


@EXAMPLES
@given(
    base=st.sampled_from([[], [("payload", "AAAA")], [("payload", "/////w=="), ("seq", "7")]]),
    pairs=st.lists(st.tuples(_keys, _values | st.sampled_from(["media", "inbound"])), max_size=4),
    media_type=st.booleans(),
    raw=st.sampled_from(["", " ", "NaN", "Infinity", "1e999", '"\\ud800"']),
)
def test_the_fast_path_accepts_and_refuses_exactly_what_the_json_path_does(
    base: list[tuple[str, str]], pairs: list[tuple[str, object]], media_type: bool, raw: str
) -> None:
    """Duplicate keys, wrong types, NaN, huge numbers, lone surrogates: same event, same reason."""
    named = [("sequenceNumber" if k == "seq" else k, v) for k, v in base]
    fields = [f"{json.dumps(k)}:{json.dumps(v)}" for k, v in named + pairs]
    if media_type:
        fields.append('"eventType":"media"')
    if raw:
        fields.insert(0, f'"other":{raw}' if raw.strip() else raw)
    text = "{" + ",".join(f for f in fields if f.strip()) + "}"
    assert protocol.parse(text) == _general_path(text)
