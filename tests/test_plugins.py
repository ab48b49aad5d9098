"""The plugin framework: registration, selection, blocking, discovery and isolation."""

from __future__ import annotations

import base64
import json
import sys
import textwrap
from pathlib import Path

import pytest
from pipecat.frames.frames import OutputAudioRawFrame

from bwserial import BandwidthFrameSerializer, Codec, CodecOptions, hookimpl, plugins
from bwserial.testing.messages import media, start
from bwtest_helpers import Recorder, Setup

Params = BandwidthFrameSerializer.InputParams


class InvertEncoder:
    """A toy codec: 8-bit unsigned PCM at 8 kHz, enough to prove selection works."""

    content_type = "audio/x-u8"
    wire_rate = 8000
    bytes_per_second = 8000

    def __init__(self, options: CodecOptions) -> None:
        self.resampler = options.resampler(24000, 8000)
        self.settings = dict(options.settings)

    def encode(self, pcm: bytes, sample_rate: int) -> bytes:
        linear = self.resampler.process(pcm)
        return bytes(
            ((int.from_bytes(linear[i : i + 2], "little", signed=True) >> 8) + 128)
            for i in range(0, len(linear), 2)
        )

    def reset(self) -> None:
        self.resampler.reset()


class U8Plugin:
    bwserial_plugin_name = "u8-codec"

    @hookimpl
    def bwserial_codecs(self):  # type: ignore[no-untyped-def]
        return [
            Codec(
                name="U8",
                rates=(8000,),
                content_type=lambda rate: "audio/x-u8",
                encoder=InvertEncoder,
            )
        ]


def make(*extra: object, **params: object) -> BandwidthFrameSerializer:
    return BandwidthFrameSerializer(
        "stream-1",
        params=Params(auto_hang_up=False, **params),
        plugins=list(extra),  # type: ignore[arg-type]
    )


async def test_an_in_process_codec_plugin_is_selected_by_outbound_encoding() -> None:
    serializer = make(U8Plugin(), outbound_encoding="u8", plugin_settings={"U8": {"dither": False}})
    await serializer.setup(Setup())
    outs = [
        await serializer.serialize(OutputAudioRawFrame(b"\x00\x10" * 960, 24000, 1))
        for _ in range(5)
    ]
    messages = [json.loads(o) for o in outs if o]
    assert messages and messages[-1]["media"]["contentType"] == "audio/x-u8"
    assert set(base64.b64decode(messages[-1]["media"]["payload"])) <= {128 + 16, 128 + 15, 128 + 17}
    assert serializer._encoder.settings == {"dither": False}  # type: ignore[attr-defined]


async def test_an_observer_plugin_sees_the_call() -> None:
    recorder = Recorder()
    serializer = make(recorder)
    await serializer.setup(Setup())
    await serializer.deserialize(start())
    await serializer.deserialize(media(seq=1))
    await serializer.deserialize(media(seq=3))
    await serializer.deserialize("garbage")
    assert recorder.names() == ["stream_started", "media_gap", "bad_message"]


class Raising:
    bwserial_plugin_name = "raising"

    @hookimpl
    def bwserial_stream_started(self, context, event):  # type: ignore[no-untyped-def]
        raise RuntimeError("observer bug")

    @hookimpl
    def bwserial_bad_message(self, context, message):  # type: ignore[no-untyped-def]
        raise KeyError("another bug")


async def test_a_raising_observer_is_logged_by_name_and_others_still_run(logs) -> None:  # type: ignore[no-untyped-def]
    recorder = Recorder()
    serializer = make(Raising(), recorder)
    await serializer.setup(Setup())
    await serializer.deserialize(start())
    await serializer.deserialize("{bad")
    assert recorder.names() == ["stream_started", "bad_message"]
    errors = logs.at("ERROR")
    assert any("'raising'" in e and "bwserial_stream_started" in e for e in errors)
    # The call goes on: caller audio still comes through after the observer raised.
    frames = [await serializer.deserialize(media(seq=seq)) for seq in range(1, 6)]
    assert any(frame is not None for frame in frames)
    assert serializer.context.frames_in == sum(frame is not None for frame in frames)


class AsyncObserver:
    bwserial_plugin_name = "async-observer"

    @hookimpl
    async def bwserial_stream_started(self, context, event):  # type: ignore[no-untyped-def]
        raise AssertionError("never awaited")


async def test_an_async_hook_implementation_is_closed_and_warned_about(logs) -> None:  # type: ignore[no-untyped-def]
    serializer = make(AsyncObserver())
    await serializer.deserialize(start())
    assert any("async-observer" in w and "synchronous" in w for w in logs.at("WARNING"))


