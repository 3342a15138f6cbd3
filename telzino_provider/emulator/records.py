"""One outbound call: its scripted lifecycle and its JSON renderings.

A call's whole future is fixed when it is created: the dialled number's last four digits choose the
outcome, and the status at any instant is a pure function of the emulated time elapsed since
``created_at`` (seconds):

=============  ========================================================================
queued         [0, 1)
dispatching    [1, 2)
dispatched     [2, 4)
dialing        from 4, until the outcome below
completed      answered at +10, ``in_progress`` [10, 10+duration), ``completed`` from 10+duration
no_answer      dialing until +49 (a 45 s ring), then ``no_answer`` (SIP 480)
busy           dialing [4, 6), then ``busy`` (SIP 486)
failed         dialing [4, 5), then ``failed`` (SIP 503 or 404, with ``error``)
=============  ========================================================================

Once the terminal instant has passed nothing changes any more, so the final renderings are built
once and cached; that is what keeps listing 100,000 calls cheap.
"""

from __future__ import annotations

from typing import Any

from telzino_provider.emulator import content
from telzino_provider.emulator.timefmt import US_PER_S, fmt_call, fmt_log, fmt_opt

#: A number to dial for each outcome (the emulator decides by the last four digits).
OUTCOME_NUMBERS = {
    "completed": "+18135550100",
    "no_answer": "+18135550480",
    "busy": "+18135550486",
    "failed": "+18135550503",
}

STATUSES = (
    "queued",
    "dispatching",
    "dispatched",
    "dialing",
    "in_progress",
    "completed",
    "no_answer",
    "busy",
    "failed",
)
TERMINAL_STATUSES = frozenset({"completed", "no_answer", "busy", "failed"})

# last 4 digits -> (outcome, sip_status_code, error)
_SPECIAL_SUFFIXES: dict[str, tuple[str, int, str | None]] = {
    "0480": ("no_answer", 480, None),
    "0486": ("busy", 486, None),
    "0503": ("failed", 503, "Carrier unavailable (SIP 503)"),
    "0404": ("failed", 404, "Number not reachable (SIP 404)"),
}
SPECIAL_SUFFIXES = frozenset(_SPECIAL_SUFFIXES)

_DISPATCHING_AT = 1 * US_PER_S
_DISPATCHED_AT = 2 * US_PER_S
_DIALING_AT = 4 * US_PER_S
_ANSWER_AT = 10 * US_PER_S
_END_AT = {"no_answer": 49 * US_PER_S, "busy": 6 * US_PER_S, "failed": 5 * US_PER_S}

_CONTAINERS = (dict, list)

#: Fields of list items (spec 7.4's example omits call_context, callback_*, summary_text).
LIST_FIELDS = (
    "id",
    "agent_id",
    "to_number",
    "status",
    "request_metadata",
    "transcript_id",
    "created_at",
    "answered_at",
    "ended_at",
    "duration",
    "error",
    "sip_status_code",
)


def outcome_for(to_number: str) -> tuple[str, int | None, str | None]:
    """(outcome, sip_status_code, error) for a dialled number."""
    return _SPECIAL_SUFFIXES.get(to_number[-4:], ("completed", None, None))


def default_duration(call_id: str) -> int:
    """Talk time in seconds, 30..300, derived from the call id so it is reproducible."""
    return 30 + int(call_id[:8], 16) % 271


def copy_json(value: Any) -> Any:
    """Deep copy of JSON data (dicts, lists, scalars); several times faster than ``copy.deepcopy``."""
    if isinstance(value, dict):
        return {k: copy_json(item) if isinstance(item, _CONTAINERS) else item for k, item in value.items()}
    if isinstance(value, list):
        return [copy_json(item) if isinstance(item, _CONTAINERS) else item for item in value]
    return value


def room_name(agent_id: str, call_id: str) -> str:
    return f"agent-{agent_id}-out-{call_id}"


