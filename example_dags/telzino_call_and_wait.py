"""Place one Telzino call from the run's params, wait for its outcome in the triggerer, then read it.

Trigger it with a conf such as ``{"to_number": "+15551234567", "crm_id": "CRM-1001",
"call_context": "Confirm the appointment on Tuesday at 10:00"}``. ``place_call`` dials and pushes the
call id (XCom key ``call_id``) at once; ``wait_for_outcome`` waits deferred, so no worker slot is held
while the phone rings; ``read_outcome`` returns status, duration, summary and the CRM id. A call that
ends ``no_answer``, ``busy`` or ``failed`` fails ``wait_for_outcome`` with the reason (set
``soft_fail=True`` to skip instead). Retrying or clearing ``place_call`` never dials twice: the
operator adopts the call it placed before.

Out of the box it works against the local emulator (``make demo``); its default number always answers.
For a real account:

* connection ``telzino_default``: host empty (or ``https://api.telzino.com``), password = your access
  token, or extras ``client_id``/``client_secret`` for OAuth. Another connection id: the Variable
  ``telzino_conn_id`` or the ``telzino_conn_id`` param.
* agent: the Variable ``telzino_agent_id`` (or the ``agent_id`` param); the default is the emulator's.
* ``to_number``: a real number you may call. Deferrable waiting needs a running triggerer.

Params win over Variables, Variables over the defaults; nothing is read at parse time.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

try:  # Airflow 3
    from airflow.sdk import DAG, Param, task
except ImportError:  # Airflow 2.10 / 2.11
    from airflow import DAG  # type: ignore[attr-defined,no-redef]
    from airflow.decorators import task  # type: ignore[no-redef]
    from airflow.models.param import Param  # type: ignore[no-redef]

from telzino_provider.operators.telzino import TelzinoCreateOutboundCallOperator
from telzino_provider.sensors.telzino import TelzinoOutboundCallSensor

# Rendered when a task runs: the run's param, else the Variable, else the default. The default agent
# is the emulator's (its id is fixed by the emulator's default seed).
AGENT_ID = (
    "{{ params.agent_id or var.value.get('telzino_agent_id', '1e3c0696-5ad2-434c-8ce9-60671acde5dc') }}"
)
CONN_ID = "{{ params.telzino_conn_id or var.value.get('telzino_conn_id', 'telzino_default') }}"


# multiple_outputs=False: each task's return value is one XCom. Left to inference, a `-> dict` return
# annotation would push every key as an XCom of its own.
@task(multiple_outputs=False)
def read_outcome(call: dict):
    """What a downstream system needs from the final call record (no phone number in the XCom)."""
    return {
        "call_id": call["id"],
        "crm_id": (call.get("request_metadata") or {}).get("crm_id"),
        "status": call["status"],
        "duration": call["duration"],
        "summary": call["summary_text"],
    }


with DAG(
    dag_id="telzino_call_and_wait",
    schedule=None,
    start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    params={
        "to_number": Param(
            "+18135550100", type="string", pattern=r"^\+[1-9]\d{6,14}$", description="E.164 number to dial"
        ),
        "call_context": Param("Confirm the appointment on Tuesday at 10:00.", type="string", maxLength=4000),
        "crm_id": Param("CRM-1001", type="string", description="Stored in the call's metadata"),
        "agent_id": Param("", type="string", description="Agent UUID; empty: Variable telzino_agent_id"),
        "telzino_conn_id": Param("", type="string", description="Empty: Variable telzino_conn_id"),
    },
    tags=["telzino", "example"],
    doc_md=__doc__,
) as dag:
    place_call = TelzinoCreateOutboundCallOperator(
        task_id="place_call",
        agent_id=AGENT_ID,
        to_number="{{ params.to_number }}",
        call_context="{{ params.call_context }}",
        metadata={"crm_id": "{{ params.crm_id }}"},
        telzino_conn_id=CONN_ID,
    )
    wait_for_outcome = TelzinoOutboundCallSensor(
        task_id="wait_for_outcome",
        agent_id=AGENT_ID,
        call_id="{{ ti.xcom_pull(task_ids='place_call', key='call_id') }}",
        deferrable=True,
        poke_interval=5,  # one cheap GET per look, made by the triggerer
        timeout=60 * 60,
        # A wait only reads, so retries are safe: they cover an Airflow scheduler race on deferral
        # (docs/running-in-production.md). A call that ended no_answer/busy/failed is not retried.
        retries=2,
        retry_delay=timedelta(seconds=10),
        telzino_conn_id=CONN_ID,
    )
    place_call >> wait_for_outcome
    read_outcome(wait_for_outcome.output)
