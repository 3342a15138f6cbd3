"""TelzinoCallsToObjectStorageOperator under dag.test() into file://, against the emulator."""

from __future__ import annotations

import gzip
import json
import os
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from telzino_provider.emulator import TelzinoEmulator
from telzino_provider.emulator.recordings import wav_bytes
from telzino_provider.exceptions import TelzinoValidationError
from telzino_provider.timeutil import parse_api_timestamp
from telzino_provider.transfers.telzino_to_object_storage import (
    TelzinoCallsToObjectStorageOperator,
    destination_asset,
    name_for_window,
    window_name,
)
from telzino_provider.version_compat import AIRFLOW_V_3_0_PLUS, Asset, ObjectStoragePath
from telzino_provider.windows import CallWindow
from tests.airflow_helpers import make_context, run_dag, state_of, store_dag, xcom

DAGS = "telzino_transfer_dags.py"
LANDING = Path(os.environ["AIRFLOW_HOME"]) / "landing"
PHONE = "+18135550100"


def ended(call: dict) -> datetime | None:
    return parse_api_timestamp(call["ended_at"]) if call.get("ended_at") else None


def name_of(moment: datetime) -> str:
    """How a window bound appears in an object name (ISO 8601 basic, UTC)."""
    return window_name(moment)


def read_lines(path: Path) -> list[dict[str, Any]]:
    raw = path.read_bytes()
    text = gzip.decompress(raw).decode() if path.name.endswith(".gz") else raw.decode()
    return [json.loads(line) for line in text.splitlines()]


def land(dag_id: str, emu: TelzinoEmulator, name: str, start: datetime, end: datetime, **params: str) -> Any:
    conf = {
        "agent_id": emu.agent_id,
        "name": name,
        "created_after": start.isoformat(),
        "created_before": end.isoformat(),
        **params,
    }
    store_dag(dag_id, DAGS)  # the Asset known and active, as in a deployment
    return run_dag(dag_id, conf=conf, filename=DAGS)


def asset_event_extras(uri: str) -> list[dict[str, Any]]:
    """The extra of every asset (dataset) event recorded for ``uri``, oldest first."""
    from airflow.utils.session import create_session

    if AIRFLOW_V_3_0_PLUS:
        from airflow.models.asset import AssetEvent as Event
        from airflow.models.asset import AssetModel as Model

        key = Event.asset_id
    else:
        from airflow.models.dataset import DatasetEvent as Event  # type: ignore
        from airflow.models.dataset import DatasetModel as Model

        key = Event.dataset_id
    with create_session() as session:
        rows = (
            session.query(Event)
            .join(Model, Model.id == key)
            .filter(Model.uri == uri)
            .order_by(Event.id)
            .all()
        )
        return [dict(row.extra or {}) for row in rows]


@pytest.fixture
def window(telzino_conn: TelzinoEmulator) -> tuple[datetime, datetime, list[dict]]:
    """300 calls over the last 4 hours; the window is the calls that ended from 3 h to 2 h ago."""
    now = telzino_conn.now()
    telzino_conn.seed_calls(300, start=now - timedelta(hours=4), end=now - timedelta(minutes=10))
    start, end = now - timedelta(hours=3), now - timedelta(hours=2)
    truth = [c for c in telzino_conn.calls() if (e := ended(c)) is not None and start <= e < end]
    return start, end, truth


def test_lines_are_the_window_with_transcripts_and_recordings(
    airflow_db: None, telzino_conn: TelzinoEmulator, window: tuple[datetime, datetime, list[dict]]
) -> None:
    start, end, truth = window

    run = land("telzino_test_to_storage", telzino_conn, "truth.jsonl.gz", start, end)

    assert state_of(run.state) == "success"
    lines = read_lines(LANDING / "truth.jsonl.gz")
    assert 40 < len(truth) < 300
    assert sorted(line["id"] for line in lines) == sorted(c["id"] for c in truth)
    assert len({line["id"] for line in lines}) == len(lines)
    by_id = {c["id"]: c for c in truth}
    completed = [line for line in lines if line["status"] == "completed"]
    assert completed and all(
        line["transcript"]["id"] == by_id[line["id"]]["transcript_id"] for line in completed
    )
    assert all(line["transcript"]["text"] and line["transcript"]["turns"] for line in completed)
    assert all(line["transcript"] is None for line in lines if line["status"] != "completed")
    for line in completed:  # each recording stored under the call's id, with the emulator's size
        recording = LANDING / "recordings" / f"{line['id']}.wav"
        size = len(wav_bytes(line["id"], by_id[line["id"]]["duration"]))
        assert line["recording"] == {"uri": f"file://{recording}", "bytes": size}
        assert recording.stat().st_size == size
    assert not any("recording" in line for line in lines if line["status"] != "completed")

    result = xcom(run, "land")
    assert result == {
        "uri": f"file://{LANDING / 'truth.jsonl.gz'}",
        "calls": len(truth),
        "bytes": (LANDING / "truth.jsonl.gz").stat().st_size,
        "window": [start.isoformat(), end.isoformat()],
        "recordings": {"stored": len(completed), "skipped": 0, "expired": 0},
    }
    assert asset_event_extras(f"file://{LANDING}")[-1] == {
        "calls": len(truth),
        "window": [start.isoformat(), end.isoformat()],
        "uri": result["uri"],
    }


