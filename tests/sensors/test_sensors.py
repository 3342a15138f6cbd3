"""The sensors against the emulator: results, failures, soft_fail, and the same XCom in every mode."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from telzino_provider.emulator import OUTCOME_NUMBERS, TelzinoEmulator
from telzino_provider.exceptions import TelzinoValidationError
from telzino_provider.hooks.telzino import TelzinoHook
from telzino_provider.sensors.telzino import TelzinoCompletedCallsSensor, TelzinoOutboundCallSensor
from telzino_provider.triggers.telzino import TelzinoCompletedCallsTrigger, TelzinoOutboundCallTrigger
from telzino_provider.version_compat import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
)
from tests.airflow_helpers import (
    defers,
    emulator_conn_env,
    every_get_unavailable,
    execute_deferred,
    make_context,
    run_dag,
    run_trigger,
    state_of,
    ti_states,
    xcom,
)

FIELDS = ["id", "status", "ended_at", "request_metadata"]
#: A fixed emulated start, so emulators with the same seed produce identical records.
FIXED_START = datetime(2026, 6, 11, 12, 0, tzinfo=timezone.utc)


def call_sensor(emu: TelzinoEmulator, call_id: str, **kwargs: object) -> TelzinoOutboundCallSensor:
    args: dict = {"task_id": "wait_for_call", "agent_id": emu.agent_id, "call_id": call_id}
    args.update(poke_interval=0.05, timeout=30, deferrable=False)
    args.update(kwargs)
    return TelzinoOutboundCallSensor(**args)


def calls_sensor(emu: TelzinoEmulator, **kwargs: object) -> TelzinoCompletedCallsSensor:
    args: dict = {"task_id": "wait_for_calls", "agent_id": emu.agent_id}
    args.update(poke_interval=0.05, timeout=30, deferrable=False)
    args.update(kwargs)
    return TelzinoCompletedCallsSensor(**args)


def finished_call(emu: TelzinoEmulator, outcome: str = "completed") -> dict:
    """A call that ended an hour ago."""
    return emu.add_call(to_number=OUTCOME_NUMBERS[outcome], created_at=emu.now() - timedelta(hours=1))


# -- TelzinoOutboundCallSensor --------------------------------------------------------------------


def test_call_sensor_waits_for_success_and_returns_the_final_record(telzino_conn: TelzinoEmulator) -> None:
    call = telzino_conn.add_call(duration=45)
    # The clock starts only after the first look, so that look sees the call live however slow the
    # machine is; the call then ends within a fraction of a second.
    started = threading.Thread(target=_speed_up_after_first_get, args=(telzino_conn,), daemon=True)
    started.start()

    record = call_sensor(telzino_conn, call["id"]).execute(make_context())
    started.join(timeout=30)

    assert record["id"] == call["id"] and record["status"] == "completed" and record["duration"] == 45
    assert telzino_conn.count_requests("GET") > 1  # it looked while the call was live


def _speed_up_after_first_get(emu: TelzinoEmulator, deadline_seconds: float = 30) -> None:
    deadline = time.monotonic() + deadline_seconds
    while emu.count_requests("GET") < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    emu.speed = 400


def test_deferrable_call_sensor_defers_and_resumes_with_the_same_record(
    telzino_conn: TelzinoEmulator,
) -> None:
    call = telzino_conn.add_call(duration=45)
    sensor = call_sensor(telzino_conn, call["id"], deferrable=True, timeout=120)

    before = time.time()
    deferred = defers(sensor, make_context())
    assert isinstance(deferred.trigger, TelzinoOutboundCallTrigger)
    assert deferred.trigger.end_time == pytest.approx(time.time() + 120, abs=5)
    # it has just looked itself, so the trigger's first look is one poke_interval after that look
    assert (
        before + sensor.poke_interval <= deferred.trigger.first_look_at <= time.time() + sensor.poke_interval
    )

    telzino_conn.speed = 400
    record = execute_deferred(sensor, make_context())

    assert record == next(c for c in telzino_conn.calls() if c["id"] == call["id"])


def test_deferrable_call_sensor_does_not_defer_for_a_finished_call(telzino_conn: TelzinoEmulator) -> None:
    call = finished_call(telzino_conn)
    record = call_sensor(telzino_conn, call["id"], deferrable=True).execute(make_context())
    assert record["id"] == call["id"] and record["status"] == "completed"


@pytest.mark.parametrize(
    ("outcome", "sip"),
    [("no_answer", 480), ("busy", 486), ("failed", 503)],
)
@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferrable"])
def test_call_sensor_failure_statuses_fail_or_skip_with_soft_fail(
    telzino_conn: TelzinoEmulator, outcome: str, sip: int, deferrable: bool
) -> None:
    call = telzino_conn.add_call(to_number=OUTCOME_NUMBERS[outcome])

    def start_the_clock() -> None:
        telzino_conn.speed = 1000

    def run(**kwargs: object) -> None:
        telzino_conn.speed = 0 if deferrable else 1000  # deferrable: the trigger sees the outcome
        execute_deferred(
            call_sensor(telzino_conn, call["id"], deferrable=deferrable, **kwargs),
            make_context(),
            before_trigger=start_the_clock,
        )

    # A finished call cannot change: the task fails without Airflow's retries, so `retries` set
    # against other failures (see docs/running-in-production.md) never re-waits on an ended call.
    with pytest.raises(AirflowFailException) as failed:
        run()
    assert f"ended with status '{outcome}'" in str(failed.value)
    assert "error: " in str(failed.value) and f"sip_status_code: {sip}" in str(failed.value)

    with pytest.raises(AirflowSkipException, match=f"status '{outcome}'.*soft_fail"):
        run(soft_fail=True)


def test_call_sensor_unknown_call_is_an_error(telzino_conn: TelzinoEmulator) -> None:
    sensor = call_sensor(telzino_conn, "00000000-0000-4000-8000-0000000000aa")
    with pytest.raises(AirflowException, match="HTTP 404"):
        sensor.execute(make_context())


def test_call_sensor_tolerates_transient_errors_in_poke_mode(
    emulator: TelzinoEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator_conn_env(monkeypatch, emulator, max_retries=0)
    call = finished_call(emulator)
    emulator.fail_next(3, 502)

    record = call_sensor(emulator, call["id"], max_consecutive_errors=3).execute(make_context())

    assert record["id"] == call["id"] and emulator.count_requests("GET") == 4


@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferrable"])
def test_call_sensor_timeout(telzino_conn: TelzinoEmulator, deferrable: bool) -> None:
    call = telzino_conn.add_call()  # frozen clock: never finishes

    with pytest.raises(AirflowSensorTimeout):
        execute_deferred(
            call_sensor(telzino_conn, call["id"], timeout=0.3, deferrable=deferrable), make_context()
        )
    with pytest.raises(AirflowSkipException):
        execute_deferred(
            call_sensor(telzino_conn, call["id"], timeout=0.3, deferrable=deferrable, soft_fail=True),
            make_context(),
        )


def test_call_sensor_rejects_bad_input(telzino_conn: TelzinoEmulator) -> None:
    with pytest.raises(TelzinoValidationError, match="call_id"):
        call_sensor(telzino_conn, "{{ not rendered }}").execute(make_context())
    with pytest.raises(TelzinoValidationError, match="success_statuses: unknown status 'answered'"):
        call_sensor(telzino_conn, "x", success_statuses=["answered"])
    assert telzino_conn.count_requests() == 0


def test_execute_complete_rejects_a_missing_event(telzino_conn: TelzinoEmulator) -> None:
    with pytest.raises(AirflowException, match="Telzino trigger event"):
        call_sensor(telzino_conn, "x").execute_complete(make_context(), None)


def test_a_resumed_call_sensor_reads_back_the_numbers_its_event_masks(telzino_conn: TelzinoEmulator) -> None:
    call = finished_call(telzino_conn)
    record = next(c for c in telzino_conn.calls() if c["id"] == call["id"])
    sensor = call_sensor(telzino_conn, call["id"], deferrable=True)
    event = run_trigger(sensor.make_trigger(time.time() + 30, 0, time.time()))
    assert record["to_number"] not in json.dumps(event)  # what the triggerer logs and stores
    telzino_conn.clear_requests()

    assert sensor.execute_complete(make_context(), event) == record
    assert telzino_conn.count_requests() == 1  # one GET of the call by id


@pytest.mark.parametrize(("failures", "outcome"), [(3, "record"), (6, "skip")])
def test_a_resumed_sensor_rides_out_read_back_errors_as_a_poke_would(
    telzino_conn: TelzinoEmulator, monkeypatch: pytest.MonkeyPatch, failures: int, outcome: str
) -> None:
    """The read-back tolerates ``max_consecutive_errors`` transient errors in a row, as a wait does:
    fewer return the full record; more end as a poke's run of errors would (soft_fail: skipped)."""
    from tests.conftest import CONN_ENV, conn_json

    monkeypatch.setenv(CONN_ENV, conn_json(telzino_conn, max_retries=0))
    call = finished_call(telzino_conn)
    record = next(c for c in telzino_conn.calls() if c["id"] == call["id"])
    sensor = call_sensor(telzino_conn, call["id"], deferrable=True, soft_fail=True, max_consecutive_errors=5)
    event = run_trigger(sensor.make_trigger(time.time() + 30, 0, time.time()))
    telzino_conn.fail_next(failures, 503)

    if outcome == "record":
        assert sensor.execute_complete(make_context(), event) == record
    else:
        with pytest.raises(AirflowSkipException, match="consecutive errors"):
            sensor.execute_complete(make_context(), event)


