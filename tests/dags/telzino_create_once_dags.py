"""DAGs for the create-once tests: one call with retries that come sooner than the API lists it.

The agent comes from the run's params, the connection from the environment; parsing sends nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.x
    from airflow import DAG  # type: ignore[attr-defined,no-redef]

from telzino_provider.operators.telzino import TelzinoCreateOutboundCallOperator

START = datetime(2024, 1, 1, tzinfo=timezone.utc)
NO_ID = "00000000-0000-4000-8000-000000000000"
#: Retries at once: every retry comes before the test's emulator lists the new call.
RETRIES = {"retries": 2, "retry_delay": timedelta(0)}
WAITS = {
    "place": {},
    "poll": {"wait_for_completion": True, "deferrable": False},
    "deferrable": {"wait_for_completion": True, "deferrable": True},
    # The trigger times out (the test's emulator clock is frozen): the failure comes on resume.
    "trigger_timeout": {"wait_for_completion": True, "deferrable": True, "timeout": 0.5},
    # Airflow's execution_timeout fires while the worker waits on the queued call.
    "execution_timeout": {
        "wait_for_completion": True,
        "deferrable": False,
        "execution_timeout": timedelta(seconds=1),
    },
}


def _create_once_dag(name: str, wait: dict) -> DAG:
    with DAG(
        f"telzino_test_create_once_{name}",
        schedule=None,
        start_date=START,
        catchup=False,
        params={"agent_id": NO_ID},
    ) as dag:
        TelzinoCreateOutboundCallOperator(
            task_id="place_call",
            agent_id="{{ params.agent_id }}",
            to_number="+18135550100",
            **{"poll_interval": 0.1, "timeout": 30, **wait},
            **RETRIES,
        )
    return dag


(
    create_once_place,
    create_once_poll,
    create_once_deferrable,
    create_once_trigger_timeout,
    create_once_execution_timeout,
) = (_create_once_dag(name, wait) for name, wait in WAITS.items())
