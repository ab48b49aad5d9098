"""The demo's outbound call: the bot places it through the Voice API's create-call, the
fake API posts the ``answer`` webhook to the demo app, and the BXML it returns starts the
stream the simulated callee talks on."""

from __future__ import annotations

from click.testing import CliRunner

from bwserial.cli import main
from bwserial.demo.run import DEMO_CALLEE_NUMBER, run_demo


async def test_the_bot_places_the_call_and_it_runs_like_an_inbound_one() -> None:
    result = await run_demo(turns=1, outbound=True)
    checks = {check.name: check for check in result.checks}
    assert result.ok, result.checks
    assert checks["outbound"].ok and DEMO_CALLEE_NUMBER in checks["outbound"].detail
    # The call id is the one create-call returned, and the hang-up addressed it.
    assert result.report.call_id.startswith("c-")
    assert checks["trusted call id"].ok
    assert result.bot is not None and result.bot.answers == 1
    assert result.report.hangup is not None and result.report.hangup["received"]


def test_demo_outbound_flag_runs_the_outbound_call() -> None:
    outcome = CliRunner().invoke(main, ["demo", "--outbound", "--turns", "1", "--no-report"])
    assert outcome.exit_code == 0, outcome.output
    assert "[ok] outbound" in outcome.output
