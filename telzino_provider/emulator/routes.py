"""The emulated Telzino HTTP API as a transport-free function: :class:`Request` -> :class:`Response`.

:mod:`telzino_provider.emulator.server` does the socket work; this module does routing, faults,
authentication, validation and rendering. Order per request: ``latency`` sleep; fault knobs (not for
``/oauth/token``); unknown path -> 404, wrong method -> 405; bearer token -> 401; agent -> 404/403;
then the endpoint.
"""

from __future__ import annotations

import json
import re
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from telzino_provider.emulator import validation
from telzino_provider.emulator.agents import Agent
from telzino_provider.emulator.auth import TokenIssuer
from telzino_provider.emulator.clock import EmulatedClock
from telzino_provider.emulator.faults import FailRule, FaultPlan
from telzino_provider.emulator.recordings import PATH_PREFIX, RecordingSigner, wav_bytes
from telzino_provider.emulator.records import Call, copy_json, room_name
from telzino_provider.emulator.state import CallStore
from telzino_provider.emulator.timefmt import fmt_call
from telzino_provider.emulator.validation import ApiError

TOKEN_PATH = "/oauth/token"
MALFORMED_BODY = b'{"data": [{"id": "0fc6daf8-7251-4553-9488'  # truncated mid-string: not JSON
JSON_TYPE = "application/json"
_BEARER_CHALLENGE = [("WWW-Authenticate", 'Bearer realm="telzino-emulator"')]


@dataclass
class Request:
    """A parsed HTTP request. ``headers`` keys are lower-case; ``json_body`` is None unless
    ``body_is_json``."""

    method: str
    path: str
    query: dict[str, str]
    headers: Mapping[str, str]
    json_body: Any = None
    body_is_json: bool = False


@dataclass
class Response:
    """An HTTP response; ``drop`` = close the connection without writing anything."""

    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    drop: bool = False


def json_response(status: int, payload: Any, headers: list[tuple[str, str]] | None = None) -> Response:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return Response(status, body, [("Content-Type", JSON_TYPE), *(headers or [])])


def error_response(error: ApiError) -> Response:
    return json_response(error.status, {"error": error.code, "message": error.message}, error.headers)


