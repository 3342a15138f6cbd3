"""Benchmark 3: peak memory while reading a long history, streaming versus collecting a list.

Each measurement runs in a new process that has never read a call: a clean parent (a fresh
interpreter that only imported Airflow and the provider, then froze its objects) forks one child per
measurement, so the ~10 s Airflow import is paid once, not per run, and no run inherits another's
heap. The child opens the connection with a one-call read, collects garbage, resets the kernel's
peak-RSS mark (``/proc/self/clear_refs``) and records its RSS as the baseline; after the read, the
growth is the new peak (VmHWM) minus that baseline. Where the mark cannot be reset, ``ru_maxrss`` is
used instead (it only shows growth above the highest point reached before). A second run per mode
and count with ``tracemalloc`` reports the peak of Python allocations, as a cross-check.

Latency changes no peak, so this benchmark sets the emulator's to 0 while it runs (a 100,000-call
read is 1,000 requests: 5 s more per run at 5 ms).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
from types import TracebackType
from typing import Any

from benchmarks.common import (
    TELZINO_CONN_ID,
    EmulatorProcess,
    Samples,
    connection_env,
    environment,
    max_rss_kb,
    reset_peak,
    status_kb,
)
from benchmarks.emulator_server import REPO_ROOT

MODES = ("stream", "list")
TARGET_STREAM_MB = 20.0
MB = 1024 * 1024


def run(
    server: EmulatorProcess,
    *,
    counts: tuple[int, ...] = (10_000, 100_000),
    rounds: int = 5,
    cross_check: bool = True,
) -> dict[str, Any]:
    agents = {count: server.dataset(count) for count in counts}
    results: dict[str, Any] = {"counts": list(counts), "rounds": rounds, "by_count": {}}
    latency = server.latency
    server.set(latency=0.0)
    try:
        with environment(connection_env(server)), ForkServer() as forks:
            for count in counts:
                growth = Samples()
                methods: set[str] = set()
                for number in range(rounds):
                    order = MODES if number % 2 == 0 else MODES[::-1]  # stream list, list stream, ...
                    for mode in order:
                        measured = forks.measure(agents[count], count, mode, traced=False)
                        growth.add(mode, measured["growth_mb"])
                        methods.add(measured["method"])
                entry: dict[str, Any] = {
                    mode: {"growth_mb": growth.summary(mode), "method": sorted(methods)} for mode in MODES
                }
                if cross_check:
                    for mode in MODES:
                        traced = forks.measure(agents[count], count, mode, traced=True)
                        entry[mode]["tracemalloc_peak_mb"] = traced["traced_peak_mb"]
                results["by_count"][str(count)] = entry
    finally:
        server.set(latency=latency)
    stream = [results["by_count"][str(c)]["stream"]["growth_mb"]["median"] for c in counts]
    results["target_stream_mb"] = TARGET_STREAM_MB
    results["stream_max_mb"] = max(stream)
    results["met"] = max(stream) <= TARGET_STREAM_MB
    return results


class ForkServer:
    """The clean parent (``python -m benchmarks.memory --serve FD``) and its one-line protocol."""

    def __enter__(self) -> ForkServer:
        read_end, write_end = os.pipe()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.memory", "--serve", str(write_end)],
            stdin=subprocess.PIPE,
            cwd=REPO_ROOT,
            env=env,
            pass_fds=(write_end,),
            text=True,
            bufsize=1,
        )
        os.close(write_end)
        self.answers = os.fdopen(read_end, "r")
        return self

    def measure(self, agent: str, count: int, mode: str, *, traced: bool) -> dict[str, Any]:
        assert self.proc.stdin is not None
        command = {"agent": agent, "count": count, "mode": mode, "traced": traced}
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        line = self.answers.readline()
        if not line:
            raise RuntimeError(f"the memory fork server exited (code {self.proc.poll()})")
        answer = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"memory measurement {command} failed: {answer['error']}")
        return dict(answer)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)
        self.answers.close()


# -- the clean parent and its children ---------------------------------------------------------


def measure(mode: str, agent: str, count: int, traced: bool) -> dict[str, Any]:
    """One measurement, in a process that has not read any call before."""
    import tracemalloc

    from telzino_provider.hooks.telzino import TelzinoHook

    hook = TelzinoHook(telzino_conn_id=TELZINO_CONN_ID)
    list(hook.iter_outbound_calls(agent, max_calls=1))  # connection, session, lazy imports: all warm
    gc.collect()
    if traced:
        tracemalloc.start()
    resettable = reset_peak()
    baseline_kb = (status_kb("VmRSS") if resettable else max_rss_kb()) or 0
    if mode == "stream":
        seen = sum(1 for _ in hook.iter_outbound_calls(agent))
    else:
        calls = hook.list_outbound_calls(agent)
        seen = len(calls)
    peak_kb = (status_kb("VmHWM") if resettable else max_rss_kb()) or 0
    result: dict[str, Any] = {
        "mode": mode,
        "count": seen,
        "method": "VmHWM after clear_refs" if resettable else "ru_maxrss",
        "growth_mb": max(0, peak_kb - baseline_kb) / 1024,
    }
    if traced:
        result["traced_peak_mb"] = tracemalloc.get_traced_memory()[1] / MB
        tracemalloc.stop()
    if seen != count:
        raise RuntimeError(f"read {seen} calls, expected {count}")
    hook.close()
    return result


def serve(answer_fd: int) -> None:
    """The clean parent: import once, then fork a child per command line read from stdin."""
    import telzino_provider.hooks.telzino  # noqa: F401  (the import the children share)

    gc.collect()
    gc.freeze()  # the imported objects are never collected: children do not rescan or copy them
    with os.fdopen(answer_fd, "w", buffering=1) as answers:
        for line in sys.stdin:
            command = json.loads(line)
            read_end, write_end = os.pipe()
            pid = os.fork()
            if pid == 0:  # the child: measure, report, exit without running the parent's cleanup
                os.close(read_end)
                try:
                    payload = json.dumps(measure(**command))
                except BaseException as err:
                    payload = json.dumps({"error": f"{type(err).__name__}: {err}"})
                os.write(write_end, payload.encode())
                os._exit(0)
            os.close(write_end)
            with os.fdopen(read_end, "rb") as result:
                payload_bytes = result.read()
            os.waitpid(pid, 0)
            answers.write(payload_bytes.decode() + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="The clean parent of benchmark 3's measurements.")
    parser.add_argument("--serve", type=int, required=True, metavar="FD", help="write answers here")
    serve(parser.parse_args(argv).serve)


if __name__ == "__main__":
    main()
