"""The scenarios: each drives the deployment like a user and checks the outcome through the REST API,
the metastore or the emulator's request log, and returns the figures it prints."""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from e2e.deployment import ROOT, AirflowDeployment
from e2e.processes import SetupError
from telzino_provider.emulator import TelzinoEmulator
from telzino_provider.emulator.records import OUTCOME_NUMBERS

CALL_AND_WAIT = "telzino_call_and_wait"
EXAMPLES = [
    CALL_AND_WAIT,
    "telzino_completed_calls_fanout",
    "telzino_sync_completed_calls",
    "telzino_calls_to_storage",
    "telzino_calls_storage_summary",  # by hand: reads the newest landing, or says none has landed
]
CATCHUP = "telzino_sync_catchup"
BURST = "telzino_call_and_wait_burst"
CAMPAIGN = "telzino_e2e_campaign"
WORKER_CRASH = "telzino_e2e_worker_crash"
CALLS_PATH = "/outbound-calls"  # every route about outbound calls contains it
FAST = 60.0  # emulated seconds per real second while a scenario waits for calls to end


@dataclass
class Harness:
    """What every scenario works with."""

    deployment: AirflowDeployment
    emulator: TelzinoEmulator


class RequestWindow:
    """The emulator's requests made between the window's start and :meth:`records`."""

    def __init__(self, emulator: TelzinoEmulator) -> None:
        self.emulator = emulator
        self.start = len(emulator.requests)

    def records(self) -> list[Any]:
        return self.emulator.requests[self.start :]

    def posts(self) -> list[Any]:
        return [r for r in self.records() if r.method == "POST" and CALLS_PATH in r.path]

    def calls_api(self) -> int:
        return sum(1 for r in self.records() if CALLS_PATH in r.path or "/call-logs" in r.path)


def crm_id(record: Any) -> str | None:
    return ((record.body or {}).get("metadata") or {}).get("crm_id")


# -- 1 ------------------------------------------------------------------------------------------
def manual_runs(h: Harness) -> dict[str, Any]:
    """Every example DAG triggered by hand with no conf succeeds."""
    api = h.deployment.api
    window = RequestWindow(h.emulator)
    started = time.monotonic()
    runs = {}
    for dag_id in EXAMPLES:
        api.unpause(dag_id)
        runs[dag_id] = api.trigger(dag_id, run_id=f"e2e_manual_{dag_id}")
    states = {d: api.wait_runs(d, [r], timeout=600)[r] for d, r in runs.items()}
    failed = {d: api.task_states(d, runs[d]) for d, s in states.items() if s != "success"}
    assert not failed, f"manual runs failed: {failed}{scheduler_errors(h, list(failed))}"
    posts = window.posts()
    assert len(posts) == 1, f"the call-and-wait run placed {len(posts)} calls, expected 1"
    outcome = api.xcom(CALL_AND_WAIT, runs[CALL_AND_WAIT], "read_outcome")
    assert outcome["status"] == "completed", outcome
    landed = api.xcom("telzino_calls_to_storage", runs["telzino_calls_to_storage"], "land_calls")
    assert landed["uri"].startswith("file://") and landed["calls"] >= 0, landed
    return {
        "dags": len(runs),
        "time_s": round(time.monotonic() - started, 1),
        "posts": len(posts),
        "api_requests": window.calls_api(),
        # 1 unless Airflow's deferral race (docs/running-in-production.md) cost the wait a retry
        "wait_tries": api.try_number(CALL_AND_WAIT, runs[CALL_AND_WAIT], "wait_for_outcome"),
    }


def scheduler_errors(h: Harness, dag_ids: list[str], limit: int = 5) -> str:
    """The scheduler log's error lines about ``dag_ids`` (the last ``limit``), to say why runs failed."""
    log = h.deployment.procs.log_dir / "scheduler.log"
    if not log.exists():
        return ""
    lines = [
        line.strip()[:400]
        for line in log.read_text(errors="replace").splitlines()
        if ("[error" in line or " ERROR " in line) and any(d in line for d in dag_ids)
    ]
    return "".join(f"\n    scheduler: {line}" for line in lines[-limit:])


