"""Wait for the calls completed in each hour, then handle every call in its own mapped task.

``wait_for_completed_calls`` (TelzinoCompletedCallsSensor, deferrable) returns the calls that ended
in the run's data interval with status ``completed``; ``follow_up`` is mapped over that list with
``.expand()``, one task instance per call, so one slow or failing call is retried on its own. An hour
without completed calls times out after 30 minutes and is skipped (``soft_fail``), not failed.
Triggered by hand (no data interval on Airflow 3), it reads the last full hour before the moment it
was triggered; the sensor's log says which window it read and why.

Out of the box it works against the local emulator (``make demo``). For a real account:

* connection ``telzino_default``: host empty (or ``https://api.telzino.com``), password = your access
  token, or extras ``client_id``/``client_secret`` for OAuth. Another connection id: the Variable
  ``telzino_conn_id`` or the ``telzino_conn_id`` param.
* agent: the Variable ``telzino_agent_id`` (or the ``agent_id`` param); the default is the emulator's.
* ``follow_up``: put your own per-call work here (update the CRM, open a ticket, send a message).
* more than 1024 calls per hour: raise ``[core] max_map_length``, or use a shorter schedule.

Params win over Variables, Variables over the defaults; nothing is read at parse time.
"""

from __future__ import annotations

from datetime import datetime, timezone

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
from telzino_provider.sensors.telzino import TelzinoCompletedCallsSensor

# Rendered when a task runs: the run's param, else the Variable, else the default. The default agent
# is the emulator's (its id is fixed by the emulator's default seed).
AGENT_ID = (
    "{{ params.agent_id or var.value.get('telzino_agent_id', '1e3c0696-5ad2-434c-8ce9-60671acde5dc') }}"
)
CONN_ID = "{{ params.telzino_conn_id or var.value.get('telzino_conn_id', 'telzino_default') }}"


# multiple_outputs=False: each task's return value is one XCom. Left to inference, a `-> dict` return
# annotation would push every key as an XCom of its own.
@task(multiple_outputs=False)
def follow_up(call: dict, agent_id: str, conn_id: str):
    """One call: fetch its full record (the list shape has no summary) and keep what the CRM needs."""
    hook = TelzinoHook(telzino_conn_id=conn_id)
    try:
        record = hook.get_outbound_call(agent_id, call["id"])
    finally:
        hook.close()
    summary = record["summary_text"] or ""
    return {
        "call_id": record["id"],
        "crm_id": (record.get("request_metadata") or {}).get("crm_id"),
        "duration": record["duration"],
        "summary_title": summary.splitlines()[0] if summary else None,
    }


with DAG(
    dag_id="telzino_completed_calls_fanout",
    # Not "@hourly": on Airflow 3 that gives runs an empty data interval (start == end).
    schedule=CronDataIntervalTimetable("0 * * * *", timezone="UTC"),
    start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    params={
        "agent_id": Param("", type="string", description="Agent UUID; empty: Variable telzino_agent_id"),
        "telzino_conn_id": Param("", type="string", description="Empty: Variable telzino_conn_id"),
    },
    tags=["telzino", "example"],
    doc_md=__doc__,
) as dag:
    completed = TelzinoCompletedCallsSensor(
        task_id="wait_for_completed_calls",
        agent_id=AGENT_ID,
        status="completed",
        window_field="ended_at",
        use_data_interval=True,  # the run's interval; a manual run: the last full hour before it
        fields=["id", "ended_at"],  # the mapped task fetches the rest; keeps the XCom small
        deferrable=True,
        poke_interval=60,
        timeout=30 * 60,
        soft_fail=True,
        telzino_conn_id=CONN_ID,
    )
    follow_up.partial(agent_id=AGENT_ID, conn_id=CONN_ID).expand(call=completed.output)
