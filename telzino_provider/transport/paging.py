"""Page/limit pagination over newest-first lists, safe against a list growing while it is read.

New calls arrive at the head of the list, pushing older ones onto later pages, so a page can repeat
calls already read. Every call that existed when reading began is still reached, because items only
ever move towards later pages. Repeats are recognised by their *rank*: the place counted from the
end of the list, ``total - 1 - position`` with the ``total``, ``page`` and ``limit`` the same answer
reports. New calls at the head do not change the rank of a call below them, and a forward read
covers the ranks from the top down without a gap, so a call whose rank is not below the lowest rank
read so far was read already, however many calls arrived in between; that costs one number, not
a memory of ids. A server whose answers lack those fields falls back on the ids of the last
:data:`RECENT_IDS` calls read: a call pushed further than that by calls arriving during the read
may then be yielded twice.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

from telzino_provider.exceptions import TelzinoApiError
from telzino_provider.timeutil import parse_api_timestamp

log = logging.getLogger(__name__)

#: About this many ids (whole pages of them) are remembered for recognising repeats.
RECENT_IDS = 5000
#: Pages allowed beyond twice the first reported page count before paging is called a server bug.
EXTRA_PAGE_ALLOWANCE = 10

Page = dict[str, Any]
Entry = tuple[datetime, dict[str, Any]]


def iter_pages(
    fetch: Callable[[int], Any], label: str, path: str, *, first: int = 1, last: int | None = None
) -> Iterator[tuple[int, list[Any], Page]]:
    """Yield ``(page_number, items, pagination)`` from page ``first`` while the server says there is
    more, up to page ``last`` if given."""
    page = first
    bound: int | None = None
    while True:
        body = fetch(page)
        items, pagination = _split(body, path)
        if bound is None:
            total_pages = pagination.get("totalPages")
            bound = 2 * (total_pages if isinstance(total_pages, int) else 0) + EXTRA_PAGE_ALLOWANCE
        yield page, items, pagination
        if not items or not pagination.get("hasNext") or page == last:
            return
        page += 1
        if page > bound:
            raise TelzinoApiError(
                "GET",
                path,
                200,
                f"{label}: the server still reports more pages after {bound}; "
                "stopped so that a server bug cannot loop forever",
            )


def iter_newest_first(
    fetch: Callable[[int], Any],
    *,
    label: str,
    path: str,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> Iterator[Entry]:
    """Yield ``(created_at, item)`` once per id, newest first, within [created_after, created_before).

    The order is checked on every item before it is relied on: for the early stop after the first item
    older than ``created_after`` (the rest of its page, and at least one item after it, must be older
    still, so the stop costs at most one page beyond the window) and for skipping items that arrived
    after reading began (the list's reported ``total`` must have grown enough to explain them). If the
    order does not hold, it warns, reads every page to the end and de-duplicates by id, so no item
    that existed when reading began is dropped. With ``created_before``, the pages of newer items
    are skipped by a search (:func:`_skip_to_window`), so an old window costs its own pages.
    """
    reader = _Reader(label, created_after, created_before)
    fetch, start = _skip_to_window(fetch, path, created_before, reader)
    for page, items, pagination in iter_pages(fetch, label, path, first=start):
        yield from reader.page(page, items, pagination)
        _log_page(label, page, pagination, reader.count, done=reader.done)
        if reader.done:
            return
    if start > 1 and reader.seen_all is not None:
        # Pages were skipped on the strength of an order that turned out not to hold: read them too.
        for page, items, pagination in iter_pages(fetch, label, path, last=start - 1):
            yield from reader.page(page, items, pagination)
            _log_page(label, page, pagination, reader.count)


def _skip_to_window(
    fetch: Callable[[int], Any], path: str, before: datetime | None, reader: _Reader
) -> tuple[Callable[[int], Any], int]:
    """``(fetch, first page to read)``: past the pages whose calls are all newer than ``before``.

    A window that ended long ago would otherwise cost every page of the calls created since. The
    search guesses the window's first page from the time the pages read so far cover (items arrive
    at a roughly steady rate) and probes it; a probed page that holds both items at or after
    ``before`` and items before it is the first page, as its predecessor is all newer. For a steady
    history that is one probe or two, so an old window costs about two requests more than a recent
    one. After two probes every other probe halves the remaining range instead, so an uneven history
    still costs at most about 2 log2(pages) + 2 probes. Items only move towards later pages as new
    ones arrive, so no page before the one found can hold a call of the window later on. A probe that
    is not sorted newest first cancels the skip.
    """
    if before is None:
        return fetch, 1
    # The last page read here is served again if reading starts there; an earlier one is stale: it
    # was read before later probes, while newer calls kept pushing the window's calls onwards.
    last: dict[int, Any] = {1: fetch(1)}

    def fetch_from(page: int) -> Callable[[int], Any]:
        return lambda number: last.pop(number) if number in last and number == page else fetch(number)

    items, pagination = _split(last[1], path)
    total_pages = pagination.get("totalPages")
    if not _all_newer(items, before) or not pagination.get("hasNext") or not isinstance(total_pages, int):
        return fetch_from(1), 1
    search = _PageSearch(items, before, total_pages)
    while (page := search.next_probe()) is not None:
        last.clear()
        last[page] = fetch(page)
        if not search.record(page, _split(last[page], path)[0]):
            return fetch_from(1), 1
    high = search.high
    total = pagination.get("total")
    reader.prime(items, total if isinstance(total, int) else None, offset=(high - 1) * len(items))
    log.debug("%s: pages 1 to %d are newer than the window; reading from page %d", path, high - 1, high)
    return fetch_from(high), high


class _PageSearch:
    """The search of :func:`_skip_to_window`: page ``low`` is all newer than ``before``; page ``high``
    is the first page that may not be (the last page until a probe shows one)."""

    def __init__(self, first_page: list[Any], before: datetime, total_pages: int) -> None:
        self.before = before
        self.size = len(first_page)
        self.newest = parse_api_timestamp(first_page[0]["created_at"])
        self.low, self.high = 1, total_pages
        self.low_oldest = parse_api_timestamp(first_page[-1]["created_at"])
        self.high_newest: datetime | None = None  # the first item of page ``high``, once probed
        self.probes = 0

    def next_probe(self) -> int | None:
        """The page to probe next, or None once ``high`` is the first page of the window."""
        if self.high - self.low <= 1:
            return None
        self.probes += 1
        guess = self._guess() if self.probes <= 2 or self.probes % 2 else None
        if guess is None:
            return (self.low + self.high) // 2
        return min(max(guess, self.low + 1), self.high - 1)

    def record(self, page: int, items: list[Any]) -> bool:
        """Take a probe's answer; False if the page is not newest first (the search is off)."""
        newer = _all_newer(items, self.before)
        if newer is None:
            return False
        if newer:
            self.low, self.low_oldest = page, parse_api_timestamp(items[-1]["created_at"])
            return True
        self.high = page
        head = parse_api_timestamp(items[0]["created_at"]) if items else None
        self.high_newest = head
        per_item = self._per_item()
        # The window starts inside this page, so the page before is all newer: taken as proven only
        # when the page's newer items span what about a page takes (an item out of order at its head
        # would otherwise pass for them).
        if (
            head is not None
            and per_item is not None
            and self.before <= head < self.before + 2 * self.size * per_item
        ):
            self.low = page - 1
        return True

    def _per_item(self) -> timedelta | None:
        """The time between items: between pages ``low`` and ``high`` once both are known, else on
        pages 1 to ``low`` (None: no rate to go by)."""
        if self.high_newest is not None and self.high_newest < self.low_oldest:
            gaps = (self.high - 1 - self.low) * self.size + 1
            spacing = (self.low_oldest - self.high_newest) / gaps
        else:
            spacing = (self.newest - self.low_oldest) / max(1, self.low * self.size - 1)
        return spacing if spacing > timedelta(0) else None

    def _guess(self) -> int | None:
        """The page of the first item older than ``before``, at the rate :meth:`_per_item` gives."""
        per_item = self._per_item()
        if per_item is None:
            return None
        index = self.low * self.size + math.floor((self.low_oldest - self.before) / per_item)
        return index // self.size + 1


