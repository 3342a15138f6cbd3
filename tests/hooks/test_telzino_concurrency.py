"""TelzinoHook.iter_outbound_calls with max_concurrency, against the emulator over real HTTP."""

from __future__ import annotations

import math
import threading
import time
from datetime import timedelta

import pytest

from telzino_provider.emulator import TelzinoEmulator
from telzino_provider.exceptions import TelzinoApiError, TelzinoValidationError
from telzino_provider.hooks.telzino import TelzinoHook
from telzino_provider.timeutil import parse_api_timestamp
from telzino_provider.transport.concurrent_paging import MAX_BUFFERED_PAGES
from telzino_provider.validation import MAX_CONCURRENCY


def seed(emulator: TelzinoEmulator, count: int) -> list[str]:
    """``count`` finished calls; returns every call's id, newest first (the emulator's truth)."""
    now = emulator.now()
    emulator.seed_calls(count, start=now - timedelta(days=3), end=now - timedelta(hours=1))
    return [call["id"] for call in emulator.calls()]


def list_path(emulator: TelzinoEmulator) -> str:
    return f"/v1/agents/{emulator.agent_id}/outbound-calls"


def page_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("telzino-page")]


@pytest.mark.parametrize(("workers", "page_size"), [(2, 10), (4, 50), (8, 20), (8, 100)])
def test_every_call_once_newest_first_while_calls_arrive_at_the_head(telzino_conn, workers, page_size):
    truth = seed(telzino_conn, 1500)
    telzino_conn.insert_calls_between_pages(1)  # one new call after every page request
    telzino_conn.latency = 0.001  # answers overlap, so the workers interleave

    calls = TelzinoHook().list_outbound_calls(
        telzino_conn.agent_id, page_size=page_size, max_concurrency=workers
    )

    ids = [call["id"] for call in calls]
    assert len(ids) == len(set(ids)), "a call was returned twice"
    existing = set(truth)
    assert [i for i in ids if i in existing] == truth, "a call that existed was lost or misplaced"
    stamps = [parse_api_timestamp(call["created_at"]) for call in calls]
    assert stamps == sorted(stamps, reverse=True)
    assert telzino_conn.count_requests("GET") > math.ceil(1500 / page_size)  # the inserts did happen
    assert not page_threads()


def test_concurrent_and_sequential_reads_agree_on_a_window(telzino_conn):
    seed(telzino_conn, 2000)
    records = telzino_conn.calls()
    after, before = records[499]["created_at"], records[100]["created_at"]
    hook = TelzinoHook()

    sequential = hook.list_outbound_calls(telzino_conn.agent_id, created_after=after, page_size=20)
    sent_sequential = telzino_conn.count_requests("GET", list_path(telzino_conn))
    telzino_conn.clear_requests()
    concurrent = hook.list_outbound_calls(
        telzino_conn.agent_id, created_after=after, page_size=20, max_concurrency=8
    )
    sent_concurrent = telzino_conn.count_requests("GET", list_path(telzino_conn))
    windowed = hook.list_outbound_calls(
        telzino_conn.agent_id, created_after=after, created_before=before, page_size=20, max_concurrency=3
    )

    assert [c["id"] for c in concurrent] == [c["id"] for c in sequential] == [c["id"] for c in records[:500]]
    assert [c["id"] for c in windowed] == [c["id"] for c in records[101:500]]
    assert sent_sequential == 26  # 25 pages of the window and the one that proves it ended
    # Early stop: at most max_concurrency - 1 more pages, plus the search over 100 pages.
    assert sent_concurrent <= sent_sequential + 7 + 1 + math.ceil(math.log2(100))


def test_several_statuses_share_one_pool_and_agree_with_a_sequential_read(telzino_conn):
    seed(telzino_conn, 800)
    hook = TelzinoHook()
    statuses = ["completed", "failed", "busy"]

    sequential = hook.list_outbound_calls(telzino_conn.agent_id, status=statuses, page_size=10)
    concurrent = hook.list_outbound_calls(
        telzino_conn.agent_id, status=statuses, page_size=10, max_concurrency=4
    )

    assert [c["id"] for c in concurrent] == [c["id"] for c in sequential]
    assert len(sequential) > 600


