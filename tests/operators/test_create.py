"""TelzinoCreateOutboundCallOperator against the emulator: placing, never dialling twice, waiting."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import pytest

from telzino_provider.emulator import OUTCOME_NUMBERS, TelzinoEmulator
from telzino_provider.exceptions import TelzinoCallMayHaveBeenPlacedError, TelzinoValidationError
from telzino_provider.hooks.telzino import TelzinoHook
from telzino_provider.operators import telzino as operator_module
from telzino_provider.operators.telzino import TelzinoCreateOutboundCallOperator
from telzino_provider.triggers.telzino import TelzinoOutboundCallTrigger
from telzino_provider.version_compat import AIRFLOW_V_3_3_PLUS, AirflowException, AirflowFailException
from tests.airflow_helpers import (
    FakeTI,
    defers,
    emulator_conn_env,
    every_get_unavailable,
    execute_deferred,
    logged_lines,
    make_context,
    rerun_cleared,
    roundtrip,
    run_dag,
    run_trigger,
    state_of,
    ti_states,
    xcom,
)
from tests.conftest import CONN_ENV, conn_json

NUMBER = OUTCOME_NUMBERS["completed"]


def create_op(emu: TelzinoEmulator, **kwargs: object) -> TelzinoCreateOutboundCallOperator:
    args: dict = {"task_id": "place_call", "agent_id": emu.agent_id, "to_number": NUMBER, "deferrable": False}
    args.update(kwargs)
    return TelzinoCreateOutboundCallOperator(**args)


def posts(emu: TelzinoEmulator) -> int:
    return emu.count_requests("POST", f"/v1/agents/{emu.agent_id}/outbound-calls")


def list_requests(emu: TelzinoEmulator) -> int:
    """GETs of the agent's call list (not of one call)."""
    path = f"/v1/agents/{emu.agent_id}/outbound-calls"
    return sum(1 for r in emu.requests if r.method == "GET" and r.path == path)


def seed_history(emu: TelzinoEmulator, calls: int = 20_000) -> None:
    """``calls`` finished calls over the last 30 days, the newest an hour old."""
    end = emu.now() - timedelta(hours=1)
    emu.seed_calls(calls, start=end - timedelta(days=30), end=end)


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
    tries = [("r1", 0, 1), ("r1", 1, 1), ("r2", 0, 1), ("r1", 0, 2)]  # the last: a retry of the first
    ids = [
        create_op(telzino_conn).execute(make_context(FakeTI(run_id=run, map_index=i, try_number=n)))["id"]
        for run, i, n in tries
    ]
    assert len(set(ids)) == 3 and ids[3] == ids[0] and posts(telzino_conn) == 3


@pytest.mark.parametrize("deferrable", [False, True], ids=["poll", "deferrable"])
def test_a_first_try_sends_one_post_and_no_list_request_whatever_the_history(
    telzino_conn: TelzinoEmulator, deferrable: bool
) -> None:
    seed_history(telzino_conn)
    ti = FakeTI(run_id="manual__first")
    op = create_op(telzino_conn, wait_for_completion=deferrable, deferrable=deferrable, timeout=60)

    if deferrable:
        defers(op, make_context(ti))
    else:
        op.execute(make_context(ti))

    assert posts(telzino_conn) == 1 and list_requests(telzino_conn) == 0
    assert ti.xcoms["call_id"] == telzino_conn.calls()[0]["id"]


