"""TelzinoHook: the ``telzino`` connection and the Telzino API methods.

Transport concerns (auth, retries, paging) live in :mod:`telzino_provider.transport`; this module
validates input, builds paths and shapes results.
"""

from __future__ import annotations

import heapq
import itertools
import logging
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from telzino_provider.connection import ConnectionSettings
from telzino_provider.connection_form import CONN_FIELDS, CONN_TYPE, UI_FIELD_BEHAVIOUR
from telzino_provider.correlation import METADATA_KEY
from telzino_provider.exceptions import (
    MAX_ERROR_CHARS,
    TelzinoApiError,
    TelzinoCallPlacedWithoutIdError,
    TelzinoValidationError,
    quoted,
    truncate_body,
)
from telzino_provider.redaction import mask_phone
from telzino_provider.statuses import CallStatus
from telzino_provider.timeutil import shifted, to_utc, window_bounds
from telzino_provider.transport import TelzinoTransport, iter_newest_first
from telzino_provider.transport.concurrent_paging import PagePool, iter_newest_first_concurrent
from telzino_provider.validation import (
    MAX_CONCURRENCY,
    MAX_PAGE_SIZE,
    optional_call_context,
    optional_callback_url,
    optional_metadata,
    optional_positive,
    require_e164,
    require_int_range,
    require_opaque_id,
    require_statuses,
    require_uuid,
)
from telzino_provider.version_compat import BaseHook

log = logging.getLogger(__name__)

StatusArg = str | CallStatus | Iterable[str | CallStatus] | None
TimeArg = datetime | str | None
#: How long before a call's ``created_at`` a transcript scan still reads call logs: a call's log is
#: never created before the call; the margin absorbs clock differences between the API's services.
LOG_MARGIN = timedelta(minutes=5)
#: How long after a call ended :meth:`TelzinoHook.get_call_transcripts` still expects its log to be
#: created: newer logs are skipped, so a rerun of an old interval does not read every log since.
LOG_LATEST = timedelta(days=1)


