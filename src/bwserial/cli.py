"""The ``bwserial`` command: list plugins, call a bot without a phone, run the demo.

``bwserial plugins``
    What the plugin machinery found, enabled or not, and what each plugin provides.
``bwserial simulate URL --wav caller.wav`` / ``bwserial simulate --webhook URL``
    Play Bandwidth's side of a call against any bot's WebSocket URL (or its call webhook
    first, as Bandwidth does) and report what a caller would have heard and when.
``bwserial fake-api``
    Run the fake Bandwidth OAuth + Voice API on its own, for a bot under manual test.
``bwserial demo``
    The whole thing offline: the demo bot, a fake Voice API and a simulated caller.

Output is for people by default and JSON with ``--json`` (nothing else on stdout then).
Logs go to stderr, warnings only unless ``-v``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import math
import sys
import tempfile
import textwrap
import time
from collections.abc import Awaitable, Sequence
from pathlib import Path
from typing import Any, Final, TypeVar

import click
from loguru import logger

__all__ = ["main"]

T = TypeVar("T")

_PROGRESS_AFTER_SECS: Final = 1.0
_PROGRESS_EVERY_SECS: Final = 0.2
_LOG_LEVELS: Final = ("WARNING", "INFO", "DEBUG")
_log_handler: int | None = None


def _write_stderr(message: str) -> None:
    sys.stderr.write(message)


def _configure_logging(verbosity: int) -> None:
    """One stderr sink at the chosen level, in place of loguru's default DEBUG one.

    The sink looks ``sys.stderr`` up per message, so a test runner that swaps streams
    never leaves loguru writing to a closed one.
    """
    global _log_handler
    with contextlib.suppress(ValueError):
        logger.remove(0)  # loguru's default handler, if still installed
    if _log_handler is not None:
        with contextlib.suppress(ValueError):
            logger.remove(_log_handler)
    level = _LOG_LEVELS[min(verbosity, len(_LOG_LEVELS) - 1)]
    _log_handler = logger.add(
        _write_stderr,
        level=level,
        format="{time:HH:mm:ss.SSS} {level: <7} {name}: {message}",
    )


def _dump_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False))


async def _with_progress(
    work: Awaitable[T], *, label: str, expected_secs: float | None, show: bool
) -> T:
    """Await ``work``; on a terminal, keep one live line on stderr while it runs long."""
    if not show:
        return await work
    task = asyncio.ensure_future(work)
    started = time.monotonic()
    width = 0
    try:
        while not task.done():
            await asyncio.wait({task}, timeout=_PROGRESS_EVERY_SECS)
            elapsed = time.monotonic() - started
            if task.done() or elapsed < _PROGRESS_AFTER_SECS:
                continue
            text = f"{label}: {elapsed:5.1f} s"
            if expected_secs:
                text += f" (caller audio {min(elapsed, expected_secs):.1f}/{expected_secs:.1f} s)"
            width = max(width, len(text))
            click.echo(f"\r{text:<{width}}", nl=False, err=True)
    finally:
        if width:
            click.echo("\r" + " " * width + "\r", nl=False, err=True)
        if not task.done():
            task.cancel()
    return task.result()


def _show_progress(as_json: bool) -> bool:
    return not as_json and sys.stderr.isatty()


def _report_extra_missing() -> str | None:
    """Why the timeline cannot be drawn here (the 'report' extra is missing), or None."""
    from bwserial.testing.timeline_page import ReportExtraMissing, require_report_extra

    try:
        require_report_extra()
    except ReportExtraMissing as e:
        return str(e)
    return None


def _write_timeline(report: Any, html: Path, title: str | None = None) -> dict[str, str]:
    """The call's timeline page and PNG (PNG beside the page); their paths for the output."""
    from bwserial.testing.timeline import build_timeline
    from bwserial.testing.timeline_page import write_timeline

    try:
        files = write_timeline(build_timeline(report, title=title), html)
    except OSError as e:  # the call itself is reported all the same
        click.echo(f"note: the timeline could not be written: {e}", err=True)
        return {}
    return {"html": str(files.html), "png": str(files.png)}


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More logging on stderr (-v info, -vv debug).")
@click.version_option(package_name="bwserial", message="%(prog)s %(version)s")
def main(verbose: int) -> None:
    """Pipecat <-> Bandwidth media streams: plugins, a call simulator and a demo bot."""
    _configure_logging(verbose)


# --------------------------------------------------------------------------- plugins


