"""The newest-first pager on its own, with page sources that misbehave in ways a server might."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import pytest

from telzino_provider.exceptions import TelzinoApiError
from telzino_provider.transport.paging import RECENT_IDS, iter_newest_first

T0 = datetime(2026, 6, 11, 12, 0, tzinfo=timezone.utc)


def item(n: int) -> dict:
    return {"id": f"call-{n}", "created_at": (T0 + timedelta(minutes=n)).isoformat()}


class ListSource:
    """Serves ``items`` in pages; ``on_page`` may change the list between requests."""

    def __init__(self, items, page_size, on_page=None, has_next_forever=False):
        self.items, self.page_size, self.on_page = items, page_size, on_page
        self.has_next_forever = has_next_forever
        self.requests = 0
        self.pages: list[int] = []

    def __call__(self, page: int) -> dict:
        self.requests += 1
        self.pages.append(page)
        start = (page - 1) * self.page_size
        data = self.items[start : start + self.page_size]
        total_pages = -(-len(self.items) // self.page_size)
        body = {
            "data": list(data),
            "pagination": {
                "page": page,
                "total": len(self.items),
                "totalPages": total_pages,
                "hasNext": page < total_pages,
            },
        }
        if self.has_next_forever:
            body["pagination"]["hasNext"] = True
            body["data"] = [item(-page)]
        if self.on_page:
            self.on_page(self.items)
        return body


def read(source, **kwargs):
    return [call["id"] for _, call in iter_newest_first(source, label="test", path="/p", **kwargs)]


def test_unsorted_server_is_read_to_the_end_with_a_warning(caplog):
    items = [item(n) for n in (9, 8, 7, 3, 6, 5, 1, 4, 2, 0)]
    source = ListSource(items, page_size=3)
    with caplog.at_level(logging.WARNING):
        got = read(source, created_after=T0 + timedelta(minutes=2))
    assert sorted(got) == sorted(f"call-{n}" for n in (9, 8, 7, 3, 6, 5, 4, 2))
    assert len(got) == len(set(got))
    assert "not sorted newest first" in caplog.text
    assert source.requests == 4  # no early stop once the order is known to be broken


def test_list_ordered_by_another_field_is_read_whole_with_a_warning(caplog):
    # e.g. call logs listed by start time while created_at is the end time: not monotonic
    source = ListSource([item(1), item(5), item(3)], page_size=1)
    with caplog.at_level(logging.WARNING):
        got = read(source)
    assert sorted(got) == ["call-1", "call-3", "call-5"]
    assert "not sorted newest first" in caplog.text


@pytest.mark.parametrize("page_size", [1, 3, 20])
def test_oldest_first_list_with_a_window_yields_the_window_with_a_warning(caplog, page_size):
    source = ListSource([item(n) for n in range(10)], page_size=page_size)
    with caplog.at_level(logging.WARNING):
        got = read(source, created_after=T0 + timedelta(minutes=5))
    assert sorted(got) == sorted(f"call-{n}" for n in range(5, 10))
    assert "not sorted newest first" in caplog.text


def test_unsorted_tail_after_the_window_is_noticed_before_stopping(caplog):
    # page 2 begins out of the window, then turns back into it: the order does not hold
    items = [item(n) for n in (9, 8, 7, 1, 6, 5, 0)]
    with caplog.at_level(logging.WARNING):
        got = read(ListSource(items, page_size=3), created_after=T0 + timedelta(minutes=5))
    assert sorted(got) == sorted(f"call-{n}" for n in (9, 8, 7, 6, 5))
    assert "not sorted newest first" in caplog.text


@pytest.mark.parametrize(
    ("after", "requests"),
    [
        (4, 3),  # the first older call (3) opens page 3, whose rest confirms the order
        (8, 2),  # the first older call (7) ends page 1: one more page confirms the order
        (0, 4),  # the window reaches the end of the list
    ],
)
def test_early_stop_reads_one_call_past_the_window(caplog, after, requests):
    source = ListSource([item(n) for n in range(9, -1, -1)], page_size=3)
    with caplog.at_level(logging.WARNING):
        got = read(source, created_after=T0 + timedelta(minutes=after))
    assert got == [f"call-{n}" for n in range(9, after - 1, -1)]
    assert source.requests == requests
    assert "not sorted" not in caplog.text


def test_calls_newer_than_the_read_need_the_list_to_have_grown(caplog):
    # Without a reported total a call newer than page 1 on page 2 cannot be told from disorder.
    class NoTotal(ListSource):
        def __call__(self, page):
            body = super().__call__(page)
            del body["pagination"]["total"]
            return body

    counter = iter(range(1000, 1010))

    def burst(items):  # five new calls after each of the first two pages
        for _ in range(5):
            n = next(counter, None)
            if n is not None:
                items.insert(0, item(n))

    items = [item(n) for n in range(12, 0, -1)]
    with caplog.at_level(logging.WARNING):
        got = read(NoTotal(items, page_size=3, on_page=burst))
    assert set(got) >= {f"call-{n}" for n in range(12, 0, -1)}  # nothing that existed is lost
    assert len(got) == len(set(got))
    assert "not sorted newest first" in caplog.text


def window(after: int, before: int) -> dict:
    return {"created_after": T0 + timedelta(minutes=after), "created_before": T0 + timedelta(minutes=before)}


def test_a_window_that_ended_long_ago_skips_the_newer_pages():
    source = ListSource([item(n) for n in range(999, -1, -1)], page_size=10)
    got = read(source, **window(300, 350))
    assert got == [f"call-{n}" for n in range(349, 299, -1)]
    assert source.requests <= 2 * 7 + 6 + 1  # probes (log2 of 100 pages, twice), the window, one more
    assert 66 in source.pages and source.pages[-5:] == [67, 68, 69, 70, 71]  # calls 349..300: pages 66-70


@pytest.mark.parametrize("gap", [1, 2])
def test_an_old_window_of_a_steady_history_costs_two_requests_more_than_a_recent_one(gap: int) -> None:
    """6,400 items at a steady rate (or every other minute gone): the search guesses the window's page."""
    minutes = range(6_400 * gap - 1, -1, -gap)
    pages = {}
    for name, (after, before) in {
        "recent": (6_340 * gap, 6_400 * gap),
        "old": (1_000 * gap, 1_060 * gap),
    }.items():
        source = ListSource([item(n) for n in minutes], page_size=100)
        got = read(source, **window(after, before))
        assert got == [f"call-{n}" for n in minutes if after <= n < before]
        pages[name] = source.requests
    assert pages["old"] <= pages["recent"] + 2, pages


