"""What every benchmark shares: connections, the contenders' loops, interleaved rounds and statistics."""

from __future__ import annotations

import gc
import json
import logging
import os
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import requests

from benchmarks.emulator_server import EmulatorProcess

#: Connection ids the benchmarks use (set through AIRFLOW_CONN_* environment variables).
TELZINO_CONN_ID = "telzino_bench"
HTTP_CONN_ID = "http_bench"
PAGE_SIZE = 100

PEER_MISSING = (
    "apache-airflow-providers-http is not installed here; it is installed only in the benchmark venv "
    "(make bench), never as a dependency of the provider"
)


def connection_env(server: EmulatorProcess) -> dict[str, str]:
    """AIRFLOW_CONN_* variables: the Telzino connection and an HTTP connection, same host and token."""
    telzino = {"conn_type": "telzino", "host": server.base_url, "password": server.token}
    http = {
        "conn_type": "http",
        "host": server.base_url,
        # HttpHook puts the connection extras into the session headers: the usual way to send a token.
        "extra": {"Authorization": f"Bearer {server.token}", "Accept": "application/json"},
    }
    return {
        f"AIRFLOW_CONN_{TELZINO_CONN_ID.upper()}": json.dumps(telzino),
        f"AIRFLOW_CONN_{HTTP_CONN_ID.upper()}": json.dumps(http),
    }


@contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of the block, then restore them."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old


def calls_path(agent_id: str) -> str:
    return f"/v1/agents/{agent_id}/outbound-calls"


def logs_path(agent_id: str) -> str:
    return f"/v1/agents/{agent_id}/call-logs"


# -- the contenders -------------------------------------------------------------------------------


def floor_pull(base_url: str, token: str, agent_id: str) -> list[dict[str, Any]]:
    """The floor: the smallest correct requests loop (one session, follow hasNext, no checks)."""
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {token}"
        return list(floor_pages(session, base_url + calls_path(agent_id)))


def floor_pages(session: requests.Session, url: str) -> Iterator[dict[str, Any]]:
    """Every item of a paged list, page after page until ``hasNext`` is false: the floor's loop."""
    page = 1
    while True:
        response = session.get(url, params={"limit": PAGE_SIZE, "page": page}, timeout=30)
        response.raise_for_status()
        body = response.json()
        yield from body["data"]
        if not body["pagination"]["hasNext"]:
            return
        page += 1


def provider_pull(agent_id: str, **window: Any) -> list[dict[str, Any]]:
    """The provider: a fresh TelzinoHook (connection looked up, new session) and list_outbound_calls."""
    from telzino_provider.hooks.telzino import TelzinoHook

    hook = TelzinoHook(telzino_conn_id=TELZINO_CONN_ID)
    try:
        return hook.list_outbound_calls(agent_id, **window)
    finally:
        hook.close()


@contextmanager
def paging_log_off() -> Iterator[None]:
    """Silence the provider's one INFO line per page (a what-if: how much of the cost is that line)."""
    logger = logging.getLogger("telzino_provider.transport.paging")
    logger.disabled = True
    try:
        yield
    finally:
        logger.disabled = False


def provider_pull_quiet(agent_id: str) -> list[dict[str, Any]]:
    """:func:`provider_pull` with the per-page log line off."""
    with paging_log_off():
        return provider_pull(agent_id)


def peer_available() -> bool:
    try:
        import airflow.providers.http.operators.http  # noqa: F401
    except ImportError:
        return False
    return True


def next_page(response: requests.Response) -> dict[str, Any] | None:
    """HttpOperator pagination_function: the next page's parameters while ``hasNext`` is true."""
    pagination = response.json()["pagination"]
    if not pagination["hasNext"]:
        return None
    return {"data": {"page": pagination["page"] + 1}}


def all_calls(responses: list[requests.Response]) -> list[dict[str, Any]]:
    """HttpOperator response_filter: every page's ``data``, in order."""
    return [call for response in responses for call in response.json()["data"]]