def _plugin_rows(described: Sequence[Any]) -> list[str]:
    lines = [f"{'PLUGIN':<22}{'DISTRIBUTION':<24}{'VERSION':<10}STATUS"]
    for plugin in described:
        name = plugin.name + (" (built-in)" if plugin.builtin else "")
        if plugin.enabled:
            status = "enabled"
        else:
            status = f"{'FAILED' if plugin.failed else 'disabled'}: {plugin.reason}"
        lines.append(
            f"{name:<22}{plugin.distribution or '-':<24}{plugin.version or '-':<10}{status}"
        )
        if plugin.description:
            lines.extend(
                textwrap.wrap(
                    plugin.description,
                    width=100,
                    initial_indent="    about:   ",
                    subsequent_indent=" " * 13,
                )
            )
        for label, items in (
            ("codecs", plugin.codecs),
            ("hang-up", plugin.hangup_strategies),
            ("transfer", plugin.transfer_strategies),
            ("registry", plugin.call_registries),
            ("hooks", plugin.hooks),
        ):
            if items:
                lines.extend(
                    textwrap.wrap(
                        ", ".join(items),
                        width=100,
                        initial_indent=f"    {label + ':':<8} ",
                        subsequent_indent=" " * 13,
                        break_on_hyphens=False,
                    )
                )
    return lines


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def plugins(as_json: bool) -> None:
    """List every plugin found: built-in or installed, enabled, disabled or failed (and why)."""
    from bwserial._env import ENV_DISABLE_PLUGINS, ENV_PLUGINS, env_list
    from bwserial.plugins import describe_plugins

    described = describe_plugins()
    environment = {
        ENV_PLUGINS: env_list(ENV_PLUGINS),
        ENV_DISABLE_PLUGINS: env_list(ENV_DISABLE_PLUGINS),
    }
    if as_json:
        _dump_json(
            {
                "plugins": [dataclasses.asdict(p) for p in described],
                "environment": environment,
            }
        )
        return
    lines = _plugin_rows(described)
    for name, value in environment.items():
        if value is not None:
            lines.append(f"{name}={','.join(value)}")
    click.echo("\n".join(lines))


# --------------------------------------------------------------------------- simulate


def _stream_params(
    _ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]
) -> dict[str, str] | None:
    params: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"expected NAME=VALUE, got {item!r}")
        params[name] = value
    return params or None


def _presses(
    _ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]
) -> tuple[tuple[str, float], ...]:
    return _parse_presses(values)


def _parse_presses(values: Sequence[str]) -> tuple[tuple[str, float], ...]:
    """``DIGITS@SECS`` (``0@3.5``): keys pressed at that call time."""
    from bwserial.testing.simulator import KEYPAD

    presses: list[tuple[str, float]] = []
    for item in values:
        digits, sep, at = item.partition("@")
        try:
            secs = float(at) if sep else math.nan
        except ValueError:
            secs = math.nan
        if not (math.isfinite(secs) and secs >= 0):
            raise click.BadParameter(f"expected DIGITS@SECONDS (e.g. 0@3.5), got {item!r}")
        if not digits or any(d not in KEYPAD for d in digits):
            raise click.BadParameter(f"keys are 0-9, * and #, got {digits!r}")
        presses.append((digits, secs))
    return tuple(presses)


