"""The transfer through a real S3 API: a local S3-compatible server (moto in server mode, on
127.0.0.1, started here) written through ``s3://`` with the Amazon provider's filesystem.

Needs ``apache-airflow-providers-amazon[s3fs]`` and ``moto[server]``, which ``make test-s3`` installs
into a venv of its own (.venv-s3); elsewhere this module is skipped.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

pytest.importorskip("s3fs", reason="make test-s3 installs the Amazon provider's S3 filesystem")
moto_server = pytest.importorskip("moto.server", reason="make test-s3 installs moto[server]")
boto3 = pytest.importorskip("boto3")

from telzino_provider.emulator import TelzinoEmulator  # noqa: E402
from telzino_provider.emulator.recordings import wav_bytes  # noqa: E402
from telzino_provider.timeutil import parse_api_timestamp  # noqa: E402
from telzino_provider.transfers.telzino_to_object_storage import (  # noqa: E402
    TelzinoCallsToObjectStorageOperator,
)
from telzino_provider.version_compat import ObjectStoragePath  # noqa: E402
from tests.airflow_helpers import make_context  # noqa: E402

BUCKET = "telzino-lake"
CONN_ID = "s3_local"


@pytest.fixture(scope="module")
def s3_server() -> Iterator[Any]:
    """A moto S3 server on a free port of 127.0.0.1 and an ``aws`` connection to it, one per module:
    Airflow and fsspec cache a filesystem per connection, so its endpoint must not change."""
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    env = f"AIRFLOW_CONN_{CONN_ID.upper()}"
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        os.environ[env] = json.dumps(
            {
                "conn_type": "aws",
                "login": "testing",
                "password": "testing",
                "extra": {"region_name": "us-east-1", "endpoint_url": endpoint},
            }
        )
        yield boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )
    finally:
        os.environ.pop(env, None)
        server.stop()


@pytest.fixture
def s3(s3_server: Any) -> Iterator[Any]:
    """An empty bucket on the module's server."""
    s3_server.create_bucket(Bucket=BUCKET)
    yield s3_server
    for key in keys(s3_server):
        s3_server.delete_object(Bucket=BUCKET, Key=key)
    s3_server.delete_bucket(Bucket=BUCKET)


def keys(client: Any) -> dict[str, int]:
    listed = client.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return {item["Key"]: item["Size"] for item in listed}


def test_calls_and_recordings_land_in_s3_and_a_rerun_replaces_them(
    s3: Any, telzino_conn: TelzinoEmulator
) -> None:
    emu = telzino_conn
    now = emu.now()
    emu.seed_calls(60, start=now - timedelta(hours=3), end=now - timedelta(minutes=10))
    start, end = now - timedelta(hours=2), now - timedelta(hours=1)
    truth = {
        c["id"]: c for c in emu.calls() if c["ended_at"] and start <= parse_api_timestamp(c["ended_at"]) < end
    }
    operator = TelzinoCallsToObjectStorageOperator(
        task_id="land",
        agent_id=emu.agent_id,
        destination=ObjectStoragePath(f"s3://{BUCKET}/telzino/calls.jsonl.gz", conn_id=CONN_ID),
        created_after=start,
        created_before=end,
        include_recordings=True,
    )

    first = operator.execute(make_context())
    body = s3.get_object(Bucket=BUCKET, Key="telzino/calls.jsonl.gz")["Body"].read()
    second = operator.execute(make_context())

    lines = [json.loads(line) for line in gzip.decompress(body).splitlines()]
    completed = [line for line in lines if line["status"] == "completed"]
    assert truth and sorted(line["id"] for line in lines) == sorted(truth)
    assert completed and all(line["transcript"]["turns"] for line in completed)
    stored = keys(s3)
    for line in completed:
        size = len(wav_bytes(line["id"], truth[line["id"]]["duration"]))
        assert line["recording"] == {
            "uri": f"s3://{BUCKET}/telzino/recordings/{line['id']}.wav",
            "bytes": size,
        }
        assert stored[f"telzino/recordings/{line['id']}.wav"] == size
    assert first["uri"] == f"s3://{BUCKET}/telzino/calls.jsonl.gz"
    assert first["bytes"] == len(body) == stored["telzino/calls.jsonl.gz"]
    assert first["recordings"] == {"stored": len(completed), "skipped": 0, "expired": 0}
    assert second["recordings"] == {"stored": 0, "skipped": len(completed), "expired": 0}
    assert s3.get_object(Bucket=BUCKET, Key="telzino/calls.jsonl.gz")["Body"].read() == body
    assert set(stored) == {
        "telzino/calls.jsonl.gz",
        *(f"telzino/recordings/{c['id']}.wav" for c in completed),
    }


def test_a_failed_landing_leaves_no_object_in_s3(
    s3: Any, telzino_conn: TelzinoEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.airflow_helpers import emulator_conn_env

    emu = telzino_conn
    emulator_conn_env(monkeypatch, emu, max_retries=0)
    now = emu.now()
    emu.seed_calls(400, start=now - timedelta(hours=3), end=now - timedelta(minutes=10))
    real_handle = emu._api.handle
    answered = {"n": 0}

    def failing_after_three(request: Any) -> Any:
        answered["n"] += 1
        if answered["n"] > 3:
            emu.fail_next(1, 503)
        return real_handle(request)

    monkeypatch.setattr(emu._api, "handle", failing_after_three)
    operator = TelzinoCallsToObjectStorageOperator(
        task_id="land",
        agent_id=emu.agent_id,
        destination=ObjectStoragePath(f"s3://{BUCKET}/telzino/failed.jsonl", conn_id=CONN_ID),
        window_field="created_at",
    )

    with pytest.raises(Exception, match="HTTP 503"):
        operator.execute(make_context())

    assert answered["n"] > 3 and keys(s3) == {}
