"""Bandwidth's side of the bot's audio over a real socket: play-out, clear, WAV, latency."""

from __future__ import annotations

import base64
import json
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiohttp import web
from sim_helpers import (
    Behavior,
    BotSession,
    StartBot,
    dominant_freq,
    pcm_play,
    pcmu_play,
    rms,
    tone_pcm16,
    ulaw,
    unulaw,
)

from bwserial.testing.simulator import (
    CallScript,
    Silence,
    SimulatorConfig,
    Speech,
    simulate_call,
)

ONE_SECOND_PCMU = ulaw(tone_pcm16(500, 1.0, 8000))


async def _send_chunks(ws: web.WebSocketResponse, pcmu: bytes, chunk: int = 160) -> None:
    for i in range(0, len(pcmu), chunk):
        await ws.send_str(pcmu_play(pcmu[i : i + chunk]))


def _read_wav(path: Path) -> tuple[np.ndarray, int, int]:
    with wave.open(str(path)) as wav:
        data = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
        return data.reshape(-1, wav.getnchannels()), wav.getframerate(), wav.getnchannels()


@pytest.mark.parametrize("wait_for_playout", [False, True])
async def test_playout_runs_at_real_time(start_bot: StartBot, wait_for_playout: bool) -> None:
    async def talk_at_once(ws: web.WebSocketResponse, s: BotSession, e: dict[str, Any]) -> None:
        if e["eventType"] == "start":  # 1 s of audio in one burst: it must take 1 s to play
            await _send_chunks(ws, ONE_SECOND_PCMU)

    bot = await start_bot(talk_at_once)
    config = SimulatorConfig(url=bot.url, speed=4, linger_secs=0, wait_for_playout=wait_for_playout)
    report = await simulate_call(config, [Silence(0.5)])
    assert report.play_audio_messages == 50
    assert report.content_types == {"audio/pcmu": 50}
    assert report.bot_audio_received_secs == pytest.approx(1.0)
    if wait_for_playout:  # the caller stays on the line until the bot's audio is over
        assert report.duration_secs == pytest.approx(1.02, abs=0.05)
        assert report.bot_audio_played_secs == pytest.approx(1.0)
        assert report.bot_audio_unplayed_secs == 0
    else:  # hung up at 0.5 s: about half was heard, the rest was still queued
        assert report.duration_secs == pytest.approx(0.5, abs=0.03)
        assert report.bot_audio_played_secs == pytest.approx(0.5, abs=0.05)
        assert report.bot_audio_unplayed_secs == pytest.approx(0.5, abs=0.05)
    assert report.clears_received == 0 and report.malformed_messages == 0


async def test_clear_discards_the_queue(start_bot: StartBot) -> None:
    async def talk_then_clear(ws: web.WebSocketResponse, s: BotSession, e: dict[str, Any]) -> None:
        if e["eventType"] == "start":
            await _send_chunks(ws, ONE_SECOND_PCMU)
        elif e.get("sequenceNumber") == "20":  # sent at 0.4 s
            await ws.send_str(json.dumps({"eventType": "clear"}))

    bot = await start_bot(talk_then_clear)
    config = SimulatorConfig(url=bot.url, speed=2, linger_secs=0)
    script = CallScript.of(Silence(0.2), Speech.tone(440, 0.6), Silence(0.2))
    report = await simulate_call(config, script)
    assert report.clears_received == 1
    assert report.audio_discarded_secs == pytest.approx(0.6, abs=0.05)
    assert report.bot_audio_played_secs == pytest.approx(0.4, abs=0.05)
    assert report.bot_audio_unplayed_secs == 0
    (clear,) = report.clears
    assert clear.at_secs == pytest.approx(0.4, abs=0.05)
    assert clear.discarded_secs == report.audio_discarded_secs
    assert clear.turn == 0 and clear.during_turn
    assert clear.since_turn_start_secs == pytest.approx(0.2, abs=0.05)
    assert report.duration_secs == pytest.approx(1.0, abs=0.05)  # nothing left to wait for


