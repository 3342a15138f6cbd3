"""An Airflow deployment shaped like production, started from nothing in ``.e2e/<version>/``.

PostgreSQL metadata database, LocalExecutor, and every component in its own process (own process
group) on free ports: scheduler, triggerer, DAG processor (3.x) and API server (3.x) or webserver
(2.x). Every process gets the same configuration through ``AIRFLOW__*`` variables and nothing else:
no ``AIRFLOW_CONN_*``; the connection and the Variables are created through the REST API, so they
live in the metastore as they do when a user adds them in the UI.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

import requests

from e2e.postgres import DATABASE, USER, Postgres
from e2e.processes import Processes, SetupError, free_port

AIRFLOW_VERSION = version("apache-airflow")
AIRFLOW_MAJOR = int(AIRFLOW_VERSION.split(".")[0])
ROOT = Path(__file__).resolve().parents[1]
AIRFLOW = Path(sys.executable).parent / "airflow"
ADMIN = "admin"


class AirflowDeployment:
    """Configuration, components and the admin's REST session of one deployment.

    :param folder: where the Airflow home, the DAGs folder and the logs go (wiped first).
    :param procs: the process registry every component is started in.
    :param postgres: the running metadata database.
    """

    def __init__(self, folder: Path, procs: Processes, postgres: Postgres) -> None:
        self.folder = folder
        self.home = folder / "home"
        self.dags = folder / "dags"
        self.procs = procs
        self.postgres = postgres
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.password = secrets.token_hex(12)  # never starts with "-" (a CLI option)
        self.api = RestApi(self.base_url, self.password)
        self.env = self._environment()

    # -- configuration ---------------------------------------------------------------------------
    def _environment(self) -> dict[str, str]:
        from cryptography.fernet import Fernet

        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "AIRFLOW__"))}
        cfg = {
            "CORE__EXECUTOR": "LocalExecutor",
            "CORE__DAGS_FOLDER": str(self.dags),
            "CORE__LOAD_EXAMPLES": "False",
            "CORE__FERNET_KEY": Fernet.generate_key().decode(),
            "CORE__PARALLELISM": "8",  # LocalExecutor worker processes: 2 cores
            "CORE__MAX_ACTIVE_TASKS_PER_DAG": "256",
            "CORE__MAX_ACTIVE_RUNS_PER_DAG": "64",
            "CORE__TEST_CONNECTION": "Enabled",  # off by default; scenario 6 presses the button
            "DATABASE__SQL_ALCHEMY_CONN": self.postgres.url,
            "DATABASE__SQL_ALCHEMY_POOL_SIZE": "3",
            "DATABASE__SQL_ALCHEMY_MAX_OVERFLOW": "5",
            # Airflow's own log servers default to 8793/8794, which other deployments may hold.
            "LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            # Fast loops: the scenarios wait on the scheduler and the triggerer, not on the clock.
            "SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "SCHEDULER__JOB_HEARTBEAT_SEC": "1",
            "SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
            "SCHEDULER__DAG_DIR_LIST_INTERVAL": "5",
            "SCHEDULER__PARSING_PROCESSES": "1",
            "SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "60",
            "DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "DAG_PROCESSOR__PARSING_PROCESSES": "1",
            "DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "60",
            "TRIGGERER__JOB_HEARTBEAT_SEC": "1",
            # A killed triggerer's triggers move to a new one once its heartbeat is this old.
            "TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "8",
            # A task whose process died stops counting as running this soon (zombie detection).
            "SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
            "SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
            "SCHEDULER__SCHEDULER_ZOMBIE_TASK_THRESHOLD": "20",
            "SCHEDULER__ZOMBIE_DETECTION_INTERVAL": "5",
            "SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD": "30",
            "API__ENABLE_XCOM_DESERIALIZE_SUPPORT": "True",
        }
        if AIRFLOW_MAJOR >= 3:
            cfg |= {
                "API__HOST": "127.0.0.1",
                "API__PORT": str(self.port),
                "API__WORKERS": "1",
                "API__BASE_URL": self.base_url,
                "API__SECRET_KEY": secrets.token_hex(16),
                "CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
                # Shared by every process: the scheduler signs task tokens the API server checks.
                "API_AUTH__JWT_SECRET": secrets.token_hex(32),
                # 3.0 leaves the issuer unset, which current PyJWT rejects when signing ("Issuer (iss)
                # must be a string"): every token request would fail with 500.
                "API_AUTH__JWT_ISSUER": "airflow",
                "CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN}:admin",
                "CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.home / "passwords.json"),
            }
        else:
            cfg |= {
                "WEBSERVER__WEB_SERVER_HOST": "127.0.0.1",
                "WEBSERVER__WEB_SERVER_PORT": str(self.port),
                "WEBSERVER__BASE_URL": self.base_url,
                "WEBSERVER__WORKERS": "1",
                "WEBSERVER__SECRET_KEY": secrets.token_hex(16),
                "API__AUTH_BACKENDS": "airflow.providers.fab.auth_manager.api.auth.backend.basic_auth",
            }
        env |= {f"AIRFLOW__{key}": value for key, value in cfg.items()}
        env["AIRFLOW_HOME"] = str(self.home)
        env["PYTHONWARNINGS"] = "ignore::DeprecationWarning"
        return env

    def prepare(self, extra_dags: list[Path], generated: dict[str, str]) -> None:
        """A fresh home and DAGs folder: the example DAGs, ``extra_dags`` and ``generated`` files."""
        for path in (self.home, self.dags):
            shutil.rmtree(path, ignore_errors=True)
            path.mkdir(parents=True)
        for dag_file in [*sorted((ROOT / "example_dags").glob("telzino_*.py")), *extra_dags]:
            shutil.copy(dag_file, self.dags / dag_file.name)
        for name, text in generated.items():
            (self.dags / name).write_text(text)
        if AIRFLOW_MAJOR >= 3:  # the simple auth manager's file: its configurable name, and its default
            for name in ("passwords.json", "simple_auth_manager_passwords.json.generated"):
                (self.home / name).write_text(json.dumps({ADMIN: self.password}))

    # -- processes -------------------------------------------------------------------------------
    def cli(self, *args: str, log: str) -> None:
        """One ``airflow`` command to completion; its output appended to ``<log>.log``."""
        with (self.procs.log_dir / f"{log}.log").open("ab") as out:
            code = subprocess.call(
                [str(AIRFLOW), *args], env=self.env, stdout=out, stderr=subprocess.STDOUT, cwd=self.folder
            )
        if code:
            raise SetupError(f"`airflow {' '.join(args[:3])}` failed ({code}); see {log}.log")

    def start_component(self, component: str, name: str | None = None) -> None:
        """Start ``airflow <component>``, registered (and logged) as ``name``, default the component."""
        self.procs.start(name or component, [str(AIRFLOW), component], env=self.env, cwd=self.folder)

    def components(self) -> list[str]:
        if AIRFLOW_MAJOR >= 3:
            return ["api-server", "dag-processor", "scheduler", "triggerer"]
        return ["webserver", "scheduler", "triggerer"]

    def start(self) -> None:
        """Migrate the metastore and start every component; returns once the REST API answers."""
        self.cli("db", "migrate", log="db-migrate")
        if AIRFLOW_MAJOR < 3:
            user = ["--username", ADMIN, "--password", self.password, "--role", "Admin"]
            names = ["--email", "admin@example.com", "--firstname", "E2E", "--lastname", "Admin"]
            self.cli("users", "create", *user, *names, log="users-create")
        web = self.components()[0]
        self.start_component(web)
        self.api.wait_ready(self.procs.get(web), timeout=180)
        for name in self.components()[1:]:
            self.start_component(name)

    def metastore_value(self, sql: str, params: tuple[Any, ...]) -> Any:
        """The first column of the first row of one query against the metadata database."""
        import psycopg2

        pg = self.postgres
        db = psycopg2.connect(host="127.0.0.1", port=pg.port, user=USER, dbname=DATABASE)
        try:
            with db.cursor() as cursor:
                cursor.execute(sql, params)
                row = cursor.fetchone()
        finally:
            db.close()
        return row[0] if row else None


class RestApi:
    """The stable REST API as an admin: ``/api/v2`` with a JWT on 3.x, ``/api/v1`` with basic auth on 2.x."""

    def __init__(self, base_url: str, password: str) -> None:
        self.base_url = base_url
        self.password = password
        self.prefix = f"{base_url}/api/v2" if AIRFLOW_MAJOR >= 3 else f"{base_url}/api/v1"
        self.session = requests.Session()
        self.token: str | None = None  # the JWT on 3.x (also the UI's session cookie)
        if AIRFLOW_MAJOR < 3:
            self.session.auth = (ADMIN, password)

    def wait_ready(self, proc: subprocess.Popen, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SetupError("The API server / webserver exited while starting; see its log")
            try:
                if requests.get(f"{self.base_url}/api/v2/monitor/health" if AIRFLOW_MAJOR >= 3
                                else f"{self.base_url}/health", timeout=5).ok:  # fmt: skip
                    break
            except requests.RequestException:
                pass
            time.sleep(1)
        else:
            raise SetupError(f"The API server did not answer within {timeout:.0f} s")
        if AIRFLOW_MAJOR >= 3:
            reply = requests.post(
                f"{self.base_url}/auth/token", json={"username": ADMIN, "password": self.password}, timeout=30
            )
            reply.raise_for_status()
            self.token = reply.json()["access_token"]
            self.session.headers["Authorization"] = f"Bearer {self.token}"

    def call(self, method: str, path: str, ok: tuple[int, ...] = (200,), **kwargs: Any) -> Any:
        reply = self.session.request(method, f"{self.prefix}{path}", timeout=60, **kwargs)
        if reply.status_code not in ok:
            raise AssertionError(f"{method} {path}: {reply.status_code} {reply.text[:300]}")
        return reply.json() if reply.content else None

    def add_connection(self, conn_id: str, conn_type: str, host: str, password: str) -> None:
        body = {"connection_id": conn_id, "conn_type": conn_type, "host": host, "password": password}
        self.call("POST", "/connections", ok=(200, 201), json=body)

    def set_variable(self, key: str, value: str) -> None:
        self.call("POST", "/variables", ok=(200, 201), json={"key": key, "value": value})

    def wait_dags(self, dag_ids: list[str], timeout: float = 300) -> None:
        """Until every DAG is parsed and known to the API."""
        deadline = time.monotonic() + timeout
        missing = list(dag_ids)
        while time.monotonic() < deadline:
            missing = [
                d
                for d in missing
                if self.session.get(f"{self.prefix}/dags/{d}", timeout=30).status_code != 200
            ]
            if not missing:
                return
            time.sleep(2)
        raise AssertionError(f"DAGs not parsed within {timeout:.0f} s: {missing}")

    def unpause(self, dag_id: str) -> None:
        self.call("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None, run_id: str | None = None) -> str:
        """A manual run with ``conf`` (none by default): on 3.x without a logical date, as the UI does."""
        body: dict[str, Any] = {"conf": conf or {}}
        if AIRFLOW_MAJOR >= 3:
            body["logical_date"] = None
        if run_id:
            body["dag_run_id"] = run_id
        return self.call("POST", f"/dags/{dag_id}/dagRuns", json=body)["dag_run_id"]

    def run_state(self, dag_id: str, run_id: str) -> str:
        return self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"]

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        return self.call("GET", f"/dags/{dag_id}/dagRuns", params={"limit": 100})["dag_runs"]

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        """``task_id`` (``task_id[i]`` for mapped ones) -> state, every page."""
        states: dict[str, str] = {}
        offset = 0
        while True:
            page = self.call(
                "GET",
                f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances",
                params={"limit": 100, "offset": offset},
            )
            for ti in page["task_instances"]:
                key = ti["task_id"] if ti["map_index"] < 0 else f"{ti['task_id']}[{ti['map_index']}]"
                states[key] = ti["state"]
            offset += len(page["task_instances"])
            if not page["task_instances"] or offset >= page["total_entries"]:
                return states

    def try_number(self, dag_id: str, run_id: str, task_id: str) -> int:
        return int(self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}")["try_number"])

    def xcom(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> Any:
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value"
        params = {"map_index": map_index, "deserialize": "true", "stringify": "false"}
        return self.call("GET", path, params=params)["value"]

    def wait_runs(self, dag_id: str, run_ids: list[str], timeout: float) -> dict[str, str]:
        """Until every run is finished (success or failed); returns run_id -> state."""
        deadline = time.monotonic() + timeout
        states: dict[str, str] = {}
        while time.monotonic() < deadline:
            states = {r: self.run_state(dag_id, r) for r in run_ids}
            if all(s in ("success", "failed") for s in states.values()):
                return states
            time.sleep(2)
        pending = {r: s for r, s in states.items() if s not in ("success", "failed")}
        raise AssertionError(f"{dag_id}: runs unfinished after {timeout:.0f} s: {pending}")
