"""Version-dependent helpers for running operators, sensors and DAGs in tests.

Everything that differs between Airflow 2.10/2.11 and 3.x (how to run a DAG, where XComs live, how a
deferred task resumes) is here, so the tests read the same on every version.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from telzino_provider.emulator import TelzinoEmulator
from telzino_provider.version_compat import AIRFLOW_V_3_0_PLUS, AIRFLOW_V_3_1_PLUS, BaseTrigger, TaskDeferred

DAGS_DIR = Path(__file__).resolve().parent / "dags"


# -- running operators directly -------------------------------------------------------------------


@dataclass
class FakeTI:
    """Just what the operators read from ``context["ti"]``: ids, and XCom pushes recorded."""

    dag_id: str = "telzino_direct"
    task_id: str = "task"
    run_id: str = "manual__direct"
    map_index: int = -1
    try_number: int = 1
    xcoms: dict[str, Any] = field(default_factory=dict)

    def xcom_push(self, key: str, value: Any, **_: Any) -> None:
        json.dumps(value)  # what a real XCom backend needs
        self.xcoms[key] = value


def make_context(ti: FakeTI | None = None, *, run_start: datetime | None = None) -> dict[str, Any]:
    """A minimal task context: ``ti`` and a ``dag_run`` with its start date."""
    ti = ti or FakeTI()
    run = SimpleNamespace(start_date=run_start or datetime.now(timezone.utc), run_id=ti.run_id)
    return {"ti": ti, "task_instance": ti, "dag_run": run, "run_id": ti.run_id}


def run_trigger(trigger: BaseTrigger) -> dict[str, Any]:
    """Run a trigger to its first event; returns the event payload."""

    async def first() -> Any:
        async for event in trigger.run():
            return event
        raise AssertionError("the trigger ended without an event")

    return asyncio.run(first()).payload


def roundtrip(trigger: BaseTrigger) -> BaseTrigger:
    """Rebuild a trigger the way the triggerer does: from its classpath and JSON-decoded kwargs."""
    classpath, kwargs = trigger.serialize()
    module, _, name = classpath.rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    return cls(**json.loads(json.dumps(kwargs)))


def execute_deferred(
    op: Any, context: dict[str, Any], before_trigger: Callable[[], None] | None = None
) -> Any:
    """``op.execute``; if it defers, run the trigger (after ``before_trigger``) and resume the task."""
    try:
        return op.execute(context)
    except TaskDeferred as deferred:
        if before_trigger is not None:
            before_trigger()
        event = run_trigger(roundtrip(deferred.trigger))
        return getattr(op, deferred.method_name)(context, event, **(deferred.kwargs or {}))


def defers(op: Any, context: dict[str, Any]) -> TaskDeferred:
    """``op.execute``, which must defer; returns the TaskDeferred."""
    with pytest.raises(TaskDeferred) as info:
        op.execute(context)
    return info.value


# -- running DAGs ---------------------------------------------------------------------------------

_MODULES: dict[Path, Any] = {}


def load_dag(dag_id: str, filename: str = "telzino_test_dags.py") -> Any:
    """The DAG object from a file in tests/dags (imported once per session)."""
    path = DAGS_DIR / filename
    if path not in _MODULES:
        spec = importlib.util.spec_from_file_location(f"telzino_test_dags_{path.stem}", path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        _MODULES[path] = module
    dags = {
        value.dag_id: value
        for value in vars(_MODULES[path]).values()
        if type(value).__name__ == "DAG" and hasattr(value, "dag_id")
    }
    return dags[dag_id]


def store_dag(dag_id: str, filename: str = "telzino_test_dags.py") -> None:
    """Write the DAG and its assets to the database first, as a deployment's DAG processor would.

    Airflow 2's ``dag.test()`` records an asset (dataset) event only for a dataset it knows; Airflow
    3.0's fails a task whose Asset outlet is not active yet (apache/airflow#51644). 3.1 and later
    need nothing: their ``dag.test()`` stores the DAG and activates its assets itself.
    """
    if not AIRFLOW_V_3_0_PLUS:
        load_dag(dag_id, filename).sync_to_db()
    elif not AIRFLOW_V_3_1_PLUS:
        from airflow.dag_processing.bundles.manager import DagBundlesManager
        from airflow.models.dagbag import DagBag

        DagBundlesManager().sync_bundles_to_db()
        bag = DagBag(dag_folder=str(DAGS_DIR / filename), include_examples=False)
        bag.sync_to_db("dags-folder", None)


def run_dag(
    dag_id: str,
    *,
    conf: dict[str, Any] | None = None,
    logical_date: datetime | None = None,
    run_after: datetime | None = None,
    manual: bool = False,
    filename: str = "telzino_test_dags.py",
) -> Any:
    """``dag.test()``; the same ``logical_date`` and ``run_after`` give the same run_id again,
    replacing the earlier run (what clearing it would do). Returns the DagRun.

    ``manual=True``: a run triggered by hand at ``run_after``: on Airflow 3 without a logical date (so
    without a data interval), on Airflow 2 with ``run_after`` as its logical date (Airflow 2 gives it
    the interval its timetable infers for that moment). ``filename``: the file in tests/dags.
    """
    dag = load_dag(dag_id, filename)
    if manual and not AIRFLOW_V_3_0_PLUS:
        return dag.test(execution_date=run_after, run_conf=conf)
    if AIRFLOW_V_3_0_PLUS:
        _reuse_in_process_api()
        kwargs: dict[str, Any] = {"run_conf": conf}
        if manual:
            kwargs["logical_date"] = None
        elif logical_date is not None:
            kwargs["logical_date"] = logical_date
        if run_after is not None:
            kwargs["run_after"] = run_after
        return dag.test(**kwargs)
    return dag.test(execution_date=logical_date, run_conf=conf)


def rerun_cleared(dag_run: Any) -> Any:
    """Clear every task instance of a finished run as the UI's Clear does, then run the same DagRun
    again through ``dag.test()``; returns the DagRun.

    The clear is Airflow's own ``clear_task_instances`` (task instances back to no state, their try
    numbers kept, the run requeued). ``dag.test()`` would delete the run and create a new one with
    fresh task instances; here it is handed the cleared run instead, which it then schedules and
    runs as the scheduler would (each try number goes up by one when the task is scheduled).
    """
    from unittest import mock

    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance, clear_task_instances
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState

    def select_tis(session: Any) -> list[Any]:
        return (
            session.query(TaskInstance)
            .filter(TaskInstance.dag_id == dag_run.dag_id, TaskInstance.run_id == dag_run.run_id)
            .all()
        )

    with create_session() as session:
        clear_task_instances(select_tis(session), session)

    def the_cleared_run(**kwargs: Any) -> Any:
        session = kwargs["session"]
        run = (
            session.query(DagRun)
            .filter(DagRun.dag_id == dag_run.dag_id, DagRun.run_id == dag_run.run_id)
            .one()
        )
        run.state = DagRunState.RUNNING  # what the scheduler does when it starts a queued run
        run.start_date = datetime.now(timezone.utc)
        session.commit()
        run.dag = kwargs["dag"]
        return run

    if AIRFLOW_V_3_1_PLUS:
        target = "airflow.models.dagrun.get_or_create_dagrun"
    else:
        target = "airflow.models.dag._get_or_create_dagrun"
    logical = getattr(dag_run, "logical_date", None) or dag_run.execution_date
    with mock.patch(target, side_effect=the_cleared_run):
        return run_dag(
            dag_run.dag_id,
            conf=dag_run.conf,
            logical_date=logical,
            run_after=getattr(dag_run, "run_after", None),  # Airflow 2 runs have none
            manual=logical is None,
        )


def _reuse_in_process_api() -> None:
    """Build dag.test()'s in-process execution API once per session, as Airflow 3.3 does.

    Airflow 3.1/3.2 rebuild it for every task instance (about 5 s each, mostly route generation).
    """
    from airflow.sdk.execution_time import supervisor

    build = getattr(supervisor, "in_process_api_server", None)
    if build is not None and not hasattr(build, "cache_info"):
        supervisor.in_process_api_server = functools.lru_cache(maxsize=1)(build)


def state_of(value: Any) -> str:
    return str(getattr(value, "value", value))


def ti_states(dag_run: Any) -> dict[tuple[str, int], tuple[str, int]]:
    """``{(task_id, map_index): (state, try_number)}`` of a finished run, read from the database."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = (
            session.query(TaskInstance)
            .filter(TaskInstance.dag_id == dag_run.dag_id, TaskInstance.run_id == dag_run.run_id)
            .all()
        )
        return {(ti.task_id, ti.map_index): (state_of(ti.state), ti.try_number) for ti in rows}


