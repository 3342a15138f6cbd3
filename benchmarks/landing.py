"""Benchmark 9: landing a window of calls with their transcripts in object storage.

An agent with ``calls`` historical calls (80% completed, so as many call logs), all in the window.
Two contenders write the same JSON Lines (each call plus its ``transcript``) to a local file:

* **floor**: the smallest correct requests loop: read every call log into a dict, then page through
  the calls and write each line. Fast, and its memory grows with the window.
* **provider**: ``TelzinoCallsToObjectStorageOperator.execute`` into ``file://`` (the hook's pager,
  the streaming transcript join, the temporary object moved into place).

Time: interleaved rounds, ratio of medians (target <= 1.2). Memory: the operator's peak RSS growth
while landing, measured in a fresh process that imported everything and warmed its connection first
(``VmHWM`` after resetting it through ``/proc/self/clear_refs``; ``ru_maxrss`` where that is not
possible). Target: <= 50 MB. The lines of both contenders are compared once: the same set of calls,
each with the same transcript.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import requests

from benchmarks.common import (
    TELZINO_CONN_ID,
    EmulatorProcess,
    calls_path,
    connection_env,
    environment,
    floor_pages,
    interleave,
    logs_path,
    max_rss_kb,
    reset_peak,
    status_kb,
    timed,
)
from benchmarks.emulator_server import REPO_ROOT

TARGET_RATIO = 1.2
TARGET_GROWTH_MB = 50.0
MB = 1024 * 1024


def run(server: EmulatorProcess, *, calls: int = 100_000, rounds: int = 5) -> dict[str, Any]:
    agent = server.dataset(calls)
    latency = server.latency
    with (
        tempfile.TemporaryDirectory(prefix="telzino-bench-landing-") as folder,
        environment(connection_env(server)),
    ):
        out = Path(folder)
        floor_path, provider_path = out / "floor.jsonl", out / "provider.jsonl"
        contenders = {
            "floor": lambda: floor_land(server.base_url, server.token, agent, floor_path),
            "provider": lambda: provider_land(agent, provider_path),
        }
        samples = interleave(contenders, rounds, _measure)
        same = _same_lines(floor_path, provider_path)
        server.set(latency=0.0)  # latency moves no peak; spare the memory run its waits
        try:
            memory = _memory_in_fresh_process(agent)
        finally:
            server.set(latency=latency)
    wall = samples["wall"]
    ratio = wall.ratio("provider", "floor")
    return {
        "calls": calls,
        "rounds": rounds,
        "wall_s": {name: wall.summary(name) for name in contenders},
        "ratio": ratio,
        "round_ratios": wall.round_ratios("provider", "floor"),
        "target_ratio": TARGET_RATIO,
        "ratio_met": ratio <= TARGET_RATIO,
        "same_lines": same,
        "memory": memory,
        "target_growth_mb": TARGET_GROWTH_MB,
        "memory_met": memory["growth_mb"] <= TARGET_GROWTH_MB,
    }


def _measure(name: str, fn: Any) -> dict[str, float]:
    wall, cpu, lines = timed(fn)
    return {"wall": wall, "cpu": cpu, "lines": float(lines)}


# -- the contenders -------------------------------------------------------------------------------


def floor_land(base_url: str, token: str, agent_id: str, path: Path) -> int:
    """The plain loop: every call log into a dict, then each page of calls out as JSON Lines."""
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {token}"
        logs = {log["id"]: log for log in floor_pages(session, base_url + logs_path(agent_id))}
        lines = 0
        with path.open("w", encoding="utf-8") as out:
            for call in floor_pages(session, base_url + calls_path(agent_id)):
                log = logs.get(call.get("transcript_id") or "")
                call["transcript"] = _transcript(log) if log else None
                out.write(encode(call) + "\n")
                lines += 1
    return lines


def _transcript(log: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": log["id"],
        "text": log["transcript_text"],
        "turns": log["transcript_json"],
        "summary": log["summary_text"],
        "duration": log["call_duration"],
        "started_at": log["call_started_at"],
        "ended_at": log["call_ended_at"],
    }


def provider_land(agent_id: str, path: Path, created_after: str | None = None) -> int:
    """The operator, as a task runs it (no window bounds: the agent's whole history)."""
    from benchmarks.common import paging_log_off
    from telzino_provider.transfers.telzino_to_object_storage import TelzinoCallsToObjectStorageOperator

    operator = TelzinoCallsToObjectStorageOperator(
        task_id="land",
        agent_id=agent_id,
        destination=f"file://{path}",
        window_field="created_at",
        created_after=created_after,
        telzino_conn_id=TELZINO_CONN_ID,
    )
    with paging_log_off():
        return int(operator.execute(context={})["calls"])  # type: ignore[arg-type]


def _same_lines(floor_path: Path, provider_path: Path) -> bool:
    def read(path: Path) -> dict[str, Any]:
        with path.open(encoding="utf-8") as lines:
            return {call["id"]: call["transcript"] for call in map(json.loads, lines)}

    floor, provider = read(floor_path), read(provider_path)
    return floor == provider and len(floor) > 0


# -- memory, in a fresh process -------------------------------------------------------------------


def _memory_in_fresh_process(agent: str) -> dict[str, Any]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.landing", "--measure", agent],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"the landing memory run failed: {proc.stderr[-2000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def measure(agent: str) -> dict[str, Any]:
    """Peak RSS growth of one landing, after a warm-up landing of the newest call alone."""
    from telzino_provider.hooks.telzino import TelzinoHook

    with tempfile.TemporaryDirectory(prefix="telzino-bench-landing-mem-") as folder:
        hook = TelzinoHook(telzino_conn_id=TELZINO_CONN_ID)
        [newest] = hook.iter_outbound_calls(agent, max_calls=1)
        hook.close()
        # Imports, sessions and every code path warm, without allocating what the real run measures.
        provider_land(agent, Path(folder) / "warm.jsonl", created_after=newest["created_at"])
        gc.collect()
        resettable = reset_peak()
        baseline_kb = (status_kb("VmRSS") if resettable else max_rss_kb()) or 0
        lines = provider_land(agent, Path(folder) / "calls.jsonl")
        peak_kb = (status_kb("VmHWM") if resettable else max_rss_kb()) or 0
    return {
        "lines": lines,
        "method": "VmHWM after clear_refs" if resettable else "ru_maxrss",
        "growth_mb": max(0, peak_kb - baseline_kb) / 1024,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Benchmark 9's memory run, in a fresh process.")
    parser.add_argument("--measure", required=True, metavar="AGENT_ID")
    print(json.dumps(measure(parser.parse_args(argv).measure)))


if __name__ == "__main__":
    main()
