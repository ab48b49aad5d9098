"""Caller WAVs of any common format become 8 kHz mono mu-law; output WAVs open anywhere."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest
from sim_helpers import dominant_freq, rms, unulaw, write_extensible_wav, write_pcm_wav

from bwserial.testing.simulator import CallScript, Silence, Speech
from bwserial.testing.wav import (
    WavFormatError,
    load_wav_as_pcm16,
    load_wav_as_pcmu,
    read_wav,
    write_wav,
)


def _tone(freq: float, seconds: float, rate: int, channels: int, amp: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    mono = amp * np.sin(2 * np.pi * freq * t)
    return np.column_stack([mono] * channels)


def _check_pcmu_tone(pcmu: bytes, seconds: float, freq: float) -> None:
    assert abs(len(pcmu) - seconds * 8000) <= 2
    pcm = np.frombuffer(unulaw(pcmu), dtype="<i2")
    assert abs(dominant_freq(pcm, 8000) - freq) < 10
    assert rms(pcm) > 0.5 * 32768 / np.sqrt(2) * 0.8  # level survives mixing and mu-law


def test_44k1_stereo_16bit(tmp_path: Path) -> None:
    path = str(tmp_path / "stereo.wav")
    write_pcm_wav(path, _tone(440, 1.0, 44100, 2), 44100, 2)
    _check_pcmu_tone(load_wav_as_pcmu(path), 1.0, 440)


def test_16k_mono_8bit(tmp_path: Path) -> None:
    path = str(tmp_path / "mono8.wav")
    write_pcm_wav(path, _tone(300, 0.5, 16000, 1), 16000, 1)
    _check_pcmu_tone(load_wav_as_pcmu(path), 0.5, 300)


@pytest.mark.parametrize(("rate", "width"), [(48000, 3), (22050, 4), (8000, 2)])
def test_other_widths_and_rates(tmp_path: Path, rate: int, width: int) -> None:
    path = str(tmp_path / f"t{rate}_{width}.wav")
    write_pcm_wav(path, _tone(1000, 0.4, rate, 1), rate, width)
    _check_pcmu_tone(load_wav_as_pcmu(path), 0.4, 1000)


@pytest.mark.parametrize("fmt", ["pcm24", "float32"])
def test_extensible_header_multichannel(tmp_path: Path, fmt: str) -> None:
    path = str(tmp_path / f"ext_{fmt}.wav")
    write_extensible_wav(path, _tone(500, 0.3, 32000, 3), 32000, fmt)
    samples, rate = read_wav(path)
    assert rate == 32000 and samples.shape == (9600, 3)
    _check_pcmu_tone(load_wav_as_pcmu(path), 0.3, 500)


def test_channels_are_averaged(tmp_path: Path) -> None:
    # left and right in antiphase cancel: proves a mix-down, not "take the left channel"
    t = np.arange(8000) / 8000
    left = 0.5 * np.sin(2 * np.pi * 440 * t)
    path = str(tmp_path / "anti.wav")
    write_pcm_wav(path, np.column_stack([left, -left]), 8000, 2)
    assert rms(np.frombuffer(load_wav_as_pcm16(path), dtype="<i2")) < 50


def test_not_a_wav(tmp_path: Path) -> None:
    path = tmp_path / "x.wav"
    path.write_bytes(b"ID3 this is an mp3")
    with pytest.raises(WavFormatError, match="not a RIFF/WAVE"):
        load_wav_as_pcmu(path)


def test_write_wav_roundtrip(tmp_path: Path) -> None:
    pcm = np.arange(-100, 100, dtype="<i2").tobytes()
    path = tmp_path / "out.wav"
    write_wav(path, pcm, 24000)
    with wave.open(str(path)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (24000, 1, 2)
        assert wav.readframes(wav.getnframes()) == pcm


def test_script_from_wavs_one_turn_per_file(tmp_path: Path) -> None:
    paths = []
    for name, freq in (("hello.wav", 440), ("bye.wav", 660)):
        path = str(tmp_path / name)
        write_pcm_wav(path, _tone(freq, 0.5, 16000, 1), 16000, 2)
        paths.append(path)
    script = CallScript.from_wavs(paths, lead_in_secs=0.25, gap_secs=2.0)
    kinds = [type(s) for s in script.segments]
    assert kinds == [Silence, Speech, Silence, Speech]
    assert [s.label for s in script.segments if isinstance(s, Speech)] == ["hello.wav", "bye.wav"]
    assert script.duration_secs == pytest.approx(3.25)