def test_a_resumed_completed_calls_sensor_keeps_the_events_calls_with_their_numbers(
    telzino_conn: TelzinoEmulator,
) -> None:
    now = telzino_conn.now()
    seeded = telzino_conn.seed_calls(
        3, start=now - timedelta(minutes=50), end=now - timedelta(minutes=10), outcomes={"completed": 1}
    )
    sensor = calls_sensor(telzino_conn, created_after=(now - timedelta(hours=1)).isoformat(), min_calls=2)
    sensor.validate(make_context())
    event = run_trigger(sensor.make_trigger(time.time() + 30, 0, time.time()))
    assert not any(c["to_number"] in json.dumps(event) for c in seeded)
    # The event's calls, not the window's: one fewer, in the event's order.
    event = {**event, "calls": event["calls"][1:], "ids": event["ids"][1:]}
    telzino_conn.clear_requests()

    calls = sensor.execute_complete(make_context(), event)

    assert [(c["id"], c["to_number"]) for c in calls] == [(c["id"], c["to_number"]) for c in seeded[1:]]
    assert "*" not in json.dumps(calls) and calls[0]["request_metadata"] == seeded[1]["request_metadata"]
    assert telzino_conn.count_requests("GET") == 1  # one page of the same window

    gone = {**event, "ids": ["00000000-0000-4000-8000-000000000000", *event["ids"][1:]]}
    with pytest.raises(AirflowException, match="no longer listed in the window"):
        sensor.execute_complete(make_context(), gone)


