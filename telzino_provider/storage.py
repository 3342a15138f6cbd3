"""Writing objects through Airflow's object storage API (``ObjectStoragePath``), whole or not at all.

An object is written under a temporary name beside its final one (``.<name>.tmp-<random>``, a name
that Spark, Hive and most readers skip), then moved into place:

* on a local file system (``file://``) the move is a POSIX ``rename``: atomic, and it replaces an
  existing file in one step;
* object stores (``s3://``, ``gs://``, ``abfs://``) have no rename, so fsspec's move copies the
  temporary object to the final key on the server and deletes the temporary one. An object store
  publishes an object only once it is written completely, so the final key shows either the old
  object or the new one, never a part. If the worker dies between the copy and the delete, the
  temporary object stays behind (under its dotted name) for a lifecycle rule to remove.

If writing fails, the temporary object is deleted and the final name is left untouched. A folder
under the final name is never written into: the move refuses it.
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import secrets
import warnings
from collections.abc import Callable, Iterator
from typing import IO, Any

from telzino_provider.exceptions import TelzinoValidationError
from telzino_provider.version_compat import AIRFLOW_V_3_0_PLUS, ObjectStoragePath, has_fs

log = logging.getLogger(__name__)

#: Writes are gathered into chunks of about this size before they reach the file system.
WRITE_CHUNK = 1 << 20


#: The package that registers a filesystem for a scheme with Airflow's object storage.
FILESYSTEM_PACKAGES = {
    "s3": "apache-airflow-providers-amazon[s3fs]",
    "s3a": "apache-airflow-providers-amazon[s3fs]",
    "gs": "apache-airflow-providers-google",
    "gcs": "apache-airflow-providers-google",
    "abfs": "apache-airflow-providers-microsoft-azure",
    "abfss": "apache-airflow-providers-microsoft-azure",
    "adl": "apache-airflow-providers-microsoft-azure",
    "az": "apache-airflow-providers-microsoft-azure",
}
LOCAL_SCHEMES = ("file", "local")


def require_path(field: str, value: object) -> ObjectStoragePath:
    """A URL with a scheme (``file:///data/x.jsonl``, ``s3://bucket/x.jsonl.gz``) or an ObjectStoragePath,
    that Airflow can write: a filesystem registered for its scheme, and no host in a local URL."""
    if isinstance(value, ObjectStoragePath):
        path = value
    elif isinstance(value, str) and "://" in value.strip() and not value.strip().endswith("/"):
        _require_no_local_host(field, value.strip())
        try:
            path = ObjectStoragePath(value.strip())
        except (TypeError, ValueError) as err:
            hint = "" if AIRFLOW_V_3_0_PLUS else " (on Airflow 2.x, install universal-pathlib<0.3)"
            raise TelzinoValidationError(field, f"cannot open {value!r}: {err}{hint}") from None
    else:
        raise TelzinoValidationError(
            field,
            f"expected an object URL such as 'file:///data/calls.jsonl' or 's3://bucket/calls.jsonl.gz', "
            f"or an ObjectStoragePath; got {value!r}",
        )
    if not path.name:
        raise TelzinoValidationError(field, f"{value!r} names no object; end it with a file name")
    _require_filesystem(field, path)
    return path


def require_folder(field: str, value: object) -> ObjectStoragePath:
    """A folder URL (a trailing ``/`` is fine) or an ObjectStoragePath, checked as :func:`require_path`
    checks an object's, and named as given in errors."""
    if not isinstance(value, str):
        return require_path(field, value)
    url = value.strip().rstrip("/")
    if "://" in url:
        _require_no_local_host(field, url)
    return require_path(field, url + "/_").parent  # give require_path an object name, then drop it


def require_not_folder(field: str, path: ObjectStoragePath) -> ObjectStoragePath:
    """``path`` unless a folder already has its name: the move into place would put the object
    *inside* that folder, under its hidden temporary name."""
    if _looks(path.is_dir):
        example = url_of(child(path, "calls.jsonl"))
        raise TelzinoValidationError(
            field, f"{url_of(path)!r} is a folder; name the object in it, as in {example!r}"
        )
    return path


def require_not_file(field: str, folder: ObjectStoragePath) -> ObjectStoragePath:
    """``folder`` unless a file already has its name (nothing could be written under it)."""
    if _looks(folder.is_file):
        raise TelzinoValidationError(
            field, f"{url_of(folder)!r} is a file, not a folder; name a folder (or move the file away)"
        )
    return folder


def _looks(check: Callable[[], bool]) -> bool:
    """The answer of a storage lookup made before any API request; a lookup that fails (no
    credentials yet, say) is not the user's input error, and the write reports it later."""
    try:
        return bool(check())
    except Exception:
        return False


def _require_no_local_host(field: str, url: str) -> None:
    """``file://data/x`` makes ``data`` the URL's host, and Airflow would write under the worker's
    current folder: refuse it (``file://conn_id@/abs/path`` keeps a connection and no host)."""
    scheme, _, rest = url.partition("://")
    host = rest.partition("/")[0].rpartition("@")[2]
    if scheme.lower() in LOCAL_SCHEMES and host:
        raise TelzinoValidationError(
            field,
            f"{url!r} names the host {host!r} (two slashes after '{scheme}:'); a local path takes "
            "three, as in 'file:///abs/path/calls.jsonl'",
        )


def _require_filesystem(field: str, path: ObjectStoragePath) -> None:
    scheme = str(path.protocol or "file")
    if scheme in LOCAL_SCHEMES or has_fs(scheme):
        return
    package = FILESYSTEM_PACKAGES.get(scheme)
    fix = (
        f"install {package} on every worker"
        if package
        else "install the Airflow provider that registers a filesystem for it"
    )
    raise TelzinoValidationError(
        field, f"no filesystem is registered for '{scheme}://' in this Airflow; {fix}"
    )


def url_of(path: ObjectStoragePath) -> str:
    """The object's URL without the connection id Airflow may keep in it (``s3://conn@bucket/key``
    -> ``s3://bucket/key``): what XComs, Asset URIs and the lines name."""
    location = path.path
    return f"{path.protocol}://{location}" if path.protocol else str(path)


def at_url(path: ObjectStoragePath, url: str) -> ObjectStoragePath:
    """An ObjectStoragePath for ``url`` with ``path``'s connection and storage options.

    ``str(path)`` keeps the connection id in the URL's user part (``s3://conn@bucket/key``) and
    ``storage_options`` the rest (on Airflow 2 the connection id too), so nothing is lost.
    """
    return ObjectStoragePath(url, **path.storage_options)


def child(folder: ObjectStoragePath, name: str) -> ObjectStoragePath:
    """``folder / name``, keeping the folder's connection and options."""
    with warnings.catch_warnings():
        # universal-pathlib 0.2 (Airflow 2.x) warns from inside its own "/" on remote paths.
        warnings.filterwarnings("ignore", "in a future version of UPath", PendingDeprecationWarning)
        return folder / name


def sibling(path: ObjectStoragePath, name: str) -> ObjectStoragePath:
    """An object named ``name`` in the folder of ``path``."""
    return child(path.parent, name)


class ObjectSink:
    """Where an object's bytes go: optionally through gzip, counting what reaches storage."""

    def __init__(self, raw: IO[bytes], *, compress: bool) -> None:
        self._raw = raw
        self.stored_bytes = 0
        # No file name or time in the gzip header, so the same content gives the same object.
        self._packed = (
            gzip.GzipFile(filename="", mode="wb", fileobj=_StoredSide(self), mtime=0) if compress else None
        )

    def write(self, data: bytes) -> int:
        """Write content (compressed on the way when asked to)."""
        if self._packed is not None:
            return self._packed.write(data)
        return self._store(data)

    def close(self) -> None:
        """Finish the gzip stream, if any; :attr:`stored_bytes` is final after this."""
        if self._packed is not None:
            self._packed.close()
            self._packed = None

    def _store(self, data: Any) -> int:
        self._raw.write(data)
        self.stored_bytes += len(data)
        return len(data)


class _StoredSide:
    """The file GzipFile writes its output to: the sink's storage side."""

    def __init__(self, sink: ObjectSink) -> None:
        self.write = sink._store

    def flush(self) -> None:
        pass


@contextlib.contextmanager
def replace_atomically(final: ObjectStoragePath, *, compress: bool = False) -> Iterator[ObjectSink]:
    """Yield a sink for ``final``'s content; on success move it into place (see the module docstring).

    :param final: where the object ends up.
    :param compress: gzip what is written.
    """
    temporary = sibling(final, f".{final.name}.tmp-{secrets.token_hex(6)}")
    if getattr(final.fs, "local_file", False):  # only a local file system has folders to create
        final.fs.makedirs(final.parent.path, exist_ok=True)
    try:
        with temporary.open("wb") as raw:
            sink = ObjectSink(raw, compress=compress)
            yield sink
            sink.close()
        _move_into_place(temporary, final)
    except BaseException:
        _discard(temporary)
        raise


def _move_into_place(temporary: ObjectStoragePath, final: ObjectStoragePath) -> None:
    """Move ``temporary`` to ``final``. fsspec moves a file *into* a folder of the final name
    (``shutil.move`` locally, the generic copy on object stores), which would hide the object under
    its temporary name and report success: refuse instead (one lookup per object)."""
    if final.is_dir():
        raise IsADirectoryError(
            f"{url_of(final)} is a folder, so the object was not written; name the object in it"
        )
    temporary.move(final)


def _discard(path: ObjectStoragePath) -> None:
    try:
        if path.exists():
            path.unlink()
    except Exception as err:  # cleaning up must not hide the error that got us here
        log.warning("Could not delete the temporary object %s: %s", path, err)
