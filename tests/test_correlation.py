"""The never-dial-twice rule: when a try looks for an earlier call, and from when.

The rule reads Airflow's try numbers and the DAG run's times; the last test checks on the installed
Airflow that they behave as the rule assumes (first try 1, retry 2, a cleared task N+1, the due time
kept by a clear while the run's start_date is reset).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest

from telzino_provider.correlation import (
    DEFAULT_CLOCK_MARGIN,
    adopt_since,
    earlier_attempt,
    earliest_attempt_start,
)
from tests.airflow_helpers import FakeTI, rerun_cleared, run_dag, state_of, ti_states

T0 = datetime(2026, 6, 11, 12, 0, tzinfo=timezone.utc)
NOW = T0 + timedelta(hours=3)


def context(try_number: object = 1, **run: object) -> dict:
    return {"ti": FakeTI(try_number=try_number), "dag_run": SimpleNamespace(**run)}  # type: ignore[arg-type]


def test_only_the_first_try_skips_the_look() -> None:
    assert earlier_attempt(context(1)) is None
    assert earlier_attempt(context(2)) == "this is try 2"
    assert earlier_attempt(context(7)) == "this is try 7"
    assert "unknown" in str(earlier_attempt(context(None)))  # cannot tell: look
    assert "test run" in str(earlier_attempt({**context(1), "test_mode": True}))


def test_airflow_3_run_looks_back_to_run_after() -> None:
    cleared = context(3, run_after=T0, start_date=T0 + timedelta(hours=2))  # a clear reset start_date
    assert earliest_attempt_start(cleared, now=NOW) == T0
    assert adopt_since(cleared, now=NOW) == T0 - DEFAULT_CLOCK_MARGIN


def test_airflow_2_run_looks_back_to_the_later_of_logical_date_and_interval_end() -> None:
    scheduled = context(2, logical_date=T0 - timedelta(days=1), data_interval_end=T0, start_date=T0)
    assert earliest_attempt_start(scheduled, now=NOW) == T0
    manual = context(2, logical_date=T0, data_interval_end=T0 - timedelta(days=1), start_date=T0)
    assert earliest_attempt_start(manual, now=NOW) == T0
    requeued = context(2, logical_date=T0, start_date=NOW, queued_at=T0 - timedelta(minutes=1))
    assert earliest_attempt_start(requeued, now=NOW) == T0 - timedelta(minutes=1)


def test_times_in_the_future_never_push_the_start_past_now() -> None:
    future = context(2, run_after=NOW + timedelta(hours=1), start_date=NOW + timedelta(hours=1))
    assert earliest_attempt_start(future, now=NOW) == NOW
    assert earliest_attempt_start({"ti": FakeTI(try_number=2)}, now=NOW) == NOW  # no dag_run at all
    assert adopt_since(future, timedelta(minutes=1), now=NOW) == NOW - timedelta(minutes=1)


def test_try_numbers_and_run_times_on_this_airflow(airflow_db: None, tmp_path: Path) -> None:
    path = tmp_path / "facts.jsonl"
    due = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=5)

    first = run_dag("telzino_test_try_facts", conf={"path": str(path)}, logical_date=due, run_after=due)
    assert ti_states(first) == {("record", -1): ("success", 2)}  # try 1 failed, the retry passed
    again = rerun_cleared(first)
    assert state_of(again.state) == "success" and again.run_id == first.run_id

    tries = [json.loads(line) for line in path.read_text().splitlines()]
    assert [t["try_number"] for t in tries] == [1, 2, 3]  # the clear kept the number and went on
    assert [t["earlier_attempt"] for t in tries] == [None, "this is try 2", "this is try 3"]
    # Every try finds the same start, the time the run became due, although the clear reset the run.
    assert {t["earliest_attempt_start"] for t in tries} == {due.isoformat()}
    reset_at = datetime.fromisoformat(tries[2]["run_start_date"])
    assert reset_at > datetime.fromisoformat(tries[0]["now"]) and tries[2]["clear_number"] == 1


@pytest.mark.parametrize("margin", [timedelta(0), timedelta(minutes=30)])
def test_the_margin_moves_the_start_back(margin: timedelta) -> None:
    assert adopt_since(context(2, run_after=T0), margin, now=NOW) == T0 - margin