def envelope(items: list[Any], page: int, limit: int, total: int) -> dict[str, Any]:
    """The documented pagination envelope (spec 6)."""
    total_pages = -(-total // limit)
    pagination = {
        "page": page,
        "limit": limit,
        "total": total,
        "totalPages": total_pages,
        "hasNext": page < total_pages,
        "hasPrev": page > 1,
    }
    return {"data": items, "pagination": pagination}


Handler = Callable[..., Response]


class TelzinoApi:
    """Routes requests to endpoint methods; owns no state beyond references and ``latency``."""

    def __init__(
        self,
        *,
        clock: EmulatedClock,
        store: CallStore,
        issuer: TokenIssuer,
        faults: FaultPlan,
        agents: dict[str, Agent],
        recordings: RecordingSigner,
        latency: float = 0.0,
    ) -> None:
        self.clock = clock
        self.store = store
        self.issuer = issuer
        self.faults = faults
        self.agents = agents
        self.recordings = recordings
        self.latency = latency
        self.call_log_delay = 0.0  # emulated seconds between a call's end and its log being listed
        agent = r"/v1/agents/(?P<agent_id>[^/]+)"
        self._routes: list[tuple[re.Pattern[str], dict[str, Handler]]] = [
            (re.compile(TOKEN_PATH), {"POST": self.issue_token}),
            (re.compile(r"/v1/agents"), {"GET": self.list_agents}),
            (re.compile(agent), {"GET": self.get_agent}),
            (re.compile(agent + "/outbound-calls"), {"GET": self.list_calls, "POST": self.create_call}),
            (re.compile(agent + r"/outbound-calls/(?P<call_id>[^/]+)"), {"GET": self.get_call}),
            (re.compile(agent + "/call-logs"), {"GET": self.list_call_logs}),
            (re.compile(PATH_PREFIX + r"(?P<call_id>[^/]+)\.wav"), {"GET": self.get_recording}),
        ]

    def handle(self, request: Request) -> Response:
        if self.latency > 0:
            time.sleep(self.latency)
        try:
            if request.path != TOKEN_PATH:
                faulted = self._apply_faults(request.method)
                if faulted is not None:
                    return faulted
            handler, params = self._route(request)
            return handler(request, **params)
        except ApiError as error:
            return error_response(error)
        except Exception:  # an emulator bug: answer like a real server would, and say why on stderr
            traceback.print_exc()
            return error_response(ApiError(500, "Internal emulator error"))

    # -- plumbing ------------------------------------------------------------------------------
    def _apply_faults(self, method: str) -> Response | None:
        hang = self.faults.take_hang()
        if hang > 0:
            time.sleep(hang)
        retry_after = self.faults.take_rate_limited()
        if retry_after is not None:
            headers = [("Retry-After", retry_after)]
            return error_response(ApiError(429, "Rate limit exceeded", headers=headers))
        rule = self.faults.take_fail(method)
        if rule is not None:
            return _failure(rule)
        if self.faults.take_malformed():
            return Response(200, MALFORMED_BODY, [("Content-Type", JSON_TYPE)])
        return None

    def _route(self, request: Request) -> tuple[Handler, dict[str, str]]:
        for pattern, methods in self._routes:
            match = pattern.fullmatch(request.path)
            if match is None:
                continue
            handler = methods.get(request.method)
            if handler is None:
                allowed = ", ".join(sorted(methods))
                raise ApiError(405, f"Method not allowed; use {allowed}", headers=[("Allow", allowed)])
            return handler, match.groupdict()
        raise ApiError(404, f"No route for {request.path}")

    def _authorize(self, request: Request) -> None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "Missing bearer token", headers=_BEARER_CHALLENGE)
        if not self.issuer.is_valid(token.strip()):
            raise ApiError(401, "Invalid or expired token", headers=_BEARER_CHALLENGE)

    def _agent(self, request: Request, agent_id: str) -> Agent:
        self._authorize(request)
        agent = self.agents.get(agent_id) if validation.is_uuid(agent_id) else None
        if agent is None:
            raise ApiError(404, "Agent not found")
        if not agent.accessible:
            raise ApiError(403, "You do not have access to this agent")
        return agent

    # -- endpoints -----------------------------------------------------------------------------
    def issue_token(self, request: Request) -> Response:
        body = request.json_body if request.body_is_json else None
        if not isinstance(body, dict):
            return _oauth_error(400, "invalid_request", "Request body must be a JSON object")
        fields = ("client_id", "client_secret", "audience", "grant_type")
        missing = [name for name in fields if not isinstance(body.get(name), str) or not body[name]]
        if missing:
            return _oauth_error(400, "invalid_request", f"Missing required parameter: {missing[0]}")
        if body["grant_type"] != "client_credentials":
            return _oauth_error(400, "unsupported_grant_type", "Only client_credentials is supported")
        if not self.issuer.credentials_ok(body["client_id"], body["client_secret"]):
            return _oauth_error(401, "access_denied", "Unauthorized")
        token = self.issuer.issue(body["audience"])
        payload = {"access_token": token, "token_type": "Bearer", "expires_in": int(self.issuer.token_ttl)}
        return json_response(200, payload, [("Cache-Control", "no-store"), ("Pragma", "no-cache")])

    def list_agents(self, request: Request) -> Response:
        self._authorize(request)
        page, limit = validation.page_params(request.query)
        usable = [agent.to_json() for agent in self.agents.values() if agent.accessible]
        start = (page - 1) * limit
        return json_response(200, envelope(usable[start : start + limit], page, limit, len(usable)))

    def get_agent(self, request: Request, agent_id: str) -> Response:
        return json_response(200, {"data": self._agent(request, agent_id).to_json()})

    def create_call(self, request: Request, agent_id: str) -> Response:
        agent = self._agent(request, agent_id)
        if not request.body_is_json:
            raise validation.bad_request("Request body must be valid JSON")
        spec = validation.create_call_body(request.json_body)
        hold = self.faults.take_create_hold()
        if hold is not None and not hold.record_first:
            time.sleep(hold.seconds)  # the server is slow to record: the call appears late
        now_us = self.clock.now_us()
        call = self.store.create(
            agent_id=agent.id,
            to_number=spec.to_number,
            created_us=now_us,
            now_us=now_us,
            call_context=spec.call_context,
            metadata=copy_json(spec.metadata),  # detached from the request log's copy of the body
            callback_url=spec.callback_url,
        )
        self.faults.note_created(call.id)
        if hold is not None and hold.record_first:
            time.sleep(hold.seconds)  # recorded; the answer is late
        if self.faults.take_drop():
            return Response(0, drop=True)
        payload = {
            "id": call.id,
            "status": "queued",
            "room_name": room_name(agent.id, call.id),
            "created_at": fmt_call(call.created_us),
        }
        if self.faults.take_omit_id():
            del payload["id"]
        return json_response(202, payload)

    def get_call(self, request: Request, agent_id: str, call_id: str) -> Response:
        agent = self._agent(request, agent_id)
        call = self.store.get(agent.id, call_id) if validation.is_uuid(call_id) else None
        if call is None or self.faults.unreadable(call.id):
            raise ApiError(404, "Outbound call not found")
        return json_response(200, call.record(self.clock.now_us()))

    def list_calls(self, request: Request, agent_id: str) -> Response:
        agent = self._agent(request, agent_id)
        page, limit = validation.page_params(request.query)
        status = validation.status_param(request.query)
        now_us = self.clock.now_us()
        items, total = self.store.list_page(
            agent.id, now_us, page, limit, status, self.faults.list_order, hidden=self.faults.unlisted()
        )
        extra = self.faults.take_inserts()
        if extra > 0:  # the page is fixed now; new calls land before the client asks for the next one
            self.store.insert_at_head(agent.id, extra, now_us)
        return json_response(200, envelope(items, page, limit, total))

    def list_call_logs(self, request: Request, agent_id: str) -> Response:
        agent = self._agent(request, agent_id)
        page, limit = validation.page_params(request.query)
        base_url = "http://" + request.headers.get("host", "127.0.0.1")

        def render(call: Call) -> dict[str, Any]:
            # Signed at the call's end: a link read long after the call has expired, as on S3.
            return {**call.call_log(), "recording_url": self.recordings.url(base_url, call.id, call.end_us)}

        now_us, delay_us = self.clock.now_us(), int(self.call_log_delay * 1_000_000)
        items, total = self.store.log_page(
            agent.id, now_us, page, limit, self.faults.list_order, delay_us, render
        )
        return json_response(200, envelope(items, page, limit, total))

    def get_recording(self, request: Request, call_id: str) -> Response:
        """A pre-signed recording link: no bearer token; 403 with S3's XML body once expired."""
        refused = self.recordings.check(
            call_id, request.query.get("expires", ""), request.query.get("signature", ""), self.clock.now_us()
        )
        if refused is not None:
            return Response(403, refused, [("Content-Type", "application/xml")])
        call = self.store.find(call_id) if validation.is_uuid(call_id) else None
        if call is None or call.duration is None:
            raise ApiError(404, "Recording not found")
        return Response(200, wav_bytes(call.id, call.duration), [("Content-Type", "audio/wav")])


def _failure(rule: FailRule) -> Response:
    headers = [("Retry-After", rule.retry_after)] if rule.retry_after is not None else []
    if rule.body is None:
        return error_response(ApiError(rule.status, "Injected failure", headers=headers))
    content_type = JSON_TYPE if _is_json(rule.body) else "text/plain; charset=utf-8"
    return Response(rule.status, rule.body.encode(), [("Content-Type", content_type), *headers])


def _oauth_error(status: int, code: str, description: str) -> Response:
    return json_response(status, {"error": code, "error_description": description})


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True
