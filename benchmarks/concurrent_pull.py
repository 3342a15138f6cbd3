"""Benchmark 8: a full pull with ``max_concurrency=8`` against the sequential floor, in one run.

The emulator answers every request after ``latency`` (20 ms: a round trip to a remote API), so the
floor, the smallest correct requests loop, is bound by one round trip per page. Contenders, in
interleaved rounds, all reading the same ``calls`` calls:

* floor: the requests loop of benchmark 1, one page after another;
* provider, max_concurrency=1: the sequential provider, for reference;
* provider, max_concurrency=8;
* provider, max_concurrency=8 with one call inserted at the head after every request (on a fresh
  agent each round): every call that existed when the read began must come back exactly once; new
  calls may or may not.

The ratios are medians of wall time against the floor's median; lost and duplicated calls are
counted over every round.
"""

from __future__ import annotations

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

LATENCY = 0.020
WORKERS = 8
TARGET_VS_FLOOR = 0.25
TARGET_WITH_INSERTS_VS_FLOOR = 0.5


def run(
    server: EmulatorProcess, *, calls: int = 10_000, rounds: int = 5, latency: float = LATENCY
) -> dict[str, Any]:
    agent = server.dataset(calls)
    fresh: dict[str, Any] = {}
    lost = duplicated = 0
    requests_per_pull: dict[str, list[int]] = {}

    def with_inserts() -> list[dict[str, Any]]:
        server.call("insert_between_pages", n=1)
        try:
            return provider_pull(fresh["agent"], max_concurrency=WORKERS)
        finally:
            server.call("insert_between_pages", n=0)

    contenders = {
        "floor": lambda: floor_pull(server.base_url, server.token, agent),
        "sequential": lambda: provider_pull(agent),
        "concurrent": lambda: provider_pull(agent, max_concurrency=WORKERS),
        "concurrent_inserts": with_inserts,
    }

    def measure(name: str, fn: Any) -> dict[str, float]:
        nonlocal lost, duplicated
        if name == "concurrent_inserts":  # a new agent: the previous round's inserts are not in it
            fresh["agent"] = server.call("dataset", count=calls)["agent_id"]
            truth = server.call("ids", agent_id=fresh["agent"])["ids"]
        server.clear()
        wall, _, result = timed(fn)
        ids = [call["id"] for call in result]
        requests_per_pull.setdefault(name, []).append(
            server.count("GET", calls_path(fresh["agent"] if name == "concurrent_inserts" else agent))
        )
        if name == "concurrent_inserts":
            existing = set(truth)
            kept = [call_id for call_id in ids if call_id in existing]
            lost += len(existing - set(kept))
            duplicated += len(ids) - len(set(ids))
            if kept != truth and len(kept) == len(set(kept)) == len(truth):
                raise AssertionError("the calls came back in another order than newest first")
        elif len(ids) != calls or len(set(ids)) != calls:
            raise AssertionError(f"{name} returned {len(ids)} calls ({len(set(ids))} distinct), not {calls}")
        return {"wall": wall}

    previous = server.latency
    server.set(latency=latency)
    try:
        with environment(connection_env(server)):
            samples = interleave(contenders, rounds, measure)["wall"]
    finally:
        server.set(latency=previous)
    concurrent = samples.ratio("concurrent", "floor")
    inserts = samples.ratio("concurrent_inserts", "floor")
    return {
        "calls": calls,
        "pages": -(-calls // PAGE_SIZE),
        "workers": WORKERS,
        "latency_ms": latency * 1000,
        "rounds": rounds,
        "wall_s": {name: samples.summary(name) for name in contenders},
        "requests": {name: max(counts) for name, counts in requests_per_pull.items()},
        "concurrent_vs_floor": {
            "ratio_of_medians": concurrent,
            "per_round": samples.round_ratios("concurrent", "floor"),
            "target": TARGET_VS_FLOOR,
            "met": concurrent <= TARGET_VS_FLOOR,
        },
        "sequential_vs_floor": {"ratio_of_medians": samples.ratio("sequential", "floor")},
        "inserts_vs_floor": {
            "ratio_of_medians": inserts,
            "per_round": samples.round_ratios("concurrent_inserts", "floor"),
            "target": TARGET_WITH_INSERTS_VS_FLOOR,
            "met": inserts <= TARGET_WITH_INSERTS_VS_FLOOR and lost == 0 and duplicated == 0,
        },
        "lost": lost,
        "duplicated": duplicated,
    }
