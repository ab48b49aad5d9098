"""Issue 12 item 6: one hostile installed plugin never stops discovery, a serializer or the others."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from bwplugin_site import GOOD, HOSTILE, forget, install
from bwserial import BandwidthFrameSerializer, plugins
from bwserial.cli import main
from bwserial.testing.messages import start

Params = BandwidthFrameSerializer.InputParams


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    forget("bwtest_")


def make() -> BandwidthFrameSerializer:
    return BandwidthFrameSerializer("s-1", call_id="c-1", params=Params(auto_hang_up=False))


def install_good(site: Path) -> None:
    install(site, "bwserial-good", {"good": "bwtest_good"}, {"bwtest_good": GOOD}, "A good one")


@pytest.mark.parametrize("what", list(HOSTILE))
async def test_a_hostile_plugin_fails_alone_and_is_reported_by_name(
    site: Path, what: str, logs
) -> None:  # type: ignore[no-untyped-def]
    install(
        site, "bwserial-hostile", {"hostile": "bwtest_hostile"}, {"bwtest_hostile": HOSTILE[what]}
    )
    install_good(site)
    found = plugins.discover(refresh=True)

    [failed] = [s for s in found.skipped if s.name == "hostile"]
    assert failed.failed and failed.distribution == "bwserial-hostile"
    assert "good" in {p.name for p in found.plugins}
    assert {"pcmu", "pcm", "voice-api"} <= {p.name for p in found.plugins}
    errors = [e for e in logs.at("ERROR") if "'hostile'" in e]
    assert len(errors) == 1 and failed.reason in errors[0]
    assert not any(c in errors[0] for c in "\n\r\x1b")  # a plugin's message cannot forge lines

    # Every construction still works, and never reports the plugin again.
    import bwtest_good

    for _ in range(3):
        serializer = make()
        await serializer.deserialize(start(call_id="c-1"))
    assert bwtest_good.STARTED == ["c-1"] * 3
    assert len([e for e in logs.at("ERROR") if "'hostile'" in e]) == 1


def test_sys_exit_at_import_is_named_in_the_reason(site: Path) -> None:
    install(site, "bwserial-exit", {"exit": "bwtest_exit"}, {"bwtest_exit": HOSTILE["sys-exit"]})
    [failed] = [s for s in plugins.discover(refresh=True).skipped if s.name == "exit"]
    assert failed.reason == "failed to load: 'SystemExit': '3'"


def test_a_lazy_module_whose_dir_lies_is_reported(site: Path) -> None:
    body = HOSTILE["lazy module"]
    install(site, "bwserial-lazy", {"lazy": "bwtest_lazy"}, {"bwtest_lazy": body})
    [failed] = [s for s in plugins.discover(refresh=True).skipped if s.name == "lazy"]
    assert "ModuleNotFoundError" in failed.reason
    assert make().codec_name == "PCMU"


def test_a_typo_in_an_installed_plugin_fails_that_plugin_not_every_serializer(site: Path) -> None:
    body = HOSTILE["typo in a hook name"]
    install(site, "bwserial-typo", {"typo": "bwtest_typo"}, {"bwtest_typo": body})
    [failed] = [s for s in plugins.discover(refresh=True).skipped if s.name == "typo"]
    assert "bwserial_stream_stoped" in failed.reason
    assert make().codec_name == "PCMU"


def test_one_object_under_two_entry_point_names_loads_once(site: Path, logs) -> None:  # type: ignore[no-untyped-def]
    install(
        site,
        "bwserial-twice",
        {"first": "bwtest_twice:plugin", "second": "bwtest_twice:plugin"},
        {
            "bwtest_twice": """
                from bwserial import hookimpl

                class Plugin:
                    seen = 0

                    @hookimpl
                    def bwserial_stream_started(self, context, event):
                        Plugin.seen += 1

                plugin = Plugin()
                """
        },
    )
    found = plugins.discover(refresh=True)
    assert [p.name for p in found.plugins if p.distribution == "bwserial-twice"] == ["first"]
    [failed] = [s for s in found.skipped if s.name == "second"]
    assert "same object as plugin 'first'" in failed.reason
    make()  # pluggy would say "Plugin already registered" here, at every construction
    assert any("'second'" in e for e in logs.at("ERROR"))


def test_keyboard_interrupt_at_import_still_stops_the_process(site: Path) -> None:
    install(site, "bwserial-ki", {"ki": "bwtest_ki"}, {"bwtest_ki": "raise KeyboardInterrupt\n"})
    with pytest.raises(KeyboardInterrupt):
        plugins.discover(refresh=True)
    for info in site.glob("*.dist-info/entry_points.txt"):
        info.unlink()  # or the fixture's own rescan would be interrupted too


def test_bwserial_plugins_lists_failed_plugins_with_why_and_descriptions(site: Path) -> None:
    install(site, "bwserial-exit", {"exit": "bwtest_exit2"}, {"bwtest_exit2": HOSTILE["sys-exit"]})
    install_good(site)
    plugins.discover(refresh=True)
    text = CliRunner().invoke(main, ["plugins"]).stdout
    [row] = [line for line in text.splitlines() if line.startswith("exit ")]
    assert "FAILED: failed to load: 'SystemExit': '3'" in row
    assert "about:   Counts started streams." in text
    assert "about:   G.711 mu-law" in text or "about:   Built-in plugin pcmu" in text
    data = json.loads(CliRunner().invoke(main, ["plugins", "--json"]).stdout)
    by_name = {p["name"]: p for p in data["plugins"]}
    assert by_name["exit"]["failed"] and not by_name["exit"]["enabled"]
    assert by_name["good"]["description"] == "Counts started streams."
    assert not by_name["good"]["failed"]


class LyingDir:
    """An in-process plugin whose attributes cannot be read."""

    bwserial_plugin_name = "lying"

    def __dir__(self):  # type: ignore[no-untyped-def]
        raise LookupError("no attributes here")


def test_an_in_process_plugin_that_cannot_be_read_is_a_clear_error_naming_it() -> None:
    with pytest.raises(ValueError, match=r"'lying' could not be registered.*LookupError"):
        BandwidthFrameSerializer("s-1", params=Params(auto_hang_up=False), plugins=[LyingDir()])
    assert make().codec_name == "PCMU"  # the next serializer is not affected
