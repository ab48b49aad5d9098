"""Every signature docs/ shows matches ``inspect.signature`` of the real object.

The rules for what counts as a signature live in ``doc_signatures.py``. A doc that shows
a wrong constructor, function or method (a missing parameter, a renamed one, a wrong
default, an override that cannot take the arguments the library passes) fails here.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from doc_signatures import DOC_FILES, Shown, check_signature, overrides_in, signatures_in
from test_docs_examples import parse_blocks


def _all() -> list[Shown]:
    found: list[Shown] = []
    for path in DOC_FILES:
        if not path.exists():
            continue
        found += signatures_in(path)
        python = [(b.line, b.code) for b in parse_blocks(path) if b.lang in ("python", "py")]
        found += overrides_in(path, python)
    return found


SHOWN = _all()


def _params() -> list[object]:
    params: list[object] = []
    for shown in SHOWN:
        params.append(pytest.param(shown, id=f"{shown.where}:{shown.owner}.{shown.name}"))
    return params


def test_the_docs_show_signatures_of_every_kind() -> None:
    kinds = {(s.where.split(":")[0], s.kind) for s in SHOWN}
    assert {
        ("configuration.md", "signature"),
        ("plugins.md", "signature"),
        ("plugins.md", "field"),
        ("plugins.md", "override"),
        ("testing.md", "signature"),
        ("testing.md", "field"),
    } <= kinds


@pytest.mark.parametrize("shown", _params())
def test_documented_signature_matches_the_code(shown: Shown) -> None:
    problem = check_signature(shown)
    assert problem is None, f"{shown}\n  {problem}"


# ------------------------------------------------- the checker catches what it must


def _problems(markdown: str, tmp_path: Path, python: str | None = None) -> list[str]:
    path = tmp_path / "synthetic.md"
    path.write_text(markdown, encoding="utf-8")
    shown = signatures_in(path)
    if python is not None:
        shown += overrides_in(path, [(1, python)])
    assert shown, "the synthetic doc shows no signature"
    return [p for s in shown if (p := check_signature(s)) is not None]


SIDECAR = """
from bwserial.voiceapi import VoiceApiHangup


class SidecarTokenHangup(VoiceApiHangup):
    def invalidate_token(self{params}) -> None:
        pass
"""


def test_an_override_that_drops_an_argument_fails(tmp_path: Path) -> None:
    [problem] = _problems("", tmp_path, SIDECAR.format(params=""))
    assert "invalidate_token" in problem and "token" in problem


@pytest.mark.parametrize("params", [", token", ", token: str", ", *args", ", token, extra=None"])
def test_an_override_that_takes_the_call_passes(tmp_path: Path, params: str) -> None:
    assert _problems("", tmp_path, SIDECAR.format(params=params)) == []


@pytest.mark.parametrize(
    ("line", "complaint"),
    [
        ("`FakeVoiceAPI(client_id, client_secret, ...)`", "client_id has a default"),
        (
            '`FakeVoiceAPI(client_id="client-id", client_secret="client-secret", port=0, ...)`',
            "documented",
        ),  # port is keyword-only: the doc lost the `*`
        ('`FakeVoiceAPI(client_id="x", ...)`', "defaults to 'client-id', not 'x'"),
        ("`bwserial.testing.messages.media(payload, seq=1)`", "documented"),
        ("`simulate_call(config, script, hangup=None)`", "documented"),
        ("`no_such_function(x)`", "not found"),
    ],
)
def test_a_wrong_signature_line_fails(tmp_path: Path, line: str, complaint: str) -> None:
    [problem] = _problems(f"Some text.\n\n{line}\n", tmp_path)
    assert complaint in problem


def test_a_wrong_method_or_field_in_a_member_table_fails(tmp_path: Path) -> None:
    doc = """
### `FakeVoiceAPI`

| member | meaning |
|---|---|
| `wait_for_hangup(call_id=None, *, timeout=5.0)` | right |
| `wait_for_hangup(timeout=5.0)` | wrong: call_id is missing |
| `script_call(*responses)` | right |
| `token_url` | right |
| `token_uri` | wrong: no such attribute |
"""
    problems = _problems(doc, tmp_path)
    assert len(problems) == 2
    assert "wait_for_hangup" in problems[0] and "token_uri" in problems[1]


def test_right_signature_lines_pass(tmp_path: Path) -> None:
    doc = """
`simulate_call(config, script, *, hangup=None, transfer=None)`

- `bwserial.testing.messages.stop(stream_id="stream-1", call_id="c-abc") -> str`

```python
`this_is_in_a_code_block(and_not_checked)`
```
"""
    assert _problems(doc, tmp_path) == []
