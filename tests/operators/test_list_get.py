"""TelzinoListOutboundCallsOperator and TelzinoGetOutboundCallOperator against the emulator."""

from __future__ import annotations

import json
import logging
import runpy
import time
from datetime import datetime, timedelta, timezone

import pytest

from telzino_provider.emulator import OUTCOME_NUMBERS, TelzinoEmulator
from telzino_provider.exceptions import TelzinoApiError, TelzinoValidationError
from telzino_provider.hooks.telzino import TelzinoHook
from telzino_provider.operators.telzino import (
    TelzinoGetOutboundCallOperator,
    TelzinoListOutboundCallsOperator,
)
from telzino_provider.timeutil import parse_api_timestamp
from telzino_provider.windows import CallWindow, settle_window
from tests.airflow_helpers import (
    DAGS_DIR,
    count_logged,
    emulator_conn_env,
    make_context,
    run_dag,
    state_of,
    ti_states,
    xcom,
)


def created(call: dict) -> datetime:
    return parse_api_timestamp(call["created_at"])


def ended(call: dict) -> datetime | None:
    return parse_api_timestamp(call["ended_at"]) if call.get("ended_at") else None


def list_op(emu: TelzinoEmulator, **kwargs: object) -> TelzinoListOutboundCallsOperator:
    return TelzinoListOutboundCallsOperator(task_id="list_calls", agent_id=emu.agent_id, **kwargs)


@pytest.fixture
def seeded(telzino_conn: TelzinoEmulator) -> list[dict]:
    now = telzino_conn.now()
    return telzino_conn.seed_calls(40, start=now - timedelta(hours=4), end=now - timedelta(hours=1))


def test_list_returns_the_created_at_window_newest_first(
    telzino_conn: TelzinoEmulator, seeded: list[dict]
) -> None:
    after = telzino_conn.now() - timedelta(hours=3)
    before = telzino_conn.now() - timedelta(hours=2)
    expected = [c for c in seeded if after <= created(c) < before]

    calls = list_op(telzino_conn, created_after=after.isoformat(), created_before=before).execute(
        make_context()
    )

    assert 3 < len(expected) < len(seeded)
    assert [c["id"] for c in calls] == [c["id"] for c in expected]
    assert calls[0]["status"] == expected[0]["status"] and "summary_text" not in calls[0]  # list shape
    assert json.loads(json.dumps(calls)) == calls


def test_list_filters_by_status_and_trims_fields(telzino_conn: TelzinoEmulator, seeded: list[dict]) -> None:
    expected = [c for c in seeded if c["status"] in ("busy", "no_answer")]

    calls = list_op(
        telzino_conn, status=["no_answer", "busy"], fields=["id", "status", "summary_text"]
    ).execute(make_context())

    assert expected and calls == [
        {"id": c["id"], "status": c["status"], "summary_text": None} for c in expected
    ]


def test_list_max_calls_caps_after_the_window_filter(
    telzino_conn: TelzinoEmulator, seeded: list[dict]
) -> None:
    after = telzino_conn.now() - timedelta(hours=3)
    expected = [c["id"] for c in seeded if after <= (ended(c) or after - timedelta(1)) < telzino_conn.now()]

    calls = list_op(
        telzino_conn, created_after=after, window_field="ended_at", max_calls=5, fields=["id"]
    ).execute(make_context())

    assert [c["id"] for c in calls] == expected[:5]


def test_list_warns_above_10000_calls_without_fields_or_max_calls(
    telzino_conn: TelzinoEmulator, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    now = telzino_conn.now()
    telzino_conn.seed_calls(10_001, start=now - timedelta(days=1), end=now - timedelta(hours=1))

    with caplog.at_level(logging.WARNING):
        calls = list_op(telzino_conn).execute(make_context())
        trimmed = list_op(telzino_conn, fields=["id"]).execute(make_context())

    assert len(calls) == len(trimmed) == 10_001
    needle = (
        "10001 Telzino calls go into one XCom. Pass fields=[...] to keep only the keys you need and/or "
        "max_calls=N to cap the list; a downstream .expand() over it is also capped by [core] max_map_length"
    )
    assert count_logged(caplog, capsys, needle) == 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"agent_id": "agent-7"}, "agent_id"),
        ({"created_after": "last tuesday"}, "created_after"),
        ({"status": "done"}, "status"),
        ({"window_field": "ended_at", "status": "queued"}, "status"),
        ({"max_calls": 0}, "max_calls"),
        ({"fields": []}, "fields"),
    ],
)
def test_list_input_errors_name_the_field_before_any_request(
    telzino_conn: TelzinoEmulator, kwargs: dict, field: str
) -> None:
    with pytest.raises(TelzinoValidationError) as info:  # when built, or when run once rendered
        TelzinoListOutboundCallsOperator(
            task_id="list_calls", **{"agent_id": telzino_conn.agent_id, **kwargs}
        ).execute(make_context())

    assert info.value.field == field
    assert telzino_conn.count_requests() == 0


