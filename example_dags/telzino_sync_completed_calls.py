"""Hourly sync of finished Telzino calls into JSONL files, one file per data interval.

Each run lists the calls that *ended* in its data interval (``window_field="ended_at"``), joins each
with its transcript in one pass over the agent's newest call logs (back to the oldest call's creation,
so the requests follow the interval's calls, not the account's history), writes
``<output_dir>/calls_ended_<interval start>.jsonl`` and returns a small summary (count, total and mean
duration, outcomes). A call created in one interval and finished in the next lands in the later file,
exactly once. A run only reads its own interval and overwrites its own file, so retries, clearing a
run, catchup and ``airflow dags backfill`` are all safe.

Triggered by hand, a run has no data interval on Airflow 3; ``use_data_interval=True`` then reads the
last full hour before the moment it was triggered (what Airflow 2 gives a manual run), so it rewrites
that hour's file with the same content the scheduled run gives. The task log says which window it
read and why; the downstream tasks take the window from the list task's XCom ``window``.

Out of the box it works against the local emulator (``make demo``). For a real account:

* connection ``telzino_default``: host empty (or ``https://api.telzino.com``), password = your access
  token, or extras ``client_id``/``client_secret`` for OAuth. Another connection id: the Variable
  ``telzino_conn_id`` or the ``telzino_conn_id`` param.
* agent: the Variable ``telzino_agent_id`` (or the ``agent_id`` param); the default is the emulator's.
* output folder: the Variable ``telzino_output_dir`` (or the ``output_dir`` param); default
  ``$AIRFLOW_HOME/telzino_calls``. With several workers, use a shared volume.
* ``STATUSES``: add ``no_answer``, ``busy`` and ``failed`` to keep unanswered calls too.

Params win over Variables, Variables over the defaults. Nothing here reads a Variable or the network at
parse time: the templates below are rendered when a task runs.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

try:  # Airflow 3
    from airflow.sdk import DAG, Param, task
except ImportError:  # Airflow 2.10 / 2.11
    from airflow import DAG  # type: ignore[attr-defined,no-redef]
    from airflow.decorators import task  # type: ignore[no-redef]
    from airflow.models.param import Param  # type: ignore[no-redef]
try:  # Airflow 3.2+
    from airflow.sdk import CronDataIntervalTimetable
except ImportError:  # Airflow 2.10 - 3.1
    from airflow.timetables.interval import CronDataIntervalTimetable  # type: ignore[no-redef]

from telzino_provider.hooks.telzino import TelzinoHook
from telzino_provider.operators.telzino import TelzinoListOutboundCallsOperator

# Rendered when a task runs: the run's param, else the Variable, else the default. The default agent
# is the emulator's (its id is fixed by the emulator's default seed).
AGENT_ID = (
    "{{ params.agent_id or var.value.get('telzino_agent_id', '1e3c0696-5ad2-434c-8ce9-60671acde5dc') }}"
)
CONN_ID = "{{ params.telzino_conn_id or var.value.get('telzino_conn_id', 'telzino_default') }}"
OUTPUT_DIR = "{{ params.output_dir or var.value.get('telzino_output_dir', '') }}"
STATUSES = ["completed"]
# Keep the list XCom small: only what the file and the summary need.
FIELDS = [  # created_at also bounds the transcript join (get_call_transcripts)
    "id",
    "to_number",
    "status",
    "created_at",
    "ended_at",
    "duration",
    "transcript_id",
    "request_metadata",
]


# multiple_outputs=False: each task's return value is one XCom. Left to inference, a `-> dict` return
# annotation would push every key as an XCom of its own.
def window_of(ti) -> dict:
    """The bounds the list task read (XCom key ``window``): the data interval, or a manual run's hour."""
    return ti.xcom_pull(task_ids="list_finished_calls", key="window")


@task(multiple_outputs=False)
def write_jsonl(calls: list[dict], agent_id: str, conn_id: str, output_dir: str, ti=None):
    """Join each call with its transcript and write the interval's file (atomically, so reruns replace it)."""
    hook = TelzinoHook(telzino_conn_id=conn_id)
    try:
        # One pass over the agent's call logs for the whole interval, not one scan per call, and it
        # stops at the oldest call's created_at: a transcript not listed yet costs a page, not the history.
        transcripts = hook.get_call_transcripts(agent_id, calls)
    finally:
        hook.close()
    home = os.path.expanduser(os.environ.get("AIRFLOW_HOME", "~/airflow"))  # Airflow's own default
    folder = Path(output_dir) if output_dir else Path(home) / "telzino_calls"
    folder.mkdir(parents=True, exist_ok=True)
    start = datetime.fromisoformat(window_of(ti)["start"])
    path = folder / f"calls_ended_{start:%Y%m%dT%H%MZ}.jsonl"
    missing = 0
    tmp = path.with_suffix(".jsonl.tmp")
    with tmp.open("w", encoding="utf-8") as out:
        for call in calls:
            # Only completed calls have a transcript; one not listed yet is written as null and counted.
            log = transcripts.get(call["transcript_id"] or "") or {}
            if not log and call["status"] == "completed":
                missing += 1
            row = {**call, "summary_text": log.get("summary_text"), "transcript": log.get("transcript_json")}
            out.write(json.dumps(row, sort_keys=True) + "\n")
    os.replace(tmp, path)
    return {"path": str(path), "rows": len(calls), "missing_transcripts": missing}


@task(multiple_outputs=False)
def summarize(calls: list[dict], written: dict, ti=None):
    """A few numbers about the interval; small enough for an XCom, a log line or a chat message."""
    durations = [c["duration"] for c in calls if c["duration"] is not None]
    window = window_of(ti)
    return {
        "interval": [window["start"], window["end"]],
        "window_source": window["source"],
        "calls": len(calls),
        "total_duration_s": sum(durations),
        "mean_duration_s": round(sum(durations) / len(durations), 1) if durations else None,
        "outcomes": dict(Counter(c["status"] for c in calls)),
        "missing_transcripts": written["missing_transcripts"],
        "path": written["path"],
    }


with DAG(
    dag_id="telzino_sync_completed_calls",
    # Not "@hourly": on Airflow 3 that gives runs an empty data interval (start == end).
    schedule=CronDataIntervalTimetable("0 * * * *", timezone="UTC"),
    start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
    catchup=False,  # safe to turn on: every run is bounded by its own interval
    max_active_runs=4,
    params={
        "agent_id": Param("", type="string", description="Agent UUID; empty: Variable telzino_agent_id"),
        "telzino_conn_id": Param("", type="string", description="Empty: Variable telzino_conn_id"),
        "output_dir": Param("", type="string", description="Empty: Variable telzino_output_dir"),
    },
    tags=["telzino", "example"],
    doc_md=__doc__,
) as dag:
    finished_calls = TelzinoListOutboundCallsOperator(
        task_id="list_finished_calls",
        agent_id=AGENT_ID,
        status=STATUSES,
        window_field="ended_at",
        use_data_interval=True,  # the run's interval; a manual run: the last full hour before it
        fields=FIELDS,
        telzino_conn_id=CONN_ID,
    )
    written = write_jsonl(finished_calls.output, agent_id=AGENT_ID, conn_id=CONN_ID, output_dir=OUTPUT_DIR)
    summarize(finished_calls.output, written)