def test_skipping_while_new_calls_arrive_loses_and_repeats_nothing():
    counter = iter(range(5000, 5100))

    def grow(items):  # 7 new calls after each request, for the first 14 requests
        for n in [next(counter, None) for _ in range(7)]:
            if n is not None:
                items.insert(0, item(n))

    source = ListSource([item(n) for n in range(999, -1, -1)], page_size=10, on_page=grow)
    got = read(source, **window(300, 350))
    assert got == [f"call-{n}" for n in range(349, 299, -1)]


def test_skipped_pages_are_read_after_all_if_the_order_breaks_later(caplog):
    items = [item(n) for n in range(99, -1, -1) if n not in (35, 90)]
    items.insert(12, item(35))  # a call of the window on page 3, which no probe reads
    items.insert(70, item(90))  # disorder on a page read after the skip
    source = ListSource(items, page_size=5)
    with caplog.at_level(logging.WARNING):
        got = read(source, **window(20, 40))
    assert sorted(got) == sorted(f"call-{n}" for n in range(20, 40))
    assert "not sorted newest first" in caplog.text
    assert 3 in source.pages and source.pages.index(3) > source.pages.index(14)


def test_a_probe_out_of_order_cancels_the_skip(caplog):
    items = [item(n) for n in range(99, -1, -1)]
    items[61], items[62] = items[62], items[61]  # page 13, the first probe (the guess), is out of order
    source = ListSource(items, page_size=5)
    with caplog.at_level(logging.WARNING):
        got = read(source, **window(20, 40))
    assert sorted(got) == sorted(f"call-{n}" for n in range(20, 40))
    assert source.pages[:4] == [1, 13, 1, 2]  # no further probe: reading starts over from page 1


