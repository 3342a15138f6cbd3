"""Benchmark 5: the provider's CPU time per page beyond the HTTP round trip, and where it goes.

All with the emulator's latency at 0 (CPU time does not depend on it, and the rounds go faster):

* measured: this process's CPU time per page for the provider and for the floor, interleaved
  rounds, medians.
* sampled profile: a statistical profiler (SIGPROF every millisecond of this process's CPU time,
  the Python stack recorded at each tick) over several provider pulls. A sample whose stack passes
  through ``Session.request`` or ``Response.json`` is the HTTP round trip (the floor does exactly
  that too); every other sample under a provider function is charged to the innermost provider
  function on the stack, together with the library code it called (logging, ``fromisoformat``...).
  CPU beyond the round trip per page = the pull's CPU time x that share / pages.
* cProfile over a few pulls, attributed the same way, as a cross-check of the ranking only: it adds
  a fixed cost to every function call, so it inflates code that makes many small calls (logging).
"""

from __future__ import annotations

import cProfile
import pstats
import signal
import time
from collections import Counter, defaultdict
from types import FrameType, TracebackType
from typing import Any

from benchmarks.common import (
    PAGE_SIZE,
    EmulatorProcess,
    connection_env,
    environment,
    floor_pull,
    interleave,
    provider_pull,
    timed,
)

Func = tuple[str, int, str]
Key = tuple[str, str]  # (file, qualified name)
ROUND_TRIP = {("requests/sessions.py", "request"), ("requests/models.py", "json")}
SAMPLE_INTERVAL = 0.001


