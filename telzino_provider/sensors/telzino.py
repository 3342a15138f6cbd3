"""Sensors that wait for Telzino calls: one call's outcome, or enough calls in a window.

poke, reschedule and deferrable mode share one decision path (:mod:`telzino_provider.waiting`):
``poke()`` and the trigger both run :func:`~telzino_provider.waiting.poll_step`, and both end in
:func:`~telzino_provider.waiting.resolve_event`, so they give the same XCom and the same errors.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property, partial
from typing import Any

from telzino_provider.event_records import restore_event
from telzino_provider.hooks.telzino import TelzinoHook
from telzino_provider.triggers.telzino import TelzinoCompletedCallsTrigger, TelzinoOutboundCallTrigger
from telzino_provider.validation import (
    optional_bool,
    require_count,
    require_int_range,
    require_name,
    require_seconds,
    require_uuid,
)
from telzino_provider.version_compat import (
    BaseSensorOperator,
    Context,
    PokeReturnValue,
    default_deferrable,
    first_reschedule_date,
)
from telzino_provider.waiting import (
    CALL,
    CALLS,
    DEFAULT_FAILURE,
    DEFAULT_MAX_CONSECUTIVE_ERRORS,
    DEFAULT_SUCCESS,
    DEFER_GRACE,
    ErrorBudget,
    Event,
    Verdict,
    poll_call,
    poll_completed_calls,
    poll_step,
    poll_until_answered,
    require_outcome_statuses,
    resolve_event,
    restore_on_worker,
)
from telzino_provider.windows import (
    DEFAULT_LOOKBACK,
    CallWindow,
    check_window_arguments,
    describe_window,
    warn_if_large,
    window_for_task,
    window_xcom,
)


class _TelzinoSensor(BaseSensorOperator):
    """What both sensors share: the hook, poke/defer plumbing and event resolution."""

    payload_key = CALL
    agent_id: str  # set by each sensor

    def __init__(
        self,
        *,
        telzino_conn_id: str = TelzinoHook.default_conn_name,
        deferrable: bool | None = None,
        max_consecutive_errors: int = DEFAULT_MAX_CONSECUTIVE_ERRORS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        # Airflow checks both are non-negative numbers, not that a deadline that far away can be used.
        self.timeout = require_seconds("timeout", self.timeout, allow_zero=True)
        self.poke_interval = require_seconds("poke_interval", self.poke_interval, allow_zero=True)
        self.telzino_conn_id = require_name("telzino_conn_id", telzino_conn_id)
        deferrable = optional_bool("deferrable", deferrable)
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.max_consecutive_errors = require_count("max_consecutive_errors", max_consecutive_errors)
        self._deadline = math.inf  # set by execute(); a bare poke() has no deadline of its own

    @cached_property
    def hook(self) -> TelzinoHook:
        return TelzinoHook(telzino_conn_id=self.telzino_conn_id)

    def validate(self, context: Context) -> None:
        """Check the rendered arguments; raises TelzinoValidationError naming the field."""

    def poll(self) -> Verdict:
        raise NotImplementedError

    def make_trigger(self, end_time: float, consecutive_errors: int, first_look_at: float) -> Any:
        raise NotImplementedError

    def execute(self, context: Context) -> Any:
        self.validate(context)
        try:
            if not self.deferrable:
                self._deadline = self._started_at(context) + self.timeout
                return super().execute(context)  # poke or reschedule: BaseSensorOperator calls poke()
            # One look on the worker first: a call that already finished needs no deferral. Its error
            # count goes to the trigger, so the run of errors is counted as one.
            budget = ErrorBudget(self.max_consecutive_errors)
            event = poll_step(self.poll, budget, time.time() + self.timeout)
            if event is not None:
                return self.execute_complete(context, event)
            looked_at = time.time()
            self.defer(
                trigger=self.make_trigger(
                    looked_at + self.timeout, budget.count, first_look_at=looked_at + self.poke_interval
                ),
                method_name="execute_complete",
                timeout=timedelta(seconds=self.timeout) + DEFER_GRACE,
            )
        finally:
            self.hook.close()

    def _started_at(self, context: Context) -> float:
        """Where BaseSensorOperator starts the timeout: this run (poke mode), or the first poke of
        the first try (reschedule mode), in epoch seconds."""
        first = first_reschedule_date(context) if self.reschedule else None
        return first.timestamp() if first is not None else time.time()

    def poke(self, context: Context) -> bool | PokeReturnValue:
        # Each poke ends any run of errors before returning, so nothing is carried to the next poke,
        # which in reschedule mode runs in a new process.
        event = poll_until_answered(
            self.poll,
            ErrorBudget(self.max_consecutive_errors),
            deadline=self._deadline,
            poll_interval=self.poke_interval,
        )
        if event is None:
            return False
        return PokeReturnValue(is_done=True, xcom_value=self.resolve(event))

    def execute_complete(self, context: Context, event: Event | None = None) -> Any:
        """Resume after the trigger fired: the same resolution as a successful poke, once the
        records' phone numbers, masked in the event, are read back
        (:mod:`~telzino_provider.event_records`)."""
        try:
            restore = partial(restore_event, self.hook, self.agent_id, event)
            restored = restore_on_worker(
                restore, max_errors=self.max_consecutive_errors, poll_interval=self.poke_interval
            )
            return self.resolve(restored)
        finally:
            self.hook.close()

    def resolve(self, event: object) -> Any:
        return resolve_event(event, self.payload_key, soft_fail=self.soft_fail, sensor=True)


class TelzinoOutboundCallSensor(_TelzinoSensor):
    """Waits until a call reaches a success status and returns its final record.

    A failure status fails the task with the status, ``error`` and ``sip_status_code``. Any terminal
    status in neither list fails it as well, since it will not change again; statuses this version
    does not know are not terminal. With ``soft_fail=True`` a failure status, a timeout or an API
    error skips the task instead, in every mode (deferrable mode in Airflow skips on any error).

    XCom: the return value is the call record (dict), as ``GET .../outbound-calls/{call_id}`` gives it.

    :param agent_id: the agent that placed the call (templated).
    :param call_id: the call (templated), e.g. ``"{{ ti.xcom_pull('place_call', key='call_id') }}"``.
    :param success_statuses: statuses that finish the sensor.
    :param failure_statuses: statuses that fail it.
    :param telzino_conn_id: the Airflow connection id (templated).
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``).
    :param max_consecutive_errors: transient API errors tolerated in a row.
    """

    template_fields: Sequence[str] = ("agent_id", "call_id", "telzino_conn_id")

    def __init__(
        self,
        *,
        agent_id: str,
        call_id: str,
        success_statuses: Sequence[str] = DEFAULT_SUCCESS,
        failure_statuses: Sequence[str] = DEFAULT_FAILURE,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.agent_id = agent_id
        self.call_id = call_id
        self.success_statuses, self.failure_statuses = require_outcome_statuses(
            success_statuses, failure_statuses
        )

    def validate(self, context: Context) -> None:
        self.agent_id = require_uuid("agent_id", self.agent_id)
        self.call_id = require_uuid("call_id", self.call_id)

    def poll(self) -> Verdict:
        return poll_call(self.hook, self.agent_id, self.call_id, self.success_statuses, self.failure_statuses)

    def make_trigger(
        self, end_time: float, consecutive_errors: int, first_look_at: float
    ) -> TelzinoOutboundCallTrigger:
        return TelzinoOutboundCallTrigger(
            agent_id=self.agent_id,
            call_id=self.call_id,
            success_statuses=self.success_statuses,
            failure_statuses=self.failure_statuses,
            end_time=end_time,
            poll_interval=self.poke_interval,
            telzino_conn_id=self.telzino_conn_id,
            max_consecutive_errors=self.max_consecutive_errors,
            consecutive_errors=consecutive_errors,
            first_look_at=first_look_at,
        )


class TelzinoCompletedCallsSensor(_TelzinoSensor):
    """Waits until at least ``min_calls`` calls in ``status`` fall in a window, then returns them.

    The window works as in :class:`~telzino_provider.operators.telzino.TelzinoListOutboundCallsOperator`:
    ``created_after``/``created_before`` bound ``window_field`` (``created_at`` or ``ended_at``; with
    ``ended_at`` the scan starts ``lookback`` earlier).

    XCom: the return value is the list of matching calls, newest first (list-item shape, trimmed to
    ``fields``), ready for ``.expand()`` downstream. Key ``window``: the bounds read (see the list
    operator).

    :param agent_id: the agent whose calls are counted (templated).
    :param status: a status or a list of them (templated); default ``completed``.
    :param created_after: inclusive lower bound (templated), e.g. ``"{{ data_interval_start }}"``.
    :param created_before: exclusive upper bound (templated).
    :param window_field: ``created_at`` or ``ended_at``.
    :param lookback: for ``ended_at``, how much earlier creations are scanned (timedelta).
    :param use_data_interval: bound the window by the run's data interval (or, for a manual run, the
        last full interval of the DAG's schedule).
    :param fallback_interval: with ``use_data_interval``, the window length before ``run_after`` when
        the DAG's schedule has no intervals.
    :param min_calls: calls needed to finish (at least 1).
    :param fields: keep only these keys of each call.
    :param telzino_conn_id: the Airflow connection id (templated).
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``).
    :param max_consecutive_errors: transient API errors tolerated in a row.
    """

    template_fields: Sequence[str] = (
        "agent_id",
        "status",
        "created_after",
        "created_before",
        "telzino_conn_id",
    )
    payload_key = CALLS

    def __init__(
        self,
        *,
        agent_id: str,
        status: str | Sequence[str] | None = "completed",
        created_after: Any = None,
        created_before: Any = None,
        window_field: str = "created_at",
        lookback: timedelta = DEFAULT_LOOKBACK,
        use_data_interval: bool = False,
        fallback_interval: timedelta | None = None,
        min_calls: int = 1,
        fields: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.agent_id = agent_id
        self.status = status
        self.created_after = created_after
        self.created_before = created_before
        self.window_field = window_field
        self.lookback = lookback
        self.use_data_interval = use_data_interval
        self.fallback_interval = fallback_interval
        self.min_calls = require_int_range("min_calls", min_calls, 1)
        self.fields = fields
        check_window_arguments(self)
        self._window: CallWindow | None = None

    def validate(self, context: Context) -> None:
        self.agent_id = require_uuid("agent_id", self.agent_id)
        self._window, interval = window_for_task(context, self)
        self.log.info("%s", describe_window(self._window, interval))
        context["ti"].xcom_push(key="window", value=window_xcom(self._window, interval))

    @property
    def window(self) -> CallWindow:
        if self._window is None:
            raise RuntimeError("validate(context) runs first, in execute()")
        return self._window

    def poll(self) -> Verdict:
        return poll_completed_calls(self.hook, self.agent_id, self.window, self.min_calls, self.fields)

    def make_trigger(
        self, end_time: float, consecutive_errors: int, first_look_at: float
    ) -> TelzinoCompletedCallsTrigger:
        return TelzinoCompletedCallsTrigger(
            agent_id=self.agent_id,
            window=self.window.to_json(),
            min_calls=self.min_calls,
            fields=self.fields,
            end_time=end_time,
            poll_interval=self.poke_interval,
            telzino_conn_id=self.telzino_conn_id,
            max_consecutive_errors=self.max_consecutive_errors,
            consecutive_errors=consecutive_errors,
            first_look_at=first_look_at,
        )

    def resolve(self, event: object) -> Any:
        calls = super().resolve(event)
        warn_if_large(self.log, len(calls), fields=self.fields, max_calls=None)
        return calls