def test_a_second_run_of_the_window_replaces_the_object_with_the_same_bytes(
    airflow_db: None, telzino_conn: TelzinoEmulator, window: tuple[datetime, datetime, list[dict]]
) -> None:
    start, end, truth = window
    first = land("telzino_test_to_storage", telzino_conn, "again.jsonl.gz", start, end)
    content = (LANDING / "again.jsonl.gz").read_bytes()
    telzino_conn.clear_requests()

    second = land("telzino_test_to_storage", telzino_conn, "again.jsonl.gz", start, end)

    assert state_of(first.state) == state_of(second.state) == "success"
    assert (LANDING / "again.jsonl.gz").read_bytes() == content
    completed = sum(c["status"] == "completed" for c in truth)
    assert xcom(second, "land")["recordings"] == {"stored": 0, "skipped": completed, "expired": 0}
    assert [p.name for p in LANDING.iterdir() if p.name.startswith(".")] == []  # no temporary left


def test_an_empty_window_writes_an_empty_object(airflow_db: None, telzino_conn: TelzinoEmulator) -> None:
    now = telzino_conn.now()
    telzino_conn.seed_calls(20, start=now - timedelta(hours=4), end=now - timedelta(hours=3))
    (LANDING / "empty.jsonl").parent.mkdir(parents=True, exist_ok=True)
    (LANDING / "empty.jsonl").write_text('{"stale": true}\n')

    run = land("telzino_test_to_storage", telzino_conn, "empty.jsonl", now - timedelta(hours=1), now)

    assert state_of(run.state) == "success"
    assert (LANDING / "empty.jsonl").read_bytes() == b""
    assert xcom(run, "land")["calls"] == 0 and xcom(run, "land")["bytes"] == 0


def test_expired_recording_links_are_counted_and_the_rest_stored(
    airflow_db: None, telzino_conn: TelzinoEmulator, window: tuple[datetime, datetime, list[dict]]
) -> None:
    start, end, truth = window
    telzino_conn.recording_ttl = 2.5 * 3600  # links of calls that ended over 2.5 h ago have expired
    cutoff = telzino_conn.now() - timedelta(hours=2.5)
    completed = [c for c in truth if c["status"] == "completed"]
    expired = [c for c in completed if ended(c) <= cutoff]  # type: ignore[operator]

    run = land(
        "telzino_test_to_storage",
        telzino_conn,
        "expired.jsonl",
        start,
        end,
        recordings="file://" + str(LANDING / "rec-expired"),
    )

    assert state_of(run.state) == "success"
    assert 0 < len(expired) < len(completed)
    assert xcom(run, "land")["recordings"] == {
        "stored": len(completed) - len(expired),
        "skipped": 0,
        "expired": len(expired),
    }
    lines = {line["id"]: line for line in read_lines(LANDING / "expired.jsonl")}
    assert all("recording" not in lines[c["id"]] for c in expired)
    assert len(list((LANDING / "rec-expired").iterdir())) == len(completed) - len(expired)


def test_every_link_expired_fails_and_lands_nothing(
    airflow_db: None, telzino_conn: TelzinoEmulator, window: tuple[datetime, datetime, list[dict]]
) -> None:
    start, end, _ = window
    telzino_conn.recording_ttl = 60
    folder = "file://" + str(LANDING / "rec-all-expired")  # none stored yet (the emulator's ids repeat)

    run = land("telzino_test_to_storage", telzino_conn, "all-expired.jsonl", start, end, recordings=folder)

    assert state_of(run.state) == "failed"
    assert not (LANDING / "all-expired.jsonl").exists()


