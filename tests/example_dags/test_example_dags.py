"""The example DAGs: they parse without side effects, and each runs end to end against the emulator.

The runs happen in one subprocess (see runner.py for why) against one emulator started here, with a
fixed clock and seed, so every expected call id is known from the emulator's own records.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from telzino_provider.emulator import OUTCOME_NUMBERS, TelzinoEmulator
from tests.conftest import conn_json
from tests.example_dags.runner import EXAMPLE_DAGS, run_jobs

DAG_IDS = {
    "telzino_sync_completed_calls",
    "telzino_call_and_wait",
    "telzino_completed_calls_fanout",
    "telzino_calls_to_storage",
    "telzino_calls_storage_summary",
}

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)  # the emulator's clock when it starts
HOUR = timedelta(hours=1)
# Logical date L runs on the interval [L - 1h, L): A is [10:00, 11:00), B is [11:00, 12:00).
A_END, B_END = NOW - HOUR, NOW
A_START, B_START = A_END - HOUR, B_END - HOUR


def _parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


def finished_in(emu: TelzinoEmulator, start: datetime, end: datetime) -> list[str]:
    """Ids of completed calls that ended in [start, end), newest created first: what a run must return."""
    return [
        call["id"]
        for call in emu.calls()
        if call["status"] == "completed" and start <= _parse(call["ended_at"]) < end
    ]


def test_every_example_dag_parses_with_no_request_and_no_variable_read(
    telzino_conn: TelzinoEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]
    import airflow.models

    reads: list[str] = []
    targets = [airflow.models.Variable]
    try:
        from airflow.sdk import Variable as SdkVariable

        targets.append(SdkVariable)
    except ImportError:
        pass
    for cls in targets:  # a spy, not a stub: parsing must not get this far
        monkeypatch.setattr(cls, "get", staticmethod(lambda key, *a, **kw: reads.append(key)))

    bag = DagBag(dag_folder=str(EXAMPLE_DAGS))

    assert bag.import_errors == {}
    assert set(bag.dags) == DAG_IDS
    assert {Path(d.fileloc).name for d in bag.dags.values()} == {
        p.name for p in EXAMPLE_DAGS.glob("telzino_*.py")
    }
    assert telzino_conn.requests == []
    assert reads == []
    for dag in bag.dags.values():
        assert "real account" in (dag.doc_md or ""), dag.dag_id


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Seed the emulator, run every example DAG once (the sync DAG on two intervals, then again)."""
    work = tmp_path_factory.mktemp("example-dags")
    with TelzinoEmulator(start_time=NOW, speed=50) as emu:  # a 5 min call takes 6 s
        emu.seed_calls(36, start=NOW - 3 * HOUR, end=NOW)
        special = {  # edge cases the seed may not hit; all before NOW, so final when the DAGs run
            "straddles_into_a": emu.add_call(created_at=A_START - timedelta(minutes=2), duration=300),
            "ends_in_b": emu.add_call(created_at=A_END - timedelta(minutes=3), duration=250),
            "busy_in_a": emu.add_call(to_number=OUTCOME_NUMBERS["busy"], created_at=A_START + HOUR / 2),
        }
        a_date, b_date = A_END.isoformat(), B_END.isoformat()
        jobs = [
            {"dag_id": "telzino_sync_completed_calls", "logical_date": a_date},
            {"dag_id": "telzino_sync_completed_calls", "logical_date": b_date},
            {"dag_id": "telzino_sync_completed_calls", "logical_date": a_date},
            {
                "dag_id": "telzino_call_and_wait",
                "conf": {"to_number": OUTCOME_NUMBERS["completed"], "crm_id": "CRM-42"},
            },
            {  # seen on 3.3: dag.test() runs in one process can keep an earlier conf; set every value
                "dag_id": "telzino_call_and_wait",
                "conf": {"to_number": OUTCOME_NUMBERS["busy"], "crm_id": "CRM-43"},
            },
            {
                "dag_id": "telzino_completed_calls_fanout",
                "logical_date": a_date,
                "conf": {"telzino_conn_id": "telzino_oauth"},
            },
        ]
        runs, _ = run_jobs(
            work,
            jobs,
            {
                "AIRFLOW_CONN_TELZINO_DEFAULT": conn_json(emu),
                "AIRFLOW_CONN_TELZINO_OAUTH": conn_json(emu, oauth=True),
                "AIRFLOW_VAR_TELZINO_OUTPUT_DIR": str(work / "out"),  # the Variable route, from the env
            },
        )
        yield {"emu": emu, "runs": runs, "special": special, "out": work / "out"}


def ret(run: dict[str, Any], task_id: str, map_index: int = -1) -> Any:
    return run["xcoms"][task_id][str(map_index)]["return_value"]


def test_sync_pulls_the_calls_that_ended_in_each_interval_exactly_once(scenario: dict[str, Any]) -> None:
    emu, (run_a, run_b, rerun_a) = scenario["emu"], scenario["runs"][:3]
    expected_a, expected_b = finished_in(emu, A_START, A_END), finished_in(emu, B_START, B_END)
    assert len(expected_a) >= 5 and len(expected_b) >= 5  # the seed fills both intervals
    special = {name: call["id"] for name, call in scenario["special"].items()}

    for run, expected in ((run_a, expected_a), (run_b, expected_b), (rerun_a, expected_a)):
        assert run["state"] == "success", run["tis"]
        assert [c["id"] for c in ret(run, "list_finished_calls")] == expected
    assert special["straddles_into_a"] in expected_a and special["ends_in_b"] in expected_b
    assert special["busy_in_a"] not in expected_a + expected_b
    assert not set(expected_a) & set(expected_b)
    assert set(expected_a + expected_b) == set(finished_in(emu, A_START, B_END))


