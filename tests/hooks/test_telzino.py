"""TelzinoHook's API methods against the emulator."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest

from telzino_provider.emulator import OUTCOME_NUMBERS
from telzino_provider.exceptions import (
    TelzinoApiError,
    TelzinoCallPlacedWithoutIdError,
    TelzinoValidationError,
)
from telzino_provider.hooks.telzino import TelzinoHook
from telzino_provider.version_compat import AirflowFailException

UNKNOWN = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def seeded(telzino_conn):
    """250 historical calls over the last 10 days, all finished."""
    now = telzino_conn.now()
    calls = telzino_conn.seed_calls(250, start=now - timedelta(days=10), end=now - timedelta(hours=1))
    telzino_conn.clear_requests()
    return calls


def ids(calls):
    return [c["id"] for c in calls]


def list_requests(emulator):
    return emulator.count_requests(method="GET", path_prefix=f"/v1/agents/{emulator.agent_id}/outbound-calls")


def test_init_touches_nothing(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_TELZINO_DEFAULT", raising=False)
    hook = TelzinoHook(telzino_conn_id="does_not_exist")  # no lookup, no request, no error
    assert hook.telzino_conn_id == "does_not_exist"


@pytest.mark.parametrize("page_size", [1, 7, 50, 100])
def test_full_pull_at_several_page_sizes(telzino_conn, seeded, page_size):
    hook = TelzinoHook()
    got = hook.list_outbound_calls(telzino_conn.agent_id, page_size=page_size)
    assert ids(got) == ids(seeded)
    assert list_requests(telzino_conn) == -(-250 // page_size)


def test_window_is_half_open_and_stops_early(telzino_conn, seeded):
    hook = TelzinoHook()
    newest_first = seeded
    after, before = newest_first[29]["created_at"], newest_first[9]["created_at"]
    got = hook.list_outbound_calls(
        telzino_conn.agent_id, created_after=after, created_before=before, page_size=10
    )
    assert ids(got) == ids(newest_first[10:30])  # after is inclusive, before exclusive
    assert list_requests(telzino_conn) == 4  # pages 1-3 hold the window, page 4 proves it ended


def test_incremental_pull_costs_requests_in_proportion_to_new_calls(telzino_conn, seeded):
    hook = TelzinoHook()
    got = hook.list_outbound_calls(telzino_conn.agent_id, created_after=seeded[2]["created_at"])
    assert ids(got) == ids(seeded[:3])
    assert list_requests(telzino_conn) == 1


def test_status_filter_single_and_several(telzino_conn, seeded):
    hook = TelzinoHook()
    busy = hook.list_outbound_calls(telzino_conn.agent_id, status="busy", page_size=5)
    assert busy and ids(busy) == [c["id"] for c in seeded if c["status"] == "busy"]
    several = hook.list_outbound_calls(telzino_conn.agent_id, status=["no_answer", "busy", "failed"])
    expected = [c["id"] for c in seeded if c["status"] in {"no_answer", "busy", "failed"}]
    assert ids(several) == expected  # merged newest first, each once
    assert {q.query.get("status") for q in telzino_conn.requests} >= {"no_answer", "busy", "failed"}


def test_max_calls_stops_paging(telzino_conn, seeded):
    got = TelzinoHook().list_outbound_calls(telzino_conn.agent_id, max_calls=15, page_size=10)
    assert ids(got) == ids(seeded[:15])
    assert list_requests(telzino_conn) == 2


def test_iteration_is_lazy(telzino_conn, seeded):
    calls = TelzinoHook().iter_outbound_calls(telzino_conn.agent_id, page_size=10)
    assert telzino_conn.count_requests() == 0
    next(calls)
    assert telzino_conn.count_requests() == 1


def test_drift_inserts_during_paging_no_duplicate_no_loss(telzino_conn, seeded):
    telzino_conn.insert_calls_between_pages(3)
    got = TelzinoHook().list_outbound_calls(telzino_conn.agent_id, page_size=20)
    assert ids(got) == ids(seeded)  # every call that existed; none twice; new ones wait for the next pull
    assert len(telzino_conn.calls()) > len(seeded)


def test_long_pull_logs_one_line_per_page(telzino_conn, seeded, caplog):
    caplog.set_level(logging.INFO)
    TelzinoHook().list_outbound_calls(telzino_conn.agent_id, page_size=100)
    lines = [r.getMessage() for r in caplog.records if "calls so far" in r.getMessage()]
    label = f"Telzino outbound calls of agent {telzino_conn.agent_id}"
    assert lines == [f"{label}: page {n} of 3, {min(n * 100, 250)} calls so far" for n in (1, 2, 3)]


def test_get_and_create(telzino_conn):
    hook = TelzinoHook()
    created = hook.create_outbound_call(
        telzino_conn.agent_id,
        OUTCOME_NUMBERS["completed"],
        call_context="Confirm tomorrow's appointment.",
        metadata={"crm_id": "123"},
        callback_url="https://example.com/telzino",
    )
    assert created["status"] == "queued"
    record = hook.get_outbound_call(telzino_conn.agent_id, created["id"])
    assert record["request_metadata"] == {"crm_id": "123"}
    assert record["to_number"] == OUTCOME_NUMBERS["completed"]
    post = next(r for r in telzino_conn.requests if r.method == "POST")
    assert post.body == {
        "to_number": OUTCOME_NUMBERS["completed"],
        "call_context": "Confirm tomorrow's appointment.",
        "metadata": {"crm_id": "123"},
        "callback_url": "https://example.com/telzino",
    }


def test_phone_numbers_masked_in_logs(telzino_conn, caplog):
    caplog.set_level(logging.DEBUG)
    TelzinoHook().create_outbound_call(telzino_conn.agent_id, "+18135551234")
    assert "+1813*****34" in caplog.text
    assert "+18135551234" not in caplog.text


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda h, a: h.list_outbound_calls("not-a-uuid"), "agent_id"),
        (lambda h, a: h.list_outbound_calls(a, status="done"), "status"),
        (lambda h, a: h.list_outbound_calls(a, page_size=101), "page_size"),
        (lambda h, a: h.list_outbound_calls(a, max_calls=0), "max_calls"),
        (lambda h, a: h.iter_outbound_calls(a, created_after="soon"), "created_after"),
        (
            lambda h, a: h.iter_outbound_calls(
                a, created_after="2026-01-02T00:00:00Z", created_before="2026-01-01T00:00:00Z"
            ),
            "created_before",
        ),
        (lambda h, a: h.get_outbound_call(a, "../../agents"), "call_id"),
        (lambda h, a: h.create_outbound_call(a, "813-555-1234"), "to_number"),
        (lambda h, a: h.create_outbound_call(a, "+18135551234", call_context="x" * 4001), "call_context"),
        (lambda h, a: h.create_outbound_call(a, "+18135551234", metadata={"x": "y" * 17000}), "metadata"),
        (lambda h, a: h.create_outbound_call(a, "+18135551234", metadata={"x": float("nan")}), "metadata"),
        (
            lambda h, a: h.create_outbound_call(
                a, "+1\u0668\u0661\u0663\u0665\u0665\u0665\u0660\u0661\u0660\u0660"
            ),
            "to_number",
        ),
        (
            lambda h, a: h.create_outbound_call(a, "+18135551234", callback_url="https://100.64.0.1/x"),
            "callback_url",
        ),
        (
            lambda h, a: h.create_outbound_call(a, "+18135551234", callback_url="https://2130706433/x"),
            "callback_url",
        ),
        (lambda h, a: h.iter_outbound_calls(a, created_after="now"), "created_after"),
        (lambda h, a: h.iter_outbound_calls(a, created_before="P1D"), "created_before"),
        (lambda h, a: h.create_outbound_call(a, "+18135551234", callback_url="http://x.io"), "callback_url"),
        (lambda h, a: h.iter_call_logs(a, page_size=0), "page_size"),
        (lambda h, a: h.get_transcript(a, ""), "transcript_id"),
    ],
)
def test_validation_before_any_request(telzino_conn, call, field):
    with pytest.raises(TelzinoValidationError) as err:
        call(TelzinoHook(), telzino_conn.agent_id)
    assert err.value.field == field
    assert str(err.value).startswith(f"{field}: ")
    assert telzino_conn.requests == []


def test_unknown_and_forbidden_ids(telzino_conn):
    hook = TelzinoHook()
    with pytest.raises(TelzinoApiError, match="HTTP 404.*check the agent id and call id") as err:
        hook.get_outbound_call(telzino_conn.agent_id, UNKNOWN)
    assert err.value.status_code == 404
    with pytest.raises(TelzinoApiError, match="HTTP 403.*may use this agent"):
        hook.list_outbound_calls(telzino_conn.forbidden_agent_id)


def test_transcripts_join_completed_calls(telzino_conn, seeded):
    hook = TelzinoHook()
    completed = [c for c in seeded if c["status"] == "completed"][:5]
    found = hook.get_transcripts(telzino_conn.agent_id, [c["transcript_id"] for c in completed])
    assert set(found) == {c["transcript_id"] for c in completed}
    one = hook.get_transcript(telzino_conn.agent_id, completed[0]["transcript_id"])
    assert one is not None and one["summary_text"]
    assert hook.get_transcript(telzino_conn.agent_id, UNKNOWN) is None
    logs = list(hook.iter_call_logs(telzino_conn.agent_id, page_size=7))
    assert len(logs) == len({log["id"] for log in logs}) == sum(c["status"] == "completed" for c in seeded)


def test_oauth_mode_end_to_end(oauth_conn):
    oauth_conn.seed_calls(5, start=oauth_conn.now() - timedelta(days=1), end=oauth_conn.now())
    assert len(TelzinoHook().list_outbound_calls(oauth_conn.agent_id)) == 5


# -- test_connection -------------------------------------------------------------------------


def test_connection_ok(telzino_conn):
    ok, message = TelzinoHook().test_connection()
    assert ok, message
    assert "credentials were accepted" in message
    assert [r.method for r in telzino_conn.requests] == ["GET"]


def test_connection_bad_token(emulator, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_TELZINO_DEFAULT",
        f'{{"conn_type": "telzino", "host": "{emulator.base_url}", "password": "wrong-token"}}',
    )
    ok, message = TelzinoHook().test_connection()
    assert not ok
    assert message.startswith("Telzino rejected the credentials (HTTP 401)")


def test_connection_unreachable(monkeypatch):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv(
        "AIRFLOW_CONN_TELZINO_DEFAULT",
        f'{{"conn_type": "telzino", "host": "http://127.0.0.1:{port}", "password": "t0ken-value"}}',
    )
    ok, message = TelzinoHook().test_connection()
    assert not ok
    assert message.startswith(f"Could not reach http://127.0.0.1:{port}")


def test_connection_wrong_base_url(emulator, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_TELZINO_DEFAULT",
        f'{{"conn_type": "telzino", "host": "{emulator.base_url}/api", "password": "{emulator.token}"}}',
    )
    ok, message = TelzinoHook().test_connection()
    assert not ok
    assert "has no Telzino API (HTTP 404)" in message


def test_metadata_of_9_kb_utf8_is_accepted_by_hook_and_api(telzino_conn):
    note = "予約確認" * 750
    created = TelzinoHook().create_outbound_call(
        telzino_conn.agent_id, "+18135551234", metadata={"note": note}
    )
    assert TelzinoHook().get_outbound_call(telzino_conn.agent_id, created["id"])["request_metadata"] == {
        "note": note
    }


def open_pools(hook: TelzinoHook) -> int:
    """Connection pools (each holding kept-alive sockets) of the hook's current session."""
    adapters = hook.transport.session.adapters.values()
    return sum(len(adapter.poolmanager.pools) for adapter in adapters)