class Call:
    """An outbound call. Immutable after creation except for its lazily built caches."""

    __slots__ = (
        "id",
        "agent_id",
        "to_number",
        "call_context",
        "metadata",
        "callback_url",
        "outcome",
        "sip_status_code",
        "error",
        "duration",
        "created_us",
        "answered_us",
        "end_us",
        "transcript_id",
        "key",
        "log_key",
        "_created_at",
        "_final",
        "_final_item",
        "_log",
    )

    def __init__(
        self,
        *,
        call_id: str,
        agent_id: str,
        to_number: str,
        created_us: int,
        transcript_id: str,
        call_context: str | None = None,
        metadata: dict[str, Any] | None = None,
        callback_url: str | None = None,
        duration: int | None = None,
    ) -> None:
        self.id = call_id
        self.agent_id = agent_id
        self.to_number = to_number
        self.call_context = call_context
        self.metadata = metadata
        self.callback_url = callback_url
        self.outcome, self.sip_status_code, self.error = outcome_for(to_number)
        self.created_us = created_us
        self.transcript_id = transcript_id
        if self.outcome == "completed":
            self.duration: int | None = default_duration(call_id) if duration is None else duration
            self.answered_us: int | None = created_us + _ANSWER_AT
            self.end_us = self.answered_us + self.duration * US_PER_S
        else:
            self.duration = None
            self.answered_us = None
            self.end_us = created_us + _END_AT[self.outcome]
        self.key = (created_us, call_id)  # list order: newest first = this key descending
        self.log_key = (self.end_us, call_id)
        self._created_at = fmt_call(created_us)
        self._final: dict[str, Any] | None = None
        self._final_item: dict[str, Any] | None = None
        self._log: dict[str, Any] | None = None

    @property
    def room_name(self) -> str:
        return room_name(self.agent_id, self.id)

    @property
    def created_at(self) -> str:
        return self._created_at

    def status_at(self, now_us: int) -> str:
        """Lifecycle status at an emulated instant (calls created in the future read as queued)."""
        if now_us >= self.end_us:
            return self.outcome
        elapsed = now_us - self.created_us
        if elapsed < _DISPATCHING_AT:
            return "queued"
        if elapsed < _DISPATCHED_AT:
            return "dispatching"
        if elapsed < _DIALING_AT:
            return "dispatched"
        if self.answered_us is not None and now_us >= self.answered_us:
            return "in_progress"
        return "dialing"

    def record(self, now_us: int) -> dict[str, Any]:
        """The GET-shaped record (spec 7.3). Cached once terminal: callers must not mutate it."""
        if now_us >= self.end_us:
            if self._final is None:
                self._final = self._build(self.outcome, final=True)
            return self._final
        return self._build(self.status_at(now_us), final=False)

    def fresh_record(self, now_us: int) -> dict[str, Any]:
        """Like :meth:`record` but uncached and safe to hand out (metadata copied)."""
        final = now_us >= self.end_us
        record = self._build(self.outcome if final else self.status_at(now_us), final=final)
        if self.metadata is not None:
            record["request_metadata"] = copy_json(self.metadata)
        return record

    def list_item(self, now_us: int) -> dict[str, Any]:
        """The list-item shape (spec 7.4): the record without the fields the example omits."""
        if now_us >= self.end_us:
            if self._final_item is None:
                final = self.record(now_us)
                self._final_item = {name: final[name] for name in LIST_FIELDS}
            return self._final_item
        live = self._build(self.status_at(now_us), final=False)
        return {name: live[name] for name in LIST_FIELDS}

    def call_log(self) -> dict[str, Any]:
        """The call-log object (spec 8) of a completed call; cached."""
        if self._log is None:
            self._log = self._build_log()
        return self._log

    def _build(self, status: str, *, final: bool) -> dict[str, Any]:
        if final:
            return self._build_final()
        return {
            "id": self.id,
            "agent_id": self.agent_id,
            "to_number": self.to_number,
            "status": status,
            "call_context": self.call_context,
            "request_metadata": self.metadata,
            "callback_url": self.callback_url,
            "callback_delivered": None,
            "transcript_id": None,
            "summary_text": None,
            "error": None,
            "sip_status_code": None,
            "created_at": self._created_at,
            # Set from the moment the callee answers, as a live record would show it.
            "answered_at": fmt_opt(self.answered_us) if status == "in_progress" else None,
            "ended_at": None,
            "duration": None,
        }

    def _build_final(self) -> dict[str, Any]:
        completed = self.outcome == "completed"
        return {
            "id": self.id,
            "agent_id": self.agent_id,
            "to_number": self.to_number,
            "status": self.outcome,
            "call_context": self.call_context,
            "request_metadata": self.metadata,
            "callback_url": self.callback_url,
            # The emulator has no network and never posts webhooks, so delivery is always false.
            "callback_delivered": False,
            "transcript_id": self.transcript_id if completed else None,
            "summary_text": self._summary() if completed else None,
            "error": self.error,
            "sip_status_code": self.sip_status_code,
            "created_at": self._created_at,
            "answered_at": fmt_opt(self.answered_us),
            "ended_at": fmt_call(self.end_us),
            "duration": self.duration,
        }

    def _summary(self) -> str:
        assert self.duration is not None
        return content.summary_text(self.id, self.to_number, self.call_context, self.duration)

    def _build_log(self) -> dict[str, Any]:
        assert self.duration is not None and self.answered_us is not None
        entries = content.transcript(self.call_context, self.duration)
        room = self.room_name
        ended = fmt_log(self.end_us)
        return {
            "id": self.transcript_id,
            "agent_id": self.agent_id,
            "room_name": room,
            "transcript_text": content.transcript_text(entries),
            "transcript_json": entries,
            "entry_count": len(entries),
            "summary_text": self._summary(),
            "call_duration": self.duration,
            "call_started_at": fmt_log(self.answered_us),
            "call_ended_at": ended,
            "session_data": {
                "room_name": room,
                "agent_id": self.agent_id,
                "total_entries": len(entries),
                "final_entries": len(entries),
                "caller_id": self.to_number,
            },
            "created_at": ended,
            "updated_at": ended,
        }
