"""DAGs run by the transfer tests through ``dag.test()``.

The agent, the window and the object's name come from the run's params; the folder objects land in
is ``$AIRFLOW_HOME/landing`` (a temporary home per test session), fixed at parse time so that the
operator can declare it as its outlet Asset.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.x
    from airflow import DAG  # type: ignore[attr-defined,no-redef]
try:  # Airflow 3.2+
    from airflow.sdk import CronDataIntervalTimetable
except ImportError:  # Airflow 2.10 - 3.1
    from airflow.timetables.interval import CronDataIntervalTimetable  # type: ignore[no-redef]

from telzino_provider.transfers.telzino_to_object_storage import TelzinoCallsToObjectStorageOperator

START = datetime(2024, 1, 1, tzinfo=timezone.utc)
NO_ID = "00000000-0000-4000-8000-000000000000"
LANDING = f"file://{os.environ.get('AIRFLOW_HOME', '/tmp')}/landing"
PARAMS = {
    "agent_id": NO_ID,
    "name": "calls.jsonl",
    "created_after": "",
    "created_before": "",
    "recordings": "",
}
WINDOW = {
    "agent_id": "{{ params.agent_id }}",
    "destination": LANDING + "/{{ params.name }}",
    "created_after": "{{ params.created_after }}",
    "created_before": "{{ params.created_before }}",
}

# Calls that ended in the window, with transcripts and recordings.
with DAG(
    "telzino_test_to_storage", schedule=None, start_date=START, catchup=False, params=PARAMS
) as storage_dag:
    TelzinoCallsToObjectStorageOperator(
        task_id="land",
        **WINDOW,
        include_recordings=True,
        recordings_destination="{{ params.recordings }}",
        retries=0,
    )

# The same, trimmed to a few fields, phone numbers masked, no recordings.
with DAG(
    "telzino_test_to_storage_redacted", schedule=None, start_date=START, catchup=False, params=PARAMS
) as redacted_dag:
    TelzinoCallsToObjectStorageOperator(
        task_id="land",
        **WINDOW,
        status=["completed", "failed"],
        fields=["id", "to_number", "status", "summary_text", "ended_at"],
        redact=True,
        retries=0,
    )

# Hourly, the window from the run (a manual run: the last full hour), the object named by it.
with DAG(
    "telzino_test_to_storage_hourly",
    schedule=CronDataIntervalTimetable("0 * * * *", timezone="UTC"),
    start_date=START,
    catchup=False,
    params={"agent_id": NO_ID},
) as hourly_dag:
    TelzinoCallsToObjectStorageOperator(
        task_id="land",
        agent_id="{{ params.agent_id }}",
        destination=LANDING + "/hourly/calls_{window_start}_{window_end}.jsonl",
        use_data_interval=True,
        retries=0,
    )
