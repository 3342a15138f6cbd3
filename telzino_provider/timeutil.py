"""Parsing the timestamp formats the API mixes, and window bounds given by users."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone

from telzino_provider.exceptions import TelzinoValidationError


def parse_api_timestamp(value: str) -> datetime:
    """Parse any of the API's ISO-8601 forms (``Z`` or offset, 0-6 fraction digits) to aware UTC."""
    text = value[:-1] + "+00:00" if value.endswith("Z") else value
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        # Python 3.10's fromisoformat only takes 3 or 6 fraction digits.
        import pendulum

        parsed = pendulum.parse(value)  # type: ignore[assignment]
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=timezone.utc)
    return parsed


def shifted(moment: datetime, delta: timedelta) -> datetime | None:
    """``moment + delta``, or None (no bound on that side) past the years 1 to 9999."""
    try:
        return moment + delta
    except OverflowError:
        return None


#: An ISO-8601 date-time in extended form: date, optional time (to the minute at least), optional
#: fraction and offset. Week dates, ordinal dates, durations and words are not timestamps.
_BOUND = re.compile(
    r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})"
    r"(?:[Tt ](?P<hm>[0-9]{2}:[0-9]{2})(?P<sec>:[0-9]{2})?(?:[.,](?P<frac>[0-9]+))?"
    r"(?P<offset>[Zz]|[+-][0-9]{2}:?[0-9]{2})?)?"
)
_BOUND_HINT = "use e.g. '2026-06-11T12:00:00Z', or a date alone ('2026-06-11') for midnight UTC"


def to_utc(field: str, value: object) -> datetime | None:
    """A user-given bound as aware UTC: a datetime (pendulum too), a date, or an ISO-8601 string.

    Naive means UTC; a date alone means midnight UTC. Anything else, such as ``"now"``, ``"12:00"``,
    ``"2026-W23"`` or ``"P1D"``, raises TelzinoValidationError naming ``field``.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time())
    elif isinstance(value, str):
        moment = _parse_bound(field, value.strip())
    else:
        raise TelzinoValidationError(
            field, f"expected a datetime or ISO-8601 string, got {type(value).__name__}"
        )
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _parse_bound(field: str, text: str) -> datetime:
    match = _BOUND.fullmatch(text)
    if match is None or (match["frac"] and not match["sec"]):
        raise TelzinoValidationError(field, f"{text!r} is not an ISO-8601 date-time; {_BOUND_HINT}")
    iso = match["date"]
    if match["hm"]:
        # Rebuilt in the one form every supported Python's fromisoformat reads (3.10 takes only 3 or 6
        # fraction digits and no "Z").
        iso += f"T{match['hm']}{match['sec'] or ':00'}.{(match['frac'] or '').ljust(6, '0')[:6]}"
        offset = match["offset"] or ""
        if offset.upper() == "Z":
            offset = "+00:00"
        elif offset and ":" not in offset:
            offset = f"{offset[:3]}:{offset[3:]}"
        iso += offset
    try:
        return datetime.fromisoformat(iso)
    except ValueError:
        raise TelzinoValidationError(
            field, f"{text!r} is not an ISO-8601 date-time (no such date or time); {_BOUND_HINT}"
        ) from None


def window_bounds(created_after: object, created_before: object) -> tuple[datetime | None, datetime | None]:
    """``created_after`` and ``created_before`` in UTC (see :func:`to_utc`), checked to be in order.

    :raises TelzinoValidationError: naming ``created_before`` when it is not later than ``created_after``.
    """
    after = to_utc("created_after", created_after)
    before = to_utc("created_before", created_before)
    if after is not None and before is not None and after >= before:
        raise TelzinoValidationError("created_before", "must be later than created_after")
    return after, before