class TelzinoHook(BaseHook):
    """Talks to the Telzino API through the ``telzino`` connection.

    Creating the hook reads nothing and sends nothing; the connection is looked up on first use.

    :param telzino_conn_id: the Airflow connection id (conn type ``telzino``).
    :param connection: the connection itself, already looked up (triggers look it up the async way
        first); None looks ``telzino_conn_id`` up on first use.
    """

    conn_name_attr = "telzino_conn_id"
    default_conn_name = "telzino_default"
    conn_type = CONN_TYPE
    hook_name = "Telzino"

    def __init__(
        self, telzino_conn_id: str = default_conn_name, *, connection: Any = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.telzino_conn_id = telzino_conn_id
        self._connection = connection

    # -- connection ---------------------------------------------------------------------------

    @cached_property
    def settings(self) -> ConnectionSettings:
        connection = self._connection or self.get_connection(self.telzino_conn_id)
        return ConnectionSettings.from_connection(connection)

    @cached_property
    def transport(self) -> TelzinoTransport:
        return TelzinoTransport(self.settings)

    def get_conn(self) -> TelzinoTransport:
        """The transport (one requests session per hook)."""
        return self.transport

    def close(self) -> None:
        if "transport" in self.__dict__:
            self.transport.close()
            del self.__dict__["transport"]

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Form layout for Airflow before 3.2 (3.2+ reads the provider info)."""
        return {
            "hidden_fields": list(UI_FIELD_BEHAVIOUR["hidden-fields"]),
            "relabeling": dict(UI_FIELD_BEHAVIOUR["relabeling"]),
            "placeholders": dict(UI_FIELD_BEHAVIOUR["placeholders"]),
        }

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Extra form fields for Airflow before 3.2, built from the same definition as ``conn-fields``."""
        from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
        from flask_babel import lazy_gettext
        from wtforms import IntegerField, PasswordField, StringField
        from wtforms.validators import NumberRange, Optional

        widgets: dict[str, Any] = {}
        for name, spec in CONN_FIELDS.items():
            schema = spec["schema"]
            label = lazy_gettext(spec["label"])
            kinds = schema["type"]
            if schema.get("format") == "password":
                widgets[name] = PasswordField(label, widget=BS3PasswordFieldWidget())
            elif "integer" in kinds:
                widgets[name] = IntegerField(
                    label,
                    validators=[Optional(), NumberRange(min=0)],
                    widget=BS3TextFieldWidget(),
                    default=schema.get("default"),
                )
            else:
                widgets[name] = StringField(
                    label, widget=BS3TextFieldWidget(), default=_form_default(schema.get("default"))
                )
        return widgets

    def test_connection(self) -> tuple[bool, str]:
        """One cheap authenticated GET; the message tells bad credentials from a wrong or dead host.

        The session is closed afterwards, whatever the outcome, as the operators close theirs.
        """
        try:
            settings = self.settings
            body = self.transport.get("/v1/agents", {"page": 1, "limit": 1}, retry=False)
        except TelzinoValidationError as err:
            return False, f"Connection settings are invalid: {err}"
        except TelzinoApiError as err:
            return False, _explain_failure(err, self.settings.base_url)
        finally:
            self.close()
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            return False, (
                f"{settings.base_url} answered, but not like the Telzino API; "
                "check the host (the API base URL, without /v1)"
            )
        return True, f"Connected to the Telzino API at {settings.base_url}; the credentials were accepted."

    # -- outbound calls -----------------------------------------------------------------------

    def iter_outbound_calls(
        self,
        agent_id: str,
        *,
        status: StatusArg = None,
        created_after: TimeArg = None,
        created_before: TimeArg = None,
        page_size: int = MAX_PAGE_SIZE,
        max_calls: int | None = None,
        max_concurrency: int = 1,
    ) -> Iterator[dict[str, Any]]:
        """Yield the agent's outbound calls, newest first, each once, lazily page by page.

        Every call that existed when reading began and is in the window is yielded exactly once, whatever
        arrives meanwhile. Finished statuses (``completed``, ``no_answer``, ``busy``, ``failed``) are
        filtered by the API, so they cost the pages of the matching calls. A call leaves a live status
        (``queued`` ... ``in_progress``) at any moment, which would shift the filtered list and skip
        calls, so a live status is filtered here, on the unfiltered list: every call that is in it
        throughout the read is yielded (one that changes status meanwhile is yielded if its page showed
        the status), at the cost of the pages of *every* call in the window (the whole history without
        ``created_after``).

        :param agent_id: the agent's UUID.
        :param status: None for all, one status, or a list; each must be a documented status.
        :param created_after: inclusive lower bound on ``created_at`` (datetime or ISO-8601; naive = UTC).
        :param created_before: exclusive upper bound on ``created_at``.
        :param page_size: calls per request, 1 to 100.
        :param max_calls: stop after this many calls.
        :param max_concurrency: requests in flight at once, 1 (default: one page after another) to
            ``MAX_CONCURRENCY`` (16). Same calls, same order; for first loads and backfills (see
            docs/concurrent-paging.md). The API's rate limits are not documented: raise it with care.
        """
        agent = require_uuid("agent_id", agent_id)
        statuses = require_statuses("status", status)
        after, before = window_bounds(created_after, created_before)
        limit = require_int_range("page_size", page_size, 1, MAX_PAGE_SIZE)
        cap = optional_positive("max_calls", max_calls)
        workers = require_int_range("max_concurrency", max_concurrency, 1, MAX_CONCURRENCY)
        calls = self._calls_newest_first(agent, statuses, after, before, limit, workers)
        return itertools.islice(calls, cap) if cap else calls

    def list_outbound_calls(
        self,
        agent_id: str,
        *,
        status: StatusArg = None,
        created_after: TimeArg = None,
        created_before: TimeArg = None,
        page_size: int = MAX_PAGE_SIZE,
        max_calls: int | None = None,
        max_concurrency: int = 1,
    ) -> list[dict[str, Any]]:
        """:meth:`iter_outbound_calls` collected into a list."""
        return list(
            self.iter_outbound_calls(
                agent_id,
                status=status,
                created_after=created_after,
                created_before=created_before,
                page_size=page_size,
                max_calls=max_calls,
                max_concurrency=max_concurrency,
            )
        )

    def get_outbound_call(self, agent_id: str, call_id: str) -> dict[str, Any]:
        """The call record (the authoritative state of a call)."""
        agent = require_uuid("agent_id", agent_id)
        call = require_uuid("call_id", call_id)
        return _expect_object(self.transport.get(f"/v1/agents/{agent}/outbound-calls/{call}"), "GET", call)

    def create_outbound_call(
        self,
        agent_id: str,
        to_number: str,
        *,
        call_context: str | None = None,
        metadata: dict[str, Any] | None = None,
        callback_url: str | None = None,
    ) -> dict[str, Any]:
        """Place a call. Not retried once the request may have reached the server.

        :param agent_id: the agent that places the call.
        :param to_number: E.164 number to dial.
        :param call_context: up to 4000 characters added to the agent's prompt for this call.
        :param metadata: JSON object (at most 16 KB) echoed back as ``request_metadata``.
        :param callback_url: https URL for the result webhook.
        """
        agent = require_uuid("agent_id", agent_id)
        body: dict[str, Any] = {"to_number": require_e164("to_number", to_number)}
        optional = {
            "call_context": optional_call_context("call_context", call_context),
            "metadata": optional_metadata("metadata", metadata),
            "callback_url": optional_callback_url("callback_url", callback_url),
        }
        body.update({key: value for key, value in optional.items() if value is not None})
        shown = _described_metadata(body.get("metadata") or {})
        describe = f"a call to {mask_phone(body['to_number'])} with metadata {shown}"
        path = f"/v1/agents/{agent}/outbound-calls"
        created = self.transport.create(path, body, describe=describe)
        if not isinstance(created, dict) or not isinstance(created.get("id"), str) or not created["id"]:
            raise TelzinoCallPlacedWithoutIdError("POST", path)  # 2xx: the call was placed
        log.info("Placed Telzino call %s to %s", created.get("id"), mask_phone(body["to_number"]))
        return created

    # -- call logs ----------------------------------------------------------------------------

    def iter_call_logs(
        self,
        agent_id: str,
        *,
        created_after: TimeArg = None,
        created_before: TimeArg = None,
        page_size: int = MAX_PAGE_SIZE,
        max_logs: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Yield the agent's call logs (transcripts), newest first, each once.

        The window works as in :meth:`iter_outbound_calls`, on the logs' ``created_at``: reading stops
        one page past it, after checking the order on the fly (the docs do not state the call logs'
        order; if it is not newest first, every page is read, with a warning).

        :param agent_id: the agent's UUID.
        :param created_after: inclusive lower bound on the log's ``created_at``.
        :param created_before: exclusive upper bound on the log's ``created_at``.
        :param page_size: logs per request, 1 to 100.
        :param max_logs: stop after this many logs.
        """
        agent = require_uuid("agent_id", agent_id)
        after, before = window_bounds(created_after, created_before)
        limit = require_int_range("page_size", page_size, 1, MAX_PAGE_SIZE)
        cap = optional_positive("max_logs", max_logs)
        path = f"/v1/agents/{agent}/call-logs"
        entries = iter_newest_first(
            lambda page: self.transport.get(path, {"page": page, "limit": limit}),
            label=f"Telzino call logs of agent {agent}",
            path=path,
            created_after=after,
            created_before=before,
        )
        logs = (item for _, item in entries)
        return itertools.islice(logs, cap) if cap else logs

    def get_transcripts(
        self,
        agent_id: str,
        transcript_ids: Iterable[str | None],
        *,
        since: TimeArg = None,
        until: TimeArg = None,
    ) -> dict[str, dict[str, Any]]:
        """Find several calls' transcripts in one pass over the call logs; missing ids are left out.

        Ids are compared exactly as listed (``log-<uuid>`` or any other string); None and empty ids
        (calls that never connected) are skipped. Reading stops once every id is found or, with
        ``since``, at the first call log created more than :data:`LOG_MARGIN` before ``since``: a
        call's log is never created before its call, so the cost then follows the calls asked about
        (a page or two beyond them), not the agent's history, even for a log not listed yet. Without
        ``since`` a missing id costs every page of the agent's call logs. With ``until``, the logs
        created from then on are skipped by a search instead of read (for calls that ended long ago).

        :param agent_id: the agent's UUID.
        :param transcript_ids: the calls' ``transcript_id`` values.
        :param since: the earliest ``created_at`` of those calls (datetime or ISO-8601).
        :param until: no log of those calls was created at or after this moment.
        """
        wanted = {
            require_opaque_id("transcript_ids", tid)
            for tid in transcript_ids
            if tid is not None and tid != ""
        }
        start = to_utc("since", since)
        end = to_utc("until", until)
        found: dict[str, dict[str, Any]] = {}
        if not wanted:
            return found
        logs = self.iter_call_logs(
            agent_id, created_after=shifted(start, -LOG_MARGIN) if start else None, created_before=end
        )
        for entry in logs:
            if entry.get("id") in wanted:
                found[entry["id"]] = entry
                if len(found) == len(wanted):
                    break
        return found

    def get_transcript(
        self, agent_id: str, transcript_id: str, *, since: TimeArg = None, until: TimeArg = None
    ) -> dict[str, Any] | None:
        """The call log whose id is a call's ``transcript_id``, or None if it is not listed (yet).

        :param since: the call's ``created_at``; bounds the scan as in :meth:`get_transcripts`.
        :param until: no log of the call was created at or after this moment (for a call that ended
            long ago, its ``ended_at`` plus a margin): the newer logs are skipped by a search.
        """
        tid = require_opaque_id("transcript_id", transcript_id)
        return self.get_transcripts(agent_id, [tid], since=since, until=until).get(tid)

    def get_call_transcripts(
        self, agent_id: str, calls: Iterable[dict[str, Any]]
    ) -> dict[str, dict[str, Any]]:
        """The transcripts of ``calls`` (call records or list items, e.g. a list operator's XCom),
        keyed by ``transcript_id``: :meth:`get_transcripts` bounded by the oldest call's ``created_at``
        and by :data:`LOG_LATEST` after the newest call's ``ended_at`` (its ``created_at`` if it has
        none), so the requests follow these calls whenever they were placed.

        :param calls: dicts with ``transcript_id`` and ``created_at`` (calls without a transcript id
            are skipped).
        """
        with_log = [call for call in calls if call.get("transcript_id")]
        if not with_log:
            return {}
        if any(not call.get("created_at") for call in with_log):
            raise TelzinoValidationError(
                "calls", "each call needs its created_at to bound the scan; keep 'created_at' in fields"
            )
        since = min(_utc("calls", call["created_at"]) for call in with_log)
        last = max(_utc("calls", call.get("ended_at") or call["created_at"]) for call in with_log)
        ids = [call["transcript_id"] for call in with_log]
        return self.get_transcripts(agent_id, ids, since=since, until=last + LOG_LATEST)

    # -- internals ----------------------------------------------------------------------------

    def _calls_newest_first(
        self,
        agent: str,
        statuses: tuple[CallStatus, ...],
        after: datetime | None,
        before: datetime | None,
        limit: int,
        workers: int = 1,
    ) -> Iterator[dict[str, Any]]:
        pool = None
        if workers > 1:
            _ = self.transport  # made here, once, before worker threads share it
            # One for every stream: at most `workers` requests in flight, and one memory budget.
            pool = PagePool(workers, streams=_stream_count(statuses))
        try:
            yield from self._merged_streams(agent, statuses, after, before, limit, pool)
        finally:
            if pool is not None:
                pool.close()

    def _merged_streams(
        self,
        agent: str,
        statuses: tuple[CallStatus, ...],
        after: datetime | None,
        before: datetime | None,
        limit: int,
        pool: PagePool | None,
    ) -> Iterator[dict[str, Any]]:
        path = f"/v1/agents/{agent}/outbound-calls"

        def stream(status: CallStatus | None) -> Iterator[tuple[datetime, dict[str, Any]]]:
            params: dict[str, Any] = {"limit": limit}
            if status is not None:
                params["status"] = status.value
            label = f"Telzino outbound calls of agent {agent}" + (f" ({status.value})" if status else "")
            return iter_newest_first_concurrent(
                lambda page: self.transport.get(path, {**params, "page": page}),
                label=label,
                path=path,
                created_after=after,
                created_before=before,
                pool=pool,
            )

        if any(not s.is_terminal for s in statuses):
            # A call leaves a live status's list while it is read, which shifts later pages towards
            # page 1 and would skip calls; the unfiltered list only grows at its head.
            wanted = {s.value for s in statuses}
            yield from (item for _, item in stream(None) if item.get("status") in wanted)
            return
        if len(statuses) <= 1:
            yield from (item for _, item in stream(statuses[0] if statuses else None))
            return
        # Finished calls never leave their status, so the server's filter is safe. It filters by one
        # status: read one stream per status and merge them newest first (a call is in one only).
        merged = heapq.merge(*(stream(s) for s in statuses), key=lambda entry: entry[0], reverse=True)
        yield from (item for _, item in merged)


def _stream_count(statuses: tuple[CallStatus, ...]) -> int:
    """How many lists :meth:`TelzinoHook._merged_streams` reads for ``statuses``: one per finished
    status, or one unfiltered list when a live status is asked for."""
    if len(statuses) <= 1 or any(not s.is_terminal for s in statuses):
        return 1
    return len(statuses)


def _utc(field: str, value: object) -> datetime:
    moment = to_utc(field, value)
    assert moment is not None  # callers pass a value
    return moment


def _expect_object(body: Any, method: str, what: str) -> dict[str, Any]:
    if not isinstance(body, dict) or "id" not in body:
        raise TelzinoApiError(method, what, 200, "expected a call object with an 'id'")
    return body


def _described_metadata(metadata: dict[str, Any]) -> str:
    """The metadata an uncertain-create error quotes: enough to find the call, never all 16 KB.
    The correlation key, what the call list can be searched by, is quoted whole (three ids of at most
    250 characters and a number); only the rest, the user's, is cut."""
    user = {name: value for name, value in metadata.items() if name != METADATA_KEY}
    shown = truncate_body(str(user)) if user else ""
    if METADATA_KEY not in metadata:
        return shown or "{}"
    key = quoted({METADATA_KEY: metadata[METADATA_KEY]}, MAX_ERROR_CHARS)
    return f"{key} and {shown}" if shown else key


def _form_default(value: Any) -> Any:
    return None if value is None else str(value)


def _explain_failure(err: TelzinoApiError, base_url: str) -> str:
    status = err.status_code
    if status in (401, 403):
        return (
            f"Telzino rejected the credentials (HTTP {status}): check the access token or client id/secret."
        )
    if status is None:
        return f"Could not reach {base_url}: {err}. Check the host and the network."
    if status == 404:
        return f"{base_url} has no Telzino API (HTTP 404): check the host is the API base URL, without /v1."
    return f"Telzino API at {base_url} failed: {err}"
