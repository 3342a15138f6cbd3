"""version_compat resolves each Airflow symbol to the object that Airflow version itself uses.

The expected locations are written out per version (from checking 2.10.5, 2.11.2, 3.0.6, 3.1.8,
3.2.2 and 3.3.2), independently of the flags in version_compat, so a wrong flag or a moved class
fails here on the version where it matters.
"""

from __future__ import annotations

import ast
import asyncio
import importlib
import time
import warnings
from pathlib import Path
from typing import Any

import airflow
import pytest
from packaging.version import Version

from telzino_provider import version_compat as vc

INSTALLED = Version(Version(airflow.__version__).base_version)
PACKAGE_DIR = Path(vc.__file__).resolve().parent

# symbol -> [(first version it is there, where it is defined)], oldest first.
LOCATIONS: dict[str, list[tuple[str, str]]] = {
    "BaseHook": [
        ("2.10", "airflow.hooks.base.BaseHook"),
        ("3.1", "airflow.sdk.bases.hook.BaseHook"),
    ],
    "BaseOperator": [
        ("2.10", "airflow.models.baseoperator.BaseOperator"),
        ("3.0", "airflow.sdk.bases.operator.BaseOperator"),
    ],
    "BaseOperatorLink": [
        ("2.10", "airflow.models.baseoperatorlink.BaseOperatorLink"),
        ("3.0", "airflow.sdk.bases.operatorlink.BaseOperatorLink"),
    ],
    "BaseSensorOperator": [
        ("2.10", "airflow.sensors.base.BaseSensorOperator"),
        ("3.0", "airflow.sdk.bases.sensor.BaseSensorOperator"),
    ],
    "PokeReturnValue": [
        ("2.10", "airflow.sensors.base.PokeReturnValue"),
        ("3.0", "airflow.sdk.bases.sensor.PokeReturnValue"),
    ],
    "BaseTrigger": [("2.10", "airflow.triggers.base.BaseTrigger")],
    "ObjectStoragePath": [
        ("2.10", "airflow.io.path.ObjectStoragePath"),
        ("3.0", "airflow.sdk.io.path.ObjectStoragePath"),
    ],
    "has_fs": [
        ("2.10", "airflow.io.has_fs"),
        ("3.1", "airflow.sdk.io.fs.has_fs"),
    ],
    "Asset": [
        ("2.10", "airflow.datasets.Dataset"),
        ("3.0", "airflow.sdk.definitions.asset.Asset"),
    ],
    "TriggerEvent": [("2.10", "airflow.triggers.base.TriggerEvent")],
    "mask_secret": [
        ("2.10", "airflow.utils.log.secrets_masker.mask_secret"),
        ("3.0", "airflow.sdk.execution_time.secrets_masker.mask_secret"),
        ("3.1", "airflow.sdk.log.mask_secret"),
    ],
    **{
        name: [("2.10", f"airflow.exceptions.{name}"), ("3.2", f"airflow.sdk.exceptions.{name}")]
        for name in (
            "AirflowException",
            "AirflowFailException",
            "AirflowSensorTimeout",
            "AirflowSkipException",
            "AirflowTaskTerminated",
            "AirflowTaskTimeout",
            "TaskDeferred",
        )
    },
}

# Where the module a task runs in takes the same thing from, on each version.
RUNTIME_MODULES: dict[str, list[tuple[str, str]]] = {
    "BaseHook": [("2.10", "airflow.hooks.base"), ("3.1", "airflow.sdk")],
    "BaseOperator": [("2.10", "airflow.models"), ("3.0", "airflow.sdk")],
    "BaseOperatorLink": [("2.10", "airflow.models"), ("3.0", "airflow.sdk")],
    "BaseSensorOperator": [("2.10", "airflow.sensors.base"), ("3.0", "airflow.sdk")],
    "PokeReturnValue": [("2.10", "airflow.sensors.base"), ("3.0", "airflow.sdk")],
    "conf": [("2.10", "airflow.configuration"), ("3.2", "airflow.sdk")],
    "mask_secret": [("2.10", "airflow.utils.log.secrets_masker"), ("3.0", "airflow.sdk.log")],
}

# The module that redacts task logs, where mask_secret must register the secret.
REDACTING_MODULE = [
    ("2.10", "airflow.utils.log.secrets_masker"),
    ("3.0", "airflow.sdk.execution_time.secrets_masker"),
    ("3.1", "airflow.sdk.log"),
]


