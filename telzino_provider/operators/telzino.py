"""Operators for Telzino outbound calls: list them, get one, place one (and optionally wait for it).

Nothing here touches the network or the connection before ``execute()``. Arguments that are not
templated are checked when the operator is built (at DAG-parse time); templated ones in
``execute()``, after rendering and before any request. Errors name the field.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from functools import cached_property, partial
from types import TracebackType
from typing import Any

from telzino_provider.correlation import (
    DEFAULT_CLOCK_MARGIN,
    METADATA_KEY,
    adopt_since,
    correlation_key,
    earlier_attempt,
    find_placed_call,
    recall_call,
    remember_call,
    with_key,
)
from telzino_provider.event_records import restore_event
from telzino_provider.exceptions import (
    MAX_ERROR_CHARS,
    TelzinoApiError,
    TelzinoCallMayHaveBeenPlacedError,
    quoted,
)
from telzino_provider.hooks.telzino import TelzinoHook
from telzino_provider.redaction import mask_phone
from telzino_provider.triggers.telzino import TelzinoOutboundCallTrigger
from telzino_provider.validation import (
    optional_bool,
    optional_call_context,
    optional_callback_url,
    optional_metadata,
    require_bool,
    require_count,
    require_duration,
    require_e164,
    require_name,
    require_seconds,
    require_uuid,
)
from telzino_provider.version_compat import (
    AirflowFailException,
    BaseOperator,
    Context,
    TaskDeferred,
    default_deferrable,
    task_state_store,
)
from telzino_provider.waiting import (
    CALL,
    DEFAULT_FAILURE,
    DEFAULT_MAX_CONSECUTIVE_ERRORS,
    DEFAULT_SUCCESS,
    DEFER_GRACE,
    ErrorBudget,
    Event,
    poll_call,
    poll_step,
    require_outcome_statuses,
    resolve_event,
    restore_on_worker,
    wait_on_worker,
)
from telzino_provider.windows import (
    DEFAULT_LOOKBACK,
    check_window_arguments,
    describe_window,
    list_window,
    settle_window,
    window_for_task,
    window_xcom,
)

#: Pause before looking for a call whose create request ended without a readable answer, so a
#: call the server did record has time to show up in the listing.
RECHECK_DELAY_SECONDS = 2.0
#: How long a retry that finds no earlier call waits before it looks again and dials: how late the
#: API may list a call it accepted.
DEFAULT_LISTING_DELAY = timedelta(minutes=1)


class _TelzinoOperator(BaseOperator):
    """The connection id and a hook created on first use (never at DAG-parse time)."""

    def __init__(self, *, telzino_conn_id: str = TelzinoHook.default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.telzino_conn_id = require_name("telzino_conn_id", telzino_conn_id)

    @cached_property
    def hook(self) -> TelzinoHook:
        return TelzinoHook(telzino_conn_id=self.telzino_conn_id)


class TelzinoListOutboundCallsOperator(_TelzinoOperator):
    """Returns an agent's outbound calls in a window, newest first.

    ``created_after`` / ``created_before`` bound ``window_field``, whatever its name says:

    * ``window_field="created_at"`` (default): calls created in ``[created_after, created_before)``.
    * ``window_field="ended_at"``: calls that *finished* in ``[created_after, created_before)``.
      Calls created from ``created_after - lookback`` on are scanned, so consecutive scheduled runs
      with ``created_after="{{ data_interval_start }}"`` and
      ``created_before="{{ data_interval_end }}"`` deliver every finished call exactly once, also one
      created in one interval and finished in the next (as long as no call lasts longer than
      ``lookback``, and the API lists each call before its window is read: see ``settle``). Use
      this for catchup-safe scheduled pulls.

    ``use_data_interval=True`` takes the bounds from the DAG run instead (leave ``created_after`` and
    ``created_before`` unset): its data interval; for a run without one (a manual run on Airflow 3)
    the last full interval of the DAG's schedule before the run's ``run_after``, which is what a
    manual run gets on Airflow 2; for a schedule without intervals, ``fallback_interval`` before
    ``run_after``. The task log says which window it read and why
    (:func:`~telzino_provider.windows.run_interval`).

    XCom: the return value is a list of JSON-safe dicts (the API's list-item shape), trimmed to
    ``fields`` when given. Above 10,000 calls without ``fields`` or ``max_calls`` a warning is logged.
    Key ``window``: the bounds read, ``{"field", "start", "end", "source", "reason"}``.

    :param agent_id: the agent's UUID (templated).
    :param status: None for every status, one status or a list (templated).
    :param created_after: inclusive lower bound, datetime or ISO-8601 (templated).
    :param created_before: exclusive upper bound (templated).
    :param window_field: ``created_at`` or ``ended_at``.
    :param lookback: for ``ended_at``, how much earlier creations are scanned (default 6 hours).
    :param use_data_interval: bound the window by the run's data interval (see above).
    :param fallback_interval: with ``use_data_interval``, the window length (timedelta or seconds)
        before ``run_after`` when the DAG's schedule has no intervals; unset, such a run fails.
    :param max_calls: stop after this many calls.
    :param fields: keep only these keys of each call, e.g. ``["id", "status", "transcript_id"]``.
    :param max_concurrency: requests in flight at once, 1 (default) to 16: the same calls in the
        same order, sooner. For first loads and backfills; see docs/concurrent-paging.md.
    :param settle: read the window only once it ended this long ago (timedelta or seconds, 0 to 1
        hour; default 0; never waiting longer than this, also for a window not ended yet): for an
        API that lists a call late, which consecutive windows would otherwise both miss. See
        docs/operators.md, "Calls the API lists late".
    :param telzino_conn_id: the Airflow connection id (templated).
    """

    template_fields: Sequence[str] = (
        "agent_id",
        "status",
        "created_after",
        "created_before",
        "telzino_conn_id",
    )

    def __init__(
        self,
        *,
        agent_id: str,
        status: str | Sequence[str] | None = None,
        created_after: Any = None,
        created_before: Any = None,
        window_field: str = "created_at",
        lookback: timedelta = DEFAULT_LOOKBACK,
        use_data_interval: bool = False,
        fallback_interval: timedelta | None = None,
        max_calls: int | None = None,
        fields: Sequence[str] | None = None,
        max_concurrency: int = 1,
        settle: timedelta | float = timedelta(0),
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
        self.max_calls = max_calls
        self.fields = fields
        self.max_concurrency = max_concurrency
        self.settle = settle
        check_window_arguments(self)

    def execute(self, context: Context) -> list[dict[str, Any]]:
        agent = require_uuid("agent_id", self.agent_id)
        window, interval = window_for_task(context, self)
        self.log.info("%s", describe_window(window, interval))
        context["ti"].xcom_push(key="window", value=window_xcom(window, interval))
        settle_window(window, self.settle, self.log)
        try:
            calls = list_window(
                self.hook,
                agent,
                window,
                max_calls=self.max_calls,
                fields=self.fields,
                log=self.log,
                max_concurrency=self.max_concurrency,
            )
        finally:
            self.hook.close()
        self.log.info(
            "Found %d Telzino calls of agent %s with %s in [%s, %s)",
            len(calls),
            agent,
            window.field,
            window.start,
            window.end,
        )
        return calls


class TelzinoGetOutboundCallOperator(_TelzinoOperator):
    """Returns one call record.

    XCom: the return value is the record (dict) as ``GET .../outbound-calls/{call_id}`` gives it.

    :param agent_id: the agent that placed the call (templated).
    :param call_id: the call (templated).
    :param telzino_conn_id: the Airflow connection id (templated).
    """

    template_fields: Sequence[str] = ("agent_id", "call_id", "telzino_conn_id")

    def __init__(self, *, agent_id: str, call_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.agent_id = agent_id
        self.call_id = call_id

    def execute(self, context: Context) -> dict[str, Any]:
        try:  # the hook checks both ids before it reads the connection or sends anything
            return self.hook.get_outbound_call(self.agent_id, self.call_id)
        finally:
            self.hook.close()


class TelzinoCreateOutboundCallOperator(_TelzinoOperator):
    """Places an outbound call; optionally waits for its outcome (polling on the worker, or deferred).

    **Never dials twice.** The call's metadata carries a correlation key under ``"airflow"``
    (``dag_id``, ``task_id``, ``run_id``, ``map_index``); the user's metadata is kept as given (the
    ``airflow`` key is reserved). The first try of a task instance places the call at once: one POST,
    no list request. A later try (a retry, or a cleared task) first looks through the agent's calls
    created since the DAG run became due (minus ``clock_margin``), newest first, and adopts one
    carrying the same key instead of dialling again; see :mod:`telzino_provider.correlation` for the
    rule and its limits. If the create request ends without a readable answer, the operator looks once
    more after a short pause; if the call still is not listed, the task fails without Airflow's
    retries (:class:`~telzino_provider.exceptions.TelzinoCallMayHaveBeenPlacedError`), since the API
    may list the call late; clearing it later looks again before dialling. The call is always placed
    on the worker, never in the triggerer.

    **Once the API accepted the create, no later failure of the task instance dials again.** On
    Airflow 3.3+ the call id goes to the task instance's state store at once (key
    ``telzino_call_id``); a retry or a clear waits on that call, with no POST and no look. Before
    3.3 nothing survives a try, so any failure after the create (a 404 of the new record, an error
    while waiting, a failed XCom push) fails the task without retries, with the call id and how to
    wait on it (:class:`~telzino_provider.sensors.telzino.TelzinoOutboundCallSensor`); a 2xx answer
    without an id fails the same way
    (:class:`~telzino_provider.exceptions.TelzinoCallPlacedWithoutIdError`). Left open: a worker that
    dies after the POST returned and before the id is stored (before 3.3: at any point after). Its
    retry finds the call only in the listing, so a retry that finds no earlier call looks once more
    ``listing_delay`` later before it dials; a call the API lists later than that is placed twice.

    XCom: key ``call_id`` holds the call id, pushed as soon as the call is placed or adopted (before
    any waiting, so a failed wait leaves it behind). The return value is the call record (the GET
    shape); with ``wait_for_completion`` it is the final record. A failure status (or another
    terminal status not in ``success_statuses``) fails the task with the status, ``error`` and
    ``sip_status_code``.

    :param agent_id: the agent that places the call (templated).
    :param to_number: E.164 number to dial (templated); logged masked.
    :param call_context: up to 4000 characters added to the agent's prompt (templated).
    :param metadata: JSON object stored with the call (templated); at most 16 KB with the key.
    :param callback_url: https URL for the result webhook (templated).
    :param wait_for_completion: wait until a success or failure status.
    :param poll_interval: seconds between looks while waiting.
    :param timeout: seconds to wait for an outcome before failing.
    :param success_statuses: statuses that finish the wait.
    :param failure_statuses: statuses that fail the task.
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``).
    :param clock_margin: how much earlier than the DAG run's due time a later try looks for an earlier
        call, for clocks that disagree (timedelta or seconds; default 5 minutes).
    :param max_consecutive_errors: transient API errors tolerated in a row while waiting (a whole
        number, 0 or more; default 5).
    :param listing_delay: how late the API may list a call it accepted (timedelta or seconds,
        default 1 minute): a later try that finds no earlier call looks again this much later
        before it dials. 0 dials at once.
    :param telzino_conn_id: the Airflow connection id (templated).
    """

    template_fields: Sequence[str] = (
        "agent_id",
        "to_number",
        "call_context",
        "metadata",
        "callback_url",
        "telzino_conn_id",
    )
    template_fields_renderers = {"metadata": "json", "call_context": "md"}

    def __init__(
        self,
        *,
        agent_id: str,
        to_number: str,
        call_context: str | None = None,
        metadata: dict[str, Any] | None = None,
        callback_url: str | None = None,
        wait_for_completion: bool = False,
        poll_interval: float = 15,
        timeout: float = 3600,
        success_statuses: Sequence[str] = DEFAULT_SUCCESS,
        failure_statuses: Sequence[str] = DEFAULT_FAILURE,
        deferrable: bool | None = None,
        clock_margin: timedelta = DEFAULT_CLOCK_MARGIN,
        max_consecutive_errors: int = DEFAULT_MAX_CONSECUTIVE_ERRORS,
        listing_delay: timedelta | float = DEFAULT_LISTING_DELAY,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.agent_id = agent_id
        self.to_number = to_number
        self.call_context = call_context
        self.metadata = metadata
        self.callback_url = callback_url
        self.wait_for_completion = require_bool("wait_for_completion", wait_for_completion)
        self.poll_interval = require_seconds("poll_interval", poll_interval)
        self.timeout = require_duration("timeout", timeout, allow_zero=False).total_seconds()
        self.success_statuses, self.failure_statuses = require_outcome_statuses(
            success_statuses, failure_statuses
        )
        deferrable = optional_bool("deferrable", deferrable)
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.clock_margin = require_duration("clock_margin", clock_margin)
        self.max_consecutive_errors = require_count("max_consecutive_errors", max_consecutive_errors)
        self.listing_delay = require_seconds("listing_delay", listing_delay, allow_zero=True)

    def execute(self, context: Context) -> dict[str, Any]:
        agent = require_uuid("agent_id", self.agent_id)
        body = self._request_body(context)
        store = task_state_store(context)
        try:
            call_id = recall_call(store)
            if call_id is not None:
                self.log.info(
                    "Telzino call %s was placed by an earlier try of this task instance; "
                    "waiting on it instead of dialling again",
                    call_id,
                )
                durable = True
            else:
                call_id = self._adopt_or_place(context, agent, body)["id"]
                durable = False
            with _AfterCreate(agent, call_id, durable) as placed:
                placed.durable = durable or remember_call(store, call_id)
                context["ti"].xcom_push(key="call_id", value=call_id)
                if not self.wait_for_completion:
                    return self.hook.get_outbound_call(agent, call_id)
                return self._wait(context, agent, call_id)
        finally:
            self.hook.close()

    def execute_complete(
        self, context: Context, event: Event | None = None, call_id: str | None = None
    ) -> dict[str, Any]:
        """Resume after the trigger fired; a missing or unknown event fails loudly.

        :param call_id: the call waited on, handed over by the deferral (``dag.test()`` on Airflow 3
            drops it: then the state store's id, or the ``call_id`` XCom, which a resume keeps).
        """
        stored = recall_call(task_state_store(context))
        call_id = call_id or stored or _pushed_call_id(context)
        with _AfterCreate(self.agent_id, call_id, durable=stored is not None and stored == call_id):
            try:
                restore = partial(restore_event, self.hook, self.agent_id, event)
                restored = restore_on_worker(
                    restore, max_errors=self.max_consecutive_errors, poll_interval=self.poll_interval
                )
                return resolve_event(restored, CALL)
            finally:
                self.hook.close()

    # -- placing ------------------------------------------------------------------------------

    def _request_body(self, context: Context) -> dict[str, Any]:
        """The validated, rendered arguments, with the correlation key in the metadata."""
        user_metadata = optional_metadata("metadata", self.metadata)
        return {
            "to_number": require_e164("to_number", self.to_number),
            "call_context": optional_call_context("call_context", self.call_context),
            "metadata": optional_metadata("metadata", with_key(user_metadata, correlation_key(context))),
            "callback_url": optional_callback_url("callback_url", self.callback_url),
        }

    def _adopt_or_place(self, context: Context, agent: str, body: dict[str, Any]) -> dict[str, Any]:
        key = body["metadata"][METADATA_KEY]
        why = earlier_attempt(context)
        since: datetime | None = None
        if why is None:
            self.log.info("First try of this task instance: placing the call without looking for one")
        else:
            since = adopt_since(context, self.clock_margin)
            self.log.info("Looking for a call placed earlier (%s), created since %s", why, since)
            earlier = self._find_earlier(agent, key, since)
            if earlier is not None:
                return self._adopt(earlier, body["to_number"], "placed by an earlier attempt of this task")
        sent_at = datetime.now(timezone.utc)
        try:
            return self.hook.create_outbound_call(agent, **body)
        except TelzinoCallMayHaveBeenPlacedError as err:
            if _stopped_by_airflow(err):
                raise  # Airflow stopped this try: no pause and look past its execution_timeout
            # On a first try only this request can have placed the call: look back to its start only.
            found = self._look_again(agent, key, since or sent_at - self.clock_margin, err)
            return self._adopt(found, body["to_number"], "recorded although its create request failed")

    def _find_earlier(self, agent: str, key: dict[str, Any], since: datetime) -> dict[str, Any] | None:
        """The earlier attempt's call; when not listed, looked for again ``listing_delay`` later,
        since an earlier try that died after its POST returned leaves only the listing."""
        found = find_placed_call(self.hook, agent, key, since)
        if found is None and self.listing_delay > 0:
            self.log.info(
                "No earlier call listed; the API may list a new call late, so looking again in %.0f s "
                "before dialling (listing_delay)",
                self.listing_delay,
            )
            time.sleep(self.listing_delay)
            found = find_placed_call(self.hook, agent, key, since)
        return found

    def _look_again(
        self, agent: str, key: dict[str, Any], since: datetime, err: TelzinoCallMayHaveBeenPlacedError
    ) -> dict[str, Any]:
        """The call an uncertain create placed, if it is listed after a pause; else ``err`` again."""
        self.log.warning(
            "Creating the call gave no usable answer; looking for it again in %.0f s", RECHECK_DELAY_SECONDS
        )
        time.sleep(RECHECK_DELAY_SECONDS)
        try:
            found = find_placed_call(self.hook, agent, key, since)
        except TelzinoApiError as lookup_err:
            self.log.error("Could not look for the call: %s", lookup_err)
            raise err from None
        if found is None:
            self.log.error(
                "The call is not listed (yet). The task fails without retries: a retry could dial again "
                "before the API lists a call it recorded late. Clear the task after checking"
            )
            raise err
        return found

    def _adopt(self, call: dict[str, Any], to_number: str, why: str) -> dict[str, Any]:
        self.log.info(
            "Adopting Telzino call %s (%s, status %s) instead of dialling again",
            call.get("id"),
            why,
            call.get("status"),
        )
        if call.get("to_number") != to_number:
            self.log.warning(
                "The adopted call went to %s, but this attempt would dial %s; not dialling again",
                mask_phone(call.get("to_number")),
                mask_phone(to_number),
            )
        return call

    # -- waiting ------------------------------------------------------------------------------

    def _wait(self, context: Context, agent: str, call_id: str) -> dict[str, Any]:
        poll = partial(poll_call, self.hook, agent, call_id, self.success_statuses, self.failure_statuses)
        deadline = time.time() + self.timeout
        if self.deferrable:
            # One look first: an adopted call may have finished already. Its error count goes to
            # the trigger, so a run of errors is counted as one.
            budget = ErrorBudget(self.max_consecutive_errors)
            event = poll_step(poll, budget, deadline)
            if event is not None:
                return resolve_event(event, CALL)
            self.defer(
                trigger=TelzinoOutboundCallTrigger(
                    agent_id=agent,
                    call_id=call_id,
                    success_statuses=self.success_statuses,
                    failure_statuses=self.failure_statuses,
                    end_time=deadline,
                    poll_interval=self.poll_interval,
                    telzino_conn_id=self.telzino_conn_id,
                    max_consecutive_errors=self.max_consecutive_errors,
                    consecutive_errors=budget.count,
                    first_look_at=time.time() + self.poll_interval,  # it has just looked itself
                ),
                method_name="execute_complete",
                kwargs={"call_id": call_id},
                timeout=timedelta(seconds=self.timeout) + DEFER_GRACE,
            )
        event = wait_on_worker(
            poll,
            what=f"Telzino call {call_id}",
            deadline=deadline,
            poll_interval=self.poll_interval,
            max_errors=self.max_consecutive_errors,
        )
        return resolve_event(event, CALL)


#: What leaves a try after the create unchanged: a deferral (not a failure), a final failure, and
#: the interpreter stopping. Everything else is made final, Airflow's BaseException failures too:
#: AirflowTaskTimeout (execution_timeout) and AirflowTaskTerminated (SIGTERM) would be retried.
_PASSES_AFTER_CREATE = (TaskDeferred, AirflowFailException, KeyboardInterrupt, SystemExit, GeneratorExit)


class _AfterCreate:
    """Around everything after a create the API accepted: a failure is final unless ``durable``.

    A retry that does not know the call id could only find the call in the listing, which may show
    it late, and dial again. So unless the id is in the task state store (Airflow 3.3+), where the
    retry reads it and waits on the call, the task fails without retries, saying how to wait on it.
    """

    def __init__(self, agent_id: str, call_id: str | None, durable: bool) -> None:
        self.agent_id = agent_id
        self.call_id = call_id
        self.durable = durable

    def __enter__(self) -> _AfterCreate:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        if err is None or isinstance(err, _PASSES_AFTER_CREATE) or self.durable:
            return
        call = f"Telzino call {self.call_id}" if self.call_id else "The Telzino call (see the call_id XCom)"
        sensor = f"TelzinoOutboundCallSensor(agent_id={self.agent_id!r}, call_id={self.call_id!r})"
        # Airflow's own stops say little by their text alone ("Timeout, PID: 4102"): name them.
        why = err if isinstance(err, Exception) else f"{type(err).__name__}: {err}"
        failed = quoted(why, MAX_ERROR_CHARS)
        raise AirflowFailException(
            f"{call} WAS PLACED (the API accepted the create), then this try failed: {failed}. The task "
            "fails without retries, because a retry cannot know the call and could dial again (this "
            f"Airflow keeps no state across tries). To wait for the call's outcome, run {sensor}; "
            "clearing this task looks for the call before dialling"
        ) from err


def _stopped_by_airflow(err: BaseException) -> bool:
    """True for a create the transport saw stopped in flight (by a ``BaseException``, its cause)."""
    return err.__cause__ is not None and not isinstance(err.__cause__, Exception)


def _pushed_call_id(context: Context) -> str | None:
    """This task instance's ``call_id`` XCom, if it can be read (it survives a deferral's resume)."""
    ti = context["ti"]
    try:
        value = ti.xcom_pull(task_ids=ti.task_id, key="call_id", map_indexes=ti.map_index)
    except Exception:  # only for the failure message: never hide the failure itself
        return None
    return value if isinstance(value, str) else None
