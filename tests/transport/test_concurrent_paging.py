"""Concurrent paging: the same calls as a sequential read, with pages read by several threads.

The page sources here are deliberately hostile (calls inserted at the head after every request,
several per request, pages answered in a shuffled order); the emulator tests in tests/hooks check
the same against real HTTP.
"""

from __future__ import annotations

import heapq
import math
import random
import threading
import time
import weakref
from datetime import datetime, timedelta, timezone

import pytest

from telzino_provider.exceptions import TelzinoApiError
from telzino_provider.transport.concurrent_paging import (
    MAX_BUFFERED_PAGES,
    PagePool,
    iter_newest_first_concurrent,
    slice_starts,
)
from telzino_provider.transport.paging import iter_newest_first
from telzino_provider.transport.retry import past_deadline, retries_until

T0 = datetime(2026, 6, 11, 12, 0, tzinfo=timezone.utc)


def item(n: int) -> dict:
    return {"id": f"call-{n}", "created_at": (T0 + timedelta(seconds=n)).isoformat()}


class GrowingList:
    """A newest-first list served in pages from many threads; ``inserts`` new calls arrive at the
    head after every request, and ``jitter`` makes answers come back in a shuffled order."""

    def __init__(
        self, count: int, page_size: int, *, inserts: int = 0, jitter: float = 0.0, slow_after: int = 0
    ) -> None:
        self.items = [item(n) for n in range(count, 0, -1)]
        self.page_size, self.inserts, self.jitter = page_size, inserts, jitter
        self.slow_after = slow_after  # pages after this one take 20 ms more (0: none)
        self.next_id = 10**6
        self.lock = threading.Lock()
        self.requests: list[int] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.rng = random.Random(7)

    def __call__(self, page: int) -> dict:
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            delay = self.rng.random() * self.jitter + (0.02 if 0 < self.slow_after < page else 0.0)
        time.sleep(delay)
        with self.lock:
            self.in_flight -= 1
            self.requests.append(page)
            start = (page - 1) * self.page_size
            data = [dict(call) for call in self.items[start : start + self.page_size]]
            total = len(self.items)  # as served, before this request's inserts
            total_pages = -(-total // self.page_size)
            for _ in range(self.inserts):
                self.next_id += 1
                self.items.insert(0, item(self.next_id))
        pagination = {
            "page": page,
            "total": total,
            "totalPages": total_pages,
            "hasNext": page < total_pages,
        }
        return {"data": data, "pagination": pagination}


def read(source, workers: int, **window) -> list[str]:
    pool = PagePool(workers) if workers > 1 else None
    try:
        entries = iter_newest_first_concurrent(source, label="test", path="/p", pool=pool, **window)
        return [call["id"] for _, call in entries]
    finally:
        if pool is not None:
            pool.close()


# Calls inserted after *every* request: with N workers a page's worth of reading sees N times as
# many arrivals as a sequential read does (real arrivals follow the clock, and a faster read sees
# fewer). At a page per round no reader would ever reach the end, so the cases stay at half that.
CASES = [
    (workers, count, page_size, inserts)
    for workers in (2, 3, 8)
    for count, page_size in ((120, 1), (500, 7), (1000, 100), (2003, 20))
    for inserts in (0, 1, 3, 9)
    if 2 * inserts * workers <= page_size
]


@pytest.mark.parametrize(("workers", "count", "page_size", "inserts"), CASES)
def test_every_call_once_newest_first_while_calls_arrive(workers, count, page_size, inserts):
    source = GrowingList(count, page_size, inserts=inserts, jitter=0.002)
    truth = [call["id"] for call in source.items]

    got = read(source, workers)

    assert len(got) == len(set(got)), "a call was yielded twice"
    new = {f"call-{n}" for n in range(10**6, source.next_id + 1)}
    assert [call_id for call_id in got if call_id not in new] == truth
    assert source.most_in_flight <= workers


@pytest.mark.parametrize("workers", [2, 4, 8])
@pytest.mark.parametrize("inserts", [0, 1])
def test_a_window_reads_what_a_sequential_read_does_plus_the_bound(workers, inserts):
    count, page_size = 2000, 20  # 100 pages
    after = T0 + timedelta(seconds=1501)  # the 500 newest calls: 25 pages
    before = T0 + timedelta(seconds=1900)
    sequential = GrowingList(count, page_size, inserts=inserts)
    expected = [c["id"] for _, c in iter_newest_first(sequential, label="t", path="/p", created_after=after)]
    source = GrowingList(count, page_size, inserts=inserts, jitter=0.002)

    got = read(source, workers, created_after=after)
    in_window = read(
        GrowingList(count, page_size, inserts=inserts), workers, created_after=after, created_before=before
    )

    assert got == expected == [f"call-{n}" for n in range(2000, 1500, -1)]
    assert in_window == [f"call-{n}" for n in range(1899, 1500, -1)]
    bound = len(sequential.requests) + (workers - 1) + 1 + math.ceil(math.log2(100))
    # Calls arriving push every slice's end, not only the one end a sequential read has: a page more
    # for each slice at most, while fewer than a page arrive per round.
    assert len(source.requests) <= bound + (workers if inserts else 0)
    beyond = [page for page in source.requests if page > 27]  # past the window's end (page 26)
    assert len(beyond) <= 1 + math.ceil(math.log2(100))  # only the search's probes


@pytest.mark.parametrize("workers", [2, 8])
def test_a_small_window_costs_a_few_probes_not_a_search_of_the_whole_list(workers):
    count, page_size = 20_000, 20  # 1000 pages
    after = T0 + timedelta(seconds=count - 59)  # the 60 newest calls: 3 pages
    sequential = GrowingList(count, page_size)
    list(iter_newest_first(sequential, label="t", path="/p", created_after=after))
    source = GrowingList(count, page_size)

    got = read(source, workers, created_after=after)

    assert got == [f"call-{n}" for n in range(count, count - 60, -1)]
    assert len(sequential.requests) == 4
    probes = [page for page in source.requests if page > 5]
    assert probes == [], "the guess from page 1's time span should land at once"
    assert len(source.requests) <= len(sequential.requests) + (workers - 1) + 3


def test_a_window_inside_page_one_reads_one_page():
    source = GrowingList(1000, 100)
    assert read(source, 8, created_after=T0 + timedelta(seconds=950)) == [
        f"call-{n}" for n in range(1000, 949, -1)
    ]
    assert source.requests == [1]


def test_one_worker_is_the_sequential_reader_request_for_request():
    source, sequential = GrowingList(500, 7, inserts=2), GrowingList(500, 7, inserts=2)
    got = read(source, 1)
    expected = [c["id"] for _, c in iter_newest_first(sequential, label="t", path="/p")]
    assert got == expected and source.requests == sequential.requests


def test_long_reads_are_cut_into_slices_of_bounded_length():
    starts = slice_starts(1000, 8)
    assert starts[1] - starts[0] == MAX_BUFFERED_PAGES // 8
    assert slice_starts(100, 8) == list(range(1, 101, 13))
    assert slice_starts(3, 8) == [1, 2, 3]

    source = GrowingList(4000, 20, inserts=1)  # 200 pages: 13 slices of 16 pages for 8 workers
    truth = [call["id"] for call in source.items]
    got = read(source, 8)
    assert [c for c in got if int(c.split("-")[1]) < 10**6] == truth


def test_memory_stays_bounded_when_the_consumer_is_slow():
    source = GrowingList(4000, 4)  # 1000 pages
    pool = PagePool(4)
    try:
        entries = iter_newest_first_concurrent(source, label="t", path="/p", pool=pool)
        for _ in range(10):
            next(entries)
        time.sleep(0.3)  # the workers run ahead while nobody consumes
        assert len(source.requests) <= 2 * MAX_BUFFERED_PAGES
        assert len(list(entries)) == 3990
    finally:
        pool.close()


class TrackedBody(dict):
    """A page body that can be weakly referenced, to count the bodies still held."""


def test_boundary_pages_are_released_once_their_slice_has_read_them():
    source = GrowingList(4000, 4)  # 1000 pages: 32 slices of 32 pages for 4 workers
    live = [0]  # page bodies not yet freed
    lock = threading.Lock()

    def freed() -> None:
        with lock:
            live[0] -= 1

    def fetch(page: int) -> dict:
        body = TrackedBody(source(page))
        with lock:
            live[0] += 1
        weakref.finalize(body, freed)
        return body

    pool = PagePool(4)
    try:
        most = 0
        count = 0
        for _ in iter_newest_first_concurrent(fetch, label="t", path="/p", pool=pool):
            count += 1
            most = max(most, live[0])
        assert count == 4000
        # At most the slices in flight and the boundaries fetched ahead, not one page per slice.
        assert most <= 3 * pool.size + 2, most
    finally:
        pool.close()


def test_stopping_early_cancels_the_rest():
    source = GrowingList(4000, 4, jitter=0.001)
    pool = PagePool(4)
    entries = iter_newest_first_concurrent(source, label="t", path="/p", pool=pool)
    first = [next(entries) for _ in range(3)]
    entries.close()
    pool.close()
    sent = len(source.requests)
    time.sleep(0.05)
    assert [c["id"] for _, c in first] == ["call-4000", "call-3999", "call-3998"]
    assert len(source.requests) == sent < 1000
    assert not [t for t in threading.enumerate() if t.name.startswith("telzino-page")]


def test_a_failing_page_fails_the_read():
    source = GrowingList(1000, 10)

    def failing(page: int) -> dict:
        if page == 57:
            raise TelzinoApiError("GET", "/p", 503, "gave up after 6 attempts")
        return source(page)

    with pytest.raises(TelzinoApiError, match="gave up"):
        read(failing, 4)


def test_an_unsorted_later_page_is_an_error_not_a_guess():
    source = GrowingList(1000, 10)

    def shuffled(page: int) -> dict:
        body = source(page)
        if page == 40:
            body["data"].reverse()
        return body

    with pytest.raises(TelzinoApiError, match="not sorted newest first.*max_concurrency=1"):
        read(shuffled, 4)


def test_an_unsorted_first_page_falls_back_to_the_sequential_reader(caplog):
    source = GrowingList(30, 10)
    source.items.reverse()  # oldest first
    got = read(source, 4)
    assert sorted(got) == sorted(f"call-{n}" for n in range(1, 31))
    assert "reading it sequentially" in caplog.text


def test_streams_sharing_a_pool_never_exceed_its_size():
    # The streams read the same list, so their requests add up; the first slice is quick, so the
    # next stream starts while the other slices of the ones before are still being read.
    source = GrowingList(2000, 10, jitter=0.001, slow_after=45)
    pool = PagePool(3, streams=3)
    try:
        streams = [iter_newest_first_concurrent(source, label="t", path="/p", pool=pool) for _ in range(3)]
        merged = list(heapq.merge(*streams, key=lambda entry: entry[0], reverse=True))
    finally:
        pool.close()
    assert len(merged) == 6000
    assert source.most_in_flight == 3


@pytest.mark.parametrize(("workers", "streams"), [(8, 4), (2, 4), (3, 3), (16, 2)])
def test_streams_sharing_a_pool_share_one_memory_budget(workers, streams):
    """However many streams a read merges, about MAX_BUFFERED_PAGES pages are held in all; more
    streams than workers still complete (each stream may always hold one slice)."""
    page_size = 5
    sources = [GrowingList(1000, page_size) for _ in range(streams)]  # 200 pages each
    fetched: set[tuple[int, str]] = set()
    lock = threading.Lock()

    def recording(n: int):
        def fetch(page: int) -> dict:
            body = sources[n](page)
            with lock:
                fetched.update((n, call["id"]) for call in body["data"])
            return body

        return fetch

    pool = PagePool(workers, streams=streams)
    try:
        entries = [
            iter_newest_first_concurrent(recording(n), label=f"s{n}", path="/p", pool=pool)
            for n in range(streams)
        ]
        yielded = most_held = 0
        for _ in heapq.merge(*entries, key=lambda entry: entry[0], reverse=True):
            if yielded == 0:
                time.sleep(0.3)  # a slow consumer: the workers read ahead as far as they may
            yielded += 1
            with lock:
                most_held = max(most_held, len(fetched) - yielded)
    finally:
        pool.close()
    assert yielded == 1000 * streams
    assert math.ceil(most_held / page_size) <= MAX_BUFFERED_PAGES + 2 * streams, most_held / page_size


def test_pages_are_read_under_the_submitters_look_deadline():
    # A wait's deadline for its look's retries must reach the pool's threads, not only the caller's.
    pool = PagePool(2)
    try:
        with retries_until(time.time() + 5):
            inside = pool.submit(past_deadline, 10.0).result()
        outside = pool.submit(past_deadline, 10.0).result()
    finally:
        pool.close()
    assert inside is not None and outside is None
