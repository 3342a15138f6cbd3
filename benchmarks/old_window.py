"""Benchmark 10: landing an old window costs about what landing a recent one does.

An agent with ``calls`` calls created evenly over ``hours`` hours, ending an hour ago (the emulator's
``dataset``). The transfer (``TelzinoCallsToObjectStorageOperator``, transcripts on, ``ended_at``
window) lands the hour that ended ``recent_hours`` ago and the hour that ended ``old_hours`` ago;
both runs count their requests in the emulator's request log. An hourly catch-up over N hours would
otherwise cost O(N²) call-log pages: without an upper bound the call logs are read from the newest
down to the window. Target: call-log requests for the old hour <= those for the recent hour + 2.
"""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.common import (
    TELZINO_CONN_ID,
    EmulatorProcess,
    calls_path,
    connection_env,
    environment,
    logs_path,
    paging_log_off,
)

EXTRA_REQUESTS = 2


def run(
    server: EmulatorProcess,
    *,
    calls: int = 8_000,
    hours: float = 80.0,
    recent_hours: int = 2,
    old_hours: int = 70,
) -> dict[str, Any]:
    made = server.call("dataset", count=calls, days=hours / 24)
    agent = made["agent_id"]
    now = datetime.fromisoformat(server.call("now")["now"])
    with environment(connection_env(server)), tempfile.TemporaryDirectory(prefix="telzino-bench-old-") as out:
        recent = _land(server, agent, now - timedelta(hours=recent_hours), Path(out) / "recent.jsonl")
        old = _land(server, agent, now - timedelta(hours=old_hours), Path(out) / "old.jsonl")
    return {
        "calls": calls,
        "hours": hours,
        "recent_hours": recent_hours,
        "old_hours": old_hours,
        "recent": recent,
        "old": old,
        "target": recent["log_requests"] + EXTRA_REQUESTS,
        "met": old["log_requests"] <= recent["log_requests"] + EXTRA_REQUESTS,
    }


def _land(server: EmulatorProcess, agent: str, end: datetime, path: Path) -> dict[str, Any]:
    """Land the hour that ends at ``end``; the requests it took."""
    from telzino_provider.transfers.telzino_to_object_storage import TelzinoCallsToObjectStorageOperator

    operator = TelzinoCallsToObjectStorageOperator(
        task_id="land",
        agent_id=agent,
        destination=f"file://{path}",
        created_after=end - timedelta(hours=1),
        created_before=end,
        telzino_conn_id=TELZINO_CONN_ID,
    )
    server.clear()
    with paging_log_off():
        landed = operator.execute(context={})  # type: ignore[arg-type]
    return {
        "calls": landed["calls"],
        "list_requests": server.count("GET", calls_path(agent)),
        "log_requests": server.count("GET", logs_path(agent)),
    }