async def test_output_wav_timing_rate_and_tone(start_bot: StartBot, tmp_path: Path) -> None:
    async def talk(ws: web.WebSocketResponse, s: BotSession, e: dict[str, Any]) -> None:
        if e.get("sequenceNumber") == "5":  # 0.1 s: half a second of 1 kHz at 16 kHz
            tone = tone_pcm16(1000, 0.5, 16000)
            for i in range(0, len(tone), 640):
                await ws.send_str(pcm_play(tone[i : i + 640], 16000))
        elif e.get("sequenceNumber") == "40":  # 0.8 s: 0.2 s of 600 Hz mu-law
            await _send_chunks(ws, ulaw(tone_pcm16(600, 0.2, 8000)))

    bot = await start_bot(talk)
    out = tmp_path / "bot.wav"
    config = SimulatorConfig(url=bot.url, speed=4, linger_secs=0, out_wav=out)
    report = await simulate_call(config, [Silence(1.2)])
    assert report.out_wav == str(out) and report.out_rate == 16000  # highest rate received

    data, rate, channels = _read_wav(out)
    samples = data[:, 0]
    assert (rate, channels) == (16000, 1)
    assert samples.size == pytest.approx(1.2 * 16000, abs=16000 * 0.03)

    def part(t0: float, t1: float) -> np.ndarray:
        return samples[round(t0 * rate) : round(t1 * rate)]

    assert rms(part(0.0, 0.09)) < 30  # silence where nothing played
    assert abs(dominant_freq(part(0.15, 0.55), rate) - 1000) < 5
    assert rms(part(0.65, 0.78)) < 30
    assert abs(dominant_freq(part(0.85, 0.98), rate) - 600) < 10
    assert rms(part(1.05, 1.2)) < 30


