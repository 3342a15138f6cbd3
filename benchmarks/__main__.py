"""``python -m benchmarks``: run the benchmarks, print one table, write benchmarks/results.json.

``--quick`` (tiny sizes, one round) checks that everything runs and writes no JSON unless given
``--output``, so the tracked results.json keeps the full run's figures.

Airflow's logging (the provider logs one line per page) goes to a file in the temporary
AIRFLOW_HOME, as a task's log would, not to the terminal; the table goes to standard output and
progress to standard error.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, TextIO

HERE = Path(__file__).resolve().parent
BENCHMARKS = (
    "full_pull",
    "incremental",
    "memory",
    "waiting",
    "overhead",
    "history",
    "create_cost",
    "concurrent_pull",
    "landing",
    "old_window",
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    parser.add_argument("--latency", type=float, default=0.005, help="emulator latency per request, s")
    parser.add_argument("--rounds", type=int, default=25, help="rounds for benchmarks 1 and 5 (>= 5)")
    parser.add_argument(
        "--slow-rounds", type=int, default=5, help="rounds for benchmarks 2, 3, 8 and 9 (>= 5)"
    )
    parser.add_argument("--only", default="1,2,3,4,5,6,7,8,9,10", help="comma-separated benchmark numbers")
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="where to write JSON (default: benchmarks/results.json; with --quick, nowhere)",
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 1 round: checks it runs")
    args = parser.parse_args(argv)
    if not args.quick and min(args.rounds, args.slow_rounds) < 5:
        parser.error("comparisons need at least 5 interleaved rounds")
    return args


def sizes(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Keyword arguments of each benchmark's ``run``."""
    if args.quick:
        return {
            "full_pull": {"calls": 300, "rounds": 1},
            "incremental": {"calls": 1_000, "window": 300, "rounds": 1},
            "memory": {"counts": (300, 600), "rounds": 1},
            "waiting": {"triggers": 10, "poll_interval": 0.1, "speed": 100.0, "stress_interval": None},
            "overhead": {"calls": 300, "rounds": 1, "sampled_pulls": 2, "profiled_pulls": 1},
            "history": {"counts": (300, 1_200), "per_day": 300},
            "create_cost": {"history": 2_000, "creates": 10, "retries": 3},
            "concurrent_pull": {"calls": 1_000, "rounds": 1, "latency": 0.002},
            "landing": {"calls": 300, "rounds": 1},
            "old_window": {"calls": 800, "hours": 80.0},
        }
    return {
        "full_pull": {"calls": 10_000, "rounds": args.rounds},
        "incremental": {"calls": 100_000, "window": 300, "rounds": args.slow_rounds},
        "memory": {"counts": (10_000, 100_000), "rounds": args.slow_rounds},
        "waiting": {"triggers": 200, "poll_interval": 1.0, "speed": 10.0, "stress_interval": 0.2},
        "overhead": {"calls": 10_000, "rounds": args.rounds},
        "history": {"counts": (10_000, 100_000), "per_day": 3_333},
        "create_cost": {"history": 20_000, "creates": 200, "retries": 20},
        "concurrent_pull": {"calls": 10_000, "rounds": args.slow_rounds},
        "landing": {"calls": 100_000, "rounds": args.slow_rounds},
        "old_window": {"calls": 8_000, "hours": 80.0},
    }


def output_path(args: argparse.Namespace) -> Path | None:
    """Where the JSON goes. A quick run writes none unless asked: its tiny-size figures must not
    replace the tracked results.json, whose figures the docs quote."""
    if args.output is not None:
        return Path(args.output)
    return None if args.quick else HERE / "results.json"


def prepare_environment() -> Path:
    """A throw-away AIRFLOW_HOME (no database is needed: hooks read connections from the env)."""
    home = Path(tempfile.mkdtemp(prefix="telzino-bench-airflow-"))
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    return home


def redirect_stdout(log_path: Path) -> TextIO:
    """Send file descriptor 1 (Airflow's log output) to ``log_path``; return the real stdout."""
    sys.stdout.flush()
    real = os.fdopen(os.dup(1), "w", buffering=1)
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(log, 1)
    os.close(log)
    return real


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    home = prepare_environment()
    log_path = home / "bench.log"
    out = redirect_stdout(log_path)

    # Imported only now, with stdout redirected: importing Airflow logs to it.
    from benchmarks import report
    from benchmarks.common import machine
    from benchmarks.emulator_server import EmulatorProcess

    modules = {name: importlib.import_module(f"benchmarks.{name}") for name in BENCHMARKS}
    wanted = {BENCHMARKS[int(n) - 1] for n in args.only.split(",") if n.strip()}
    config = sizes(args)
    results: dict[str, Any] = {}
    started = time.perf_counter()
    with EmulatorProcess(latency=args.latency) as server:
        for number, name in enumerate(BENCHMARKS, start=1):
            if name not in wanted:
                continue
            print(f"[{number}/{len(BENCHMARKS)}] {name} ...", file=sys.stderr, flush=True)
            began = time.perf_counter()
            results[name] = modules[name].run(server, **config[name])
            results[name]["seconds"] = time.perf_counter() - began
    info = machine()
    info["latency_ms"] = args.latency * 1000
    info["duration_s"] = time.perf_counter() - started
    rows = report.rows(results)
    table = report.render(rows, info)
    print(table, file=out)
    output = output_path(args)
    if output is None:
        print(
            f"\nquick run: no JSON written (--output FILE keeps it); Airflow's log output is in {log_path}",
            file=out,
        )
        return 0
    document = {
        "machine": info,
        "settings": vars(args) | {"output": _shown(output), "sizes": config},
        "table": rows,
        "results": results,
    }
    output.write_text(json.dumps(document, indent=2, default=str) + "\n")
    print(f"\nwrote {_shown(output)}; Airflow's log output is in {log_path}", file=out)
    return 0


def _shown(path: Path) -> str:
    """``path`` relative to the repository when it is inside it."""
    try:
        return str(path.resolve().relative_to(HERE.parent))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
