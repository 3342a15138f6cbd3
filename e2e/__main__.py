"""``make e2e``: the provider inside a real Airflow deployment, started from nothing and torn down.

    python -m e2e [--scenarios 1,3]

Starts PostgreSQL (installing Debian's package if needed), the Telzino emulator (in this process,
with a fast clock) and Airflow's components as separate processes, runs the scenarios, prints one
line of figures per scenario and ends every process it started, also on failure or Ctrl-C.
Everything is logged under ``.e2e/<airflow version>/logs/``. Exit status 0 only if every chosen
scenario passed.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
import traceback
from datetime import datetime, timedelta, timezone
from pathlib import Path

from e2e import scenarios
from e2e.deployment import AIRFLOW_VERSION, ROOT, AirflowDeployment
from e2e.postgres import AptGet, Postgres, ensure_installed
from e2e.processes import Processes
from telzino_provider.emulator import TelzinoEmulator

ALL = (1, 2, 3, 4, 5, 6)
SEEDED_CALLS = 80
SEEDED_HOURS = 5


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m e2e", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scenarios", default=",".join(map(str, ALL)), help="comma-separated subset of 1-6 (default: all)"
    )
    args = parser.parse_args(argv)
    try:
        args.scenarios = sorted({int(s) for s in args.scenarios.split(",") if s.strip()})
    except ValueError:
        parser.error("--scenarios takes numbers such as 1,3")
    if not args.scenarios or not set(args.scenarios) <= set(ALL):
        parser.error(f"--scenarios must be a subset of {','.join(map(str, ALL))}")
    return args


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds into the `finally` that tears everything down


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    folder = ROOT / ".e2e" / AIRFLOW_VERSION
    logs = folder / "logs"
    if logs.exists():
        for old in logs.iterdir():
            old.unlink()
    logs.mkdir(parents=True, exist_ok=True)
    procs = Processes(logs)
    apt = AptGet(logs / "apt-get.log")
    now = datetime.now(timezone.utc)
    catchup_start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    emulator = TelzinoEmulator(speed=scenarios.FAST)
    emulator.seed_calls(SEEDED_CALLS, start=now - timedelta(hours=SEEDED_HOURS), end=now)
    postgres: Postgres | None = None
    results: dict[int, str] = {}
    started = time.monotonic()
    print(f"e2e on Airflow {AIRFLOW_VERSION}, scenarios {args.scenarios}; logs in {logs.relative_to(ROOT)}/")
    try:
        postgres = Postgres(ensure_installed(apt), procs)
        postgres.start()
        emulator.start()
        deployment = AirflowDeployment(folder, procs, postgres)
        deployment.prepare(
            extra_dags=sorted((Path(__file__).parent / "dags").glob("telzino_e2e_*.py")),
            generated=scenarios.generated_dags(catchup_start),
        )
        _step(
            "PostgreSQL",
            f"127.0.0.1:{postgres.port}; emulator {emulator.base_url} (clock x{scenarios.FAST:.0f})",
        )
        deployment.start()
        _step("Airflow", f"{', '.join(deployment.components())} on {deployment.base_url}")
        out_dir = folder / "out"
        out_dir.mkdir(exist_ok=True)
        api = deployment.api
        api.add_connection("telzino_default", "telzino", emulator.base_url, emulator.token)
        api.set_variable("telzino_agent_id", emulator.agent_id)
        api.set_variable("telzino_output_dir", str(out_dir))
        api.wait_dags(
            [
                *scenarios.EXAMPLES,
                scenarios.CATCHUP,
                scenarios.BURST,
                scenarios.CAMPAIGN,
                scenarios.WORKER_CRASH,
            ]
        )
        _step(
            "Setup", f"connection and Variables stored through the REST API, DAGs parsed ({_since(started)})"
        )
        harness = scenarios.Harness(deployment, emulator)
        crashes = iter(range(2, 100))

        def restart_triggerer() -> None:
            procs.kill("triggerer")
            deployment.start_component("triggerer", name=f"triggerer-{next(crashes)}")

        runners = {
            1: lambda: scenarios.manual_runs(harness),
            2: lambda: scenarios.catchup(harness, catchup_start),
            3: lambda: scenarios.triggerer_crash(harness, restart_triggerer),
            4: lambda: scenarios.worker_crash(harness),
            5: lambda: scenarios.campaign(harness),
            6: lambda: scenarios.connection_form(harness, apt),
        }
        for number in args.scenarios:
            runner = runners[number]  # parse_args accepts only the numbers above
            begin = time.monotonic()
            try:
                figures = runner()
            except Exception as error:  # one scenario's failure must not hide the others'
                results[number] = "FAIL"
                print(f"  scenario {number}: FAIL after {_since(begin)}: {error}", flush=True)
                with (logs / "harness.log").open("a") as out:
                    traceback.print_exc(file=out)
                emulator.speed = scenarios.FAST
                continue
            results[number] = "PASS"
            shown = ", ".join(f"{k} {v}" for k, v in figures.items())
            print(f"  scenario {number}: PASS ({_since(begin)}) {shown}", flush=True)
    except (KeyboardInterrupt, SystemExit):  # Ctrl-C, or SIGTERM/SIGHUP through _terminate
        print("interrupted; tearing down", flush=True)
        results[0] = "INTERRUPTED"
    except Exception as error:  # the deployment did not come up
        print(f"  setup FAILED: {error}", flush=True)
        with (logs / "harness.log").open("a") as out:
            traceback.print_exc(file=out)
        results[0] = "SETUP FAILED"
    finally:
        procs.stop_all()
        if postgres is not None:
            postgres.stop()
        emulator.stop()
    ok = bool(results) and all(v == "PASS" for v in results.values()) and len(results) == len(args.scenarios)
    print(f"e2e on Airflow {AIRFLOW_VERSION}: {'PASS' if ok else 'FAIL'} in {_since(started)}; {results}")
    return 0 if ok else 1


def _step(what: str, detail: str) -> None:
    print(f"  {what}: {detail}", flush=True)


def _since(start: float) -> str:
    return f"{time.monotonic() - start:.0f} s"


if __name__ == "__main__":
    sys.exit(main())
