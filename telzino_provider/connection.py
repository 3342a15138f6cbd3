"""The settings read from a ``telzino`` connection, validated before any request."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from telzino_provider.connection_form import CONN_FIELDS, CONN_TYPE, DEFAULT_AUDIENCE, DEFAULT_BASE_URL
from telzino_provider.exceptions import TelzinoValidationError

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}


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
            access_token=(conn.password or None),
            client_id=values["client_id"] or None,
            client_secret=values["client_secret"] or None,
            audience=values["audience"] or DEFAULT_AUDIENCE,
            connect_timeout=_number("connect_timeout", values["connect_timeout"], 10.0),
            read_timeout=_number("read_timeout", values["read_timeout"], 30.0),
            max_retries=int(_number("max_retries", values["max_retries"], 5, allow_zero=True)),
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
    if port and parts.port is None:
        base = f"{parts.scheme}://{parts.netloc}:{port}{parts.path}"
    return base


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


def _number(field: str, value: Any, default: float, *, allow_zero: bool = False) -> float:
    if value is None:
        return default
    try:
        number = float(value)
    except (TypeError, ValueError) as err:
        raise TelzinoValidationError(field, f"{value!r} is not a number") from err
    if number < 0 or (number == 0 and not allow_zero):
        raise TelzinoValidationError(field, f"{value!r} must be {'>= 0' if allow_zero else '> 0'}")
    return number
