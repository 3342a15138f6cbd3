"""Never dial twice: the correlation key a placed call carries, and finding that call again.

The Telzino API has no idempotency key, so the create operator writes its own into the call's
metadata, under ``"airflow"``: the task instance's ``dag_id``, ``task_id``, ``run_id`` and
``map_index``. These stay the same across retries, clearing, a worker that crashed after the POST,
and a deferred task resumed elsewhere. Before placing a call the operator lists the agent's recent
calls, newest first, and adopts one carrying the same key instead of dialling again.

How far back it looks: calls created since ``min(dag run start, now) - adopt_window`` (default 24 h,
by the worker's clock). A retry of a long wait is covered by the run's start; a task cleared after the
run ended is covered for ``adopt_window`` after it. Clearing a task later than that places a new call.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from telzino_provider.exceptions import TelzinoValidationError
from telzino_provider.timeutil import to_utc

if TYPE_CHECKING:
    from telzino_provider.hooks.telzino import TelzinoHook

METADATA_KEY = "airflow"
KEY_FIELDS = ("dag_id", "task_id", "run_id", "map_index")
DEFAULT_ADOPT_WINDOW = timedelta(hours=24)


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


def adopt_since(context: Any, window: timedelta, now: datetime | None = None) -> datetime:
    """Where the search for an earlier call of this task instance starts (see module docstring)."""
    current = now or datetime.now(timezone.utc)
    run = context.get("dag_run") if hasattr(context, "get") else None
    started = to_utc("dag_run.start_date", getattr(run, "start_date", None)) if run is not None else None
    return min(started or current, current) - window


def find_placed_call(
    hook: TelzinoHook, agent_id: str, key: dict[str, Any], since: datetime
) -> dict[str, Any] | None:
    """The newest call of ``agent_id`` created since ``since`` that carries ``key``, if any."""
    for call in hook.iter_outbound_calls(agent_id, created_after=since):
        if carries_key(call, key):
            return call
    return None