def test_building_operators_touches_neither_network_nor_connection(telzino_conn: TelzinoEmulator) -> None:
    TelzinoListOutboundCallsOperator(
        task_id="l", agent_id="{{ params.agent_id }}", created_after="{{ ds }}", telzino_conn_id="absent"
    )
    TelzinoGetOutboundCallOperator(task_id="g", agent_id="x", call_id="y", telzino_conn_id="absent")
    assert telzino_conn.count_requests() == 0


def test_parsing_the_test_dags_sends_nothing(telzino_conn: TelzinoEmulator) -> None:
    namespace = runpy.run_path(str(DAGS_DIR / "telzino_test_dags.py"))
    assert namespace["create_dag"].dag_id == "telzino_test_create"
    assert telzino_conn.count_requests() == 0


def test_get_returns_the_call_record(telzino_conn: TelzinoEmulator, seeded: list[dict]) -> None:
    call = seeded[3]

    record = TelzinoGetOutboundCallOperator(
        task_id="get_call", agent_id=telzino_conn.agent_id, call_id=call["id"]
    ).execute(make_context())

    assert record == call and "summary_text" in record


@pytest.mark.parametrize(("ids", "field"), [(("bad", None), "agent_id"), ((None, "../x"), "call_id")])
def test_get_input_errors_name_the_field_before_any_request(
    telzino_conn: TelzinoEmulator, ids: tuple, field: str
) -> None:
    agent_id, call_id = ids
    op = TelzinoGetOutboundCallOperator(
        task_id="get_call",
        agent_id=agent_id or telzino_conn.agent_id,
        call_id=call_id or "00000000-0000-4000-8000-00000000000f",
    )

    with pytest.raises(TelzinoValidationError) as info:
        op.execute(make_context())

    assert info.value.field == field
    assert telzino_conn.count_requests() == 0


def test_get_unknown_call_fails_with_the_api_error(telzino_conn: TelzinoEmulator) -> None:
    op = TelzinoGetOutboundCallOperator(
        task_id="get_call", agent_id=telzino_conn.agent_id, call_id="00000000-0000-4000-8000-00000000000f"
    )
    with pytest.raises(TelzinoApiError, match="HTTP 404"):
        op.execute(make_context())


# -- through dag.test() ---------------------------------------------------------------------------


def test_list_then_mapped_get_in_a_dag(
    airflow_db: None, telzino_conn: TelzinoEmulator, seeded: list[dict]
) -> None:
    after = telzino_conn.now() - timedelta(hours=2)
    expected = [c for c in seeded if created(c) >= after]

    dr = run_dag(
        "telzino_test_list_get",
        conf={"agent_id": telzino_conn.agent_id, "created_after": after.isoformat(), "created_before": ""},
    )

    assert state_of(dr.state) == "success"
    assert xcom(dr, "list_calls") == [
        {"id": c["id"], "status": c["status"], "created_at": c["created_at"]} for c in expected
    ]
    assert [xcom(dr, "get_call", map_index=i) for i in range(len(expected))] == expected
    assert len(ti_states(dr)) == 1 + len(expected)