class AsyncRegistration:
    bwserial_plugin_name = "async-registration"

    @hookimpl
    async def bwserial_codecs(self):  # type: ignore[no-untyped-def]
        return []


def test_an_async_registration_hook_does_not_win_silently(logs) -> None:  # type: ignore[no-untyped-def]
    serializer = make(AsyncRegistration())
    assert serializer.codec_name == "PCMU"
    assert any("async-registration" in w for w in logs.at("WARNING"))


class DuplicatePcmu:
    bwserial_plugin_name = "my-pcmu"

    @hookimpl
    def bwserial_codecs(self):  # type: ignore[no-untyped-def]
        return [
            Codec(
                name="pcmu",
                rates=(8000,),
                content_type=lambda r: "audio/pcmu",
                encoder=InvertEncoder,
            )
        ]


def test_two_plugins_registering_one_codec_name_is_an_error_naming_both() -> None:
    with pytest.raises(ValueError) as info:
        make(DuplicatePcmu())
    assert "'pcmu'" in str(info.value) and "'my-pcmu'" in str(info.value)


def test_disabling_one_of_the_two_resolves_the_conflict() -> None:
    serializer = make(DuplicatePcmu(), disable_plugins=["my-pcmu"])
    assert serializer.codec_name == "PCMU"


def test_a_built_in_can_be_blocked_per_serializer() -> None:
    with pytest.raises(ValueError, match="registered: PCMU"):
        make(disable_plugins=["pcm"], outbound_encoding="PCM")


def test_blocking_the_pcmu_built_in_says_caller_audio_needs_it() -> None:
    with pytest.raises(ValueError, match="PCMU codec"):
        make(disable_plugins=["pcmu"], outbound_encoding="PCM")


def test_env_disable_blocks_built_ins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BWSERIAL_DISABLE_PLUGINS", "pcm, voice-api")
    with pytest.raises(ValueError, match="registered: PCMU"):
        make(outbound_encoding="PCM")
    with pytest.raises(ValueError, match="hang-up strategy"):
        BandwidthFrameSerializer("s", call_id="c", account_id="a", client_id="i", client_secret="s")


class Typo:
    bwserial_plugin_name = "typo"

    @hookimpl
    def bwserial_stream_stoped(self, context, event):  # type: ignore[no-untyped-def]
        pass


def test_a_misspelt_hook_is_an_error_not_silence() -> None:
    with pytest.raises(ValueError, match="typo"):
        make(Typo())


def test_unimplemented_event_hooks_are_flagged_off_for_the_hot_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BWSERIAL_PLUGINS", "")  # installed observer plugins would flag hooks on
    plugins.discover(refresh=True)
    serializer = make()
    observers = serializer._observers  # type: ignore[attr-defined]
    assert not any(
        getattr(observers, flag)
        for flag in ("stream_started", "stream_stopped", "media_gap", "bad_message", "interruption")
    )
    assert make(Recorder())._observers.media_gap  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- entry points


def write_distribution(root: Path, dist: str, ep_name: str, module: str, body: str) -> None:
    """A real (throwaway) installed distribution: a module and a dist-info with entry points."""
    (root / f"{module}.py").write_text(textwrap.dedent(body))
    info = root / f"{dist.replace('-', '_')}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text(f"[bwserial]\n{ep_name} = {module}\n")


PLUGIN_BODY = """
from bwserial import hookimpl, Codec
from bwserial.builtin.pcmu_codec import PcmuEncoder
IMPORTED = True

@hookimpl
def bwserial_codecs():
    return [Codec(name="ULAW-COPY", rates=(8000,), content_type=lambda r: "audio/pcmu", encoder=PcmuEncoder)]
"""


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [m for m in sys.modules if m.startswith("bwtest_")]:
        del sys.modules[name]


def test_an_installed_entry_point_plugin_is_discovered_and_usable(site: Path) -> None:
    write_distribution(site, "bwserial-ulaw-copy", "ulaw-copy", "bwtest_ulaw", PLUGIN_BODY)
    found = plugins.discover(refresh=True)
    [info] = [p for p in found.plugins if p.name == "ulaw-copy"]
    assert (info.distribution, info.version, info.builtin) == ("bwserial-ulaw-copy", "1.2.3", False)
    assert make(outbound_encoding="ULAW-COPY").codec_name == "ULAW-COPY"


