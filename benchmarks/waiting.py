"""Benchmark 4: many TelzinoOutboundCallTrigger instances waiting in one asyncio loop, as in a triggerer.

``triggers`` calls are placed on the emulator, whose clock runs at ``speed`` emulated seconds per
real second so that they ring, connect and end while the triggers wait (completed calls last 30 to
150 emulated seconds; the others end in no_answer, busy or failed). One trigger per call runs in a
single event loop, with a heartbeat task that sleeps ``heartbeat`` seconds at a time and records how
late it wakes: the loop's lag, which is what every other trigger sharing the triggerer would feel.

The triggers are the real class; a subclass only records when each poll starts and ends. The
emulator's request log gives the requests per call, which must equal that trigger's polls: one
request per trigger per poll round, and nothing else sent.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from typing import Any

from benchmarks.common import TELZINO_CONN_ID, EmulatorProcess, connection_env, environment

TARGET_LAG_MS = 100.0
#: What Python's default executor uses (asyncio.to_thread runs there): min(32, cpus + 4) workers.
DEFAULT_WORKERS = min(32, (os.cpu_count() or 1) + 4)


def _trigger_class() -> type:
    from telzino_provider.triggers.telzino import TelzinoOutboundCallTrigger

    class TimedTrigger(TelzinoOutboundCallTrigger):  # type: ignore[misc, valid-type]
        """The real trigger; ``poll`` (run in a worker thread) also records its start and end."""

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.polls: list[tuple[float, float]] = []

        def poll(self, hook: Any) -> Any:
            started = time.perf_counter()
            try:
                return super().poll(hook)
            finally:
                self.polls.append((started, time.perf_counter()))

    return TimedTrigger


def call_plan(count: int) -> list[dict[str, Any]]:
    """A mix of outcomes: 70% completed (30-150 s of talk), 10% each no_answer, busy, failed."""
    plan: list[dict[str, Any]] = []
    for n in range(count):
        slot = n % 10
        if slot < 7:
            plan.append({"outcome": "completed", "duration": 30 + (n * 37) % 121})
        else:
            plan.append({"outcome": ("no_answer", "busy", "failed")[slot - 7]})
    return plan


async def _heartbeat(stop: asyncio.Event, interval: float, lags: list[float]) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        await asyncio.sleep(interval)
        lags.append(time.perf_counter() - started - interval)


async def _first_event(trigger: Any) -> dict[str, Any]:
    async for event in trigger.run():
        return dict(event.payload)
    raise AssertionError("a trigger ended without an event")


async def _run_all(triggers: list[Any], heartbeat: float) -> tuple[list[dict[str, Any]], list[float], float]:
    lags: list[float] = []
    stop = asyncio.Event()
    beat = asyncio.create_task(_heartbeat(stop, heartbeat, lags))
    await asyncio.sleep(heartbeat * 5)  # a few idle beats first: the loop's lag with nothing to do
    started = time.perf_counter()
    events = await asyncio.gather(*(_first_event(t) for t in triggers))
    wall = time.perf_counter() - started
    stop.set()
    await beat
    return list(events), lags, wall


def run(
    server: EmulatorProcess,
    *,
    triggers: int = 200,
    poll_interval: float = 1.0,
    speed: float = 10.0,
    stress_interval: float | None = 0.2,
    heartbeat: float = 0.01,
) -> dict[str, Any]:
    """The measured run; with ``stress_interval``, the same again polling that often (no target)."""
    result = run_once(
        server, triggers=triggers, poll_interval=poll_interval, speed=speed, heartbeat=heartbeat
    )
    if stress_interval:
        result["stress"] = run_once(
            server, triggers=triggers, poll_interval=stress_interval, speed=speed, heartbeat=heartbeat
        )
    return result


def run_once(
    server: EmulatorProcess,
    *,
    triggers: int,
    poll_interval: float,
    speed: float,
    heartbeat: float = 0.01,
    deadline_s: float = 120.0,
) -> dict[str, Any]:
    agent = server.call("info")["agent_id"]
    plan = call_plan(triggers)
    server.set(speed=0.0)
    ids = server.call("add_calls", plan=plan)["ids"]
    timed_trigger = _trigger_class()
    instances = [
        timed_trigger(
            agent_id=agent,
            call_id=call_id,
            success_statuses=["completed"],
            failure_statuses=["no_answer", "busy", "failed"],
            end_time=time.time() + deadline_s,
            poll_interval=poll_interval,
            telzino_conn_id=TELZINO_CONN_ID,
        )
        for call_id in ids
    ]
    server.clear()
    server.set(speed=speed)
    try:
        with environment(connection_env(server)):
            events, lags, wall = asyncio.run(_run_all(instances, heartbeat))
    finally:
        server.set(speed=0.0)
    logged = server.call("count_by_path", prefix="")
    per_path = logged["paths"]
    call_prefix = f"/v1/agents/{agent}/outbound-calls/"
    mismatched = [t.call_id for t in instances if per_path.get(call_prefix + t.call_id, 0) != len(t.polls)]
    polls = sum(len(t.polls) for t in instances)
    sent = sum(per_path.values())
    gaps = [b[0] - a[0] for t in instances for a, b in zip(t.polls, t.polls[1:], strict=False)]
    durations = [end - start for t in instances for start, end in t.polls]
    expected = ["success" if entry["outcome"] == "completed" else "failure" for entry in plan]
    wrong = sum(1 for event, want in zip(events, expected, strict=True) if event["status"] != want)
    first_poll_delay = max(t.polls[0][0] for t in instances) - min(t.polls[0][0] for t in instances)
    lag_ms = sorted(lag * 1000 for lag in lags)
    busy = sum(durations) / (wall * DEFAULT_WORKERS)
    result: dict[str, Any] = {
        "triggers": triggers,
        "poll_interval_s": poll_interval,
        "speed": speed,
        "latency_ms": server.latency * 1000,
        "wall_s": wall,
        "events": {status: sum(1 for e in events if e["status"] == status) for status in _statuses(events)},
        "wrong_outcomes": wrong,
        "lag_ms": {
            "max": lag_ms[-1],
            "p99": lag_ms[min(len(lag_ms) - 1, int(len(lag_ms) * 0.99))],
            "median": statistics.median(lag_ms),
            "beats": len(lag_ms),
        },
        "polls": polls,
        "requests": sent,
        "request_statuses": logged["statuses"],
        "requests_per_poll": sent / polls if polls else None,
        "triggers_not_one_request_per_poll": len(mismatched),
        "poll_rounds_max": max(len(t.polls) for t in instances),
        "poll_gap_s": {
            "min": min(gaps) if gaps else None,
            "median": statistics.median(gaps) if gaps else None,
            "max": max(gaps) if gaps else None,
        },
        "poll_duration_ms": {
            "median": statistics.median(durations) * 1000,
            "max": max(durations) * 1000,
        },
        "first_round_spread_s": first_poll_delay,
        "thread_pool": {
            "workers": DEFAULT_WORKERS,
            "busy_share": busy,
            "capacity_polls_per_s": DEFAULT_WORKERS / statistics.median(durations),
            "demand_polls_per_s": triggers / poll_interval,
        },
        "target_lag_ms": TARGET_LAG_MS,
    }
    one_per_round = not mismatched and sent == polls and (not gaps or min(gaps) >= poll_interval)
    result["met"] = lag_ms[-1] <= TARGET_LAG_MS and one_per_round and wrong == 0
    return result


def _statuses(events: list[dict[str, Any]]) -> list[str]:
    return sorted({event["status"] for event in events})
