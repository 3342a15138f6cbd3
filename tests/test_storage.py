"""replace_atomically: an object appears whole under its final name, or not at all."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from telzino_provider.exceptions import TelzinoValidationError
from telzino_provider.storage import replace_atomically, require_folder, require_path
from telzino_provider.version_compat import ObjectStoragePath, has_fs


def test_the_object_replaces_the_old_one_and_no_temporary_remains(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "calls.jsonl").write_text("old\n")

    with replace_atomically(require_path("destination", f"file://{tmp_path}/out/calls.jsonl")) as sink:
        sink.write(b"new\n")
        assert (tmp_path / "out" / "calls.jsonl").read_text() == "old\n"  # not yet in place

    assert (tmp_path / "out" / "calls.jsonl").read_text() == "new\n"
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["calls.jsonl"]
    assert sink.stored_bytes == 4


def test_the_object_never_lands_inside_a_folder_of_its_name(tmp_path: Path) -> None:
    (tmp_path / "landing").mkdir()
    final = require_path("destination", f"file://{tmp_path}/landing")
    with pytest.raises(IsADirectoryError, match="is a folder"), replace_atomically(final) as sink:
        sink.write(b"new\n")
    assert list((tmp_path / "landing").iterdir()) == []  # nothing moved into it, hidden or not
    assert [p.name for p in tmp_path.iterdir()] == ["landing"]  # and no temporary left beside it


def test_gzip_output_is_the_same_bytes_for_the_same_content(tmp_path: Path) -> None:
    sizes = []
    for name in ("a.jsonl.gz", "b.jsonl.gz"):
        with replace_atomically(
            require_path("destination", f"file://{tmp_path}/{name}"), compress=True
        ) as sink:
            sink.write(b'{"id": 1}\n' * 500)
        sizes.append(sink.stored_bytes)

    assert (tmp_path / "a.jsonl.gz").read_bytes() == (tmp_path / "b.jsonl.gz").read_bytes()
    assert gzip.decompress((tmp_path / "a.jsonl.gz").read_bytes()) == b'{"id": 1}\n' * 500
    assert sizes[0] == (tmp_path / "a.jsonl.gz").stat().st_size < 5000


def test_a_failed_write_leaves_the_final_name_untouched_and_no_temporary(tmp_path: Path) -> None:
    (tmp_path / "calls.jsonl").write_text("previous run\n")

    final = require_path("destination", f"file://{tmp_path}/calls.jsonl")
    with pytest.raises(RuntimeError), replace_atomically(final) as sink:
        sink.write(b"half a li")
        raise RuntimeError("the API went away")

    assert (tmp_path / "calls.jsonl").read_text() == "previous run\n"
    assert [p.name for p in tmp_path.iterdir()] == ["calls.jsonl"]


@pytest.mark.parametrize("value", ["/data/calls.jsonl", "calls.jsonl", "s3://bucket/prefix/", "", None, 42])
def test_a_destination_must_be_an_object_url(value: object) -> None:
    with pytest.raises(TelzinoValidationError, match="^destination: "):
        require_path("destination", value)


@pytest.mark.parametrize(
    ("value", "fix"),
    [
        ("file://data/calls.jsonl", "file:///abs/path"),
        ("file://localhost/data/calls.jsonl", "file:///abs/path"),
        ("s3://bucket/telzino/calls.jsonl.gz", "apache-airflow-providers-amazon[s3fs]"),
        ("gs://bucket/calls.jsonl", "apache-airflow-providers-google"),
        ("abfs://container/calls.jsonl", "apache-airflow-providers-microsoft-azure"),
        ("memory://bucket/calls.jsonl", "provider"),  # fsspec has it, Airflow registers none
    ],
)
def test_a_url_airflow_cannot_write_names_the_field_and_the_fix(value: str, fix: str) -> None:
    scheme = value.partition("://")[0]
    if scheme != "file" and has_fs(scheme):
        pytest.skip(f"a filesystem for {scheme}:// is installed here")
    for form in (value, None):
        with pytest.raises(TelzinoValidationError, match="^destination: ") as info:
            require_path("destination", value if form else ObjectStoragePath(value))
        assert fix in str(info.value)
        if scheme == "file":
            break  # an ObjectStoragePath has already turned the host into a folder


def test_a_folder_is_named_as_given_in_its_error() -> None:
    with pytest.raises(
        TelzinoValidationError, match="^recordings_destination: 'file://data/rec' names the host"
    ):
        require_folder("recordings_destination", "file://data/rec/")
    assert require_folder("recordings_destination", "file:///data/rec/").path == "/data/rec"