@main.command()
@click.argument("url", required=False)
@click.option(
    "--wav",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The caller's audio (any WAV: rate, width and channels are converted) "
    "[default: a bundled caller speaking three turns].",
)
@click.option(
    "--webhook",
    metavar="URL",
    help="Post Bandwidth's initiate webhook here first and open the stream its BXML "
    "answer names (destination and credentials); URL is then not needed.",
)
@click.option(
    "--webhook-username",
    envvar="BWSERIAL_WEBHOOK_USERNAME",
    help="Basic-auth user of the voice application [env BWSERIAL_WEBHOOK_USERNAME].",
)
@click.option(
    "--webhook-password",
    envvar="BWSERIAL_WEBHOOK_PASSWORD",
    help="Basic-auth password of the voice application [env BWSERIAL_WEBHOOK_PASSWORD].",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write what the caller heard from the bot to this WAV.",
)
@click.option("--fast", is_flag=True, help="Send the caller's audio as fast as the bot reads it.")
@click.option(
    "--speed",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="Run the call's clock this many times faster than real time.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--username",
    envvar="BWSERIAL_STREAM_USERNAME",
    help="Basic-auth user on the upgrade (destinationUsername) [env BWSERIAL_STREAM_USERNAME].",
)
@click.option(
    "--password",
    envvar="BWSERIAL_STREAM_PASSWORD",
    help="Basic-auth password (destinationPassword) [env BWSERIAL_STREAM_PASSWORD].",
)
@click.option("--call-id", help="callId in the start message (default: a random one).")
@click.option("--account-id", default="9900000", show_default=True, help="accountId in start.")
@click.option(
    "--stream-param",
    "stream_params",
    multiple=True,
    metavar="NAME=VALUE",
    callback=_stream_params,
    help="A <StreamParam> sent in start (repeatable).",
)
@click.option("--abrupt-close", is_flag=True, help="Close the socket without a stop message.")
@click.option(
    "--linger",
    type=click.FloatRange(min=0),
    default=3.0,
    show_default=True,
    help="Seconds of line silence after the caller's audio, for the bot's last answer.",
)
@click.option(
    "--max-secs",
    type=click.FloatRange(min=0, min_open=True),
    default=300.0,
    show_default=True,
    help="Hard limit on the call (wall clock).",
)
@click.option(
    "--split-turns/--one-turn",
    default=True,
    show_default=True,
    help="Cut the WAV into caller turns at pauses, to report the bot turn by turn.",
)
@click.option("--insecure", is_flag=True, help="Do not verify the bot's TLS certificate (wss).")
@click.option(
    "--report",
    "report_html",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the call's timeline as this HTML page, and as a PNG beside it.",
)
@click.option(
    "--press",
    "presses",
    multiple=True,
    metavar="DIGITS@SECS",
    callback=_presses,
    help="Press keys at that call time, e.g. 0@3.5: one dtmf webhook per key (repeatable).",
)
@click.option(
    "--dtmf-url",
    metavar="URL",
    help="Where key presses are posted (with the webhook credentials) [default with "
    "--webhook: the dtmfUrl of the answer's <StartGather>].",
)
def simulate(
    url: str | None,
    wav: Path | None,
    webhook: str | None,
    webhook_username: str | None,
    webhook_password: str | None,
    out: Path | None,
    fast: bool,
    speed: float,
    as_json: bool,
    username: str | None,
    password: str | None,
    call_id: str | None,
    account_id: str,
    stream_params: dict[str, str] | None,
    abrupt_close: bool,
    linger: float,
    max_secs: float,
    split_turns: bool,
    insecure: bool,
    report_html: Path | None,
    presses: tuple[tuple[str, float], ...],
    dtmf_url: str | None,
) -> None:
    """Call the bot at URL (ws:// or wss://) the way Bandwidth does, and report.

    With --webhook, the call starts where Bandwidth starts it: the app's call webhook gets
    the initiate event, and the stream is opened with what its BXML answer says. With
    --press, the caller presses keys: Bandwidth's dtmf webhook, posted to --dtmf-url or
    to the <StartGather dtmfUrl> of the answer.
    """
    from bwserial.testing import sample_caller_wav
    from bwserial.testing.report import format_report, report_json
    from bwserial.testing.simulator import (
        CallScript,
        SimulatorConfig,
        SimulatorError,
        Speech,
        new_call_id,
        simulate_call,
    )
    from bwserial.testing.turns import script_from_wav
    from bwserial.testing.wav import WavFormatError
    from bwserial.testing.webhook import BxmlError, call_webhook

    if (username is None) != (password is None):
        raise click.UsageError("--username and --password go together")
    if (url is None) == (webhook is None):
        raise click.UsageError("give the stream URL or --webhook URL (one of them)")
    if out is not None and not out.parent.is_dir():
        raise click.UsageError(f"--out: directory {str(out.parent)!r} does not exist")
    if report_html is not None:
        if not report_html.parent.is_dir():
            raise click.UsageError(
                f"--report: directory {str(report_html.parent)!r} does not exist"
            )
        missing = _report_extra_missing()
        if missing is not None:
            raise click.UsageError(f"--report: {missing}")
    wav = wav if wav is not None else sample_caller_wav()
    call_id = call_id or new_call_id()
    dtmf_username = dtmf_password = None
    if dtmf_url is not None and webhook_username is not None:
        dtmf_username, dtmf_password = webhook_username, webhook_password or ""
    if webhook is not None:
        try:
            stream = asyncio.run(
                call_webhook(
                    webhook,
                    call_id=call_id,
                    account_id=account_id,
                    username=webhook_username,
                    password=webhook_password,
                    verify_tls=not insecure,
                )
            )
        except BxmlError as e:
            raise click.ClickException(f"the webhook did not start a stream: {e}") from None
        url = stream.destination
        if username is None:
            username, password = stream.username, stream.password
        if dtmf_url is None and stream.dtmf_url is not None:
            dtmf_url = stream.dtmf_url
            dtmf_username, dtmf_password = stream.dtmf_username, stream.dtmf_password
    if presses and dtmf_url is None:
        raise click.UsageError("--press needs --dtmf-url (or --webhook with <StartGather>)")
    assert url is not None
    try:
        script = script_from_wav(wav) if split_turns else CallScript.of(Speech.from_wav(wav))
        for digits, at_secs in presses:
            script = script.with_keypress(at_secs, digits)
        config = SimulatorConfig(
            dtmf_url=dtmf_url,
            dtmf_username=dtmf_username,
            dtmf_password=dtmf_password,
            call_id=call_id,
            url=url,
            account_id=account_id,
            stream_params=stream_params,
            username=username,
            password=password,
            speed=speed,
            fast=fast,
            end_with="close" if abrupt_close else "stop",
            linger_secs=linger,
            max_call_secs=max_secs,
            out_wav=out,
            verify_tls=not insecure,
            keep_audio=report_html is not None,
        )
    except (WavFormatError, ValueError) as e:
        raise click.UsageError(str(e)) from None
    expected = None if fast else script.duration_secs / speed
    try:
        report = asyncio.run(
            _with_progress(
                simulate_call(config, script),
                label=f"calling {url.split('?')[0]}",
                expected_secs=expected,
                show=_show_progress(as_json),
            )
        )
    except SimulatorError as e:
        raise click.ClickException(str(e)) from None
    timeline = _write_timeline(report, report_html) if report_html is not None else None
    if as_json:
        data = report_json(report)
        if timeline:
            data["timeline"] = timeline
        _dump_json(data)
    else:
        click.echo(format_report(report))
        if timeline:
            click.echo(f"  {'timeline':<14}{timeline['html']} (picture: {timeline['png']})")