def test_sync_writes_one_jsonl_file_per_interval_with_transcripts(scenario: dict[str, Any]) -> None:
    emu, run_a, rerun_a = scenario["emu"], scenario["runs"][0], scenario["runs"][2]
    records = {call["id"]: call for call in emu.calls()}
    path = scenario["out"] / "calls_ended_20260101T1000Z.jsonl"

    rows = [json.loads(line) for line in path.read_text().splitlines()]

    assert sorted(p.name for p in scenario["out"].iterdir()) == [
        "calls_ended_20260101T1000Z.jsonl",
        "calls_ended_20260101T1100Z.jsonl",
    ]  # the rerun replaced its file; no temporary file left behind
    assert [row["id"] for row in rows] == finished_in(emu, A_START, A_END)
    for row in rows:
        record = records[row["id"]]
        assert {k: row[k] for k in ("to_number", "status", "duration", "ended_at", "transcript_id")} == {
            k: record[k] for k in ("to_number", "status", "duration", "ended_at", "transcript_id")
        }
        assert row["summary_text"] == record["summary_text"]
        assert [turn["speaker"] for turn in row["transcript"]][:2] == ["agent", "user"]
    durations = [row["duration"] for row in rows]
    assert ret(run_a, "summarize") == {
        "interval": [A_START.isoformat(), A_END.isoformat()],
        "calls": len(rows),
        "total_duration_s": sum(durations),
        "mean_duration_s": round(sum(durations) / len(rows), 1),
        "outcomes": {"completed": len(rows)},
        "missing_transcripts": 0,
        "path": str(path),
        "window_source": "data_interval",
    }
    assert ret(rerun_a, "summarize") == ret(run_a, "summarize")
    assert set(run_a["xcoms"]) == {"list_finished_calls", "write_jsonl", "summarize"}
    assert set(run_a["xcoms"]["list_finished_calls"]["-1"]) == {"return_value", "window"}
    assert all(set(run_a["xcoms"][task]["-1"]) == {"return_value"} for task in ("write_jsonl", "summarize"))


def test_call_and_wait_places_one_call_and_reads_its_outcome(scenario: dict[str, Any]) -> None:
    emu, run = scenario["emu"], scenario["runs"][3]
    placed = [c for c in emu.calls() if (c["request_metadata"] or {}).get("crm_id") == "CRM-42"]

    assert run["state"] == "success", run["tis"]
    assert len(placed) == 1
    call = placed[0]
    assert call["request_metadata"]["airflow"]["dag_id"] == "telzino_call_and_wait"
    assert run["xcoms"]["place_call"]["-1"]["call_id"] == call["id"]
    assert ret(run, "wait_for_outcome")["id"] == call["id"]
    assert ret(run, "read_outcome") == {
        "call_id": call["id"],
        "crm_id": "CRM-42",
        "status": "completed",
        "duration": call["duration"],
        "summary": call["summary_text"],
    }
    assert call["call_context"] == "Confirm the appointment on Tuesday at 10:00."  # the param default


def test_call_and_wait_fails_the_wait_when_nobody_answers(scenario: dict[str, Any]) -> None:
    emu, run = scenario["emu"], scenario["runs"][4]
    call_id = run["xcoms"]["place_call"]["-1"]["call_id"]

    assert run["state"] == "failed"
    assert run["tis"]["place_call"]["-1"] == "success"
    assert run["tis"]["wait_for_outcome"]["-1"] == "failed"
    assert run["tries"]["wait_for_outcome"]["-1"] == 1  # the wait has retries=2; an ended call is final
    assert run["tis"]["read_outcome"]["-1"] == "upstream_failed"
    assert [c["status"] for c in emu.calls() if c["id"] == call_id] == ["busy"]
    assert emu.count_requests("POST", "/v1/agents/") == 2  # one call per run, never a second dial


def test_fanout_maps_one_task_per_completed_call(scenario: dict[str, Any]) -> None:
    emu, run = scenario["emu"], scenario["runs"][5]
    expected = finished_in(emu, A_START, A_END)
    records = {call["id"]: call for call in emu.calls()}

    assert run["state"] == "success", run["tis"]
    assert [c["id"] for c in ret(run, "wait_for_completed_calls")] == expected
    assert run["tis"]["follow_up"] == {str(i): "success" for i in range(len(expected))}
    assert all(set(slot) == {"return_value"} for slot in run["xcoms"]["follow_up"].values())
    for index, call_id in enumerate(expected):
        out = ret(run, "follow_up", index)
        assert out["call_id"] == call_id
        assert out["duration"] == records[call_id]["duration"]
        assert out["summary_title"] == records[call_id]["summary_text"].splitlines()[0]
    # The telzino_conn_id param reached the sensor and every mapped task: the run is the last one and
    # only its connection (OAuth) asks for tokens, so from the first token request on, nothing may use
    # the default connection's static token.
    log = emu.requests
    first = next(i for i, r in enumerate(log) if r.path == "/oauth/token")
    tokens = {r.headers.get("Authorization") for r in log[first:] if r.path != "/oauth/token"}
    assert f"Bearer {emu.token}" not in tokens and len(tokens) == 1
    call_gets = [r.path.split("/")[5] for r in log[first:] if r.method == "GET" and r.path.count("/") == 5]
    assert sorted(call_gets) == sorted(expected)
    assert any(r.path.endswith("/outbound-calls") for r in log[first:])
