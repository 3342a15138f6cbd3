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
