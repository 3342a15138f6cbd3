"""Land finished Telzino calls in object storage every hour, and summarise each landing downstream.

``telzino_calls_to_storage`` (hourly): the calls that *ended* in the run's data interval (triggered
by hand: the last full hour before it), each with its transcript, go to
``<storage>/calls/calls_ended_<interval start>.jsonl.gz`` (JSON Lines, one call per line, gzip),
and their recordings to ``<storage>/calls/recordings/<call id>.wav``, copied before their pre-signed
links expire. A re-run of an interval replaces its file; recordings already there are skipped. An
hour without calls writes an empty file.

``telzino_calls_storage_summary`` is scheduled on the Asset ``telzino://example/calls``: each
landing triggers it; it reads the file named in the event's extra and prints the calls by status and
the total talk time.

Where the files go: the Variable ``telzino_storage_url``, read when the task runs (never at parse
time). Default: ``file://$AIRFLOW_HOME/telzino_storage``. To land in S3 instead:

1. install the Amazon provider (``pip install apache-airflow-providers-amazon``): it registers the
   ``s3://`` filesystem with Airflow's object storage, which uses the connection ``aws_default``;
2. ``airflow variables set telzino_storage_url s3://my-bucket/telzino`` (no trailing slash).

The same works for ``gs://`` (Google provider) and ``abfs://`` (Microsoft Azure provider). Both DAGs
share the Asset ``telzino://example/calls`` rather than the storage URL: an Asset is fixed when the
file is parsed, the URL is not; each event's extra carries the object's ``uri``. (With a destination
fixed in the DAG file, the operator announces the destination itself and ``outlets`` can be left out.)

For a real account: the connection ``telzino_default`` (host empty or ``https://api.telzino.com``,
password = your access token, or extras ``client_id``/``client_secret``) and the Variable
``telzino_agent_id`` (default: the emulator's agent). ``make demo`` runs both DAGs against the local
emulator.
"""

from __future__ import annotations

import gzip
import json
import os
from collections import Counter
from datetime import datetime, timezone

try:  # Airflow 3
    from airflow.sdk import DAG, Asset, ObjectStoragePath, task
except ImportError:  # Airflow 2.10 / 2.11
    from airflow import DAG  # type: ignore[attr-defined,no-redef]
    from airflow.datasets import Dataset as Asset  # type: ignore[no-redef]
    from airflow.decorators import task  # type: ignore[no-redef]
    from airflow.io.path import ObjectStoragePath  # type: ignore[no-redef]
try:  # Airflow 3.2+
    from airflow.sdk import CronDataIntervalTimetable
except ImportError:  # Airflow 2.10 - 3.1
    from airflow.timetables.interval import CronDataIntervalTimetable  # type: ignore[no-redef]

from telzino_provider.transfers.telzino_to_object_storage import TelzinoCallsToObjectStorageOperator

# Rendered when the task runs: the Variable, else a folder in AIRFLOW_HOME (Airflow's own default).
_HOME = os.path.expanduser(os.environ.get("AIRFLOW_HOME", "~/airflow"))
STORAGE_URL = "{{ var.value.get('telzino_storage_url', '" + f"file://{_HOME}/telzino_storage" + "') }}"
CALLS = Asset("telzino://example/calls")
AGENT_ID = "{{ var.value.get('telzino_agent_id', '1e3c0696-5ad2-434c-8ce9-60671acde5dc') }}"

with DAG(
    dag_id="telzino_calls_to_storage",
    # Not "@hourly": on Airflow 3 that gives runs an empty data interval (start == end).
    schedule=CronDataIntervalTimetable("0 * * * *", timezone="UTC"),
    start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
    catchup=False,  # safe to turn on: every run lands its own interval under its own name
    max_active_runs=4,
    tags=["telzino", "example"],
    doc_md=__doc__,
):
    TelzinoCallsToObjectStorageOperator(
        task_id="land_calls",
        agent_id=AGENT_ID,
        # {window_start}: the interval's start (20260611T120000Z), filled in once the window is known.
        destination=STORAGE_URL + "/calls/calls_ended_{window_start}.jsonl.gz",
        window_field="ended_at",
        use_data_interval=True,  # the run's interval; a manual run: the last full hour before it
        include_transcripts=True,
        include_recordings=True,  # into <storage>/calls/recordings/
        outlets=[CALLS],  # extra: {"calls", "window", "uri"}
    )


@task(inlets=[CALLS], multiple_outputs=False)
def summarize_landing(**context):
    """Read the file the newest landing announced; print the calls by status and the total talk time."""
    extra = _newest_extra(context)
    if extra is None:
        print("Nothing has landed yet: run telzino_calls_to_storage first.")
        return None
    path = ObjectStoragePath(extra["uri"])
    statuses: Counter[str] = Counter()
    talk_seconds = 0
    with path.open("rb") as raw:
        stream = gzip.GzipFile(fileobj=raw) if path.name.endswith(".gz") else raw
        for line in iter(stream.readline, b""):  # streamed, one call at a time
            call = json.loads(line)
            statuses[call["status"]] += 1
            talk_seconds += call.get("duration") or 0
    start, end = extra["window"]
    print(f"Landed {extra['calls']} calls that ended in [{start}, {end}) at {extra['uri']}")
    talk = f"{talk_seconds // 60}m {talk_seconds % 60:02d}s"
    print(f"By status: {dict(statuses) or 'none'}; total talk time {talk}")
    return {
        "uri": extra["uri"],
        "calls": sum(statuses.values()),
        "by_status": dict(statuses),
        "talk_seconds": talk_seconds,
    }


def _newest_extra(context) -> dict | None:
    """The extra of the event that triggered this run, else (a manual run) of the newest event."""
    triggering = context.get("triggering_asset_events") or context.get("triggering_dataset_events") or {}
    events = [event for group in triggering.values() for event in group]
    if not events:
        events = list(context["inlet_events"][CALLS])
    return dict(events[-1].extra) if events else None


with DAG(
    dag_id="telzino_calls_storage_summary",
    schedule=[CALLS],
    start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    tags=["telzino", "example"],
    doc_md=__doc__,
):
    summarize_landing()
