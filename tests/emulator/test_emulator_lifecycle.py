"""Call lifecycle on the emulated clock, call logs, seeding, pagination and status filtering."""

from __future__ import annotations

import re
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import requests

from telzino_provider.emulator import OUTCOME_NUMBERS, TelzinoEmulator

LOG_TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


def statuses_over(client, call_id: str, steps: list[float]) -> list[str]:
    """Advance the clock by each step in turn and record the call's status after it."""
    seen = []
    for step in steps:
        client.emu.advance(step)
        seen.append(client.get_call(call_id)["status"])
    return seen


# -- clock --------------------------------------------------------------------------------------


def test_clock_is_frozen_by_default_and_moves_with_advance(emu):
    start = emu.now()
    assert start == datetime(2026, 6, 11, 12, tzinfo=timezone.utc) and start.tzinfo is not None
    time.sleep(0.02)
    assert emu.now() == start
    emu.advance(90.5)
    assert emu.now() - start == timedelta(seconds=90.5)
    with pytest.raises(ValueError):
        emu.advance(-1)


def test_speed_runs_the_clock_and_can_change_at_runtime(emu):
    before = emu.now()
    emu.speed = 1000.0
    time.sleep(0.05)
    emu.speed = 0.0
    frozen = emu.now()
    assert frozen - before >= timedelta(seconds=40)
    time.sleep(0.02)
    assert emu.now() == frozen  # speed 0 freezes it again, without jumping back
    assert emu.speed == 0.0


# -- lifecycle per outcome ----------------------------------------------------------------------


def test_completed_lifecycle(client):
    call = client.create_call(OUTCOME_NUMBERS["completed"], call_context="Confirm the appointment at 2pm")
    early = client.get_call(call["id"])
    for field in ("answered_at", "ended_at", "duration", "summary_text", "transcript_id", "error"):
        assert early[field] is None
    assert early["sip_status_code"] is None and early["callback_delivered"] is None
    # queued [0,1) dispatching [1,2) dispatched [2,4) dialing [4,10) in_progress [10, 10+d)
    steps = [0.5, 1, 1, 1.499999, 0.000001, 5.999999, 0.000001]
    assert statuses_over(client, call["id"], steps) == [
        "queued",
        "dispatching",
        "dispatched",
        "dispatched",
        "dialing",
        "dialing",
        "in_progress",
    ]
    in_progress = client.get_call(call["id"])
    assert in_progress["answered_at"] == "2026-06-11T12:00:10.000000+00:00"  # set once answered
    assert in_progress["callback_delivered"] is None and in_progress["ended_at"] is None
    client.emu.advance(300)
    done = client.get_call(call["id"])
    assert done["status"] == "completed"
    created, answered, ended = (parse(done[k]) for k in ("created_at", "answered_at", "ended_at"))
    assert answered - created == timedelta(seconds=10)
    assert 30 <= done["duration"] <= 300
    assert ended - answered == timedelta(seconds=done["duration"])
    assert done["callback_delivered"] is False and done["error"] is None and done["sip_status_code"] is None
    assert uuid.UUID(done["transcript_id"])
    assert done["summary_text"].splitlines()[0] == "Appointment confirmation"
    assert "Confirm the appointment at 2pm" in done["summary_text"]


def test_completed_call_ends_exactly_at_its_duration(emu, client):
    record = emu.add_call(duration=60)
    assert record["status"] == "queued"
    emu.advance(69.999)
    assert client.get_call(record["id"])["status"] == "in_progress"
    emu.advance(0.001)
    assert client.get_call(record["id"])["status"] == "completed"
    assert client.get_call(record["id"])["duration"] == 60


def test_duration_is_deterministic_from_the_call_id(client):
    call = client.create_call(OUTCOME_NUMBERS["completed"])
    client.emu.advance(400)
    assert client.get_call(call["id"])["duration"] == 30 + int(call["id"][:8], 16) % 271


@pytest.mark.parametrize(
    ("number", "dialing_until", "status", "sip", "error"),
    [
        (OUTCOME_NUMBERS["no_answer"], 49, "no_answer", 480, None),
        (OUTCOME_NUMBERS["busy"], 6, "busy", 486, None),
        (OUTCOME_NUMBERS["failed"], 5, "failed", 503, "Carrier unavailable (SIP 503)"),
        ("+447700900404", 5, "failed", 404, "Number not reachable (SIP 404)"),
    ],
)
def test_unsuccessful_outcomes(client, number, dialing_until, status, sip, error):
    call = client.create_call(number)
    client.emu.advance(dialing_until - 0.001)
    before = client.get_call(call["id"])
    assert before["status"] == "dialing"
    assert before["sip_status_code"] is None and before["error"] is None and before["ended_at"] is None
    client.emu.advance(0.001)
    after = client.get_call(call["id"])
    assert after["status"] == status
    assert after["sip_status_code"] == sip and after["error"] == error
    assert parse(after["ended_at"]) - parse(after["created_at"]) == timedelta(seconds=dialing_until)
    assert after["answered_at"] is None and after["duration"] is None
    assert after["summary_text"] is None and after["transcript_id"] is None
    assert after["callback_delivered"] is False
    client.emu.advance(3600)
    assert client.get_call(call["id"]) == after  # terminal records never change


