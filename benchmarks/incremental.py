"""Benchmark 2: an incremental pull, the window holding only the newest calls of a long history.

The agent has ``calls`` historical calls; the window starts at the ``created_at`` of the
``window``-th newest, so it holds exactly the ``window`` newest calls. The provider stops at the
first page that proves the window ended; the alternative reads every page (with the floor's
minimal requests loop, the cheapest way to do that) and filters by ``created_at`` afterwards.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from benchmarks.common import (
    PAGE_SIZE,
    EmulatorProcess,
    calls_path,
    connection_env,
    environment,
    floor_pull,
    interleave,
    provider_pull,
    timed,
)


def target_requests(window: int) -> int:
    """Pages of new calls, plus the page that proves the window ended."""
    return -(-window // PAGE_SIZE) + 1


def run(
    server: EmulatorProcess, *, calls: int = 100_000, window: int = 300, rounds: int = 5
) -> dict[str, Any]:
    agent = server.dataset(calls)
    marks = server.call("created_at", agent_id=agent, ranks=[window, window + 1])["created_at"]
    start, before_start = marks[str(window)], marks[str(window + 1)]
    if _ts(before_start) >= _ts(start):
        raise AssertionError("the seeded history has two calls at the window's start; pick another seed")

    def scan() -> list[dict[str, Any]]:
        cutoff = _ts(start)
        every = floor_pull(server.base_url, server.token, agent)
        return [call for call in every if _ts(call["created_at"]) >= cutoff]

    contenders = {"provider": lambda: provider_pull(agent, created_after=start), "scan": scan}
    requests_sent: dict[str, int] = {}
    found: dict[str, int] = {}

    def measure(name: str, fn: Any) -> dict[str, float]:
        server.clear()
        wall, _, result = timed(fn)
        sent = server.count("GET", calls_path(agent))
        if name in requests_sent and requests_sent[name] != sent:
            raise AssertionError(f"{name} sent {sent} requests, {requests_sent[name]} in an earlier round")
        requests_sent[name], found[name] = sent, len(result)
        if len(result) != window:
            raise AssertionError(f"{name} found {len(result)} calls in the window, expected {window}")
        return {"wall": wall}

    with environment(connection_env(server)):
        samples = interleave(contenders, rounds, measure)["wall"]
    target = target_requests(window)
    return {
        "calls": calls,
        "window": window,
        "latency_ms": server.latency * 1000,
        "rounds": rounds,
        "wall_s": {name: samples.summary(name) for name in contenders},
        "requests": requests_sent,
        "found": found,
        "speedup": samples.ratio("scan", "provider"),
        "target_requests": target,
        "met": requests_sent["provider"] == target,
    }


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
