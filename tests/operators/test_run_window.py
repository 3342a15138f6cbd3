"""use_data_interval under dag.test(), for the list operator and the completed-calls sensor (deferred):
a run with a data interval reads it; a run triggered by hand reads the last full hour before it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from telzino_provider.emulator import TelzinoEmulator
from telzino_provider.timeutil import parse_api_timestamp
from telzino_provider.version_compat import AIRFLOW_V_3_0_PLUS
from tests.airflow_helpers import emulator_conn_env, run_dag, state_of, xcom

HOUR = timedelta(hours=1)
T0 = datetime(2026, 1, 1, 10, tzinfo=timezone.utc)  # calls from 10:00 to 12:00
TRIGGERED = T0 + 2 * HOUR + timedelta(minutes=20)  # a run triggered at 12:20 reads [11:00, 12:00)


@pytest.fixture
def emu(airflow_db: None, monkeypatch: pytest.MonkeyPatch):
    with TelzinoEmulator(start_time=TRIGGERED) as emu:
        emulator_conn_env(monkeypatch, emu)
        emu.seed_calls(20, start=T0, end=T0 + 2 * HOUR)
        emu.add_call(created_at=T0 + HOUR - timedelta(minutes=2), duration=300)  # ends in the 2nd hour
        yield emu


def ended_in(emu: TelzinoEmulator, start: datetime, end: datetime, status: str | None = None) -> list[str]:
    return [
        c["id"]
        for c in emu.calls()
        if c["ended_at"]
        and start <= parse_api_timestamp(c["ended_at"]) < end
        and (status is None or c["status"] == status)
    ]


def test_a_manual_run_reads_the_last_full_hour_before_it_was_triggered(emu: TelzinoEmulator) -> None:
    start, end = T0 + HOUR, T0 + 2 * HOUR

    dr = run_dag("telzino_test_run_window", conf={"agent_id": emu.agent_id}, run_after=TRIGGERED, manual=True)

    assert state_of(dr.state) == "success"
    if AIRFLOW_V_3_0_PLUS:  # the case that failed with UndefinedError under data_interval templates
        assert dr.data_interval_start is None and dr.logical_date is None
    window = xcom(dr, "finished_calls", key="window")
    assert (window["start"], window["end"]) == (start.isoformat(), end.isoformat())
    assert window["source"] == ("schedule" if AIRFLOW_V_3_0_PLUS else "data_interval")
    assert [c["id"] for c in xcom(dr, "finished_calls")] == ended_in(emu, start, end)
    assert len(ended_in(emu, start, end)) >= 5
    assert [c["id"] for c in xcom(dr, "completed_calls")] == ended_in(emu, start, end, "completed")
    assert xcom(dr, "completed_calls", key="window") == window


def test_a_run_with_a_data_interval_reads_that_interval(emu: TelzinoEmulator) -> None:
    """A scheduled or catchup run: its own (here older) interval, whatever the time it runs at."""
    start, end = T0, T0 + HOUR

    dr = run_dag(
        "telzino_test_run_window", conf={"agent_id": emu.agent_id}, logical_date=end + timedelta(seconds=30)
    )

    assert state_of(dr.state) == "success"
    assert (dr.data_interval_start, dr.data_interval_end) == (start, end)
    window = xcom(dr, "finished_calls", key="window")
    assert (window["start"], window["end"], window["source"]) == (
        start.isoformat(),
        end.isoformat(),
        "data_interval",
    )
    assert window["reason"] == "the run's data interval"
    assert [c["id"] for c in xcom(dr, "finished_calls")] == ended_in(emu, start, end)
    assert [c["id"] for c in xcom(dr, "completed_calls")] == ended_in(emu, start, end, "completed")
