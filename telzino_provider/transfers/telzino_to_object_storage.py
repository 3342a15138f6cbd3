"""TelzinoCallsToObjectStorageOperator: an agent's calls in a window, landed as one JSON Lines object.

The reference (every parameter, the line format, what the filesystems offer) is docs/transfers.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta, timezone
from functools import cached_property
from typing import Any

from telzino_provider.call_lines import JsonLinesWriter, redact_line, transcript_of
from telzino_provider.exceptions import TelzinoValidationError
from telzino_provider.hooks.telzino import LOG_MARGIN, TelzinoHook
from telzino_provider.recordings import RecordingCopier, RecordingCounts
from telzino_provider.storage import (
    ObjectSink,
    at_url,
    replace_atomically,
    require_folder,
    require_not_file,
    require_not_folder,
    require_path,
    sibling,
    url_of,
)
from telzino_provider.timeutil import shifted
from telzino_provider.transcript_join import LOG_DELAY_MARGIN, join_transcripts
from telzino_provider.validation import (
    MAX_CONCURRENCY,
    require_bool,
    require_int_range,
    require_name,
    require_uuid,
)
from telzino_provider.version_compat import (
    AirflowException,
    Asset,
    BaseOperator,
    Context,
    ObjectStoragePath,
)
from telzino_provider.windows import (
    DEFAULT_LOOKBACK,
    CallWindow,
    check_window_arguments,
    describe_window,
    iter_window,
    require_fields,
    settle_window,
    trim,
    window_for_task,
)

Record = dict[str, Any]


class TelzinoCallsToObjectStorageOperator(BaseOperator):
    """Lands an agent's calls in a window as JSON Lines in object storage, with transcripts and
    optionally recordings, and announces them as an Asset event.

    The window works like :class:`~telzino_provider.operators.telzino.TelzinoListOutboundCallsOperator`'s:
    ``created_after`` / ``created_before`` bound ``window_field``; with ``window_field="ended_at"``
    (the default here) consecutive data intervals land every finished call exactly once.
    ``use_data_interval=True`` takes the bounds from the run, manual runs included.

    In ``destination`` and ``recordings_destination``, ``{window_start}`` and ``{window_end}`` are
    replaced by the window's bounds (UTC to the second, ``20260611T120000Z``; see :func:`window_name`)
    once it is known: unlike ``{{ data_interval_start }}`` they also name a manual run's object on
    Airflow 3.

    The object is written under a temporary name and moved into place, so a re-run of the same
    window replaces it and a failed run leaves the final name untouched; an empty window writes an
    empty object. Calls are streamed: memory stays flat however many calls the window holds.

    XCom: ``{"uri", "calls", "bytes", "window": [start, end], "recordings": {"stored", "skipped",
    "expired"}}``. Outlet: the destination (its folder when the object name is templated), as an
    Asset (a Dataset on Airflow 2), with ``{"calls", "window", "uri"}`` as the event's extra.

    :param agent_id: the agent's UUID (templated).
    :param destination: the object to write: a URL (``file:///data/calls.jsonl``,
        ``s3://bucket/prefix/calls.jsonl.gz``, ...) or an ``ObjectStoragePath`` (templated). A name
        ending in ``.gz`` is gzip-compressed.
    :param status: None for every status, one status or a list (templated).
    :param window_field: ``ended_at`` (default) or ``created_at``: the field the bounds apply to.
    :param created_after: inclusive lower bound, datetime or ISO-8601 (templated).
    :param created_before: exclusive upper bound (templated).
    :param use_data_interval: take the bounds from the DAG run instead (leave ``created_after`` /
        ``created_before`` unset): its data interval; for a run without one (a manual run on
        Airflow 3) the last full interval of the DAG's schedule before the run, as the list operator.
    :param fallback_interval: with ``use_data_interval``, the window length before the run when the
        schedule has no intervals.
    :param lookback: for ``ended_at``, how much earlier creations are scanned; also the longest a
        call may last for its transcript to be found (default 6 hours).
    :param fields: keep only these keys of each call (the transcript and recording are added).
    :param include_transcripts: add each call's ``transcript`` (null for calls without one).
    :param include_recordings: copy each call's recording and add ``recording`` (``uri``, ``bytes``).
    :param recordings_destination: folder for the recordings (templated); default: ``recordings/``
        beside the destination.
    :param redact: mask phone numbers in what lands (``to_number``; E.164 numbers in summaries,
        context, errors and transcripts).
    :param max_concurrency: list pages read at once (1-16, default 1: one after another); the same
        lines in the same order, for first loads and backfills (docs/concurrent-paging.md).
    :param settle: land the window only once it ended this long ago (timedelta or seconds, 0 to 1
        hour; default 0; never waiting longer than this), for an API that lists a call late; see
        docs/transfers.md.
    :param telzino_conn_id: the Airflow connection id (templated).
    """

    template_fields: Sequence[str] = (
        "agent_id",
        "destination",
        "status",
        "created_after",
        "created_before",
        "recordings_destination",
        "telzino_conn_id",
    )
    ui_color = "#e8f1fb"

    def __init__(
        self,
        *,
        agent_id: str,
        destination: str | ObjectStoragePath,
        status: str | Sequence[str] | None = None,
        window_field: str = "ended_at",
        created_after: Any = None,
        created_before: Any = None,
        lookback: timedelta = DEFAULT_LOOKBACK,
        use_data_interval: bool = False,
        fallback_interval: timedelta | None = None,
        fields: Sequence[str] | None = None,
        include_transcripts: bool = True,
        include_recordings: bool = False,
        recordings_destination: str | ObjectStoragePath | None = None,
        redact: bool = False,
        max_concurrency: int = 1,
        settle: timedelta | float = timedelta(0),
        telzino_conn_id: str = TelzinoHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        if "outlets" not in kwargs:
            asset = destination_asset(destination)
            kwargs["outlets"] = [asset] if asset is not None else []
        super().__init__(**kwargs)
        self.agent_id = agent_id
        self.destination = destination
        self.status = status
        self.window_field = window_field
        self.created_after = created_after
        self.created_before = created_before
        self.lookback = lookback
        self.use_data_interval = use_data_interval
        self.fallback_interval = fallback_interval
        self.fields = fields
        self.include_transcripts = require_bool("include_transcripts", include_transcripts)
        self.include_recordings = require_bool("include_recordings", include_recordings)
        self.recordings_destination = recordings_destination
        self.redact = require_bool("redact", redact)
        self.max_concurrency = max_concurrency
        self.settle = settle
        self.telzino_conn_id = require_name("telzino_conn_id", telzino_conn_id)
        check_window_arguments(self)

    @cached_property
    def hook(self) -> TelzinoHook:
        return TelzinoHook(telzino_conn_id=self.telzino_conn_id)

    def execute(self, context: Context) -> dict[str, Any]:
        agent = require_uuid("agent_id", self.agent_id)
        window = self._window(context)
        fields = require_fields(self.fields)
        workers = require_int_range("max_concurrency", self.max_concurrency, 1, MAX_CONCURRENCY)
        destination = require_not_folder(
            "destination",
            require_path("destination", name_for_window("destination", self.destination, window)),
        )
        folder = self._recordings_folder(destination, window) if self.include_recordings else None
        settle_window(window, self.settle, self.log)
        try:
            result = self._land(agent, window, fields, destination, folder, workers)
        finally:
            self.hook.close()
        self._announce(context, result)
        return result

    # -- steps --------------------------------------------------------------------------------

    def _window(self, context: Context) -> CallWindow:
        window, interval = window_for_task(context, self)
        self.log.info("%s", describe_window(window, interval))
        return window

    def _recordings_folder(self, destination: ObjectStoragePath, window: CallWindow) -> ObjectStoragePath:
        if self.recordings_destination in (None, ""):
            folder = sibling(destination, "recordings")
        else:
            value = name_for_window("recordings_destination", self.recordings_destination, window)
            folder = require_folder("recordings_destination", value)
        return require_not_file("recordings_destination", folder)

    def _land(
        self,
        agent: str,
        window: CallWindow,
        fields: list[str] | None,
        destination: ObjectStoragePath,
        folder: ObjectStoragePath | None,
        workers: int,
    ) -> dict[str, Any]:
        copier = None
        if folder is not None:
            settings = self.hook.settings
            copier = RecordingCopier(
                folder, self.hook.transport.policy, timeout=(settings.connect_timeout, settings.read_timeout)
            )
        missing = 0
        try:
            with replace_atomically(destination, compress=destination.name.endswith(".gz")) as sink:
                writer = JsonLinesWriter(sink)
                for call, log in self._calls_with_logs(agent, window, workers):
                    if self.include_transcripts and log is None and call.get("status") == "completed":
                        missing += 1
                    writer.write(self._line(call, log, fields, copier))
                writer.flush()
                if copier is not None:
                    _fail_if_every_recording_failed(copier.counts)
        finally:
            if copier is not None:
                copier.close()
        counts = copier.counts if copier is not None else RecordingCounts()
        self._log_result(agent, window, destination, writer.lines, sink, missing, counts)
        return {
            "uri": url_of(destination),
            "calls": writer.lines,
            "bytes": sink.stored_bytes,
            "window": window_bounds(window),
            "recordings": counts.as_dict(),
        }

    def _calls_with_logs(
        self, agent: str, window: CallWindow, workers: int
    ) -> Iterator[tuple[Record, Record | None]]:
        calls = iter_window(self.hook, agent, window, max_concurrency=workers)
        if not (self.include_transcripts or self.include_recordings):  # the links come with the logs
            return ((call, None) for call in calls)
        after, before = call_log_bounds(window)
        logs = self.hook.iter_call_logs(agent, created_after=after, created_before=before)
        return join_transcripts(calls, logs, horizon=window.lookback + LOG_DELAY_MARGIN, margin=LOG_MARGIN)

    def _line(
        self, call: Record, log: Record | None, fields: list[str] | None, copier: RecordingCopier | None
    ) -> Record:
        line = dict(trim(call, fields))
        if self.include_transcripts:
            line["transcript"] = transcript_of(log)
        if copier is not None and log is not None and log.get("recording_url"):
            recording = copier.copy(call["id"], log["recording_url"])
            if recording is not None:
                line["recording"] = recording
        return redact_line(line) if self.redact else line

    def _log_result(
        self,
        agent: str,
        window: CallWindow,
        destination: ObjectStoragePath,
        calls: int,
        sink: ObjectSink,
        missing: int,
        counts: RecordingCounts,
    ) -> None:
        self.log.info(
            "Landed %d Telzino calls of agent %s with %s in [%s, %s) at %s (%d bytes)",
            calls,
            agent,
            window.field,
            window.start,
            window.end,
            destination,
            sink.stored_bytes,
        )
        if missing:
            self.log.warning(
                "%d completed calls have no transcript listed (yet); they landed with transcript null",
                missing,
            )
        if self.include_recordings:
            self.log.info("Recordings: %s", counts.as_dict())

    def _announce(self, context: Context, result: dict[str, Any]) -> None:
        """Attach what arrived to the outlet Asset events, for DAGs scheduled on them."""
        events = context.get("outlet_events")
        if events is None:
            return
        extra = {"calls": result["calls"], "window": result["window"], "uri": result["uri"]}
        for outlet in self.outlets:
            if isinstance(outlet, Asset):
                events[outlet].extra = extra


WINDOW_PLACEHOLDERS = ("{window_start}", "{window_end}")


def name_for_window(field: str, value: Any, window: CallWindow) -> Any:
    """``value`` (a URL or an ObjectStoragePath, which keeps its connection) with ``{window_start}`` /
    ``{window_end}`` replaced by the window's bounds."""
    if isinstance(value, ObjectStoragePath):
        url = str(value)
        filled = _fill_placeholders(field, url, window)
        return value if filled == url else at_url(value, filled)
    if isinstance(value, str):
        return _fill_placeholders(field, value, window)
    return value


def _fill_placeholders(field: str, value: str, window: CallWindow) -> str:
    for token, bound in zip(WINDOW_PLACEHOLDERS, (window.start, window.end), strict=True):
        if token in value:
            if bound is None:
                raise TelzinoValidationError(field, f"{token} needs a window bounded on that side")
            value = value.replace(token, window_name(bound))
    return value


def window_name(moment: datetime) -> str:
    """A window bound as it appears in object names: ISO 8601 basic in UTC, to the second
    (``20260611T120000Z``), with the microseconds only when there are some
    (``20260611T120317.250000Z``, a manual run's ``run_after``), so every window has a name of its own."""
    utc = moment.astimezone(timezone.utc)
    return utc.strftime("%Y%m%dT%H%M%S.%fZ" if utc.microsecond else "%Y%m%dT%H%M%SZ")


def destination_asset(destination: object) -> Asset | None:
    """The Asset a destination is announced as: the object itself, or, when its name is templated,
    the folder in front of the first template expression or placeholder. None when nothing static
    is left."""
    uri = url_of(destination) if isinstance(destination, ObjectStoragePath) else str(destination).strip()
    uri = re.sub(r"^([a-z0-9+.-]+://)[^/@{]*@", r"\1", uri)  # no connection id in an Asset URI
    cuts = [i for marker in ("{{", "{%", *WINDOW_PLACEHOLDERS) if (i := uri.find(marker)) >= 0]
    if cuts:
        uri = uri[: min(cuts)].rpartition("/")[0]
    scheme, sep, rest = uri.partition("://")
    if not sep or not scheme or not rest.strip("/"):
        return None
    return Asset(uri.rstrip("/"))


def call_log_bounds(window: CallWindow) -> tuple[datetime | None, datetime | None]:
    """The ``created_at`` range of the call logs the window's calls can have, so an old window reads
    its own call-log pages, not every page written since (the newer ones are skipped by a search).

    From: the scan's first creation, less the clock margin (a log is never written before its call).
    Until: a log is written when its call ends, at most :data:`LOG_DELAY_MARGIN` late; a call of an
    ``ended_at`` window ended before the window's end, one of a ``created_at`` window at most
    ``lookback`` after it (the window's own assumption). A bound past the years 1 to 9999 is open.
    """
    scan_after = window.scan_after
    after = shifted(scan_after, -LOG_MARGIN) if scan_after is not None else None
    if window.end is None:
        return after, None
    longest = LOG_DELAY_MARGIN if window.field == "ended_at" else window.lookback + LOG_DELAY_MARGIN
    return after, shifted(window.end, longest)


def window_bounds(window: CallWindow) -> list[str | None]:
    return [
        window.start.isoformat() if window.start else None,
        window.end.isoformat() if window.end else None,
    ]


def _fail_if_every_recording_failed(counts: RecordingCounts) -> None:
    if counts.expired and not (counts.stored or counts.skipped):
        raise AirflowException(
            f"Every recording link of this window had expired ({counts.expired} answered HTTP 403), so "
            "nothing was landed. Recording links are pre-signed and expire: land calls soon after they "
            "end, or set include_recordings=False to land this window without audio."
        )