# -- TelzinoCompletedCallsSensor ------------------------------------------------------------------


@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferrable"])
def test_completed_calls_sensor_waits_for_min_calls(telzino_conn: TelzinoEmulator, deferrable: bool) -> None:
    now = telzino_conn.now()
    seeded = telzino_conn.seed_calls(
        3, start=now - timedelta(minutes=50), end=now - timedelta(minutes=10), outcomes={"completed": 1}
    )
    finished_call(telzino_conn, "busy")  # a different status: never counted
    late = telzino_conn.add_call(duration=30)
    sensor = calls_sensor(
        telzino_conn,
        created_after=(now - timedelta(hours=1)).isoformat(),
        created_before=now + timedelta(minutes=5),
        min_calls=4,
        fields=["id", "status"],
        deferrable=deferrable,
    )
    if not deferrable:
        telzino_conn.speed = 400

    def start_the_clock() -> None:
        telzino_conn.speed = 400

    calls = execute_deferred(sensor, make_context(), before_trigger=start_the_clock)

    assert calls == [{"id": c["id"], "status": "completed"} for c in [late, *seeded]]


def test_deferrable_completed_calls_sensor_defers_with_a_json_window(telzino_conn: TelzinoEmulator) -> None:
    sensor = calls_sensor(
        telzino_conn, created_after="2026-06-11T00:00:00Z", window_field="ended_at", deferrable=True
    )

    trigger = defers(sensor, make_context()).trigger

    assert isinstance(trigger, TelzinoCompletedCallsTrigger)
    window = trigger.serialize()[1]["window"]
    assert window == {
        "statuses": ["completed"],
        "window_field": "ended_at",
        "created_after": "2026-06-11T00:00:00+00:00",
        "created_before": None,
        "lookback_seconds": 6 * 3600.0,
    }


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"min_calls": 0}, "min_calls"),
        ({"created_before": "soon"}, "created_before"),
        ({"window_field": "ended_at", "status": "in_progress"}, "status"),
        ({"fields": []}, "fields"),
    ],
)
def test_completed_calls_sensor_input_errors(telzino_conn: TelzinoEmulator, kwargs: dict, field: str) -> None:
    with pytest.raises(TelzinoValidationError) as info:
        calls_sensor(telzino_conn, **kwargs).execute(make_context())
    assert info.value.field == field and telzino_conn.count_requests() == 0


