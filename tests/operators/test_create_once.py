"""The create operator POSTs once per task instance once the API has accepted its create.

Every failure point after a create the API answered 2xx, run through ``dag.test()`` with retries
that come at once, against an emulator that lists (and reads) a new call only later than that: the
request log must show exactly one POST. A worker that dies after the POST returned is played by a
create sent from the test itself, then a retry of the operator.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from telzino_provider.emulator import OUTCOME_NUMBERS, TelzinoEmulator
from telzino_provider.exceptions import TelzinoCallMayHaveBeenPlacedError, TelzinoValidationError
from telzino_provider.hooks.telzino import TelzinoHook
from telzino_provider.operators.telzino import TelzinoCreateOutboundCallOperator
from telzino_provider.version_compat import (
    AIRFLOW_V_3_0_PLUS,
    AIRFLOW_V_3_1_PLUS,
    AIRFLOW_V_3_3_PLUS,
    AirflowFailException,
    AirflowTaskTerminated,
    AirflowTaskTimeout,
)
from tests.airflow_helpers import FakeTI, make_context, run_dag, ti_states, xcom

DAGS = "telzino_create_once_dags.py"
#: Longer than the retries take to come: a retry's look for the call finds nothing.
LISTING_DELAY = 8.0


def calls_path(emu: TelzinoEmulator) -> str:
    return f"/v1/agents/{emu.agent_id}/outbound-calls"


def posts(emu: TelzinoEmulator) -> int:
    return emu.count_requests("POST", calls_path(emu))


def run(emu: TelzinoEmulator, wait: str) -> object:
    return run_dag(f"telzino_test_create_once_{wait}", conf={"agent_id": emu.agent_id}, filename=DAGS)


def place_call_try(dag_run: object) -> tuple[str, int]:
    return ti_states(dag_run)[("place_call", -1)]


def assert_one_call_and_its_id_kept(emu: TelzinoEmulator, dag_run: object) -> None:
    assert posts(emu) == 1 and len(emu.calls()) == 1
    assert xcom(dag_run, "place_call", "call_id") == emu.calls()[0]["id"]
    if not AIRFLOW_V_3_3_PLUS:
        # Before Airflow 3.3 nothing survives a try: the failure is final, no retry was used.
        assert place_call_try(dag_run) == ("failed", 1)


@pytest.fixture
def slow_listing(airflow_db: None, telzino_conn: TelzinoEmulator) -> Iterator[TelzinoEmulator]:
    telzino_conn.listing_delay = LISTING_DELAY
    yield telzino_conn


@pytest.mark.parametrize("wait", ["place", "poll", "deferrable"])
def test_a_new_call_not_readable_yet_is_placed_once(slow_listing: TelzinoEmulator, wait: str) -> None:
    # The GET right after the create (of the record, or of the wait's first look) answers 404.
    slow_listing.read_delay = 1.0

    dag_run = run(slow_listing, wait)

    assert_one_call_and_its_id_kept(slow_listing, dag_run)
    if AIRFLOW_V_3_3_PLUS:  # each retry read the remembered id: no look, just the call again
        call_path = f"{calls_path(slow_listing)}/{slow_listing.calls()[0]['id']}"
        lists = [r for r in slow_listing.requests if r.method == "GET" and r.path == calls_path(slow_listing)]
        assert lists == []
        tries = place_call_try(dag_run)[1]
        assert tries >= 2 and slow_listing.count_requests("GET", call_path) >= tries


def test_a_wait_that_fails_in_the_trigger_does_not_dial_again(slow_listing: TelzinoEmulator) -> None:
    dag_run = run(slow_listing, "trigger_timeout")  # the frozen clock keeps the call queued

    assert_one_call_and_its_id_kept(slow_listing, dag_run)
    if AIRFLOW_V_3_3_PLUS:
        assert place_call_try(dag_run) == ("failed", 3)  # every retry waited on the same call


def test_a_create_answered_without_an_id_is_final(slow_listing: TelzinoEmulator) -> None:
    slow_listing.omit_id_next_create()

    dag_run = run(slow_listing, "place")

    assert posts(slow_listing) == 1 and len(slow_listing.calls()) == 1
    assert place_call_try(dag_run) == ("failed", 1)  # retries=2, none used


def test_a_failed_xcom_push_after_the_create_does_not_dial_again(
    slow_listing: TelzinoEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    if AIRFLOW_V_3_0_PLUS:
        from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance as TI
    else:
        from airflow.models.taskinstance import TaskInstance as TI  # type: ignore[no-redef]
    push = TI.xcom_push
    failures = []

    def push_fails_once(self: object, key: str, value: object, *args: object, **kwargs: object) -> None:
        if key == "call_id" and not failures:
            failures.append(key)
            raise RuntimeError("the XCom backend is down")
        push(self, key, value, *args, **kwargs)

    monkeypatch.setattr(TI, "xcom_push", push_fails_once)

    dag_run = run(slow_listing, "place")

    assert failures == ["call_id"]
    assert posts(slow_listing) == 1 and len(slow_listing.calls()) == 1
    if not AIRFLOW_V_3_3_PLUS:
        assert place_call_try(dag_run) == ("failed", 1)
    else:
        assert place_call_try(dag_run) == ("success", 2)
        assert xcom(dag_run, "place_call", "call_id") == slow_listing.calls()[0]["id"]


def test_a_retry_after_a_worker_died_past_the_post_waits_for_the_listing(
    telzino_conn: TelzinoEmulator,
) -> None:
    telzino_conn.listing_delay = 1.0
    op = TelzinoCreateOutboundCallOperator(
        task_id="place_call",
        agent_id=telzino_conn.agent_id,
        to_number=OUTCOME_NUMBERS["completed"],
        listing_delay=2.0,
    )
    # Try 1 got its 202 and died before anything durable: only the API knows the call.
    body = op._request_body(make_context(FakeTI(run_id="manual__died")))
    TelzinoHook().create_outbound_call(telzino_conn.agent_id, **body)

    retry = FakeTI(run_id="manual__died", try_number=2)
    record = op.execute(make_context(retry))

    assert posts(telzino_conn) == 1 and len(telzino_conn.calls()) == 1
    assert record["id"] == retry.xcoms["call_id"] == telzino_conn.calls()[0]["id"]


def test_without_a_state_store_the_failure_names_the_call_and_how_to_wait(
    telzino_conn: TelzinoEmulator,
) -> None:
    telzino_conn.read_delay = 5.0
    ti = FakeTI()  # its context has no task state store, as before Airflow 3.3
    op = TelzinoCreateOutboundCallOperator(
        task_id="place_call", agent_id=telzino_conn.agent_id, to_number=OUTCOME_NUMBERS["completed"]
    )

    with pytest.raises(AirflowFailException) as info:
        op.execute(make_context(ti))

    (call,) = telzino_conn.calls()
    message = str(info.value)
    assert "WAS PLACED" in message and "HTTP 404" in message
    assert f"TelzinoOutboundCallSensor(agent_id='{telzino_conn.agent_id}', call_id='{call['id']}')" in message
    assert ti.xcoms["call_id"] == call["id"]


def test_an_execution_timeout_while_waiting_does_not_dial_again(slow_listing: TelzinoEmulator) -> None:
    # AirflowTaskTimeout is a BaseException: it must be final too, or a retry dials again.
    dag_run = run(slow_listing, "execution_timeout")  # the frozen clock keeps the call queued

    assert_one_call_and_its_id_kept(slow_listing, dag_run)
    if AIRFLOW_V_3_3_PLUS:
        assert place_call_try(dag_run) == ("failed", 3)  # every retry waited on the same call


def _raise_terminated(signum: int, frame: object) -> None:
    # What Airflow 2's task instance installs for SIGTERM around execute().
    raise AirflowTaskTerminated("Task received SIGTERM signal")


@contextlib.contextmanager
def _sigterm_in(seconds: float) -> Iterator[None]:
    """SIGTERM to this process in ``seconds``, as a worker shut down during a deploy gets."""
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    timer = threading.Timer(seconds, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        signal.signal(signal.SIGTERM, previous)


def _execution_timeout(seconds: float) -> contextlib.AbstractContextManager[None]:
    """Airflow's own timeout, which the task runner puts around execute() for execution_timeout."""
    if AIRFLOW_V_3_1_PLUS:
        from airflow.sdk.execution_time.timeout import timeout
    else:
        from airflow.utils.timeout import timeout  # type: ignore[no-redef]
    return timeout(seconds)  # type: ignore[return-value]


