"""One deadline budget per hang-up: how much of it the play-out wait may take.

``hangup_timeout_secs`` bounds the whole hang-up, the wait for the goodbye to
finish playing included. Before this budget existed the wait could take all of
it, so a long goodbye and a short deadline sent no request at all and left the
phone call up. The budget reserves a share for the requests that no play-out
wait may take: ``hangup_min_request_secs`` (default: half the deadline, at most
2 s).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Final

__all__ = [
    "DEFAULT_MIN_REQUEST_SECS",
    "GRACE_SECS",
    "DeadlineBudget",
    "default_min_request_secs",
]

DEFAULT_MIN_REQUEST_SECS: Final = 2.0
"""The request share when none is configured (or half the deadline, if smaller):
enough for a token request, a call update and one retry on a healthy network."""

GRACE_SECS: Final = 0.5
"""How long past the deadline a strategy that ignores it is waited for before the
serializer stops waiting and reports a failure."""


def default_min_request_secs(timeout_secs: float) -> float:
    """The request share for a deadline when ``hangup_min_request_secs`` is unset."""
    return min(DEFAULT_MIN_REQUEST_SECS, timeout_secs / 2)


_budgets: dict[tuple[object, float, float, float | None], DeadlineBudget] = {}


@dataclass(frozen=True, slots=True)
class DeadlineBudget:
    """The split of one hang-up deadline between the play-out wait and the requests.

    Raises:
        ValueError: a configuration in which the requests could get no time (the
            message names the fields to change).
    """

    timeout_secs: float
    """The whole hang-up: play-out wait plus every request and retry."""
    playout_cap_secs: float
    """The longest play-out wait (``hangup_playout_wait_secs``)."""
    min_request_secs: float
    """The share no play-out wait may take (``hangup_min_request_secs``)."""

    def __post_init__(self) -> None:
        if not self.timeout_secs > 0:
            raise ValueError(f"hangup_timeout_secs must be positive, got {self.timeout_secs}")
        if not 0 < self.min_request_secs <= self.timeout_secs:
            raise ValueError(
                f"hangup_min_request_secs ({self.min_request_secs}) must be positive and at "
                f"most hangup_timeout_secs ({self.timeout_secs}): the requests that end the "
                "call need a share of the deadline that the play-out wait cannot take"
            )
        if self.playout_cap_secs < 0:
            raise ValueError(
                f"hangup_playout_wait_secs must not be negative, got {self.playout_cap_secs}"
            )

    @classmethod
    def of(
        cls, timeout_secs: float, playout_cap_secs: float, min_request_secs: float | None
    ) -> DeadlineBudget:
        """The budget for a configuration; ``None`` picks :func:`default_min_request_secs`.

        Budgets are immutable and every call of an app has the same few: they are
        built once per configuration (the serializer and its strategies each ask).
        """
        key = (cls, timeout_secs, playout_cap_secs, min_request_secs)
        budget = _budgets.get(key)
        if budget is None:
            if min_request_secs is None:
                min_request_secs = default_min_request_secs(timeout_secs)
            budget = cls(timeout_secs, playout_cap_secs, min_request_secs)
            if len(_budgets) < 64:
                _budgets[key] = budget
        return budget

    @property
    def max_playout_wait_secs(self) -> float:
        """The longest the play-out wait may last: its cap, or what the requests leave."""
        return max(0.0, min(self.playout_cap_secs, self.timeout_secs - self.min_request_secs))

    def playout_wait(self, remaining_secs: float) -> float:
        """How long to wait for ``remaining_secs`` of audio still playing (0 if nothing)."""
        if not remaining_secs > 0:  # also NaN
            return 0.0
        return min(remaining_secs, self.max_playout_wait_secs)

    def deadline(self, started: float | None = None) -> float:
        """The ``time.monotonic()`` by which the hang-up begun at ``started`` must end."""
        return (time.monotonic() if started is None else started) + self.timeout_secs
