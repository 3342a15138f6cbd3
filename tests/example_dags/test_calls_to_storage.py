"""The object storage examples end to end: an hourly landing into a local folder (the Variable route),
a manual run, and the summary DAG scheduled on the Asset reading what landed."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from telzino_provider.emulator import TelzinoEmulator
from tests.conftest import conn_json
from tests.example_dags.runner import run_jobs

NOW = datetime(2026, 1, 1, 12, 20, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)
START, END = datetime(2026, 1, 1, 10, tzinfo=timezone.utc), datetime(2026, 1, 1, 11, tzinfo=timezone.utc)


def ended_in(emu: TelzinoEmulator, start: datetime, end: datetime) -> list[dict[str, Any]]:
    return [c for c in emu.calls() if c["ended_at"] and start <= datetime.fromisoformat(c["ended_at"]) < end]


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Any:
    work = tmp_path_factory.mktemp("storage-example")
    with TelzinoEmulator(start_time=NOW) as emu:
        emu.seed_calls(60, start=NOW - 3 * HOUR, end=NOW - timedelta(minutes=5))
        jobs = [
            {"dag_id": "telzino_calls_to_storage", "logical_date": END.isoformat(), "sync_to_db": True},
            {"dag_id": "telzino_calls_storage_summary", "sync_to_db": True},
            {"dag_id": "telzino_calls_to_storage", "manual": True, "run_after": NOW.isoformat()},
        ]
        runs, _ = run_jobs(
            work,
            jobs,
            {
                "AIRFLOW_CONN_TELZINO_DEFAULT": conn_json(emu),
                "AIRFLOW_VAR_TELZINO_AGENT_ID": emu.agent_id,
                "AIRFLOW_VAR_TELZINO_STORAGE_URL": f"file://{work / 'lake'}",
            },
        )
        yield {"emu": emu, "runs": runs, "lake": work / "lake"}


def ret(run: dict[str, Any], task_id: str) -> Any:
    return run["xcoms"][task_id]["-1"]["return_value"]


def test_the_hourly_run_lands_its_interval_with_transcripts_and_recordings(scenario: dict[str, Any]) -> None:
    emu, run = scenario["emu"], scenario["runs"][0]
    path = scenario["lake"] / "calls" / "calls_ended_20260101T100000Z.jsonl.gz"
    truth = ended_in(emu, START, END)

    lines = [json.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines()]

    assert run["state"] == "success", run["tis"]
    assert len(truth) >= 5 and [line["id"] for line in lines] == [c["id"] for c in truth]
    completed = [line for line in lines if line["status"] == "completed"]
    assert completed and all(line["transcript"]["turns"] for line in completed)
    assert all(Path(line["recording"]["uri"].removeprefix("file://")).is_file() for line in completed)
    assert ret(run, "land_calls") == {
        "uri": f"file://{path}",
        "calls": len(lines),
        "bytes": path.stat().st_size,
        "window": [START.isoformat(), END.isoformat()],
        "recordings": {"stored": len(completed), "skipped": 0, "expired": 0},
    }


def test_the_summary_reads_what_the_asset_event_announced(scenario: dict[str, Any]) -> None:
    emu, run = scenario["emu"], scenario["runs"][1]
    truth = ended_in(emu, START, END)

    assert run["state"] == "success", run["tis"]
    assert ret(run, "summarize_landing") == {
        "uri": f"file://{scenario['lake'] / 'calls' / 'calls_ended_20260101T100000Z.jsonl.gz'}",
        "calls": len(truth),
        "by_status": dict(Counter(c["status"] for c in truth)),
        "talk_seconds": sum(c["duration"] or 0 for c in truth),
    }


def test_a_manual_run_lands_the_last_full_hour(scenario: dict[str, Any]) -> None:
    emu, run = scenario["emu"], scenario["runs"][2]
    start, end = END, END + HOUR  # triggered at 12:20: [11:00, 12:00)

    assert run["state"] == "success", run["tis"]
    result = ret(run, "land_calls")
    assert result["window"] == [start.isoformat(), end.isoformat()]
    assert result["uri"].endswith("/calls/calls_ended_20260101T110000Z.jsonl.gz")
    assert result["calls"] == len(ended_in(emu, start, end)) > 0