#: Airflow's two ways of stopping a running try, both ``BaseException``s, and what each raises.
STOPS = pytest.mark.parametrize(
    ("stop", "raised"),
    [(_execution_timeout, AirflowTaskTimeout), (_sigterm_in, AirflowTaskTerminated)],
    ids=["execution_timeout", "sigterm"],
)


@STOPS
def test_a_base_exception_while_waiting_is_final_and_names_the_call(
    telzino_conn: TelzinoEmulator, stop: Callable[[float], Any], raised: type[BaseException]
) -> None:
    telzino_conn.listing_delay = LISTING_DELAY  # a retry would not find the call and would dial
    ti = FakeTI()  # no task state store, as before Airflow 3.3
    waits = {"wait_for_completion": True, "deferrable": False, "poll_interval": 0.2, "timeout": 60}
    op = TelzinoCreateOutboundCallOperator(
        task_id="place_call", agent_id=telzino_conn.agent_id, to_number=OUTCOME_NUMBERS["completed"], **waits
    )

    with pytest.raises(AirflowFailException) as info, stop(1.0):
        op.execute(make_context(ti))

    (call,) = telzino_conn.calls()
    assert posts(telzino_conn) == 1
    message = str(info.value)
    assert "WAS PLACED" in message and f"this try failed: {raised.__name__}: " in message
    assert f"TelzinoOutboundCallSensor(agent_id='{telzino_conn.agent_id}', call_id='{call['id']}')" in message
    assert isinstance(info.value.__cause__, raised)


