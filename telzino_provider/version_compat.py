"""Every Airflow import the provider needs, resolved once, newest location first.

Airflow moved its public classes between 2.10 and 3.3 (``airflow.sdk`` and ``mask_secret`` in
``airflow.sdk.log`` from 3.0, ``BaseHook`` there from 3.1, the exceptions and ``conf`` from 3.2). The
rest of the package imports from here only, so a version difference is handled in exactly one place;
tests/test_version_compat.py checks every location on each tested version.
"""

from __future__ import annotations

from datetime import datetime
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
    from airflow.sdk import BaseOperator, BaseOperatorLink, BaseSensorOperator, PokeReturnValue

    # 3.0 serves it lazily from airflow.sdk.execution_time.secrets_masker; airflow.utils.log is gone.
    from airflow.sdk.log import mask_secret
else:
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
        AirflowFailException,
        AirflowSensorTimeout,
        AirflowSkipException,
        TaskDeferred,
    )
else:
    from airflow.configuration import conf  # type: ignore
    from airflow.exceptions import (  # type: ignore
        AirflowException,
        AirflowFailException,
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


def first_reschedule_date(context: Context) -> datetime | None:
    """When a reschedule-mode sensor's first poke (of its first try) started, or None before its first
    reschedule: the moment BaseSensorOperator measures the sensor's timeout from."""
    ti = context["ti"]
    if AIRFLOW_V_3_0_PLUS:
        first = ti.get_first_reschedule_date(context)
        if isinstance(first, str):  # 3.0 hands over the API's ISO string unparsed (model_construct)
            import pendulum

            first = pendulum.parse(first)
        return first  # type: ignore[no-any-return]
    from airflow.sensors.base import _orig_start_date  # type: ignore[attr-defined]

    first_try = (ti.max_tries or 0) - (ti.task.retries or 0) + 1
    return _orig_start_date(  # type: ignore[no-any-return]
        dag_id=ti.dag_id, task_id=ti.task_id, run_id=ti.run_id, map_index=ti.map_index, try_number=first_try
    )


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
    "AirflowFailException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "BaseHook",
    "BaseOperator",
    "BaseOperatorLink",
    "BaseSensorOperator",
    "BaseTrigger",
    "Context",
    "PokeReturnValue",
    "TaskDeferred",
    "TriggerEvent",
    "conf",
    "default_deferrable",
    "first_reschedule_date",
    "mask_secret",
]