def peer_pull(agent_id: str) -> list[dict[str, Any]]:
    """The peer: HttpOperator (HttpHook underneath) with a pagination_function following hasNext.

    ``execute`` is what a task runs: HttpHook.run for page 1, then paginate_sync until the
    pagination_function returns None, then the response_filter over the list of responses.
    """
    from airflow.providers.http.operators.http import HttpOperator

    operator = HttpOperator(
        task_id="pull_calls",
        http_conn_id=HTTP_CONN_ID,
        method="GET",
        endpoint=calls_path(agent_id),
        data={"limit": PAGE_SIZE, "page": 1},
        pagination_function=next_page,
        response_filter=all_calls,
    )
    return operator.execute(context={})  # type: ignore[arg-type]


# -- rounds and statistics ------------------------------------------------------------------------


@dataclass
class Samples:
    """Per-contender samples from interleaved rounds."""

    values: dict[str, list[float]] = field(default_factory=dict)

    def add(self, name: str, value: float) -> None:
        self.values.setdefault(name, []).append(value)

    def median(self, name: str) -> float:
        return statistics.median(self.values[name])

    def summary(self, name: str) -> dict[str, Any]:
        return summarize(self.values[name])

    def ratio(self, a: str, b: str) -> float:
        """Ratio of medians."""
        return self.median(a) / self.median(b)

    def round_ratios(self, a: str, b: str) -> dict[str, Any]:
        """The same ratio computed per round (A and B of one round are neighbours in time)."""
        return summarize([x / y for x, y in zip(self.values[a], self.values[b], strict=True)])


def summarize(values: list[float]) -> dict[str, Any]:
    ordered = sorted(values)
    return {
        "median": statistics.median(ordered),
        "p25": _quantile(ordered, 0.25),
        "p75": _quantile(ordered, 0.75),
        "min": ordered[0],
        "max": ordered[-1],
        "n": len(ordered),
        "values": values,
    }


def _quantile(ordered: list[float], q: float) -> float:
    if len(ordered) == 1:
        return ordered[0]
    pos = q * (len(ordered) - 1)
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def interleave(
    contenders: Mapping[str, Callable[[], Any]],
    rounds: int,
    measure: Callable[[str, Callable[[], Any]], Mapping[str, float]],
    *,
    warmup: int = 1,
) -> dict[str, Samples]:
    """Run A B C, B C A, C A B ... for ``rounds`` rounds (after ``warmup`` unrecorded ones).

    Every round runs each contender once; the order rotates so that no contender always runs right
    after the same neighbour. ``measure(name, fn)`` returns the round's metrics (e.g. wall and CPU
    seconds); the result holds one :class:`Samples` per metric.
    """
    names = list(contenders)
    metrics: dict[str, Samples] = {}
    for number in range(warmup + rounds):
        shift = number % len(names)
        for name in names[shift:] + names[:shift]:
            gc.collect()
            values = measure(name, contenders[name])
            if number >= warmup:
                for metric, value in values.items():
                    metrics.setdefault(metric, Samples()).add(name, value)
    return metrics


def timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """(wall seconds, CPU seconds of this process, result) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, result


# -- the machine ----------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    def dist(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = os.cpu_count()
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "cpu": _cpu_model(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {
            "apache-airflow": dist("apache-airflow"),
            "airflow-provider-telzino": dist("airflow-provider-telzino"),
            "apache-airflow-providers-http": dist("apache-airflow-providers-http"),
            "requests": dist("requests"),
            "urllib3": dist("urllib3"),
        },
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


# -- peak memory (Linux) ---------------------------------------------------------------------------


def status_kb(field: str) -> int | None:
    """A ``/proc/self/status`` field in kB (``VmRSS``, ``VmHWM``); None where there is none."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def max_rss_kb() -> int:
    """The process's peak RSS in kB from ``getrusage``, where ``reset_peak`` is not possible."""
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return usage // 1024 if sys.platform == "darwin" else usage  # bytes on macOS, KiB on Linux


def reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux 4.0+); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")
    except OSError:
        return False
    return status_kb("VmHWM") is not None
