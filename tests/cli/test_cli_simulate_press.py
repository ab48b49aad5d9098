"""``bwserial simulate --press``: a bad key spec or no place to post keys is a usage error."""

from __future__ import annotations

from click.testing import CliRunner

from bwserial.cli import main


def test_press_needs_a_dtmf_url() -> None:
    result = CliRunner().invoke(main, ["simulate", "ws://127.0.0.1:9/ws", "--press", "0@1"])
    assert result.exit_code == 2
    assert "--press needs --dtmf-url" in result.output


def test_press_needs_digits_and_a_time() -> None:
    for spec, message in (("0", "DIGITS@SECONDS"), ("0@-1", "DIGITS@SECONDS"), ("x@1", "0-9")):
        result = CliRunner().invoke(main, ["simulate", "ws://127.0.0.1:9/ws", "--press", spec])
        assert result.exit_code == 2, spec
        assert message in result.output, (spec, result.output)
