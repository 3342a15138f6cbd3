"""HTTP shapes, status codes and validation of every emulated endpoint."""

from __future__ import annotations

import base64
import http.client
import json
import re
import socket
import time
import uuid
from typing import Any

import pytest
import requests

from telzino_provider.emulator import OUTCOME_NUMBERS, RequestRecord, TelzinoEmulator

CALL_TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")
AGENT_TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
LOG_TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
RECORD_FIELDS = {
    "id",
    "agent_id",
    "to_number",
    "status",
    "call_context",
    "request_metadata",
    "callback_url",
    "callback_delivered",
    "transcript_id",
    "summary_text",
    "error",
    "sip_status_code",
    "created_at",
    "answered_at",
    "ended_at",
    "duration",
}
LIST_ITEM_FIELDS = RECORD_FIELDS - {"call_context", "callback_url", "callback_delivered", "summary_text"}


def token_body(emu: TelzinoEmulator, **overrides: Any) -> dict[str, Any]:
    body = {
        "client_id": emu.client_id,
        "client_secret": emu.client_secret,
        "audience": "https://api.telzino.com/",
        "grant_type": "client_credentials",
    }
    body.update(overrides)
    return body


def assert_error(response: requests.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "message"} and body["error"] and body["message"]
    return body


# -- OAuth --------------------------------------------------------------------------------------


def test_token_endpoint_issues_unique_jwt_looking_tokens_that_work(emu, client):
    first = requests.post(client.url("/oauth/token"), json=token_body(emu), timeout=5)
    second = requests.post(client.url("/oauth/token"), json=token_body(emu), timeout=5)
    assert first.status_code == 200
    body = first.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 86400
    assert body["access_token"] != second.json()["access_token"]
    header, claims, signature = body["access_token"].split(".")
    assert json.loads(base64.urlsafe_b64decode(header + "=="))["alg"] == "RS256"
    assert json.loads(base64.urlsafe_b64decode(claims + "=="))["aud"] == "https://api.telzino.com/"
    assert signature
    auth = {"Authorization": f"Bearer {body['access_token']}"}
    assert requests.get(client.url("/v1/agents"), headers=auth, timeout=5).status_code == 200


@pytest.mark.parametrize(
    ("overrides", "status", "error"),
    [
        ({"client_secret": "wrong"}, 401, "access_denied"),
        ({"client_id": "nobody"}, 401, "access_denied"),
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({"audience": None}, 400, "invalid_request"),
        ({"client_secret": None}, 400, "invalid_request"),
    ],
)
def test_token_endpoint_rejects_bad_requests(emu, client, overrides, status, error):
    body = {k: v for k, v in token_body(emu, **overrides).items() if v is not None}
    response = requests.post(client.url("/oauth/token"), json=body, timeout=5)
    assert response.status_code == status
    assert response.json()["error"] == error
    if status == 401:
        assert response.json() == {"error": "access_denied", "error_description": "Unauthorized"}


def test_token_endpoint_rejects_non_json_body(client):
    response = requests.post(client.url("/oauth/token"), data="client_id=x", timeout=5)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


# -- auth on /v1 ---------------------------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer not-a-token", "Basic abc", f"Bearer {'x' * 40}"])
def test_v1_requires_a_valid_bearer_token(client, header):
    headers = {} if header is None else {"Authorization": header}
    response = requests.get(client.url(client.calls_path()), headers=headers, timeout=5)
    assert_error(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


# -- agents -------------------------------------------------------------------------------------


def test_list_agents_returns_only_usable_agents_in_an_envelope(emu, client):
    body = client.get("/v1/agents").json()
    assert [agent["id"] for agent in body["data"]] == [emu.agent_id]
    agent = body["data"][0]
    assert agent["status"] == "active" and agent["is_active"] is True and agent["name"]
    assert AGENT_TS.match(agent["created_at"]) and AGENT_TS.match(agent["updated_at"])
    assert uuid.UUID(agent["organization_id"])
    assert body["pagination"] == {
        "page": 1,
        "limit": 50,
        "total": 1,
        "totalPages": 1,
        "hasNext": False,
        "hasPrev": False,
    }


def test_get_agent_wraps_in_data_and_guards_access(emu, client):
    assert client.get(f"/v1/agents/{emu.agent_id}").json()["data"]["id"] == emu.agent_id
    assert_error(client.get(f"/v1/agents/{emu.forbidden_agent_id}"), 403)
    assert_error(client.get(f"/v1/agents/{uuid.uuid4()}"), 404)


# -- outbound calls: create ---------------------------------------------------------------------


def test_create_call_returns_202_bare_queued_object(emu, client):
    response = client.post(
        client.calls_path(),
        json={"to_number": "+18135551234", "metadata": {"crm_id": "123"}, "unknown_field": True},
    )
    assert response.status_code == 202
    body = response.json()
    assert set(body) == {"id", "status", "room_name", "created_at"}
    assert body["status"] == "queued"
    assert body["room_name"] == f"agent-{emu.agent_id}-out-{body['id']}"
    assert CALL_TS.match(body["created_at"])
    assert str(uuid.UUID(body["id"])) == body["id"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"to_number": "8135551234"},
        {"to_number": "+08135551234"},
        {"to_number": "+1813555123456789"},
        {"to_number": "+1813555x234"},
        {"to_number": "+18135551234\n"},
        {"to_number": 18135551234},
        {"to_number": "+18135551234", "call_context": "x" * 4001},
        {"to_number": "+18135551234", "call_context": 5},
        {"to_number": "+18135551234", "metadata": ["not", "an", "object"]},
        {"to_number": "+18135551234", "metadata": {"blob": "x" * 16_400}},
        {"to_number": "+18135551234", "callback_url": "http://example.com/hook"},
        {"to_number": "+18135551234", "callback_url": "https://localhost/hook"},
        {"to_number": "+18135551234", "callback_url": "https://127.0.0.1/hook"},
        {"to_number": "+18135551234", "callback_url": "https://10.1.2.3/hook"},
        {"to_number": "+18135551234", "callback_url": "https://192.168.0.10:8443/hook"},
        {"to_number": "+18135551234", "callback_url": "https://169.254.169.254/latest"},
        {"to_number": "+18135551234", "callback_url": "https://[::1]/hook"},
        {"to_number": "+18135551234", "callback_url": "https://2130706433/hook"},
        {"to_number": "+18135551234", "callback_url": 42},
    ],
)
def test_create_call_validation_400(emu, client, body):
    assert_error(client.post(client.calls_path(), json=body), 400)
    assert emu.calls() == []