def xcom(dag_run: Any, task_id: str, key: str = "return_value", map_index: int = -1) -> Any:
    """One XCom value of a run (None when absent)."""
    from airflow.utils.session import create_session

    ids = {"run_id": dag_run.run_id, "key": key}
    with create_session() as session:
        if not AIRFLOW_V_3_0_PLUS:
            from airflow.models.xcom import XCom

            return XCom.get_one(
                **ids, task_id=task_id, dag_id=dag_run.dag_id, map_index=map_index, session=session
            )
        from airflow.models.xcom import XComModel

        query = XComModel.get_many(**ids, task_ids=task_id, dag_ids=dag_run.dag_id, map_indexes=map_index)
        rows = session.scalars(query).all()
        return XComModel.deserialize_value(rows[0]) if rows else None


def logged_lines(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """Log lines from both logging stacks: stdlib (caplog) and Airflow 3's task logger (stdout).

    Some versions write a line to both; count a message with :func:`count_logged`.
    """
    return [r.getMessage() for r in caplog.records] + capsys.readouterr().out.splitlines()


def count_logged(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str], needle: str) -> int:
    """How many times a message was logged, whichever stack (or both) it went to."""
    in_caplog = sum(needle in r.getMessage() for r in caplog.records)
    in_stdout = sum(needle in line for line in capsys.readouterr().out.splitlines())
    return max(in_caplog, in_stdout)


def emulator_conn_env(monkeypatch: pytest.MonkeyPatch, emu: TelzinoEmulator, **extra: object) -> None:
    """Point ``telzino_default`` at ``emu`` (for emulators a test starts itself)."""
    from tests.conftest import CONN_ENV, conn_json

    monkeypatch.setenv(CONN_ENV, conn_json(emu, **extra))


def every_get_unavailable(monkeypatch: pytest.MonkeyPatch, emu: TelzinoEmulator) -> None:
    """Every GET to ``emu`` answers 503 with ``Retry-After: 2``, under a connection that retries 5 times
    with waits of up to 2 s: one look alone would take 10 s."""
    emulator_conn_env(monkeypatch, emu, max_retries=5, max_retry_wait=2)
    emu.fail_next(1000, 503, retry_after="2", method="GET")