# -- call logs ----------------------------------------------------------------------------------


def test_call_log_appears_when_the_call_completes(emu, client):
    call = client.create_call(OUTCOME_NUMBERS["completed"], call_context="Remind about the invoice")
    emu.add_call(to_number=OUTCOME_NUMBERS["busy"])
    logs_path = f"/v1/agents/{emu.agent_id}/call-logs"
    emu.advance(100)
    assert client.get(logs_path).json()["data"] == []  # still in progress
    emu.advance(300)
    body = client.get(logs_path).json()
    record = client.get_call(call["id"])
    assert body["pagination"]["total"] == 1
    log = body["data"][0]
    assert log["id"] == record["transcript_id"]
    assert log["agent_id"] == emu.agent_id and log["call_duration"] == record["duration"]
    assert log["summary_text"] == record["summary_text"]
    assert log["entry_count"] == len(log["transcript_json"]) >= 3
    turn = log["transcript_json"][0]
    assert set(turn) == {"text", "speaker", "timestamp", "is_partial", "created_at"}
    assert {t["speaker"] for t in log["transcript_json"]} == {"agent", "user"}
    assert log["transcript_text"].splitlines()[0] == f"[{turn['timestamp']:.2f}s] agent: {turn['text']}"
    for field in ("call_started_at", "call_ended_at", "created_at", "updated_at"):
        assert LOG_TS.match(log[field]), log[field]
    assert parse(log["call_ended_at"]) == parse(record["ended_at"]).replace(
        microsecond=parse(record["ended_at"]).microsecond // 1000 * 1000
    )
    assert log["session_data"]["caller_id"] == OUTCOME_NUMBERS["completed"]
    assert log["session_data"]["agent_id"] == emu.agent_id
    assert log["room_name"] == f"agent-{emu.agent_id}-out-{call['id']}"


def test_call_logs_are_newest_first_by_end_time(emu, client):
    start = emu.now()
    long_call = emu.add_call(created_at=start, duration=200)  # ends at +210
    short_call = emu.add_call(created_at=start + timedelta(seconds=1), duration=30)  # ends at +41
    emu.advance(400)
    data = client.get(f"/v1/agents/{emu.agent_id}/call-logs?limit=1").json()
    assert data["pagination"] == {
        "page": 1,
        "limit": 1,
        "total": 2,
        "totalPages": 2,
        "hasNext": True,
        "hasPrev": False,
    }
    by_id = {c["id"]: c["transcript_id"] for c in emu.calls()}
    assert data["data"][0]["id"] == by_id[long_call["id"]]
    page2 = client.get(f"/v1/agents/{emu.agent_id}/call-logs?limit=1&page=2").json()["data"]
    assert page2[0]["id"] == by_id[short_call["id"]]


# -- seeding ------------------------------------------------------------------------------------


def test_seeding_is_deterministic_and_newest_first():
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    end = start + timedelta(days=2)
    with TelzinoEmulator(seed=42, start_time=end) as a:
        first = a.seed_calls(300, start=start, end=end)
        assert a.calls() == first
    b = TelzinoEmulator(seed=42, start_time=end)
    b.add_call()  # live-created calls draw from another stream: seeded ids are unaffected
    second = b.seed_calls(300, start=start, end=end)
    other = TelzinoEmulator(seed=43, start_time=end).seed_calls(300, start=start, end=end)
    assert [c["id"] for c in first] == [c["id"] for c in second]
    assert first == second
    assert {c["id"] for c in first}.isdisjoint(c["id"] for c in other)
    keys = [(c["created_at"], c["id"]) for c in first]
    assert keys == sorted(keys, reverse=True)
    assert all(start <= parse(c["created_at"]) < end for c in first)
    counts = {s: sum(c["status"] == s for c in first) for s in ("completed", "no_answer", "busy", "failed")}
    assert sum(counts.values()) == 300 and counts["completed"] > 150 and counts["no_answer"] > 0
    assert all(c["request_metadata"]["source"] == "seed" for c in first)


def test_seed_outcome_weights_and_recent_calls_are_in_flight(emu):
    now = emu.now()
    calls = emu.seed_calls(50, start=now - timedelta(seconds=3), end=now, outcomes={"busy": 1})
    assert {c["to_number"] for c in calls} == {OUTCOME_NUMBERS["busy"]}
    assert {c["status"] for c in calls} <= {"queued", "dispatching", "dispatched"}
    emu.advance(10)
    assert {c["status"] for c in emu.calls()} == {"busy"}
    with pytest.raises(ValueError):
        emu.seed_calls(1, start=now, end=now, outcomes={"busy": 1})
    with pytest.raises(ValueError):
        emu.seed_calls(1, start=now - timedelta(1), end=now, outcomes={"exploded": 1})
    with pytest.raises(ValueError):
        emu.seed_calls(1, start=now - timedelta(1), end=now, agent_id=str(uuid.uuid4()))


