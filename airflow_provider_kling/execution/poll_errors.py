"""The error budget of one wait: which failed status checks count, and when a wait gives up."""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from typing import Any

from airflow_provider_kling.exceptions import (
    KlingAPIError,
    KlingConcurrencyLimitError,
    KlingPermanentError,
    KlingRateLimitError,
    fails_without_retry,
    is_not_found,
)
from airflow_provider_kling.execution.events import WaitOutcome

# Consecutive failed rounds tolerated (each already retried by the hook) before giving up.
MAX_CONSECUTIVE_ERRORS = 5


def is_throttle(outcome: object) -> bool:
    """Kling's "slow down" answers: rate limit (1302) and parallel-task limit (1303)."""
    return isinstance(outcome, (KlingRateLimitError, KlingConcurrencyLimitError))


class PollError(enum.Enum):
    """What one failed status check means for a wait."""

    UNKNOWN_ID = "unknown id"  # Kling does not know the id (yet)
    THROTTLED = "throttled"  # 1302/1303: Kling asks to slow down; not a failed check
    # The status check failed (not the Kling task): counts against MAX_CONSECUTIVE_ERRORS.
    CHECK_FAILED = "check failed"
    FATAL = "fatal"  # Kling refused the check for good (auth, account, ...): stop now


def classify_poll_error(error: BaseException) -> PollError:
    if is_not_found(error):
        return PollError.UNKNOWN_ID
    if is_throttle(error):
        return PollError.THROTTLED
    if isinstance(error, KlingAPIError) and not error.transient:
        return PollError.FATAL
    if isinstance(error, KlingPermanentError):  # e.g. a JWT connection for a new-design task
        return PollError.FATAL
    return PollError.CHECK_FAILED


@dataclass(slots=True)
class PollErrors:
    """Failed status checks of one wait: the one error budget of pokes and triggers alike.

    ``wait_for_unknown``: an id Kling does not know (yet) is waited for, as a sensor does,
    instead of counting as a failed check.
    """

    ident: str
    wait_for_unknown: bool = False
    in_a_row: int = 0
    told_unknown: bool = False

    def succeeded(self) -> None:
        self.in_a_row = 0

    def state(self) -> dict[str, Any]:
        """What a wait that runs in several processes (a rescheduled sensor) carries between them."""
        return {"in_a_row": self.in_a_row, "told_unknown": self.told_unknown}

    def restore(self, state: Any) -> None:
        """Continue from a ``state()`` saved by an earlier process; anything unreadable starts afresh."""
        if not isinstance(state, dict):
            return
        in_a_row, told = state.get("in_a_row"), state.get("told_unknown")
        if isinstance(in_a_row, int) and not isinstance(in_a_row, bool) and in_a_row >= 0:
            self.in_a_row = in_a_row
        if isinstance(told, bool):
            self.told_unknown = told

    def record(self, error: BaseException, log: logging.Logger | Any) -> WaitOutcome | None:
        """``None``: keep waiting. Otherwise the wait gives up with this outcome."""
        verdict = classify_poll_error(error)
        if verdict is PollError.UNKNOWN_ID and self.wait_for_unknown:
            self.in_a_row = 0
            if not self.told_unknown:
                log.info("Kling does not know task %s yet", self.ident)
                self.told_unknown = True
            return None
        if verdict is PollError.THROTTLED:
            # Kling asks us to slow down (the batched poller does); the deadline still bounds the wait.
            log.info("Kling asks to slow down (%s); polling task %s less often", error, self.ident)
            return None
        self.in_a_row += 1
        if verdict is PollError.FATAL:
            # A generic API error (unknown code) stops the wait, but an Airflow retry may still help.
            return WaitOutcome.gave_up(self.ident, error, transient=not fails_without_retry(error))
        if self.in_a_row >= MAX_CONSECUTIVE_ERRORS:
            # Network-ish trouble: an Airflow retry re-attaches and may well succeed.
            return WaitOutcome.gave_up(self.ident, error, transient=True)
        log.warning(
            "Checking Kling task %s failed (%d/%d): %s",
            self.ident,
            self.in_a_row,
            MAX_CONSECUTIVE_ERRORS,
            error,
        )
        return None
