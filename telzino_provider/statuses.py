"""Outbound call statuses, in lifecycle order."""

from __future__ import annotations

from enum import Enum


class CallStatus(str, Enum):
    """The nine documented outbound-call statuses."""

    QUEUED = "queued"
    DISPATCHING = "dispatching"
    DISPATCHED = "dispatched"
    DIALING = "dialing"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    FAILED = "failed"

    @property
    def is_terminal(self) -> bool:
        """True once the call record is final and will not change status again."""
        return self in TERMINAL_STATUSES

    @classmethod
    def parse(cls, value: object) -> CallStatus | None:
        """The status for ``value``, or None for a string this version does not know.

        Unknown statuses are treated as not terminal, so a new server status never ends a wait early.
        """
        try:
            return cls(value)
        except ValueError:
            return None

    def __str__(self) -> str:
        return self.value


TERMINAL_STATUSES = frozenset(
    {CallStatus.COMPLETED, CallStatus.NO_ANSWER, CallStatus.BUSY, CallStatus.FAILED}
)