# --------------------------------------------------------------------------- fake-api


def _scripted(
    _ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]
) -> tuple[int | str, ...]:
    answers: list[int | str] = []
    for value in values:
        if value == "hang":
            answers.append(value)
        elif value.isdigit() and 100 <= int(value) <= 599:
            answers.append(int(value))
        else:
            raise click.BadParameter(f"expected an HTTP status or 'hang', got {value!r}")
    return tuple(answers)


async def _serve_fake_api(options: dict[str, Any], scripts: dict[str, Any], as_json: bool) -> Any:
    import signal

    from bwserial.testing.fake_voice_api import HANG, FakeVoiceAPI, Response

    def responses(answers: tuple[int | str, ...]) -> list[Response]:
        retry_after = scripts["retry_after"]
        return [HANG if a == "hang" else Response(int(a), retry_after=retry_after) for a in answers]

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with FakeVoiceAPI(**options) as api:
            api.script_token(*responses(scripts["token"]))
            api.script_call(*responses(scripts["call"]))
            urls = {
                "base_url": api.base_url,
                "oauth_token_url": api.token_url,
                "voice_api_base_url": api.voice_api_base_url,
                "client_id": api.client_id,
            }
            if as_json:
                click.echo(json.dumps(urls))
            else:
                click.echo(f"Fake Bandwidth Voice API on {api.base_url} (Ctrl-C to stop)")
                click.echo(f"  oauth_token_url     {api.token_url}")
                click.echo(f"  voice_api_base_url  {api.voice_api_base_url}")
                click.echo(f"  client_id           {api.client_id}")
            sys.stdout.flush()
            await stop.wait()
            return api.requests
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


