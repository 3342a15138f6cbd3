from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pendulum
import pytest

from telzino_provider.exceptions import TelzinoValidationError
from telzino_provider.timeutil import parse_api_timestamp, to_utc

UTC = timezone.utc


@pytest.mark.parametrize(
    "text",
    ["2026-06-11T12:49:28.898751+00:00", "2026-06-11T12:49:28Z", "2026-06-11T12:49:28.000Z"],
)
def test_parses_every_documented_format(text):
    parsed = parse_api_timestamp(text)
    assert parsed.tzinfo is not None
    assert parsed.replace(microsecond=0) == datetime(2026, 6, 11, 12, 49, 28, tzinfo=UTC)


def test_bounds_accept_datetime_pendulum_and_strings():
    expected = datetime(2026, 6, 11, 12, 0, tzinfo=UTC)
    assert to_utc("created_after", datetime(2026, 6, 11, 12, 0)) == expected  # naive means UTC
    assert to_utc("created_after", pendulum.datetime(2026, 6, 11, 14, 0, tz="Europe/Berlin")) == expected
    assert to_utc("created_after", "2026-06-11T08:00:00-04:00") == expected
    assert to_utc("created_after", "2026-06-11T12:00:00") == expected
    assert to_utc("created_after", None) is None
    assert to_utc("x", datetime(2026, 6, 11, 13, tzinfo=timezone(timedelta(hours=1)))) == expected


def test_bad_bound_names_the_field():
    with pytest.raises(TelzinoValidationError, match="^created_before: 'yesterday' is not an ISO-8601"):
        to_utc("created_before", "yesterday")
    with pytest.raises(TelzinoValidationError, match="^created_after: expected a datetime"):
        to_utc("created_after", 12)


@pytest.mark.parametrize(
    "text",
    [
        "now",
        "today",
        "12:00",
        "2026-W23",
        "2026-W23-1",
        "2026-162",
        "P1D",
        "PT1H",
        "20260611T120000Z",
        "2026-06-11T12",
        "2026-06-11T25:00:00Z",
        "2026-06-11+02:00",
        "2026-06-11T12:00:00+2",
        "2026-\u06606-11T12:00:00Z",
        "1718000000",
    ],
)
def test_bounds_refuse_what_is_not_a_timestamp(text):
    with pytest.raises(TelzinoValidationError, match="^created_after: .* is not an ISO-8601 date-time"):
        to_utc("created_after", text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-06-11T12:00:00Z", datetime(2026, 6, 11, 12, tzinfo=UTC)),
        ("2026-06-11T12:00Z", datetime(2026, 6, 11, 12, tzinfo=UTC)),
        ("2026-06-11 14:00:00+02:00", datetime(2026, 6, 11, 12, tzinfo=UTC)),
        ("2026-06-11T14:00:00+0200", datetime(2026, 6, 11, 12, tzinfo=UTC)),
        ("2026-06-11T12:00:00.5Z", datetime(2026, 6, 11, 12, 0, 0, 500000, tzinfo=UTC)),
        ("2026-06-11T12:00:00.123456789+00:00", datetime(2026, 6, 11, 12, 0, 0, 123456, tzinfo=UTC)),
        ("2026-06-11", datetime(2026, 6, 11, tzinfo=UTC)),  # a date alone: midnight UTC
    ],
)
def test_bounds_accept_iso_8601_date_times(text, expected):
    assert to_utc("created_after", text) == expected
