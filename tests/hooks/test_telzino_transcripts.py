"""TelzinoHook's transcripts (call logs): opaque ids, a scan bounded by the calls asked about."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from telzino_provider.exceptions import TelzinoValidationError
from telzino_provider.hooks.telzino import TelzinoHook
from telzino_provider.timeutil import parse_api_timestamp

LOG_ID = "log-de79aee6-ae41-4003-a3f4-ba9d77b59bd8"


def log_requests(emulator):
    return emulator.count_requests(method="GET", path_prefix=f"/v1/agents/{emulator.agent_id}/call-logs")


def test_call_log_ids_are_compared_as_listed(telzino_conn):
    upper = "LOG-" + LOG_ID[4:].upper()
    for tid in (LOG_ID, upper, "3f2b"):
        telzino_conn.add_call(transcript_id=tid, duration=30)
    telzino_conn.advance(120)
    hook = TelzinoHook()
    assert hook.get_transcript(telzino_conn.agent_id, LOG_ID)["id"] == LOG_ID
    assert hook.get_transcript(telzino_conn.agent_id, upper)["id"] == upper  # as listed, not lower-cased
    found = hook.get_transcripts(telzino_conn.agent_id, [LOG_ID, upper, "3f2b", None, ""])
    assert set(found) == {LOG_ID, upper, "3f2b"}


def test_transcripts_since_the_first_minutes_of_the_year_1_read_every_log(telzino_conn):
    # since less LOG_MARGIN is before the year 1: the logs are read without a lower bound.
    telzino_conn.add_call(transcript_id=LOG_ID, duration=30)
    telzino_conn.advance(120)
    found = TelzinoHook().get_transcripts(telzino_conn.agent_id, [LOG_ID], since="0001-01-01T00:01:00+00:00")
    assert set(found) == {LOG_ID}


@pytest.mark.parametrize("bad", [5, ["x"], " ", "a\nb"])
def test_a_call_log_id_must_be_a_string(telzino_conn, bad):
    with pytest.raises(TelzinoValidationError, match="^transcript_id: "):
        TelzinoHook().get_transcript(telzino_conn.agent_id, bad)
    assert telzino_conn.requests == []


@pytest.fixture
def history(telzino_conn):
    """1,500 completed calls over 10 days, then 12 completed in the last hour (newest first)."""
    emu = telzino_conn
    now = emu.now()
    emu.seed_calls(
        1500, start=now - timedelta(days=10), end=now - timedelta(hours=2), outcomes={"completed": 1}
    )
    recent = [emu.add_call(created_at=now - timedelta(minutes=70 - 5 * n), duration=60) for n in range(12)]
    emu.advance(5)
    emu.clear_requests()
    recent_ids = {r["id"] for r in recent}
    return [c for c in emu.calls() if c["id"] in recent_ids]


def test_transcripts_stop_at_the_oldest_call_asked_about(telzino_conn, history):
    hook = TelzinoHook()
    ids = [c["transcript_id"] for c in history]
    found = hook.get_call_transcripts(telzino_conn.agent_id, history)
    assert set(found) == set(ids)
    assert log_requests(telzino_conn) == 1


def test_a_transcript_not_listed_yet_costs_a_page_or_two_not_the_history(telzino_conn, history):
    hook = TelzinoHook()
    live = telzino_conn.add_call(duration=100)  # placed now: its log is not listed yet
    telzino_conn.advance(1)
    telzino_conn.clear_requests()
    calls = [*history, {**live, "transcript_id": "7d3b4c1e-0000-4000-8000-000000000001"}]
    found = hook.get_call_transcripts(telzino_conn.agent_id, calls)
    assert set(found) == {c["transcript_id"] for c in history}
    assert log_requests(telzino_conn) <= -(-len(calls) // 100) + 2
    telzino_conn.clear_requests()
    since = min(c["created_at"] for c in history)
    assert hook.get_transcript(telzino_conn.agent_id, "not-listed-yet", since=since) is None
    assert log_requests(telzino_conn) <= 2
    telzino_conn.clear_requests()
    assert hook.get_transcript(telzino_conn.agent_id, "not-listed-yet") is None  # no bound: every page
    assert log_requests(telzino_conn) == 16


def test_transcripts_of_calls_that_ended_long_ago_skip_the_newer_logs(telzino_conn):
    now = telzino_conn.now()
    seeded = telzino_conn.seed_calls(
        10_000, start=now - timedelta(days=30), end=now, outcomes={"completed": 1}
    )
    telzino_conn.clear_requests()
    noon = seeded[6000]["ended_at"][:10] + "T12"  # an hour about 18 days ago
    hour = [c for c in seeded if c["ended_at"].startswith(noon)]
    found = TelzinoHook().get_call_transcripts(telzino_conn.agent_id, hour)
    assert set(found) == {c["transcript_id"] for c in hour} and hour
    # about 2 log2(100) probes and the hour's page or two, not the ~60 pages of logs since
    assert log_requests(telzino_conn) <= 2 * 7 + 3


def test_one_transcript_of_a_call_that_ended_long_ago_skips_the_newer_logs(telzino_conn):
    now = telzino_conn.now()
    seeded = telzino_conn.seed_calls(
        5_000, start=now - timedelta(days=30), end=now, outcomes={"completed": 1}
    )
    call = seeded[4000]  # about 24 days ago
    telzino_conn.clear_requests()
    log = TelzinoHook().get_transcript(
        telzino_conn.agent_id,
        call["transcript_id"],
        since=call["created_at"],
        until=parse_api_timestamp(call["ended_at"]) + timedelta(days=1),
    )
    assert log is not None and log["id"] == call["transcript_id"]
    assert log_requests(telzino_conn) <= 2 * 6 + 3  # a search and a page or two, not ~40 pages since


def test_call_logs_listed_by_start_time_are_read_whole_with_a_warning(telzino_conn, caplog):
    emu = telzino_conn
    now = emu.now()
    # Overlapping calls: listed by start time, their created_at (the end) is not monotonic.
    calls = [
        emu.add_call(
            created_at=now - timedelta(minutes=30) + timedelta(seconds=20 * n), duration=300 - 25 * n
        )
        for n in range(10)
    ]
    emu.advance(60)
    emu.set_list_order("by_call_start")
    calls = [c for c in emu.calls() if c["id"] in {x["id"] for x in calls}]
    with caplog.at_level(logging.WARNING):
        found = TelzinoHook().get_call_transcripts(emu.agent_id, calls)
    assert set(found) == {c["transcript_id"] for c in calls}
    assert "not sorted newest first" in caplog.text


def test_call_log_window_on_iter_call_logs(telzino_conn, history):
    since = parse_api_timestamp(min(c["ended_at"] for c in history)) - timedelta(seconds=1)
    logs = list(TelzinoHook().iter_call_logs(telzino_conn.agent_id, created_after=since, page_size=5))
    assert {log["id"] for log in logs} == {c["transcript_id"] for c in history}
    assert log_requests(telzino_conn) == 3  # 12 logs, then on page 3 the first older log and one more


def test_get_call_transcripts_needs_records_with_a_time(telzino_conn):
    with pytest.raises(TelzinoValidationError, match="^calls: "):
        TelzinoHook().get_call_transcripts(telzino_conn.agent_id, [{"transcript_id": LOG_ID}])
    assert telzino_conn.requests == []