@main.command("fake-api")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=0, show_default=True, help="0: any free port."
)
@click.option("--client-id", default="client-id", show_default=True, help="Accepted client id.")
@click.option(
    "--client-secret",
    envvar="BWSERIAL_FAKE_API_CLIENT_SECRET",
    default="client-secret",
    show_default=True,
    help="Accepted client secret [env BWSERIAL_FAKE_API_CLIENT_SECRET].",
)
@click.option(
    "--latency",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Seconds every request waits before it is answered.",
)
@click.option(
    "--token-lifetime",
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds a token stays valid server-side (default: its advertised 3600).",
)
@click.option("--account-id", help="Answer 403 for every other account.")
@click.option(
    "--fail-call",
    "fail_call",
    multiple=True,
    metavar="STATUS|hang",
    callback=_scripted,
    help="Answer the next hang-up with this status, or never ('hang'); repeatable, in order.",
)
@click.option(
    "--fail-token",
    "fail_token",
    multiple=True,
    metavar="STATUS|hang",
    callback=_scripted,
    help="The same for the next token requests.",
)
@click.option(
    "--retry-after",
    type=click.FloatRange(min=0),
    help="Retry-After seconds sent with the scripted failures (429, 503).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the URLs and the requests as JSON.")
def fake_api(
    host: str,
    port: int,
    client_id: str,
    client_secret: str,
    latency: float,
    token_lifetime: float | None,
    account_id: str | None,
    fail_call: tuple[int | str, ...],
    fail_token: tuple[int | str, ...],
    retry_after: float | None,
    as_json: bool,
) -> None:
    """Run the fake Bandwidth OAuth + Voice API until Ctrl-C or SIGTERM.

    Point a bot's oauth_token_url and voice_api_base_url at the URLs it prints to try
    its hang-up without a Bandwidth account; every request is listed when it stops.
    """
    options: dict[str, Any] = {
        "client_id": client_id,
        "client_secret": client_secret,
        "host": host,
        "port": port,
        "latency": latency,
        "token_lifetime": token_lifetime,
        "account_id": account_id,
    }
    scripts = {"call": fail_call, "token": fail_token, "retry_after": retry_after}
    try:
        requests = asyncio.run(_serve_fake_api(options, scripts, as_json))
    except OSError as e:
        raise click.ClickException(f"cannot listen on {host}:{port}: {e}") from None
    rows = [
        {"kind": r.kind, "path": r.path, "status": r.status, "call_id": r.call_id} for r in requests
    ]
    if as_json:
        click.echo(json.dumps({"requests": rows}))
        return
    click.echo(f"{len(rows)} request(s)")
    for row in rows:
        click.echo(f"  {row['kind']:<6}{row['status'] or '-'!s:<5}{row['path']}")


# --------------------------------------------------------------------------- demo


def _format_demo(result: Any) -> str:
    from bwserial.testing.report import format_report

    lines = [format_report(result.report), "", "Bot (server side)"]
    bot = result.bot
    if bot is None:
        lines.append("  no record: the bot's pipeline did not end")
    else:
        lines.append(
            f"  {bot.answers} answer(s), {bot.interruptions} interruption(s), "
            f"ended: {bot.end_reason}; hang-up {bot.hangup_outcome} (HTTP {bot.hangup_status})"
        )
        if bot.digits or bot.transfer_to:
            keys = ", ".join(
                f"{k.digit} at {k.at_secs:.2f} s (HTTP {k.status})"
                for k in result.report.keypresses
            )
            lines.append(f"  digits received: {bot.digits or 'none'} (pressed: {keys or 'none'})")
        if bot.transfer_to:
            lines.append(f"  transfer requested to {bot.transfer_to}")
        if bot.claimed_call_id != bot.call_id:
            lines.append(f"  start message claimed call {bot.claimed_call_id} (ignored)")
    lines.append("")
    lines.append("Checks")
    for check in result.checks:
        lines.append(f"  [{'ok' if check.ok else 'FAIL'}] {check.name}: {check.detail}")
    lines.append("")
    lines.append("Result: " + ("OK, the call completed" if result.ok else "FAILED"))
    return "\n".join(lines)


async def _demo_fleet(workers: int, registry_url: str | None, options: dict[str, Any]) -> Any:
    from bwserial.demo.fleet import FleetError, run_fleet_demo

    try:
        return await run_fleet_demo(workers=workers, registry_url=registry_url, **options)
    except FleetError as e:
        raise click.ClickException(str(e)) from None


