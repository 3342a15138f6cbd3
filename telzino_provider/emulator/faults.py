"""Fault injection: the knobs that make the emulator misbehave on purpose.

Every knob is a thread-safe countdown consumed by the request handler, before authentication and
routing (as a gateway or load balancer would misbehave). ``/oauth/token`` is exempt from all of them
except ``latency`` so a client's token fetch does not eat a fault meant for the API call it precedes.
Order of evaluation per request: hang, rate limit, fail, malformed; then the normal route, where a
valid create may be held (``hold_next_create``: before or after the call is recorded) and a successful
create may be dropped (``drop_next_post_response``) or answered without its ``id``
(``omit_id_next_create``). ``listing_delay`` and ``read_delay`` are settings rather than countdowns:
a call created through the API is left out of the list endpoint, or answers 404 on its own GET, for
that many real seconds after its create (an eventually consistent API).
"""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass

#: Orders the list endpoints can be served in (``list_order``); the API documents newest first.
NEWEST_FIRST = "newest_first"
OLDEST_FIRST = "oldest_first"
BY_CALL_START = "by_call_start"
LIST_ORDERS = (NEWEST_FIRST, OLDEST_FIRST, BY_CALL_START)


@dataclass
class FailRule:
    """``fail_next``: answer ``remaining`` matching requests with ``status``."""

    remaining: int
    status: int
    retry_after: str | None
    body: str | None
    method: str | None

    def matches(self, method: str) -> bool:
        return self.method is None or self.method == method


@dataclass
class CreateHold:
    """``hold_next_create``: stall the next ``remaining`` valid creates ``seconds``; ``record_first``
    records the call before the stall (the answer is late), otherwise after it (the call itself
    appears late)."""

    remaining: int
    seconds: float
    record_first: bool


class RateLimiter:
    """Sliding window over *real* time; only admitted requests count towards the limit."""

    def __init__(self, max_requests: int, per_seconds: float, retry_after: str) -> None:
        self.max_requests = max_requests
        self.per_seconds = per_seconds
        self.retry_after = retry_after
        self._admitted: collections.deque[float] = collections.deque()

    def admit(self) -> bool:
        now = time.monotonic()
        while self._admitted and now - self._admitted[0] >= self.per_seconds:
            self._admitted.popleft()
        if len(self._admitted) >= self.max_requests:
            return False
        self._admitted.append(now)
        return True


