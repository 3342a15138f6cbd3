"""Input checks run before any request; each error names the field and the fix."""

from __future__ import annotations

import ipaddress
import math
import re
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

from telzino_provider.exceptions import TelzinoValidationError
from telzino_provider.jsonbody import encode_json, json_problem
from telzino_provider.statuses import CallStatus

#: ASCII digits only (``\d`` would take any Unicode digit); used with fullmatch (``$`` lets "\n" by).
E164 = re.compile(r"\+[1-9][0-9]{1,14}")
MAX_PAGE_SIZE = 100
#: Most requests one read may have in flight (``max_concurrency``); the API's rate limits are not
#: documented, so this stays modest.
MAX_CONCURRENCY = 16
MAX_CALL_CONTEXT = 4000
MAX_METADATA_BYTES = 16 * 1024
#: The longest timeout, interval or lookback taken: a wait's deadline (now plus a timeout plus the
#: deferral's grace) and a window's start (its end minus a lookback) must stay representable, and
#: ``timedelta.max`` added to anything overflows. Ten years is far beyond any real wait or window.
MAX_DURATION = timedelta(days=3650)


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
    bound = f"from {low} to {high}" if high is not None else f"at least {low}"
    if isinstance(value, bool) or not isinstance(value, int):
        raise TelzinoValidationError(field, f"expected a whole number {bound} (an int), got {value!r}")
    if value < low or (high is not None and value > high):
        raise TelzinoValidationError(field, f"{value} is out of range; use a number {bound}")
    return value


def optional_positive(field: str, value: object) -> int | None:
    return None if value is None else require_int_range(field, value, 1)


def require_count(field: str, value: object) -> int:
    """A whole number of zero or more (a count of tolerated errors, say)."""
    return require_int_range(field, value, 0)


def require_bool(field: str, value: object) -> bool:
    """True or False itself: the string ``"False"`` would otherwise switch a feature on."""
    if not isinstance(value, bool):
        raise TelzinoValidationError(field, f"expected True or False (a bool, not a string), got {value!r}")
    return value


def optional_bool(field: str, value: object) -> bool | None:
    return None if value is None else require_bool(field, value)


def require_number(field: str, value: object) -> float:
    """A finite int or float (no bool, no string, no NaN or infinity)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TelzinoValidationError(field, f"expected a finite number, got {value!r}")
    return float(value)


def require_epoch(field: str, value: object) -> float:
    """A finite number of epoch seconds that is a date (years 1 to 9999), e.g. a trigger's deadline."""
    epoch = require_number(field, value)
    try:
        datetime.fromtimestamp(epoch, tz=timezone.utc)
    except (OverflowError, ValueError, OSError):
        raise TelzinoValidationError(
            field, f"{value!r} epoch seconds is not a date; use a time within the years 1 to 9999"
        ) from None
    return epoch


def require_seconds(field: str, value: object, *, allow_zero: bool = False) -> float:
    """A finite number of seconds, or a timedelta; more than zero unless ``allow_zero``."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TelzinoValidationError(
            field, f"expected a timedelta or a finite number of seconds, got {value!r}"
        )
    else:
        seconds = float(value)
    if seconds < 0 or (seconds == 0 and not allow_zero):
        least = "zero or more" if allow_zero else "more than zero"
        raise TelzinoValidationError(field, f"{value!r} is out of range; use {least} seconds")
    if seconds > MAX_DURATION.total_seconds():
        raise TelzinoValidationError(
            field,
            f"{value!r} is too long: a deadline or window this far away cannot be used; "
            f"use at most {MAX_DURATION.days} days",
        )
    return seconds


def require_duration(field: str, value: object, *, allow_zero: bool = True) -> timedelta:
    """:func:`require_seconds` as a timedelta; zero is allowed unless ``allow_zero=False``."""
    seconds = require_seconds(field, value, allow_zero=allow_zero)
    return value if isinstance(value, timedelta) else timedelta(seconds=seconds)


def optional_duration(field: str, value: object, *, allow_zero: bool = True) -> timedelta | None:
    return None if value is None else require_duration(field, value, allow_zero=allow_zero)


def require_choice(field: str, value: object, choices: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise TelzinoValidationError(field, f"{value!r} is not one of {tuple(choices)}; pick one of them")
    return value


def require_name(field: str, value: object) -> str:
    """A non-empty name such as a connection id (it may still hold a template, rendered later)."""
    if not isinstance(value, str) or not value.strip():
        raise TelzinoValidationError(
            field, f"expected a non-empty name, e.g. 'telzino_default', got {value!r}"
        )
    return value


def require_e164(field: str, value: object) -> str:
    if not isinstance(value, str) or not E164.fullmatch(value.strip()):
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
    """A JSON object of at most 16 KB, counted as the UTF-8 bytes the transport sends."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise TelzinoValidationError(field, f"expected a JSON object (dict), got {type(value).__name__}")
    try:
        size = len(encode_json(value))
    except (TypeError, ValueError) as err:
        raise TelzinoValidationError(field, json_problem(err)) from None
    if size > MAX_METADATA_BYTES:
        raise TelzinoValidationError(
            field, f"{size} bytes serialized; the API takes at most {MAX_METADATA_BYTES}, keep ids only"
        )
    return value


def optional_callback_url(field: str, value: object) -> str | None:
    """An https URL with a valid port whose host is public: what the API accepts for its webhook."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise TelzinoValidationError(field, f"expected a URL as text, got {type(value).__name__}")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as err:
        raise TelzinoValidationError(field, f"not a valid URL ({err}); ports go from 1 to 65535") from None
    if parts.scheme != "https" or not parts.hostname:
        raise TelzinoValidationError(field, "must be an https:// URL the Telzino servers can reach")
    if port == 0:
        raise TelzinoValidationError(field, "port 0 cannot be connected to; use a port from 1 to 65535")
    problem = _non_public_host(parts.hostname)
    if problem:
        raise TelzinoValidationError(field, f"{parts.hostname!r} is {problem}, which the API rejects")
    return value


#: Name suffixes that never resolve to a public address (RFC 6761, 6762, 8375; ICANN's .internal).
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".home.arpa")
#: A last label that resolvers read as a number: the host is an IPv4 address in another form.
_NUMERIC_LABEL = re.compile(r"0x[0-9a-f]*|[0-9]+")


def _non_public_host(hostname: str) -> str | None:
    """Why a callback host is not public, or None. Names are not resolved (no network needed)."""
    name = hostname.lower().rstrip(".")
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        address = None
    if address is not None:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        # is_global excludes private, loopback, link-local, shared (100.64.0.0/10) and reserved ranges.
        return None if address.is_global else "not a public address"
    if _NUMERIC_LABEL.fullmatch(name.rsplit(".", 1)[-1]):
        return "an IP address not written as four decimal numbers (2130706433 is 127.0.0.1)"
    if name == "localhost" or name.endswith(_LOCAL_SUFFIXES) or "." not in name:
        return "a local name"
    return None