# -- mode parity through dag.test() ---------------------------------------------------------------

MODES = ("poke", "reschedule", "deferrable")


def speed_up_on_first_look(emu: TelzinoEmulator, path: str, speed: float = 400) -> threading.Thread:
    """Keep the clock frozen until the sensor first asks, so it has to wait whatever the start-up time."""

    def watch() -> None:
        deadline = time.monotonic() + 60
        while emu.count_requests("GET", path) == 0 and time.monotonic() < deadline:
            time.sleep(0.005)
        emu.speed = speed

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def call_scenario(emu: TelzinoEmulator) -> tuple[dict, str]:
    call = emu.add_call(duration=60, metadata={"crm_id": "C-1"})
    return {"agent_id": emu.agent_id, "call_id": call["id"]}, f"/v1/agents/{emu.agent_id}/outbound-calls/"


def calls_scenario(emu: TelzinoEmulator) -> tuple[dict, str]:
    now = emu.now()
    emu.seed_calls(
        2, start=now - timedelta(minutes=50), end=now - timedelta(minutes=10), outcomes={"completed": 1}
    )
    emu.add_call(duration=60, metadata={"crm_id": "C-2"})
    window = {"created_after": (now - timedelta(hours=1)).isoformat(), "created_before": ""}
    return {"agent_id": emu.agent_id, **window}, f"/v1/agents/{emu.agent_id}/outbound-calls"


@pytest.mark.parametrize(
    ("dag_prefix", "task_id", "scenario"),
    [
        ("telzino_test_call_sensor", "wait_for_call", call_scenario),
        ("telzino_test_completed_sensor", "wait_for_calls", calls_scenario),
    ],
    ids=["call_sensor", "completed_calls_sensor"],
)
def test_every_mode_gives_the_same_xcom(
    airflow_db: None, monkeypatch: pytest.MonkeyPatch, dag_prefix: str, task_id: str, scenario: object
) -> None:
    results = {}
    for mode in MODES:
        with TelzinoEmulator(start_time=FIXED_START, seed=77) as emu:
            emulator_conn_env(monkeypatch, emu)
            conf, path = scenario(emu)  # type: ignore[operator]
            watcher = speed_up_on_first_look(emu, path)
            dr = run_dag(f"{dag_prefix}_{mode}", conf=conf)
            watcher.join(timeout=5)
            assert state_of(dr.state) == "success", mode
            assert emu.count_requests("GET", path) > 1, f"{mode}: the sensor did not have to wait"
            results[mode] = xcom(dr, task_id)
            final = emu.calls()

    assert results["poke"] == results["reschedule"] == results["deferrable"]
    if task_id == "wait_for_call":
        assert results["poke"] == final[0] and results["poke"]["status"] == "completed"
    else:
        assert results["poke"] == [{name: c[name] for name in FIELDS} for c in final]
        assert len(results["poke"]) == 3


def test_soft_fail_skips_and_hard_fails_in_a_dag(airflow_db: None, telzino_conn: TelzinoEmulator) -> None:
    call = finished_call(telzino_conn, "busy")

    dr = run_dag("telzino_test_soft_fail", conf={"agent_id": telzino_conn.agent_id, "call_id": call["id"]})

    assert state_of(dr.state) == "failed"
    assert ti_states(dr) == {("soft", -1): ("skipped", 1), ("hard", -1): ("failed", 1)}