@pytest.mark.parametrize("deferrable", [False, True], ids=["poll", "deferrable"])
def test_a_retry_after_a_lost_response_adopts_with_a_short_scan(
    telzino_conn: TelzinoEmulator, deferrable: bool
) -> None:
    seed_history(telzino_conn)
    first = FakeTI(run_id="manual__lost")
    # Try 1 sent its POST, the server recorded the call, and the worker died before the answer.
    body = create_op(telzino_conn)._request_body(make_context(first))
    telzino_conn.drop_next_post_response(1)
    with pytest.raises(TelzinoCallMayHaveBeenPlacedError):
        TelzinoHook().create_outbound_call(telzino_conn.agent_id, **body)
    telzino_conn.clear_requests()

    retry = FakeTI(run_id="manual__lost", try_number=2)
    op = create_op(telzino_conn, wait_for_completion=deferrable, deferrable=deferrable, timeout=60)
    if deferrable:
        defers(op, make_context(retry))
    else:
        op.execute(make_context(retry))

    calls = telzino_conn.calls()
    assert len(calls) == 20_001 and calls[0]["request_metadata"]["airflow"]["run_id"] == "manual__lost"
    assert posts(telzino_conn) == 0 and retry.xcoms["call_id"] == calls[0]["id"]
    assert list_requests(telzino_conn) == 1  # one page: the call, then calls older than the run


def test_a_lost_create_response_is_found_again_on_the_first_try(telzino_conn: TelzinoEmulator) -> None:
    telzino_conn.drop_next_post_response(1)  # the call is recorded, the answer never arrives
    ti = FakeTI(run_id="manual__lost")

    first = create_op(telzino_conn).execute(make_context(ti))
    assert list_requests(telzino_conn) == 1  # the second look, once
    retry = create_op(telzino_conn).execute(make_context(FakeTI(run_id="manual__lost", try_number=2)))

    assert posts(telzino_conn) == 1 and len(telzino_conn.calls()) == 1
    assert ti.xcoms["call_id"] == first["id"] == retry["id"]