def test_a_failure_mid_write_leaves_no_object_under_the_final_name(
    airflow_db: None, monkeypatch: pytest.MonkeyPatch, emulator: TelzinoEmulator
) -> None:
    from tests.airflow_helpers import emulator_conn_env

    emulator_conn_env(monkeypatch, emulator, max_retries=0)
    now = emulator.now()
    emulator.seed_calls(1000, start=now - timedelta(hours=3), end=now - timedelta(minutes=10))
    original = b'{"earlier": "run"}\n'
    (LANDING / "midway.jsonl").parent.mkdir(parents=True, exist_ok=True)
    (LANDING / "midway.jsonl").write_bytes(original)
    # Page 1 of the calls and the first page of call logs succeed, then every request fails.
    answered = {"n": 0}
    real_handle = emulator._api.handle

    def failing_after_two(request: Any) -> Any:
        answered["n"] += 1
        if answered["n"] > 3 and "/recordings/" not in request.path:
            emulator.fail_next(1, 503)
        return real_handle(request)

    monkeypatch.setattr(emulator._api, "handle", failing_after_two)

    run = land("telzino_test_to_storage", emulator, "midway.jsonl", now - timedelta(hours=4), now)

    assert state_of(run.state) == "failed"
    assert answered["n"] > 3  # it did stop midway, after landing some lines in the temporary object
    assert (LANDING / "midway.jsonl").read_bytes() == original
    assert [p.name for p in LANDING.iterdir() if p.name.startswith(".midway")] == []


def test_a_manual_run_lands_the_last_full_hour_under_its_name(
    airflow_db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.airflow_helpers import emulator_conn_env

    t0 = datetime(2026, 1, 1, 10, tzinfo=timezone.utc)
    triggered = t0 + timedelta(hours=2, minutes=20)  # reads [11:00, 12:00)
    with TelzinoEmulator(start_time=triggered) as emu:
        emulator_conn_env(monkeypatch, emu)
        emu.seed_calls(40, start=t0, end=t0 + timedelta(hours=2))
        start, end = t0 + timedelta(hours=1), t0 + timedelta(hours=2)
        truth = [c["id"] for c in emu.calls() if (e := ended(c)) is not None and start <= e < end]
        store_dag("telzino_test_to_storage_hourly", DAGS)

        run = run_dag(
            "telzino_test_to_storage_hourly",
            conf={"agent_id": emu.agent_id},
            run_after=triggered,
            manual=True,
            filename=DAGS,
        )

    assert state_of(run.state) == "success"
    path = LANDING / "hourly" / "calls_20260101T110000Z_20260101T120000Z.jsonl"
    assert truth and sorted(line["id"] for line in read_lines(path)) == sorted(truth)
    assert xcom(run, "land")["window"] == [start.isoformat(), end.isoformat()]


def test_redact_masks_phone_numbers_in_what_lands(airflow_db: None, telzino_conn: TelzinoEmulator) -> None:
    now = telzino_conn.now()
    context = f"Call back on {PHONE} or +442071838750 if needed."
    telzino_conn.add_call(to_number=PHONE, created_at=now - timedelta(minutes=30), call_context=context)
    telzino_conn.add_call(to_number="+18135550503", created_at=now - timedelta(minutes=20))

    run = land(
        "telzino_test_to_storage_redacted", telzino_conn, "redacted.jsonl", now - timedelta(hours=1), now
    )

    assert state_of(run.state) == "success"
    raw = (LANDING / "redacted.jsonl").read_text()
    assert PHONE not in raw and "+442071838750" not in raw and "+18135550503" not in raw
    lines = read_lines(LANDING / "redacted.jsonl")
    assert {line["status"] for line in lines} == {"completed", "failed"}
    assert all(
        set(line) == {"id", "to_number", "status", "summary_text", "ended_at", "transcript"} for line in lines
    )
    done = next(line for line in lines if line["status"] == "completed")
    assert done["to_number"] == "+1813*****00"
    assert "+1813*****00" in done["transcript"]["summary"]  # the summary names the callee
    assert "+4420******50" in done["transcript"]["turns"][2]["text"]  # the context is read out


def test_bad_input_fails_before_any_request(telzino_conn: TelzinoEmulator, tmp_path: Path) -> None:
    cases = [
        ({"destination": str(tmp_path / "x.jsonl")}, "destination"),
        ({"destination": "file:///tmp/folder/"}, "destination"),
        ({"agent_id": "not-a-uuid"}, "agent_id"),
        ({"window_field": "answered_at"}, "window_field"),
        ({"status": "dialing"}, "status"),
        ({"fields": []}, "fields"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"destination": "file://data/calls.jsonl"}, "destination"),  # "data" would be the host
        ({"destination": "memory://bucket/calls.jsonl"}, "destination"),  # no filesystem registered
        ({"include_recordings": True, "recordings_destination": "file://data/rec"}, "recordings_destination"),
        ({"include_recordings": True, "recordings_destination": "memory://b/r"}, "recordings_destination"),
    ]
    for overrides, field in cases:
        kwargs = {"agent_id": telzino_conn.agent_id, "destination": f"file://{tmp_path}/x.jsonl", **overrides}
        with pytest.raises(TelzinoValidationError) as info:  # when built, or when run once rendered
            op = TelzinoCallsToObjectStorageOperator(task_id="land", **kwargs)  # type: ignore[arg-type]
            op.execute(make_context())
        assert info.value.field == field
    assert telzino_conn.requests == []
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("after", "before"),
    [
        ("0001-01-01T00:01:00+00:00", "0001-01-02T00:00:00+00:00"),  # call logs from 5 min before it
        ("9999-12-31T00:00:00+00:00", "9999-12-31T23:59:30+00:00"),  # call logs until an hour after
    ],
    ids=["year_1", "year_9999"],
)
def test_a_window_at_the_edge_of_the_dates_lands_its_calls(
    telzino_conn: TelzinoEmulator, tmp_path: Path, after: str, before: str
) -> None:
    # The call logs' range reaches past the representable dates: it is open on that side.
    op = TelzinoCallsToObjectStorageOperator(
        task_id="land",
        agent_id=telzino_conn.agent_id,
        destination=f"file://{tmp_path}/x.jsonl",
        window_field="created_at",
        created_after=after,
        created_before=before,
    )

    op.execute(make_context())

    assert read_lines(tmp_path / "x.jsonl") == []


