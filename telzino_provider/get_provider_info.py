"""Provider metadata read by Airflow's providers manager (entry point ``apache_airflow_provider``)."""

from __future__ import annotations

from typing import Any

from telzino_provider import __version__
from telzino_provider.connection_form import CONN_FIELDS, CONN_TYPE, UI_FIELD_BEHAVIOUR

INTEGRATION = "Telzino"
#: The target of the transfer: Airflow's object storage API, whatever filesystem backs the URL.
OBJECT_STORAGE = "Object Storage"


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-telzino",
        "name": "Telzino",
        "description": "Telzino AI voice agents: pull outbound-call results, place calls, wait for outcomes.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": INTEGRATION,
                "external-doc-url": "https://docs.telzino.com/api-reference/overview",
                "tags": ["service"],
            },
            {
                "integration-name": OBJECT_STORAGE,
                "external-doc-url": "https://airflow.apache.org/docs/apache-airflow/stable/core-concepts/objectstorage.html",
                "tags": ["software"],
            },
        ],
        "hooks": _modules("hooks"),
        "operators": _modules("operators"),
        "sensors": _modules("sensors"),
        "triggers": _modules("triggers"),
        "transfers": [
            {
                "source-integration-name": INTEGRATION,
                "target-integration-name": OBJECT_STORAGE,
                "python-module": "telzino_provider.transfers.telzino_to_object_storage",
            }
        ],
        "connection-types": [
            {
                "connection-type": CONN_TYPE,
                "hook-class-name": "telzino_provider.hooks.telzino.TelzinoHook",
                "hook-name": "Telzino",
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
                "conn-fields": CONN_FIELDS,
            }
        ],
    }


def _modules(kind: str) -> list[dict[str, Any]]:
    return [{"integration-name": INTEGRATION, "python-modules": [f"telzino_provider.{kind}.telzino"]}]
