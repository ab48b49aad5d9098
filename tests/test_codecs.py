"""Built-in codecs: what a caller hears survives the trip through the wire format."""

from __future__ import annotations

import base64
import json

import numpy as np
from pipecat.frames.frames import InputAudioRawFrame, OutputAudioRawFrame

from bwserial import BandwidthFrameSerializer
from bwtest_helpers import Setup, pcm_array, tone, tone_snr_db

Params = BandwidthFrameSerializer.InputParams


async def test_a_1khz_tone_through_pcmu_and_back_keeps_35_db_snr() -> None:
    """TTS at 24 kHz speaks a tone as PCMU; those bytes come back as 16 kHz caller audio."""
    serializer = BandwidthFrameSerializer("s", params=Params(auto_hang_up=False))
    await serializer.setup(Setup(audio_in_sample_rate=16000))
    source = tone(1000, 1.0, 24000, amplitude=0.5)
    payloads = []
    for i in range(0, len(source), 960):
        out = await serializer.serialize(OutputAudioRawFrame(source[i : i + 960], 24000, 1))
        if out is not None:
            payloads.append(json.loads(out)["media"]["payload"])
    back = b""
    for seq, payload in enumerate(payloads, start=1):
        message = json.dumps(
            {
                "eventType": "media",
                "track": "inbound",
                "sequenceNumber": str(seq),
                "payload": payload,
            }
        )
        frame = await serializer.deserialize(message)
        if frame is not None:
            assert isinstance(frame, InputAudioRawFrame) and frame.sample_rate == 16000
            back += frame.audio
    assert abs(len(back) / 2 / 16000 - 1.0) <= 0.01  # nothing lost on the way
    assert tone_snr_db(pcm_array(back), 1000, 16000) >= 35


async def test_pcm_at_the_pipeline_rate_is_sent_bit_exact() -> None:
    serializer = BandwidthFrameSerializer(
        "s",
        params=Params(auto_hang_up=False, outbound_encoding="PCM", outbound_pcm_sample_rate=24000),
    )
    source = tone(440, 0.04, 24000)
    out = await serializer.serialize(OutputAudioRawFrame(source, 24000, 1))
    assert out is not None
    assert base64.b64decode(json.loads(out)["media"]["payload"]) == source


async def test_pcmu_tone_keeps_its_frequency_after_resampling() -> None:
    serializer = BandwidthFrameSerializer("s", params=Params(auto_hang_up=False))
    source = tone(1000, 1.0, 24000)
    payload = b""
    for i in range(0, len(source), 1920):
        out = await serializer.serialize(OutputAudioRawFrame(source[i : i + 1920], 24000, 1))
        if out:
            payload += base64.b64decode(json.loads(out)["media"]["payload"])
    import audioop

    decoded = pcm_array(audioop.ulaw2lin(payload, 2))
    spectrum = np.abs(np.fft.rfft(decoded * np.hanning(len(decoded))))
    peak_hz = np.argmax(spectrum) * 8000 / len(decoded)
    assert abs(peak_hz - 1000) < 10
