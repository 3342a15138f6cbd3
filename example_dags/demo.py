"""``make demo``: the example DAGs end to end against a local Telzino emulator.

Starts the emulator (seeded calls, a clock 60x faster than real time), uses an Airflow home under
.demo/ (one per Airflow version) with SQLite, runs ``airflow dags test`` for
telzino_sync_completed_calls (on the last full hour), telzino_call_and_wait, and
telzino_calls_to_storage (the same hour, into .demo/storage/) followed by the summary DAG scheduled on
its Asset, prints what came through (for the landing: path, calls, bytes, recordings), and stops
the emulator whatever happens. Exit status 0 only if every step succeeded. Airflow's own output goes
to .demo/logs/.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / ".demo"
AIRFLOW_VERSION = version("apache-airflow")
AIRFLOW_MAJOR = int(AIRFLOW_VERSION.split(".")[0])
HOME = DEMO / f"airflow-home-{AIRFLOW_VERSION}"  # one per version: a DB migrated by 3.x is no use to 2.x
LOGS = DEMO / "logs"
AIRFLOW = Path(sys.executable).parent / "airflow"
SYNC, CALL = "telzino_sync_completed_calls", "telzino_call_and_wait"
LAND, SUMMARY = "telzino_calls_to_storage", "telzino_calls_storage_summary"
STORAGE = DEMO / "storage"
EMULATOR_ARGS = ["--port", "0", "--seed-calls", "48", "--seed-hours", "3", "--speed", "60"]


def start_emulator() -> tuple[subprocess.Popen, dict[str, str]]:
    """The emulator in its own process; returns it and its banner (``name: value`` lines)."""
    log = LOGS / "emulator.log"
    with log.open("w") as out:  # a file, not a pipe: a pipe nobody reads could block the emulator
        proc = subprocess.Popen(
            [sys.executable, "-m", "telzino_provider.emulator", *EMULATOR_ARGS], stdout=out, stderr=out
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        banner = {}
        for line in log.read_text().splitlines():
            env_line = line.startswith("AIRFLOW_CONN_")
            name, sep, value = line.partition("=") if env_line else line.partition(": ")
            if sep:
                banner[name] = value
        if "AIRFLOW_CONN_TELZINO_DEFAULT" in banner:  # the banner's last line: it is complete
            return proc, banner
        time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"The emulator did not start; see {log}")


def airflow_env(banner: dict[str, str]) -> dict[str, str]:
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "example_dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{HOME / 'airflow.db'}",
        # The connection and the agent come from the environment, as they could in a deployment.
        "AIRFLOW_CONN_TELZINO_DEFAULT": banner["AIRFLOW_CONN_TELZINO_DEFAULT"].strip("'"),
        "AIRFLOW_VAR_TELZINO_AGENT_ID": banner["agent_id"],
        "AIRFLOW_VAR_TELZINO_STORAGE_URL": f"file://{STORAGE}",
    }
    if AIRFLOW_MAJOR < 3:
        env["AIRFLOW__CORE__EXECUTOR"] = "SequentialExecutor"  # SQLite; resumes deferred tasks
    return env


def run(label: str, args: list[str], env: dict[str, str], log_name: str) -> bool:
    """One Airflow CLI command, its output in .demo/logs/; prints a status line."""
    log = LOGS / f"{log_name}.log"
    started = time.monotonic()
    with log.open("w") as out:
        code = subprocess.call([str(AIRFLOW), *args], env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    status = "ok" if code == 0 else "FAILED"
    print(f"  {status:<6} {time.monotonic() - started:5.1f} s  {label}", flush=True)
    if code:  # the errors only; the whole story is in the log
        lines = log.read_text().splitlines()
        errors = [line.strip() for line in lines if "Error: " in line or "Exception: " in line]
        for line in dict.fromkeys(errors[-3:] or lines[-15:]):
            print(f"    {line[:300]}")
        print(f"    full log: {rel(log)}")
    return code == 0


def latest_run(env: dict[str, str], dag_id: str) -> tuple[str, dict[str, Any]]:
    """State and return values of the DAG's newest run, read from the demo's metadata DB."""
    os.environ.update(env)  # before Airflow is first imported in this process
    warnings.simplefilter("ignore")  # Airflow 2's deprecation notices are not the demo's output
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    if AIRFLOW_MAJOR >= 3:
        from airflow.models.xcom import XComModel as XCom
    else:
        from airflow.models.xcom import XCom  # type: ignore[no-redef]

    with create_session() as session:
        dr = session.query(DagRun).filter(DagRun.dag_id == dag_id).order_by(DagRun.id.desc()).first()
        if dr is None:
            return "missing", {}
        rows = session.query(XCom).filter_by(dag_id=dag_id, run_id=dr.run_id, key="return_value")
        # Airflow 2 deserializes XCom rows when it loads them.
        read = XCom.deserialize_value if AIRFLOW_MAJOR >= 3 else lambda row: row.value
        values = {row.task_id: read(row) for row in rows}
        return str(getattr(dr.state, "value", dr.state)), values


def table(rows: list[dict[str, Any]]) -> None:
    from telzino_provider.redaction import mask_phone

    print(f"  {'CALL ID':<36}  {'NUMBER':<12}  {'STATUS':<9}  {'DURATION':>8}  SUMMARY")
    for row in rows:
        summary = (row.get("summary_text") or row.get("summary") or "").splitlines()
        print(
            f"  {row['id']:<36}  {mask_phone(row['to_number']):<12}  {row['status']:<9}  "
            f"{minutes(row['duration']):>8}  {summary[0] if summary else '-'}"
        )


def minutes(seconds: float | None) -> str:
    return "-" if seconds is None else f"{int(seconds) // 60}m {int(seconds) % 60:02d}s"


def rel(path: Path | str) -> str:
    return os.path.relpath(path, ROOT)


def show_sync(env: dict[str, str]) -> bool:
    state, values = latest_run(env, SYNC)
    summary = values.get("summarize")
    if state != "success" or not summary:
        print(f"\n{SYNC}: run {state}")
        return False
    start, end = (datetime.fromisoformat(t).strftime("%Y-%m-%d %H:%M") for t in summary["interval"])
    print(f"\n{SYNC}: {summary['calls']} calls ended in [{start}, {end}) UTC")
    path = Path(summary["path"])
    table([json.loads(line) for line in path.read_text().splitlines()])
    outcomes = ", ".join(f"{k} {v}" for k, v in summary["outcomes"].items()) or "none"
    mean = minutes(summary["mean_duration_s"])
    print(f"  total {minutes(summary['total_duration_s'])}, mean {mean}; outcomes: {outcomes}; ", end="")
    print(f"transcripts missing: {summary['missing_transcripts']}\n  written to {rel(path)}")
    if not summary["calls"]:  # the demo seeds calls into this interval; none means something broke
        print("  FAILED: no calls came through, although the emulator seeded calls into this interval")
    return summary["calls"] > 0


def show_call(env: dict[str, str]) -> bool:
    state, values = latest_run(env, CALL)
    outcome, placed = values.get("read_outcome"), values.get("place_call")
    if state != "success" or not outcome or not placed:
        print(f"\n{CALL}: run {state}")
        return False
    print(f"\n{CALL}: placed a call for {outcome['crm_id']} and waited for its outcome (deferrable)")
    table([{**outcome, "id": outcome["call_id"], "to_number": placed["to_number"]}])
    return outcome["status"] == "completed"


def show_landing(env: dict[str, str]) -> bool:
    state, values = latest_run(env, LAND)
    landed = values.get("land_calls")
    if state != "success" or not landed:
        print(f"\n{LAND}: run {state}")
        return False
    start, end = (datetime.fromisoformat(t).strftime("%Y-%m-%d %H:%M") for t in landed["window"])
    recordings = landed["recordings"]
    print(f"\n{LAND}: {landed['calls']} calls that ended in [{start}, {end}) UTC landed in object storage")
    print(f"  {rel(landed['uri'].removeprefix('file://'))}: {landed['bytes']:,} bytes (JSON Lines, gzip)")
    print(
        f"  recordings: {recordings['stored']} stored, {recordings['skipped']} skipped (already there), "
        f"{recordings['expired']} expired, in {rel(STORAGE / 'calls' / 'recordings')}/"
    )
    state, values = latest_run(env, SUMMARY)
    summary = values.get("summarize_landing")
    if state != "success" or not summary:
        print(f"{SUMMARY}: run {state}")
        return False
    talk = minutes(summary["talk_seconds"])
    statuses = ", ".join(f"{k} {v}" for k, v in summary["by_status"].items()) or "none"
    print(f"{SUMMARY} (scheduled on the Asset) read it back: {summary['calls']} calls; ", end="")
    print(f"{statuses}; talk {talk}")
    return landed["calls"] > 0 and summary["calls"] == landed["calls"]


def main() -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so `finally` stops the emulator
    LOGS.mkdir(parents=True, exist_ok=True)
    HOME.mkdir(parents=True, exist_ok=True)
    emulator, banner = start_emulator()
    try:
        env = airflow_env(banner)
        print(f"Telzino emulator at {banner['base_url']}: agent {banner['agent_id']}, ", end="")
        print(f"{banner['seeded_calls']} seeded calls, clock x60")
        print(f"Airflow {AIRFLOW_VERSION}, home {rel(HOME)} (SQLite), DAGs from example_dags/, ", end="")
        print(f"logs in {rel(LOGS)}/")
        hour = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0).isoformat()
        ok = run("airflow db migrate", ["db", "migrate"], env, "db-migrate")
        if ok:  # both DAGs run and are reported even if the first fails
            synced = run(f"airflow dags test {SYNC} {hour}", ["dags", "test", SYNC, hour], env, SYNC)
            called = run(f"airflow dags test {CALL}", ["dags", "test", CALL], env, CALL)
            # The DAGs and their Assets in the database, as a DAG processor keeps them (Airflow 2
            # records an asset event only for a dataset it knows).
            listed = run("airflow dags reserialize", ["dags", "reserialize"], env, "dags-reserialize")
            landed = run(f"airflow dags test {LAND} {hour}", ["dags", "test", LAND, hour], env, LAND)
            summed = run(f"airflow dags test {SUMMARY}", ["dags", "test", SUMMARY], env, SUMMARY)
            shown = [show_sync(env), show_call(env), show_landing(env)]
            ok = all([synced, called, listed, landed, summed, *shown])
    finally:
        emulator.terminate()
        try:
            emulator.wait(timeout=10)
        except subprocess.TimeoutExpired:
            emulator.kill()
    print("\nDemo " + ("succeeded." if ok else "FAILED."))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