def executor_successes(h: Harness, dag_id: str) -> int:
    """How many executor events with state success the scheduler has logged for ``dag_id``'s tasks
    (a deferring task's process ends with one, as does a finished task)."""
    log = h.deployment.procs.log_dir / "scheduler.log"
    if not log.exists():
        return 0
    marker = f"Received executor event with state success for task instance TaskInstanceKey(dag_id='{dag_id}'"
    return log.read_text(errors="replace").count(marker)


# -- 2 ------------------------------------------------------------------------------------------
def example_variant(name: str, replacements: dict[str, str]) -> str:
    """The source of ``example_dags/<name>.py`` with each ``old`` replaced by ``new`` exactly once."""
    text = (ROOT / "example_dags" / f"{name}.py").read_text()
    for old, new in replacements.items():
        if text.count(old) != 1:
            raise SetupError(f"example_dags/{name}.py no longer has `{old}` once")
        text = text.replace(old, new)
    return text


def generated_dags(catchup_start: datetime) -> dict[str, str]:
    """Copies of examples the scenarios need with a setting changed, by file name."""
    when = f"{catchup_start.year}, {catchup_start.month}, {catchup_start.day}, {catchup_start.hour}"
    return {
        # Scenario 2: the sync example with catchup on and a start three hours back.
        f"{CATCHUP}.py": example_variant(
            "telzino_sync_completed_calls",
            {
                'dag_id="telzino_sync_completed_calls"': f'dag_id="{CATCHUP}"',
                "catchup=False": "catchup=True",
                "start_date=datetime(2024, 1, 1, tzinfo=timezone.utc)": (
                    f"start_date=datetime({when}, tzinfo=timezone.utc)"
                ),
            },
        ),
        # Scenario 3: the call-and-wait example allowing 32 runs at once. Airflow 3.0 ignores
        # [core] max_active_runs_per_dag and caps every DAG at 16 unless the DAG says otherwise.
        f"{BURST}.py": example_variant(
            CALL_AND_WAIT,
            {
                f'dag_id="{CALL_AND_WAIT}"': f'dag_id="{BURST}"',
                "schedule=None,": "schedule=None,\n    max_active_runs=32,",
            },
        ),
    }


def catchup(h: Harness, start: datetime) -> dict[str, Any]:
    """Three past hourly intervals scheduled by the scheduler deliver every call that ended in them, once."""
    api = h.deployment.api
    started = time.monotonic()
    api.unpause(CATCHUP)
    intervals = [start + timedelta(hours=i) for i in range(3)]
    deadline = time.monotonic() + 600
    mine: dict[str, str] = {}
    while time.monotonic() < deadline:
        runs = api.runs(CATCHUP)
        mine = {
            r["dag_run_id"]: r["data_interval_start"]
            for r in runs
            if _hour(r["data_interval_start"]) in intervals
        }
        if len(mine) == 3:
            break
        time.sleep(2)
    assert len(mine) == 3, f"the scheduler created {len(mine)} of the 3 catchup runs"
    states = api.wait_runs(CATCHUP, list(mine), timeout=600)
    assert all(s == "success" for s in states.values()), states
    delivered: list[str] = []
    for run_id in mine:
        summary = api.xcom(CATCHUP, run_id, "summarize")
        lines = Path(summary["path"]).read_text().splitlines()
        delivered += [json.loads(line)["id"] for line in lines]
    window_end = intervals[0] + timedelta(hours=3)
    truth = {
        c["id"]
        for c in h.emulator.calls()
        if c["status"] == "completed" and c["ended_at"] and intervals[0] <= _parse(c["ended_at"]) < window_end
    }
    twice = [cid for cid, n in Counter(delivered).items() if n > 1]
    assert not twice, f"delivered more than once: {twice}"
    assert set(delivered) == truth, f"missing {truth - set(delivered)}, extra {set(delivered) - truth}"
    return {"runs": 3, "calls_delivered": len(delivered), "time_s": round(time.monotonic() - started, 1)}


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _hour(text: str | None) -> datetime | None:
    return _parse(text).astimezone(timezone.utc) if text else None


# -- 3 ------------------------------------------------------------------------------------------
OUTCOMES_3 = ["completed"] * 12 + ["no_answer"] * 4 + ["busy"] * 4 + ["failed"] * 4


