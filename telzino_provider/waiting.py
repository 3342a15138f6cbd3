"""The one place that decides "done / failed / keep waiting", for every way of waiting.

Sensors in poke and reschedule mode call :func:`poll_until_answered` from ``poke()``; the create
operator polls on the worker with :func:`wait_on_worker`; triggers run :func:`wait_in_trigger`, which
runs the same look in a worker thread (:func:`~telzino_provider.version_compat.run_blocking`). All of
them count transient errors with one :class:`ErrorBudget` and look through the same :func:`poll_step`
(the same sync hook methods). Each of them
turns its result into an *event*, and :func:`resolve_event` turns an event into the task's result or
exception, so every mode ends in the same XCom or the same error.

Event shape (plain JSON)::

    {"status": "success", "message": str, "call": {...}}        # call trigger
    {"status": "success", "message": str, "calls": [{...}, ...]} # completed-calls trigger
    {"status": "failure", "message": str, "call": {...}}        # the call ended in a failure status
    {"status": "timeout", "message": str}                       # the deadline passed
    {"status": "error",   "message": str}                       # a non-transient error, or too many
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Literal

from telzino_provider.event_records import CALL, CALLS, IDS
from telzino_provider.exceptions import MAX_ERROR_CHARS, TelzinoApiError, TelzinoValidationError, quoted
from telzino_provider.redaction import mask_phone
from telzino_provider.statuses import CallStatus
from telzino_provider.transport.retry import retries_until
from telzino_provider.validation import require_statuses
from telzino_provider.version_compat import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    run_blocking,
)
from telzino_provider.windows import CallWindow, list_window, trim

if TYPE_CHECKING:
    from telzino_provider.hooks.telzino import TelzinoHook

log = logging.getLogger(__name__)

SUCCESS = "success"
FAILURE = "failure"
TIMEOUT = "timeout"
ERROR = "error"
EVENT_STATUSES = frozenset({SUCCESS, FAILURE, TIMEOUT, ERROR})

#: Consecutive transient failures (each already retried by the transport) tolerated before giving up.
DEFAULT_MAX_CONSECUTIVE_ERRORS = 5

#: How much longer than the trigger's own deadline the task's defer timeout is, so that the trigger's
#: timeout event (which honours soft_fail and says what timed out) normally arrives first.
DEFER_GRACE = timedelta(minutes=5)

DEFAULT_SUCCESS = ("completed",)
DEFAULT_FAILURE = ("no_answer", "busy", "failed")

Event = dict[str, Any]


def require_outcome_statuses(
    success_statuses: str | Collection[str], failure_statuses: str | Collection[str]
) -> tuple[list[str], list[str]]:
    """Validated status names for both lists; a status may not be in both."""
    success = [s.value for s in require_statuses("success_statuses", success_statuses)]
    failure = [s.value for s in require_statuses("failure_statuses", failure_statuses or None)]
    if not success:
        raise TelzinoValidationError("success_statuses", "give at least one status")
    both = sorted(set(success) & set(failure))
    if both:
        raise TelzinoValidationError("failure_statuses", f"{both} also in success_statuses; pick one")
    return success, failure


@dataclass(frozen=True)
class Verdict:
    """What one look at the API means: ``success``, ``failure`` or ``waiting``, with the payload."""

    state: Literal["success", "failure", "waiting"]
    message: str = ""
    payload: dict[str, Any] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.state != "waiting"

    def to_event(self) -> Event:
        return {"status": self.state, "message": self.message, **self.payload}


def evaluate_call(
    record: dict[str, Any],
    success_statuses: Collection[CallStatus | str],
    failure_statuses: Collection[CallStatus | str],
) -> Verdict:
    """Judge one call record.

    A success status ends the wait with the record; a failure status, or a terminal status in neither
    list (it will never change again), fails it. Anything else, including a status this version does
    not know, means keep waiting: a new server status must never end a wait early.
    """
    raw = record.get("status")
    status = CallStatus.parse(raw)
    success = {CallStatus(s) for s in success_statuses}
    if status is not None and status in success:
        return Verdict("success", f"Telzino call {record.get('id')} reached status {raw!r}", {CALL: record})
    failure = {CallStatus(s) for s in failure_statuses}
    if status is not None and (status in failure or status.is_terminal):
        return Verdict("failure", failure_message(record, success), {CALL: record})
    if status is None:
        log.warning("Telzino call %s has unknown status %r; still waiting", record.get("id"), raw)
    return Verdict("waiting", f"Telzino call {record.get('id')} is {raw!r}")


def failure_message(record: dict[str, Any], success: Collection[CallStatus] = ()) -> str:
    """The failure text every mode uses: status, ``error`` and ``sip_status_code``."""
    wanted = ", ".join(sorted(s.value for s in success)) or "none"
    return (
        f"Telzino call {record.get('id')} to {mask_phone(record.get('to_number'))} ended with status "
        f"{record.get('status')!r} (error: {quoted(repr(record.get('error')))}, "
        f"sip_status_code: {record.get('sip_status_code')!r}); waiting for: {wanted}"
    )


def evaluate_completed_calls(
    calls: list[dict[str, Any]], min_calls: int, fields: Sequence[str] | None = None
) -> Verdict:
    """Done once at least ``min_calls`` calls matched; the payload is all of them, trimmed to ``fields``,
    and their ids (which ``fields`` may leave out), so a masked event can be read back by id."""
    if len(calls) >= min_calls:
        return Verdict(
            "success",
            f"{len(calls)} Telzino calls match (needed {min_calls})",
            {CALLS: [trim(call, fields) for call in calls], IDS: [call.get("id") for call in calls]},
        )
    return Verdict("waiting", f"{len(calls)} of {min_calls} Telzino calls so far")


def poll_call(
    hook: TelzinoHook,
    agent_id: str,
    call_id: str,
    success_statuses: Collection[CallStatus | str],
    failure_statuses: Collection[CallStatus | str],
) -> Verdict:
    """One look at a call: GET its record and judge it."""
    return evaluate_call(hook.get_outbound_call(agent_id, call_id), success_statuses, failure_statuses)


def poll_completed_calls(
    hook: TelzinoHook,
    agent_id: str,
    window: CallWindow,
    min_calls: int,
    fields: Sequence[str] | None = None,
) -> Verdict:
    """One look at a window: list its calls and judge them."""
    return evaluate_completed_calls(list_window(hook, agent_id, window), min_calls, fields)


# -- transient errors ---------------------------------------------------------------------------


def is_transient(err: BaseException) -> bool:
    """An error that a later look may not hit: no response, an unreadable one, 408, 429 or 5xx."""
    if not isinstance(err, TelzinoApiError):
        return False
    code = err.status_code
    return code is None or 200 <= code < 300 or code in (408, 429) or code >= 500


class ErrorBudget:
    """Counts consecutive transient failures; a success resets it.

    :param limit: failures tolerated in a row; the next one ends the wait with an error event.
    :param count: failures already counted, by the worker's look before a deferral.
    """

    def __init__(self, limit: int = DEFAULT_MAX_CONSECUTIVE_ERRORS, count: int = 0) -> None:
        self.limit = limit
        self.count = count

    def absorb(self, err: BaseException) -> bool:
        """True if ``err`` is tolerated (keep waiting), False if the wait must end with it."""
        if not is_transient(err) or self.count >= self.limit:
            return False
        self.count += 1
        return True


def poll_step(
    poll: Callable[[], Verdict], budget: ErrorBudget, deadline: float | None = None
) -> Event | None:
    """Look once: the final event, or None to keep waiting. Never raises for an API error.

    :param deadline: the wait's deadline (epoch seconds): the look's transport retries stop before
        a sleep that would pass it, so one look cannot outlast the wait (nor Airflow's deferral
        timeout, only ``DEFER_GRACE`` later). The error they end with counts as a transient one.
    """
    try:
        with retries_until(deadline):
            verdict = poll()
    except Exception as err:
        return _tolerate(budget, err)
    budget.count = 0
    return verdict.to_event() if verdict.done else None


def _tolerate(budget: ErrorBudget, err: Exception) -> Event | None:
    """None if ``budget`` tolerates ``err`` (keep waiting), else the error event that ends the wait."""
    if budget.absorb(err):
        log.warning(
            "Transient error %d of %d tolerated, still waiting: %s",
            budget.count,
            budget.limit,
            quoted(err, MAX_ERROR_CHARS),
        )
        return None
    reason = "too many consecutive errors" if is_transient(err) else "error"
    return {"status": ERROR, "message": f"Stopped waiting ({reason}): {quoted(err, MAX_ERROR_CHARS)}"}


def restore_on_worker(
    restore: Callable[[], object],
    *,
    max_errors: int,
    poll_interval: float,
    sleep: Callable[[float], None] = time.sleep,
) -> object:
    """The trigger's event with its masked values read back
    (:func:`~telzino_provider.event_records.restore_event`), riding out transient errors as a wait
    does: ``max_errors`` in a row, ``poll_interval`` apart. A longer run, or another error, gives the
    error event a poke would have ended with, so a deferred wait fails (or skips) only where a poke
    would have.

    :param restore: reads the event back; raises on an API error.
    :param max_errors: the wait's ``max_consecutive_errors``.
    :param poll_interval: seconds between reads, the wait's own pace.
    :param sleep: what waits (the tests pass their own).
    """
    budget = ErrorBudget(max_errors)
    while True:
        try:
            return restore()
        except Exception as err:
            event = _tolerate(budget, err)
            if event is not None:
                return event
        sleep(poll_interval)


def poll_until_answered(
    poll: Callable[[], Verdict],
    budget: ErrorBudget,
    *,
    deadline: float,
    poll_interval: float,
    sleep: Callable[[float], None] = time.sleep,
) -> Event | None:
    """One poke of a sensor (poke or reschedule mode): look, riding out transient errors in place.

    Returns the final event, or None once a look answered "keep waiting" (or the deadline passed in
    a run of errors, so that the sensor's own timeout ends it). A run of errors is thus counted within
    one poke, look by look every ``poll_interval`` as the trigger counts it: a sensor in reschedule
    mode keeps nothing between pokes (Airflow clears even its XComs on every reschedule, 2.10 to 3.3),
    and none of this count has to survive one, since a poke ends a run of errors before returning.
    The cost: in reschedule mode the worker slot is held during a run of errors, at most
    ``max_consecutive_errors`` times ``poll_interval``.
    """
    while True:
        event = poll_step(poll, budget, deadline)
        if event is not None or budget.count == 0:
            return event
        remaining = deadline - time.time()
        if remaining <= 0:
            return None
        sleep(min(poll_interval, remaining))


def timeout_event(deadline: float, what: str) -> Event:
    return {"status": TIMEOUT, "message": f"Timed out waiting for {what} (deadline {_iso(deadline)})"}


def wait_on_worker(
    poll: Callable[[], Verdict],
    *,
    what: str,
    deadline: float,
    poll_interval: float,
    max_errors: int = DEFAULT_MAX_CONSECUTIVE_ERRORS,
    sleep: Callable[[float], None] = time.sleep,
) -> Event:
    """Poll until done or ``deadline`` (epoch seconds); return the event a trigger would yield."""
    budget = ErrorBudget(max_errors)
    while True:
        event = poll_step(poll, budget, deadline)
        if event is not None:
            return event
        remaining = deadline - time.time()
        if remaining <= 0:
            return timeout_event(deadline, what)
        sleep(min(poll_interval, remaining))


async def wait_in_trigger(
    poll: Callable[[], Verdict],
    *,
    what: str,
    deadline: float,
    poll_interval: float,
    max_errors: int = DEFAULT_MAX_CONSECUTIVE_ERRORS,
    consecutive_errors: int = 0,
    first_look_at: float | None = None,
) -> Event:
    """:func:`wait_on_worker` for the triggerer: the blocking look runs in a thread that can still
    reach Airflow (a token fetch masks the token through the triggerer's supervisor on 3.x).

    :param consecutive_errors: transient errors already counted in a row by the worker's look.
    :param first_look_at: epoch seconds of the first look; None, or a time already past, looks at once.
        The sensor has just looked before deferring, so a look at once would only repeat it. Worse, a
        trigger that fires within moments of the deferral races the worker's own exit: Airflow 3.0 to
        3.2.1 and 3.3 (apache/airflow#66374, #67287, #72716) may then fail the task with "finished
        with state success, but the task instance's state attribute is queued".
    """
    budget = ErrorBudget(max_errors, consecutive_errors)
    if first_look_at is not None:
        await asyncio.sleep(max(0.0, min(first_look_at, deadline) - time.time()))
    while True:
        event = await run_blocking(poll_step, poll, budget, deadline)
        if event is not None:
            return event
        remaining = deadline - time.time()
        if remaining <= 0:
            return timeout_event(deadline, what)
        await asyncio.sleep(min(poll_interval, remaining))


# -- events back into results -------------------------------------------------------------------


def validate_event(event: object, payload_key: str) -> Event:
    """The event if it has the documented shape; otherwise an AirflowException saying what is wrong."""
    if not isinstance(event, dict):
        raise AirflowException(f"Expected a Telzino trigger event (a dict), got {quoted(repr(event))}")
    status = event.get("status")
    if status not in EVENT_STATUSES:
        raise AirflowException(
            f"Unknown Telzino trigger event status {status!r}; expected one of {sorted(EVENT_STATUSES)}"
        )
    if status in (SUCCESS, FAILURE) and payload_key not in event:
        raise AirflowException(f"Telzino trigger event {status!r} has no {payload_key!r}")
    return event


def resolve_event(event: object, payload_key: str, *, soft_fail: bool = False, sensor: bool = False) -> Any:
    """The task's return value for a success event; otherwise the matching exception.

    A failure event (the call ended in a failure status) raises AirflowFailException: the outcome is
    final, so Airflow's retries, which a wait may set against the Airflow race described in
    :func:`wait_in_trigger`, never wait on an ended call again. Error events stay retryable.
    With ``soft_fail`` every other event raises AirflowSkipException, done here explicitly rather than
    left to BaseSensorOperator (whose handling changed across versions). Deferrable sensors in Airflow
    skip on any error with soft_fail, so poke mode does the same for the modes to agree.

    :param sensor: raise AirflowSensorTimeout on timeout (sensors), else AirflowException.
    """
    checked = validate_event(event, payload_key)
    status, message = checked["status"], str(checked.get("message") or "")
    if status == SUCCESS:
        log.info("%s", message)
        return checked[payload_key]
    if soft_fail:
        raise AirflowSkipException(f"{message} (soft_fail is set, so the task is skipped)")
    if status == TIMEOUT and sensor:
        raise AirflowSensorTimeout(message)
    if status == FAILURE:  # the call has ended: a retry would only read the same outcome again
        raise AirflowFailException(message)
    raise AirflowException(message)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).isoformat(timespec="seconds")