def test_head_inserts_never_duplicate_or_drop():
    counter = iter(range(1000, 2000))

    def grow(items):
        for _ in range(4):
            items.insert(0, item(next(counter)))

    items = [item(n) for n in range(50, 0, -1)]
    got = read(ListSource(items, page_size=7, on_page=grow))
    assert got == [f"call-{n}" for n in range(50, 0, -1)]


def test_drift_larger_than_a_page(caplog):
    counter = iter(range(1000, 2000))
    pages_served = []

    def burst(items):
        pages_served.append(1)
        if len(pages_served) <= 3:  # a burst of 25 new calls between each of the first requests
            for _ in range(25):
                items.insert(0, item(next(counter)))

    items = [item(n) for n in range(60, 0, -1)]
    with caplog.at_level(logging.WARNING):
        got = read(ListSource(items, page_size=10, on_page=burst))
    assert got == [f"call-{n}" for n in range(60, 0, -1)]
    assert "not sorted" not in caplog.text  # the reported total proves the burst


def test_hard_page_bound_stops_a_server_that_never_ends():
    source = ListSource([item(1)], page_size=1, has_next_forever=True)
    with pytest.raises(TelzinoApiError, match="still reports more pages after 12"):
        read(source)
    assert source.requests == 12


def test_empty_page_ends_even_if_has_next_lies():
    source = ListSource([], page_size=5)
    source.on_page = None
    assert read(source) == []
    assert source.requests == 1


def test_response_without_data_list_is_an_error():
    with pytest.raises(TelzinoApiError, match="expected a list response"):
        read(lambda page: {"items": []})


@pytest.mark.parametrize(("with_limit", "repeats"), [(True, 0), (False, 100)])
def test_a_burst_beyond_the_remembered_ids_repeats_nothing_when_the_answer_gives_a_rank(
    caplog, with_limit, repeats
):
    """Ranks (total, page and limit of each answer) catch every repeat; without them only the last
    RECENT_IDS ids are remembered, and a call pushed further than that is yielded twice: the bound
    docs/hook.md states."""
    items = [item(n) for n in range(9000, 0, -1)]
    burst = iter([[item(10**6 + n) for n in range(RECENT_IDS + 1000, 0, -1)]])

    def on_page(listed):
        listed[:0] = next(burst, [])  # once, after the first page

    class Source(ListSource):
        def __call__(self, page):
            body = super().__call__(page)
            if with_limit:
                body["pagination"]["limit"] = self.page_size
            return body

    with caplog.at_level(logging.WARNING):
        got = read(Source(items, page_size=100, on_page=on_page))
    assert len(got) - len(set(got)) == repeats
    original = [i for i in dict.fromkeys(got) if int(i.split("-")[1]) < 10**6]
    assert original == [f"call-{n}" for n in range(9000, 0, -1)]  # none lost, in order


def test_a_call_as_old_as_the_cursor_is_kept_when_an_insert_below_raises_its_rank():
    """A filtered list (or a late call log) gains a call further down: the ranks above it rise by
    one, so an unread call with the cursor's own created_at ranks as covered; told apart by id."""
    t5, t3, t1 = item(5)["created_at"], item(3)["created_at"], item(1)["created_at"]
    items = [
        {"id": "a", "created_at": t5},
        {"id": "b", "created_at": t3},
        {"id": "c", "created_at": t3},
        {"id": "d", "created_at": t3},
    ]
    inserted = iter([{"id": "x", "created_at": t1}])

    def on_page(listed):
        listed.extend(list(inserted))  # once, after the first page: older than everything

    class Source(ListSource):
        def __call__(self, page):
            body = super().__call__(page)
            body["pagination"]["limit"] = self.page_size
            return body

    assert read(Source(items, page_size=2, on_page=on_page)) == ["a", "b", "c", "d", "x"]