def for_installed(table: list[tuple[str, str]]) -> str:
    """The entry of ``table`` for the installed Airflow: the last one whose version it has reached."""
    found = [value for since, value in table if Version(since) <= INSTALLED]
    assert found, f"Airflow {INSTALLED} is older than every entry of {table}"
    return found[-1]


def where(obj: Any) -> str:
    return f"{obj.__module__}.{obj.__qualname__}"


def test_version_flags_follow_the_installed_airflow():
    assert vc.AIRFLOW_VERSION == INSTALLED
    assert vc.AIRFLOW_V_3_0_PLUS is (Version("3.0") <= INSTALLED)
    assert vc.AIRFLOW_V_3_1_PLUS is (Version("3.1") <= INSTALLED)
    assert vc.AIRFLOW_V_3_2_PLUS is (Version("3.2") <= INSTALLED)
    assert vc.CONN_FIELDS_IN_PROVIDER_INFO is (Version("3.2") <= INSTALLED)


def test_supported_range_is_declared():
    from importlib.metadata import requires

    declared = [r for r in requires("airflow-provider-telzino") or [] if r.startswith("apache-airflow")]
    assert any(">=2.10" in r for r in declared), declared
    # No upper bound: it would block installing next to the next Airflow release (README, Compatibility).
    assert not any("<" in r.split(";")[0] for r in declared), declared
    assert Version("2.10") <= INSTALLED


@pytest.mark.parametrize("symbol", sorted(LOCATIONS))
def test_symbol_is_defined_where_this_version_keeps_it(symbol: str):
    assert where(getattr(vc, symbol)) == for_installed(LOCATIONS[symbol])


@pytest.mark.parametrize("symbol", sorted(RUNTIME_MODULES))
def test_symbol_is_the_object_airflow_itself_uses(symbol: str):
    module = importlib.import_module(for_installed(RUNTIME_MODULES[symbol]))
    assert getattr(vc, symbol) is getattr(module, symbol)


@pytest.mark.parametrize(
    "name",
    [
        "AirflowException",
        "AirflowFailException",
        "AirflowSensorTimeout",
        "AirflowSkipException",
        "AirflowTaskTerminated",
        "AirflowTaskTimeout",
        "TaskDeferred",
    ],
)
def test_exceptions_are_the_ones_the_task_runner_catches(name: str):
    # airflow.exceptions is where every version's task runner (and older callers) takes them from;
    # from 3.2 it re-exports airflow.sdk.exceptions, so both spellings must be one class.
    import airflow.exceptions

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 3.2+ warns that this spelling is deprecated
        runner_class = getattr(airflow.exceptions, name)
    assert getattr(vc, name) is runner_class
    assert issubclass(getattr(vc, name), BaseException)


def test_conf_reads_the_environment_at_call_time(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "True")
    assert vc.default_deferrable() is True
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "False")
    assert vc.default_deferrable() is False


def test_mask_secret_reaches_the_task_log_masker():
    secret = "telzino-compat-test-0123456789"
    vc.mask_secret(secret)
    redact = importlib.import_module(for_installed(REDACTING_MODULE)).redact
    assert secret not in str(redact(f"Authorization: Bearer {secret}"))


def test_context_for_typing_exists_on_this_version():
    # version_compat imports Context only under TYPE_CHECKING; the path it names must still exist.
    module = "airflow.sdk" if vc.AIRFLOW_V_3_0_PLUS else "airflow.utils.context"
    assert isinstance(importlib.import_module(module).Context, type)
    assert vc.Context is Any


def test_hook_is_an_airflow_hook_of_this_version():
    from telzino_provider.hooks.telzino import TelzinoHook

    assert issubclass(TelzinoHook, vc.BaseHook)
    assert TelzinoHook.conn_type == "telzino"


def _airflow_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [
            f"{path.relative_to(PACKAGE_DIR)}:{node.lineno} {n}"
            for n in names
            if n.split(".")[0] == "airflow"
        ]
    return found


def test_only_version_compat_imports_airflow():
    offenders = [
        hit
        for path in sorted(PACKAGE_DIR.rglob("*.py"))
        if path.name != "version_compat.py"
        for hit in _airflow_imports(path)
    ]
    assert offenders == [], "import these through telzino_provider.version_compat"


