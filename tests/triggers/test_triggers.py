"""The triggers against the emulator: serialization, each event, transient-error tolerance."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest

from telzino_provider.emulator import OUTCOME_NUMBERS, TelzinoEmulator
from telzino_provider.event_records import masked, restore_event
from telzino_provider.hooks.telzino import TelzinoHook
from telzino_provider.redaction import mask_phone
from telzino_provider.triggers.telzino import TelzinoCompletedCallsTrigger, TelzinoOutboundCallTrigger
from telzino_provider.windows import CallWindow
from tests.airflow_helpers import emulator_conn_env, every_get_unavailable, roundtrip, run_trigger

SUCCESS = ["completed"]
FAILURE = ["no_answer", "busy", "failed"]


def call_trigger(emu: TelzinoEmulator, call_id: str, **overrides: object) -> TelzinoOutboundCallTrigger:
    kwargs: dict = {
        "agent_id": emu.agent_id,
        "call_id": call_id,
        "success_statuses": SUCCESS,
        "failure_statuses": FAILURE,
        "end_time": time.time() + 30,
        "poll_interval": 0.05,
    }
    kwargs.update(overrides)
    return TelzinoOutboundCallTrigger(**kwargs)


def window_json(emu: TelzinoEmulator, hours: float = 2) -> dict:
    return CallWindow.build(
        status="completed",
        window_field="created_at",
        created_after=emu.now() - timedelta(hours=hours),
        created_before=emu.now() + timedelta(hours=1),
        lookback=0,
    ).to_json()


def test_call_trigger_serializes_plain_json_and_round_trips(telzino_conn: TelzinoEmulator) -> None:
    trigger = call_trigger(telzino_conn, telzino_conn.add_call()["id"], end_time=1_800_000_000.5)
    classpath, kwargs = trigger.serialize()

    assert classpath == "telzino_provider.triggers.telzino.TelzinoOutboundCallTrigger"
    assert json.loads(json.dumps(kwargs)) == kwargs
    assert kwargs["end_time"] == 1_800_000_000.5 and kwargs["telzino_conn_id"] == "telzino_default"
    assert telzino_conn.token not in json.dumps(kwargs)
    assert roundtrip(trigger).serialize() == (classpath, kwargs)


def test_completed_calls_trigger_serializes_times_as_iso(telzino_conn: TelzinoEmulator) -> None:
    trigger = TelzinoCompletedCallsTrigger(
        agent_id=telzino_conn.agent_id,
        window=window_json(telzino_conn),
        min_calls=2,
        fields=["id"],
        end_time=1_800_000_000.0,
    )
    classpath, kwargs = trigger.serialize()

    assert classpath == "telzino_provider.triggers.telzino.TelzinoCompletedCallsTrigger"
    assert json.loads(json.dumps(kwargs)) == kwargs
    assert kwargs["window"]["created_after"].endswith("+00:00")
    assert kwargs["window"]["statuses"] == ["completed"]
    assert roundtrip(trigger).serialize() == (classpath, kwargs)


def test_call_trigger_success_event_carries_the_final_record(telzino_conn: TelzinoEmulator) -> None:
    call = telzino_conn.add_call(duration=30)
    telzino_conn.speed = 40  # the call runs its ~40 emulated seconds (1 s) while the trigger waits

    event = run_trigger(roundtrip(call_trigger(telzino_conn, call["id"])))

    assert event["status"] == "success" and event["masked"] is True
    record = next(c for c in telzino_conn.calls() if c["id"] == call["id"])
    assert event["call"] == masked(record)  # the triggerer logs the event: no number in clear
    assert record["to_number"] not in json.dumps(event) and event["call"]["to_number"] == "+1813*****00"
    assert event["call"]["status"] == "completed" and event["call"]["duration"] == 30
    assert telzino_conn.count_requests("GET", f"/v1/agents/{telzino_conn.agent_id}/outbound-calls/") > 1


def test_call_trigger_masks_numbers_in_metadata_keys_and_the_worker_reads_them_back(
    telzino_conn: TelzinoEmulator,
) -> None:
    # Keys too: the metadata is the user's. The first two keys mask alike; the read-back keeps both.
    numbers = ["+447700900123", "+447711900123", "+447700900456"]
    metadata = {"callers": {numbers[0]: "primary", numbers[1]: "spare", "desk": [numbers[2]]}}
    call = telzino_conn.add_call(created_at=telzino_conn.now() - timedelta(hours=1), metadata=metadata)
    record = next(c for c in telzino_conn.calls() if c["id"] == call["id"])

    event = run_trigger(roundtrip(call_trigger(telzino_conn, call["id"])))

    assert not any(number in json.dumps(event) for number in numbers)
    assert set(event["call"]["request_metadata"]["callers"]) == {mask_phone(numbers[0]), "desk"}
    assert restore_event(TelzinoHook(), telzino_conn.agent_id, event) == {**event, "call": record}


@pytest.mark.parametrize(
    ("outcome", "sip"),
    [("no_answer", 480), ("busy", 486), ("failed", 503)],
)
def test_call_trigger_failure_event(telzino_conn: TelzinoEmulator, outcome: str, sip: int) -> None:
    call = telzino_conn.add_call(to_number=OUTCOME_NUMBERS[outcome])
    telzino_conn.speed = 400

    event = run_trigger(call_trigger(telzino_conn, call["id"]))

    assert event["status"] == "failure"
    assert event["call"]["id"] == call["id"] and event["call"]["status"] == outcome
    assert f"status '{outcome}'" in event["message"] and f"sip_status_code: {sip}" in event["message"]


def test_call_trigger_times_out_at_its_absolute_deadline(telzino_conn: TelzinoEmulator) -> None:
    call = telzino_conn.add_call()  # frozen clock: stays queued
    started = time.monotonic()

    event = run_trigger(call_trigger(telzino_conn, call["id"], end_time=time.time() + 0.3))

    assert event == {"status": "timeout", "message": event["message"]}
    assert "Timed out waiting for Telzino call" in event["message"]
    assert 0.25 < time.monotonic() - started < 5


def test_call_trigger_error_event_on_a_call_that_does_not_exist(telzino_conn: TelzinoEmulator) -> None:
    event = run_trigger(call_trigger(telzino_conn, "00000000-0000-4000-8000-000000000001"))

    assert event["status"] == "error"
    assert "HTTP 404" in event["message"]
    assert telzino_conn.count_requests("GET") == 1  # a 404 is not transient: no second look


def test_call_trigger_tolerates_transient_errors_up_to_the_count(
    emulator: TelzinoEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator_conn_env(monkeypatch, emulator, max_retries=0)  # one request per look
    call = emulator.add_call(created_at=emulator.now() - timedelta(hours=1))  # completed already
    emulator.fail_next(5, 503)

    event = run_trigger(call_trigger(emulator, call["id"], max_consecutive_errors=5))

    assert event["status"] == "success" and event["call"]["id"] == call["id"]
    assert emulator.count_requests("GET") == 6


def test_call_trigger_gives_up_after_one_error_too_many(
    emulator: TelzinoEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator_conn_env(monkeypatch, emulator, max_retries=0)
    call = emulator.add_call(created_at=emulator.now() - timedelta(hours=1))
    emulator.fail_next(6, 503)

    event = run_trigger(call_trigger(emulator, call["id"], max_consecutive_errors=5))

    assert event["status"] == "error"
    assert "too many consecutive errors" in event["message"] and "503" in event["message"]
    assert emulator.count_requests("GET") == 6


def test_call_trigger_treats_unreadable_answers_as_transient(
    emulator: TelzinoEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator_conn_env(monkeypatch, emulator, max_retries=0)
    call = emulator.add_call()  # queued while the clock is frozen
    emulator.malformed_next(2)  # an unreadable answer counts as transient too

    trigger = call_trigger(emulator, call["id"], max_consecutive_errors=2, end_time=time.time() + 0.6)
    event = run_trigger(trigger)

    assert event["status"] == "timeout"  # the two errors were absorbed, then it kept waiting
    assert emulator.count_requests("GET") > 3


def test_completed_calls_trigger_success_lists_calls_newest_first(telzino_conn: TelzinoEmulator) -> None:
    now = telzino_conn.now()
    seeded = telzino_conn.seed_calls(
        6, start=now - timedelta(minutes=90), end=now - timedelta(minutes=30), outcomes={"completed": 1}
    )
    trigger = TelzinoCompletedCallsTrigger(
        agent_id=telzino_conn.agent_id,
        window=window_json(telzino_conn),
        min_calls=6,
        fields=["id", "status"],
        end_time=time.time() + 10,
        poll_interval=0.05,
    )

    event = run_trigger(roundtrip(trigger))

    assert event["status"] == "success"
    assert event["calls"] == [{"id": c["id"], "status": "completed"} for c in seeded]


def test_completed_calls_trigger_masks_the_numbers_and_names_the_ids_and_window(
    telzino_conn: TelzinoEmulator,
) -> None:
    now = telzino_conn.now()
    seeded = telzino_conn.seed_calls(
        3, start=now - timedelta(minutes=90), end=now - timedelta(minutes=30), outcomes={"completed": 1}
    )
    window = window_json(telzino_conn)
    trigger = TelzinoCompletedCallsTrigger(
        agent_id=telzino_conn.agent_id,
        window=window,
        min_calls=3,
        end_time=time.time() + 10,
        poll_interval=0.05,
    )

    event = run_trigger(roundtrip(trigger))

    assert event["status"] == "success" and event["masked"] is True and event["window"] == window
    assert event["ids"] == [c["id"] for c in seeded]
    assert not any(c["to_number"] in json.dumps(event) for c in seeded)
    assert [c["to_number"] for c in event["calls"]] == [mask_phone(c["to_number"]) for c in seeded]


def test_completed_calls_trigger_waits_for_min_calls_then_times_out(telzino_conn: TelzinoEmulator) -> None:
    telzino_conn.add_call(created_at=telzino_conn.now() - timedelta(minutes=20))
    trigger = TelzinoCompletedCallsTrigger(
        agent_id=telzino_conn.agent_id,
        window=window_json(telzino_conn),
        min_calls=2,
        end_time=time.time() + 0.3,
        poll_interval=0.05,
    )

    event = run_trigger(trigger)

    assert event["status"] == "timeout"
    assert "2 Telzino call(s)" in event["message"]


def test_call_trigger_continues_the_count_of_errors_it_is_handed(
    emulator: TelzinoEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator_conn_env(monkeypatch, emulator, max_retries=0)
    call = emulator.add_call()
    emulator.fail_next(10**6, 503, method="GET")

    trigger = roundtrip(call_trigger(emulator, call["id"], max_consecutive_errors=2, consecutive_errors=1))
    event = run_trigger(trigger)

    assert trigger.serialize()[1]["consecutive_errors"] == 1
    assert event["status"] == "error" and "too many consecutive errors" in event["message"]
    assert emulator.count_requests("GET") == 2  # the worker's look was the first of three


def test_call_trigger_first_look_waits_one_interval_after_the_workers_look(
    telzino_conn: TelzinoEmulator,
) -> None:
    # The sensor has just looked on the worker; a trigger that looks again at once fires while the
    # worker that deferred is still exiting, which some Airflow versions fail the task for.
    call = telzino_conn.add_call(created_at=telzino_conn.now() - timedelta(hours=1), duration=5)
    first_look_at = time.time() + 0.4

    event = run_trigger(roundtrip(call_trigger(telzino_conn, call["id"], first_look_at=first_look_at)))

    assert time.time() >= first_look_at  # no event before the first look was due
    assert event["status"] == "success" and event["call"]["status"] == "completed"
    assert telzino_conn.count_requests("GET") == 1


def test_call_trigger_looks_at_once_when_its_first_look_is_past_due(telzino_conn: TelzinoEmulator) -> None:
    # A trigger restarted on another triggerer long after the deferral, or one serialized by an
    # earlier release (no first_look_at): the first look is due already.
    call = telzino_conn.add_call(created_at=telzino_conn.now() - timedelta(hours=1), duration=5)
    started = time.time()

    past_due = run_trigger(
        call_trigger(telzino_conn, call["id"], first_look_at=started - 60, poll_interval=30)
    )
    no_first_look = run_trigger(call_trigger(telzino_conn, call["id"], poll_interval=30))

    assert past_due["status"] == no_first_look["status"] == "success"
    assert time.time() - started < 30  # neither waited a poll interval
    assert roundtrip(call_trigger(telzino_conn, call["id"])).serialize()[1]["first_look_at"] is None


def test_completed_calls_trigger_keeps_its_first_look_at(telzino_conn: TelzinoEmulator) -> None:
    trigger = TelzinoCompletedCallsTrigger(
        agent_id=telzino_conn.agent_id,
        window=window_json(telzino_conn),
        min_calls=1,
        end_time=1_800_000_000.0,
        first_look_at=1_799_999_000.25,
    )

    assert roundtrip(trigger).serialize()[1]["first_look_at"] == 1_799_999_000.25


def test_call_trigger_stops_a_looks_retries_at_its_deadline(
    emulator: TelzinoEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    call = emulator.add_call()  # frozen clock: stays queued
    every_get_unavailable(monkeypatch, emulator)
    started = time.monotonic()

    event = run_trigger(
        call_trigger(
            emulator, call["id"], end_time=time.time() + 3, poll_interval=1, max_consecutive_errors=5
        )
    )

    assert event["status"] == "timeout"
    # a retry only while it starts before the deadline: at 0 s and 2 s, then one look at 3 s
    assert emulator.count_requests("GET") <= 3
    assert time.monotonic() - started < 6
