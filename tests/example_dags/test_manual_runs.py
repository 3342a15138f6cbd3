"""Every example DAG triggered by hand with no conf: it succeeds, and the window DAGs read the last
full hour before the moment they were triggered, saying so in the task log and the XCom ``window``.

On Airflow 3 a manual run has no logical date and no data interval; on Airflow 2 a manual run has the
interval its timetable infers for that moment (the same hour). Run in one subprocess (see runner.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from telzino_provider.emulator import TelzinoEmulator
from telzino_provider.version_compat import AIRFLOW_V_3_0_PLUS
from tests.conftest import conn_json
from tests.example_dags.runner import run_jobs
from tests.example_dags.test_example_dags import (
    B_END,
    B_START,
    HOUR,
    NOW,
    finished_in,
    ret,
)

TRIGGERED = NOW + timedelta(minutes=20)  # pressed Trigger at 12:20: the last full hour is 11:00-12:00
SYNC, CALL, FANOUT = "telzino_sync_completed_calls", "telzino_call_and_wait", "telzino_completed_calls_fanout"
# Airflow 2 gives the manual run this hour as its data interval; Airflow 3 gives none and the
# operators infer the same hour from the DAG's schedule.
SOURCE = "schedule" if AIRFLOW_V_3_0_PLUS else "data_interval"


@pytest.fixture(scope="module")
def manual(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    work = tmp_path_factory.mktemp("manual-runs")
    with TelzinoEmulator(start_time=NOW, speed=50) as emu:
        emu.seed_calls(24, start=NOW - 2 * HOUR, end=NOW)
        jobs = [
            {"dag_id": dag_id, "manual": True, "run_after": TRIGGERED.isoformat()}
            for dag_id in (SYNC, FANOUT, CALL)
        ]
        results, output = run_jobs(
            work,
            jobs,
            {
                "AIRFLOW_CONN_TELZINO_DEFAULT": conn_json(emu),
                "AIRFLOW_VAR_TELZINO_OUTPUT_DIR": str(work / "out"),
            },
        )
        runs = {run["dag_id"]: run for run in results}
        yield {"emu": emu, "runs": runs, "out": work / "out", "log": output}


def test_every_example_dag_succeeds_when_triggered_by_hand_with_no_conf(manual: dict[str, Any]) -> None:
    assert {dag_id: run["state"] for dag_id, run in manual["runs"].items()} == {
        SYNC: "success",
        FANOUT: "success",
        CALL: "success",
    }, {dag_id: run["tis"] for dag_id, run in manual["runs"].items()}
    if AIRFLOW_V_3_0_PLUS:  # what made the Airflow 3 manual run fail before: no data interval at all
        assert manual["runs"][SYNC]["run_id"].startswith("manual__")


def test_a_manual_sync_run_reads_the_last_full_hour_and_says_why(manual: dict[str, Any]) -> None:
    run, emu = manual["runs"][SYNC], manual["emu"]
    expected = finished_in(emu, B_START, B_END)
    window = run["xcoms"]["list_finished_calls"]["-1"]["window"]

    assert len(expected) >= 5
    assert [c["id"] for c in ret(run, "list_finished_calls")] == expected
    assert window["field"] == "ended_at"
    assert (window["start"], window["end"], window["source"]) == (
        B_START.isoformat(),
        B_END.isoformat(),
        SOURCE,
    )
    assert ret(run, "summarize")["interval"] == [B_START.isoformat(), B_END.isoformat()]
    assert sorted(p.name for p in manual["out"].iterdir()) == ["calls_ended_20260101T1100Z.jsonl"]
    line = f"Window: ended_at in [{B_START.isoformat()}, {B_END.isoformat()}): {window['reason']}"
    assert line in manual["log"]
    if AIRFLOW_V_3_0_PLUS:
        assert "the run has no data interval (a manual run)" in window["reason"]
        assert TRIGGERED.isoformat() in window["reason"]


def test_a_manual_fanout_run_waits_for_the_calls_of_the_last_full_hour(manual: dict[str, Any]) -> None:
    run, emu = manual["runs"][FANOUT], manual["emu"]
    expected = finished_in(emu, B_START, B_END)
    window = run["xcoms"]["wait_for_completed_calls"]["-1"]["window"]

    assert [c["id"] for c in ret(run, "wait_for_completed_calls")] == expected
    assert run["tis"]["follow_up"] == {str(i): "success" for i in range(len(expected))}
    assert (window["start"], window["end"], window["source"]) == (
        B_START.isoformat(),
        B_END.isoformat(),
        SOURCE,
    )
    assert (
        f"Window: ended_at in [{B_START.isoformat()}, {B_END.isoformat()}): {window['reason']}"
        in manual["log"]
    )


def test_a_manual_call_and_wait_run_with_no_conf_dials_the_default_number_once(
    manual: dict[str, Any],
) -> None:
    run, emu = manual["runs"][CALL], manual["emu"]
    placed = [c for c in emu.calls() if (c["request_metadata"] or {}).get("crm_id") == "CRM-1001"]

    assert len(placed) == 1 and placed[0]["status"] == "completed"
    assert ret(run, "read_outcome")["call_id"] == placed[0]["id"]
    assert emu.count_requests("POST", "/v1/agents/") == 1
