"""One deadline budget: the play-out wait never takes the requests' share."""

from __future__ import annotations

import pytest

from bwserial.call.budget import DeadlineBudget, default_min_request_secs


def test_the_play_out_wait_leaves_the_request_share() -> None:
    budget = DeadlineBudget.of(2.0, 3.0, None)  # the case: 2 s deadline, 3 s cap
    assert budget.min_request_secs == 1.0
    assert budget.playout_wait(3.0) == 1.0


def test_short_goodbyes_are_waited_for_in_full() -> None:
    budget = DeadlineBudget.of(10.0, 3.0, None)
    assert budget.playout_wait(1.2) == 1.2
    assert budget.playout_wait(5.0) == 3.0  # the cap
    assert budget.playout_wait(0.0) == 0.0
    assert budget.playout_wait(float("nan")) == 0.0
    assert budget.playout_wait(-1.0) == 0.0


def test_an_explicit_request_share_is_honoured() -> None:
    budget = DeadlineBudget.of(5.0, 3.0, 4.5)
    assert budget.playout_wait(3.0) == pytest.approx(0.5)


def test_the_default_share_is_half_the_deadline_at_most_two_seconds() -> None:
    assert default_min_request_secs(10.0) == 2.0
    assert default_min_request_secs(1.0) == 0.5


def test_a_share_above_the_deadline_is_refused_naming_both_fields() -> None:
    with pytest.raises(ValueError, match="hangup_min_request_secs") as info:
        DeadlineBudget.of(2.0, 1.0, 2.5)
    assert "hangup_timeout_secs" in str(info.value)


def test_the_deadline_is_counted_from_the_trigger() -> None:
    assert DeadlineBudget.of(2.0, 1.0, None).deadline(100.0) == 102.0