async def test_output_wav_stereo_with_caller_and_mixed_rates(
    start_bot: StartBot, tmp_path: Path
) -> None:
    async def talk(ws: web.WebSocketResponse, s: BotSession, e: dict[str, Any]) -> None:
        if e["eventType"] == "start":
            await ws.send_str(pcm_play(tone_pcm16(2000, 0.2, 24000), 24000))
            await _send_chunks(ws, ulaw(tone_pcm16(700, 0.2, 8000)))

    bot = await start_bot(talk)
    out = tmp_path / "both.wav"
    config = SimulatorConfig(url=bot.url, speed=4, linger_secs=0, out_wav=out, out_with_caller=True)
    report = await simulate_call(config, CallScript.of(Silence(0.5), Speech.tone(440, 0.5)))
    data, rate, channels = _read_wav(out)
    assert (rate, channels, report.out_rate) == (24000, 2, 24000)
    caller, heard = data[:, 0], data[:, 1]
    assert rms(caller[: rate // 2 - 100]) < 30 and rms(heard[: rate // 2]) > 1000
    assert abs(dominant_freq(caller[rate // 2 + 500 :], rate) - 440) < 5
    assert abs(dominant_freq(heard[500 : rate // 5 - 500], rate) - 2000) < 10
    assert abs(dominant_freq(heard[rate // 5 + 500 : 2 * rate // 5 - 500], rate) - 700) < 10


async def test_malformed_messages_are_reported_not_played(start_bot: StartBot) -> None:
    pcm16 = "audio/pcm;rate=16000;channels=1;bit-depth=16;endian=little;encoding=signed"
    garbage = [
        "this is not json",
        json.dumps({"eventType": "mark", "name": "x"}),
        json.dumps({"eventType": "playAudio"}),
        json.dumps(
            {"eventType": "playAudio", "media": {"contentType": "audio/wav", "payload": "AA=="}}
        ),
        json.dumps(
            {"eventType": "playAudio", "media": {"contentType": "audio/pcmu", "payload": "%%%"}}
        ),
        json.dumps({"eventType": "playAudio", "media": {"contentType": pcm16, "payload": "AAAA"}}),
        json.dumps(
            {
                "eventType": "playAudio",
                "media": {"contentType": "audio/pcm;rate=44100", "payload": "AAAA"},
            }
        ),
    ]

    async def misbehave(ws: web.WebSocketResponse, s: BotSession, e: dict[str, Any]) -> None:
        if e["eventType"] == "start":
            for text in garbage:
                await ws.send_str(text)
            await ws.send_bytes(b"\x00" * 320)
            await ws.send_str(pcmu_play(b"\x10" * 160))  # the one good message

    bot = await start_bot(misbehave)
    config = SimulatorConfig(url=bot.url, fast=True, linger_secs=0.2)
    report = await simulate_call(config, [Silence(0.2)])
    assert report.malformed_messages == 8
    assert report.malformed_samples == (
        "invalid JSON: 'this is not json'",
        "unknown eventType 'mark'",
        "playAudio without a 'media' object",
        "playAudio: unsupported contentType 'audio/wav'",
        "playAudio: invalid base64 payload '%%%'",
    )
    assert report.play_audio_messages == 1
    assert report.bot_audio_received_secs == pytest.approx(0.02)
    assert report.bot_audio_played_secs == pytest.approx(0.02)
    data = report.to_dict()
    assert data["malformed_messages"] == 8 and len(data["malformed_samples"]) == 5
    json.dumps(data)


def _turn_taking_bot(answer: Callable[[bytes], bytes], clear_on_speech: bool = False) -> Behavior:
    """A caricature of a voice bot: energy VAD, answers after 200 ms of silence."""

    async def behave(ws: web.WebSocketResponse, s: BotSession, e: dict[str, Any]) -> None:
        if e["eventType"] != "media":
            return
        frame = base64.b64decode(e["payload"])
        st = s.state
        if rms(np.frombuffer(unulaw(frame), dtype="<i2")) > 500:
            if not st.get("speaking"):
                st.update(speaking=True, heard=[], silent=0)
                if clear_on_speech and st.get("answered"):
                    await ws.send_str(json.dumps({"eventType": "clear"}))
                    st["answered"] = False
            st["heard"].append(frame)
            st["silent"] = 0
        elif st.get("speaking"):
            st["silent"] += 1
            if st["silent"] == 10:
                st["speaking"] = False
                await _send_chunks(ws, answer(b"".join(st["heard"])), 320)
                st["answered"] = True

    return behave


async def test_response_latency_per_turn_with_echo_bot(start_bot: StartBot, tmp_path: Path) -> None:
    bot = await start_bot(_turn_taking_bot(lambda heard: heard))  # echo
    out = tmp_path / "echo.wav"
    script = CallScript.of(
        Silence(0.3),
        Speech.tone(440, 0.4, label="first"),
        Silence(1.0),
        Speech.tone(660, 0.4, label="second"),
    )
    config = SimulatorConfig(url=bot.url, speed=4, linger_secs=0.3, out_wav=out)
    report = await simulate_call(config, script)

    assert [(t.label, t.start_secs, t.end_secs) for t in report.turns] == [
        ("first", 0.3, 0.7),
        ("second", 1.7, 2.1),
    ]
    for latency in report.response_latencies_secs:
        assert latency is not None and 0.18 <= latency < 0.4  # 10 silent frames + network
    assert report.bot_audio_played_secs == pytest.approx(0.8)

    data, rate, _ = _read_wav(out)
    heard = data[:, 0]
    first_answer = 0.7 + (report.response_latencies_secs[0] or 0)
    window = heard[round((first_answer + 0.05) * rate) : round((first_answer + 0.35) * rate)]
    assert abs(dominant_freq(window, rate) - 440) < 10


async def test_barge_in_clear_is_placed_in_the_turn(start_bot: StartBot) -> None:
    long_answer = ulaw(tone_pcm16(300, 2.0, 8000))
    bot = await start_bot(_turn_taking_bot(lambda heard: long_answer, clear_on_speech=True))
    script = CallScript.of(
        Silence(0.2),
        Speech.tone(440, 0.4),
        Silence(0.8),  # the bot starts its 2 s answer at about 0.8 s...
        Speech.tone(440, 0.4),  # ...and the caller talks over it at 1.4 s
    )
    config = SimulatorConfig(url=bot.url, speed=4, linger_secs=0.5, wait_for_playout=False)
    report = await simulate_call(config, script)

    assert report.clears_received == 1
    (clear,) = report.clears
    assert clear.turn == 1 and clear.during_turn
    assert 0 < (clear.since_turn_start_secs or 0) < 0.1  # cleared on the first loud frame
    assert clear.discarded_secs == pytest.approx(2.0 - (clear.at_secs - 0.8), abs=0.06)
    first, second = report.response_latencies_secs
    assert first is not None and 0.18 <= first < 0.4
    assert second is not None and 0.18 <= second < 0.4  # the new answer after the clear
    assert report.bot_audio_received_secs == pytest.approx(4.0)