def test_a_destination_that_is_an_existing_folder_fails_before_any_request(
    telzino_conn: TelzinoEmulator, tmp_path: Path
) -> None:
    (tmp_path / "landing").mkdir()
    op = TelzinoCallsToObjectStorageOperator(
        task_id="land", agent_id=telzino_conn.agent_id, destination=f"file://{tmp_path}/landing"
    )
    with pytest.raises(TelzinoValidationError, match="is a folder; name the object in it") as info:
        op.execute(make_context())
    assert info.value.field == "destination" and f"file://{tmp_path}/landing/calls.jsonl" in str(info.value)
    assert telzino_conn.requests == [] and list((tmp_path / "landing").iterdir()) == []


def test_a_recordings_destination_that_is_an_existing_file_fails_before_any_request(
    telzino_conn: TelzinoEmulator, tmp_path: Path
) -> None:
    (tmp_path / "rec").write_text("not a folder\n")
    op = TelzinoCallsToObjectStorageOperator(
        task_id="land",
        agent_id=telzino_conn.agent_id,
        destination=f"file://{tmp_path}/calls.jsonl",
        include_recordings=True,
        recordings_destination=f"file://{tmp_path}/rec/",
    )
    with pytest.raises(TelzinoValidationError, match="is a file, not a folder") as info:
        op.execute(make_context())
    assert info.value.field == "recordings_destination"
    assert telzino_conn.requests == [] and sorted(p.name for p in tmp_path.iterdir()) == ["rec"]


