"""One ID rule (bwserial.ids), used by the token, the webhook and (soon) the serializer."""

from __future__ import annotations

import pytest

from bwserial.ids import MAX_ID_CHARS, check_id, is_bandwidth_id
from bwserial.runner import InvalidCallEvent, parse_call_event, sign_stream_token

GOOD = [
    "c-15ac29a2-1331029c-2cb0-4a07-b215-b22865662d85",
    "9900000",
    "a.b_c~d-e",
    "x" * MAX_ID_CHARS,
]
BAD = ["", ".", "..", "c/1", "c?x", "c#x", "c%2F", "c 1", "ç", "c\n1", "x" * (MAX_ID_CHARS + 1)]


@pytest.mark.parametrize("value", GOOD)
def test_bandwidth_shaped_ids_pass(value: str) -> None:
    assert is_bandwidth_id(value)
    check_id(value, "call_id")


@pytest.mark.parametrize("value", BAD)
def test_anything_that_could_move_the_url_is_refused(value: str) -> None:
    assert not is_bandwidth_id(value)
    with pytest.raises(ValueError, match="call_id") as caught:
        check_id(value, "call_id")
    assert "\n" not in str(caught.value)  # a control character cannot forge a log line


def test_none_passes_and_non_strings_are_named() -> None:
    check_id(None, "account_id")
    with pytest.raises(ValueError, match="account_id must be a string, got int"):
        check_id(42, "account_id")


@pytest.mark.parametrize("value", BAD)
def test_the_token_and_the_webhook_apply_the_same_rule(value: str) -> None:
    with pytest.raises(ValueError, match="call_id"):
        sign_stream_token("s" * 32, value, "9900000", 60)
    with pytest.raises(InvalidCallEvent, match="callId"):
        parse_call_event({"eventType": "initiate", "callId": value, "accountId": "9900000"})
