"""run_interval: which bounds a run reads, for scheduled, catchup and manual runs, on real DAG objects
(their real timetables; nothing is run here)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import pytest

from telzino_provider.exceptions import TelzinoValidationError
from telzino_provider.windows import describe_window, run_interval, window_for_run, window_xcom

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.x
    from airflow import DAG  # type: ignore[attr-defined,no-redef]
try:  # Airflow 3.2+
    from airflow.sdk import CronDataIntervalTimetable, CronTriggerTimetable
except ImportError:
    from airflow.timetables.interval import CronDataIntervalTimetable  # type: ignore[no-redef]
    from airflow.timetables.trigger import CronTriggerTimetable  # type: ignore[no-redef]

START = datetime(2024, 1, 1, tzinfo=timezone.utc)
TRIGGERED = datetime(2026, 1, 1, 12, 20, 5, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)


def _dag(dag_id: str, schedule: Any) -> Any:
    return DAG(dag_id, schedule=schedule, start_date=START, catchup=False)


HOURLY = _dag("telzino_windows_hourly", CronDataIntervalTimetable("0 * * * *", timezone="UTC"))
DAILY = _dag("telzino_windows_daily", CronDataIntervalTimetable("0 0 * * *", timezone="UTC"))
UNSCHEDULED = _dag("telzino_windows_unscheduled", None)
CRON_TRIGGER = _dag("telzino_windows_trigger", CronTriggerTimetable("0 * * * *", timezone="UTC"))


def context(dag: Any, *, interval: tuple[datetime, datetime] | None = None, run_after=TRIGGERED) -> dict:
    """A task context as Airflow 3 builds it: without the data-interval keys for a manual run."""
    ctx: dict[str, Any] = {"dag": dag, "dag_run": SimpleNamespace(run_after=run_after)}
    if interval is not None:
        ctx.update(data_interval_start=interval[0], data_interval_end=interval[1], logical_date=interval[1])
    return ctx


def test_a_scheduled_or_catchup_run_reads_its_own_data_interval() -> None:
    old = (datetime(2025, 3, 1, 4, tzinfo=timezone.utc), datetime(2025, 3, 1, 5, tzinfo=timezone.utc))

    got = run_interval(context(HOURLY, interval=old))

    assert (got.start, got.end, got.source) == (*old, "data_interval")
    assert got.reason == "the run's data interval"


@pytest.mark.parametrize(
    ("dag", "start", "end"),
    [
        (
            HOURLY,
            datetime(2026, 1, 1, 11, tzinfo=timezone.utc),
            datetime(2026, 1, 1, 12, tzinfo=timezone.utc),
        ),
        (DAILY, datetime(2025, 12, 31, tzinfo=timezone.utc), datetime(2026, 1, 1, tzinfo=timezone.utc)),
    ],
)
def test_a_run_without_data_interval_reads_the_last_full_schedule_interval(dag: Any, start, end) -> None:
    got = run_interval(context(dag))

    assert (got.start, got.end, got.source) == (start, end, "schedule")
    assert got.reason.startswith("the run has no data interval (a manual run); the last full interval")
    assert TRIGGERED.isoformat() in got.reason


def test_a_run_triggered_on_the_hour_reads_the_hour_that_just_ended() -> None:
    on_the_hour = datetime(2026, 1, 1, 12, tzinfo=timezone.utc)

    got = run_interval(context(HOURLY, run_after=on_the_hour))

    assert (got.start, got.end) == (on_the_hour - HOUR, on_the_hour)


@pytest.mark.parametrize("dag", [UNSCHEDULED, CRON_TRIGGER], ids=["schedule_none", "cron_trigger"])
def test_a_schedule_without_intervals_needs_fallback_interval(dag: Any) -> None:
    with pytest.raises(TelzinoValidationError, match="fallback_interval.*timedelta\\(hours=1\\)"):
        run_interval(context(dag))

    got = run_interval(context(dag), fallback_interval=timedelta(minutes=30))

    assert (got.start, got.end, got.source) == (TRIGGERED - timedelta(minutes=30), TRIGGERED, "fallback")


def test_an_empty_data_interval_counts_as_none() -> None:
    """Airflow 3's cron triggers ('@hourly') give scheduled runs start == end."""
    tick = datetime(2026, 1, 1, 12, tzinfo=timezone.utc)

    got = run_interval(context(CRON_TRIGGER, interval=(tick, tick), run_after=tick), fallback_interval=3600)

    assert (got.start, got.end, got.source) == (tick - HOUR, tick, "fallback")
    assert got.reason.startswith("the run's data interval is empty")


@pytest.mark.parametrize("value", [0, -5, timedelta(0), "1h", True])
def test_fallback_interval_must_be_a_positive_duration(value: object) -> None:
    with pytest.raises(TelzinoValidationError, match="fallback_interval"):
        run_interval(context(UNSCHEDULED), fallback_interval=value)


def test_explicit_bounds_are_kept_and_conflicts_are_named() -> None:
    after, before = "2026-01-01T10:00:00Z", "2026-01-01T11:00:00Z"
    kwargs: dict[str, Any] = {"status": "completed", "window_field": "ended_at", "lookback": 3600}

    window, interval = window_for_run(
        {},
        use_data_interval=False,
        fallback_interval=None,
        created_after=after,
        created_before=before,
        **kwargs,
    )

    assert interval is None
    assert describe_window(window, interval) == (
        "Window: ended_at in [2026-01-01T10:00:00+00:00, 2026-01-01T11:00:00+00:00): "
        "created_after/created_before as given"
    )
    assert window_xcom(window, interval)["source"] == "explicit"
    with pytest.raises(TelzinoValidationError, match="^created_after: leave it unset"):
        window_for_run(
            context(HOURLY),
            use_data_interval=True,
            fallback_interval=None,
            created_after=after,
            created_before=None,
            **kwargs,
        )
    with pytest.raises(TelzinoValidationError, match="^fallback_interval: only applies"):
        window_for_run(
            {},
            use_data_interval=False,
            fallback_interval=60,
            created_after=None,
            created_before=None,
            **kwargs,
        )


def test_an_empty_template_is_no_explicit_bound() -> None:
    window, interval = window_for_run(
        context(HOURLY),
        use_data_interval=True,
        fallback_interval=None,
        status=None,
        window_field="created_at",
        created_after="",
        created_before="",
        lookback=0,
    )

    assert interval is not None and (window.start, window.end) == (interval.start, interval.end)
