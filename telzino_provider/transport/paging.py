"""Page/limit pagination over newest-first lists, safe against a list growing while it is read.

New calls arrive at the head of the list, pushing older ones onto later pages, so a page can repeat
calls already read. Every call that existed when reading began is still reached, because items only
ever move towards later pages. Repeats are recognised by id among the recently read calls; memory
stays bounded by that window, not by the length of the list.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterator
from datetime import datetime
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


def iter_pages(fetch: Callable[[int], Any], label: str, path: str) -> Iterator[tuple[int, list[Any], Page]]:
    """Yield ``(page_number, items, pagination)`` from page 1 while the server says there is more."""
    page = 1
    bound: int | None = None
    while True:
        body = fetch(page)
        items, pagination = _split(body, path)
        if bound is None:
            total_pages = pagination.get("totalPages")
            bound = 2 * (total_pages if isinstance(total_pages, int) else 0) + EXTRA_PAGE_ALLOWANCE
        yield page, items, pagination
        if not items or not pagination.get("hasNext"):
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

    Stops at the first call older than ``created_after``. If the server turns out not to sort newest
    first, it warns, reads every page to the end and de-duplicates by id, so no call is dropped.
    """
    recent = RecentIds()
    seen_all: set[str] | None = None  # set once the order is found broken
    cursor: datetime | None = None  # created_at of the oldest call read so far
    head: datetime | None = None  # newest created_at when reading began
    count = 0
    for page, items, pagination in iter_pages(fetch, label, path):
        stamped = [(parse_api_timestamp(item["created_at"]), item) for item in items]
        if head is None:
            head = max((ts for ts, _ in stamped), default=None)
        page_ids = recent.new_page(len(items))
        for created, item in stamped:
            call_id = item["id"]
            if seen_all is not None:
                if call_id in seen_all:
                    continue
                seen_all.add(call_id)
            elif cursor is not None and created >= cursor:
                if call_id in recent or (head is not None and created > head):
                    continue  # a repeat pushed down by new calls, or a call newer than the read
                if created > cursor:
                    log.warning(
                        "%s: page %d is not sorted newest first; reading every page and "
                        "de-duplicating by id so that no call is dropped",
                        label,
                        page,
                    )
                    seen_all = recent.all()
                    seen_all.add(call_id)
            page_ids.add(call_id)
            if seen_all is None and (cursor is None or created < cursor):
                cursor = created
            if created_before is not None and created >= created_before:
                continue
            if created_after is not None and created < created_after:
                if seen_all is None:
                    _log_page(label, page, pagination, count, done=True)
                    return
                continue
            count += 1
            yield created, item
        _log_page(label, page, pagination, count)


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


def _split(body: Any, path: str) -> tuple[list[Any], Page]:
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise TelzinoApiError("GET", path, 200, "expected a list response with 'data' and 'pagination'")
    pagination = body.get("pagination")
    return body["data"], pagination if isinstance(pagination, dict) else {}


def _log_page(label: str, page: int, pagination: Page, count: int, *, done: bool = False) -> None:
    total_pages = pagination.get("totalPages")
    level = logging.INFO if isinstance(total_pages, int) and total_pages > 1 else logging.DEBUG
    suffix = "; older calls are outside the window, stopping" if done else ""
    log.log(level, "%s: page %d of %s, %d calls so far%s", label, page, total_pages, count, suffix)
