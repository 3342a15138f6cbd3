"""Every Airflow import the provider needs, resolved once, newest location first.

Airflow moved its public classes between 2.10 and 3.3 (``airflow.sdk`` and ``mask_secret`` in
``airflow.sdk.log`` from 3.0, ``ObjectStoragePath`` from ``airflow.io.path`` and ``Dataset``, renamed
``Asset``, into ``airflow.sdk`` at 3.0, ``BaseHook`` there from 3.1, the exceptions and ``conf`` from
3.2). The rest of the package imports from here only, so a version difference is handled in exactly one place;
tests/test_version_compat.py checks every location on each tested version.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from importlib.metadata import version as _dist_version
from typing import TYPE_CHECKING, Any, TypeVar

from airflow.triggers.base import BaseTrigger, TriggerEvent
from packaging.version import Version

AIRFLOW_VERSION = Version(Version(_dist_version("apache-airflow")).base_version)
AIRFLOW_V_3_0_PLUS = Version("3.0.0") <= AIRFLOW_VERSION
AIRFLOW_V_3_1_PLUS = Version("3.1.0") <= AIRFLOW_VERSION
AIRFLOW_V_3_2_PLUS = Version("3.2.0") <= AIRFLOW_VERSION
AIRFLOW_V_3_3_PLUS = Version("3.3.0") <= AIRFLOW_VERSION
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

# has_fs: whether a filesystem is registered for a URL scheme (providers register s3, gs, abfs, ...).
# Airflow 3.0's SDK path still uses airflow.io's registry; airflow.sdk.io.fs exists from 3.1.
if AIRFLOW_V_3_1_PLUS:
    from airflow.sdk.io.fs import has_fs
else:
    from airflow.io import has_fs  # type: ignore

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
        AirflowTaskTerminated,
        AirflowTaskTimeout,
        TaskDeferred,
    )
else:
    from airflow.configuration import conf  # type: ignore
    from airflow.exceptions import (  # type: ignore
        AirflowException,
        AirflowFailException,
        AirflowSensorTimeout,
        AirflowSkipException,
        AirflowTaskTerminated,
        AirflowTaskTimeout,
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


def task_state_store(context: Context) -> Any | None:
    """The task instance's state store (Airflow 3.3+), or None before 3.3 or when the context has none.

    Its keys are scoped to the DAG run, task and map index, so they survive retries and clears of
    the task instance, unlike XComs (cleared at the start of every try). ``get(key)`` answers None
    for a key never set.
    """
    if not AIRFLOW_V_3_3_PLUS or not hasattr(context, "get"):
        return None
    return context.get("task_state_store")


_T = TypeVar("_T")


def default_deferrable() -> bool:
    """The ``[operators] default_deferrable`` setting, read when an operator is built."""
    return conf.getboolean("operators", "default_deferrable", fallback=False)


# -- triggers: reaching Airflow from the triggerer ------------------------------------------------
#
# On 3.x a trigger reaches connections (and the supervisor's secret masking) through the triggerer's
# supervisor, over one channel owned by the triggerer's event loop. How a trigger may ask changed:
#
# * 2.10 / 2.11: the triggerer reads the metadata database itself; a blocking call in a thread works.
# * 3.0 / 3.1: the SDK's sync calls go through ``asgiref.async_to_sync``, which reaches the event loop
#   only from a thread that ``asgiref.sync_to_async`` started. From a plain ``asyncio.to_thread``
#   worker it runs the request on a loop of its own, fails, and the lookup reports "The conn_id ...
#   isn't defined" (apache/airflow#57145). 3.1 adds ``BaseHook.aget_connection`` (async, on the loop).
# * 3.2+: the sync calls hand the request to the event loop from any thread.
#
# So every blocking call of a trigger, the connection lookup included, runs in a worker thread started
# by ``sync_to_async`` on 3.x (from there any version's SDK reaches the supervisor) and by
# ``asyncio.to_thread`` on 2.x; never on the event loop itself. ``BaseHook.aget_connection`` (3.1+)
# is not used: under ``dag.test()`` on 3.3 it misses a connection stored in the metastore that the sync
# lookup finds.


async def run_blocking(func: Callable[..., _T], *args: Any) -> _T:
    """Run a blocking call from a trigger in a worker thread from which Airflow stays reachable.

    :param func: the blocking function (it may look up a connection or mask a secret).
    :param args: its positional arguments.
    """
    if AIRFLOW_V_3_0_PLUS:
        from asgiref.sync import sync_to_async

        # thread_sensitive=False: a thread per call from the loop's pool, as asyncio.to_thread,
        # instead of one shared thread that would queue every trigger's request behind the others.
        return await sync_to_async(func, thread_sensitive=False)(*args)
    return await asyncio.to_thread(func, *args)


async def aget_connection(conn_id: str) -> Any:
    """A connection looked up from a trigger without blocking the event loop, on every version:
    environment variables, secrets backends and the metastore (through the supervisor on 3.x).

    Raises Airflow's own not-found error when none has it.

    :param conn_id: the connection id.
    """
    return await run_blocking(BaseHook.get_connection, conn_id)


# -- data intervals -------------------------------------------------------------------------------


def manual_data_interval(dag: Any, run_after: datetime) -> tuple[datetime, datetime] | None:
    """The data interval Airflow gives a manual run of ``dag`` triggered at ``run_after``.

    For interval schedules (a cron or timedelta ``*DataIntervalTimetable``) that is the last full
    interval that ended at or before ``run_after``; Airflow 2 gives every manual run this interval, and
    Airflow 3 one with a logical date. None when the DAG or its schedule has no such notion.

    :param dag: the DAG object from the task context.
    :param run_after: when the run was triggered.
    """
    timetable = getattr(dag, "timetable", None)
    if timetable is None:
        return None
    if AIRFLOW_V_3_2_PLUS:
        # 3.2+ DAG files use the SDK's timetables, which only describe a schedule; Airflow's core
        # class of the same schedule computes the intervals (the same conversion the scheduler makes).
        from airflow.serialization.encoders import coerce_to_core_timetable

        timetable = coerce_to_core_timetable(timetable)
    infer = getattr(timetable, "infer_manual_data_interval", None)
    if infer is None:
        return None
    import pendulum

    interval = infer(run_after=pendulum.instance(run_after))
    if interval is None:
        return None
    return interval.start, interval.end


__all__ = [
    "AIRFLOW_VERSION",
    "AIRFLOW_V_3_0_PLUS",
    "AIRFLOW_V_3_1_PLUS",
    "AIRFLOW_V_3_2_PLUS",
    "AIRFLOW_V_3_3_PLUS",
    "CONN_FIELDS_IN_PROVIDER_INFO",
    "AirflowException",
    "AirflowFailException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "AirflowTaskTerminated",
    "AirflowTaskTimeout",
    "Asset",
    "BaseHook",
    "BaseOperator",
    "BaseOperatorLink",
    "BaseSensorOperator",
    "BaseTrigger",
    "Context",
    "ObjectStoragePath",
    "PokeReturnValue",
    "TaskDeferred",
    "TriggerEvent",
    "aget_connection",
    "conf",
    "default_deferrable",
    "first_reschedule_date",
    "has_fs",
    "manual_data_interval",
    "mask_secret",
    "run_blocking",
    "task_state_store",
]