def test_a_lone_surrogate_in_metadata_is_stored_as_sent(emu, client):
    """Valid JSON "\\ud83d" (half an emoji): stored and returned unchanged, as call_context is."""
    call = client.create_call("+18135551234", metadata={"note": "hi \ud83d"}, call_context="bye \ud83d")
    record = client.get_call(call["id"])
    assert record["request_metadata"] == {"note": "hi \ud83d"}
    assert record["call_context"] == "bye \ud83d"


def test_create_call_accepts_documented_limits(emu, client):
    call = client.create_call(
        "+18135551234",
        call_context="x" * 4000,
        metadata={"blob": "x" * 16_000},
        callback_url="https://hooks.example.com/telzino?x=1",
    )
    record = client.get_call(call["id"])
    assert record["call_context"] == "x" * 4000
    assert record["request_metadata"] == {"blob": "x" * 16_000}
    assert record["callback_url"] == "https://hooks.example.com/telzino?x=1"


def test_create_call_rejects_invalid_json(client):
    response = client.post(
        client.calls_path(), data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert_error(response, 400)


def test_create_call_agent_errors(emu, client):
    body = {"to_number": "+18135551234"}
    assert_error(client.post(client.calls_path(emu.forbidden_agent_id), json=body), 403)
    assert_error(client.post(client.calls_path(str(uuid.uuid4())), json=body), 404)
    assert_error(client.post(client.calls_path("not-a-uuid"), json=body), 404)
    assert emu.calls() == []


# -- outbound calls: get ------------------------------------------------------------------------


def test_get_call_has_exactly_the_documented_fields(client):
    call = client.create_call(
        "+18135551234", call_context="Confirm the appointment", metadata={"crm_id": "123"}
    )
    record = client.get_call(call["id"])
    assert set(record) == RECORD_FIELDS
    assert record["request_metadata"] == {"crm_id": "123"}
    assert record["call_context"] == "Confirm the appointment"
    assert record["created_at"] == call["created_at"]
    assert record["status"] == "queued"


def test_get_call_404s(emu, client):
    call = client.create_call("+18135551234")
    assert_error(client.get(f"{client.calls_path()}/{uuid.uuid4()}"), 404)
    assert_error(client.get(f"{client.calls_path()}/not-a-uuid"), 404)
    other = emu.add_agent("Second agent")
    assert_error(client.get(f"{client.calls_path(other)}/{call['id']}"), 404)  # wrong agent
    assert_error(client.get(f"{client.calls_path(emu.forbidden_agent_id)}/{call['id']}"), 403)


# -- outbound calls: list -----------------------------------------------------------------------


def test_list_calls_items_omit_the_fields_the_documented_example_omits(emu, client):
    emu.add_call(call_context="ctx", callback_url="https://example.com/cb")
    body = client.get(client.calls_path()).json()
    assert set(body["data"][0]) == LIST_ITEM_FIELDS


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=101",
        "limit=abc",
        "limit=",
        "limit=1.5",
        "page=0",
        "page=-1",
        "page=x",
        "status=done",
        "status=",
    ],
)
def test_list_calls_rejects_bad_query_params(client, query):
    assert_error(client.get(f"{client.calls_path()}?{query}"), 400)


def test_call_logs_rejects_bad_paging_and_checks_agent(emu, client):
    assert_error(client.get(f"/v1/agents/{emu.agent_id}/call-logs?limit=500"), 400)
    assert_error(client.get(f"/v1/agents/{emu.forbidden_agent_id}/call-logs"), 403)
    assert_error(client.get(f"/v1/agents/{uuid.uuid4()}/call-logs"), 404)


# -- routing ------------------------------------------------------------------------------------


