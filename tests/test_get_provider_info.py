from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import airflow
import jsonschema

from telzino_provider.get_provider_info import get_provider_info


def test_provider_info_matches_airflow_schema():
    schema_path = Path(airflow.__file__).parent / "provider_info.schema.json"
    info = get_provider_info()
    jsonschema.validate(info, json.loads(schema_path.read_text()))
    assert info["package-name"] == "airflow-provider-telzino"
    [conn] = info["connection-types"]
    assert conn["connection-type"] == "telzino"
    assert conn["hook-class-name"] == "telzino_provider.hooks.telzino.TelzinoHook"


def test_listed_modules_import():
    import importlib

    info = get_provider_info()
    for kind in ("hooks", "operators", "sensors", "triggers"):
        for entry in info[kind]:
            for module in entry["python-modules"]:
                importlib.import_module(module)
    for transfer in info["transfers"]:
        importlib.import_module(transfer["python-module"])


def test_transfer_is_registered_between_declared_integrations():
    info = get_provider_info()
    names = {entry["integration-name"] for entry in info["integrations"]}
    [transfer] = info["transfers"]
    assert transfer["python-module"] == "telzino_provider.transfers.telzino_to_object_storage"
    assert {transfer["source-integration-name"], transfer["target-integration-name"]} <= names


def test_airflow_cli_lists_the_hook():
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "providers", "hooks", "-o", "json"],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=120,
        check=True,
    )
    [table] = [line for line in result.stdout.splitlines() if line.startswith("[{")]
    row = next(r for r in json.loads(table) if r.get("connection_type") == "telzino")
    assert row["class"] == "telzino_provider.hooks.telzino.TelzinoHook"
    assert row["package_name"] == "airflow-provider-telzino"
    assert row["conn_id_attribute_name"] == "telzino_conn_id"


def test_example_dag_discovery_finds_the_provider_quietly(caplog):
    """Airflow 3.3+ imports each provider under its distribution name (``-`` -> ``_``) to look for
    an ``example_dags`` folder when examples load; the import must work and add no bundle."""
    import importlib

    import pytest

    module_name = get_provider_info()["package-name"].replace("-", "_")
    assert not hasattr(importlib.import_module(module_name), "example_dags")
    try:
        from airflow.dag_processing.bundles import manager
    except ImportError:
        pytest.skip("no DAG bundles before Airflow 3.0")
    add_examples = getattr(manager, "_add_provider_example_dags_to_bundle", None)
    if add_examples is None:
        pytest.skip("this Airflow does not load provider example DAGs")
    bundles: list = []
    with caplog.at_level("DEBUG"):
        add_examples(bundles)
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")], caplog.text[-2000:]
    assert not [b for b in bundles if "telzino" in b.name]