@pytest.mark.parametrize("token", ["good", "wrong"])
def test_connection_closes_its_session(emulator, monkeypatch, token):
    monkeypatch.setenv(
        "AIRFLOW_CONN_TELZINO_DEFAULT",
        f'{{"conn_type": "telzino", "host": "{emulator.base_url}", '
        f'"password": "{emulator.token if token == "good" else "wrong-token"}"}}',
    )
    hook = TelzinoHook()
    session = hook.transport.session
    ok, message = hook.test_connection()
    assert ok is (token == "good"), message
    assert emulator.count_requests() == 1
    assert sum(len(adapter.poolmanager.pools) for adapter in session.adapters.values()) == 0
    assert "transport" not in hook.__dict__  # the next use opens a new session


@pytest.mark.parametrize(
    ("host", "field"),
    [("http://127.0.0.1:99999", "host"), ("http://127.0.0.1:abc", "host")],
)
def test_connection_with_an_impossible_port_says_the_settings_are_wrong(monkeypatch, host, field):
    monkeypatch.setenv(
        "AIRFLOW_CONN_TELZINO_DEFAULT", f'{{"conn_type": "telzino", "host": "{host}", "password": "t0ken"}}'
    )
    ok, message = TelzinoHook().test_connection()
    assert not ok
    assert message.startswith(f"Connection settings are invalid: {field}: "), message


