"""Never dial twice: the correlation key a placed call carries, and finding that call again.

The Telzino API has no idempotency key, so the create operator writes its own into the call's
metadata, under ``"airflow"``: the task instance's ``dag_id``, ``task_id``, ``run_id`` and
``map_index``. These stay the same across retries, clearing, a worker that crashed after the POST,
and a deferred task resumed elsewhere.

When it looks for an earlier call. Only when an earlier attempt of the same task instance may have
placed one: a try numbered 2 or more, or ``airflow tasks test`` (``test_mode``). The first try
places the call with one POST and no list request. This rests on how Airflow numbers tries, the
same on 2.10, 2.11, 3.0, 3.1, 3.2 and 3.3 (checked by tests/test_correlation.py on each): the try
number goes up by one each time the task instance is scheduled, so the first try is 1, a retry is
2, and a task cleared after try N runs as try N+1 (clearing keeps the number; Airflow 3 also gives
the cleared instance a new id). A resumed deferred task does not run ``execute`` again. What it does
not cover: a DAG run that is deleted and created again under the same ``run_id`` has new task
instances whose first try is 1 (``dag.test()`` with the same logical date does this), and running a
task instance again by hand outside the scheduler (``airflow tasks run --force`` on Airflow 2) keeps
its try number; such a try 1 dials without looking.

How far back it looks. An attempt cannot start before its DAG run became due: ``run_after`` on
Airflow 3; on Airflow 2 the later of the logical date and the data interval's end (a scheduled run is
created at the end of its interval, a manual one at its logical date). Neither changes when the run
is cleared, unlike the run's ``start_date`` and ``queued_at``, which a clear resets (checked on every
version). The look reads calls created since the earliest of the due time, the run's
``start_date`` and ``queued_at`` and now, minus ``clock_margin`` (default 5 minutes) for the
difference between the clocks of Airflow's machines and the API. So a retry of a run that started on
time reads the calls created since the run started (one page for most agents); a retry or clear in a
catch-up or backfill run reads back to that run's due time. After an uncertain create on a first
try, the second look reads only the calls created since its own request (minus the margin).

After an uncertain create that the second look does not find, no automatic path dials again: the
API may record a call late, so the task fails without Airflow's retries
(``TelzinoCallMayHaveBeenPlacedError`` is an ``AirflowFailException``). A person who clears it
later gets a try numbered 2 or more, which looks again before dialling.

A create the API accepted (2xx). The API may list a new call only some time after it accepted it,
so a look by a retry cannot prove that no earlier try dialled. So once a try knows its call id, no
later failure of the task instance leads to a second POST: on Airflow 3.3+ the id is remembered in
the task instance's state store (:func:`remember_call`; it survives retries and clears), and a later
try waits on that call without dialling or looking (:func:`recall_call`); before 3.3 nothing
survives a try (XComs are cleared), so a failure after the create is final (no retries), naming the
call id and how to wait on it. Only a worker that dies between the POST's answer and the state store
write (or, before 3.3, at any point after the POST returned) leaves a retry with the listing alone:
a retry that finds no earlier call looks once more ``listing_delay`` later before it dials. A call
the API lists later than that can still be placed twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from telzino_provider.exceptions import TelzinoValidationError
from telzino_provider.timeutil import to_utc

if TYPE_CHECKING:
    from telzino_provider.hooks.telzino import TelzinoHook

METADATA_KEY = "airflow"
#: The task state store's key for the id of the call a try placed or adopted.
CALL_ID_STATE_KEY = "telzino_call_id"
KEY_FIELDS = ("dag_id", "task_id", "run_id", "map_index")
#: Allowance for the clocks of the Airflow machines and of the API disagreeing.
DEFAULT_CLOCK_MARGIN = timedelta(minutes=5)


def correlation_key(context: Any) -> dict[str, Any]:
    """``{"dag_id", "task_id", "run_id", "map_index"}`` of the running task instance."""
    ti = context["ti"]
    map_index = getattr(ti, "map_index", -1)
    return {
        "dag_id": ti.dag_id,
        "task_id": ti.task_id,
        "run_id": ti.run_id,
        "map_index": -1 if map_index is None else int(map_index),
    }


def with_key(metadata: dict[str, Any] | None, key: dict[str, Any]) -> dict[str, Any]:
    """The user's metadata, unchanged, plus the key under ``"airflow"`` (a reserved name)."""
    user = dict(metadata or {})
    if METADATA_KEY in user:
        raise TelzinoValidationError(
            "metadata", f"the key {METADATA_KEY!r} is reserved for the call's correlation key; rename it"
        )
    user[METADATA_KEY] = key
    return user


