"""TelzinoListOutboundCallsOperator with max_concurrency, against the emulator."""

from __future__ import annotations

from datetime import timedelta

import pytest

from telzino_provider.emulator import TelzinoEmulator
from telzino_provider.exceptions import TelzinoValidationError
from telzino_provider.operators.telzino import TelzinoListOutboundCallsOperator
from tests.airflow_helpers import make_context


def list_op(emu: TelzinoEmulator, **kwargs: object) -> TelzinoListOutboundCallsOperator:
    return TelzinoListOutboundCallsOperator(task_id="list_calls", agent_id=emu.agent_id, **kwargs)


@pytest.mark.parametrize("window_field", ["created_at", "ended_at"])
def test_max_concurrency_returns_the_same_calls(telzino_conn: TelzinoEmulator, window_field: str) -> None:
    now = telzino_conn.now()
    telzino_conn.seed_calls(1200, start=now - timedelta(days=2), end=now - timedelta(minutes=5))
    window = {
        "created_after": now - timedelta(hours=30),
        "created_before": now - timedelta(hours=3),
        "window_field": window_field,
        "fields": ["id", "status", "created_at"],
    }

    sequential = list_op(telzino_conn, **window).execute(make_context())
    sent_sequential = telzino_conn.count_requests("GET")
    concurrent = list_op(telzino_conn, max_concurrency=6, **window).execute(make_context())

    assert concurrent == sequential
    assert len(sequential) > 300
    assert telzino_conn.count_requests("GET") > sent_sequential  # the second read did happen


@pytest.mark.parametrize("value", [0, 17, "8"])
def test_a_bad_max_concurrency_fails_before_any_request(telzino_conn: TelzinoEmulator, value: object) -> None:
    with pytest.raises(TelzinoValidationError, match="max_concurrency"):
        list_op(telzino_conn, max_concurrency=value).execute(make_context())
    assert telzino_conn.count_requests() == 0
