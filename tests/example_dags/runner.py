"""Run example DAGs with ``dag.test()`` in a process of their own; write what happened as JSON.

    python tests/example_dags/runner.py JOBS_JSON RESULTS_JSON

Why a separate process: Airflow 3.1+ only runs DAGs from the configured dags folder, which Airflow
reads once at import. The rest of the suite runs with tests/dags; this process gets
``AIRFLOW__CORE__DAGS_FOLDER=example_dags`` (and its own AIRFLOW_HOME and SQLite file) from the caller,
exactly as a user's deployment would see the example DAGs.

Each job is ``{"dag_id", "logical_date": ISO or null, "conf": {...}}`` (plus ``"sync_to_db": true``
to write the DAG and its assets to the database first, as a deployment's DAG processor would), or
for a run triggered by hand
``{"dag_id", "manual": true, "run_after": ISO}`` (Airflow 3: no logical date, so no data interval;
Airflow 2: a manual run at that moment, which has the interval its timetable infers); each result is
``{"dag_id", "run_id", "state", "tis": {task_id: {map_index: state}},
"tries": {task_id: {map_index: try_number}}, "xcoms": {task_id: {map_index: {key: value}}}}``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

AIRFLOW_3 = int(version("apache-airflow").split(".")[0]) >= 3
AIRFLOW_3_0 = version("apache-airflow").startswith("3.0.")
ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_DAGS = ROOT / "example_dags"


def run_jobs(work: Path, jobs: list[dict[str, Any]], env: dict[str, str]) -> tuple[list[dict[str, Any]], str]:
    """Run ``jobs`` through this script in a subprocess, on the example DAGs folder with its own
    ``AIRFLOW_HOME`` and SQLite file under ``work``, and return the results and the output (also
    written to ``work/runner.log``, with the task logs, for failures).

    The subprocess gets the settings a user has, plus ``env``: the suite's unit-test mode is left out,
    as it changes defaults (it gives "@hourly" data intervals on Airflow 3, for one).
    """
    (work / "jobs.json").write_text(json.dumps(jobs))
    user_env = {name: value for name, value in os.environ.items() if name != "AIRFLOW__CORE__UNIT_TEST_MODE"}
    proc = subprocess.run(
        [sys.executable, __file__, str(work / "jobs.json"), str(work / "results.json")],
        env={
            **user_env,
            "AIRFLOW_HOME": str(work / "home"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{work / 'airflow.db'}",
            "AIRFLOW__CORE__DAGS_FOLDER": str(EXAMPLE_DAGS),
            **env,
        },
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = proc.stdout + proc.stderr
    (work / "runner.log").write_text(output)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return json.loads((work / "results.json").read_text()), output


def _state(value: object) -> str:
    return str(getattr(value, "value", value))


def _dump_run(dr: object) -> dict:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    if AIRFLOW_3:
        from airflow.models.xcom import XComModel as XCom
    else:
        from airflow.models.xcom import XCom  # type: ignore[no-redef]

    ids = {"dag_id": dr.dag_id, "run_id": dr.run_id}  # type: ignore[attr-defined]
    tis: dict = {}
    tries: dict = {}
    xcoms: dict = {}
    with create_session() as session:
        for ti in session.query(TaskInstance).filter_by(**ids):
            tis.setdefault(ti.task_id, {})[str(ti.map_index)] = _state(ti.state)
            tries.setdefault(ti.task_id, {})[str(ti.map_index)] = ti.try_number
        for row in session.query(XCom).filter_by(**ids):
            slot = xcoms.setdefault(row.task_id, {}).setdefault(str(row.map_index), {})
            slot[row.key] = XCom.deserialize_value(row) if AIRFLOW_3 else row.value  # 2.x: on load
    return {**ids, "state": _state(dr.state), "tis": tis, "tries": tries, "xcoms": xcoms}  # type: ignore[attr-defined]


def _store(bag: object, dag: object) -> None:
    """What ``tests.airflow_helpers.store_dag`` does, for a DagBag: Airflow 2's dag.test() records
    events of known datasets only, Airflow 3.0's fails a task whose Asset outlet is not active yet
    (apache/airflow#51644); 3.1 and later store and activate them in dag.test() itself."""
    if not AIRFLOW_3:
        dag.sync_to_db()  # type: ignore[attr-defined]
    elif AIRFLOW_3_0:
        from airflow.dag_processing.bundles.manager import DagBundlesManager

        DagBundlesManager().sync_bundles_to_db()
        bag.sync_to_db("dags-folder", None)  # type: ignore[attr-defined]


def main(jobs_path: str, results_path: str) -> None:
    from airflow.utils import db

    try:
        from airflow.dag_processing.dagbag import DagBag  # Airflow 3.2+
    except ImportError:
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]

    started = time.monotonic()
    db.resetdb()
    print(f"resetdb: {time.monotonic() - started:.1f} s", file=sys.stderr)
    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    assert not bag.import_errors, bag.import_errors
    results = []
    with open(jobs_path) as jobs:
        todo = json.load(jobs)
    for job in todo:
        dag = bag.dags[job["dag_id"]]
        if job.get("sync_to_db"):
            _store(bag, dag)
        kwargs = {"run_conf": job.get("conf") or {}}
        if job.get("manual"):
            when = datetime.fromisoformat(job["run_after"])
            kwargs.update(
                {"run_after": when, "logical_date": None} if AIRFLOW_3 else {"execution_date": when}
            )
        elif job.get("logical_date"):  # else now, as `airflow dags test` does
            when = datetime.fromisoformat(job["logical_date"])
            kwargs["logical_date" if AIRFLOW_3 else "execution_date"] = when
        started = time.monotonic()
        result = _dump_run(dag.test(**kwargs))
        results.append({**result, "seconds": round(time.monotonic() - started, 2)})
    with open(results_path, "w") as out:
        json.dump(results, out, default=str)


if __name__ == "__main__":
    main(*sys.argv[1:3])
