"""Copying call recordings from their pre-signed links into object storage.

A call log's ``recording_url`` is a pre-signed link that expires (API docs, call logs). It carries
its own signature, so it is fetched with a plain session that never sends the Telzino token: the
link may point at another host (S3) that must not see it. The link itself is a credential of sorts
and is never logged; messages name the call id.

Per recording: when an object already exists under the call's name it is used as it is, without a
request: recordings are written whole (:func:`~telzino_provider.storage.replace_atomically`), so a
stored one is complete, and a re-run after the link expired still references it. A folder under the
call's name fails the run, naming ``recordings_destination``: it is no recording, and none could be
moved into its place. Otherwise one
streamed GET puts the audio into place. 429, 5xx and network errors are retried with the
connection's retry policy. A 403 means the link has expired (S3 answers 403 for an expired
signature): it is counted, not retried. Anything else fails the copy.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import requests

from telzino_provider import __version__
from telzino_provider.exceptions import TelzinoApiError, TelzinoValidationError
from telzino_provider.storage import child, replace_atomically, url_of
from telzino_provider.transport.retry import RETRY_STATUSES, RetryPolicy
from telzino_provider.version_compat import ObjectStoragePath

log = logging.getLogger(__name__)

CHUNK_BYTES = 64 * 1024


@dataclass
class RecordingCounts:
    """What happened to the recordings of one run."""

    stored: int = 0
    skipped: int = 0
    expired: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class RecordingCopier:
    """Streams recordings into ``folder``, one object per call named ``<call id><suffix>``.

    :param folder: where the recordings go.
    :param policy: retries for transient failures (the Telzino connection's settings).
    :param timeout: (connect, read) seconds per request.
    :param sleep: how to wait between retries.
    """

    def __init__(
        self,
        folder: ObjectStoragePath,
        policy: RetryPolicy,
        *,
        timeout: tuple[float, float] = (10.0, 60.0),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.folder = folder
        self.policy = policy
        self.timeout = timeout
        self.counts = RecordingCounts()
        self._sleep = sleep
        self._session = requests.Session()
        self._session.headers["User-Agent"] = f"airflow-provider-telzino/{__version__}"

    def close(self) -> None:
        self._session.close()

    def copy(self, call_id: str, url: str) -> dict[str, Any] | None:
        """Store one call's recording; ``{"uri", "bytes"}`` of the object, or None if the link expired.

        A recording already stored is used whatever the link would answer now (expired or not).
        """
        target = child(self.folder, f"{call_id}{PurePosixPath(urlsplit(url).path).suffix}")
        stored = _size_of(target, call_id)
        if stored is not None:
            self.counts.skipped += 1
            return {"uri": url_of(target), "bytes": stored}
        retries = 0
        while True:
            try:
                with self._session.get(url, stream=True, timeout=self.timeout) as response:
                    if response.status_code == 200:
                        return self._store(target, response)
                    status = response.status_code
                    reason = f"HTTP {status}"
                    retry_after = response.headers.get("Retry-After")
            except requests.RequestException as err:
                status, reason, retry_after = None, f"connection error ({type(err).__name__})", None
            if status == 403:
                self.counts.expired += 1
                log.warning("The recording link of call %s has expired (HTTP 403); not copied", call_id)
                return None
            if status is not None and status not in RETRY_STATUSES:
                raise TelzinoApiError("GET", f"recording of call {call_id}", status, "could not copy it")
            if retries >= self.policy.max_retries:
                raise TelzinoApiError(
                    "GET",
                    f"recording of call {call_id}",
                    status,
                    f"gave up after {retries + 1} attempts; last result: {reason}",
                )
            retries += 1
            delay = self.policy.delay(retries, retry_after)
            log.warning(
                "Recording of call %s: %s; retry %d of %d in %.1f s",
                call_id,
                reason,
                retries,
                self.policy.max_retries,
                delay,
            )
            self._sleep(delay)

    def _store(self, target: ObjectStoragePath, response: requests.Response) -> dict[str, Any]:
        with replace_atomically(target) as sink:
            for chunk in response.iter_content(CHUNK_BYTES):
                sink.write(chunk)
        self.counts.stored += 1
        return {"uri": url_of(target), "bytes": sink.stored_bytes}


def _size_of(path: ObjectStoragePath, call_id: str) -> int | None:
    """The size of the recording stored at ``path``, None if there is none; a folder of its name is
    not one (its "size" is the folder's), and no recording could be moved into its place."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    if info.get("type") == "directory":
        raise TelzinoValidationError(
            "recordings_destination",
            f"{url_of(path)!r} is a folder, not the recording of call {call_id}, so the calls were not "
            "landed; move the folder away, or name another recordings_destination",
        )
    return int(info.st_size)
