"""Test set-up: Airflow on SQLite in a temporary home, and a Telzino emulator per test.

Airflow reads its configuration when first imported, so the environment is set here, before any
test module imports it.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
_HOME = Path(tempfile.mkdtemp(prefix="telzino-airflow-home-"))
os.environ.update(
    {
        "AIRFLOW_HOME": str(_HOME),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_HOME / 'airflow.db'}",
        "AIRFLOW__CORE__DAGS_FOLDER": str(TESTS_DIR / "dags"),
    }
)

from telzino_provider.emulator import TelzinoEmulator  # noqa: E402
from telzino_provider.transport.auth import clear_token_cache  # noqa: E402
from telzino_provider.version_compat import AIRFLOW_V_3_0_PLUS  # noqa: E402

if not AIRFLOW_V_3_0_PLUS:
    # Resuming a deferred task under dag.test() needs the sequential executor on SQLite.
    os.environ["AIRFLOW__CORE__EXECUTOR"] = "SequentialExecutor"

CONN_ENV = "AIRFLOW_CONN_TELZINO_DEFAULT"


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the session's Airflow home (database, logs): a test run leaves nothing in the temp folder."""
    shutil.rmtree(_HOME, ignore_errors=True)


def conn_json(emulator: TelzinoEmulator, *, oauth: bool = False, **extra: object) -> str:
    """The ``telzino_default`` connection as Airflow's JSON form, pointing at ``emulator``."""
    conn: dict[str, object] = {"conn_type": "telzino", "host": emulator.base_url}
    extras: dict[str, object] = {"retry_backoff": 0.01, "max_retry_wait": 2, **extra}
    if oauth:
        extras.update(client_id=emulator.client_id, client_secret=emulator.client_secret)
    else:
        conn["password"] = emulator.token
    conn["extra"] = extras
    return json.dumps(conn)


@pytest.fixture
def emulator() -> Iterator[TelzinoEmulator]:
    """A fresh emulator on an ephemeral port, its clock frozen unless a test moves it."""
    with TelzinoEmulator() as emu:
        yield emu


@pytest.fixture(autouse=True)
def _fresh_token_cache() -> Iterator[None]:
    clear_token_cache()
    yield
    clear_token_cache()


@pytest.fixture
def telzino_conn(emulator: TelzinoEmulator, monkeypatch: pytest.MonkeyPatch) -> TelzinoEmulator:
    """``telzino_default`` set through the environment: static token, fast retries."""
    monkeypatch.setenv(CONN_ENV, conn_json(emulator))
    return emulator


@pytest.fixture
def oauth_conn(emulator: TelzinoEmulator, monkeypatch: pytest.MonkeyPatch) -> TelzinoEmulator:
    """``telzino_default`` with OAuth client credentials."""
    monkeypatch.setenv(CONN_ENV, conn_json(emulator, oauth=True))
    return emulator


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """An empty Airflow metadata database, created once per test session (for dag.test())."""
    from airflow.utils import db

    db.resetdb()
