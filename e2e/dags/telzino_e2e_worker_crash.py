"""E2E scenario 4: one call whose first attempt is killed after the API recorded it; the retry adopts it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

try:  # Airflow 3
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.10 / 2.11
    from airflow import DAG  # type: ignore[attr-defined,no-redef]

from telzino_provider.operators.telzino import TelzinoCreateOutboundCallOperator

with DAG(
    dag_id="telzino_e2e_worker_crash",
    schedule=None,
    start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    tags=["telzino", "e2e"],
) as dag:
    TelzinoCreateOutboundCallOperator(
        task_id="place_call",
        agent_id="{{ var.value.telzino_agent_id }}",
        to_number="+18135550100",
        call_context="Confirm the delivery window.",
        metadata={"crm_id": "CRASH-1"},
        retries=2,
        retry_delay=timedelta(seconds=2),
    )
