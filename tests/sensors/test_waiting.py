"""The shared decision functions (no network): verdicts, events, error budget, windows, the key."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from telzino_provider.correlation import carries_key, correlation_key, with_key
from telzino_provider.exceptions import TelzinoApiError, TelzinoValidationError
from telzino_provider.version_compat import AirflowException, AirflowSensorTimeout, AirflowSkipException
from telzino_provider.waiting import (
    ErrorBudget,
    evaluate_call,
    evaluate_completed_calls,
    poll_step,
    poll_until_answered,
    require_outcome_statuses,
    resolve_event,
)
from telzino_provider.windows import CallWindow, require_fields, trim, warn_if_large
from tests.airflow_helpers import FakeTI, make_context

SUCCESS, FAILURE = ["completed"], ["no_answer", "busy", "failed"]
T0 = datetime(2026, 6, 11, 12, 0, tzinfo=timezone.utc)


def record(status: str, **extra: object) -> dict:
    return {"id": "c1", "to_number": "+18135550486", "status": status, **extra}


@pytest.mark.parametrize("status", ["queued", "dispatching", "dispatched", "dialing", "in_progress"])
def test_live_statuses_keep_waiting(status: str) -> None:
    assert evaluate_call(record(status), SUCCESS, FAILURE).state == "waiting"


def test_unknown_status_is_not_terminal() -> None:
    verdict = evaluate_call(record("voicemail"), SUCCESS, FAILURE)
    assert verdict.state == "waiting" and not verdict.done


def test_success_status_ends_with_the_record() -> None:
    verdict = evaluate_call(record("completed"), SUCCESS, FAILURE)
    assert verdict.to_event() == {
        "status": "success",
        "message": verdict.message,
        "call": record("completed"),
    }


def test_failure_message_gives_status_error_and_sip_code_with_masked_number() -> None:
    verdict = evaluate_call(record("failed", error="Carrier down", sip_status_code=503), SUCCESS, FAILURE)
    assert verdict.state == "failure"
    assert "status 'failed'" in verdict.message
    assert "error: 'Carrier down'" in verdict.message and "sip_status_code: 503" in verdict.message
    assert "+18135550486" not in verdict.message and "+1813*****86" in verdict.message


def test_failure_message_masks_numbers_in_the_api_error_text_and_cuts_it_short() -> None:
    error = "Rejected: +18135559876 is on the do-not-call list. " + "x" * 5000
    verdict = evaluate_call(record("failed", error=error), SUCCESS, FAILURE)
    assert "+18135559876" not in verdict.message and "+1813*****76" in verdict.message
    assert len(verdict.message) < 800 and "(truncated)" in verdict.message


def test_an_unexpected_error_ending_the_wait_masks_numbers() -> None:
    def poll():  # type: ignore[no-untyped-def]
        raise ValueError("could not read the call to +18135559876")

    event = poll_step(poll, ErrorBudget(0))
    assert event is not None and "+18135559876" not in event["message"] and "+1813*****76" in event["message"]


def test_a_bad_event_is_quoted_short_and_masked() -> None:
    event = [{"status": "success", "call": {"to_number": "+18135559876", "notes": "x" * 5000}}]
    with pytest.raises(AirflowException) as err:
        resolve_event(event, "call")
    assert "+18135559876" not in str(err.value) and len(str(err.value)) < 800


def test_terminal_status_in_neither_list_fails() -> None:
    assert evaluate_call(record("no_answer"), SUCCESS, ["busy"]).state == "failure"


def test_a_live_status_may_be_a_success_status() -> None:
    assert evaluate_call(record("in_progress"), ["in_progress", "completed"], FAILURE).state == "success"


def test_outcome_statuses_are_validated() -> None:
    with pytest.raises(TelzinoValidationError, match="failure_statuses: .*'busy'.* also in success"):
        require_outcome_statuses(["completed", "busy"], ["busy"])
    with pytest.raises(TelzinoValidationError, match="success_statuses: unknown status 'done'"):
        require_outcome_statuses(["done"], [])
    assert require_outcome_statuses("completed", []) == (["completed"], [])


def test_completed_calls_need_min_calls_and_are_trimmed() -> None:
    calls = [{"id": "a", "status": "completed", "duration": 3}, {"id": "b", "status": "completed"}]
    assert evaluate_completed_calls(calls, 3).state == "waiting"
    verdict = evaluate_completed_calls(calls, 2, ["id", "duration"])
    assert verdict.payload["calls"] == [{"id": "a", "duration": 3}, {"id": "b", "duration": None}]
    assert evaluate_completed_calls(calls, 2, ["duration"]).payload["ids"] == ["a", "b"]  # fields or not


def test_error_budget_counts_consecutive_transient_errors_only() -> None:
    budget = ErrorBudget(2)
    flaky = TelzinoApiError("GET", "/x", 503, "down")
    results = iter([flaky, flaky, evaluate_call(record("queued"), SUCCESS, FAILURE), flaky, flaky, flaky])

    def poll():  # type: ignore[no-untyped-def]
        result = next(results)
        if isinstance(result, Exception):
            raise result
        return result

    assert [poll_step(poll, budget) for _ in range(5)] == [None] * 5  # the success reset the count
    event = poll_step(poll, budget)
    assert event is not None and event["status"] == "error" and "too many consecutive" in event["message"]


@pytest.mark.parametrize("code", [400, 401, 403, 404])
def test_client_errors_end_the_wait_at_once(code: int) -> None:
    def poll():  # type: ignore[no-untyped-def]
        raise TelzinoApiError("GET", "/x", code, "no")

    event = poll_step(poll, ErrorBudget(5))
    assert event is not None and event["status"] == "error" and f"HTTP {code}" in event["message"]


@pytest.mark.parametrize("event", [None, "success", {}, {"status": "done"}, {"status": "success"}])
def test_resolve_event_fails_loudly_on_a_bad_event(event: object) -> None:
    with pytest.raises(AirflowException, match="Telzino trigger event|Unknown Telzino"):
        resolve_event(event, "call")


def test_resolve_event_results() -> None:
    assert resolve_event({"status": "success", "call": {"id": "x"}}, "call") == {"id": "x"}
    with pytest.raises(AirflowException, match="busy"):
        resolve_event({"status": "failure", "message": "ended busy", "call": {}}, "call")
    with pytest.raises(AirflowSensorTimeout):
        resolve_event({"status": "timeout", "message": "late"}, "call", sensor=True)
    for status in ("failure", "timeout", "error"):
        with pytest.raises(AirflowSkipException, match="soft_fail"):
            resolve_event({"status": status, "message": "m", "call": {}}, "call", soft_fail=True)


def test_created_at_window_scans_its_own_bounds() -> None:
    window = CallWindow.build(
        status=None, window_field="created_at", created_after=T0, created_before=None, lookback=3600
    )
    assert window.scan_after == T0 and window.contains({"ended_at": None})


def test_ended_at_window_scans_from_lookback_and_bounds_ended_at() -> None:
    window = CallWindow.build(
        status="completed",
        window_field="ended_at",
        created_after="2026-06-11T12:00:00Z",
        created_before="2026-06-11T13:00:00Z",
        lookback=timedelta(hours=2),
    )
    assert window.scan_after == T0 - timedelta(hours=2) and window.end == T0 + timedelta(hours=1)
    assert window.contains({"ended_at": "2026-06-11T12:00:00Z"})
    assert not window.contains({"ended_at": "2026-06-11T13:00:00+00:00"})
    assert not window.contains({"ended_at": "2026-06-11T11:59:59.999999Z"})
    assert not window.contains({"ended_at": None})
    assert CallWindow.from_json(window.to_json()) == window


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"window_field": "answered_at"}, "window_field"),
        ({"status": "dialing", "window_field": "ended_at"}, "status"),
        ({"created_after": "yesterday"}, "created_after"),
        ({"created_after": T0, "created_before": T0}, "created_before"),
        ({"lookback": -1}, "lookback"),
        ({"lookback": "6h"}, "lookback"),
    ],
)
def test_window_input_errors_name_the_field(kwargs: dict, field: str) -> None:
    args = {"status": None, "window_field": "created_at", "created_after": None, "created_before": None}
    args.update(lookback=0)
    args.update(kwargs)
    with pytest.raises(TelzinoValidationError) as info:
        CallWindow.build(**args)
    assert info.value.field == field


def test_fields_validation_and_trim() -> None:
    assert require_fields(None) is None and require_fields(["id", "id", "status"]) == ["id", "status"]
    for bad in ([], [""], [1], {"id": 1}):
        with pytest.raises(TelzinoValidationError, match="fields"):
            require_fields(bad)
    assert trim({"id": 1, "x": 2}, ["id"]) == {"id": 1}


def test_large_result_warning_names_both_options_and_max_map_length(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    log = logging.getLogger("telzino-test")
    with caplog.at_level(logging.WARNING, logger="telzino-test"):
        warn_if_large(log, 10_000, fields=None, max_calls=None)
        warn_if_large(log, 10_001, fields=["id"], max_calls=None)
        warn_if_large(log, 10_001, fields=None, max_calls=20_000)
        assert not caplog.records
        warn_if_large(log, 10_001, fields=None, max_calls=None)
    (message,) = [r.getMessage() for r in caplog.records]
    assert "fields=" in message and "max_calls=" in message and "[core] max_map_length" in message


def test_correlation_key_and_metadata() -> None:
    ti = FakeTI(dag_id="d", task_id="t", run_id="r", map_index=3)
    key = correlation_key(make_context(ti))
    assert key == {"dag_id": "d", "task_id": "t", "run_id": "r", "map_index": 3}
    metadata = with_key({"crm_id": "9"}, key)
    assert metadata == {"crm_id": "9", "airflow": key}
    assert carries_key({"request_metadata": metadata}, key)
    assert not carries_key({"request_metadata": with_key({}, {**key, "map_index": 4})}, key)
    assert not carries_key({"request_metadata": None}, key)
    with pytest.raises(TelzinoValidationError, match="metadata: the key 'airflow' is reserved"):
        with_key({"airflow": 1}, key)


class Looks:
    """A poll that replays results (an exception is raised) and records when each look happened."""

    def __init__(self, *results: object) -> None:
        self.results = list(results)
        self.times: list[float] = []

    def __call__(self):  # type: ignore[no-untyped-def]
        self.times.append(time.time())
        result = self.results.pop(0)
        if isinstance(result, Exception):
            raise result
        return result


FLAKY = TelzinoApiError("GET", "/x", 503, "down")


def test_a_poke_rides_out_a_run_of_errors_and_returns_with_the_answer() -> None:
    looks = Looks(FLAKY, FLAKY, evaluate_call(record("queued"), SUCCESS, FAILURE))
    sleeps: list[float] = []
    event = poll_until_answered(
        looks, ErrorBudget(2), deadline=time.time() + 60, poll_interval=0.5, sleep=sleeps.append
    )
    assert event is None and len(looks.times) == 3 and sleeps == [0.5, 0.5]


def test_a_poke_ends_the_wait_on_the_error_past_the_budget() -> None:
    looks = Looks(FLAKY, FLAKY, FLAKY)
    event = poll_until_answered(
        looks, ErrorBudget(2), deadline=time.time() + 60, poll_interval=0, sleep=lambda s: None
    )
    assert event is not None and event["status"] == "error"
    assert "too many consecutive errors" in event["message"] and not looks.results


def test_a_poke_leaves_a_deadline_passed_in_a_run_of_errors_to_the_sensor_timeout() -> None:
    looks = Looks(FLAKY, FLAKY, FLAKY)
    event = poll_until_answered(looks, ErrorBudget(5), deadline=time.time() - 1, poll_interval=0.1)
    assert event is None and len(looks.times) == 1  # the sensor's own timeout check then fails it