def carries_key(record: dict[str, Any], key: dict[str, Any]) -> bool:
    """Whether a listed call was placed by the task instance that ``key`` describes."""
    metadata = record.get("request_metadata")
    stored = metadata.get(METADATA_KEY) if isinstance(metadata, dict) else None
    return isinstance(stored, dict) and all(stored.get(name) == key[name] for name in KEY_FIELDS)


def earlier_attempt(context: Any) -> str | None:
    """Why an earlier attempt of this task instance may have placed the call; None on a first try.

    :param context: the task context (``ti``; ``test_mode`` on Airflow 2).
    """
    try_number = getattr(context["ti"], "try_number", None)
    if isinstance(try_number, bool) or not isinstance(try_number, int):
        return f"the try number is unknown ({try_number!r})"  # assume the worst
    if try_number > 1:
        return f"this is try {try_number}"
    if _get(context, "test_mode"):
        return "this is a test run (airflow tasks test)"
    return None


def earliest_attempt_start(context: Any, now: datetime | None = None) -> datetime:
    """The earliest moment any attempt of this task instance can have started (see module docstring).

    :param context: the task context (``dag_run``).
    :param now: the current time (default: the worker's clock).
    """
    current = now or datetime.now(timezone.utc)
    run = _get(context, "dag_run")
    if run is None:
        return current
    due = _time(run, "run_after")
    if due is None:  # Airflow 2: the later of the logical date and the data interval's end
        due = max(
            (t for t in (_time(run, "logical_date"), _time(run, "data_interval_end")) if t is not None),
            default=None,
        )
    candidates = (due, _time(run, "start_date"), _time(run, "queued_at"), current)
    return min(t for t in candidates if t is not None)


def adopt_since(
    context: Any, margin: timedelta = DEFAULT_CLOCK_MARGIN, now: datetime | None = None
) -> datetime:
    """Where the search for an earlier call of this task instance starts: the earliest attempt's
    start minus ``margin``."""
    return earliest_attempt_start(context, now) - margin


def find_placed_call(
    hook: TelzinoHook, agent_id: str, key: dict[str, Any], since: datetime
) -> dict[str, Any] | None:
    """The newest call of ``agent_id`` created since ``since`` that carries ``key``, if any."""
    for call in hook.iter_outbound_calls(agent_id, created_after=since):
        if carries_key(call, key):
            return call
    return None


def remember_call(store: Any | None, call_id: str) -> bool:
    """Write the call id to the task instance's state store; False when there is no store.

    :param store: :func:`~telzino_provider.version_compat.task_state_store` of the context.
    :param call_id: the placed or adopted call.
    """
    if store is None:
        return False
    store.set(CALL_ID_STATE_KEY, call_id)
    return True


def recall_call(store: Any | None) -> str | None:
    """The call id an earlier try of this task instance remembered, if any."""
    if store is None:
        return None
    value = store.get(CALL_ID_STATE_KEY)
    return value if isinstance(value, str) and value else None


def _get(context: Any, name: str) -> Any:
    return context.get(name) if hasattr(context, "get") else None


def _time(run: Any, name: str) -> datetime | None:
    value = getattr(run, name, None)
    return to_utc(f"dag_run.{name}", value) if isinstance(value, datetime) else None
