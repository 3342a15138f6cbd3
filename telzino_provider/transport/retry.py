"""When and how long to wait before sending a request again."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

#: Statuses worth another try: rate limiting and the gateway/server errors that pass.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})

#: The deadline (epoch seconds) of the wait whose look is being sent, if any: a context variable, so
#: each thread's (and each trigger's) look has its own, without passing it through every API method.
_LOOK_DEADLINE: ContextVar[float | None] = ContextVar("telzino_look_deadline", default=None)


@contextmanager
def retries_until(deadline: float | None) -> Iterator[None]:
    """Within this block no retry is started whose sleep would end past ``deadline`` (epoch seconds):
    the wait's own deadline ends the look, instead of retries that outlast it. None: no limit."""
    token = _LOOK_DEADLINE.set(deadline)
    try:
        yield
    finally:
        _LOOK_DEADLINE.reset(token)


def past_deadline(delay: float) -> float | None:
    """The deadline a retry after ``delay`` seconds would pass, or None when it may be made."""
    deadline = _LOOK_DEADLINE.get()
    if deadline is not None and time.time() + delay >= deadline:
        return deadline
    return None


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, capped per wait, within a fixed number of retries.

    :param max_retries: retries after the first attempt (the budget).
    :param max_wait: longest single wait in seconds; also caps the server's Retry-After.
    :param backoff: first backoff in seconds, doubled on each further retry.
    """

    max_retries: int = 5
    max_wait: float = 60.0
    backoff: float = 1.0

    def delay(self, retry_number: int, retry_after: str | None = None) -> float:
        """Seconds to sleep before retry ``retry_number`` (1-based)."""
        hinted = parse_retry_after(retry_after)
        if hinted is not None:
            return min(hinted, self.max_wait)
        ceiling = min(self.max_wait, self.backoff * 2 ** (retry_number - 1))
        # Half fixed, half random: spreads a crowd of workers without waiting too little.
        return ceiling / 2 + random.uniform(0, ceiling / 2)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After in delta-seconds or HTTP-date form, as seconds from now; None if absent or bad."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return max(0.0, (moment - (now or datetime.now(timezone.utc))).total_seconds())
