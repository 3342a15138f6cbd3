"""Parsing the timestamp formats the API mixes, and window bounds given by users."""

from __future__ import annotations

from datetime import datetime, timezone

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


def to_utc(field: str, value: object) -> datetime | None:
    """A user-given bound (datetime, pendulum or ISO-8601 string; naive means UTC) as aware UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = parse_api_timestamp(value.strip())
        except (ValueError, TypeError) as err:
            raise TelzinoValidationError(
                field, f"{value!r} is not an ISO-8601 date-time; use e.g. '2026-06-11T12:00:00Z'"
            ) from err
    else:
        raise TelzinoValidationError(
            field, f"expected a datetime or ISO-8601 string, got {type(value).__name__}"
        )
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)
