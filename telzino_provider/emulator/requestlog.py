"""The request log: every request the emulator answered (or dropped), for test assertions."""

from __future__ import annotations

import threading
from typing import Any, NamedTuple


class RequestRecord(NamedTuple):
    """One logged request.

    ``path`` excludes the query string, ``query`` holds the last value of each parameter, ``body`` is
    the parsed JSON body (None if empty or not JSON), ``status`` is the status sent (0 when the
    connection was dropped on purpose without a response).
    """

    method: str
    path: str
    query: dict[str, str]
    status: int
    body: Any | None
    headers: dict[str, str]


class RequestLog:
    """Append-only, thread-safe list of :class:`RequestRecord`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []

    def append(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    def snapshot(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def count(self, method: str | None = None, path_prefix: str | None = None) -> int:
        method = method.upper() if method else None
        with self._lock:
            return sum(
                1
                for r in self._records
                if (method is None or r.method == method)
                and (path_prefix is None or r.path.startswith(path_prefix))
            )
