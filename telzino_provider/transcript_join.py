"""Joining a stream of calls with their transcripts in one pass over the call logs, in bounded memory.

:meth:`TelzinoHook.get_transcripts` takes a set of ids; a stream of 100,000 calls cannot be held as
one. Here both lists are read newest first, side by side: calls by ``created_at``, call logs by their
own ``created_at`` (written when the call ends). A call's log is written after the call began, so
for a call created at ``c`` every log it can have is read once the logs are read down to ``c``
(less a ``margin`` for clock skew); the reading stops there, lazily, and moves on with the next call.

Logs read ahead of their call wait in a buffer. A call ends at most ``horizon`` after it was created
(the window's ``lookback`` assumption, plus a margin for the log being written late), so a waiting
log newer than ``c + horizon`` cannot belong to any call still to come (those are created no later
than ``c``) and is dropped. Memory is therefore bounded by the logs written within ``horizon`` of
one another, not by the window or the history, and each page of call logs is requested once.

A call whose log is not found (never connected, not listed yet, or older than the horizon allows)
gets ``None``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

from telzino_provider.timeutil import parse_api_timestamp

#: Added to the window's lookback: how much later than its call's end a log may be written.
LOG_DELAY_MARGIN = timedelta(hours=1)

Record = dict[str, Any]


def join_transcripts(
    calls: Iterable[Record],
    logs: Iterable[Record],
    *,
    horizon: timedelta,
    margin: timedelta = timedelta(0),
) -> Iterator[tuple[Record, Record | None]]:
    """Yield ``(call, call log or None)`` for each call, in the calls' order.

    :param calls: calls newest first by ``created_at`` (as the hook and the windows yield them).
    :param logs: the agent's call logs newest first (:meth:`TelzinoHook.iter_call_logs`); read lazily.
    :param horizon: the longest time from a call's creation to its log's ``created_at``.
    :param margin: how much earlier than its call a log's ``created_at`` may read (clock skew).
    """
    log_stream = iter(logs)
    waiting: dict[str, Record] = {}
    arrival: deque[tuple[datetime, str]] = deque()  # newest log first, as read
    oldest_read: datetime | None = None
    exhausted = False
    for call in calls:
        transcript_id = call.get("transcript_id")
        if not transcript_id:
            yield call, None
            continue
        created = parse_api_timestamp(call["created_at"])
        newest_useful, oldest_useful = created + horizon, created - margin
        while (
            transcript_id not in waiting
            and not exhausted
            and (oldest_read is None or oldest_read >= oldest_useful)
        ):
            log = next(log_stream, None)
            if log is None:
                exhausted = True
                break
            written = parse_api_timestamp(log["created_at"])
            oldest_read = written if oldest_read is None else min(oldest_read, written)
            if written <= newest_useful and log.get("id"):
                waiting[log["id"]] = log
                arrival.append((written, log["id"]))
        found = waiting.pop(transcript_id, None)
        while arrival and arrival[0][0] > newest_useful:
            waiting.pop(arrival.popleft()[1], None)
        yield call, found