@pytest.mark.parametrize("workers", [2, 8])
def test_max_concurrency_lands_the_same_lines_as_one_page_after_another(
    telzino_conn: TelzinoEmulator, tmp_path: Path, workers: int
) -> None:
    """Several pages (the list's page size is 100): concurrent reads land the very same bytes."""
    now = telzino_conn.now()
    telzino_conn.seed_calls(450, start=now - timedelta(hours=6), end=now - timedelta(minutes=10))

    def land_with(max_concurrency: int, name: str) -> tuple[bytes, dict[str, Any]]:
        op = TelzinoCallsToObjectStorageOperator(
            task_id="land",
            agent_id=telzino_conn.agent_id,
            destination=f"file://{tmp_path}/{name}",
            window_field="created_at",
            created_after=now - timedelta(hours=5),
            created_before=now,
            max_concurrency=max_concurrency,
        )
        result = op.execute(make_context())
        return (tmp_path / name).read_bytes(), result

    sequential, first = land_with(1, "one.jsonl")
    concurrent, second = land_with(workers, "many.jsonl")

    assert first["calls"] > 300 and second["calls"] == first["calls"]
    assert concurrent == sequential
    assert len({json.loads(line)["id"] for line in concurrent.splitlines()}) == first["calls"]


def one_call_with_recordings(
    emu: TelzinoEmulator, tmp_path: Path, **kwargs: Any
) -> tuple[dict[str, Any], TelzinoCallsToObjectStorageOperator]:
    """One completed call, and a transfer of its window to ``tmp_path/calls.jsonl`` with its recording."""
    now = emu.now()
    call = emu.add_call(created_at=now - timedelta(minutes=30))
    op = TelzinoCallsToObjectStorageOperator(
        task_id="land",
        agent_id=emu.agent_id,
        destination=f"file://{tmp_path}/calls.jsonl",
        created_after=now - timedelta(hours=1),
        created_before=now,
        include_recordings=True,
        **kwargs,
    )
    return call, op


def test_the_recording_fetch_never_carries_the_token(telzino_conn: TelzinoEmulator, tmp_path: Path) -> None:
    _, op = one_call_with_recordings(telzino_conn, tmp_path, include_transcripts=False)

    result = op.execute(make_context())

    assert result["recordings"] == {"stored": 1, "skipped": 0, "expired": 0}
    [line] = read_lines(tmp_path / "calls.jsonl")
    assert "transcript" not in line and line["recording"]["bytes"] > 1000
    [fetch] = [r for r in telzino_conn.requests if r.path.startswith("/recordings/")]
    assert not any(name.lower() == "authorization" for name in fetch.headers)


def test_a_folder_under_a_recordings_name_fails_the_run_naming_recordings_destination(
    telzino_conn: TelzinoEmulator, tmp_path: Path
) -> None:
    # Not a stored recording to reference, and no recording could be moved into its place.
    call, op = one_call_with_recordings(telzino_conn, tmp_path, include_transcripts=False)
    (tmp_path / "recordings" / f"{call['id']}.wav").mkdir(parents=True)

    with pytest.raises(TelzinoValidationError, match="is a folder, not the recording of call") as info:
        op.execute(make_context())

    assert info.value.field == "recordings_destination"
    assert f"file://{tmp_path}/recordings/{call['id']}.wav" in str(info.value)
    assert not (tmp_path / "calls.jsonl").exists()
    assert not [r for r in telzino_conn.requests if r.path.startswith("/recordings/")]


def test_a_transient_recording_error_is_retried(telzino_conn: TelzinoEmulator, tmp_path: Path) -> None:
    _, op = one_call_with_recordings(telzino_conn, tmp_path)
    real_handle = telzino_conn._api.handle

    def flaky(request: Any) -> Any:
        if request.path.startswith("/recordings/") and not flaky.failed:  # type: ignore[attr-defined]
            flaky.failed = True  # type: ignore[attr-defined]
            telzino_conn.fail_next(1, 503)
        return real_handle(request)

    flaky.failed = False  # type: ignore[attr-defined]
    telzino_conn._api.handle = flaky  # type: ignore[method-assign]

    result = op.execute(make_context())

    assert result["recordings"]["stored"] == 1
    fetches = [r.status for r in telzino_conn.requests if r.path.startswith("/recordings/")]
    assert fetches == [503, 200]


@pytest.mark.parametrize(
    ("destination", "expected"),
    [
        ("file:///data/calls.jsonl", "file:///data/calls.jsonl"),
        ("s3://bucket/telzino/{{ ds }}/calls.jsonl.gz", "s3://bucket/telzino"),
        ("file:///data/calls_{{ ts_nodash }}.jsonl", "file:///data"),
        ("{{ var.value.target }}/calls.jsonl", None),
        ("file:///data/hourly/calls_{window_start}.jsonl", "file:///data/hourly"),
        ("s3://my_conn@bucket/telzino/{{ ds }}.jsonl", "s3://bucket/telzino"),
    ],
)
def test_the_outlet_is_the_destination_or_its_static_folder(destination: str, expected: str | None) -> None:
    asset = destination_asset(destination)
    assert (asset.uri if asset is not None else None) == (expected and Asset(expected).uri)
    op = TelzinoCallsToObjectStorageOperator(task_id="land", agent_id="x", destination=destination)
    assert [o.uri for o in op.outlets] == ([asset.uri] if asset is not None else [])