def test_a_rate_limited_api_slows_the_pool_and_the_read_completes(telzino_conn):
    truth = seed(telzino_conn, 400)
    telzino_conn.rate_limit(8, per_seconds=0.5, retry_after="1")

    calls = TelzinoHook().list_outbound_calls(telzino_conn.agent_id, page_size=20, max_concurrency=4)

    assert [c["id"] for c in calls] == truth
    statuses = [r.status for r in telzino_conn.requests]
    assert statuses.count(429) >= 1
    assert 20 <= statuses.count(200) <= 20 + 3  # the pages, and a page per slice boundary


def test_the_retry_budget_still_holds_under_concurrency(emulator, monkeypatch):
    from tests.conftest import CONN_ENV, conn_json

    monkeypatch.setenv(CONN_ENV, conn_json(emulator, max_retries=1, retry_backoff=0.01))
    seed(emulator, 400)
    hook = TelzinoHook()
    get = hook.transport.get
    sent = []

    def failing_after_page_one(path, params=None, **kwargs):
        if sent:  # from the second request on, once the workers have started
            emulator.fail_next(100, status=503)
        sent.append(params)
        return get(path, params, **kwargs)

    monkeypatch.setattr(hook.transport, "get", failing_after_page_one)

    with pytest.raises(TelzinoApiError, match="gave up after 2 attempts"):
        hook.list_outbound_calls(emulator.agent_id, page_size=20, max_concurrency=4)

    # Page 1, then each worker's request: one attempt and one retry, and no new request after that.
    assert emulator.count_requests("GET") <= 1 + 4 * 2
    assert not page_threads()


def test_stopping_after_max_calls_leaves_no_worker_behind(telzino_conn):
    truth = seed(telzino_conn, 3000)
    calls = TelzinoHook().list_outbound_calls(
        telzino_conn.agent_id, page_size=10, max_calls=15, max_concurrency=4
    )
    assert [c["id"] for c in calls] == truth[:15]
    assert not page_threads()


@pytest.mark.parametrize("value", [0, -1, MAX_CONCURRENCY + 1, "4", 2.0, True, None])
def test_max_concurrency_is_checked_before_any_request(telzino_conn, value):
    with pytest.raises(TelzinoValidationError, match="max_concurrency") as err:
        TelzinoHook().list_outbound_calls(telzino_conn.agent_id, max_concurrency=value)
    assert "1 to 16" in str(err.value) or "whole number" in str(err.value)
    assert telzino_conn.count_requests() == 0


def test_one_worker_sends_exactly_the_sequential_requests(telzino_conn):
    seed(telzino_conn, 250)
    hook = TelzinoHook()
    hook.list_outbound_calls(telzino_conn.agent_id, page_size=100)
    sequential = [r.query for r in telzino_conn.requests]
    telzino_conn.clear_requests()
    hook.list_outbound_calls(telzino_conn.agent_id, page_size=100, max_concurrency=1)
    assert [r.query for r in telzino_conn.requests] == sequential
    assert [q["page"] for q in sequential] == ["1", "2", "3"]


def test_several_statuses_hold_about_128_pages_in_all_not_per_status(telzino_conn):
    """docs/concurrent-paging.md promises about MAX_BUFFERED_PAGES pages held at most: one budget
    for the read, however many statuses it merges (each status is a stream of its own)."""
    statuses = ["completed", "no_answer", "busy", "failed"]
    now = telzino_conn.now()
    outcomes = dict.fromkeys(statuses, 1.0)
    telzino_conn.seed_calls(4000, start=now - timedelta(days=3), end=now, outcomes=outcomes)
    hook = TelzinoHook()
    page_size = 5  # 200 pages per status
    fetched: set[str] = set()  # calls read from the API and not necessarily yielded yet
    lock = threading.Lock()
    get = hook.transport.get

    def recording_get(path, params=None, **kwargs):
        body = get(path, params, **kwargs)
        with lock:
            fetched.update(call["id"] for call in body["data"])
        return body

    hook.transport.get = recording_get  # the real transport, over real HTTP; it only records
    yielded = 0
    most_held = 0
    for _ in hook.iter_outbound_calls(
        telzino_conn.agent_id, status=statuses, page_size=page_size, max_concurrency=8
    ):
        if yielded == 0:
            time.sleep(1.0)  # a slow consumer: the workers read ahead as far as they may
        yielded += 1
        with lock:
            most_held = max(most_held, len(fetched) - yielded)

    assert yielded == 4000
    peak_pages = math.ceil(most_held / page_size)
    assert peak_pages <= MAX_BUFFERED_PAGES + 8, peak_pages
    assert not page_threads()
