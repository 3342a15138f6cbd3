"""Benchmark 6: requests per placed call, on an agent with a long history.

``creates`` first tries of the create operator (distinct task instances) on an agent that already
has ``history`` calls from the last 30 days: each must send exactly one POST and no list request,
whatever the history. Then a retry (try 2) of ``retries`` of them, run straight after: each looks for
the call its first try placed, reading only calls created since the run became due (here: the
``creates`` new calls, newest first, until its own), and adopts it without a POST; its requests are
reported. For comparison, the list requests of a fixed 24-hour look-back (the earlier rule, which
every try paid) on the same agent.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from benchmarks.common import (
    TELZINO_CONN_ID,
    EmulatorProcess,
    calls_path,
    connection_env,
    environment,
    timed,
)

HISTORY_DAYS = 30
RUN_ID = "bench__create_cost"


@dataclass
class _TaskInstance:
    """What the operator reads from ``context["ti"]``."""

    map_index: int
    try_number: int
    dag_id: str = "bench_campaign"
    task_id: str = "place_call"
    run_id: str = RUN_ID
    xcoms: dict[str, Any] = field(default_factory=dict)

    def xcom_push(self, key: str, value: Any, **_: Any) -> None:
        self.xcoms[key] = value


def _context(map_index: int, try_number: int, due: datetime) -> dict[str, Any]:
    ti = _TaskInstance(map_index, try_number)
    return {"ti": ti, "dag_run": SimpleNamespace(run_after=due, start_date=due, run_id=RUN_ID)}


def _requests(server: EmulatorProcess, agent: str) -> dict[str, int]:
    """POSTs, list GETs and single-call GETs since the last clear."""
    path = calls_path(agent)
    gets = server.call("count_by_path", method="GET", prefix=path)["paths"]
    return {
        "post": server.count("POST", path),
        "list": gets.get(path, 0),
        "get_one": sum(n for p, n in gets.items() if p != path),
    }


def run(
    server: EmulatorProcess, *, history: int = 20_000, creates: int = 200, retries: int = 20
) -> dict[str, Any]:
    from telzino_provider.hooks.telzino import TelzinoHook
    from telzino_provider.operators.telzino import TelzinoCreateOutboundCallOperator

    agent = server.dataset(history, days=HISTORY_DAYS)
    due = datetime.fromisoformat(server.call("now")["now"])  # the run became due on the API's clock

    def place(map_index: int, try_number: int) -> dict[str, Any]:
        operator = TelzinoCreateOutboundCallOperator(
            task_id="place_call",
            agent_id=agent,
            to_number="+18135550100",
            telzino_conn_id=TELZINO_CONN_ID,
            deferrable=False,
        )
        return operator.execute(_context(map_index, try_number, due))  # type: ignore[arg-type]

    with environment(connection_env(server)):
        server.clear()
        wall, _, placed = timed(lambda: [place(i, 1)["id"] for i in range(creates)])
        first = _requests(server, agent)
        per_retry: list[dict[str, int]] = []
        adopted = 0
        for i in range(min(retries, creates)):
            server.clear()
            adopted += place(i, 2)["id"] == placed[i]
            per_retry.append(_requests(server, agent))
        server.clear()
        hook = TelzinoHook(telzino_conn_id=TELZINO_CONN_ID)
        try:
            day = sum(1 for _ in hook.iter_outbound_calls(agent, created_after=due - timedelta(hours=24)))
        finally:
            hook.close()
        day_lists = _requests(server, agent)["list"]
    lists = [r["list"] for r in per_retry]
    return {
        "history": history,
        "creates": creates,
        "distinct_calls": len(set(placed)),
        "first_try": {name: count / creates for name, count in first.items()},
        "first_try_totals": first,
        "ms_per_first_try": wall / creates * 1000,
        "retries": len(per_retry),
        "retry_adopted": adopted,
        "retry_posts": sum(r["post"] for r in per_retry),
        "retry_list_requests": {"median": statistics.median(lists), "max": max(lists), "min": min(lists)},
        "lookback_24h": {"calls": day, "list_requests": day_lists},
        "met": first["post"] == creates and first["list"] == 0 and len(set(placed)) == creates,
    }
