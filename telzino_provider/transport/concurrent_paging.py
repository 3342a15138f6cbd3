"""Opt-in concurrent reading of a newest-first list: several pages in flight, the same result.

:func:`iter_newest_first_concurrent` yields exactly what :func:`~.paging.iter_newest_first` yields
(every call that existed when the read began, once, newest first) while up to ``max_concurrency``
requests are in flight. With one worker it *is* the sequential reader.

How it reads
------------
1. Page 1, alone: the head of the list and its page count ``T``.
2. Locate the end. Without ``created_after`` it is page ``T``. With it, a search over pages 2..T
   finds the first page whose last call is older than the window: one probe where page 1's time
   span says the window should end, then a binary search on the side it points to (at most
   1 + ceil(log2(T)) requests, a few for a window of a few pages).
3. Cut pages 1..end into at most ``max_concurrency`` contiguous *slices* (more, of bounded length,
   for long reads; see Memory) and fetch each slice's first page, in parallel. The first call on
   slice j's first page gives its boundary ``hi_j``; slice j keeps the calls created in
   ``[hi_(j+1), hi_j)`` (bounds made non-increasing, clipped to the window).
4. Read the slices in parallel, each one forward and sequentially from its first page with the
   sequential reader, until it meets a call older than its lower bound (or the list ends). Yield
   slice 0, then slice 1, and so on.

Why no call is lost or repeated
-------------------------------
The server sorts newest first, and a call never leaves the list, so new calls (at the head, or a
call reaching a terminal status in a status-filtered list) only push a call to *later* positions.

* Slice j starts on a page whose first call x has ``created_at = hi_j >= upper bound of slice j``.
  A call c of the slice is older than x, so it sorts after x: when that page was read, c was on it
  or on a later page, and from then on it only moves further. A forward read from that page, each
  page read after the previous one, therefore meets c before it passes c's position: if c is not on
  page q when q is read, it is on a later page, and so still ahead of page q + 1 (the argument of
  :mod:`.paging`). The read stops only at a call older than c's slice, which sorts after c, so c is
  on that page or an earlier one: already met.
* The slices' ``created_at`` ranges are disjoint and cover the window, so each call belongs to one
  slice; inside a slice the sequential reader drops repeats by id. Slices are yielded in the order
  of their ranges, which is newest first.
* None of this depends on the page counts or ``total`` the server reports, on pages being fetched
  in any particular order across slices, or on timing: the locate steps only decide how the work is
  split; a stale guess costs requests, never calls.

If a page turns out not to be sorted newest first, the read fails (page 1: falls back to the
sequential reader, which copes) instead of guessing.

Costs
-----
Requests: page 1, the binary search (window only), and per slice boundary one page read twice (the
page where one slice ends is the next one's first). So a window of E pages costs at most
E + (max_concurrency - 1) + 1 + ceil(log2(T)) requests. Calls arriving during the read push the end
of every slice further (a sequential read has one end): about a page more per slice when a page of
calls arrives during the read. 429 answers pause the whole transport (:class:`~.client.TelzinoTransport`),
so every worker slows down, and each request keeps its retry budget.

Memory: slices are yielded in order, so a slice that finishes early waits in memory. At most
:attr:`PagePool.slice_limit` slices are started and not yet yielded, counted over every stream
that shares the pool (a read of several statuses merges one stream per status), and a slice spans
at most ``MAX_BUFFERED_PAGES // slice_limit`` pages (plus the pages calls arriving push into it),
so about :data:`MAX_BUFFERED_PAGES` pages are held in all, whatever the length of the history and
the number of statuses. With one stream ``slice_limit`` is ``max_concurrency``. A read longer
than that is cut into more slices, which costs one more request per slice.
"""

from __future__ import annotations

import contextvars
import logging
import math
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any

from telzino_provider.exceptions import TelzinoApiError
from telzino_provider.timeutil import parse_api_timestamp
from telzino_provider.transport.paging import Entry, _split, iter_newest_first

log = logging.getLogger(__name__)

#: Pages a concurrent read may hold before yielding them (100 calls each at the largest page size).
MAX_BUFFERED_PAGES = 128
#: Slices a stream may always hold, whatever the other streams of its read hold.
RESERVED_SLICES = 2

_NEWEST = datetime.max.replace(tzinfo=timezone.utc)
_OLDEST = datetime.min.replace(tzinfo=timezone.utc)

Fetch = Callable[[int], Any]