def land_directly(
    emu: TelzinoEmulator, destination: Any, start: datetime, end: datetime, **kwargs: Any
) -> Any:
    """Run the transfer's execute() once (no DAG run): for tests that land the same window twice."""
    op = TelzinoCallsToObjectStorageOperator(
        task_id="land",
        agent_id=emu.agent_id,
        destination=destination,
        created_after=start,
        created_before=end,
        **kwargs,
    )
    return op.execute(make_context())


@pytest.mark.parametrize("ttl_hours", [2.5, 0.01])
def test_a_rerun_after_links_expired_references_every_recording_already_stored(
    telzino_conn: TelzinoEmulator,
    window: tuple[datetime, datetime, list[dict]],
    tmp_path: Path,
    ttl_hours: float,
) -> None:
    """Some links expired (2.5 h) or every one (36 s): the stored audio is used whatever the link says."""
    start, end, truth = window
    completed = sorted(c["id"] for c in truth if c["status"] == "completed")
    destination = f"file://{tmp_path}/calls.jsonl"
    first = land_directly(telzino_conn, destination, start, end, include_recordings=True)
    telzino_conn.recording_ttl = ttl_hours * 3600

    second = land_directly(telzino_conn, destination, start, end, include_recordings=True)

    assert first["recordings"] == {"stored": len(completed), "skipped": 0, "expired": 0}
    assert second["recordings"] == {"stored": 0, "skipped": len(completed), "expired": 0}
    lines = read_lines(tmp_path / "calls.jsonl")
    referenced = sorted(line["id"] for line in lines if "recording" in line)
    assert referenced == completed
    for line in lines:
        if "recording" in line:
            assert (
                line["recording"]["bytes"] == (tmp_path / "recordings" / f"{line['id']}.wav").stat().st_size
            )


