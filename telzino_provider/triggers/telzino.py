"""Triggers that wait on the Telzino API in the triggerer.

Both serialize plain JSON (ids, status names, ISO times, an absolute deadline in epoch seconds, the
connection id; never a secret), look the connection up themselves without blocking the event loop
(:func:`~telzino_provider.version_compat.aget_connection`: it reaches a connection stored in the
metastore on every version), and look through the sync
:class:`~telzino_provider.hooks.telzino.TelzinoHook` in a thread (no second HTTP stack). The decision
logic is :mod:`telzino_provider.waiting`, shared with poke and reschedule mode. They yield exactly one
event, of the shape documented there. ``run()`` has no side effect, so a restart on another triggerer
is harmless.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from functools import partial
from typing import Any

from telzino_provider.event_records import mask_event
from telzino_provider.exceptions import MAX_ERROR_CHARS, quoted
from telzino_provider.hooks.telzino import TelzinoHook
from telzino_provider.validation import (
    require_count,
    require_epoch,
    require_int_range,
    require_name,
    require_seconds,
    require_uuid,
)
from telzino_provider.version_compat import BaseTrigger, TriggerEvent, aget_connection, run_blocking
from telzino_provider.waiting import (
    DEFAULT_MAX_CONSECUTIVE_ERRORS,
    ERROR,
    Verdict,
    poll_call,
    poll_completed_calls,
    require_outcome_statuses,
    wait_in_trigger,
)
from telzino_provider.windows import CallWindow, require_fields


class _TelzinoPollingTrigger(BaseTrigger):
    """What both triggers share: the polling settings, their serialization and the wait itself.

    :param end_time: absolute deadline, epoch seconds.
    :param poll_interval: seconds between looks.
    :param telzino_conn_id: the Airflow connection id.
    :param max_consecutive_errors: transient errors tolerated in a row before an error event.
    :param consecutive_errors: transient errors already counted in a row (by the look on the worker).
    :param first_look_at: epoch seconds before which the trigger does not look; None looks at once.
        The sensor sets it one interval after its own look on the worker, so a call that ends at once
        is not reported while the worker that deferred is still exiting (see :func:`wait_in_trigger`).
    """

    def __init__(
        self,
        *,
        end_time: float,
        poll_interval: float,
        telzino_conn_id: str,
        max_consecutive_errors: int,
        consecutive_errors: int = 0,
        first_look_at: float | None = None,
    ) -> None:
        super().__init__()
        # Checked here too, not only by the task that defers: the triggerer rebuilds a trigger from
        # its stored kwargs, and a bad one must fail as an error naming the field, not mid-wait.
        self.end_time = require_epoch("end_time", end_time)
        self.poll_interval = require_seconds("poll_interval", poll_interval, allow_zero=True)
        self.telzino_conn_id = require_name("telzino_conn_id", telzino_conn_id)
        self.max_consecutive_errors = require_count("max_consecutive_errors", max_consecutive_errors)
        self.consecutive_errors = require_count("consecutive_errors", consecutive_errors)
        self.first_look_at = None if first_look_at is None else require_epoch("first_look_at", first_look_at)

    def own_kwargs(self) -> dict[str, Any]:
        """The subclass's own constructor arguments, as plain JSON."""
        raise NotImplementedError

    def poll(self, hook: TelzinoHook) -> Verdict:
        """One look (sync): the same function the matching sensor's ``poke`` uses."""
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                **self.own_kwargs(),
                "end_time": self.end_time,
                "poll_interval": self.poll_interval,
                "telzino_conn_id": self.telzino_conn_id,
                "max_consecutive_errors": self.max_consecutive_errors,
                "consecutive_errors": self.consecutive_errors,
                "first_look_at": self.first_look_at,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            connection = await aget_connection(self.telzino_conn_id)
        except Exception as err:  # not found, or the supervisor could not be asked: end the wait
            yield TriggerEvent(
                {"status": ERROR, "message": f"Stopped waiting (error): {quoted(err, MAX_ERROR_CHARS)}"}
            )
            return
        hook = TelzinoHook(telzino_conn_id=self.telzino_conn_id, connection=connection)
        try:
            event = await wait_in_trigger(
                partial(self.poll, hook),
                what=self.describe(),
                deadline=self.end_time,
                poll_interval=self.poll_interval,
                max_errors=self.max_consecutive_errors,
                consecutive_errors=self.consecutive_errors,
                first_look_at=self.first_look_at,
            )
        finally:
            await run_blocking(hook.close)
        yield TriggerEvent(mask_event(event, self.event_window()))

    def event_window(self) -> CallWindow | None:
        """The window a masked event names, for the worker to read again; None for one call."""
        return None


