"""Request validation for the emulated endpoints, raising :class:`ApiError` (-> JSON error body).

The documented constraints (spec 6 and 7.2) are enforced; where the docs are silent the emulator
picks the strict reading (e.g. ``limit=101`` is a 400, not clamped) so clients are exercised on it.
Unknown body fields are ignored. ``callback_url`` hosts are not resolved (the emulator has no
network): only ``localhost`` names and non-global IP literals are rejected.
"""

from __future__ import annotations

import ipaddress
import json
import re
import uuid
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from telzino_provider.emulator.records import STATUSES

E164 = re.compile(r"\+[1-9][0-9]{1,14}")  # used with fullmatch: "$" would allow a trailing newline
_DIGITS = re.compile(r"[0-9]+")
MAX_CONTEXT_CHARS = 4000
MAX_METADATA_BYTES = 16 * 1024
DEFAULT_LIMIT = 50
MAX_LIMIT = 100


class ApiError(Exception):
    """An error answered as ``{"error": <code>, "message": <text>}`` with an HTTP status."""

    def __init__(
        self, status: int, message: str, code: str | None = None, headers: list[tuple[str, str]] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or error_code(status)
        self.headers = headers or []


def error_code(status: int) -> str:
    """``503`` -> ``service_unavailable``: a snake_case code from the status phrase."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        return "error"
    return re.sub(r"[^a-z0-9]+", "_", phrase.lower()).strip("_")


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return len(value) == 36  # only the canonical hyphenated form, as the API returns it


def page_params(query: dict[str, str]) -> tuple[int, int]:
    """(page, limit) from the query string: page int >= 1 (default 1), limit 1..100 (default 50)."""
    page = _int_param(query, "page", 1)
    limit = _int_param(query, "limit", DEFAULT_LIMIT)
    if page < 1:
        raise bad_request("page must be an integer >= 1")
    if not 1 <= limit <= MAX_LIMIT:
        raise bad_request(f"limit must be an integer between 1 and {MAX_LIMIT}")
    return page, limit


def status_param(query: dict[str, str]) -> str | None:
    status = query.get("status")
    if status is None:
        return None
    if status not in STATUSES:
        raise bad_request(f"status must be one of: {', '.join(STATUSES)}")
    return status


@dataclass(frozen=True)
class CreateCall:
    """A validated ``POST /v1/agents/{agentId}/outbound-calls`` body."""

    to_number: str
    call_context: str | None
    metadata: dict[str, Any] | None
    callback_url: str | None


def create_call_body(body: Any) -> CreateCall:
    if not isinstance(body, dict):
        raise bad_request("request body must be a JSON object")
    to_number = body.get("to_number")
    if not isinstance(to_number, str) or not E164.fullmatch(to_number):
        raise bad_request("to_number must be an E.164 phone number, e.g. +18135551234")
    call_context = body.get("call_context")
    if call_context is not None and not isinstance(call_context, str):
        raise bad_request("call_context must be a string")
    if call_context is not None and len(call_context) > MAX_CONTEXT_CHARS:
        raise bad_request(f"call_context must be at most {MAX_CONTEXT_CHARS} characters")
    metadata = body.get("metadata")
    if metadata is not None:
        _check_metadata(metadata)
    callback_url = body.get("callback_url")
    if callback_url is not None:
        _check_callback_url(callback_url)
    return CreateCall(to_number, call_context, metadata, callback_url)


def _int_param(query: dict[str, str], name: str, default: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    if not _DIGITS.fullmatch(raw):
        raise bad_request(f"{name} must be an integer")
    return int(raw)


def _check_metadata(metadata: Any) -> None:
    if not isinstance(metadata, dict):
        raise bad_request("metadata must be a JSON object")
    # A lone surrogate (valid JSON "\ud83d") is stored as sent, as call_context is: counted as the
    # three bytes UTF-8 would give it, instead of failing the request with a 500.
    text = json.dumps(metadata, separators=(",", ":"), ensure_ascii=False)
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_METADATA_BYTES:
        raise bad_request(f"metadata must be at most {MAX_METADATA_BYTES} bytes when serialized")


def _check_callback_url(url: Any) -> None:
    if not isinstance(url, str):
        raise bad_request("callback_url must be a string")
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise bad_request("callback_url is not a valid URL") from None
    if parts.scheme != "https" or not host:
        raise bad_request("callback_url must be an https:// URL")
    if host == "localhost" or host.endswith(".localhost") or _is_non_global_ip(host):
        raise bad_request("callback_url must not point to a private, loopback or local address")


def _is_non_global_ip(host: str) -> bool:
    try:
        # A bare integer host (http://2130706433/) is an IPv4 address to most resolvers.
        address = ipaddress.ip_address(int(host) if host.isdigit() else host)
    except ValueError:
        return False
    return not address.is_global
