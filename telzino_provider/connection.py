"""The settings read from a ``telzino`` connection, validated before any request."""

from __future__ import annotations

import ipaddress
import math
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urlsplit

from telzino_provider.connection_form import CONN_FIELDS, CONN_TYPE, DEFAULT_AUDIENCE, DEFAULT_BASE_URL
from telzino_provider.exceptions import TelzinoValidationError, quoted

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}
#: What a bearer token may hold to go into an HTTP header unchanged: visible ASCII, no spaces.
_HEADER_TOKEN = re.compile(r"[\x21-\x7e]+")
MAX_PORT = 65535
#: Most retries of one request: more would keep a failing request going for hours.
MAX_RETRIES = 100
BAD_TOKEN = (
    "the access token holds a space, a line break or a non-ASCII character; paste it again exactly as issued"
)


@dataclass(frozen=True)
class ConnectionSettings:
    """What the transport needs, validated; ``repr`` never shows a secret."""

    base_url: str
    access_token: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    audience: str = DEFAULT_AUDIENCE
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    max_retries: int = 5
    max_retry_wait: float = 60.0
    retry_backoff: float = 1.0

    def __repr__(self) -> str:
        return f"ConnectionSettings(base_url={self.base_url!r}, auth={self.auth_mode!r})"

    @property
    def auth_mode(self) -> str:
        return "oauth" if self.client_id else "token"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/oauth/token"

    @classmethod
    def from_connection(cls, conn: Any) -> ConnectionSettings:
        """Read an Airflow ``Connection`` (host, password, extras) into settings."""
        extra = conn.extra_dejson or {}
        values = {name: _extra(extra, name) for name in CONN_FIELDS}
        settings = cls(
            base_url=normalize_base_url(conn.host, conn.port),
            access_token=header_token("password", conn.password),
            client_id=_stripped(values["client_id"]),
            client_secret=_stripped(values["client_secret"]),
            audience=values["audience"] or DEFAULT_AUDIENCE,
            connect_timeout=_number("connect_timeout", values["connect_timeout"], 10.0),
            read_timeout=_number("read_timeout", values["read_timeout"], 30.0),
            max_retries=_whole_number("max_retries", values["max_retries"], 5, MAX_RETRIES),
            max_retry_wait=_number("max_retry_wait", values["max_retry_wait"], 60.0, allow_zero=True),
            retry_backoff=_number("retry_backoff", values["retry_backoff"], 1.0, allow_zero=True),
        )
        settings.check_auth()
        return settings

    def check_auth(self) -> None:
        if self.client_id and not self.client_secret:
            raise TelzinoValidationError("client_secret", "client_id is set; add the matching client secret")
        if self.client_secret and not self.client_id:
            raise TelzinoValidationError("client_id", "client_secret is set; add the matching client id")
        if self.client_id and self.access_token:
            raise TelzinoValidationError(
                "password", "both an access token and OAuth client credentials are set; keep one"
            )
        if not self.client_id and not self.access_token:
            raise TelzinoValidationError(
                "password", "no credentials; set the access token, or the OAuth client id and secret"
            )


def normalize_base_url(host: str | None, port: int | None = None) -> str:
    """The API base URL from the host field; plain http is refused unless the host is loopback."""
    raw = (host or "").strip().rstrip("/")
    if not raw:
        return DEFAULT_BASE_URL
    if "://" not in raw:
        raw = f"https://{raw}"
    parts = urlsplit(raw)
    host_port = _port_of(host, parts)
    if port is not None:
        check_port("port", port)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TelzinoValidationError("host", f"{host!r} is not an http(s) URL; use e.g. {DEFAULT_BASE_URL}")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise TelzinoValidationError(
            "host",
            f"plain http to {parts.hostname} would send the token unencrypted; use https:// "
            "(http is allowed only for loopback hosts such as a local emulator)",
        )
    if parts.path.rstrip("/").endswith("/v1"):
        raise TelzinoValidationError("host", "give the base URL without /v1, e.g. https://api.telzino.com")
    base = raw
    if port and host_port is None:
        base = f"{parts.scheme}://{parts.netloc}:{port}{parts.path}"
    return base


def check_port(field: str, port: object) -> int:
    """A TCP port a request can go to: 1 to 65535 (requests turns 0 into the scheme's default)."""
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= MAX_PORT:
        raise TelzinoValidationError(field, f"{port!r} is not a port; use a number from 1 to {MAX_PORT}")
    return port


def _port_of(host: str | None, parts: SplitResult) -> int | None:
    try:
        port = parts.port
    except ValueError as err:  # "Port out of range 0-65535", "Port could not be cast to integer ..."
        raise TelzinoValidationError(
            "host", f"{host!r} has an impossible port ({err}); use a number from 1 to {MAX_PORT}"
        ) from None
    if port == 0:
        raise TelzinoValidationError("host", f"{host!r} has port 0; use a number from 1 to {MAX_PORT}")
    return port


def header_token(field: str, value: str | None) -> str | None:
    """A bearer token with surrounding whitespace (a pasted line break) removed; None if empty.

    A token with a space, a control character or a non-ASCII character inside cannot be sent in an
    Authorization header as it is, so it is refused here, before any request, without quoting it.
    """
    token = (value or "").strip()
    if token and not _HEADER_TOKEN.fullmatch(token):
        raise TelzinoValidationError(field, BAD_TOKEN)
    return token or None


def _stripped(value: object) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def is_loopback(hostname: str) -> bool:
    if hostname.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(hostname.strip("[]")).is_loopback
    except ValueError:
        return False


def _extra(extra: dict[str, Any], name: str) -> Any:
    # Older Airflow forms store custom fields as extra__<conn_type>__<name>.
    value = extra.get(name)
    if value in (None, ""):
        value = extra.get(f"extra__{CONN_TYPE}__{name}")
    return None if value == "" else value


def _whole_number(field: str, value: Any, default: int, maximum: int) -> int:
    """A count such as retries, exactly as given (``7``, ``7.0``, ``"7"``): 2.5 is refused rather
    than rounded down, ``true`` is no count, and a count past ``maximum`` is refused too."""
    if value is None:
        return default
    number = _integer(value)
    if number is None or not 0 <= number <= maximum:
        raise TelzinoValidationError(
            field, f"{quoted(repr(value), 40)} is not a whole number from 0 to {maximum}; use e.g. {default}"
        )
    return number


def _integer(value: Any) -> int | None:
    """``value`` as the int it is exactly, None when it is no whole number (a bool is none)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:  # "7.0", or no number at all (also an int of more than 4300 digits)
            value = _float(value)
    return int(value) if isinstance(value, float) and value.is_integer() else None


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an int past the float range
        return None


def _number(field: str, value: Any, default: float, *, allow_zero: bool = False) -> float:
    if value is None:
        return default
    number = None if isinstance(value, bool) else _float(value)  # true is not 1 second
    if number is None:
        raise TelzinoValidationError(field, f"{quoted(repr(value), 40)} is not a number")
    if not math.isfinite(number):  # a NaN or infinite timeout would mean no timeout at all
        raise TelzinoValidationError(field, f"{value!r} is not a finite number of seconds or retries")
    if number < 0 or (number == 0 and not allow_zero):
        raise TelzinoValidationError(field, f"{value!r} must be {'>= 0' if allow_zero else '> 0'}")
    return number
