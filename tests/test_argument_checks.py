"""Every argument that is not templated is checked when the task or trigger is built.

A bad value fails at DAG-parse time (or when the triggerer rebuilds a trigger) with an error naming
the field, instead of hours into a wait (``max_consecutive_errors=None`` once crashed a sensor at
its first transient error) or after a call was placed. Operators, sensors, triggers and the transfer.
"""

from __future__ import annotations

import math
import time
from datetime import timedelta
from typing import Any

import pytest

from telzino_provider.exceptions import TelzinoValidationError
from telzino_provider.operators.telzino import (
    TelzinoCreateOutboundCallOperator,
    TelzinoListOutboundCallsOperator,
)
from telzino_provider.sensors.telzino import TelzinoCompletedCallsSensor, TelzinoOutboundCallSensor
from telzino_provider.transfers.telzino_to_object_storage import TelzinoCallsToObjectStorageOperator
from telzino_provider.triggers.telzino import TelzinoCompletedCallsTrigger, TelzinoOutboundCallTrigger
from telzino_provider.windows import CallWindow

AGENT = "7f9c2d1e-4b3a-4c5d-8e6f-0a1b2c3d4e5f"
CALL = "0b6f4a1c-2d3e-4f50-8a9b-c0d1e2f3a4b5"
WINDOW = CallWindow.build(
    status="completed", window_field="created_at", created_after=None, created_before=None, lookback=0
).to_json()

#: Each class with the smallest valid arguments.
CLASSES: dict[str, tuple[type, dict[str, Any]]] = {
    "list": (TelzinoListOutboundCallsOperator, {"task_id": "t", "agent_id": AGENT}),
    "create": (
        TelzinoCreateOutboundCallOperator,
        {"task_id": "t", "agent_id": AGENT, "to_number": "+18135550100"},
    ),
    "call_sensor": (TelzinoOutboundCallSensor, {"task_id": "t", "agent_id": AGENT, "call_id": CALL}),
    "calls_sensor": (TelzinoCompletedCallsSensor, {"task_id": "t", "agent_id": AGENT}),
    "transfer": (
        TelzinoCallsToObjectStorageOperator,
        {"task_id": "t", "agent_id": AGENT, "destination": "file:///tmp/telzino/calls.jsonl"},
    ),
    "call_trigger": (
        TelzinoOutboundCallTrigger,
        {
            "agent_id": AGENT,
            "call_id": CALL,
            "success_statuses": ["completed"],
            "failure_statuses": ["failed"],
            "end_time": 1_800_000_000.0,
        },
    ),
    "calls_trigger": (
        TelzinoCompletedCallsTrigger,
        {"agent_id": AGENT, "window": WINDOW, "min_calls": 1, "end_time": 1_800_000_000.0},
    ),
}
OPERATORS = ("list", "create", "call_sensor", "calls_sensor", "transfer")
SENSORS = ("call_sensor", "calls_sensor")
TRIGGERS = ("call_trigger", "calls_trigger")
WINDOWED = ("list", "calls_sensor", "transfer")
WAITING = ("create", *SENSORS, *TRIGGERS)

NAN, INF = math.nan, math.inf
BOOL = ["False", 1, None]
OPTIONAL_BOOL = ["False", 0]
COUNT = [None, "5", 2.5, -1, True, NAN]
POSITIVE = [None, 0, -1, "5", 2.5, True]
OPTIONAL_POSITIVE = [0, -1, "5", 2.5, True]
CONCURRENCY = [None, 0, 17, "8", 2.5, True]
SECONDS = [None, 0, -1, "15", NAN, INF, True]
SECONDS_OR_ZERO = [None, -1, "15", NAN, INF, True]
EPOCH = [None, "soon", NAN, INF, True]
DURATION = [None, "6h", -1, timedelta(seconds=-1), NAN, INF]
POSITIVE_DURATION = ["1h", 0, timedelta(0), -5, NAN, INF]
#: Longer than any wait or window can use: adding it to now (or a deadline's grace) overflows, or
#: points past the year 9999 (MAX_DURATION is 3650 days).
TOO_LONG = [timedelta.max, timedelta(days=3651), 3651 * 86400]
FIELDS = [[], [""], [1], "", {"id": 1}]
NAME = [None, "", " ", 5]
UUID = [None, "not-a-uuid"]
STATUSES = [["answered"], []]