def test_connection_token_with_trailing_newline_works(emulator, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_TELZINO_DEFAULT",
        json.dumps({"conn_type": "telzino", "host": emulator.base_url, "password": emulator.token + "\n"}),
    )
    ok, message = TelzinoHook().test_connection()
    assert ok, message


def test_a_create_answered_without_an_id_raises_a_final_error(telzino_conn):
    telzino_conn.omit_id_next_create()

    with pytest.raises(TelzinoCallPlacedWithoutIdError, match="WAS PLACED") as info:
        TelzinoHook().create_outbound_call(telzino_conn.agent_id, OUTCOME_NUMBERS["completed"])

    assert isinstance(info.value, AirflowFailException) and info.value.method == "POST"
    assert len(telzino_conn.calls()) == 1 and telzino_conn.count_requests("POST") == 1


def test_uncertain_create_error_masks_numbers_and_stays_short(telzino_conn):
    telzino_conn.fail_next(1, 500, method="POST")
    metadata = {"alternate_phone": "+18135559876", "notes": "x" * 8000}
    with pytest.raises(AirflowFailException) as err:
        TelzinoHook().create_outbound_call(telzino_conn.agent_id, "+18135551234", metadata=metadata)
    message = str(err.value)
    assert "MAY HAVE BEEN PLACED" in message
    assert "+18135559876" not in message and "+1813*****76" in message
    assert len(message) < 1500