@STOPS
def test_a_stop_while_the_create_post_is_in_flight_is_final(
    telzino_conn: TelzinoEmulator, stop: Callable[[float], Any], raised: type[BaseException]
) -> None:
    # The API recorded the call and answers late; a retry would not find it listed and would dial.
    telzino_conn.listing_delay = LISTING_DELAY
    telzino_conn.hold_next_create(3.0, record_first=True)
    op = TelzinoCreateOutboundCallOperator(
        task_id="place_call",
        agent_id=telzino_conn.agent_id,
        to_number=OUTCOME_NUMBERS["completed"],
        wait_for_completion=False,
    )

    with pytest.raises(TelzinoCallMayHaveBeenPlacedError) as info, stop(1.0):
        op.execute(make_context(FakeTI()))

    held_until = time.monotonic() + 10  # the emulator logs the POST once its late answer is sent
    while not posts(telzino_conn) and time.monotonic() < held_until:
        time.sleep(0.1)
    assert posts(telzino_conn) == 1 and len(telzino_conn.calls()) == 1
    assert isinstance(info.value, AirflowFailException)  # final: Airflow does not retry it
    assert isinstance(info.value.__cause__, raised)
    message = str(info.value)
    assert f"interrupted ({raised.__name__}: " in message and "MAY HAVE BEEN PLACED" in message
    # Stopped means stopped: no pause and look again after the create (one POST, no listing).
    assert telzino_conn.count_requests("GET") == 0


@pytest.mark.parametrize("value", [-1, None, "60", float("nan"), timedelta(seconds=-1)])
def test_listing_delay_is_checked_when_the_operator_is_built(value: object) -> None:
    with pytest.raises(TelzinoValidationError, match="listing_delay"):
        TelzinoCreateOutboundCallOperator(
            task_id="t", agent_id="a", to_number=OUTCOME_NUMBERS["completed"], listing_delay=value
        )