class TelzinoOutboundCallTrigger(_TelzinoPollingTrigger):
    """Waits until a call reaches a success or failure status, or ``end_time`` passes.

    Yields ``{"status": "success"|"failure", "message", "call": <record>}``, or
    ``{"status": "timeout"|"error", "message"}``.

    :param agent_id: the agent that placed the call.
    :param call_id: the call to watch.
    :param success_statuses: statuses that end the wait successfully.
    :param failure_statuses: statuses that fail it (any other terminal status fails it too).
    :param end_time: absolute deadline, epoch seconds.
    :param poll_interval: seconds between looks.
    :param telzino_conn_id: the Airflow connection id.
    :param max_consecutive_errors: transient errors tolerated in a row before an error event.
    :param consecutive_errors: transient errors already counted in a row (by the look on the worker).
    :param first_look_at: epoch seconds before which the trigger does not look; None looks at once.
    """

    def __init__(
        self,
        *,
        agent_id: str,
        call_id: str,
        success_statuses: Sequence[str],
        failure_statuses: Sequence[str],
        end_time: float,
        poll_interval: float = 15.0,
        telzino_conn_id: str = TelzinoHook.default_conn_name,
        max_consecutive_errors: int = DEFAULT_MAX_CONSECUTIVE_ERRORS,
        consecutive_errors: int = 0,
        first_look_at: float | None = None,
    ) -> None:
        super().__init__(
            end_time=end_time,
            poll_interval=poll_interval,
            telzino_conn_id=telzino_conn_id,
            max_consecutive_errors=max_consecutive_errors,
            consecutive_errors=consecutive_errors,
            first_look_at=first_look_at,
        )
        self.agent_id = require_uuid("agent_id", agent_id)
        self.call_id = require_uuid("call_id", call_id)
        self.success_statuses, self.failure_statuses = require_outcome_statuses(
            success_statuses, failure_statuses
        )

    def own_kwargs(self) -> dict[str, Any]:
        return {
            "agent_id": self.agent_id,
            "call_id": self.call_id,
            "success_statuses": list(self.success_statuses),
            "failure_statuses": list(self.failure_statuses),
        }

    def poll(self, hook: TelzinoHook) -> Verdict:
        return poll_call(hook, self.agent_id, self.call_id, self.success_statuses, self.failure_statuses)

    def describe(self) -> str:
        return f"Telzino call {self.call_id}"


class TelzinoCompletedCallsTrigger(_TelzinoPollingTrigger):
    """Waits until at least ``min_calls`` calls match a window, or ``end_time`` passes.

    Yields ``{"status": "success", "message", "calls": [<record>, ...]}`` (newest first, trimmed to
    ``fields``), or ``{"status": "timeout"|"error", "message"}``.

    :param agent_id: the agent whose calls are listed.
    :param window: the query, as :meth:`CallWindow.to_json` gives it (statuses, window_field,
        created_after, created_before as ISO strings, lookback_seconds).
    :param min_calls: calls needed to finish.
    :param fields: keep only these keys of each call; None keeps all.
    :param end_time: absolute deadline, epoch seconds.
    :param poll_interval: seconds between looks.
    :param telzino_conn_id: the Airflow connection id.
    :param max_consecutive_errors: transient errors tolerated in a row before an error event.
    :param consecutive_errors: transient errors already counted in a row (by the look on the worker).
    :param first_look_at: epoch seconds before which the trigger does not look; None looks at once.
    """

    def __init__(
        self,
        *,
        agent_id: str,
        window: dict[str, Any],
        min_calls: int,
        end_time: float,
        fields: Sequence[str] | None = None,
        poll_interval: float = 60.0,
        telzino_conn_id: str = TelzinoHook.default_conn_name,
        max_consecutive_errors: int = DEFAULT_MAX_CONSECUTIVE_ERRORS,
        consecutive_errors: int = 0,
        first_look_at: float | None = None,
    ) -> None:
        super().__init__(
            end_time=end_time,
            poll_interval=poll_interval,
            telzino_conn_id=telzino_conn_id,
            max_consecutive_errors=max_consecutive_errors,
            consecutive_errors=consecutive_errors,
            first_look_at=first_look_at,
        )
        self.agent_id = require_uuid("agent_id", agent_id)
        self.window = CallWindow.from_json(window)
        self.min_calls = require_int_range("min_calls", min_calls, 1)
        self.fields = require_fields(fields)

    def own_kwargs(self) -> dict[str, Any]:
        return {
            "agent_id": self.agent_id,
            "window": self.window.to_json(),
            "min_calls": self.min_calls,
            "fields": self.fields,
        }

    def event_window(self) -> CallWindow:
        return self.window

    def poll(self, hook: TelzinoHook) -> Verdict:
        return poll_completed_calls(hook, self.agent_id, self.window, self.min_calls, self.fields)

    def describe(self) -> str:
        return f"{self.min_calls} Telzino call(s) of agent {self.agent_id}"
