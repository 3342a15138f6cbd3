"""The emulator in a process of its own, driven over stdin/stdout with one JSON object per line.

A real Telzino API runs elsewhere, so the server must not compete with the client for the GIL: the
benchmarks start this module as a child process (:class:`EmulatorProcess`) and drive it with
commands such as ``{"op": "dataset", "count": 10000}``. Each answer is one JSON line,
``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}``.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from telzino_provider.emulator import OUTCOME_NUMBERS, TelzinoEmulator

REPO_ROOT = Path(__file__).resolve().parent.parent
#: Seeded calls are created in [now - SEED_DAYS, now - 1 hour): all of them terminal, none changing.
SEED_DAYS = 20


class EmulatorServer:
    """The command handlers, around one :class:`TelzinoEmulator` (in the child process)."""

    def __init__(self, latency: float, seed: int) -> None:
        self.emu = TelzinoEmulator(latency=latency, seed=seed).start()
        self.lock = threading.Lock()

    def handle(self, command: dict[str, Any]) -> dict[str, Any]:
        op = command.pop("op")
        handler = getattr(self, f"op_{op}", None)
        if handler is None:
            raise ValueError(f"unknown op {op!r}")
        with self.lock:
            return dict(handler(**command))

    def op_info(self) -> dict[str, Any]:
        emu = self.emu
        return {"base_url": emu.base_url, "token": emu.token, "agent_id": emu.agent_id, "pid": os.getpid()}

    def op_dataset(self, count: int, days: int = SEED_DAYS) -> dict[str, Any]:
        """A new agent holding ``count`` historical calls created over ``days`` days."""
        emu = self.emu
        agent = emu.add_agent(f"bench-{count}-{days}d")
        end = emu.now() - timedelta(hours=1)
        emu.seed_calls(count, start=end - timedelta(days=days), end=end, agent_id=agent)
        # The stored calls live until the end: keep the collector from rescanning them on every
        # full collection, which would add pauses to answers that no real server has.
        gc.collect()
        gc.freeze()
        return {"agent_id": agent, "count": count}

    def op_history(
        self, count: int, per_day: int, recent_hours: float = 8.0, log_delay: float = 60.0
    ) -> dict[str, Any]:
        """A new agent with ``count`` completed calls, ``per_day`` of them a day, ending now.

        The newest ``recent_hours`` are the same at every ``count``: evenly spaced calls with fixed
        durations, and one that ended 30 s ago, so a window's requests can be compared as the history
        behind it grows. The rest is seeded before them. Call logs are listed ``log_delay`` emulated
        seconds after a call ends (``log_delay`` >= 30 leaves the last call's log unlisted).
        """
        emu = self.emu
        agent = emu.add_agent(f"history-{count}")
        now = emu.now()
        recent = int(per_day * recent_hours / 24)
        step = timedelta(hours=recent_hours) / recent
        with_duration = OUTCOME_NUMBERS["completed"]
        for n in range(recent):
            created = now - (n + 1) * step
            emu.add_call(
                agent_id=agent, to_number=with_duration, created_at=created, duration=30 + 37 * n % 271
            )
        # One call ended half a minute ago: its log is not listed yet (log_delay), the case that used
        # to cost a scan of every call log.
        emu.add_call(
            agent_id=agent, to_number=with_duration, created_at=now - timedelta(seconds=100), duration=60
        )
        days = timedelta(days=count / per_day)
        history_end = now - timedelta(hours=recent_hours)
        emu.seed_calls(
            count - recent, start=now - days, end=history_end, agent_id=agent, outcomes={"completed": 1}
        )
        emu.call_log_delay = log_delay
        gc.collect()
        gc.freeze()
        return {"agent_id": agent, "count": count, "now": now.isoformat(), "recent": recent}

    def op_now(self) -> dict[str, Any]:
        """The emulator's clock (frozen unless ``speed`` is set): the API's idea of now."""
        return {"now": self.emu.now().isoformat()}

    def op_created_at(self, agent_id: str, ranks: list[int]) -> dict[str, Any]:
        """``created_at`` of the agent's ``n``-th newest call, for each ``n`` in ``ranks``."""
        records = self.emu.calls(agent_id)
        return {"created_at": {str(n): records[n - 1]["created_at"] for n in ranks}}

    def op_ids(self, agent_id: str) -> dict[str, Any]:
        """Every call id of the agent, newest first."""
        return {"ids": [record["id"] for record in self.emu.calls(agent_id)]}

    def op_insert_between_pages(self, n: int) -> dict[str, Any]:
        """After every outbound-call list request, insert ``n`` calls at the head (0 = off)."""
        self.emu.insert_calls_between_pages(n)
        return {}

    def op_add_calls(self, plan: list[dict[str, Any]]) -> dict[str, Any]:
        """Place live calls now: each entry has ``outcome`` and, for completed, ``duration``."""
        ids = []
        for entry in plan:
            call = self.emu.add_call(
                to_number=OUTCOME_NUMBERS[entry["outcome"]], duration=entry.get("duration")
            )
            ids.append(call["id"])
        return {"ids": ids}

    def op_set(self, latency: float | None = None, speed: float | None = None) -> dict[str, Any]:
        if latency is not None:
            self.emu.latency = latency
        if speed is not None:
            self.emu.speed = speed
        return {"latency": self.emu.latency, "speed": self.emu.speed}

    def op_clear(self) -> dict[str, Any]:
        self.emu.clear_requests()
        return {}

    def op_count(self, method: str | None = None, prefix: str | None = None) -> dict[str, Any]:
        return {"count": self.emu.count_requests(method, prefix)}

    def op_count_by_path(self, method: str | None = None, prefix: str = "") -> dict[str, Any]:
        """Requests per path (and per status) under ``prefix``, from the request log."""
        paths: Counter[str] = Counter()
        statuses: Counter[str] = Counter()
        for record in self.emu.requests:
            if (method is None or record.method == method) and record.path.startswith(prefix):
                paths[record.path] += 1
                statuses[str(record.status)] += 1
        return {"paths": dict(paths), "statuses": dict(statuses)}

    def close(self) -> None:
        self.emu.stop()


def serve(latency: float, seed: int) -> None:
    server = EmulatorServer(latency, seed)
    out = sys.stdout
    try:
        for line in sys.stdin:
            if not line.strip():
                continue
            command = json.loads(line)
            if command.get("op") == "quit":
                break
            try:
                answer = {"ok": True, **server.handle(command)}
            except Exception as err:  # report to the driver instead of dying silently
                answer = {"ok": False, "error": f"{type(err).__name__}: {err}"}
            out.write(json.dumps(answer) + "\n")
            out.flush()
    finally:
        server.close()


class EmulatorProcess:
    """Starts :func:`serve` in a child process and sends it commands (in the benchmark process).

    :param latency: seconds the emulator sleeps before answering each request.
    :param seed: the emulator's seed (fixes every id and every seeded call).
    """

    def __init__(self, latency: float = 0.005, seed: int = 1234) -> None:
        self._datasets: dict[tuple[int, int], str] = {}
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.emulator_server", str(latency), str(seed)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=REPO_ROOT,
            env=env,
            text=True,
            bufsize=1,
        )
        info = self.call("info")
        self.base_url: str = info["base_url"]
        self.token: str = info["token"]
        self.pid: int = info["pid"]
        self.latency = latency

    def call(self, op: str, **args: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the emulator process exited (code {self.proc.poll()})")
        answer = json.loads(line)
        if not answer.pop("ok"):
            raise RuntimeError(f"emulator command {op!r} failed: {answer['error']}")
        return answer

    def dataset(self, count: int, days: int = SEED_DAYS) -> str:
        """The id of an agent with ``count`` seeded calls over ``days`` days: created once, then shared."""
        if (count, days) not in self._datasets:
            self._datasets[count, days] = self.call("dataset", count=count, days=days)["agent_id"]
        return self._datasets[count, days]

    def set(self, *, latency: float | None = None, speed: float | None = None) -> None:
        self.call("set", latency=latency, speed=speed)
        if latency is not None:
            self.latency = latency

    def count(self, method: str | None = None, prefix: str | None = None) -> int:
        return int(self.call("count", method=method, prefix=prefix)["count"])

    def clear(self) -> None:
        self.call("clear")

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write('{"op": "quit"}\n')
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def __enter__(self) -> EmulatorProcess:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


if __name__ == "__main__":
    serve(float(sys.argv[1]), int(sys.argv[2]))