class FaultPlan:
    """All fault knobs; each ``take_*`` method consumes one occurrence if it applies."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._fails: list[FailRule] = []
            self._hangs: list[list[float]] = []  # [remaining, seconds]
            self._malformed = 0
            self._drops = 0
            self._create_holds: list[CreateHold] = []
            self._limiter: RateLimiter | None = None
            self._omit_ids = 0
            self._created: dict[str, float] = {}  # call id -> monotonic time of its live create
            self._inserts = 0  # calls inserted after each list page
            self._insert_pages: int | None = None  # list pages that still insert; None: every one
            self.list_order = NEWEST_FIRST
            self.listing_delay = 0.0
            self.read_delay = 0.0

    # -- configuration -------------------------------------------------------------------------
    def fail_next(
        self, count: int, status: int, retry_after: str | None, body: str | None, method: str | None
    ) -> None:
        _check_count(count)
        if not 100 <= status <= 599:
            raise ValueError("status must be an HTTP status code")
        if count == 0:
            return
        with self._lock:
            self._fails.append(FailRule(count, status, retry_after, body, method.upper() if method else None))

    def hang_next(self, count: int, seconds: float) -> None:
        _check_count(count)
        if count == 0:
            return
        with self._lock:
            self._hangs.append([count, seconds])

    def malformed_next(self, count: int) -> None:
        _check_count(count)
        with self._lock:
            self._malformed += count

    def drop_next_post_response(self, count: int) -> None:
        _check_count(count)
        with self._lock:
            self._drops += count

    def omit_id_next_create(self, count: int) -> None:
        _check_count(count)
        with self._lock:
            self._omit_ids += count

    def set_visibility_delays(self, *, listing: float | None = None, read: float | None = None) -> None:
        for name, value in (("listing_delay", listing), ("read_delay", read)):
            if value is not None and value < 0:
                raise ValueError(f"{name} must be >= 0")
        with self._lock:
            if listing is not None:
                self.listing_delay = listing
            if read is not None:
                self.read_delay = read

    def insert_between_pages(self, count: int, pages: int | None) -> None:
        _check_count(count)
        if pages is not None:
            _check_count(pages)
        with self._lock:
            self._inserts, self._insert_pages = count, pages

    def set_list_order(self, order: str) -> None:
        if order not in LIST_ORDERS:
            raise ValueError(f"unknown list order {order!r}; use one of {LIST_ORDERS}")
        with self._lock:
            self.list_order = order

    def hold_next_create(self, count: int, seconds: float, record_first: bool) -> None:
        _check_count(count)
        if seconds < 0:
            raise ValueError("seconds must be >= 0")
        if count == 0:
            return
        with self._lock:
            self._create_holds.append(CreateHold(count, seconds, record_first))

    def rate_limit(self, max_requests: int | None, per_seconds: float, retry_after: str) -> None:
        if max_requests is not None and (max_requests < 0 or per_seconds <= 0):
            raise ValueError("max_requests must be >= 0 and per_seconds > 0")
        limiter = None if max_requests is None else RateLimiter(max_requests, per_seconds, retry_after)
        with self._lock:
            self._limiter = limiter

    # -- consumption ---------------------------------------------------------------------------
    def take_hang(self) -> float:
        """Seconds to stall this request (0 if none)."""
        with self._lock:
            if not self._hangs:
                return 0.0
            entry = self._hangs[0]
            entry[0] -= 1
            if entry[0] <= 0:
                self._hangs.pop(0)
            return entry[1]

    def take_rate_limited(self) -> str | None:
        """The Retry-After value if this request is over the rate limit, else None."""
        with self._lock:
            limiter = self._limiter
            if limiter is None or limiter.admit():
                return None
            return limiter.retry_after

    def take_fail(self, method: str) -> FailRule | None:
        with self._lock:
            for rule in self._fails:
                if rule.matches(method):
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self._fails.remove(rule)
                    return rule
            return None

    def take_malformed(self) -> bool:
        with self._lock:
            if self._malformed <= 0:
                return False
            self._malformed -= 1
            return True

    def take_create_hold(self) -> CreateHold | None:
        with self._lock:
            if not self._create_holds:
                return None
            hold = self._create_holds[0]
            hold.remaining -= 1
            if hold.remaining <= 0:
                self._create_holds.pop(0)
            return hold

    def take_omit_id(self) -> bool:
        with self._lock:
            if self._omit_ids <= 0:
                return False
            self._omit_ids -= 1
            return True

    def note_created(self, call_id: str) -> None:
        """Start the listing and read delays of a call just created through the API."""
        with self._lock:
            self._created[call_id] = time.monotonic()

    def unlisted(self) -> frozenset[str]:
        """Ids of the calls the list endpoint does not show yet (``listing_delay``)."""
        return self._younger_than(self.listing_delay)

    def unreadable(self, call_id: str) -> bool:
        """Whether a GET of this call answers 404 yet (``read_delay``)."""
        return call_id in self._younger_than(self.read_delay)

    def _younger_than(self, seconds: float) -> frozenset[str]:
        if seconds <= 0:
            return frozenset()
        now = time.monotonic()
        with self._lock:
            return frozenset(call_id for call_id, at in self._created.items() if now - at < seconds)

    def take_inserts(self) -> int:
        """Calls to insert at the head after the list page just served (0 if none)."""
        with self._lock:
            if self._insert_pages is not None:
                if self._insert_pages <= 0:
                    return 0
                self._insert_pages -= 1
            return self._inserts

    def take_drop(self) -> bool:
        with self._lock:
            if self._drops <= 0:
                return False
            self._drops -= 1
            return True


def _check_count(count: int) -> None:
    if count < 0:
        raise ValueError("count must be >= 0")