def _all_newer(items: list[Any], before: datetime) -> bool | None:
    """Whether a page's items are all at or after ``before``; None if the page is not newest first."""
    stamps = [parse_api_timestamp(item["created_at"]) for item in items]
    if any(a < b for a, b in zip(stamps, stamps[1:], strict=False)):
        return None
    return bool(stamps) and stamps[-1] >= before


class _Reader:
    """The state of one newest-first read (see :func:`iter_newest_first`)."""

    def __init__(self, label: str, created_after: datetime | None, created_before: datetime | None) -> None:
        self.label = label
        self.after = created_after
        self.before = created_before
        self.recent = RecentIds()
        self.seen_all: set[str] | None = None  # set once the order is found broken
        self.cursor: datetime | None = None  # created_at of the oldest item read so far
        self.cursor_ids: set[str] = set()  # the ids read with that created_at
        self.lowest_rank: int | None = None  # the lowest rank (place from the list's end) read so far
        self.head: datetime | None = None  # newest created_at when reading began
        self.first_total: int | None = None  # the list's total when reading began
        self.offset = 0  # items served on earlier pages
        self.past_window = False  # an item older than the window was read (while the order held)
        self.confirmed = False  # ... and another item after it showed the order still holds
        self.count = 0
        self.done = False

    def page(self, number: int, items: list[Any], pagination: Page) -> Iterator[Entry]:
        stamped = [(parse_api_timestamp(item["created_at"]), item) for item in items]
        total = _whole(pagination.get("total"))
        if number == 1 and self.offset == 0:
            self.head = max((ts for ts, _ in stamped), default=None)
            self.first_total = total
        top_rank = _top_rank(pagination, total)
        page_ids = self.recent.new_page(len(items))
        after, before = self.after, self.before
        for index, (created, item) in enumerate(stamped):
            item_id = item["id"]
            rank = None if top_rank is None else top_rank - index
            if self.seen_all is not None:
                if item_id in self.seen_all:
                    continue
                self.seen_all.add(item_id)
            elif self.cursor is None or created < self.cursor:  # older than all read: the usual case
                self.cursor, self.cursor_ids = created, {item_id}
                self.confirmed = self.past_window
            elif not self._in_order(created, item_id, index, total, number, rank):
                continue
            if rank is not None and self.seen_all is None:
                self.lowest_rank = rank if self.lowest_rank is None else min(self.lowest_rank, rank)
            page_ids.add(item_id)
            if before is not None and created >= before:
                continue
            if after is not None and created < after:
                self.past_window = self.past_window or self.seen_all is None
                continue
            self.count += 1
            yield created, item
        self.offset += len(items)
        self.done = self.seen_all is None and self.past_window and self.confirmed

    def prime(self, first_page: list[Any], total: int | None, *, offset: int) -> None:
        """Start from a later page: page 1 (``first_page``, its ``total``) was read while skipping."""
        self.head = max((parse_api_timestamp(item["created_at"]) for item in first_page), default=None)
        self.first_total = total
        self.offset = offset

    def _in_order(
        self, created: datetime, item_id: str, index: int, total: int | None, page: int, rank: int | None
    ) -> bool:
        """For an item not older than every item read so far: whether to go on with it. Switches to
        reading everything (and returns True) when the item shows that the order does not hold."""
        if item_id in self.recent:
            return False  # a repeat, pushed onto this page by new items
        if created == self.cursor:
            # Told apart by id, not by rank: a call inserted further down the list (a filtered list,
            # a late call log) raises the ranks above it, so an unread call as old as the oldest one
            # read may rank as covered.
            if item_id in self.cursor_ids:
                return False
            self.cursor_ids.add(item_id)
            self.confirmed = self.past_window
            return True
        if self._ranked_read(rank):
            return False  # read already, pushed further than the ids remembered; or new since then
        if self.head is not None and created > self.head and self._grown_past(self.offset + index, total):
            return False  # new since reading began, pushed this far by a burst of new items
        log.warning(
            "%s: page %d is not sorted newest first; reading every page and de-duplicating by id "
            "so that no item is dropped",
            self.label,
            page,
        )
        self.seen_all = self.recent.all()
        self.seen_all.add(item_id)
        return True

    def _ranked_read(self, rank: int | None) -> bool:
        """Whether an item's rank is one a forward read has covered: read already, or new since
        reading began (new items rank above every item that existed then)."""
        return rank is not None and self.lowest_rank is not None and rank >= self.lowest_rank

    def _grown_past(self, position: int, total: int | None) -> bool:
        """Whether enough items arrived since page 1 to push a new one to ``position`` (0-based)."""
        if total is None or self.first_total is None:
            return False  # nothing proves it: treat as disorder, the safe side
        return total - self.first_total > position


