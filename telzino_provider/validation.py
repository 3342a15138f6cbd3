"""Input checks run before any request; each error names the field and the fix."""

from __future__ import annotations

import ipaddress
import json
import re
import uuid
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from telzino_provider.exceptions import TelzinoValidationError
from telzino_provider.statuses import CallStatus

E164 = re.compile(r"^\+[1-9]\d{1,14}$")
MAX_PAGE_SIZE = 100
MAX_CALL_CONTEXT = 4000
MAX_METADATA_BYTES = 16 * 1024


def require_uuid(field: str, value: object) -> str:
    """A UUID string: nothing else may reach a URL path."""
    if isinstance(value, str):
        try:
            return str(uuid.UUID(value.strip()))
        except ValueError:
            pass
    raise TelzinoValidationError(
        field, f"{value!r} is not a UUID; copy the id from the Telzino dashboard or API response"
    )


def require_opaque_id(field: str, value: object) -> str:
    """An id that is only compared, never put into a URL path (a call log's ``id``, e.g.
    ``log-<uuid>``): any non-empty string, kept exactly as given (case included)."""
    if not isinstance(value, str) or not value:
        raise TelzinoValidationError(field, f"expected a non-empty id string, got {value!r}")
    if value != value.strip() or any(ch.isspace() or not ch.isprintable() for ch in value):
        raise TelzinoValidationError(
            field, f"{value!r} contains spaces or control characters; copy the id exactly as listed"
        )
    return value


def require_statuses(field: str, value: str | Iterable[str] | None) -> tuple[CallStatus, ...]:
    """None, one status or several; duplicates dropped, order kept."""
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else list(value)
    if not items:
        raise TelzinoValidationError(field, "empty list; pass None for every status")
    known = ", ".join(s.value for s in CallStatus)
    result: list[CallStatus] = []
    for item in items:
        status = CallStatus.parse(item)
        if status is None:
            raise TelzinoValidationError(field, f"unknown status {item!r}; use one of: {known}")
        if status not in result:
            result.append(status)
    return tuple(result)


def require_int_range(field: str, value: object, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TelzinoValidationError(field, f"expected a whole number, got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise TelzinoValidationError(field, f"{value} is out of range; use a number {bound}")
    return value


def optional_positive(field: str, value: object) -> int | None:
    return None if value is None else require_int_range(field, value, 1)


def require_e164(field: str, value: object) -> str:
    if not isinstance(value, str) or not E164.match(value.strip()):
        raise TelzinoValidationError(
            field, "not an E.164 number; write it as + country code and number, no spaces (+18135551234)"
        )
    return value.strip()


def optional_call_context(field: str, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TelzinoValidationError(field, f"expected text, got {type(value).__name__}")
    if len(value) > MAX_CALL_CONTEXT:
        raise TelzinoValidationError(
            field, f"{len(value)} characters; the API takes at most {MAX_CALL_CONTEXT}, shorten it"
        )
    return value


def optional_metadata(field: str, value: object) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise TelzinoValidationError(field, f"expected a JSON object (dict), got {type(value).__name__}")
    try:
        size = len(json.dumps(value, separators=(",", ":")).encode())
    except (TypeError, ValueError) as err:
        raise TelzinoValidationError(field, f"not JSON-serializable ({err}); use plain values") from err
    if size > MAX_METADATA_BYTES:
        raise TelzinoValidationError(
            field, f"{size} bytes serialized; the API takes at most {MAX_METADATA_BYTES}, keep ids only"
        )
    return value


def optional_callback_url(field: str, value: object) -> str | None:
    if value is None:
        return None
    parts = urlsplit(str(value))
    if parts.scheme != "https" or not parts.hostname:
        raise TelzinoValidationError(field, "must be an https:// URL the Telzino servers can reach")
    if _is_private_host(parts.hostname):
        raise TelzinoValidationError(field, "points at a private or loopback address, which the API rejects")
    return str(value)


def _is_private_host(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_private or address.is_loopback or address.is_link_local
