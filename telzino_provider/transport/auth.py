"""Bearer tokens: a static one from the connection, or OAuth2 client credentials cached per process."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from telzino_provider.connection import BAD_TOKEN, header_token
from telzino_provider.exceptions import TelzinoApiError, TelzinoRequestNotSentError, TelzinoValidationError
from telzino_provider.version_compat import mask_secret

#: Renew this long before expiry, so a token never runs out mid-request.
RENEW_MARGIN_SECONDS = 300.0
#: For short-lived tokens, renew once this share of the lifetime is left instead.
RENEW_MARGIN_SHARE = 0.1


class TokenSource(Protocol):
    def token(self) -> str: ...

    def renew_after_401(self, rejected: str) -> bool:
        """Drop a token the server rejected; True if asking again may give a different one."""
        ...


class StaticToken:
    def __init__(self, token: str) -> None:
        mask_secret(token)
        self._token = token

    def token(self) -> str:
        """The token, stripped; one that cannot go into a header is refused before any request."""
        try:
            return header_token("password", self._token) or ""
        except TelzinoValidationError:
            raise TelzinoRequestNotSentError("password", BAD_TOKEN) from None

    def renew_after_401(self, rejected: str) -> bool:
        return False


@dataclass
class _CachedToken:
    value: str
    renew_at: float


_Key = tuple[str, str, str, str]

# One cache per process, shared by every hook using the same credentials. _CACHE_LOCK is held only
# to read or write the dicts, never during a request: a slow token endpoint for one connection must
# not stall another (a triggerer serves many). Each credential has its own lock for its token
# request, so threads needing the same token wait for one request instead of each sending one.
_CACHE: dict[_Key, _CachedToken] = {}
_FETCH_LOCKS: dict[_Key, threading.Lock] = {}
_CACHE_LOCK = threading.Lock()


def clear_token_cache() -> None:
    with _CACHE_LOCK:
        _CACHE.clear()


def _cached(key: _Key) -> str | None:
    """The cached token for ``key`` while it is not due for renewal."""
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
    return cached.value if cached and time.monotonic() < cached.renew_at else None


def _fetch_lock(key: _Key) -> threading.Lock:
    with _CACHE_LOCK:
        return _FETCH_LOCKS.setdefault(key, threading.Lock())


class ClientCredentialsToken:
    """Exchanges client id and secret at POST /oauth/token; cached until shortly before ``expires_in``.

    :param fetch: sends the token request body and returns the parsed JSON response.
    """

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        audience: str,
        fetch: Callable[[dict[str, str]], Any],
    ) -> None:
        mask_secret(client_secret)
        secret_digest = hashlib.sha256(client_secret.encode()).hexdigest()
        self._key: _Key = (token_url, client_id, audience, secret_digest)
        self._body = {
            "client_id": client_id,
            "client_secret": client_secret,
            "audience": audience,
            "grant_type": "client_credentials",
        }
        self._fetch = fetch

    def token(self) -> str:
        cached = _cached(self._key)
        if cached is not None:
            return cached
        with _fetch_lock(self._key):
            cached = _cached(self._key)  # another thread may have fetched it while this one waited
            if cached is not None:
                return cached
            fresh = self._request_token()
            with _CACHE_LOCK:
                _CACHE[self._key] = fresh
            return fresh.value

    def renew_after_401(self, rejected: str) -> bool:
        with _CACHE_LOCK:
            cached = _CACHE.get(self._key)
            if cached and cached.value == rejected:
                del _CACHE[self._key]
        return True

    def _request_token(self) -> _CachedToken:
        payload = self._fetch(self._body)
        value = payload.get("access_token") if isinstance(payload, dict) else None
        if not isinstance(value, str) or not value:
            raise TelzinoApiError("POST", "/oauth/token", 200, "the response has no access_token")
        mask_secret(value)
        try:
            value = header_token("access_token", value) or ""
        except TelzinoValidationError:
            raise TelzinoApiError(
                "POST", "/oauth/token", 200, "the access_token returned cannot go into an HTTP header"
            ) from None
        lifetime = _as_seconds(payload.get("expires_in"))
        margin = min(RENEW_MARGIN_SECONDS, lifetime * RENEW_MARGIN_SHARE)
        return _CachedToken(value=value, renew_at=time.monotonic() + lifetime - margin)


def _as_seconds(value: object) -> float:
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 3600.0  # undocumented absence: assume an hour, renew after 401 anyway
    return max(seconds, 1.0)
