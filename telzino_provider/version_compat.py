"""Every Airflow import the provider needs, resolved once, newest location first.

Airflow moved its public classes between 2.10 and 3.3 (``airflow.sdk`` and ``mask_secret`` in
``airflow.sdk.log`` from 3.0, ``ObjectStoragePath`` from ``airflow.io.path`` and ``Dataset``, renamed
``Asset``, into ``airflow.sdk`` at 3.0, ``BaseHook`` there from 3.1, the exceptions and ``conf`` from
3.2). The rest of the package imports from here only, so a version difference is handled in exactly one place;
tests/test_version_compat.py checks every location on each tested version.
"""

from __future__ import annotations

from importlib.metadata import version as _dist_version
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent
from packaging.version import Version

AIRFLOW_VERSION = Version(Version(_dist_version("apache-airflow")).base_version)
AIRFLOW_V_3_0_PLUS = Version("3.0.0") <= AIRFLOW_VERSION
AIRFLOW_V_3_1_PLUS = Version("3.1.0") <= AIRFLOW_VERSION
AIRFLOW_V_3_2_PLUS = Version("3.2.0") <= AIRFLOW_VERSION
#: Airflow 3.2+ builds the connection form from ``conn-fields`` in the provider info.
CONN_FIELDS_IN_PROVIDER_INFO = AIRFLOW_V_3_2_PLUS

if AIRFLOW_V_3_0_PLUS:
    # Asset is what Airflow 2 called Dataset; the provider says Asset on every version.
    from airflow.sdk import (
        Asset,
        BaseOperator,
        BaseOperatorLink,
        BaseSensorOperator,
        ObjectStoragePath,
        PokeReturnValue,
    )

    # 3.0 serves it lazily from airflow.sdk.execution_time.secrets_masker; airflow.utils.log is gone.
    from airflow.sdk.log import mask_secret
else:
    from airflow.datasets import Dataset as Asset  # type: ignore
    from airflow.io.path import ObjectStoragePath  # type: ignore
    from airflow.models import BaseOperator, BaseOperatorLink  # type: ignore
    from airflow.sensors.base import BaseSensorOperator, PokeReturnValue  # type: ignore
    from airflow.utils.log.secrets_masker import mask_secret  # type: ignore

if AIRFLOW_V_3_1_PLUS:
    from airflow.sdk import BaseHook
else:
    from airflow.hooks.base import BaseHook  # type: ignore

if AIRFLOW_V_3_2_PLUS:
    from airflow.sdk import conf
    from airflow.sdk.exceptions import (
        AirflowException,
        AirflowSensorTimeout,
        AirflowSkipException,
        TaskDeferred,
    )
else:
    from airflow.configuration import conf  # type: ignore
    from airflow.exceptions import (  # type: ignore
        AirflowException,
        AirflowSensorTimeout,
        AirflowSkipException,
        TaskDeferred,
    )

if TYPE_CHECKING:
    if AIRFLOW_V_3_0_PLUS:
        from airflow.sdk import Context
    else:
        from airflow.utils.context import Context  # type: ignore
else:
    Context = Any


#: The context key with the asset (dataset) events that triggered a run scheduled on assets.
TRIGGERING_ASSET_EVENTS_KEY = "triggering_asset_events" if AIRFLOW_V_3_0_PLUS else "triggering_dataset_events"


def default_deferrable() -> bool:
    """The ``[operators] default_deferrable`` setting, read when an operator is built."""
    return conf.getboolean("operators", "default_deferrable", fallback=False)


__all__ = [
    "AIRFLOW_VERSION",
    "AIRFLOW_V_3_0_PLUS",
    "AIRFLOW_V_3_1_PLUS",
    "AIRFLOW_V_3_2_PLUS",
    "CONN_FIELDS_IN_PROVIDER_INFO",
    "AirflowException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "Asset",
    "BaseHook",
    "BaseOperator",
    "BaseOperatorLink",
    "BaseSensorOperator",
    "BaseTrigger",
    "Context",
    "ObjectStoragePath",
    "PokeReturnValue",
    "TRIGGERING_ASSET_EVENTS_KEY",
    "TaskDeferred",
    "TriggerEvent",
    "conf",
    "default_deferrable",
    "mask_secret",
]
