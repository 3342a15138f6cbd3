"""DAGs run by the operator and sensor tests through ``dag.test()``.

Nothing here reads the emulator at parse time: agent and call ids, window bounds and numbers come
from the run's params (the tests pass them as run conf) and the connection from the environment
(``AIRFLOW_CONN_TELZINO_DEFAULT``), so parsing this file sends no request.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

try:
    from airflow.sdk import DAG, BaseOperator
except ImportError:  # Airflow 2.x
    from airflow import DAG  # type: ignore[attr-defined,no-redef]
    from airflow.models import BaseOperator  # type: ignore[no-redef]
try:  # Airflow 3.2+
    from airflow.sdk import CronDataIntervalTimetable
except ImportError:  # Airflow 2.10 - 3.1
    from airflow.timetables.interval import CronDataIntervalTimetable  # type: ignore[no-redef]

from telzino_provider.correlation import earlier_attempt, earliest_attempt_start
from telzino_provider.operators.telzino import (
    TelzinoCreateOutboundCallOperator,
    TelzinoGetOutboundCallOperator,
    TelzinoListOutboundCallsOperator,
)
from telzino_provider.sensors.telzino import TelzinoCompletedCallsSensor, TelzinoOutboundCallSensor

START = datetime(2024, 1, 1, tzinfo=timezone.utc)
NO_ID = "00000000-0000-4000-8000-000000000000"
AGENT = "{{ params.agent_id }}"
FAST_SENSOR = {"poke_interval": 0.1, "timeout": 60}
SENSOR_MODES = ("poke", "reschedule", "deferrable")


def _call_id(call: dict) -> str:
    return call["id"]


# List a window, then get every listed call (mapped over the list operator's XCom).
with DAG(
    "telzino_test_list_get",
    schedule=None,
    start_date=START,
    catchup=False,
    params={"agent_id": NO_ID, "created_after": "", "created_before": "", "conn_id": "telzino_default"},
) as list_get_dag:
    list_calls = TelzinoListOutboundCallsOperator(
        task_id="list_calls",
        agent_id=AGENT,
        telzino_conn_id="{{ params.conn_id }}",
        created_after="{{ params.created_after }}",
        created_before="{{ params.created_before }}",
        fields=["id", "status", "created_at"],
    )
    TelzinoGetOutboundCallOperator.partial(task_id="get_call", agent_id=AGENT).expand(
        call_id=list_calls.output.map(_call_id)
    )


# Hourly pull of the calls that finished in the data interval (the catchup-safe pattern).
with DAG(
    "telzino_test_ended_at",
    schedule="@hourly",
    start_date=START,
    catchup=False,
    params={"agent_id": NO_ID},
) as ended_at_dag:
    TelzinoListOutboundCallsOperator(
        task_id="finished_calls",
        agent_id=AGENT,
        created_after="{{ data_interval_start }}",
        created_before="{{ data_interval_end }}",
        window_field="ended_at",
        lookback=timedelta(hours=1),
        fields=["id", "status", "created_at", "ended_at"],
    )
    TelzinoCompletedCallsSensor(
        task_id="completed_calls",
        agent_id=AGENT,
        created_after="{{ data_interval_start }}",
        created_before="{{ data_interval_end }}",
        window_field="ended_at",
        lookback=timedelta(hours=1),
        fields=["id", "status", "created_at", "ended_at"],
        **FAST_SENSOR,
    )


# The window from the run (use_data_interval): its data interval; a manual run on Airflow 3 has none
# and reads the last full hour before it was triggered.
with DAG(
    "telzino_test_run_window",
    schedule=CronDataIntervalTimetable("0 * * * *", timezone="UTC"),
    start_date=START,
    catchup=False,
    params={"agent_id": NO_ID},
) as run_window_dag:
    TelzinoListOutboundCallsOperator(
        task_id="finished_calls",
        agent_id=AGENT,
        window_field="ended_at",
        use_data_interval=True,
        lookback=timedelta(hours=1),
        fields=["id", "status", "created_at", "ended_at"],
    )
    TelzinoCompletedCallsSensor(
        task_id="completed_calls",
        agent_id=AGENT,
        window_field="ended_at",
        use_data_interval=True,
        lookback=timedelta(hours=1),
        fields=["id", "status", "created_at", "ended_at"],
        deferrable=True,
        **FAST_SENSOR,
    )


# Place a call (every argument templated), wait for it deferred, then watch it with a sensor.
with DAG(
    "telzino_test_create",
    schedule=None,
    start_date=START,
    catchup=False,
    params={"agent_id": NO_ID, "to_number": "+18135550100", "order_id": "none"},
) as create_dag:
    place_call = TelzinoCreateOutboundCallOperator(
        task_id="place_call",
        agent_id=AGENT,
        to_number="{{ params.to_number }}",
        call_context="Confirm order {{ params.order_id }} from run {{ run_id }}",
        metadata={"order_id": "{{ params.order_id }}", "source": "test"},
        wait_for_completion=True,
        deferrable=True,
        poll_interval=0.1,
        timeout=60,
    )
    place_call >> TelzinoOutboundCallSensor(
        task_id="watch_call",
        agent_id=AGENT,
        call_id="{{ ti.xcom_pull(task_ids='place_call', key='call_id') }}",
        **FAST_SENSOR,
    )


# Waits that time out (the test freezes the emulator's clock), one call per mapped task instance,
# retried once each: a timeout is retryable, so each retry must adopt its try 1's call.
with DAG(
    "telzino_test_create_retry",
    schedule=None,
    start_date=START,
    catchup=False,
    params={"agent_id": NO_ID},
) as create_retry_dag:
    TelzinoCreateOutboundCallOperator.partial(
        task_id="place_call",
        agent_id=AGENT,
        wait_for_completion=True,
        poll_interval=0.1,
        timeout=0.5,
        retries=1,
        retry_delay=timedelta(0),
    ).expand(to_number=["+18135550486", "+18135550480"])


# A call that ends busy: an ended call is final, so the task fails on try 1 despite its retries.
with DAG(
    "telzino_test_create_outcome_is_final",
    schedule=None,
    start_date=START,
    catchup=False,
    params={"agent_id": NO_ID},
) as create_outcome_dag:
    TelzinoCreateOutboundCallOperator(
        task_id="place_call",
        agent_id=AGENT,
        to_number="+18135550486",
        wait_for_completion=True,
        poll_interval=0.1,
        timeout=60,
        retries=2,
        retry_delay=timedelta(0),
    )


# The same sensor in each mode, for the mode-parity tests.
def _sensor_kwargs(mode: str) -> dict:
    return {"mode": "reschedule" if mode == "reschedule" else "poke", "deferrable": mode == "deferrable"}


def _call_sensor_dag(mode: str) -> DAG:
    with DAG(
        f"telzino_test_call_sensor_{mode}",
        schedule=None,
        start_date=START,
        catchup=False,
        params={"agent_id": NO_ID, "call_id": NO_ID},
    ) as dag:
        TelzinoOutboundCallSensor(
            task_id="wait_for_call",
            agent_id=AGENT,
            call_id="{{ params.call_id }}",
            **_sensor_kwargs(mode),
            **FAST_SENSOR,
        )
    return dag


def _completed_sensor_dag(mode: str) -> DAG:
    with DAG(
        f"telzino_test_completed_sensor_{mode}",
        schedule=None,
        start_date=START,
        catchup=False,
        params={"agent_id": NO_ID, "created_after": "", "created_before": ""},
    ) as dag:
        TelzinoCompletedCallsSensor(
            task_id="wait_for_calls",
            agent_id=AGENT,
            created_after="{{ params.created_after }}",
            created_before="{{ params.created_before }}",
            min_calls=3,
            fields=["id", "status", "ended_at", "request_metadata"],
            **_sensor_kwargs(mode),
            **FAST_SENSOR,
        )
    return dag


call_sensor_poke, call_sensor_reschedule, call_sensor_deferrable = map(_call_sensor_dag, SENSOR_MODES)
completed_sensor_poke, completed_sensor_reschedule, completed_sensor_deferrable = map(
    _completed_sensor_dag, SENSOR_MODES
)


# A failed call: soft_fail skips, otherwise the task fails.
with DAG(
    "telzino_test_soft_fail",
    schedule=None,
    start_date=START,
    catchup=False,
    params={"agent_id": NO_ID, "call_id": NO_ID},
) as soft_fail_dag:
    for _soft in (True, False):
        TelzinoOutboundCallSensor(
            task_id="soft" if _soft else "hard",
            agent_id=AGENT,
            call_id="{{ params.call_id }}",
            soft_fail=_soft,
            **FAST_SENSOR,
        )


# The same sensor with a small error budget, for the tests that every mode ends a run of errors alike.
def _error_budget_dag(mode: str) -> DAG:
    with DAG(
        f"telzino_test_error_budget_{mode}",
        schedule=None,
        start_date=START,
        catchup=False,
        params={"agent_id": NO_ID, "call_id": NO_ID},
    ) as dag:
        TelzinoOutboundCallSensor(
            task_id="wait_for_call",
            agent_id=AGENT,
            call_id="{{ params.call_id }}",
            max_consecutive_errors=2,
            poke_interval=0.1,
            timeout=15,
            **_sensor_kwargs(mode),
        )
    return dag


error_budget_poke, error_budget_reschedule, error_budget_deferrable = map(_error_budget_dag, SENSOR_MODES)


# What Airflow tells a task about its tries and its run, and what the never-dial-twice rule makes of
# it, written down per try; the first try fails on purpose.
class _RecordTryFacts(BaseOperator):
    template_fields = ("path",)

    def __init__(self, *, path: str, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.path = path

    def execute(self, context: dict) -> None:
        ti, run = context["ti"], context["dag_run"]
        facts = {
            "try_number": ti.try_number,
            "now": datetime.now(timezone.utc).isoformat(),
            "run_start_date": run.start_date.isoformat(),
            "clear_number": getattr(run, "clear_number", None),
            "earlier_attempt": earlier_attempt(context),
            "earliest_attempt_start": earliest_attempt_start(context).isoformat(),
        }
        with open(self.path, "a", encoding="utf-8") as out:
            out.write(json.dumps(facts) + "\n")
        if ti.try_number == 1:
            raise RuntimeError("the first try fails on purpose")


with DAG(
    "telzino_test_try_facts",
    schedule=None,
    start_date=START,
    catchup=False,
    params={"path": "/dev/null"},
) as try_facts_dag:
    _RecordTryFacts(task_id="record", path="{{ params.path }}", retries=1, retry_delay=timedelta(0))


# One call with generous retries: an uncertain create must not use them.
with DAG(
    "telzino_test_create_uncertain",
    schedule=None,
    start_date=START,
    catchup=False,
    params={"agent_id": NO_ID},
) as create_uncertain_dag:
    TelzinoCreateOutboundCallOperator(
        task_id="place_call", agent_id=AGENT, to_number="+18135550100", retries=3, retry_delay=timedelta(0)
    )
