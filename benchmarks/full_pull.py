"""Benchmark 1: a full pull of one agent's calls, page by page, by three clients.

* provider: ``TelzinoHook.list_outbound_calls`` (a fresh hook each time: connection lookup, session);
* floor: the smallest correct ``requests.Session`` loop over the same pages;
* peer: ``HttpOperator`` (HttpHook) with a ``pagination_function`` that follows ``hasNext``;
* what-if (no target): the provider with its one INFO log line per page switched off, which shows
  how much of the provider's cost is that line.

Each round runs every contender once, interleaved; the figures are the medians of wall time.
"""

from __future__ import annotations

from typing import Any

from benchmarks.common import (
    PAGE_SIZE,
    PEER_MISSING,
    EmulatorProcess,
    calls_path,
    connection_env,
    environment,
    floor_pull,
    interleave,
    peer_available,
    peer_pull,
    provider_pull,
    provider_pull_quiet,
    timed,
)

TARGET_VS_FLOOR = 1.10
TARGET_VS_PEER = 1.0


def run(
    server: EmulatorProcess,
    *,
    calls: int = 10_000,
    rounds: int = 25,
    peer: bool = True,
    what_if: bool = True,
) -> dict[str, Any]:
    agent = server.dataset(calls)
    contenders = {
        "provider": lambda: provider_pull(agent),
        "floor": lambda: floor_pull(server.base_url, server.token, agent),
    }
    if what_if:
        contenders["provider_log_off"] = lambda: provider_pull_quiet(agent)
    skipped = None
    if peer and peer_available():
        contenders["peer"] = lambda: peer_pull(agent)
    elif peer:
        skipped = PEER_MISSING
    requests_per_pull: dict[str, int] = {}
    reference: list[str] | None = None

    def measure(name: str, fn: Any) -> dict[str, float]:
        nonlocal reference
        server.clear()
        wall, used, result = timed(fn)
        ids = [call["id"] for call in result]
        if reference is None:
            reference = ids
        if ids != reference or len(ids) != calls:
            raise AssertionError(f"{name} returned {len(ids)} calls, not the same {calls} as the others")
        requests_per_pull[name] = server.count("GET", calls_path(agent))
        return {"wall": wall, "cpu": used}

    with environment(connection_env(server)):
        metrics = interleave(contenders, rounds, measure)
    samples, cpu = metrics["wall"], metrics["cpu"]
    result: dict[str, Any] = {
        "calls": calls,
        "pages": -(-calls // PAGE_SIZE),
        "latency_ms": server.latency * 1000,
        "rounds": rounds,
        "wall_s": {name: samples.summary(name) for name in contenders},
        "cpu_s": {name: cpu.median(name) for name in contenders},
        "requests": requests_per_pull,
        "provider_vs_floor": {
            "ratio_of_medians": samples.ratio("provider", "floor"),
            "per_round": samples.round_ratios("provider", "floor"),
            "target": TARGET_VS_FLOOR,
        },
    }
    result["provider_vs_floor"]["met"] = result["provider_vs_floor"]["ratio_of_medians"] <= TARGET_VS_FLOOR
    if "peer" in contenders:
        ratio = samples.ratio("provider", "peer")
        result["provider_vs_peer"] = {
            "ratio_of_medians": ratio,
            "per_round": samples.round_ratios("provider", "peer"),
            "target": TARGET_VS_PEER,
            "met": ratio <= TARGET_VS_PEER,
        }
    elif skipped:
        result["peer_skipped"] = skipped
    if what_if:
        result["log_off_vs_floor"] = {
            "ratio_of_medians": samples.ratio("provider_log_off", "floor"),
            "per_round": samples.round_ratios("provider_log_off", "floor"),
        }
    return result