def test_discovery_happens_once_per_process(site: Path) -> None:
    first = plugins.discover(refresh=True)
    write_distribution(site, "bwserial-late", "late", "bwtest_late", PLUGIN_BODY)
    assert plugins.discover() is first  # no rescan per serializer
    assert "late" in [p.name for p in plugins.discover(refresh=True).plugins]


def test_env_plugins_limits_what_is_imported(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_distribution(site, "bwserial-ulaw-copy", "ulaw-copy", "bwtest_limited", PLUGIN_BODY)
    monkeypatch.setenv("BWSERIAL_PLUGINS", "")
    found = plugins.discover(refresh=True)
    assert "ulaw-copy" not in [p.name for p in found.plugins]
    assert "bwtest_limited" not in sys.modules  # never imported
    assert [s.reason for s in found.skipped if s.name == "ulaw-copy"] == [
        "not listed in BWSERIAL_PLUGINS"
    ]
    assert {"pcmu", "pcm", "voice-api"} <= {p.name for p in found.plugins}  # built-ins stay


def test_env_plugins_accepts_distribution_names(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_distribution(site, "bwserial-ulaw-copy", "ulaw-copy", "bwtest_bydist", PLUGIN_BODY)
    monkeypatch.setenv("BWSERIAL_PLUGINS", "bwserial-ulaw-copy")
    assert "ulaw-copy" in [p.name for p in plugins.discover(refresh=True).plugins]


def test_env_disable_wins_and_prevents_the_import(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_distribution(site, "bwserial-ulaw-copy", "ulaw-copy", "bwtest_blocked", PLUGIN_BODY)
    monkeypatch.setenv("BWSERIAL_PLUGINS", "ulaw-copy")
    monkeypatch.setenv("BWSERIAL_DISABLE_PLUGINS", "ulaw-copy")
    found = plugins.discover(refresh=True)
    assert "bwtest_blocked" not in sys.modules
    assert [s.reason for s in found.skipped if s.name == "ulaw-copy"] == [
        "blocked by BWSERIAL_DISABLE_PLUGINS"
    ]


def test_an_entry_point_cannot_take_a_built_in_name(site: Path, logs) -> None:  # type: ignore[no-untyped-def]
    write_distribution(site, "evil-dist", "pcmu", "bwtest_evil", PLUGIN_BODY)
    found = plugins.discover(refresh=True)
    [skipped] = [s for s in found.skipped if s.distribution == "evil-dist"]
    assert "reserved" in skipped.reason
    assert any("evil-dist" in e for e in logs.at("ERROR"))
    assert "bwtest_evil" not in sys.modules


def test_a_broken_plugin_is_reported_and_the_rest_still_load(site: Path) -> None:
    write_distribution(
        site, "bwserial-broken", "broken", "bwtest_broken", "raise ImportError('nope')\n"
    )
    found = plugins.discover(refresh=True)
    [skipped] = [s for s in found.skipped if s.name == "broken"]
    assert "ImportError" in skipped.reason
    assert make().codec_name == "PCMU"


def test_describe_plugins_lists_built_ins_with_what_they_provide() -> None:
    described = {d.name: d for d in plugins.describe_plugins()}
    assert described["pcmu"].codecs == ("PCMU",)
    assert described["pcm"].codecs == ("PCM",)
    assert described["voice-api"].hangup_strategies == ("voice-api",)
    assert all(described[n].builtin and described[n].enabled for n in ("pcmu", "pcm", "voice-api"))


async def test_an_encode_only_codec_is_never_used_for_caller_audio() -> None:
    serializer = make(U8Plugin())
    await serializer.setup(Setup())
    await serializer.deserialize(start(encoding="U8", rate=8000, call_id="c-abc"))
    frames = [await serializer.deserialize(media(seq=s)) for s in range(1, 4)]
    assert any(f is not None for f in frames)  # still decoded as PCMU, not crashed
    assert serializer.context.bad_messages == 0


def test_plugin_objects_are_not_configuration_and_the_old_field_says_where_they_went() -> None:
    with pytest.raises(ValueError, match=r"extra_plugins was removed.*plugins=\[\.\.\.\]"):
        Params(auto_hang_up=False, extra_plugins=[U8Plugin()])
    with pytest.raises(ValueError, match="extra_plugins was removed"):
        BandwidthFrameSerializer("s", params={"auto_hang_up": False, "extra_plugins": []})  # type: ignore[arg-type]
    assert "plugins" not in Params.model_fields and "extra_plugins" not in Params.model_fields
    serializer = BandwidthFrameSerializer(
        "s", params=Params(auto_hang_up=False, outbound_encoding="u8"), plugins=[U8Plugin()]
    )
    assert serializer.codec_name == "U8"