def test_uncertain_create_error_quotes_the_longest_correlation_key_whole(telzino_conn):
    # Airflow allows 250 characters for a dag_id, a task_id and a run_id: only the user's metadata
    # is cut, never what the call list can be searched by.
    key = {"dag_id": "d" * 250, "task_id": "t" * 250, "run_id": "r" * 250, "map_index": 12345}
    telzino_conn.drop_next_post_response(1)
    with pytest.raises(AirflowFailException) as err:
        TelzinoHook().create_outbound_call(
            telzino_conn.agent_id, "+18135551234", metadata={"notes": "x" * 8000, "airflow": key}
        )
    message = str(err.value)
    assert f"with metadata {{'airflow': {key}}} and {{'notes': '{'x' * 100}" in message
    assert "x" * 300 not in message
    assert len(message) < 2500


def test_api_error_body_naming_a_number_is_masked(telzino_conn):
    telzino_conn.fail_next(
        1, 422, method="POST", body='{"message": "to_number +18135551234 is on the do-not-call list"}'
    )
    with pytest.raises(TelzinoApiError) as err:
        TelzinoHook().create_outbound_call(telzino_conn.agent_id, "+18135551234")
    message = str(err.value)
    assert "+18135551234" not in message
    assert message.count("+1813*****34") == 2  # the detail and the quoted body