def triggerer_crash(h: Harness, restart_triggerer: Any) -> dict[str, Any]:
    """24 waits deferred, the triggerer SIGKILLed and replaced: every wait ends right, one POST each."""
    api = h.deployment.api
    emu = h.emulator
    window = RequestWindow(emu)
    started = time.monotonic()
    api.unpause(BURST)
    emu.speed = 0  # calls stay in progress until the triggerer has been replaced
    expected = {}
    for i, outcome in enumerate(OUTCOMES_3):
        crm = f"E2E3-{i:02d}"
        conf = {"to_number": OUTCOME_NUMBERS[outcome], "crm_id": crm}
        expected[api.trigger(BURST, conf, run_id=f"e2e_crash_{crm}")] = (crm, outcome)
    deferred = 0
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        deferred = sum(
            1 for run_id in expected if api.task_states(BURST, run_id).get("wait_for_outcome") == "deferred"
        )
        if deferred >= 20:
            break
        time.sleep(2)
    assert deferred >= 20, f"only {deferred} waits deferred"
    in_flight_s = round(time.monotonic() - started, 1)
    restart_triggerer()
    emu.speed = FAST
    states = api.wait_runs(BURST, list(expected), timeout=600)
    truth = {((c.get("request_metadata") or {}).get("crm_id")): c["status"] for c in emu.calls()}
    wrong = {}
    for run_id, (crm, outcome) in expected.items():
        want = "success" if outcome == "completed" else "failed"  # the run's state and the wait's
        tis = api.task_states(BURST, run_id)
        if states[run_id] != want or tis.get("wait_for_outcome") != want or truth.get(crm) != outcome:
            wrong[run_id] = (outcome, states[run_id], tis, truth.get(crm))
    assert not wrong, f"wrong outcomes: {wrong}"
    posts = Counter(crm_id(r) for r in window.posts() if (crm_id(r) or "").startswith("E2E3-"))
    assert all(posts[crm] == 1 for crm, _ in expected.values()), f"POSTs per call: {dict(posts)}"
    assert sum(posts.values()) == len(expected), f"{sum(posts.values())} POSTs for {len(expected)} calls"
    return {
        "waits_deferred_at_kill": deferred,
        "runs": len(expected),
        "posts": sum(posts.values()),
        "requests_per_call": round(window.calls_api() / len(expected), 1),
        "time_to_defer_s": in_flight_s,
        "time_s": round(time.monotonic() - started, 1),
    }


# -- 5 ------------------------------------------------------------------------------------------
def campaign(h: Harness) -> dict[str, Any]:
    """One run, 100 mapped create-and-wait tasks deferred: all succeed, exactly 100 POSTs."""
    api = h.deployment.api
    window = RequestWindow(h.emulator)
    started = time.monotonic()
    api.unpause(CAMPAIGN)
    # Calls last minutes in real life. With the fast clock a call could end within a second of its
    # task deferring, before the scheduler has processed the deferral, and Airflow then fails the task
    # ("finished with state success, but the task instance's state attribute is queued"). The clock
    # stands still until all 100 wait, as real calls would still be ringing, and until the scheduler
    # has taken in the executor's event for each deferring process: a task shows as deferred in the
    # database seconds before a busy scheduler has processed that event.
    h.emulator.speed = 0
    run_id = api.trigger(CAMPAIGN, run_id="e2e_campaign")
    count = "SELECT count(*) FROM task_instance WHERE dag_id = %s AND run_id = %s AND state = 'deferred'"
    _until(lambda: h.deployment.metastore_value(count, (CAMPAIGN, run_id)) == 100, "100 deferred", 1200)
    _until(lambda: executor_successes(h, CAMPAIGN) >= 100, "the scheduler to see 100 deferrals", 300)
    all_deferred = round(time.monotonic() - started, 1)
    h.emulator.speed = FAST
    state = api.wait_runs(CAMPAIGN, [run_id], timeout=1200)[run_id]
    wall = round(time.monotonic() - started, 1)
    tis = api.task_states(CAMPAIGN, run_id)
    assert state == "success", f"campaign run {state}: {Counter(tis.values())}"
    assert len(tis) == 100 and set(tis.values()) == {"success"}, Counter(tis.values())
    posts = [r for r in window.posts() if (crm_id(r) or "").startswith("CAMPAIGN-")]
    crms = Counter(crm_id(r) for r in posts)
    assert len(posts) == 100 and len(crms) == 100, f"{len(posts)} POSTs for {len(crms)} distinct calls"
    return {
        "tasks": len(tis),
        "posts": len(posts),
        "requests_per_call": round(window.calls_api() / 100, 2),
        "all_deferred_after_s": all_deferred,
        "wall_s": wall,
    }