def test_templated_call_id_renders_from_the_run(airflow_db: None, telzino_conn: TelzinoEmulator) -> None:
    call = finished_call(telzino_conn)

    dr = run_dag(
        "telzino_test_call_sensor_poke", conf={"agent_id": telzino_conn.agent_id, "call_id": call["id"]}
    )

    assert state_of(dr.state) == "success"
    assert xcom(dr, "wait_for_call") == call


# -- a run of transient errors ends every mode alike ----------------------------------------------


@pytest.mark.parametrize(
    ("failing_gets", "outcome"),
    [(10**6, "failed"), (2, "success")],
    ids=["every-get-fails", "two-gets-fail"],
)
def test_every_mode_counts_consecutive_errors_alike(
    airflow_db: None,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    failing_gets: int,
    outcome: str,
) -> None:
    """max_consecutive_errors=2, no transport retries: the third failing GET in a row ends the wait, in
    reschedule mode too, although a rescheduled sensor keeps nothing between pokes."""
    gets = {}
    for mode in MODES:
        with TelzinoEmulator(start_time=FIXED_START, seed=77) as emu:
            emulator_conn_env(monkeypatch, emu, max_retries=0)
            call = finished_call(emu)
            emu.fail_next(failing_gets, 503, method="GET")
            dr = run_dag(
                f"telzino_test_error_budget_{mode}", conf={"agent_id": emu.agent_id, "call_id": call["id"]}
            )
            assert state_of(dr.state) == outcome, mode
            gets[mode] = emu.count_requests("GET", f"/v1/agents/{emu.agent_id}/outbound-calls/")
            if outcome == "success":
                assert xcom(dr, "wait_for_call")["id"] == call["id"], mode
            else:  # the task's error, with its traceback (Airflow 2 logs the message there)
                logged = caplog.text + capsys.readouterr().out
                assert "Stopped waiting (too many consecutive errors)" in logged, mode
            caplog.clear()
    # A deferrable success reads the call once more on the worker: its event carries the number masked.
    assert gets == {"poke": 3, "reschedule": 3, "deferrable": 3 + (outcome == "success")}


@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferrable"])
def test_worker_look_and_trigger_share_one_error_count(
    emulator: TelzinoEmulator, monkeypatch: pytest.MonkeyPatch, deferrable: bool
) -> None:
    emulator_conn_env(monkeypatch, emulator, max_retries=0)
    call = finished_call(emulator)
    emulator.fail_next(10**6, 503, method="GET")

    with pytest.raises(AirflowException, match=r"too many consecutive errors"):
        execute_deferred(
            call_sensor(emulator, call["id"], deferrable=deferrable, max_consecutive_errors=2), make_context()
        )
    assert emulator.count_requests("GET") == 3


def test_a_poke_stops_retrying_at_the_sensors_deadline(
    emulator: TelzinoEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    call = emulator.add_call()  # frozen clock: stays queued
    every_get_unavailable(monkeypatch, emulator)
    sensor = call_sensor(emulator, call["id"], timeout=3, poke_interval=1, max_consecutive_errors=5)
    started = time.monotonic()

    with pytest.raises(AirflowSensorTimeout):
        sensor.execute(make_context())

    assert emulator.count_requests("GET") <= 3
    assert time.monotonic() - started < 6


@pytest.mark.parametrize("fields", [None, ["status", "to_number"]], ids=["all-fields", "fields"])
def test_a_resumed_sensor_for_a_live_status_finds_a_call_that_moved_on(
    telzino_conn: TelzinoEmulator, fields: list[str] | None
) -> None:
    start = telzino_conn.now().isoformat()
    sensor = calls_sensor(telzino_conn, status="in_progress", created_after=start, fields=fields)
    sensor.validate(make_context())
    TelzinoHook().create_outbound_call(telzino_conn.agent_id, "+18135551234")
    telzino_conn.advance(15)  # answered: in_progress
    event = run_trigger(sensor.make_trigger(time.time() + 30, 0, time.time()))
    poked = sensor.poll().payload["calls"]
    telzino_conn.advance(400)  # it completes before the task resumes

    calls = sensor.execute_complete(make_context(), event)

    assert calls == poked and calls[0]["status"] == "in_progress"  # the record the trigger judged
    assert calls[0]["to_number"] == "+18135551234"
