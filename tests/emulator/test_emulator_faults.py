"""Fault knobs, token expiry, latency and concurrency."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import requests

from telzino_provider.emulator import OUTCOME_NUMBERS, TelzinoEmulator


def oauth_token(emu: TelzinoEmulator) -> str:
    body = {
        "client_id": emu.client_id,
        "client_secret": emu.client_secret,
        "audience": "https://api.telzino.com/",
        "grant_type": "client_credentials",
    }
    response = requests.post(emu.base_url + "/oauth/token", json=body, timeout=5)
    assert response.status_code == 200
    return response.json()["access_token"]


def get_agents(emu: TelzinoEmulator, token: str) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    return requests.get(emu.base_url + "/v1/agents", headers=headers, timeout=5).status_code


def test_fail_next_with_retry_after_then_recovers(emu, client):
    emu.fail_next(2, 503, retry_after="7")
    first, second, third = (client.get("/v1/agents") for _ in range(3))
    assert [first.status_code, second.status_code, third.status_code] == [503, 503, 200]
    assert first.headers["Retry-After"] == "7"
    assert first.json() == {"error": "service_unavailable", "message": "Injected failure"}
    assert [r.status for r in emu.requests] == [503, 503, 200]


def test_fail_next_http_date_custom_body_and_method_filter(emu, client):
    date = "Wed, 21 Oct 2026 07:28:00 GMT"
    emu.fail_next(1, 429, retry_after=date, body="slow down", method="POST")
    assert client.get("/v1/agents").status_code == 200  # GET does not match
    response = client.post(client.calls_path(), json={"to_number": "+18135551234"})
    assert response.status_code == 429
    assert response.headers["Retry-After"] == date and response.text == "slow down"
    assert emu.calls() == []  # a faulted create records nothing
    client.create_call("+18135551234")
    assert len(emu.calls()) == 1


def test_fail_next_does_not_touch_the_token_endpoint(emu):
    emu.fail_next(1, 500)
    token = oauth_token(emu)  # not consumed by /oauth/token
    assert get_agents(emu, token) == 500
    assert get_agents(emu, token) == 200


def test_rate_limit_answers_429_then_recovers_and_can_be_disabled(emu, client):
    emu.rate_limit(3, per_seconds=0.3, retry_after="2")
    codes = [client.get("/v1/agents").status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    limited = client.get("/v1/agents")
    assert limited.headers["Retry-After"] == "2" and limited.json()["error"] == "too_many_requests"
    time.sleep(0.35)
    assert client.get("/v1/agents").status_code == 200
    emu.rate_limit(None)
    assert all(client.get("/v1/agents").status_code == 200 for _ in range(10))


def test_hang_next_times_out_the_client_without_blocking_others(emu, client):
    emu.hang_next(1, 1.0)
    started = time.perf_counter()
    with pytest.raises(requests.ReadTimeout):
        requests.get(client.url("/v1/agents"), headers=client.session.headers, timeout=0.3)
    assert time.perf_counter() - started < 0.9
    # The hung request is still sleeping server-side for ~0.7 s; others are served meanwhile.
    started = time.perf_counter()
    assert client.get("/v1/agents").status_code == 200
    assert time.perf_counter() - started < 0.5


def test_malformed_next_returns_200_with_invalid_json(emu, client):
    emu.malformed_next(1)
    response = client.get("/v1/agents")
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()
    assert client.get("/v1/agents").json()["data"][0]["id"] == emu.agent_id


def test_insert_calls_between_pages_shifts_later_pages(emu, client):
    now = emu.now()
    emu.seed_calls(25, start=now - timedelta(hours=2), end=now - timedelta(hours=1))
    newest_seeded = emu.calls()[0]["created_at"]
    emu.insert_calls_between_pages(3)
    page1 = client.get(f"{client.calls_path()}?limit=10&page=1").json()
    page2 = client.get(f"{client.calls_path()}?limit=10&page=2").json()
    assert page1["pagination"]["total"] == 25 and page2["pagination"]["total"] == 28
    ids1 = [c["id"] for c in page1["data"]]
    ids2 = [c["id"] for c in page2["data"]]
    assert ids2[:3] == ids1[-3:]  # the three newest inserts pushed page 1's tail onto page 2
    head = emu.calls()[:6]
    assert all(c["created_at"] > newest_seeded for c in head)
    assert len({c["created_at"] for c in head}) == 6  # strictly newer each time
    emu.insert_calls_between_pages(0)
    client.get(client.calls_path())
    assert len(emu.calls()) == 31


def test_set_list_order_serves_both_lists_in_another_order(emu, client):
    now = emu.now()
    emu.seed_calls(12, start=now - timedelta(hours=2), end=now - timedelta(hours=1))
    newest_first = [c["id"] for c in emu.calls()]
    emu.set_list_order("oldest_first")
    pages = [client.get(f"{client.calls_path()}?limit=5&page={n}").json() for n in (1, 2, 3)]
    assert [c["id"] for p in pages for c in p["data"]] == newest_first[::-1]
    assert pages[0]["pagination"]["total"] == 12 and not pages[2]["pagination"]["hasNext"]

    emu.set_list_order("by_call_start")  # outbound calls unchanged, call logs by call_started_at
    assert [c["id"] for c in client.get(client.calls_path()).json()["data"]] == newest_first
    logs = client.get(f"/v1/agents/{emu.agent_id}/call-logs").json()["data"]
    started = [log["call_started_at"] for log in logs]
    assert started == sorted(started, reverse=True)
    with pytest.raises(ValueError, match="unknown list order"):
        emu.set_list_order("random")
    emu.reset_faults()
    assert [c["id"] for c in client.get(client.calls_path()).json()["data"]] == newest_first


def test_add_call_takes_the_call_log_id(emu, client):
    call = emu.add_call(transcript_id="log-DE79AEE6-AE41-4003-A3F4-BA9D77B59BD8", duration=30)
    emu.advance(60)
    assert client.get_call(call["id"])["transcript_id"] == "log-DE79AEE6-AE41-4003-A3F4-BA9D77B59BD8"
    logs = client.get(f"/v1/agents/{emu.agent_id}/call-logs").json()["data"]
    assert [log["id"] for log in logs] == ["log-DE79AEE6-AE41-4003-A3F4-BA9D77B59BD8"]
    with pytest.raises(ValueError, match="transcript_id"):
        emu.add_call(transcript_id="")


def test_call_log_delay_lists_a_log_only_that_long_after_the_call_ended(emu, client):
    emu.call_log_delay = 30
    call = emu.add_call(duration=60)
    logs_path = f"/v1/agents/{emu.agent_id}/call-logs"
    emu.advance(10 + 60)
    record = client.get_call(call["id"])
    assert record["status"] == "completed" and record["transcript_id"]
    assert client.get(logs_path).json()["pagination"]["total"] == 0
    emu.advance(30)
    assert [log["id"] for log in client.get(logs_path).json()["data"]] == [record["transcript_id"]]
    with pytest.raises(ValueError, match="call_log_delay"):
        emu.call_log_delay = -1


def test_drop_next_post_response_records_the_call_but_sends_nothing(emu, client):
    emu.drop_next_post_response()
    assert client.get("/v1/agents").status_code == 200  # GETs are not affected
    with pytest.raises(requests.ConnectionError):
        client.post(client.calls_path(), json={"to_number": OUTCOME_NUMBERS["busy"]})
    calls = emu.calls()
    assert len(calls) == 1 and calls[0]["to_number"] == OUTCOME_NUMBERS["busy"]
    assert emu.requests[-1].method == "POST" and emu.requests[-1].status == 0
    created = client.create_call(OUTCOME_NUMBERS["busy"])  # the next one is answered again
    assert len(emu.calls()) == 2 and created["status"] == "queued"


def test_drop_is_not_consumed_by_a_rejected_create(emu, client):
    emu.drop_next_post_response()
    assert client.post(client.calls_path(), json={"to_number": "bad"}).status_code == 400
    with pytest.raises(requests.ConnectionError):
        client.post(client.calls_path(), json={"to_number": "+18135551234"})


def _wait_until(condition, seconds: float = 5.0) -> float:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < seconds, "timed out"
        time.sleep(0.02)
    return time.monotonic() - started


def test_hold_next_create_records_the_call_only_after_the_hold(emu, client):
    emu.hold_next_create(1.0)
    assert client.get("/v1/agents").status_code == 200  # GETs are not held
    started = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        client.post(client.calls_path(), json={"to_number": "+18135551234"}, timeout=0.3)
    assert emu.calls() == []  # the client gave up; the call is not there yet
    _wait_until(lambda: len(emu.calls()) == 1)
    assert time.monotonic() - started >= 1.0
    _wait_until(lambda: len(emu.requests) == 2)
    assert emu.requests[-1].method == "POST" and emu.requests[-1].status == 202
    client.create_call("+18135551234")  # one hold only: answered at once
    assert len(emu.calls()) == 2


def test_hold_next_create_record_first_stalls_only_the_answer(emu, client):
    emu.hold_next_create(1.0, record_first=True)
    started = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        client.post(client.calls_path(), json={"to_number": "+18135551234"}, timeout=0.3)
    assert len(emu.calls()) == 1  # recorded before the client gave up
    assert [r.method for r in emu.requests] == []  # the answer (and its log entry) is still held
    _wait_until(lambda: len(emu.requests) == 1)
    assert time.monotonic() - started >= 1.0 and emu.requests[0].status == 202


def test_hold_is_not_consumed_by_a_rejected_create(emu, client):
    emu.hold_next_create(0.5)
    assert client.post(client.calls_path(), json={"to_number": "bad"}).status_code == 400
    started = time.monotonic()
    client.create_call("+18135551234")
    assert time.monotonic() - started >= 0.5


def test_expire_tokens_invalidates_issued_tokens_only(emu):
    token = oauth_token(emu)
    assert get_agents(emu, token) == 200
    emu.expire_tokens()
    assert get_agents(emu, token) == 401
    assert get_agents(emu, emu.token) == 200
    assert get_agents(emu, oauth_token(emu)) == 200


def test_token_ttl_is_in_real_seconds():
    with TelzinoEmulator(token_ttl=1) as emu:
        body = {
            "client_id": emu.client_id,
            "client_secret": emu.client_secret,
            "audience": "https://api.telzino.com/",
            "grant_type": "client_credentials",
        }
        issued = requests.post(emu.base_url + "/oauth/token", json=body, timeout=5).json()
        assert issued["expires_in"] == 1
        assert get_agents(emu, issued["access_token"]) == 200
        emu.advance(10_000)  # emulated time does not expire tokens
        assert get_agents(emu, issued["access_token"]) == 200
        time.sleep(1.05)
        assert get_agents(emu, issued["access_token"]) == 401
        assert get_agents(emu, emu.token) == 200


def test_reset_faults_turns_everything_off(emu, client):
    emu.fail_next(5)
    emu.malformed_next(5)
    emu.hang_next(5, 10)
    emu.rate_limit(0)
    emu.drop_next_post_response(5)
    emu.hold_next_create(5.0, count=5)
    emu.insert_calls_between_pages(5)
    emu.reset_faults()
    assert client.get(client.calls_path()).json()["data"] == []
    client.create_call("+18135551234")
    assert len(emu.calls()) == 1


def test_latency_delays_every_answer(emu, client):
    emu.latency = 0.15
    started = time.perf_counter()
    assert client.get("/v1/agents").status_code == 200
    assert time.perf_counter() - started >= 0.15
    emu.latency = 0
    with pytest.raises(ValueError):
        emu.latency = -1


def test_many_concurrent_pollers(emu):
    calls = [emu.add_call(to_number=OUTCOME_NUMBERS["completed"]) for _ in range(20)]
    emu.advance(400)

    def poll(index: int) -> int:
        with requests.Session() as session:
            session.headers["Authorization"] = f"Bearer {emu.token}"
            call_id = calls[index % len(calls)]["id"]
            url = f"{emu.base_url}/v1/agents/{emu.agent_id}/outbound-calls/{call_id}"
            return sum(session.get(url, timeout=10).json()["status"] == "completed" for _ in range(3))

    with ThreadPoolExecutor(max_workers=100) as pool:
        assert sum(pool.map(poll, range(100))) == 300
    assert emu.count_requests("GET") == 300


def test_listing_and_read_delays_hide_a_new_call_for_real_seconds(emu, client):
    emu.listing_delay, emu.read_delay = 0.6, 0.3
    created = client.create_call(OUTCOME_NUMBERS["busy"])
    call_path = f"{client.calls_path()}/{created['id']}"
    assert client.get(call_path).status_code == 404
    assert client.get(client.calls_path()).json()["data"] == []
    time.sleep(0.35)
    assert client.get(call_path).status_code == 200
    assert client.get(client.calls_path()).json()["data"] == []  # readable, not listed yet
    time.sleep(0.3)
    assert [c["id"] for c in client.get(client.calls_path()).json()["data"]] == [created["id"]]
    with pytest.raises(ValueError, match="listing_delay"):
        emu.listing_delay = -1
    emu.reset_faults()
    assert (emu.listing_delay, emu.read_delay) == (0.0, 0.0)


def test_omit_id_next_create_records_the_call_but_answers_without_its_id(emu, client):
    emu.omit_id_next_create()
    response = client.post(client.calls_path(), json={"to_number": OUTCOME_NUMBERS["busy"]})
    assert response.status_code == 202 and "id" not in response.json()
    assert len(emu.calls()) == 1
    assert "id" in client.create_call(OUTCOME_NUMBERS["busy"])  # only the next one