# -- 4 ------------------------------------------------------------------------------------------
HOLD_S = 30  # long enough to kill the task first, short enough to wait out


def worker_crash(h: Harness) -> dict[str, Any]:
    """The create request reached the API, then the task's process dies: the retry adopts the call."""
    api = h.deployment.api
    emu = h.emulator
    window = RequestWindow(emu)
    started = time.monotonic()
    api.unpause(WORKER_CRASH)
    emu.hold_next_create(HOLD_S, record_first=True)  # records the call, then holds the answer
    run_id = api.trigger(WORKER_CRASH, run_id="e2e_worker_crash")
    _until(lambda: _calls_for(emu, "CRASH-1"), "the call to be recorded", timeout=600)
    pid = h.deployment.metastore_value(
        "SELECT pid FROM task_instance WHERE dag_id = %s AND run_id = %s AND task_id = 'place_call'",
        (WORKER_CRASH, run_id),
    )
    assert pid, "the running task has no pid in the metastore"
    os.kill(int(pid), signal.SIGKILL)
    killed_at = time.monotonic()
    state = api.wait_runs(WORKER_CRASH, [run_id], timeout=600)[run_id]
    tries = api.try_number(WORKER_CRASH, run_id, "place_call")
    calls = _calls_for(emu, "CRASH-1")
    # The emulator logs a request once it has answered: the held one, HOLD_S after it arrived.
    _until(lambda: time.monotonic() - killed_at > HOLD_S + 2, "the held answer to be logged", HOLD_S + 5)
    posts = [r for r in window.posts() if crm_id(r) == "CRASH-1"]
    assert state == "success", f"run {state} after the crash"
    assert len(calls) == 1 and len(posts) == 1, (
        f"{len(calls)} calls, {len(posts)} POSTs; expected one of each"
    )
    assert tries >= 2, f"try_number {tries}: the task was not retried"
    return {
        "calls": len(calls),
        "posts": len(posts),
        "tries": tries,
        "recovery_s": round(time.monotonic() - killed_at, 1),
        "time_s": round(time.monotonic() - started, 1),
    }


def _calls_for(emu: TelzinoEmulator, crm: str) -> list[dict[str, Any]]:
    return [c for c in emu.calls() if (c.get("request_metadata") or {}).get("crm_id") == crm]


def _until(probe: Any, what: str, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"waited {timeout:.0f} s for {what}")


# -- 6 ------------------------------------------------------------------------------------------
def connection_form(h: Harness, apt: Any) -> dict[str, Any]:
    """The Telzino form in Chromium: its fields, Test Connection good and bad, and a DAG using it."""
    from e2e import browser

    browser.ensure_chromium(apt)
    started = time.monotonic()
    dep = h.deployment
    shots = dep.folder / "screenshots"
    tests = browser.connection_form(dep.base_url, dep.password, dep.api.token, h.emulator, shots)
    good, bad = tests["telzino_ui"], tests["telzino_ui_bad"]
    assert good["status"] is True and browser.GOOD_MESSAGE in good["message"], good
    assert bad["status"] is False and browser.BAD_MESSAGE in bad["message"], bad
    window = RequestWindow(h.emulator)
    api = dep.api
    api.unpause(CALL_AND_WAIT)
    conf = {"telzino_conn_id": "telzino_ui", "crm_id": "E2E6-FORM"}
    run_id = api.trigger(CALL_AND_WAIT, conf, run_id="e2e_form_connection")
    state = api.wait_runs(CALL_AND_WAIT, [run_id], timeout=600)[run_id]
    assert state == "success", f"the run with the form's connection {state}"
    assert len(window.posts()) == 1, f"{len(window.posts())} POSTs"
    return {
        "good_test": good["message"][:60],
        "bad_test": bad["message"][:60],
        "airflow_73298_workaround": bool(good.get("airflow_73298")),
        "screenshots": len(list(shots.glob("*.png"))),
        "time_s": round(time.monotonic() - started, 1),
    }
