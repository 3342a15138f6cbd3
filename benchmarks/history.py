"""Benchmark 6: requests that follow the window, not the account's history.

Each size is an agent whose history holds ``count`` completed calls (so as many call logs), ``per_day``
of them a day, ending now; the newest hours are the same calls at every size (see the emulator
server's ``history``). Call logs are listed a minute after their call ended, as the docs allow, so the
calls that ended in the last minute have no transcript listed yet. Two figures per size, counted in the
emulator's request log:

* **Transcript join**: the completed calls that ended in the last hour (the list operator's
  ``window_field="ended_at"`` window), then ``get_call_transcripts`` for them. Target: call-log
  requests <= ceil(calls / 100) + 2, at every size. The *unbounded* row is the same join without the
  bound (``get_transcripts`` by ids alone): it reads every page of call logs when a transcript is
  not listed yet.
* **Sync example, one hourly run**: the API work of ``telzino_sync_completed_calls`` (its list task
  and its ``write_jsonl`` task, built from the DAG file itself) for the last hour. Target: the same
  number of requests at every size. The *rerun* row runs it for the hour that ended two days ago
  (no target): the pages newer than that hour are skipped by a search, about 2 log2(pages) requests,
  instead of read.
"""

from __future__ import annotations

import importlib.util
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

from benchmarks.common import (
    PAGE_SIZE,
    TELZINO_CONN_ID,
    EmulatorProcess,
    calls_path,
    connection_env,
    environment,
    logs_path,
)

SYNC_DAG = Path(__file__).resolve().parent.parent / "example_dags" / "telzino_sync_completed_calls.py"
LOG_DELAY_S = 60.0
#: How long ago the hour of the *rerun* row ended (a rerun, catchup or backfill of an old interval).
RERUN_AGE = timedelta(days=2)


def join_target(calls: int) -> int:
    """At most the pages of the calls asked about, plus two."""
    return -(-calls // PAGE_SIZE) + 2


def run(
    server: EmulatorProcess, *, counts: tuple[int, ...] = (10_000, 100_000), per_day: int = 3_333
) -> dict[str, Any]:
    sync_dag = _load(SYNC_DAG)
    by_count: dict[str, Any] = {}
    with environment(connection_env(server)):
        for count in counts:
            made = server.call("history", count=count, per_day=per_day, log_delay=LOG_DELAY_S)
            agent, now = made["agent_id"], datetime.fromisoformat(made["now"])
            by_count[str(count)] = {
                "join": _join(server, agent, now),
                "sync": _sync_run(server, sync_dag, agent, now),
                "rerun": _sync_run(server, sync_dag, agent, now - RERUN_AGE),
            }
    joins = [entry["join"] for entry in by_count.values()]
    syncs = [entry["sync"]["requests"] for entry in by_count.values()]
    return {
        "counts": list(counts),
        "per_day": per_day,
        "log_delay_s": LOG_DELAY_S,
        "by_count": by_count,
        "join_met": all(j["log_requests"] <= j["target"] for j in joins),
        "sync_flat": len(set(syncs)) == 1,
    }


def _join(server: EmulatorProcess, agent: str, now: datetime) -> dict[str, Any]:
    from telzino_provider.hooks.telzino import TelzinoHook
    from telzino_provider.windows import CallWindow, list_window

    window = CallWindow.build(
        status="completed",
        window_field="ended_at",
        created_after=now - timedelta(hours=1),
        created_before=now,
        lookback=timedelta(hours=6),
    )
    hook = TelzinoHook(telzino_conn_id=TELZINO_CONN_ID)
    try:
        server.clear()
        calls = list_window(hook, agent, window)
        list_requests = server.count("GET", calls_path(agent))
        server.clear()
        found = hook.get_call_transcripts(agent, calls)
        log_requests = server.count("GET", logs_path(agent))
        server.clear()
        unbounded = hook.get_transcripts(agent, [call["transcript_id"] for call in calls])
        unbounded_requests = server.count("GET", logs_path(agent))
    finally:
        hook.close()
    if set(unbounded) != set(found):
        raise AssertionError("the bounded join found other transcripts than the unbounded one")
    return {
        "calls": len(calls),
        "found": len(found),
        "not_listed_yet": len(calls) - len(found),
        "list_requests": list_requests,
        "log_requests": log_requests,
        "target": join_target(len(calls)),
        "unbounded_log_requests": unbounded_requests,
    }


def _sync_run(server: EmulatorProcess, dag_module: ModuleType, agent: str, end: datetime) -> dict[str, Any]:
    """The API work of one run of the sync example for the hour that ends at ``end``."""
    from telzino_provider.operators.telzino import TelzinoListOutboundCallsOperator

    start = end - timedelta(hours=1)
    listed = dag_module.dag.get_task("list_finished_calls")
    list_task = TelzinoListOutboundCallsOperator(
        task_id="list_finished_calls",
        agent_id=agent,
        status=listed.status,
        window_field=listed.window_field,
        lookback=listed.lookback,
        fields=listed.fields,
        created_after=start,
        created_before=end,
        telzino_conn_id=TELZINO_CONN_ID,
    )
    server.clear()
    ti = _XComOnly()
    calls = list_task.execute(context={"ti": ti})  # type: ignore[arg-type]
    with tempfile.TemporaryDirectory(prefix="telzino-bench-sync-") as out:
        written = dag_module.write_jsonl.function(
            calls, agent_id=agent, conn_id=TELZINO_CONN_ID, output_dir=out, ti=ti
        )
    return {
        "calls": len(calls),
        "missing_transcripts": written["missing_transcripts"],
        "list_requests": server.count("GET", calls_path(agent)),
        "log_requests": server.count("GET", logs_path(agent)),
        "requests": server.count(),
    }


class _XComOnly:
    """The part of a task instance the sync example's tasks use: XCom by key (the list task's window)."""

    def __init__(self) -> None:
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value

    def xcom_pull(self, task_ids: str, key: str) -> Any:
        return self.xcoms[key]


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
