"""E2E scenario 5: one run places 100 calls, one mapped task each, every wait deferred to the triggerer."""

from __future__ import annotations

from datetime import datetime, timezone

try:  # Airflow 3
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.10 / 2.11
    from airflow import DAG  # type: ignore[attr-defined,no-redef]

from telzino_provider.operators.telzino import TelzinoCreateOutboundCallOperator

CALLS = 100

with DAG(
    dag_id="telzino_e2e_campaign",
    schedule=None,
    start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    tags=["telzino", "e2e"],
) as dag:
    TelzinoCreateOutboundCallOperator.partial(
        task_id="call",
        agent_id="{{ var.value.telzino_agent_id }}",
        to_number="+18135550100",  # the emulator's number that always answers
        call_context="Remind the customer of the appointment.",
        wait_for_completion=True,
        deferrable=True,
        poll_interval=5,
        timeout=1800,
    ).expand(metadata=[{"crm_id": f"CAMPAIGN-{i:03d}"} for i in range(CALLS)])