def test_a_create_that_may_have_failed_is_not_resent_when_no_call_shows_up(
    telzino_conn: TelzinoEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(operator_module, "RECHECK_DELAY_SECONDS", 0.1)
    telzino_conn.fail_next(1, 503, method="POST")  # a 5xx on create: placed or not, nobody knows
    ti = FakeTI(run_id="manual__uncertain")

    with pytest.raises(TelzinoCallMayHaveBeenPlacedError, match="MAY HAVE BEEN PLACED") as info:
        create_op(telzino_conn).execute(make_context(ti))

    assert isinstance(info.value, AirflowFailException)  # Airflow does not retry it
    assert "clearing the task looks for the call again" in str(info.value)
    assert posts(telzino_conn) == 1 and telzino_conn.calls() == [] and "call_id" not in ti.xcoms
    assert telzino_conn.count_requests("GET") == 1  # no look before the first try; one after the 503
    # A person clears the task: it looks again, twice (listing_delay apart), finds nothing, and dials.
    retry = create_op(telzino_conn, listing_delay=0.1).execute(
        make_context(FakeTI(run_id="manual__uncertain", try_number=2))
    )
    assert [c["id"] for c in telzino_conn.calls()] == [retry["id"]]
    assert list_requests(telzino_conn) == 3  # after the 503; then the clear's two, listing_delay apart


def test_an_uncertain_create_quotes_the_correlation_key_before_cutting_large_metadata(
    telzino_conn: TelzinoEmulator,
) -> None:
    telzino_conn.fail_next(1, 500, method="POST")
    metadata = {"alternate_phone": "+18135559876", "notes": "x" * 8000}
    with pytest.raises(TelzinoCallMayHaveBeenPlacedError) as info:
        create_op(telzino_conn, metadata=metadata).execute(make_context(FakeTI(run_id="manual__big")))
    message = str(info.value)
    assert "'run_id': 'manual__big'" in message and "+18135559876" not in message
    assert len(message) < 1500 and posts(telzino_conn) == 1


def test_a_retry_adopts_a_call_whose_answer_is_still_held(telzino_conn: TelzinoEmulator) -> None:
    # Try 1's worker died while the server, which had recorded the call, was slow to answer.
    telzino_conn.hold_next_create(3.0, record_first=True)
    body = create_op(telzino_conn)._request_body(make_context(FakeTI(run_id="manual__held")))
    hook = TelzinoHook()
    hook.transport._timeout = (5, 0.5)  # the dying worker's request ends here
    with pytest.raises(TelzinoCallMayHaveBeenPlacedError):
        hook.create_outbound_call(telzino_conn.agent_id, **body)

    retry = FakeTI(run_id="manual__held", try_number=2)
    record = create_op(telzino_conn).execute(make_context(retry))

    assert record["id"] == retry.xcoms["call_id"] == telzino_conn.calls()[0]["id"]
    assert len(telzino_conn.calls()) == 1


def test_waits_on_the_worker_for_the_final_record(telzino_conn: TelzinoEmulator) -> None:
    ti = FakeTI()
    telzino_conn.speed = 500

    record = create_op(telzino_conn, wait_for_completion=True, poll_interval=0.05).execute(make_context(ti))

    assert record["status"] == "completed" and record == stored(telzino_conn, record["id"])
    assert ti.xcoms["call_id"] == record["id"]


def test_a_resumed_wait_rides_out_read_back_errors_as_a_poke_would(
    telzino_conn: TelzinoEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The call completed and the trigger fired; transient errors while the resumed task reads the
    masked numbers back, fewer than max_consecutive_errors, still return the record (before, one
    503 failed the task, on Airflow before 3.3 finally, saying the call was placed)."""
    monkeypatch.setenv(CONN_ENV, conn_json(telzino_conn, max_retries=0))
    ti = FakeTI()
    op = create_op(telzino_conn, wait_for_completion=True, deferrable=True, poll_interval=0.05, timeout=120)
    deferred = defers(op, make_context(ti))
    telzino_conn.speed = 500
    event = run_trigger(roundtrip(deferred.trigger))
    telzino_conn.fail_next(3, 503)

    record = op.execute_complete(make_context(ti), event, **(deferred.kwargs or {}))

    assert record == stored(telzino_conn, ti.xcoms["call_id"]) and record["status"] == "completed"
    assert posts(telzino_conn) == 1


def test_deferrable_places_the_call_on_the_worker_then_defers(telzino_conn: TelzinoEmulator) -> None:
    ti = FakeTI()
    op = create_op(telzino_conn, wait_for_completion=True, deferrable=True, poll_interval=0.05, timeout=120)

    before = time.time()
    deferred = defers(op, make_context(ti))

    assert posts(telzino_conn) == 1 and ti.xcoms["call_id"]  # placed, and its id pushed, before waiting
    trigger = deferred.trigger
    assert isinstance(trigger, TelzinoOutboundCallTrigger) and trigger.call_id == ti.xcoms["call_id"]
    # it looked once on the worker, so the trigger's first look is one poll_interval after that
    assert trigger.first_look_at is not None
    assert before + op.poll_interval <= trigger.first_look_at <= time.time() + op.poll_interval
    assert deferred.method_name == "execute_complete"
    assert deferred.timeout is not None and deferred.timeout >= timedelta(seconds=120)

    telzino_conn.speed = 500
    retry = FakeTI(try_number=2)  # the worker died while deferred; the retry adopts, then waits again
    record = execute_deferred(op, make_context(retry))

    assert posts(telzino_conn) == 1 and list_requests(telzino_conn) == 1
    assert record["status"] == "completed" and record["id"] == ti.xcoms["call_id"] == retry.xcoms["call_id"]


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
    with pytest.raises(AirflowFailException) as info:  # an ended call cannot change: no retries
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
    assert posts(telzino_conn) == 1 and list_requests(telzino_conn) == 0  # a first try: no look
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
    # The emulator's clock stays frozen: every call stays queued and every wait times out. On
    # Airflow 3.3+ that is retryable (the retry waits on the call id in the task state store);
    # before 3.3 it is final, as any failure after a create the API accepted.
    logical = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=5)
    when = {"logical_date": logical, "run_after": logical}
    tries = 2 if AIRFLOW_V_3_3_PLUS else 1

    first = run_dag("telzino_test_create_retry", conf={"agent_id": telzino_conn.agent_id}, **when)

    assert state_of(first.state) == "failed"
    assert ti_states(first) == {("place_call", 0): ("failed", tries), ("place_call", 1): ("failed", tries)}
    assert posts(telzino_conn) == 2
    calls = {c["request_metadata"]["airflow"]["map_index"]: c for c in telzino_conn.calls()}
    assert {i: c["status"] for i, c in calls.items()} == {0: "queued", 1: "queued"}
    assert {i: c["request_metadata"]["airflow"]["run_id"] for i, c in calls.items()} == {
        0: first.run_id,
        1: first.run_id,
    }
    assert [xcom(first, "place_call", "call_id", map_index=i) for i in (0, 1)] == [
        calls[0]["id"],
        calls[1]["id"],
    ]
    # Try 1 of each placed its call without looking; a retry (3.3+) read the stored id: no look.
    assert list_requests(telzino_conn) == 0

    # Clear the finished run as the UI does and run it again: still no new call. On 3.3+ every try
    # after the clear reads the stored id; before, each looks once and adopts the listed call.
    again = rerun_cleared(first)

    assert again.run_id == first.run_id and state_of(again.state) == "failed"
    states = ti_states(again)
    assert {state for state, _ in states.values()} == {"failed"}
    tries_after_clear = [number - tries for _, number in states.values()]
    assert min(tries_after_clear) >= 1
    assert posts(telzino_conn) == 2 and len(telzino_conn.calls()) == 2
    assert list_requests(telzino_conn) == (0 if AIRFLOW_V_3_3_PLUS else sum(tries_after_clear))
    assert [xcom(again, "place_call", "call_id", map_index=i) for i in (0, 1)] == [
        calls[0]["id"],
        calls[1]["id"],
    ]


def test_an_ended_call_fails_the_task_without_its_retries(
    airflow_db: None, telzino_conn: TelzinoEmulator
) -> None:
    telzino_conn.speed = 500  # busy within a fraction of a second

    run = run_dag("telzino_test_create_outcome_is_final", conf={"agent_id": telzino_conn.agent_id})

    assert state_of(run.state) == "failed"
    assert ti_states(run) == {("place_call", -1): ("failed", 1)}  # retries=2, none used
    assert posts(telzino_conn) == 1 and telzino_conn.calls()[0]["status"] == "busy"


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


def test_an_uncertain_create_fails_without_retries_and_a_clear_adopts_the_late_call(
    airflow_db: None, telzino_conn: TelzinoEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CONN_ENV, conn_json(telzino_conn, read_timeout=1, max_retries=0))
    # The server holds the POST 6 s, then records the call. Try 1 gives up after 1 s, looks again
    # 2 s later, finds nothing and fails; its 3 immediate retries would find nothing either.
    telzino_conn.hold_next_create(6.0)
    started = time.monotonic()

    first = run_dag("telzino_test_create_uncertain", conf={"agent_id": telzino_conn.agent_id})

    assert ti_states(first) == {("place_call", -1): ("failed", 1)}  # retries=3, none used
    while posts(telzino_conn) == 0:  # the late call appears (the POST is logged once it is recorded)
        assert time.monotonic() - started < 30
        time.sleep(0.05)
    (call,) = telzino_conn.calls()
    # The POST is logged when the server finally answers it: after the second look, which missed it.
    path = f"/v1/agents/{telzino_conn.agent_id}/outbound-calls"
    assert [r.method for r in telzino_conn.requests if r.path == path] == ["GET", "POST"]

    # A person clears the task once the call could have shown up: it adopts, never dials.
    again = rerun_cleared(first)

    assert ti_states(again) == {("place_call", -1): ("success", 2)}
    assert posts(telzino_conn) == 1 and len(telzino_conn.calls()) == 1
    assert xcom(again, "place_call", "call_id") == call["id"]


def test_the_worker_wait_stops_retrying_at_its_deadline(
    emulator: TelzinoEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    every_get_unavailable(monkeypatch, emulator)
    op = create_op(emulator, wait_for_completion=True, timeout=3, poll_interval=1, max_consecutive_errors=5)
    started = time.monotonic()

    with pytest.raises(AirflowFailException, match="Timed out waiting"):
        op.execute(make_context())

    assert emulator.count_requests("POST") == 1 and emulator.count_requests("GET") <= 3
    assert time.monotonic() - started < 6
