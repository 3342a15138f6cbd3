"""Smoke test of benchmark 6 (requests as the history grows) on tiny sizes; no timing assertions."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from benchmarks import __main__ as cli
from benchmarks import history, report
from benchmarks.emulator_server import EmulatorProcess


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorProcess]:
    with EmulatorProcess(latency=0.0) as emulator:
        yield emulator


def test_history_join_and_sync_run_cost_the_same_at_every_size(server: EmulatorProcess) -> None:
    result = history.run(server, counts=(300, 1_200), per_day=300)

    small, large = (result["by_count"][n] for n in ("300", "1200"))
    for size in (small, large):
        join = size["join"]
        assert join["calls"] > 0 and join["not_listed_yet"] == 1 and join["found"] == join["calls"] - 1
        assert join["log_requests"] <= join["target"] == history.join_target(join["calls"])
        assert size["sync"]["missing_transcripts"] == 1
    assert small["sync"] == large["sync"] and result["sync_flat"] is True and result["join_met"] is True
    # without the bound, the not-yet-listed transcript costs every page of call logs
    assert large["join"]["unbounded_log_requests"] == 12 > small["join"]["unbounded_log_requests"]
    assert large["rerun"]["requests"] > 0  # the hour two days back, for the old-window search
    rows = report.rows({"history": result})
    assert [r["met"] for r in rows if r["target"]] == ["yes"] * 4


def test_history_is_registered_as_benchmark_six() -> None:
    assert cli.BENCHMARKS[5] == "history"
    assert cli.sizes(cli.parse_args([]))["history"] == {"counts": (10_000, 100_000), "per_day": 3_333}