def test_placeholders_are_filled_in_an_object_storage_path_with_its_connection(
    telzino_conn: TelzinoEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two windows, destination and recordings folder given as ObjectStoragePath(..., conn_id=...)."""
    monkeypatch.setenv("AIRFLOW_CONN_LOCAL_FILES", json.dumps({"conn_type": "fs"}))
    now = telzino_conn.now().replace(minute=0, second=0, microsecond=0)
    telzino_conn.seed_calls(40, start=now - timedelta(hours=3), end=now - timedelta(minutes=10))
    destination = ObjectStoragePath(f"file://{tmp_path}/calls_{{window_start}}.jsonl", conn_id="local_files")
    folder = ObjectStoragePath(f"file://{tmp_path}/rec_{{window_end}}", conn_id="local_files")
    windows = [(now - timedelta(hours=2), now - timedelta(hours=1)), (now - timedelta(hours=1), now)]

    results = [
        land_directly(
            telzino_conn, destination, start, end, include_recordings=True, recordings_destination=folder
        )
        for start, end in windows
    ]

    names = sorted(p.name for p in tmp_path.iterdir())
    expected = [f"calls_{name_of(start)}.jsonl" for start, _ in windows]
    assert names == sorted([*expected, *(f"rec_{name_of(end)}" for _, end in windows)])
    assert [r["uri"] for r in results] == [f"file://{tmp_path}/{name}" for name in expected]
    assert all(r["calls"] > 0 and r["recordings"]["stored"] > 0 for r in results)
    filled = name_for_window(
        "destination",
        destination,
        CallWindow.build(
            status=None,
            window_field="ended_at",
            created_after=windows[0][0],
            created_before=windows[0][1],
            lookback=timedelta(hours=6),
        ),
    )
    assert isinstance(filled, ObjectStoragePath) and str(filled).startswith("file://local_files@/")


def test_windows_that_differ_in_seconds_land_in_objects_of_their_own(
    telzino_conn: TelzinoEmulator, tmp_path: Path
) -> None:
    """Manual runs with fallback_interval a few seconds apart: one readable name per window."""
    now = telzino_conn.now().replace(second=0, microsecond=0) - timedelta(seconds=10)  # ends in one minute
    telzino_conn.seed_calls(30, start=now - timedelta(hours=2), end=now - timedelta(minutes=1))
    ends = [
        now - timedelta(seconds=40),
        now - timedelta(seconds=10),
        now - timedelta(seconds=10, microseconds=250),
    ]
    destination = f"file://{tmp_path}/calls_{{window_start}}_{{window_end}}.jsonl"

    for end in ends:
        land_directly(telzino_conn, destination, end - timedelta(hours=1), end)

    names = sorted(p.name for p in tmp_path.iterdir())
    assert len(names) == len(ends)
    assert names[-1] == f"calls_{name_of(ends[1] - timedelta(hours=1))}_{name_of(ends[1])}.jsonl"
    assert name_of(ends[1]) == ends[1].strftime("%Y%m%dT%H%M%SZ")  # readable: seconds, no fraction
    assert name_of(ends[2]) == ends[2].strftime("%Y%m%dT%H%M%S.%fZ")  # a fraction only when there is one


def test_a_lone_surrogate_from_the_api_lands_as_a_replacement_character(
    telzino_conn: TelzinoEmulator, tmp_path: Path
) -> None:
    """Valid JSON "\\ud83d" (half an emoji from a UTF-16 producer) in a transcript: the line lands."""
    now = telzino_conn.now()
    telzino_conn.add_call(created_at=now - timedelta(minutes=30), call_context="Say hi \ud83d")
    telzino_conn.add_call(created_at=now - timedelta(minutes=20), call_context="Plain \U0001f600 text")

    result = land_directly(telzino_conn, f"file://{tmp_path}/calls.jsonl", now - timedelta(hours=1), now)

    raw = (tmp_path / "calls.jsonl").read_bytes()
    assert result["calls"] == 2 and raw.count(b"\n") == 2
    lines = [json.loads(line) for line in raw.decode("utf-8").splitlines()]  # strict UTF-8 throughout
    texts = [json.dumps(line, ensure_ascii=False) for line in lines]
    assert "Say hi \ufffd" in texts[1] and "\ud83d" not in texts[1]
    assert "Plain \U0001f600 text" in texts[0] and "\ufffd" not in texts[0]  # a whole emoji is kept


@pytest.mark.parametrize("window_field", ["ended_at", "created_at"])
def test_an_old_window_reads_about_as_many_call_log_pages_as_a_recent_one(
    telzino_conn: TelzinoEmulator, tmp_path: Path, window_field: str
) -> None:
    """80 hours of calls: the hour 70 hours back costs the call-log pages of the last hour, plus 2."""
    now = telzino_conn.now()
    telzino_conn.seed_calls(2_400, start=now - timedelta(hours=80), end=now - timedelta(minutes=10))

    def call_log_requests(hours_back: int) -> int:
        end = now - timedelta(hours=hours_back - 1)
        telzino_conn.clear_requests()
        result = land_directly(
            telzino_conn,
            f"file://{tmp_path}/calls_{hours_back}.jsonl",
            end - timedelta(hours=1),
            end,
            window_field=window_field,
            lookback=timedelta(hours=1),
        )
        assert result["calls"] > 10
        return sum("/call-logs" in r.path for r in telzino_conn.requests)

    recent, old = call_log_requests(2), call_log_requests(70)

    assert old <= recent + 2, (recent, old)


def test_the_outlet_of_an_object_storage_path_with_placeholders_is_its_folder() -> None:
    path = ObjectStoragePath("file:///data/hourly/calls_{window_start}.jsonl", conn_id="local_files")
    asset = destination_asset(path)
    assert asset is not None and asset.uri == Asset("file:///data/hourly").uri


def test_settle_lands_a_window_only_once_it_ended_that_long_ago(
    telzino_conn: TelzinoEmulator, tmp_path: Path
) -> None:
    """The same rule as the list operator's (tests/operators/test_list_get.py has the late call)."""
    end = datetime.now(timezone.utc)
    began = time.monotonic()

    result = land_directly(
        telzino_conn, f"file://{tmp_path}/calls.jsonl", end - timedelta(hours=1), end, settle=1.5
    )

    assert time.monotonic() - began >= 1.4  # it waited for the window to settle before reading
    assert result["calls"] == 0 and (tmp_path / "calls.jsonl").exists()
