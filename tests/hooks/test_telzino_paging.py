"""Paging guarantees of TelzinoHook.iter_outbound_calls per status, and a server that does not sort."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from telzino_provider.emulator import OUTCOME_NUMBERS
from telzino_provider.hooks.telzino import TelzinoHook


def list_queries(emulator):
    prefix = f"/v1/agents/{emulator.agent_id}/outbound-calls"
    return [r.query for r in emulator.requests if r.method == "GET" and r.path == prefix]


@pytest.fixture
def five_dialing(telzino_conn):
    """Five calls ringing now, a millisecond apart; the two newest fail one second from now."""
    emu = telzino_conn
    start = emu.now() - timedelta(seconds=4, milliseconds=500)  # 4.5 s old: dialing
    numbers = [OUTCOME_NUMBERS["no_answer"]] * 3 + [OUTCOME_NUMBERS["failed"]] * 2  # oldest first
    calls = [
        emu.add_call(to_number=number, created_at=start + timedelta(milliseconds=n))
        for n, number in enumerate(numbers)
    ]
    assert [c["status"] for c in calls] == ["dialing"] * 5
    emu.clear_requests()
    return calls[::-1]  # newest first


def test_a_live_status_read_loses_no_call_that_stays_in_it(telzino_conn, five_dialing):
    calls = TelzinoHook().iter_outbound_calls(telzino_conn.agent_id, status="dialing", page_size=2)
    got = [next(calls)["id"], next(calls)["id"]]  # page 1: the two newest
    telzino_conn.advance(1)  # ... which now leave dialing (failed) before page 2 is read
    got += [call["id"] for call in calls]
    stayed = [c["id"] for c in five_dialing[2:]]
    assert set(stayed) <= set(got)  # each call that stayed dialing throughout is returned
    assert got == [c["id"] for c in five_dialing]  # newest first, each once
    assert all("status" not in q for q in list_queries(telzino_conn))  # filtered on the client


def test_a_live_status_read_costs_the_pages_of_every_call_in_the_window(telzino_conn, five_dialing):
    now = telzino_conn.now()
    telzino_conn.seed_calls(300, start=now - timedelta(days=3), end=now - timedelta(hours=1))
    telzino_conn.clear_requests()
    hook = TelzinoHook()
    got = hook.list_outbound_calls(
        telzino_conn.agent_id, status="dialing", created_after=now - timedelta(hours=2)
    )
    assert [c["id"] for c in got] == [c["id"] for c in five_dialing]
    in_window = sum(c["created_at"] >= (now - timedelta(hours=2)).isoformat() for c in telzino_conn.calls())
    assert len(list_queries(telzino_conn)) == in_window // 100 + 1  # the window's pages, not history's


def test_live_and_finished_statuses_together_read_one_list(telzino_conn, five_dialing):
    now = telzino_conn.now()
    seeded = telzino_conn.seed_calls(40, start=now - timedelta(hours=3), end=now - timedelta(hours=1))
    telzino_conn.clear_requests()
    got = TelzinoHook().list_outbound_calls(telzino_conn.agent_id, status=["dialing", "busy"], page_size=10)
    expected = [c["id"] for c in five_dialing] + [c["id"] for c in seeded if c["status"] == "busy"]
    assert [c["id"] for c in got] == expected
    assert all("status" not in q for q in list_queries(telzino_conn))


def test_finished_statuses_are_still_filtered_by_the_server(telzino_conn, five_dialing):
    TelzinoHook().list_outbound_calls(telzino_conn.agent_id, status="completed")
    assert [q.get("status") for q in list_queries(telzino_conn)] == ["completed"]


def test_a_call_list_served_oldest_first_still_yields_the_window(telzino_conn, caplog):
    now = telzino_conn.now()
    seeded = telzino_conn.seed_calls(60, start=now - timedelta(days=2), end=now - timedelta(hours=1))
    telzino_conn.set_list_order("oldest_first")
    telzino_conn.clear_requests()
    after = seeded[19]["created_at"]
    with caplog.at_level(logging.WARNING):
        got = TelzinoHook().list_outbound_calls(telzino_conn.agent_id, created_after=after, page_size=10)
    assert sorted(c["id"] for c in got) == sorted(c["id"] for c in seeded[:20])
    assert "not sorted newest first" in caplog.text


def test_a_window_that_ended_long_ago_costs_its_own_pages_not_the_newer_history(telzino_conn):
    now = telzino_conn.now()
    seeded = telzino_conn.seed_calls(3000, start=now - timedelta(days=30), end=now - timedelta(hours=1))
    telzino_conn.clear_requests()
    start, end = now - timedelta(days=21), now - timedelta(days=20)
    got = TelzinoHook().list_outbound_calls(
        telzino_conn.agent_id, created_after=start, created_before=end, page_size=10
    )
    expected = [c["id"] for c in seeded if start.isoformat() <= c["created_at"] < end.isoformat()]
    assert [c["id"] for c in got] == expected and len(expected) > 50
    newer_pages = sum(c["created_at"] >= end.isoformat() for c in seeded) // 10  # about 200
    # about 2 log2(300) probes, then the window's pages and one more; not the ~200 newer pages
    assert len(list_queries(telzino_conn)) <= 2 * 9 + len(expected) // 10 + 3 < newer_pages


@pytest.mark.parametrize("workers", [1, 4])
def test_more_calls_created_during_a_read_than_ids_remembered_yield_no_call_twice(telzino_conn, workers):
    """7,000 calls created between two pages, 2,000 calls into a read, push the calls already read
    350 pages further on, past the reader's memory of recent ids (about 5,000): they are recognised
    by their place counted from the end of the list (the API's ``total``), which new calls at the
    head do not change. 450 pages, so a concurrent read (about 128 pages ahead) meets it too."""
    now = telzino_conn.now()
    telzino_conn.seed_calls(9000, start=now - timedelta(days=3), end=now - timedelta(hours=1))
    truth = [call["id"] for call in telzino_conn.calls()]
    calls = TelzinoHook().iter_outbound_calls(telzino_conn.agent_id, page_size=20, max_concurrency=workers)

    ids = [next(calls)["id"] for _ in range(2000)]
    telzino_conn.insert_calls_between_pages(7000, pages=1)  # a burst after the next page served
    ids += [call["id"] for call in calls]

    duplicates = len(ids) - len(set(ids))
    existing = set(truth)
    assert duplicates == 0, f"{duplicates} calls yielded twice"
    assert [i for i in ids if i in existing] == truth, "a call that existed was lost or misplaced"
    assert len(telzino_conn.calls()) == 16_000  # the burst did happen during the read
