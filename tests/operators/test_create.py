"""TelzinoCreateOutboundCallOperator against the emulator: placing, never dialling twice, waiting."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from telzino_provider.emulator import OUTCOME_NUMBERS, TelzinoEmulator
from telzino_provider.exceptions import TelzinoCallMayHaveBeenPlacedError, TelzinoValidationError
from telzino_provider.operators import telzino as operator_module
from telzino_provider.operators.telzino import TelzinoCreateOutboundCallOperator
from telzino_provider.triggers.telzino import TelzinoOutboundCallTrigger
from telzino_provider.version_compat import AirflowException
from tests.airflow_helpers import (
    FakeTI,
    defers,
    emulator_conn_env,
    execute_deferred,
    logged_lines,
    make_context,
    run_dag,
    state_of,
    ti_states,
    xcom,
)

NUMBER = OUTCOME_NUMBERS["completed"]


def create_op(emu: TelzinoEmulator, **kwargs: object) -> TelzinoCreateOutboundCallOperator:
    args: dict = {"task_id": "place_call", "agent_id": emu.agent_id, "to_number": NUMBER, "deferrable": False}
    args.update(kwargs)
    return TelzinoCreateOutboundCallOperator(**args)


def posts(emu: TelzinoEmulator) -> int:
    return emu.count_requests("POST", f"/v1/agents/{emu.agent_id}/outbound-calls")


def stored(emu: TelzinoEmulator, call_id: str) -> dict:
    return next(c for c in emu.calls() if c["id"] == call_id)


def test_places_the_call_pushes_its_id_and_returns_the_record(
    telzino_conn: TelzinoEmulator, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    ti = FakeTI(dag_id="calls", task_id="place_call", run_id="scheduled__2026-06-11", map_index=2)

    record = create_op(
        telzino_conn, call_context="Confirm the 2pm appointment", metadata={"crm_id": "123"}
    ).execute(make_context(ti))

    assert posts(telzino_conn) == 1
    assert ti.xcoms == {"call_id": record["id"]}
    assert record == stored(telzino_conn, record["id"])  # the GET shape
    assert record["status"] == "queued" and record["call_context"] == "Confirm the 2pm appointment"
    assert record["request_metadata"] == {
        "crm_id": "123",
        "airflow": {
            "dag_id": "calls",
            "task_id": "place_call",
            "run_id": "scheduled__2026-06-11",
            "map_index": 2,
        },
    }
    assert json.loads(json.dumps(record)) == record
    logs = "\n".join(logged_lines(caplog, capsys))
    assert "+1813*****00" in logs and NUMBER not in logs


def test_a_retry_adopts_the_call_instead_of_dialling_again(telzino_conn: TelzinoEmulator) -> None:
    first_try = FakeTI(run_id="manual__retry", try_number=1)
    second_try = FakeTI(run_id="manual__retry", try_number=2)

    first = create_op(telzino_conn).execute(make_context(first_try))
    telzino_conn.advance(600)  # the retry comes ten minutes later; the call has finished meanwhile
    second = create_op(telzino_conn).execute(make_context(second_try))

    assert posts(telzino_conn) == 1 and len(telzino_conn.calls()) == 1
    assert second_try.xcoms["call_id"] == first["id"] == second["id"]
    assert second["status"] == "completed"


def test_another_map_index_or_run_places_its_own_call(telzino_conn: TelzinoEmulator) -> None:
    ids = {
        create_op(telzino_conn).execute(make_context(FakeTI(run_id=run, map_index=index)))["id"]
        for run, index in [("r1", 0), ("r1", 1), ("r2", 0), ("r1", 0)]
    }
    assert len(ids) == 3 and posts(telzino_conn) == 3


def test_a_lost_create_response_is_found_again_and_the_retry_adopts_it(
    telzino_conn: TelzinoEmulator,
) -> None:
    telzino_conn.drop_next_post_response(1)  # the call is recorded, the answer never arrives
    ti = FakeTI(run_id="manual__lost")

    first = create_op(telzino_conn).execute(make_context(ti))
    retry = create_op(telzino_conn).execute(make_context(FakeTI(run_id="manual__lost", try_number=2)))

    assert posts(telzino_conn) == 1 and len(telzino_conn.calls()) == 1
    assert ti.xcoms["call_id"] == first["id"] == retry["id"]


def test_a_create_that_may_have_failed_is_not_resent_when_no_call_shows_up(
    telzino_conn: TelzinoEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(operator_module, "RECHECK_DELAY_SECONDS", 0.1)
    telzino_conn.fail_next(1, 503, method="POST")  # a 5xx on create: placed or not, nobody knows
    ti = FakeTI(run_id="manual__uncertain")

    with pytest.raises(TelzinoCallMayHaveBeenPlacedError, match="MAY HAVE BEEN PLACED"):
        create_op(telzino_conn).execute(make_context(ti))

    assert posts(telzino_conn) == 1 and telzino_conn.calls() == [] and "call_id" not in ti.xcoms
    assert telzino_conn.count_requests("GET") == 2  # looked before, and once more after the 503
    retry = create_op(telzino_conn).execute(make_context(FakeTI(run_id="manual__uncertain", try_number=2)))
    assert [c["id"] for c in telzino_conn.calls()] == [retry["id"]]


def test_waits_on_the_worker_for_the_final_record(telzino_conn: TelzinoEmulator) -> None:
    ti = FakeTI()
    telzino_conn.speed = 500

    record = create_op(telzino_conn, wait_for_completion=True, poll_interval=0.05).execute(make_context(ti))

    assert record["status"] == "completed" and record == stored(telzino_conn, record["id"])
    assert ti.xcoms["call_id"] == record["id"]


def test_deferrable_places_the_call_on_the_worker_then_defers(telzino_conn: TelzinoEmulator) -> None:
    ti = FakeTI()
    op = create_op(telzino_conn, wait_for_completion=True, deferrable=True, poll_interval=0.05, timeout=120)

    deferred = defers(op, make_context(ti))

    assert posts(telzino_conn) == 1 and ti.xcoms["call_id"]  # placed, and its id pushed, before waiting
    trigger = deferred.trigger
    assert isinstance(trigger, TelzinoOutboundCallTrigger) and trigger.call_id == ti.xcoms["call_id"]
    assert deferred.method_name == "execute_complete"
    assert deferred.timeout is not None and deferred.timeout >= timedelta(seconds=120)

    telzino_conn.speed = 500
    record = execute_deferred(op, make_context(ti))  # a resumed task: adopts, then waits again

    assert posts(telzino_conn) == 1
    assert record["status"] == "completed" and record["id"] == ti.xcoms["call_id"]


@pytest.mark.parametrize(
    ("outcome", "error", "sip"),
    [("no_answer", None, 480), ("busy", None, 486), ("failed", "'Carrier unavailable (SIP 503)'", 503)],
)
@pytest.mark.parametrize("deferrable", [False, True], ids=["poll", "deferrable"])
def test_failure_status_fails_the_task_with_status_error_and_sip_code(
    telzino_conn: TelzinoEmulator, outcome: str, error: str | None, sip: int, deferrable: bool
) -> None:
    ti = FakeTI()
    op = create_op(
        telzino_conn,
        to_number=OUTCOME_NUMBERS[outcome],
        wait_for_completion=True,
        deferrable=deferrable,
        poll_interval=0.05,
    )

    def start_the_clock() -> None:
        telzino_conn.speed = 1000

    if not deferrable:
        start_the_clock()
    # Deferrable: the clock is frozen until the task has deferred, so the trigger sees the outcome.
    with pytest.raises(AirflowException) as info:
        execute_deferred(op, make_context(ti), before_trigger=start_the_clock)

    message = str(info.value)
    assert f"ended with status '{outcome}'" in message
    assert f"error: {error}" in message and f"sip_status_code: {sip}" in message
    assert ti.xcoms["call_id"] in message  # and the id was left behind for the failed task
    assert posts(telzino_conn) == 1


def test_wait_times_out_but_leaves_the_call_id(telzino_conn: TelzinoEmulator) -> None:
    ti = FakeTI()
    op = create_op(telzino_conn, wait_for_completion=True, poll_interval=0.05, timeout=0.3)

    with pytest.raises(AirflowException, match="Timed out waiting for Telzino call"):
        op.execute(make_context(ti))

    assert ti.xcoms["call_id"] == telzino_conn.calls()[0]["id"]


@pytest.mark.parametrize("event", [None, {"status": "paused"}, {"status": "success"}, ["success"]])
def test_execute_complete_rejects_a_missing_or_unknown_event(
    telzino_conn: TelzinoEmulator, event: object
) -> None:
    with pytest.raises(AirflowException, match="Telzino trigger event"):
        create_op(telzino_conn).execute_complete(make_context(), event)  # type: ignore[arg-type]


def test_execute_complete_reports_trigger_errors(telzino_conn: TelzinoEmulator) -> None:
    with pytest.raises(AirflowException, match="Stopped waiting: HTTP 403"):
        create_op(telzino_conn).execute_complete(
            make_context(), {"status": "error", "message": "Stopped waiting: HTTP 403"}
        )


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"to_number": "813-555-0100"}, "to_number"),
        ({"agent_id": "{{ params.agent_id }}"}, "agent_id"),  # left unrendered
        ({"metadata": {"airflow": "mine"}}, "metadata"),
        ({"metadata": ["not", "an", "object"]}, "metadata"),
        ({"callback_url": "http://example.com/hook"}, "callback_url"),
        ({"call_context": "x" * 4001}, "call_context"),
    ],
)
def test_bad_input_fails_before_any_request(telzino_conn: TelzinoEmulator, kwargs: dict, field: str) -> None:
    with pytest.raises(TelzinoValidationError) as info:
        create_op(telzino_conn, **kwargs).execute(make_context())

    assert info.value.field == field
    assert telzino_conn.count_requests() == 0


def test_constructor_checks_static_arguments_without_any_request(telzino_conn: TelzinoEmulator) -> None:
    with pytest.raises(TelzinoValidationError, match="poll_interval"):
        create_op(telzino_conn, poll_interval=0)
    with pytest.raises(TelzinoValidationError, match="failure_statuses"):
        create_op(telzino_conn, success_statuses=["completed", "busy"])
    op = create_op(
        telzino_conn, agent_id="{{ params.agent }}", to_number="{{ params.n }}", telzino_conn_id="x"
    )
    assert op.telzino_conn_id == "x" and telzino_conn.count_requests() == 0


def test_deferrable_defaults_to_the_airflow_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    args = {"task_id": "t", "agent_id": "a", "to_number": NUMBER}
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "true")
    assert TelzinoCreateOutboundCallOperator(**args).deferrable is True
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "false")
    assert TelzinoCreateOutboundCallOperator(**args).deferrable is False


# -- through dag.test() ---------------------------------------------------------------------------


def test_templated_call_deferred_then_watched_in_a_dag(
    airflow_db: None, telzino_conn: TelzinoEmulator
) -> None:
    telzino_conn.speed = 500

    dr = run_dag("telzino_test_create", conf={"agent_id": telzino_conn.agent_id, "order_id": "A-7"})

    assert state_of(dr.state) == "success"
    (call,) = telzino_conn.calls()
    assert posts(telzino_conn) == 1
    assert call["call_context"] == f"Confirm order A-7 from run {dr.run_id}"
    assert call["request_metadata"] == {
        "order_id": "A-7",
        "source": "test",
        "airflow": {
            "dag_id": "telzino_test_create",
            "task_id": "place_call",
            "run_id": dr.run_id,
            "map_index": -1,
        },
    }
    assert xcom(dr, "place_call", key="call_id") == call["id"]
    assert xcom(dr, "place_call") == call and call["status"] == "completed"
    assert xcom(dr, "watch_call") == call


def test_retry_and_clear_never_dial_twice_in_a_dag(airflow_db: None, telzino_conn: TelzinoEmulator) -> None:
    telzino_conn.speed = 500  # busy and no_answer arrive within a fraction of a second
    logical = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=5)
    when = {"logical_date": logical, "run_after": logical}

    first = run_dag("telzino_test_create_retry", conf={"agent_id": telzino_conn.agent_id}, **when)

    assert state_of(first.state) == "failed"
    # Both mapped instances failed twice (try 1, then the retry as try 2); one call each.
    assert ti_states(first) == {("place_call", 0): ("failed", 2), ("place_call", 1): ("failed", 2)}
    assert posts(telzino_conn) == 2
    calls = {c["request_metadata"]["airflow"]["map_index"]: c for c in telzino_conn.calls()}
    assert {i: c["status"] for i, c in calls.items()} == {0: "busy", 1: "no_answer"}
    assert {i: c["request_metadata"]["airflow"]["run_id"] for i, c in calls.items()} == {
        0: first.run_id,
        1: first.run_id,
    }
    assert [xcom(first, "place_call", "call_id", map_index=i) for i in (0, 1)] == [
        calls[0]["id"],
        calls[1]["id"],
    ]

    # Clear the run (same run_id, fresh task instances) and run it again: still no new call.
    again = run_dag("telzino_test_create_retry", conf={"agent_id": telzino_conn.agent_id}, **when)

    assert again.run_id == first.run_id and state_of(again.state) == "failed"
    assert posts(telzino_conn) == 2 and len(telzino_conn.calls()) == 2
    assert [xcom(again, "place_call", "call_id", map_index=i) for i in (0, 1)] == [
        calls[0]["id"],
        calls[1]["id"],
    ]


@pytest.mark.parametrize("deferrable", [False, True], ids=["poll", "deferrable"])
def test_waiting_counts_consecutive_errors_across_the_deferral(
    emulator: TelzinoEmulator, monkeypatch: pytest.MonkeyPatch, deferrable: bool
) -> None:
    """Every GET of the call fails once it is placed: the third failure in a row ends the wait, whether
    the first look happened on the worker and the rest in the trigger or all on the worker."""
    emulator_conn_env(monkeypatch, emulator, max_retries=0)
    op = create_op(
        emulator,
        wait_for_completion=True,
        deferrable=deferrable,
        poll_interval=0.05,
        max_consecutive_errors=2,
    )
    place = op.hook.create_outbound_call

    def place_then_fail_every_get(*args: object, **kwargs: object) -> dict:
        created = place(*args, **kwargs)
        emulator.fail_next(10**6, 503, method="GET")
        return created

    monkeypatch.setattr(op.hook, "create_outbound_call", place_then_fail_every_get)
    ti = FakeTI()

    with pytest.raises(AirflowException, match="too many consecutive errors"):
        execute_deferred(op, make_context(ti))

    assert posts(emulator) == 1
    assert (
        emulator.count_requests("GET", f"/v1/agents/{emulator.agent_id}/outbound-calls/{ti.xcoms['call_id']}")
        == 3
    )