def test_returned_records_are_copies(emu):
    record = emu.add_call(metadata={"nested": {"a": 1}})
    record["request_metadata"]["nested"]["a"] = 2
    record["status"] = "hacked"
    fresh = emu.calls()[0]
    assert fresh["request_metadata"] == {"nested": {"a": 1}} and fresh["status"] == "queued"


# -- pagination and filtering -------------------------------------------------------------------


def test_pagination_envelope_math_and_order(emu, client):
    now = emu.now()
    seeded = emu.seed_calls(23, start=now - timedelta(hours=1), end=now - timedelta(minutes=10))
    pages = [client.get(f"{client.calls_path()}?limit=10&page={p}").json() for p in (1, 2, 3, 4)]
    assert [p["pagination"] for p in pages] == [
        {"page": page, "limit": 10, "total": 23, "totalPages": 3, "hasNext": page < 3, "hasPrev": page > 1}
        for page in (1, 2, 3, 4)
    ]
    assert [len(p["data"]) for p in pages] == [10, 10, 3, 0]
    assert [c["id"] for p in pages for c in p["data"]] == [c["id"] for c in seeded]
    default = client.get(client.calls_path()).json()
    assert default["pagination"]["limit"] == 50 and len(default["data"]) == 23


def test_empty_list(client):
    body = client.get(client.calls_path()).json()
    assert body == {
        "data": [],
        "pagination": {
            "page": 1,
            "limit": 50,
            "total": 0,
            "totalPages": 0,
            "hasNext": False,
            "hasPrev": False,
        },
    }


def test_status_filter(emu, client):
    now = emu.now()
    mix = {"completed": 5, "no_answer": 2, "busy": 2, "failed": 1}
    seeded = emu.seed_calls(200, start=now - timedelta(days=1), end=now - timedelta(hours=1), outcomes=mix)
    live = client.create_call(OUTCOME_NUMBERS["no_answer"])
    emu.advance(5)  # the live call is dialing
    for status in ("completed", "no_answer", "busy", "failed"):
        body = client.get(f"{client.calls_path()}?status={status}&limit=100").json()
        expected = [c["id"] for c in seeded if c["status"] == status]
        assert body["pagination"]["total"] == len(expected) > 0
        assert [c["id"] for c in body["data"]] == expected[:100]
        assert all(c["status"] == status for c in body["data"])
    dialing = client.get(f"{client.calls_path()}?status=dialing").json()
    assert [c["id"] for c in dialing["data"]] == [live["id"]]
    assert client.get(f"{client.calls_path()}?status=queued").json()["pagination"]["total"] == 0
    emu.advance(60)  # the live call turns no_answer and moves into that filter
    no_answer = client.get(f"{client.calls_path()}?status=no_answer&limit=1").json()
    assert no_answer["data"][0]["id"] == live["id"]
    assert client.get(f"{client.calls_path()}?status=dialing").json()["data"] == []


def test_calls_are_per_agent(emu, client):
    other = emu.add_agent("Second")
    emu.add_call(agent_id=other)
    emu.add_call()
    assert client.get(client.calls_path()).json()["pagination"]["total"] == 1
    assert client.get(client.calls_path(other)).json()["pagination"]["total"] == 1
    assert len(emu.calls()) == 2 and len(emu.calls(other)) == 1
    assert {a["id"] for a in client.get("/v1/agents").json()["data"]} == {emu.agent_id, other}


def test_large_seed_pages_to_the_end():
    """100,000 calls: deep pages, filtered and not, answer with the right slice and the end says so.

    How fast seeding and paging are is measured by ``make bench`` (every benchmark runs against the
    emulator), not asserted here: a timed assertion fails on a loaded machine, not on a regression.
    """
    with TelzinoEmulator() as emu:
        now = emu.now()
        emu.seed_calls(100_000, start=now - timedelta(days=30), end=now)
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {emu.token}"
        url = f"{emu.base_url}/v1/agents/{emu.agent_id}/outbound-calls"
        for page in (1, 500, 1000):
            for status in ("", "&status=completed"):
                body = session.get(f"{url}?limit=100&page={page}{status}", timeout=5).json()
                assert body["data"] or status, (page, status)
        body = session.get(f"{url}?limit=100&page=1001", timeout=5).json()
        assert body["data"] == [] and body["pagination"]["hasNext"] is False
        assert len(session.get(f"{url}?limit=100&page=1000", timeout=5).json()["data"]) == 100
        session.close()