# Run in a child process: Airflow 3.1's UI service puts stand-in wtforms/flask modules into
# sys.modules, and the providers manager is a process-wide singleton.
_FORM_PROBE = """
import json
try:
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService
except ImportError:  # Airflow 2: the Flask UI builds the form from the providers manager
    HookMetaService = None
if HookMetaService is not None:
    [meta] = [m for m in HookMetaService.hook_meta_data() if m.connection_type == "telzino"]
    data = meta.model_dump(mode="json")
    host = (data["standard_fields"] or {}).get("host") or {}
    fields = {
        name: {"password": param["schema"].get("format") == "password", "description": param["description"]}
        for name, param in (data["extra_fields"] or {}).items()
    }
else:
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    host = {"title": manager.field_behaviours["telzino"]["relabeling"].get("host")}
    fields = {
        key.split("__", 2)[2]: {
            "password": info.field.field_class.__name__ == "PasswordField",
            "description": info.field.kwargs.get("description"),
        }
        for key, info in manager.connection_form_widgets.items()
        if key.startswith("extra__telzino__")
    }
print("FORM=" + json.dumps({"host": host.get("title"), "fields": fields}))
"""


def test_connection_form_as_this_versions_ui_builds_it():
    """conn-fields from the provider info on 3.2+, the hook's widgets before; the same fields either way."""
    import json
    import subprocess
    import sys
    from importlib.util import find_spec

    from telzino_provider.connection_form import CONN_FIELDS, UI_FIELD_BEHAVIOUR

    if vc.AIRFLOW_V_3_0_PLUS and not vc.AIRFLOW_V_3_1_PLUS and find_spec("wtforms") is None:
        pytest.skip(
            "Airflow 3.0 shows any provider's extra connection fields only with the FAB provider "
            "(wtforms) installed; the default install has none"
        )
    proc = subprocess.run(
        [sys.executable, "-c", _FORM_PROBE], capture_output=True, text=True, timeout=180, check=False
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("FORM=")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    form = json.loads(lines[-1].removeprefix("FORM="))

    assert form["host"] == UI_FIELD_BEHAVIOUR["relabeling"]["host"]
    assert set(form["fields"]) == set(CONN_FIELDS)
    for name, spec in CONN_FIELDS.items():
        assert form["fields"][name]["password"] is (spec["schema"].get("format") == "password"), name
    # Only conn-fields carry the descriptions: they show that 3.2+ read the provider info.
    from_provider_info = (
        form["fields"]["max_retries"]["description"] == CONN_FIELDS["max_retries"]["description"]
    )
    assert from_provider_info is vc.CONN_FIELDS_IN_PROVIDER_INFO


# -- triggers: the connection lookup inside the triggerer's event loop ----------------------------

METASTORE_CONN = "telzino_metastore_only"  # no AIRFLOW_CONN_* for it: only the metastore has it


class _FakeSupervisor:
    """The triggerer supervisor's end of the comms socket (Airflow 3): answers GetConnection from
    "the metastore" after a delay, records every request, acknowledges the rest."""

    def __init__(self, sock: Any, delay: float) -> None:
        import threading

        self.sock, self.delay, self.received = sock, delay, []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        import msgspec
        from airflow.sdk.exceptions import ErrorType
        from airflow.sdk.execution_time.comms import (
            ConnectionResult,
            ErrorResponse,
            _RequestFrame,
            _ResponseFrame,
        )

        decoder = msgspec.msgpack.Decoder(_RequestFrame)
        while True:
            head = self._read(4)
            if head is None:
                return
            frame = decoder.decode(self._read(int.from_bytes(head, "big")))
            kind = (frame.body or {}).get("type")
            self.received.append(kind)
            if kind == "GetConnection" and frame.body["conn_id"] == METASTORE_CONN:
                time.sleep(self.delay)  # a slow API server: the event loop must keep running meanwhile
                fields = {"conn_id": METASTORE_CONN, "conn_type": "telzino", "host": "http://127.0.0.1:9"}
                unset = {"schema": None, "login": None, "port": None, "extra": None}
                conn = ConnectionResult(**fields, **unset, password="tok-from-metastore")
                reply = _ResponseFrame(id=frame.id, body=conn.model_dump(by_alias=True))
            elif kind == "GetConnection":  # the supervisor passes the API's ErrorResponse on as the body
                missing = ErrorResponse(
                    error=ErrorType.CONNECTION_NOT_FOUND, detail={"conn_id": frame.body["conn_id"]}
                )
                reply = _ResponseFrame(id=frame.id, body=missing.model_dump())
            else:
                reply = _ResponseFrame(id=frame.id)
            self.sock.sendall(reply.as_bytes())

    def _read(self, n: int) -> bytes | None:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                return None
            data += chunk
        return data


async def _with_triggerer_comms(body: Any, delay: float) -> tuple[Any, list[str], int]:
    """Run ``body()`` in this event loop with Airflow's own TriggerCommsDecoder installed as the trigger
    process's SUPERVISOR_COMMS (as the triggerer does), talking to a fake supervisor over a socket.
    Returns the body's result, the request types the supervisor saw and how often the loop ticked."""
    import socket

    from airflow.jobs.triggerer_job_runner import TriggerCommsDecoder
    from airflow.sdk.execution_time import task_runner

    server, client = socket.socketpair()
    supervisor = _FakeSupervisor(server, delay)
    reader, writer = await asyncio.open_connection(sock=client)
    comms = TriggerCommsDecoder(async_writer=writer, async_reader=reader, socket=client)
    if hasattr(comms, "start_reader"):  # 3.2+: a reader task resolves responses by id
        await comms.start_reader()
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    saved = getattr(task_runner, "SUPERVISOR_COMMS", None)
    task_runner.SUPERVISOR_COMMS = comms
    clock = asyncio.create_task(ticker())
    try:
        result = await asyncio.wait_for(body(), timeout=20)
    finally:
        clock.cancel()
        task_runner.SUPERVISOR_COMMS = saved
        writer.close()
        server.close()
    return result, supervisor.received, ticks


@pytest.mark.skipif(not vc.AIRFLOW_V_3_0_PLUS, reason="Airflow 3: connections come through the supervisor")
def test_a_trigger_finds_a_metastore_connection_through_the_supervisor_without_blocking_the_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On 3.1.8 a lookup from a plain asyncio.to_thread worker reported "isn't defined"."""
    from telzino_provider.hooks.telzino import TelzinoHook

    monkeypatch.delenv(f"AIRFLOW_CONN_{METASTORE_CONN.upper()}", raising=False)

    async def trigger_start() -> Any:
        conn = await vc.aget_connection(METASTORE_CONN)
        hook = TelzinoHook(telzino_conn_id=METASTORE_CONN, connection=conn)
        transport = await vc.run_blocking(lambda: hook.transport)  # masks the token via the supervisor
        await vc.run_blocking(hook.close)
        return conn, transport

    (conn, transport), received, ticks = asyncio.run(_with_triggerer_comms(trigger_start, delay=0.3))

    assert (conn.conn_id, conn.host, conn.password) == (
        METASTORE_CONN,
        "http://127.0.0.1:9",
        "tok-from-metastore",
    )
    assert transport is not None
    assert "GetConnection" in received
    assert ticks >= 10, "the event loop stood still while the connection was looked up"


@pytest.mark.skipif(not vc.AIRFLOW_V_3_0_PLUS, reason="Airflow 3: connections come through the supervisor")
def test_a_missing_connection_ends_the_wait_with_an_error_event(monkeypatch: pytest.MonkeyPatch) -> None:
    from telzino_provider.triggers.telzino import TelzinoOutboundCallTrigger

    trigger = TelzinoOutboundCallTrigger(
        agent_id="1e3c0696-5ad2-434c-8ce9-60671acde5dc",
        call_id="00000000-0000-4000-8000-000000000000",
        success_statuses=["completed"],
        failure_statuses=["failed"],
        end_time=time.time() + 30,
        telzino_conn_id="telzino_nowhere",
    )

    async def first_event() -> Any:
        async for event in trigger.run():
            return event

    event, received, _ = asyncio.run(_with_triggerer_comms(first_event, delay=0))

    assert event.payload["status"] == "error"
    assert "telzino_nowhere" in event.payload["message"] and "isn't defined" in event.payload["message"]
    assert "GetConnection" in received


@pytest.mark.skipif(vc.AIRFLOW_V_3_0_PLUS, reason="Airflow 2: the triggerer reads the metastore itself")
def test_a_trigger_finds_a_metastore_connection_on_airflow_2(
    airflow_db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.models import Connection
    from airflow.utils.session import create_session

    monkeypatch.delenv(f"AIRFLOW_CONN_{METASTORE_CONN.upper()}", raising=False)
    with create_session() as session:
        session.query(Connection).filter(Connection.conn_id == METASTORE_CONN).delete()
        session.add(
            Connection(conn_id=METASTORE_CONN, conn_type="telzino", host="http://127.0.0.1:9", password="tok")
        )

    async def lookup() -> tuple[Any, int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.001)
                ticks += 1

        clock = asyncio.create_task(ticker())
        try:
            return await vc.aget_connection(METASTORE_CONN), ticks
        finally:
            clock.cancel()

    conn, _ = asyncio.run(lookup())

    assert (conn.host, conn.password) == ("http://127.0.0.1:9", "tok")
