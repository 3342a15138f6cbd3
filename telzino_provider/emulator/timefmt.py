"""Timestamp helpers for the emulator.

Emulated time is kept as integer microseconds since the Unix epoch (UTC): exact, cheap to compare
and to sort. The real API uses three different ISO 8601 renderings (spec section 1), reproduced here:

* outbound calls: ``2026-06-11T12:49:28.898751+00:00`` (:func:`fmt_call`)
* agents:         ``2024-01-15T10:30:00Z``             (:func:`fmt_agent`)
* call logs:      ``2024-01-15T14:30:00.000Z``         (:func:`fmt_log`)

The formatters avoid ``datetime`` objects on the hot path (listing 100 calls, seeding 100,000)
because building and ``isoformat()``-ing a datetime per field is several times slower.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from functools import lru_cache

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
US_PER_S = 1_000_000
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def to_us(value: datetime) -> int:
    """Convert a datetime to epoch microseconds; a naive datetime is taken as UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    delta = value - EPOCH
    return (delta.days * 86_400 + delta.seconds) * US_PER_S + delta.microseconds


def from_us(us: int) -> datetime:
    """Convert epoch microseconds to an aware UTC datetime."""
    return EPOCH + timedelta(microseconds=us)


_US_PER_MIN = 60 * US_PER_S


@lru_cache(maxsize=65_536)
def _minute(minutes: int) -> str:
    """``YYYY-MM-DDTHH:MM:`` for a minute since the epoch; cached, as timestamps cluster."""
    days, minute_of_day = divmod(minutes, 1440)
    hours, mins = divmod(minute_of_day, 60)
    return f"{date.fromordinal(_EPOCH_ORDINAL + days).isoformat()}T{hours:02d}:{mins:02d}:"


def fmt_call(us: int) -> str:
    """Outbound-call format, always with microseconds: ``2026-06-11T12:49:28.898751+00:00``."""
    minutes, rest = divmod(us, _US_PER_MIN)
    return f"{_minute(minutes)}{rest // US_PER_S:02d}.{rest % US_PER_S:06d}+00:00"


def fmt_agent(us: int) -> str:
    """Agent format, whole seconds with ``Z``: ``2024-01-15T10:30:00Z``."""
    minutes, rest = divmod(us, _US_PER_MIN)
    return f"{_minute(minutes)}{rest // US_PER_S:02d}Z"


def fmt_log(us: int) -> str:
    """Call-log format, milliseconds with ``Z``: ``2024-01-15T14:30:00.000Z``."""
    minutes, rest = divmod(us, _US_PER_MIN)
    return f"{_minute(minutes)}{rest // US_PER_S:02d}.{rest % US_PER_S // 1000:03d}Z"


def fmt_opt(us: int | None) -> str | None:
    """:func:`fmt_call` that passes ``None`` through (for nullable record fields)."""
    return None if us is None else fmt_call(us)
