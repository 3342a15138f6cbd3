"""Selecting calls by a time window: the one implementation behind the list operator and the
completed-calls sensor and trigger.

Two kinds of window:

``window_field="created_at"``
    Calls created in ``[created_after, created_before)``; the API lists newest first, so reading stops
    at the first older call.

``window_field="ended_at"``
    Calls whose ``ended_at`` is in ``[created_after, created_before)`` (the parameter names stay; they
    bound the chosen field). Calls are scanned from ``created_after - lookback`` because a call that
    ends in this window may have been created in an earlier one. Consecutive data-interval windows
    therefore deliver every finished call exactly once, provided no call lasts longer than
    ``lookback`` from creation to its end and the API lists each call before its window is read.
    Only finished calls have ``ended_at``.

Either kind relies on the API listing a call by the time its window is read: a call listed only
after that is outside the next window too. ``settle`` (the list operator, the transfer) makes a run
wait until its window ended that long ago before it reads (see :func:`settle_window`).

The bounds come from the caller (``created_after`` / ``created_before``) or from the DAG run
(:func:`run_interval`): its data interval, or for a run without one (a manual run on Airflow 3, a run
of a schedule whose intervals are empty) the last full interval of the DAG's schedule before the
run's ``run_after``, or else a ``fallback_interval`` ending at ``run_after``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from telzino_provider.exceptions import TelzinoValidationError
from telzino_provider.statuses import CallStatus
from telzino_provider.timeutil import parse_api_timestamp, shifted, to_utc, window_bounds
from telzino_provider.validation import (
    MAX_CONCURRENCY,
    optional_duration,
    optional_positive,
    require_bool,
    require_choice,
    require_duration,
    require_int_range,
    require_statuses,
)
from telzino_provider.version_compat import manual_data_interval

if TYPE_CHECKING:
    from telzino_provider.hooks.telzino import TelzinoHook

WINDOW_FIELDS = ("created_at", "ended_at")
DEFAULT_LOOKBACK = timedelta(hours=6)
#: Above this many calls in one XCom, warn about its size and about dynamic task mapping's cap.
LARGE_RESULT = 10_000
EXPLICIT_REASON = "created_after/created_before as given"  # a window the task was handed
#: The longest ``settle``: a task that holds a worker slot longer than this should run later instead.
MAX_SETTLE = timedelta(hours=1)


@dataclass(frozen=True)
class CallWindow:
    """A validated query: statuses, the field the bounds apply to, the bounds and the lookback.

    Build it with :meth:`build` (validates user input) or :meth:`from_json` (trigger kwargs).
    """

    statuses: tuple[CallStatus, ...]
    field: str
    start: datetime | None
    end: datetime | None
    lookback: timedelta

    @classmethod
    def build(
        cls,
        *,
        status: str | Iterable[str] | None,
        window_field: str,
        created_after: object,
        created_before: object,
        lookback: object,
    ) -> CallWindow:
        """Validate the user's arguments (after templates were rendered); errors name the field.

        :param status: None for every status, one status or a list.
        :param window_field: ``created_at`` or ``ended_at``: the field the bounds apply to.
        :param created_after: inclusive lower bound (datetime or ISO-8601; naive means UTC).
        :param created_before: exclusive upper bound.
        :param lookback: for ``ended_at``, how long before ``created_after`` to scan for creations
            (timedelta or seconds).
        """
        require_choice("window_field", window_field, WINDOW_FIELDS)
        statuses = require_statuses("status", status or None)  # "" from an empty template: every status
        start, end = window_bounds(created_after, created_before)
        if window_field == "ended_at":
            live = [s.value for s in statuses if not s.is_terminal]
            if live:
                raise TelzinoValidationError(
                    "status",
                    f"{live} never have an ended_at; use finished statuses or window_field='created_at'",
                )
        back = require_duration("lookback", lookback)
        if window_field == "ended_at" and start is not None and shifted(start, -back) is None:
            raise TelzinoValidationError(
                "created_after",
                f"{start.isoformat()} minus lookback={back} is before the year 1, so the calls to scan "
                "cannot be bounded; use a later created_after or a shorter lookback",
            )
        return cls(statuses, window_field, start, end, back)

    @property
    def scan_after(self) -> datetime | None:
        """Lower bound on ``created_at`` for the listing."""
        if self.start is None or self.field == "created_at":
            return self.start
        return self.start - self.lookback

    def contains(self, record: dict[str, Any]) -> bool:
        """Whether a listed call belongs to the window (the listing already bounds ``created_at``)."""
        if self.field == "created_at":
            return True
        ended = record.get("ended_at")
        if not ended:
            return False
        moment = parse_api_timestamp(ended)
        return (self.start is None or moment >= self.start) and (self.end is None or moment < self.end)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON for trigger kwargs: ISO strings and seconds."""
        return {
            "statuses": [s.value for s in self.statuses],
            "window_field": self.field,
            "created_after": self.start.isoformat() if self.start else None,
            "created_before": self.end.isoformat() if self.end else None,
            "lookback_seconds": self.lookback.total_seconds(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CallWindow:
        return cls.build(
            status=data["statuses"] or None,
            window_field=data["window_field"],
            created_after=data["created_after"],
            created_before=data["created_before"],
            lookback=data["lookback_seconds"],
        )


@dataclass(frozen=True)
class RunInterval:
    """The bounds a run reads, where they came from and why, for the task log and the XCom.

    ``source`` is ``data_interval`` (the run's own), ``schedule`` (the last full interval of the DAG's
    schedule before the run's ``run_after``) or ``fallback`` (``fallback_interval`` before it).
    """

    start: datetime
    end: datetime
    source: str
    reason: str


def run_interval(context: Any, *, fallback_interval: object = None) -> RunInterval:
    """The interval a task of this DAG run should read: the one function every window-reading task
    (the list operator, the completed-calls sensor, any other) calls with its task context.

    1. The run's data interval, when it has a non-empty one (scheduled runs, catchup, backfill,
       Airflow 2 manual runs, Airflow 3 manual runs given a logical date).
    2. Else the interval Airflow would give a manual run at the run's ``run_after``: for an interval
       schedule, the last full interval that ended at or before it.
    3. Else ``[run_after - fallback_interval, run_after)``, if given (``schedule=None``, cron triggers).
    4. Else a :class:`TelzinoValidationError` naming ``fallback_interval``.

    :param context: the task context (``data_interval_start``/``_end``, ``dag_run``, ``dag``).
    :param fallback_interval: timedelta or seconds; the window length when the schedule gives none.
    """
    fallback = optional_duration("fallback_interval", fallback_interval, allow_zero=False)
    start = to_utc("data_interval_start", context.get("data_interval_start"))
    end = to_utc("data_interval_end", context.get("data_interval_end"))
    if start is not None and end is not None and start < end:
        return RunInterval(start, end, "data_interval", "the run's data interval")
    missing = (
        "the run has no data interval (a manual run)" if start is None else "the run's data interval is empty"
    )
    after = _run_after(context)
    if after is None:
        raise TelzinoValidationError("use_data_interval", f"{missing} and no run_after or logical date")
    inferred = manual_data_interval(context.get("dag"), after)
    if inferred is not None:
        first, last = (to_utc("data_interval", moment) for moment in inferred)
        if first is not None and last is not None and first < last:
            return RunInterval(
                first,
                last,
                "schedule",
                f"{missing}; the last full interval of the DAG's schedule before its run_after "
                f"{after.isoformat()}",
            )
    if fallback is not None:
        return RunInterval(
            after - fallback,
            after,
            "fallback",
            f"{missing} and its schedule has no intervals; fallback_interval ({fallback}) "
            f"before its run_after {after.isoformat()}",
        )
    raise TelzinoValidationError(
        "fallback_interval",
        f"{missing} and the DAG's schedule defines no intervals (schedule=None, or a cron trigger such "
        "as '@hourly' on Airflow 3); pass fallback_interval=timedelta(hours=1) to read the hour before "
        "the run, or set created_after/created_before",
    )


def window_for_run(
    context: Any,
    *,
    use_data_interval: bool,
    fallback_interval: object,
    status: str | Iterable[str] | None,
    window_field: str,
    created_after: object,
    created_before: object,
    lookback: object,
) -> tuple[CallWindow, RunInterval | None]:
    """The validated window of a task: explicit bounds, or the run's (:func:`run_interval`).

    Returns the window and, when it came from the run, the interval with the reason to log.
    """
    interval = None
    if use_data_interval:
        for name, value in (("created_after", created_after), ("created_before", created_before)):
            if value not in (None, ""):
                raise TelzinoValidationError(
                    name, "leave it unset with use_data_interval=True (the bounds come from the run)"
                )
        interval = run_interval(context, fallback_interval=fallback_interval)
        created_after, created_before = interval.start, interval.end
    elif fallback_interval is not None:
        raise TelzinoValidationError("fallback_interval", "only applies with use_data_interval=True")
    window = CallWindow.build(
        status=status,
        window_field=window_field,
        created_after=created_after,
        created_before=created_before,
        lookback=lookback,
    )
    return window, interval


def window_for_task(context: Any, task: Any) -> tuple[CallWindow, RunInterval | None]:
    """:func:`window_for_run` with the arguments a window-reading task keeps under their own names
    (``use_data_interval``, ``fallback_interval``, ``status``, ``window_field``, ``created_after``,
    ``created_before``, ``lookback``): the list operator, the completed-calls sensor, the transfer.

    :param context: the task context.
    :param task: the operator or sensor.
    """
    return window_for_run(
        context,
        use_data_interval=task.use_data_interval,
        fallback_interval=task.fallback_interval,
        status=task.status,
        window_field=task.window_field,
        created_after=task.created_after,
        created_before=task.created_before,
        lookback=task.lookback,
    )


def check_window_arguments(task: Any) -> None:
    """Check a window-reading task's arguments that are not templated, when the task is built (at
    DAG-parse time, before any request), and keep them normalised: ``window_field``, ``lookback``,
    ``use_data_interval``, ``fallback_interval``, ``fields`` and, where the task has them,
    ``max_calls`` and ``max_concurrency``. The templated ones are checked by :func:`window_for_task`
    once rendered.

    :param task: the list operator, the completed-calls sensor or the transfer.
    """
    require_choice("window_field", task.window_field, WINDOW_FIELDS)
    task.lookback = require_duration("lookback", task.lookback)
    require_bool("use_data_interval", task.use_data_interval)
    task.fallback_interval = optional_duration("fallback_interval", task.fallback_interval, allow_zero=False)
    if task.fallback_interval is not None and not task.use_data_interval:
        raise TelzinoValidationError("fallback_interval", "only applies with use_data_interval=True")
    task.fields = require_fields(task.fields)
    if hasattr(task, "max_calls"):
        task.max_calls = require_max_calls(task.max_calls)
    if hasattr(task, "max_concurrency"):
        require_int_range("max_concurrency", task.max_concurrency, 1, MAX_CONCURRENCY)
    if hasattr(task, "settle"):
        task.settle = require_settle(task.settle)


def require_settle(value: object) -> timedelta:
    """``settle``: a timedelta or seconds, from zero to :data:`MAX_SETTLE`."""
    settle = require_duration("settle", value)
    if settle > MAX_SETTLE:
        raise TelzinoValidationError(
            "settle", f"{value!r} is more than {MAX_SETTLE}; schedule the DAG later instead of waiting"
        )
    return settle


def settle_window(window: CallWindow, settle: timedelta | float, log: Any, sleep: Any = time.sleep) -> float:
    """Wait until ``window`` ended at least ``settle`` ago, so calls the API lists late are listed.

    A window read right at its end misses a call that ended (or was created) inside it but is listed
    a moment later, and the next window excludes that call by its time: it is lost. Returns the seconds
    waited (0 for a window without an end, ``settle`` zero, or a window that ended long enough ago).
    The wait is at most ``settle``: a window that has not ended yet is read ``settle`` from now, not
    ``settle`` after its end, which could hold the worker slot for days.

    :param window: the window about to be read.
    :param settle: how long after the window's end to read it (timedelta or seconds).
    :param log: the task's logger.
    :param sleep: what waits (the tests pass their own clock).
    """
    settle = require_settle(settle)
    if window.end is None or settle <= timedelta(0):
        return 0.0
    now = datetime.now(timezone.utc)
    if window.end > now:
        log.warning(
            "The window ends in the future (%s): waiting settle=%s, not until it ends, before reading it",
            window.end.isoformat(),
            settle,
        )
        wait = settle.total_seconds()
    else:
        wait = (window.end + settle - now).total_seconds()
        if wait <= 0:
            return 0.0
        log.info("The window ended less than settle=%s ago: waiting %.0f s before reading it", settle, wait)
    sleep(wait)
    return wait


def describe_window(window: CallWindow, interval: RunInterval | None) -> str:
    """One log line: which window and why."""
    why = interval.reason if interval is not None else EXPLICIT_REASON
    start = window.start.isoformat() if window.start else "the beginning"
    end = window.end.isoformat() if window.end else "now"
    return f"Window: {window.field} in [{start}, {end}): {why}"


def window_xcom(window: CallWindow, interval: RunInterval | None) -> dict[str, Any]:
    """What a window-reading task pushes under XCom key ``window``, for downstream tasks."""
    return {
        "source": interval.source if interval is not None else "explicit",
        "reason": interval.reason if interval is not None else EXPLICIT_REASON,
        "field": window.field,
        "start": window.start.isoformat() if window.start else None,
        "end": window.end.isoformat() if window.end else None,
    }


def _run_after(context: Any) -> datetime | None:
    """When the run was triggered: ``dag_run.run_after`` (Airflow 3), else its logical date."""
    dag_run = context.get("dag_run")
    for value in (
        getattr(dag_run, "run_after", None),
        context.get("logical_date"),
        getattr(dag_run, "execution_date", None),
    ):
        if value is not None:
            return to_utc("run_after", value)
    return None


def iter_window(
    hook: TelzinoHook, agent_id: str, window: CallWindow, *, max_concurrency: int = 1
) -> Iterator[dict[str, Any]]:
    """The agent's calls in ``window``, newest first (by ``created_at``), each once.

    :param max_concurrency: requests in flight at once (see :meth:`TelzinoHook.iter_outbound_calls`).
    """
    calls = hook.iter_outbound_calls(
        agent_id,
        status=list(window.statuses) or None,
        created_after=window.scan_after,
        created_before=window.end,
        max_concurrency=max_concurrency,
    )
    return (call for call in calls if window.contains(call))


def list_window(
    hook: TelzinoHook,
    agent_id: str,
    window: CallWindow,
    *,
    max_calls: int | None = None,
    fields: Sequence[str] | None = None,
    log: Any = None,
    max_concurrency: int = 1,
) -> list[dict[str, Any]]:
    """:func:`iter_window` collected, capped at ``max_calls`` and trimmed to ``fields``.

    Warns when the result is large enough to hurt as one XCom or as the source of ``.expand()``.
    """
    result: list[dict[str, Any]] = []
    for call in iter_window(hook, agent_id, window, max_concurrency=max_concurrency):
        result.append(trim(call, fields))
        if max_calls is not None and len(result) >= max_calls:
            break
    if log is not None:
        warn_if_large(log, len(result), fields=fields, max_calls=max_calls)
    return result


def trim(record: dict[str, Any], fields: Sequence[str] | None) -> dict[str, Any]:
    """Only ``fields`` of a record (a missing field is kept as None, so every item has the same keys)."""
    if fields is None:
        return record
    return {name: record.get(name) for name in fields}


def require_fields(value: object) -> list[str] | None:
    """None or a non-empty list of field names."""
    if value is None:
        return None
    items = [value] if isinstance(value, str) else value
    if (
        not isinstance(items, (list, tuple))
        or not items
        or not all(isinstance(item, str) and item for item in items)
    ):
        raise TelzinoValidationError("fields", f"expected a non-empty list of field names, got {value!r}")
    return list(dict.fromkeys(items))


def require_max_calls(value: object) -> int | None:
    return optional_positive("max_calls", value)


def warn_if_large(
    log: Any,
    count: int,
    *,
    fields: Sequence[str] | None,
    max_calls: int | None,
) -> None:
    """Warn when more than :data:`LARGE_RESULT` full records go into one XCom."""
    if count > LARGE_RESULT and fields is None and max_calls is None:
        log.warning(
            "%d Telzino calls go into one XCom. Pass fields=[...] to keep only the keys you need and/or "
            "max_calls=N to cap the list; a downstream .expand() over it is also capped by "
            "[core] max_map_length (default 1024).",
            count,
        )