class PagePool:
    """The worker threads of one read: at most ``max_concurrency`` requests in flight in all, and
    one memory budget: at most :attr:`slice_limit` slices started and not yet yielded in all.

    Shared by every stream of the read (one per status), so several streams never add up to more
    requests in flight or more pages held. Each stream may always hold :data:`RESERVED_SLICES`
    (the one it is yielding and one read ahead): ``heapq.merge`` waits for every stream's next
    call, so a stream that could not start a slice would stall the read. The others come from what
    is left of the budget, first come first served. With one stream this is a stream's old limit
    of ``max_concurrency`` slices. :meth:`close` cancels what has not started and waits for what has.

    :param max_concurrency: worker threads, at least 2.
    :param streams: the streams that will share the pool.
    """

    def __init__(self, max_concurrency: int, streams: int = 1) -> None:
        self.size = max_concurrency
        self.streams = max(1, streams)
        # Enough for every worker to read a slice while each other stream yields one.
        self.slice_limit = max(max_concurrency + self.streams - 1, RESERVED_SLICES * self.streams)
        #: Longest slice, so that ``slice_limit`` slices hold about MAX_BUFFERED_PAGES pages.
        self.slice_pages = max(1, MAX_BUFFERED_PAGES // self.slice_limit)
        self._shared = self.slice_limit - RESERVED_SLICES * self.streams
        self._extra = 0  # slices held beyond the reserved ones; only the consumer's thread counts
        self._executor = ThreadPoolExecutor(max_workers=max_concurrency, thread_name_prefix="telzino-page")

    def take_slice(self, held: int) -> bool:
        """Whether a stream that holds ``held`` slices may start one more (and count it if so)."""
        if held < RESERVED_SLICES:
            return True
        if self._extra < self._shared:
            self._extra += 1
            return True
        return False

    def return_slices(self, held: int, count: int) -> None:
        """A stream that held ``held`` slices yielded (or dropped) ``count`` of them."""
        self._extra -= _beyond_reserved(held) - _beyond_reserved(held - count)

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        # In the submitter's context: a wait's deadline for its look's retries reaches every page.
        return self._executor.submit(contextvars.copy_context().run, fn, *args)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


def _beyond_reserved(held: int) -> int:
    return max(0, held - RESERVED_SLICES)


def iter_newest_first_concurrent(
    fetch: Fetch,
    *,
    label: str,
    path: str,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    pool: PagePool | None = None,
) -> Iterator[Entry]:
    """:func:`~.paging.iter_newest_first` with the pages read by ``pool``'s workers.

    Yields ``(created_at, item)`` once per id, newest first, within [created_after, created_before).
    Without a pool (``max_concurrency=1``) this is the sequential reader, request for request.

    :param fetch: returns the parsed body of a page (1-based); called from several threads.
    :param label: names the list in log lines.
    :param path: the request path, for errors.
    :param created_after: inclusive lower bound on ``created_at``; reading stops past it.
    :param created_before: exclusive upper bound on ``created_at``.
    :param pool: the workers; None reads sequentially.
    """
    window = {"label": label, "path": path, "created_after": created_after, "created_before": created_before}
    if pool is None:
        yield from iter_newest_first(fetch, **window)  # type: ignore[arg-type]
        return

    # Requests from this (the consumer's) thread go through the pool too, so that several streams
    # sharing it never have more than its size in flight.
    def here(page: int) -> Any:
        return pool.submit(fetch, page).result()

    first = here(1)
    items, pagination = _split(first, path)
    total_pages = pagination.get("totalPages")
    if not items or not pagination.get("hasNext") or not isinstance(total_pages, int) or total_pages < 2:
        yield from iter_newest_first(_replay(first, here, 1), **window)  # type: ignore[arg-type]
        return
    if not _is_sorted(items):
        log.warning("%s: page 1 is not sorted newest first; reading it sequentially", label)
        yield from iter_newest_first(_replay(first, here, 1), **window)  # type: ignore[arg-type]
        return
    end = _locate_end(here, items, total_pages, created_after, path)
    starts = slice_starts(end, pool.size, pool.slice_pages)
    if len(starts) == 1:
        yield from iter_newest_first(_replay(first, here, 1), **window)  # type: ignore[arg-type]
        return
    log.info(
        "%s: reading pages 1 to %d (of %d) in %d slices, up to %d requests in flight",
        label,
        end,
        total_pages,
        len(starts),
        pool.size,
    )
    read = _SlicedRead(fetch, pool, starts, first, label, path, created_after, created_before)
    yield from read.entries()


def slice_starts(end: int, workers: int, longest: int | None = None) -> list[int]:
    """First pages of the slices that split pages 1..``end`` among ``workers``, each at most
    ``longest`` pages (default: ``MAX_BUFFERED_PAGES // workers``)."""
    length = max(1, math.ceil(end / workers))
    length = min(length, longest or max(1, MAX_BUFFERED_PAGES // workers))
    return list(range(1, end + 1, length))


def _locate_end(
    fetch: Fetch, first_items: list[Any], total_pages: int, after: datetime | None, path: str
) -> int:
    """The page where a sequential read of the window would stop: one guessed probe, then a binary
    search on the side the guess points to."""
    if after is None:
        return total_pages
    if _ends_window(first_items, after):
        return 1
    low, high = 2, total_pages  # the answer is in [low, high]; high when the window reaches the end
    middle = _guess_end(first_items, after)
    while low < high:
        if middle is None or not low <= middle < high:
            middle = (low + high) // 2
        items, _ = _split(fetch(middle), path)
        if _ends_window(items, after):
            high = middle
        else:
            low = middle + 1
        middle = None
    return low


def _guess_end(first_items: list[Any], after: datetime) -> int | None:
    """The page holding ``after`` if calls went on arriving at page 1's rate (None: no rate)."""
    newest = parse_api_timestamp(first_items[0]["created_at"])
    span = newest - parse_api_timestamp(first_items[-1]["created_at"])
    if span.total_seconds() <= 0:
        return None
    return math.ceil((newest - after) / span)


def _ends_window(items: list[Any], after: datetime) -> bool:
    return not items or parse_api_timestamp(items[-1]["created_at"]) < after


def _is_sorted(items: list[Any]) -> bool:
    stamps = [parse_api_timestamp(item["created_at"]) for item in items]
    return all(a >= b for a, b in zip(stamps, stamps[1:], strict=False))


def _replay(first: Any, fetch: Fetch, start: int) -> Fetch:
    """Page numbers relative to ``start``, with the already fetched first page served from memory."""
    return lambda page: first if page == 1 else fetch(start + page - 1)


class _Stopped(Exception):
    """A slice gave up because the read ended (a failure elsewhere, or the consumer stopped)."""


class _SlicedRead:
    """One concurrent read: boundary pages and slices submitted in order, at most ``pool.size``
    slices started and not yet yielded."""

    def __init__(
        self,
        fetch: Fetch,
        pool: PagePool,
        starts: list[int],
        first: Any,
        label: str,
        path: str,
        after: datetime | None,
        before: datetime | None,
    ) -> None:
        self.fetch, self.pool, self.starts = fetch, pool, starts
        self.label, self.path = label, path
        self.after, self.before = after, before
        # Slice j's first page waits here until slice j reads it; its boundary hi_j stays in
        # ``boundaries`` (a datetime), so a long read holds one timestamp per slice, not one page.
        self.first_pages: dict[int, Any] = {0: first}
        first_future: Future[datetime] = Future()
        first_future.set_result(_NEWEST)  # slice 0: no boundary above it but the window's own
        self.boundaries: list[Future[datetime]] = [first_future]
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def entries(self) -> Iterator[Entry]:
        pending: deque[Future[list[Entry]]] = deque()
        submitted = 0
        held = 0  # slices started and not yet yielded: the pending ones and the one being yielded
        try:
            while submitted < len(self.starts) or pending:
                more = 0
                while (
                    submitted + more < len(self.starts)
                    and held + more < self.pool.size
                    and self.pool.take_slice(held + more)
                ):
                    more += 1
                held += more
                # The boundary pages first, so they are fetched in parallel, ahead of the slices
                # that wait for them.
                for index in range(submitted + 1, submitted + more + 1):
                    self._submit_boundary(index)
                for _ in range(more):
                    pending.append(self.pool.submit(self._read_slice, submitted))
                    submitted += 1
                try:
                    found = pending.popleft().result()
                except _Stopped:
                    raise self.error or RuntimeError("concurrent read stopped") from None
                yield from found
                self.pool.return_slices(held, 1)
                held -= 1
        finally:
            self.pool.return_slices(held, held)
            self.stop.set()
            futures: list[Future[Any]] = [*pending, *self.boundaries]
            for future in futures:
                future.cancel()
            self.first_pages.clear()

    def _submit_boundary(self, index: int) -> None:
        if index < len(self.starts) and index == len(self.boundaries):
            self.boundaries.append(self.pool.submit(self._fetch_boundary, index))

    def _fetch_boundary(self, index: int) -> datetime:
        """Slice ``index``'s first page, kept for the slice; returns its first call's time."""
        body = self._checked_fetch(self.starts[index])
        self.first_pages[index] = body
        items, _ = _split(body, self.path)
        return parse_api_timestamp(items[0]["created_at"]) if items else _OLDEST

    def _checked_fetch(self, page: int) -> Any:
        if self.stop.is_set():
            raise _Stopped
        try:
            body = self.fetch(page)
            items, _ = _split(body, self.path)
            if not _is_sorted(items):
                raise TelzinoApiError(
                    "GET",
                    self.path,
                    200,
                    f"{self.label}: page {page} is not sorted newest first, so it cannot be read "
                    "concurrently without risking a missed call; use max_concurrency=1",
                )
        except Exception as err:
            if self.error is None:
                self.error = err
            self.stop.set()
            raise
        return body

    def _upper(self, index: int) -> datetime:
        """Slice ``index`` keeps calls created before this: its first call's time, non-increasing."""
        bound = self.before or _NEWEST
        for future in self.boundaries[1 : index + 1]:
            bound = min(bound, future.result())
        return bound

    def _read_slice(self, index: int) -> list[Entry]:
        """Slice ``index`` in full, read forward from its first page (already fetched)."""
        upper = self._upper(index)
        lower = self._upper(index + 1) if index + 1 < len(self.starts) else _OLDEST
        lower = max(lower, self.after or _OLDEST)
        if lower >= upper:
            return []
        start = self.starts[index]
        entries = iter_newest_first(
            _replay(self.first_pages.pop(index), self._checked_fetch, start),
            label=f"{self.label}, slice from page {start}",
            path=self.path,
            created_after=None if lower == _OLDEST else lower,
            created_before=None if upper == _NEWEST else upper,
        )
        return list(entries)