#: (classes, argument, bad values, other arguments the case needs). The sensors' poke_interval and
#: timeout are Airflow's own arguments, which Airflow checks itself, except for their length.
ARGUMENTS: list[tuple[tuple[str, ...], str, list[Any], dict[str, Any]]] = [
    ((*OPERATORS, *TRIGGERS), "telzino_conn_id", NAME, {}),
    (WINDOWED, "window_field", ["started_at", None, ""], {}),
    (WINDOWED, "lookback", DURATION + TOO_LONG, {}),
    (WINDOWED, "use_data_interval", BOOL, {}),
    (WINDOWED, "fallback_interval", POSITIVE_DURATION + TOO_LONG, {"use_data_interval": True}),
    (WINDOWED, "fields", FIELDS, {}),
    (("list", "transfer"), "max_concurrency", CONCURRENCY, {}),
    (("list", "transfer"), "settle", [*DURATION, timedelta(hours=2)], {}),
    (("list",), "max_calls", OPTIONAL_POSITIVE, {}),
    (("calls_sensor", "calls_trigger"), "min_calls", POSITIVE, {}),
    (("calls_trigger",), "fields", FIELDS, {}),
    (("transfer",), "include_transcripts", BOOL, {}),
    (("transfer",), "include_recordings", BOOL, {}),
    (("transfer",), "redact", BOOL, {}),
    (("create",), "wait_for_completion", BOOL, {}),
    (("create",), "poll_interval", SECONDS + TOO_LONG, {}),
    (("create",), "timeout", SECONDS + TOO_LONG, {}),
    (("create",), "clock_margin", DURATION + TOO_LONG, {}),
    (("create",), "listing_delay", TOO_LONG, {}),
    (SENSORS, "timeout", TOO_LONG, {}),
    (SENSORS, "poke_interval", TOO_LONG, {}),
    (("create", *SENSORS), "deferrable", OPTIONAL_BOOL, {}),
    (WAITING, "max_consecutive_errors", COUNT, {}),
    (("create", "call_sensor", "call_trigger"), "success_statuses", STATUSES, {}),
    (("create", "call_sensor", "call_trigger"), "failure_statuses", [["answered"]], {}),
    (TRIGGERS, "agent_id", UUID, {}),
    (("call_trigger",), "call_id", UUID, {}),
    (TRIGGERS, "end_time", EPOCH + [1e12, -1e12], {}),
    (TRIGGERS, "poll_interval", SECONDS_OR_ZERO + TOO_LONG, {}),
    (TRIGGERS, "consecutive_errors", COUNT, {}),
    (TRIGGERS, "first_look_at", ["soon", NAN, INF, True, 1e12], {}),
]

CASES = [
    pytest.param(name, argument, value, extra, id=f"{name}-{argument}-{value!r}")
    for names, argument, values, extra in ARGUMENTS
    for name in names
    for value in values
]


@pytest.mark.parametrize(("name", "argument", "value", "extra"), CASES)
def test_a_bad_argument_fails_when_built_naming_the_field(name, argument, value, extra):
    cls, valid = CLASSES[name]
    with pytest.raises(TelzinoValidationError) as info:
        cls(**{**valid, **extra, argument: value})
    assert info.value.field == argument
    assert str(info.value).startswith(f"{argument}: ")


@pytest.mark.parametrize("name", CLASSES)
def test_the_valid_arguments_build(name):
    cls, valid = CLASSES[name]
    cls(**valid)


@pytest.mark.parametrize(
    ("name", "arguments", "attribute", "expected"),
    [
        ("list", {"lookback": 3600}, "lookback", timedelta(hours=1)),
        (
            "transfer",
            {"use_data_interval": True, "fallback_interval": 60},
            "fallback_interval",
            timedelta(minutes=1),
        ),
        ("calls_sensor", {"window_field": "ended_at", "lookback": timedelta(0)}, "lookback", timedelta(0)),
        ("create", {"clock_margin": 0, "max_consecutive_errors": 0}, "clock_margin", timedelta(0)),
        ("create", {"poll_interval": timedelta(seconds=2)}, "poll_interval", 2.0),
        ("call_sensor", {"max_consecutive_errors": 0, "poke_interval": 0}, "max_consecutive_errors", 0),
        ("call_trigger", {"poll_interval": 0, "first_look_at": time.time()}, "poll_interval", 0.0),
        ("calls_trigger", {"min_calls": 3, "fields": ("id", "status")}, "fields", ["id", "status"]),
    ],
)
def test_other_valid_forms_are_kept_normalised(name, arguments, attribute, expected):
    cls, valid = CLASSES[name]
    assert getattr(cls(**{**valid, **arguments}), attribute) == expected


def test_fallback_interval_without_use_data_interval_fails_when_built():
    cls, valid = CLASSES["list"]
    with pytest.raises(
        TelzinoValidationError, match="^fallback_interval: only applies with use_data_interval"
    ):
        cls(**valid, fallback_interval=timedelta(hours=1))
