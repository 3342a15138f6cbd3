"""Smoke test of benchmark 9 (landing calls with transcripts) on a tiny size; no timing assertions."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from benchmarks import __main__ as cli
from benchmarks import landing, report
from benchmarks.emulator_server import EmulatorProcess


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorProcess]:
    with EmulatorProcess(latency=0.0) as emulator:
        yield emulator


def test_landing_writes_the_same_lines_as_the_loop_and_reports_both_rows(server: EmulatorProcess) -> None:
    result = landing.run(server, calls=300, rounds=1)

    assert result["same_lines"] is True
    assert result["memory"]["lines"] == 300 and result["memory"]["growth_mb"] >= 0
    assert result["ratio"] > 0 and set(result["wall_s"]) == {"floor", "provider"}
    rows = report.rows({"landing": result})
    assert [r["measure"].split(":")[0] for r in rows] == ["time", "memory"]
    assert all(r["target"] for r in rows)


def test_landing_is_registered_as_benchmark_nine() -> None:
    assert cli.BENCHMARKS[8] == "landing"
    assert cli.sizes(cli.parse_args([]))["landing"] == {"calls": 100_000, "rounds": 5}
