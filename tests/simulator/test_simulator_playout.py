"""Bandwidth's side of outbound messages, without sockets: validation and the play-out queue."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from sim_helpers import dominant_freq, tone_pcm16

from bwserial.testing.playout import (
    AudioFormat,
    Clear,
    PlayAudio,
    PlayoutModel,
    Rejected,
    parse_content_type,
    parse_outbound,
)

PCM = "audio/pcm;rate={};channels=1;bit-depth=16;endian=little;encoding=signed"


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("audio/pcmu", AudioFormat("pcmu", 8000)),
        ("AUDIO/PCMU", AudioFormat("pcmu", 8000)),
        ("audio/pcmu; rate=8000", AudioFormat("pcmu", 8000)),
        (PCM.format(8000), AudioFormat("pcm", 8000)),
        (PCM.format(16000), AudioFormat("pcm", 16000)),
        (PCM.format(24000), AudioFormat("pcm", 24000)),
        (
            "Audio/PCM; Encoding=Signed ; ENDIAN=little;bit-depth=16; channels=1 ;rate=16000",
            AudioFormat("pcm", 16000),
        ),
    ],
)
def test_content_types_accepted(content_type: str, expected: AudioFormat) -> None:
    assert parse_content_type(content_type) == expected


@pytest.mark.parametrize(
    ("content_type", "reason"),
    [
        ("audio/wav", "unsupported contentType"),
        ("audio/pcmu;rate=16000", "unsupported parameter"),
        (PCM.format(44100), "unsupported audio/pcm rate=44100"),
        (PCM.format(16000).replace("little", "big"), "endian=big"),
        (PCM.format(16000).replace("channels=1", "channels=2"), "channels=2"),
        ("audio/pcm;rate=16000", "audio/pcm without channels, bit-depth, endian, encoding"),
        (PCM.format(16000) + ";foo=bar", "unknown audio/pcm parameter"),
        (PCM.format(16000) + ";rate=8000", "duplicate parameter"),
        ("audio/pcm;rate", "malformed parameter"),
    ],
)
def test_content_types_rejected(content_type: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_content_type(content_type)


def _play(ct: str, payload: str) -> str:
    return json.dumps({"eventType": "playAudio", "media": {"contentType": ct, "payload": payload}})


def test_parse_valid_messages() -> None:
    msg = parse_outbound(_play("audio/pcmu", base64.b64encode(b"\xff" * 160).decode()))
    assert isinstance(msg, PlayAudio)
    assert (msg.rate, len(msg.pcm16), msg.duration_secs) == (8000, 320, 0.02)
    pcm = parse_outbound(_play(PCM.format(24000), base64.b64encode(b"\x01\x00" * 480).decode()))
    assert isinstance(pcm, PlayAudio) and pcm.rate == 24000 and pcm.duration_secs == 0.02
    assert parse_outbound('{"eventType":"clear"}') == Clear()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x00\x01", "binary frame"),
        ("not json", "invalid JSON"),
        ("[1, 2]", "JSON list"),
        ('{"media": {}}', "without eventType"),
        ('{"eventType": "hangup"}', "unknown eventType 'hangup'"),
        ('{"eventType": "playAudio"}', "without a 'media' object"),
        ('{"eventType": "playAudio", "media": {"payload": "AA=="}}', "contentType"),
        ('{"eventType": "playAudio", "media": {"contentType": "audio/pcmu"}}', "payload"),
        (_play("audio/pcmu", "!!notbase64!!"), "invalid base64"),
        (_play("audio/pcmu", ""), "empty payload"),
        (_play(PCM.format(16000), base64.b64encode(b"\x00" * 3).decode()), "odd byte count"),
        (_play("audio/opus", "AA=="), "unsupported contentType"),
    ],
)
def test_parse_rejections(data: str | bytes, reason: str) -> None:
    msg = parse_outbound(data)
    assert isinstance(msg, Rejected)
    assert reason in msg.reason


def _audio(seconds: float, rate: int = 8000) -> PlayAudio:
    return PlayAudio(b"\x10\x00" * round(seconds * rate), rate, "audio/pcmu")


def test_queue_plays_back_to_back_at_real_time() -> None:
    model = PlayoutModel()
    assert model.enqueue(_audio(0.5), now=1.0) == 1.0
    assert model.enqueue(_audio(0.5), now=1.1) == 1.5  # queued behind the first
    assert model.queued_secs(1.2) == pytest.approx(0.8)
    assert model.enqueue(_audio(0.2), now=3.0) == 3.0  # line idle again: a new utterance
    assert model.utterance_starts == [1.0, 3.0]
    model.finish(10.0)
    assert model.played_secs == pytest.approx(1.2)
    assert model.unplayed_secs == 0


def test_clear_discards_the_rest_of_the_queue() -> None:
    model = PlayoutModel()
    model.enqueue(_audio(1.0), now=0.0)
    model.enqueue(_audio(1.0), now=0.1)
    assert model.clear(0.25) == pytest.approx(1.75)
    assert model.discarded_secs == pytest.approx(1.75)
    assert model.enqueue(_audio(0.1), now=0.3) == 0.3  # after a clear, audio plays at once
    assert model.utterance_starts == [0.0, 0.3]
    model.finish(0.35)  # hang up mid-chunk
    assert model.unplayed_secs == pytest.approx(0.05)
    assert model.played_secs == pytest.approx(0.3)


def test_render_places_audio_on_the_timeline() -> None:
    model = PlayoutModel()
    tone = tone_pcm16(1000, 0.5, 16000)
    for i in range(25):  # 20 ms chunks as a bot sends them: rendered as one run
        model.enqueue(PlayAudio(tone[i * 640 : (i + 1) * 640], 16000, "pcm"), now=1.0)
    model.finish(2.0)
    out = np.frombuffer(model.render(16000, 2.0), dtype="<i2")
    assert out.size == 32000
    assert not out[:15900].any()
    assert abs(dominant_freq(out[16000:24000], 16000) - 1000) < 5
    assert np.abs(out[24200:]).max() < 50
    heard = np.frombuffer(model.render_interval(1.1, 1.12), dtype="<i2")
    assert heard.size == 160 and np.abs(heard).max() > 5000
