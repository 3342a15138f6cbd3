"""Smoke test of the benchmarks: each one runs on tiny sizes and reports what it should.

Benchmarks, not tests: nothing here asserts on a time. ``make bench`` runs them at full size in
their own venv; the peer (apache-airflow-providers-http) is installed only there, so its part is
exercised only where that package is importable.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks import __main__ as cli
from benchmarks import (
    concurrent_pull,
    create_cost,
    full_pull,
    incremental,
    memory,
    old_window,
    overhead,
    report,
    waiting,
)
from benchmarks.common import PEER_MISSING, machine, peer_available
from benchmarks.emulator_server import EmulatorProcess


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorProcess]:
    with EmulatorProcess(latency=0.0) as emulator:
        yield emulator


def test_full_pull_provider_and_floor_read_the_same_pages(server: EmulatorProcess) -> None:
    result = full_pull.run(server, calls=250, rounds=1, peer=False)

    assert result["requests"] == {"provider": 3, "floor": 3, "provider_log_off": 3}
    assert result["provider_vs_floor"]["ratio_of_medians"] > 0
    assert result["log_off_vs_floor"]["ratio_of_medians"] > 0
    rows = report.rows({"full_pull": result})
    assert any(row["measure"].startswith("provider / floor") for row in rows)
    table = report.render(rows, machine() | {"latency_ms": 0.0, "duration_s": 1.0})
    assert "provider / floor (ratio of medians)" in table and "<= 1.10" in table


@pytest.mark.skipif(not peer_available(), reason=PEER_MISSING)
def test_full_pull_peer_http_operator_follows_has_next(server: EmulatorProcess) -> None:
    result = full_pull.run(server, calls=250, rounds=1)

    assert result["requests"]["peer"] == 3
    assert result["provider_vs_peer"]["ratio_of_medians"] > 0


def test_full_pull_without_the_peer_says_why(server: EmulatorProcess) -> None:
    if peer_available():
        pytest.skip("the HTTP provider is installed here, so the peer runs")
    result = full_pull.run(server, calls=100, rounds=1, what_if=False)

    assert result["peer_skipped"] == PEER_MISSING
    assert "provider_vs_peer" not in result


def test_incremental_pull_stops_after_the_window(server: EmulatorProcess) -> None:
    result = incremental.run(server, calls=1_000, window=300, rounds=1)

    assert result["requests"] == {"provider": 4, "scan": 10}
    assert result["found"] == {"provider": 300, "scan": 300}
    assert result["met"] is True


def test_memory_measures_both_modes_in_fresh_processes(server: EmulatorProcess) -> None:
    result = memory.run(server, counts=(200, 400), rounds=1)

    for count in ("200", "400"):
        for mode in memory.MODES:
            entry = result["by_count"][count][mode]
            assert entry["growth_mb"]["n"] == 1 and entry["growth_mb"]["median"] >= 0
            assert entry["tracemalloc_peak_mb"] > 0
    assert "stream_max_mb" in result


def test_waiting_triggers_send_one_request_per_poll(server: EmulatorProcess) -> None:
    result = waiting.run(server, triggers=10, poll_interval=0.1, speed=100.0, stress_interval=None)

    assert result["wrong_outcomes"] == 0
    assert result["events"] == {"failure": 3, "success": 7}
    assert result["requests"] == result["polls"] and result["triggers_not_one_request_per_poll"] == 0
    assert result["lag_ms"]["beats"] > 0


def test_overhead_profiles_the_provider(server: EmulatorProcess) -> None:
    result = overhead.run(server, calls=300, rounds=1, sampled_pulls=2, profiled_pulls=1)

    assert result["pages"] == 3
    assert set(result["cpu_us_per_page"]) == {"provider", "floor"}
    assert result["cprofile"]["ranking"], "cProfile saw no provider function"
    assert any("paging" in entry["function"] for entry in result["cprofile"]["ranking"])


def test_create_cost_first_tries_send_no_list_request_and_retries_adopt(server: EmulatorProcess) -> None:
    result = create_cost.run(server, history=1_000, creates=120, retries=3)

    assert result["first_try_totals"] == {"post": 120, "list": 0, "get_one": 120}
    assert result["met"] is True and result["distinct_calls"] == 120
    assert result["retry_posts"] == 0 and result["retry_adopted"] == 3
    # Each retry reads the run's new calls, newest first, until its own: at most 120 calls, 2 pages.
    lists = result["retry_list_requests"]
    assert 1 <= lists["min"] <= lists["max"] <= 2
    assert result["lookback_24h"]["calls"] >= 120
    rows = report.rows({"create_cost": result})
    assert [r["met"] for r in rows][0] == "yes" and "1 / 0" in rows[0]["result"]


def test_concurrent_pull_counts_lost_and_duplicated_calls(server: EmulatorProcess) -> None:
    result = concurrent_pull.run(server, calls=1_000, rounds=1, latency=0.002)

    assert result["lost"] == 0 and result["duplicated"] == 0
    assert result["requests"]["floor"] == result["requests"]["sequential"] == 10
    assert 10 <= result["requests"]["concurrent"] <= 10 + 7  # a page more per slice boundary at most
    assert result["requests"]["concurrent_inserts"] > 10  # the inserted calls made more pages
    assert result["concurrent_vs_floor"]["ratio_of_medians"] > 0
    table = report.render(
        report.rows({"concurrent_pull": result}), machine() | {"latency_ms": 2, "duration_s": 1}
    )
    assert "max_concurrency=8 / floor (ratio of medians)" in table and "<= 0.25" in table
    assert "calls lost / duplicated" in table


def test_old_window_counts_the_call_log_requests_of_both_hours(server: EmulatorProcess) -> None:
    result = old_window.run(server, calls=800, hours=80.0)

    assert result["recent"]["calls"] > 0 and result["old"]["calls"] > 0
    assert result["old"]["log_requests"] <= result["recent"]["log_requests"] + 2
    assert result["met"] is True
    [row] = report.rows({"old_window": result})
    assert row["measure"] == "transfer, the hour 70 h back: call-log requests" and row["met"] == "yes"


def test_the_command_line_keeps_five_rounds_outside_quick_mode() -> None:
    assert cli.parse_args(["--quick"]).quick
    with pytest.raises(SystemExit):
        cli.parse_args(["--rounds", "3"])
    assert cli.sizes(cli.parse_args([]))["full_pull"] == {"calls": 10_000, "rounds": 25}


def test_a_quick_run_leaves_the_tracked_results_alone() -> None:
    tracked = Path(cli.__file__).resolve().parent / "results.json"

    assert cli.output_path(cli.parse_args(["--quick"])) is None
    assert cli.output_path(cli.parse_args([])) == tracked
    assert cli.output_path(cli.parse_args(["--quick", "--output", "x.json"])) == Path("x.json")