def run(
    server: EmulatorProcess,
    *,
    calls: int = 10_000,
    rounds: int = 25,
    sampled_pulls: int = 40,
    profiled_pulls: int = 3,
) -> dict[str, Any]:
    agent = server.dataset(calls)
    pages = -(-calls // PAGE_SIZE)
    latency = server.latency
    server.set(latency=0.0)
    try:
        with environment(connection_env(server)):
            contenders = {
                "provider": lambda: provider_pull(agent),
                "floor": lambda: floor_pull(server.base_url, server.token, agent),
            }
            cpu = interleave(contenders, rounds, lambda name, fn: {"cpu": timed(fn)[1]})["cpu"]
            sampled = _sample(agent, sampled_pulls) if CpuSampler.available() else None
            profile = _profile(agent, profiled_pulls)
    finally:
        server.set(latency=latency)
    per_page = {name: cpu.median(name) / pages * 1e6 for name in contenders}
    result: dict[str, Any] = {
        "calls": calls,
        "pages": pages,
        "rounds": rounds,
        "cpu_us_per_page": per_page,
        "cpu_spread_us_per_page": {
            name: [cpu.summary(name)[q] / pages * 1e6 for q in ("p25", "p75")] for name in contenders
        },
        "difference_us_per_page": per_page["provider"] - per_page["floor"],
    }
    if sampled is not None:
        samples, cpu_seconds = sampled
        result["sampled"] = _summarize_samples(samples, cpu_seconds / sampled_pulls, pages)
        result["overhead_us_per_page"] = result["sampled"]["beyond_round_trip_us_per_page"]
        result["top3"] = result["sampled"]["top"][:3]
    profiled = _attribute(profile)
    total = sum(entry["seconds"] for entry in profiled) or 1.0
    result["cprofile"] = {
        "pulls": profiled_pulls,
        "ranking": [
            {"function": entry["function"], "share_profiled": entry["seconds"] / total}
            for entry in profiled[:6]
        ],
    }
    return result


class CpuSampler:
    """Records the main thread's Python stack at every ``interval`` seconds of process CPU time."""

    def __init__(self, interval: float = SAMPLE_INTERVAL) -> None:
        self.interval = interval
        self.stacks: Counter[tuple[Key, ...]] = Counter()
        self._previous: Any = None

    @staticmethod
    def available() -> bool:
        return hasattr(signal, "setitimer") and hasattr(signal, "SIGPROF")

    def _tick(self, signum: int, frame: FrameType | None) -> None:
        keys = []
        while frame is not None:
            code = frame.f_code
            keys.append((code.co_filename, getattr(code, "co_qualname", code.co_name)))
            frame = frame.f_back
        self.stacks[tuple(keys)] += 1

    def __enter__(self) -> CpuSampler:
        self._previous = signal.signal(signal.SIGPROF, self._tick)
        signal.setitimer(signal.ITIMER_PROF, self.interval, self.interval)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        signal.setitimer(signal.ITIMER_PROF, 0, 0)
        signal.signal(signal.SIGPROF, self._previous)


def _sample(agent: str, pulls: int) -> tuple[Counter[tuple[Key, ...]], float]:
    provider_pull(agent)  # warm
    started = time.process_time()
    with CpuSampler() as sampler:
        for _ in range(pulls):
            provider_pull(agent)
    return sampler.stacks, time.process_time() - started


def _summarize_samples(stacks: Counter[tuple[Key, ...]], pull_cpu: float, pages: int) -> dict[str, Any]:
    """Charge each sample (innermost frame first) to the round trip, a provider function, or other."""
    charged: Counter[str] = Counter()
    callees: dict[str, Counter[str]] = defaultdict(Counter)
    round_trip = other = 0
    for stack, count in stacks.items():
        if any(_is_round_trip_key(key) for key in stack):
            round_trip += count
            continue
        position = next((i for i, key in enumerate(stack) if _is_provider_path(key[0])), None)
        if position is None:
            other += count  # the benchmark's own loop, or the profiler's tick
            continue
        name = _provider_label(stack[position][0], stack[position][1])
        charged[name] += count
        callees[name][_library_label(stack[position - 1][0]) if position else "its own code"] += count
    total = sum(stacks.values()) or 1
    beyond = sum(charged.values())
    per_sample = pull_cpu / total / pages * 1e6  # CPU microseconds per page that one sample stands for
    return {
        "samples": total,
        "round_trip_us_per_page": round_trip * per_sample,
        "beyond_round_trip_us_per_page": beyond * per_sample,
        "other_us_per_page": other * per_sample,
        "top": [
            {
                "function": name,
                "share": count / beyond,
                "us_per_page": count * per_sample,
                "mostly": _mostly(callees[name], count),
            }
            for name, count in charged.most_common(8)
        ],
    }


def _mostly(callees: Counter[str], count: int) -> str:
    (name, hits), *_ = callees.most_common(1)
    return f"{name} ({hits / count:.0%})"


def _is_provider_path(path: str) -> bool:
    path = path.replace("\\", "/")
    return "/telzino_provider/" in path and "/telzino_provider/emulator/" not in path


def _is_round_trip_key(key: Key) -> bool:
    path = key[0].replace("\\", "/")
    return any(path.endswith(suffix) and key[1].rpartition(".")[2] == name for suffix, name in ROUND_TRIP)


def _provider_label(path: str, name: str) -> str:
    module = path.replace("\\", "/").split("/telzino_provider/", 1)[1].removesuffix(".py")
    return f"{module.replace('/', '.')}.{name.replace('<locals>.', '')}"


def _library_label(path: str) -> str:
    """A library frame as its top-level module (``logging``, ``structlog``, ``datetime``...)."""
    path = path.replace("\\", "/")
    for marker in ("/site-packages/", "/lib/python3"):
        if marker in path:
            rest = path.split(marker, 1)[1]
            if marker == "/lib/python3":
                rest = rest.split("/", 1)[1] if "/" in rest else rest
            return rest.split("/", 1)[0].removesuffix(".py")
    return path.rsplit("/", 1)[-1].removesuffix(".py")


def _profile(agent: str, pulls: int) -> pstats.Stats:
    provider_pull(agent)  # warm
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(pulls):
        provider_pull(agent)
    profiler.disable()
    return pstats.Stats(profiler)


def _is_provider(func: Func) -> bool:
    return _is_provider_path(func[0])


def _is_round_trip(func: Func) -> bool:
    return _is_round_trip_key((func[0], func[2]))


def _label(func: Func) -> str:
    path = func[0].replace("\\", "/")
    if "/telzino_provider/" in path:
        module = path.split("/telzino_provider/", 1)[1].removesuffix(".py").replace("/", ".")
        return f"{module}.{func[2]}"
    if func[0] == "~":
        return func[2].strip("<>")
    parent, _, name = path.rpartition("/")
    module = parent.rpartition("/")[2] if name == "__init__.py" else name.removesuffix(".py")
    return f"{module}.{func[2]}"


def _attribute(stats: pstats.Stats) -> list[dict[str, Any]]:
    """Seconds charged to each provider function beyond the round trip, largest first."""
    table: dict[Func, Any] = stats.stats  # type: ignore[attr-defined]
    own: dict[Func, float] = defaultdict(float)
    parts: dict[Func, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for func, (_, _, tottime, _, callers) in table.items():
        if _is_provider(func):
            own[func] += tottime
            continue
        provider_callers = {c: t for c, t in callers.items() if _is_provider(c)}
        if not provider_callers or _is_round_trip(func):
            continue
        # Time in provider code that this library function called back into (e.g. list() running
        # the provider's generators) is charged to those provider functions, not here.
        reentered = sum(
            timing[3]
            for callee, (_, _, _, _, callee_callers) in table.items()
            if _is_provider(callee)
            for caller, timing in callee_callers.items()
            if caller == func
        )
        total = sum(t[3] for t in provider_callers.values())
        for caller, timing in provider_callers.items():
            share = timing[3] / total if total else 0.0
            parts[caller][_label(func)] += max(0.0, timing[3] - reentered * share)
    costs = []
    for func in set(own) | set(parts):
        library = parts.get(func, {})
        seconds = own.get(func, 0.0) + sum(library.values())
        biggest = max(library.items(), key=lambda item: item[1], default=None)
        mostly = f"{biggest[0]} ({biggest[1] / seconds:.0%})" if biggest and seconds else "its own code"
        costs.append({"function": _label(func), "seconds": seconds, "mostly": mostly})
    costs.sort(key=lambda entry: entry["seconds"], reverse=True)
    return costs
