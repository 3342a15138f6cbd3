"""version_compat resolves each Airflow symbol to the object that Airflow version itself uses.

The expected locations are written out per version (from checking 2.10.5, 2.11.2, 3.0.6, 3.1.8,
3.2.2 and 3.3.2), independently of the flags in version_compat, so a wrong flag or a moved class
fails here on the version where it matters.
"""

from __future__ import annotations

import ast
import importlib
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
    "TriggerEvent": [("2.10", "airflow.triggers.base.TriggerEvent")],
    "mask_secret": [
        ("2.10", "airflow.utils.log.secrets_masker.mask_secret"),
        ("3.0", "airflow.sdk.execution_time.secrets_masker.mask_secret"),
        ("3.1", "airflow.sdk.log.mask_secret"),
    ],
    **{
        name: [("2.10", f"airflow.exceptions.{name}"), ("3.2", f"airflow.sdk.exceptions.{name}")]
        for name in ("AirflowException", "AirflowSensorTimeout", "AirflowSkipException", "TaskDeferred")
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
    "name", ["AirflowException", "AirflowSensorTimeout", "AirflowSkipException", "TaskDeferred"]
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
