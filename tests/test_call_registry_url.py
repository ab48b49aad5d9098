"""Issue 16: configuration, not code, picks the call registry (a URL, a plugin's scheme)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bwplugin_site import forget, install
from bwserial import plugins
from bwserial.calls import (
    ENV_CALL_REGISTRY_URL,
    CallRegistry,
    InProcessCallRegistry,
    registry_from_url,
)
from bwserial.runner import BandwidthRunner

FAKE_REGISTRY = """
from bwserial import hookimpl, CallRegistryFactory
from bwserial.calls import InProcessCallRegistry

class Made(InProcessCallRegistry):
    def __init__(self, url, **options):
        super().__init__(**options)
        self.url = url

@hookimpl
def bwserial_call_registries():
    return [CallRegistryFactory("fake", Made, "for tests"), CallRegistryFactory("fakes", Made)]
"""


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv(ENV_CALL_REGISTRY_URL, raising=False)
    # Only the test's own plugins: an installed bwserial-redis would register redis://.
    monkeypatch.setenv("BWSERIAL_PLUGINS", "fakereg,rega,regb,badreg")
    yield tmp_path
    forget("bwtest_")
    monkeypatch.undo()  # before the rescan, so the next test discovers what is installed
    plugins.discover(refresh=True)


def _runner(**kwargs: object) -> BandwidthRunner:
    return BandwidthRunner(
        token_secret="a-token-secret-of-32-bytes-......",
        client_id="id",
        client_secret="secret",
        webhook_auth=None,
        stream_auth=None,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("url", [None, "", "memory://", "MEMORY://anything"])
def test_no_url_or_memory_is_the_in_process_registry(url: str | None) -> None:
    registry = registry_from_url(url, queue_size=3)
    assert type(registry) is InProcessCallRegistry
    assert registry._queue_size == 3


def test_an_unknown_scheme_names_the_url_without_its_password_and_lists_schemes(
    site: Path,
) -> None:
    plugins.discover(refresh=True)
    with pytest.raises(ValueError) as info:
        registry_from_url("redis://:hunter2@cache.example:6379/0")
    message = str(info.value)
    assert "hunter2" not in message
    assert "cache.example:6379" in message and "redis://" in message
    assert "registered schemes: memory" in message
    with pytest.raises(ValueError, match="no scheme"):
        registry_from_url("cache.example:6379")


def test_a_plugin_registers_a_scheme_and_the_runner_takes_it_by_url_or_env(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(
        site, "bwtest-registry", {"fakereg": "bwtest_registry"}, {"bwtest_registry": FAKE_REGISTRY}
    )
    plugins.discover(refresh=True)
    registry = registry_from_url("FAKE://h/0", queue_size=2)
    assert type(registry).__name__ == "Made" and registry.url == "FAKE://h/0"  # type: ignore[attr-defined]
    [described] = [p for p in plugins.describe_plugins() if p.name == "fakereg"]
    assert described.call_registries == ("fake", "fakes")

    runner = _runner(call_registry_url="fake://by-argument")
    assert runner.call_registry.url == "fake://by-argument"  # type: ignore[attr-defined]
    monkeypatch.setenv(ENV_CALL_REGISTRY_URL, "fakes://by-env")
    assert _runner().call_registry.url == "fakes://by-env"  # type: ignore[attr-defined]
    explicit = InProcessCallRegistry()
    assert _runner(call_registry=explicit, call_registry_url="fake://x").call_registry is explicit
    monkeypatch.setenv(ENV_CALL_REGISTRY_URL, "nope://x")
    with pytest.raises(ValueError, match="fake, fakes, memory"):
        _runner()


def test_two_plugins_registering_one_scheme_is_an_error_naming_both(site: Path) -> None:
    install(site, "bwtest-reg-a", {"rega": "bwtest_rega"}, {"bwtest_rega": FAKE_REGISTRY})
    install(site, "bwtest-reg-b", {"regb": "bwtest_regb"}, {"bwtest_regb": FAKE_REGISTRY})
    plugins.discover(refresh=True)
    with pytest.raises(ValueError, match=r"rega.*regb|regb.*rega"):
        registry_from_url("fake://x")


def test_a_factory_must_return_a_registry(site: Path) -> None:
    source = FAKE_REGISTRY.replace(
        'CallRegistryFactory("fake", Made', 'CallRegistryFactory("fake", lambda url: url'
    )
    install(site, "bwtest-bad-registry", {"badreg": "bwtest_badreg"}, {"bwtest_badreg": source})
    plugins.discover(refresh=True)
    with pytest.raises(TypeError, match="not a CallRegistry"):
        registry_from_url("fake://x")
    assert isinstance(registry_from_url("fakes://x"), CallRegistry)


def test_the_demo_takes_the_registry_url_from_its_settings_without_showing_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bwserial.demo.app import demo_runner
    from bwserial.demo.settings import DemoSettings

    monkeypatch.delenv(ENV_CALL_REGISTRY_URL, raising=False)
    settings = DemoSettings.from_env({"BWSERIAL_DEMO_CALL_REGISTRY_URL": "memory://"})
    assert type(demo_runner(settings).call_registry) is InProcessCallRegistry
    secret = DemoSettings(call_registry_url="nope://:hunter2@cache:6379/0")  # type: ignore[arg-type]
    assert "hunter2" not in repr(secret)
    with pytest.raises(ValueError, match="nope://") as info:
        demo_runner(secret)
    assert "hunter2" not in str(info.value)