class RecentIds:
    """The ids of the last pages read, one set per page: cheap to fill, bounded, and only searched
    for the rare call that is not older than the oldest call read so far."""

    def __init__(self) -> None:
        self._pages: deque[set[str]] | None = None

    def new_page(self, size: int) -> set[str]:
        if self._pages is None:
            self._pages = deque(maxlen=max(2, RECENT_IDS // max(size, 1)))
        page: set[str] = set()
        self._pages.append(page)
        return page

    def __contains__(self, call_id: object) -> bool:
        return any(call_id in page for page in self._pages or ())

    def all(self) -> set[str]:
        return set().union(*(self._pages or ()))


def _whole(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _top_rank(pagination: Page, total: int | None) -> int | None:
    """The rank (place counted from the end, 0 for the oldest) of a page's first item, from the
    answer's own ``total``, ``page`` and ``limit``; None when one is missing."""
    page, limit = _whole(pagination.get("page")), _whole(pagination.get("limit"))
    if total is None or page is None or limit is None or page < 1 or limit < 1:
        return None
    return total - 1 - (page - 1) * limit


def _split(body: Any, path: str) -> tuple[list[Any], Page]:
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise TelzinoApiError("GET", path, 200, "expected a list response with 'data' and 'pagination'")
    pagination = body.get("pagination")
    return body["data"], pagination if isinstance(pagination, dict) else {}


def _log_page(label: str, page: int, pagination: Page, count: int, *, done: bool = False) -> None:
    total_pages = pagination.get("totalPages")
    level = logging.INFO if isinstance(total_pages, int) and total_pages > 1 else logging.DEBUG
    suffix = "; older items are outside the window, stopping" if done else ""
    log.log(level, "%s: page %d of %s, %d calls so far%s", label, page, total_pages, count, suffix)