@main.command()
@click.option(
    "--turns",
    type=click.IntRange(1, 3),
    default=3,
    show_default=True,
    help="Caller turns the bot answers before it hangs up (the caller speaks 3).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write what the caller heard from the bot to this WAV (default: a new temp folder).",
)
@click.option(
    "--report",
    "report_html",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="The call's timeline page (default: beside the WAV); a PNG is written beside it.",
)
@click.option("--no-report", is_flag=True, help="Do not draw the call's timeline.")
@click.option(
    "--press",
    metavar="DIGITS[@SECS]",
    help="The caller presses keys (one dtmf webhook each), by default while the bot "
    "answers the first turn; 0 asks the bot to transfer the call to a person.",
)
@click.option(
    "--outbound",
    is_flag=True,
    help="The bot places the call (the Voice API's create-call) instead of answering one.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 16),
    default=1,
    show_default=True,
    help="Serve the bot from this many uvicorn processes sharing a Redis call registry "
    "(needs bwserial-redis); the call's digits are posted to a worker that does not hold it.",
)
@click.option(
    "--registry-url",
    metavar="URL",
    envvar="BWSERIAL_CALL_REGISTRY_URL",
    help="With --workers: the Redis the workers share (default: a redis-server started "
    "on a free loopback port for the run).",
)
def demo(
    turns: int,
    as_json: bool,
    out: Path | None,
    report_html: Path | None,
    no_report: bool,
    press: str | None,
    outbound: bool,
    workers: int,
    registry_url: str | None,
) -> None:
    """Place a simulated phone call to the demo bot, offline, and report it.

    Starts a fake Bandwidth Voice API and the demo bot (FastAPI + Pipecat, Silero VAD)
    on free ports on 127.0.0.1, plays Bandwidth's webhook and media stream with a
    recorded caller who interrupts the bot once, and checks that the bot's audio, the
    clear and the hang-up all happened. Exit status 1 when any check fails. Then it
    draws the call: an HTML page (audio of both sides inside) and a PNG of its timeline,
    beside the WAV, and says where they are.

    With --workers N (2 or more) the bot runs in N processes and the checks show the
    keypad digits crossing from the worker that received them to the one holding the call.
    """
    try:
        from bwserial.demo.run import run_demo
    except ImportError as e:
        raise click.ClickException(
            f"the demo needs the 'demo' extra ({e.name} is missing): pip install 'bwserial[demo]'"
        ) from None

    from bwserial.testing.simulator import SimulatorError
    from bwserial.testing.webhook import BxmlError

    press_at: float | None = None
    if press is not None:
        timed = "@" in press
        try:
            ((press, at_secs),) = _parse_presses((press if timed else f"{press}@0",))
        except click.BadParameter as e:
            raise click.BadParameter(e.message, param_hint="--press") from None
        press_at = at_secs if timed else None
    for option, path in (("--out", out), ("--report", report_html)):
        if path is not None and not path.parent.is_dir():
            raise click.UsageError(f"{option}: directory {str(path.parent)!r} does not exist")
    if workers > 1:
        from bwserial.demo.fleet import redis_plugin_missing

        plugin_missing = redis_plugin_missing()
        if plugin_missing is not None:
            raise click.UsageError(plugin_missing)
    missing = None if no_report else _report_extra_missing()
    draw = not no_report and missing is None
    if out is None and draw:
        out = Path(tempfile.mkdtemp(prefix="bwserial-demo-")) / "call.wav"
    call_options: dict[str, Any] = {
        "turns": turns,
        "out_wav": out,
        "keep_audio": draw,
        "press": press,
        "press_at_secs": press_at,
        "outbound": outbound,
    }
    try:
        result = asyncio.run(
            _with_progress(
                _demo_fleet(workers, registry_url, call_options)
                if workers > 1
                else run_demo(**call_options),
                label="demo call" if workers == 1 else f"demo call, {workers} workers",
                expected_secs=None,
                show=_show_progress(as_json),
            )
        )
    except (SimulatorError, BxmlError, OSError) as e:
        raise click.ClickException(f"the demo call could not be placed: {e}") from None
    files: dict[str, str] = {"wav": str(out)} if out is not None else {}
    if draw and out is not None:
        html = report_html or out.with_suffix(".html")
        files.update(_write_timeline(result.report, html, title="bwserial demo call"))
    if as_json:
        _dump_json({**result.to_dict(), "files": files})
    else:
        click.echo(_format_demo(result))
        if files:
            click.echo("")
            click.echo("Files")
            for label, key in (("call audio", "wav"), ("timeline", "html"), ("picture", "png")):
                if key in files:
                    click.echo(f"  {label:<14}{files[key]}")
            if "html" in files:
                click.echo("  open the timeline in a browser to see and hear the call")
    if missing is not None:
        click.echo(f"note: no timeline drawn: {missing}", err=True)
    if not result.ok:
        sys.exit(1)