def test_unknown_paths_404_and_wrong_methods_405(emu, client):
    assert_error(client.get("/v2/agents"), 404)
    assert_error(client.get("/v1/agents/x/y/z"), 404)
    response = client.session.delete(client.url(client.calls_path()), timeout=5)
    assert_error(response, 405)
    assert response.headers["Allow"] == "GET, POST"
    assert_error(client.get("/oauth/token"), 405)
    assert_error(client.session.put(client.url("/v1/agents"), json={}, timeout=5), 405)


# -- transport and request log ------------------------------------------------------------------


def test_keep_alive_reuses_one_connection(emu):
    conn = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=5)
    conn.connect()
    sock = conn.sock
    headers = {"Authorization": f"Bearer {emu.token}", "Content-Type": "application/json"}
    for method, body in [("GET", None), ("POST", b"{bad json"), ("GET", None), ("DELETE", None)]:
        path = f"/v1/agents/{emu.agent_id}/outbound-calls"
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        assert response.getheader("Content-Length") == str(len(response.read()))
        assert response.status in (200, 400, 405) and not response.will_close
        assert conn.sock is sock  # same socket: the server kept the connection open
    conn.close()


def test_request_log_records_every_request(emu, client):
    client.create_call("+18135551234", metadata={"k": "v"})
    client.get(f"{client.calls_path()}?limit=5&page=1")
    requests.get(client.url("/v1/agents"), timeout=5)  # unauthenticated -> 401, still logged
    records = emu.requests
    assert [(r.method, r.status) for r in records] == [("POST", 202), ("GET", 200), ("GET", 401)]
    post = records[0]
    assert isinstance(post, RequestRecord)
    assert post.path == client.calls_path() and post.body == {
        "to_number": "+18135551234",
        "metadata": {"k": "v"},
    }
    assert post.headers["Authorization"] == f"Bearer {emu.token}"
    assert records[1].query == {"limit": "5", "page": "1"} and records[1].body is None
    assert emu.count_requests() == 3
    assert emu.count_requests("get") == 2
    assert emu.count_requests("POST", "/v1/agents/") == 1
    assert emu.count_requests(path_prefix="/v1/agents") == 3
    emu.clear_requests()
    assert emu.requests == [] and emu.count_requests() == 0


def test_start_up_is_fast_and_ports_are_ephemeral():
    started = time.perf_counter()
    with TelzinoEmulator() as first, TelzinoEmulator() as second:
        elapsed = time.perf_counter() - started
        assert first.port != second.port and first.port > 0
        assert first.base_url == f"http://127.0.0.1:{first.port}"
        assert requests.get(first.base_url + "/v1/agents", timeout=5).status_code == 401
    assert elapsed < 2.0  # typically a few milliseconds


def test_stop_closes_the_server(emu, client):
    assert client.get("/v1/agents").status_code == 200
    emu.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(client.url("/v1/agents"), timeout=2)
    with pytest.raises(requests.ConnectionError):
        client.get("/v1/agents", timeout=2)  # the pooled keep-alive connection was closed too


def test_emulators_with_the_same_seed_share_ids_and_credentials():
    a, b, c = TelzinoEmulator(seed=7), TelzinoEmulator(seed=7), TelzinoEmulator(seed=8)
    assert (a.agent_id, a.token, a.client_id, a.client_secret) == (
        b.agent_id,
        b.token,
        b.client_id,
        b.client_secret,
    )
    assert a.agent_id != c.agent_id and a.token != c.token
    assert a.forbidden_agent_id != a.agent_id


def test_outcome_numbers_constant():
    assert OUTCOME_NUMBERS == {
        "completed": "+18135550100",
        "no_answer": "+18135550480",
        "busy": "+18135550486",
        "failed": "+18135550503",
    }


def test_non_ascii_bearer_token_is_a_401_not_a_crash(client):
    headers = {"Authorization": "Bearer tök\xe9n".encode("latin-1")}  # raw non-ASCII header bytes
    response = requests.get(client.url("/v1/agents"), headers=headers, timeout=5)
    assert_error(response, 401)


def test_chunked_request_bodies_are_read(emu):
    conn = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=5)
    body = iter([b'{"to_number": ', b'"+18135551234"}'])
    headers = {"Authorization": f"Bearer {emu.token}", "Content-Type": "application/json"}
    conn.request(
        "POST", f"/v1/agents/{emu.agent_id}/outbound-calls", body=body, headers=headers, encode_chunked=True
    )
    response = conn.getresponse()
    assert response.status == 202 and json.loads(response.read())["status"] == "queued"
    conn.request("GET", "/v1/agents", headers=headers)  # the connection is still in sync
    assert conn.getresponse().status == 200
    conn.close()
    assert emu.requests[0].body == {"to_number": "+18135551234"}


def test_bad_content_length_is_a_400_and_closes(emu):
    with socket.create_connection(("127.0.0.1", emu.port), timeout=5) as sock:
        sock.sendall(b"POST /oauth/token HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n")
        reply = sock.makefile("rb").read()
    assert reply.startswith(b"HTTP/1.1 400 ") and b"Connection: close" in reply
    assert emu.requests[0].status == 400