def test_ended_at_windows_deliver_every_finished_call_exactly_once(
    airflow_db: None, emulator: TelzinoEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    hour = timedelta(hours=1)
    t0 = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - 6 * hour
    grace = timedelta(seconds=30)  # each scheduled run starts 30 s after its interval ends
    with TelzinoEmulator(start_time=t0 + hour + grace) as emu:
        emulator_conn_env(monkeypatch, emu)
        emu.seed_calls(15, start=t0 - hour, end=t0)
        crossing = [emu.add_call(created_at=t0 - timedelta(seconds=60), duration=200)]  # ends in I1
        runs = []
        for k in (1, 2, 3):
            start, end = t0 + (k - 1) * hour, t0 + k * hour
            if k > 1:
                emu.advance(3600)
            emu.seed_calls(15, start=start, end=end)
            # Still talking when run k starts, ends in interval k + 1.
            crossing.append(emu.add_call(created_at=end - timedelta(seconds=60), duration=200))
            dr = run_dag("telzino_test_ended_at", conf={"agent_id": emu.agent_id}, logical_date=end + grace)
            assert state_of(dr.state) == "success"
            assert dr.data_interval_start == start and dr.data_interval_end == end
            runs.append(dr)
        emu.advance(3600)  # every call has finished by now
        finished = [c for c in emu.calls() if t0 <= parse_api_timestamp(c["ended_at"]) < t0 + 3 * hour]

    delivered = [[c["id"] for c in xcom(dr, "finished_calls")] for dr in runs]
    flat = [call_id for run in delivered for call_id in run]
    assert len(flat) == len(set(flat)), "a call was delivered twice"
    assert set(flat) == {c["id"] for c in finished}
    assert [c["id"] in run for c, run in zip(crossing, [*delivered, []], strict=True)] == [True] * 3 + [False]
    assert crossing[1]["id"] not in delivered[0] and crossing[2]["id"] not in delivered[1]
    # The completed-calls sensor uses the same window function: its XCom is the completed subset.
    for dr in runs:
        listed = xcom(dr, "finished_calls")
        assert xcom(dr, "completed_calls") == [c for c in listed if c["status"] == "completed"]


# -- calls the API lists late -------------------------------------------------------------------


def test_settle_delivers_a_call_listed_after_its_window_ended(monkeypatch: pytest.MonkeyPatch) -> None:
    """A call that failed inside window 1 but is listed only after window 1's end: read at once,
    window 1 misses it and window 2 excludes it by its ended_at; with ``settle`` window 1 has it."""
    from tests.conftest import CONN_ENV, conn_json

    # Emulated time runs with real time, so a window's end is as near as a scheduled run sees it.
    with TelzinoEmulator(speed=1.0, start_time=datetime.now(timezone.utc)) as emu:
        monkeypatch.setenv(CONN_ENV, conn_json(emu))
        emu.listing_delay = 6.0  # longer than the failed call lasts (5 s)
        placed = TelzinoHook().create_outbound_call(emu.agent_id, OUTCOME_NUMBERS["failed"])
        start = created(placed)
        boundary = start + timedelta(seconds=5.5)  # after the call ended, before it is listed

        def window(after: datetime, before: datetime, settle: float) -> list[str]:
            task = list_op(
                emu, window_field="ended_at", created_after=after, created_before=before, settle=settle
            )
            return [call["id"] for call in task.execute(make_context())]

        time.sleep(max(0.0, (boundary - datetime.now(timezone.utc)).total_seconds()))  # a run at the end
        first = window(start - timedelta(minutes=1), boundary, settle=2)
        second = window(boundary, boundary + timedelta(minutes=1), settle=0)
        record = next(call for call in emu.calls() if call["id"] == placed["id"])

    assert ended(record) is not None and ended(record) < boundary  # it ended in window 1
    assert (placed["id"] in first, placed["id"] in second) == (True, False)


def test_settle_waits_only_for_a_window_that_ended_less_than_settle_ago() -> None:
    now = datetime.now(timezone.utc)
    waits: list[float] = []
    log = logging.getLogger("test")

    def window(end: datetime | None) -> CallWindow:
        return CallWindow.build(
            status=None,
            window_field="created_at",
            created_after=now - timedelta(hours=1),
            created_before=end,
            lookback=timedelta(0),
        )

    assert settle_window(window(now - timedelta(seconds=10)), timedelta(minutes=1), log, waits.append) > 0
    assert waits and 45 <= waits[0] <= 50
    assert (
        settle_window(window(now - timedelta(hours=1, minutes=-59)), timedelta(minutes=1), log, waits.append)
        == 0
    )
    assert settle_window(window(now), timedelta(0), log, waits.append) == 0
    assert settle_window(window(None), timedelta(minutes=1), log, waits.append) == 0
    assert len(waits) == 1


@pytest.mark.parametrize("ends_in", [timedelta(days=2), timedelta(seconds=10)], ids=["days", "seconds"])
def test_settle_waits_at_most_settle_for_a_window_that_has_not_ended(ends_in: timedelta) -> None:
    # Waiting for a future end would hold the worker slot until then (days, past MAX_SETTLE).
    now = datetime.now(timezone.utc)
    window = CallWindow.build(
        status=None,
        window_field="created_at",
        created_after=now - timedelta(hours=1),
        created_before=now + ends_in,
        lookback=timedelta(0),
    )
    waits: list[float] = []

    waited = settle_window(window, timedelta(minutes=1), logging.getLogger("test"), waits.append)

    assert waits == [waited] == [60.0]


def test_a_lookback_reaching_before_the_year_1_is_refused_before_any_request(
    telzino_conn: TelzinoEmulator,
) -> None:
    task = list_op(
        telzino_conn,
        window_field="ended_at",
        created_after="0001-01-02T00:00:00+00:00",
        created_before="0001-01-03T00:00:00+00:00",
        lookback=timedelta(days=2),
    )

    with pytest.raises(TelzinoValidationError, match=r"^created_after: .*lookback") as info:
        task.execute(make_context())

    assert info.value.field == "created_after"
    assert telzino_conn.requests == []


def test_settle_for_a_window_ending_at_the_last_representable_minute_waits_settle() -> None:
    window = CallWindow.build(
        status=None,
        window_field="created_at",
        created_after="9999-12-31T00:00:00+00:00",
        created_before="9999-12-31T23:59:30+00:00",
        lookback=timedelta(0),
    )
    waits: list[float] = []

    settle_window(window, timedelta(minutes=1), logging.getLogger("test"), waits.append)

    assert waits == [60.0]
