"""One requests session per hook: timeouts, auth header, retries, and errors that are safe to show."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import requests
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from telzino_provider import __version__
from telzino_provider.connection import ConnectionSettings
from telzino_provider.exceptions import (
    TelzinoApiError,
    TelzinoCallMayHaveBeenPlacedError,
)
from telzino_provider.transport.auth import ClientCredentialsToken, StaticToken, TokenSource
from telzino_provider.transport.retry import RETRY_STATUSES, RetryPolicy

log = logging.getLogger(__name__)

USER_AGENT = f"airflow-provider-telzino/{__version__} (+python-requests/{requests.__version__})"


class TelzinoTransport:
    """Sends requests to the Telzino API and returns parsed JSON.

    Safe requests (GET, the token exchange) are retried on 429, 5xx, connection errors and read
    timeouts. Creating a call is retried only when it certainly was not placed (429, or a connection
    that never opened): a replayed POST could dial a person twice.

    :param settings: the validated connection settings.
    :param sleep: how to wait between retries (tests may pass a recorder).
    """

    def __init__(
        self,
        settings: ConnectionSettings,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.policy = RetryPolicy(settings.max_retries, settings.max_retry_wait, settings.retry_backoff)
        self._sleep = sleep
        self._timeout = (settings.connect_timeout, settings.read_timeout)
        self.session = requests.Session()
        self.session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
        self.auth = self._token_source(settings)

    def _token_source(self, settings: ConnectionSettings) -> TokenSource:
        if settings.client_id and settings.client_secret:
            return ClientCredentialsToken(
                settings.token_url,
                settings.client_id,
                settings.client_secret,
                settings.audience,
                fetch=lambda body: self._send("POST", "/oauth/token", json=body, authenticated=False),
            )
        return StaticToken(settings.access_token or "")

    def close(self) -> None:
        self.session.close()

    def get(self, path: str, params: Mapping[str, Any] | None = None, *, retry: bool = True) -> Any:
        """GET ``path`` and return its JSON; ``retry=False`` makes a single attempt."""
        return self._send("GET", path, params=params, max_retries=None if retry else 0)

    def create(self, path: str, body: Mapping[str, Any], *, describe: str) -> Any:
        """POST a call-placing request. ``describe`` (no secrets, no phone) goes into uncertain errors."""
        return self._send("POST", path, json=body, places_call=True, describe=describe)

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        authenticated: bool = True,
        places_call: bool = False,
        describe: str = "",
        max_retries: int | None = None,
    ) -> Any:
        budget = self.policy.max_retries if max_retries is None else max_retries
        url = self.settings.base_url + path
        retries = 0
        renewed = False
        while True:
            headers = {"Authorization": f"Bearer {self.auth.token()}"} if authenticated else {}
            started = time.monotonic()
            try:
                response = self.session.request(
                    method, url, params=params, json=json, headers=headers, timeout=self._timeout
                )
            except requests.RequestException as err:
                reason = _describe_network_error(err)
                if places_call and not _never_sent(err):
                    raise _maybe_placed(method, path, None, reason, describe) from None
                if retries >= budget:
                    raise _exhausted(method, path, retries, None, reason) from None
                retries += 1
                self._wait(method, path, retries, budget, reason, None)
                continue
            log.debug(
                "Telzino API %s %s -> %s in %.0f ms",
                method,
                path,
                response.status_code,
                (time.monotonic() - started) * 1000,
            )
            status = response.status_code
            if status == 401 and authenticated and not renewed:
                renewed = True
                if self.auth.renew_after_401(headers["Authorization"][7:]):
                    continue
            if status < 300:
                return self._parse(method, path, response, places_call, describe)
            retryable = status in RETRY_STATUSES and (not places_call or status == 429)
            if places_call and status >= 500:
                raise _maybe_placed(method, path, status, "server error", describe, response.text)
            if not retryable:
                raise TelzinoApiError(method, path, status, _error_detail(response), response.text)
            if retries >= budget:
                raise _exhausted(method, path, retries, status, _error_detail(response), response.text)
            retries += 1
            self._wait(method, path, retries, budget, f"HTTP {status}", response.headers.get("Retry-After"))

    def _wait(
        self, method: str, path: str, retry: int, budget: int, reason: str, retry_after: str | None
    ) -> None:
        delay = self.policy.delay(retry, retry_after)
        log.warning(
            "Telzino API %s %s: %s; retry %d of %d in %.1f s", method, path, reason, retry, budget, delay
        )
        self._sleep(delay)

    @staticmethod
    def _parse(method: str, path: str, response: requests.Response, places_call: bool, describe: str) -> Any:
        try:
            return response.json()
        except ValueError:
            if places_call:
                raise _maybe_placed(
                    method, path, response.status_code, "unreadable response", describe, response.text
                ) from None
            raise TelzinoApiError(
                method, path, response.status_code, "the response is not valid JSON", response.text
            ) from None


def _never_sent(err: requests.RequestException) -> bool:
    """True when the connection never opened, so the server cannot have seen the request."""
    if isinstance(err, requests.exceptions.ConnectTimeout):
        return True
    reason = getattr(err.args[0], "reason", None) if err.args else None
    return isinstance(reason, (NewConnectionError, ConnectTimeoutError))


def _describe_network_error(err: requests.RequestException) -> str:
    if isinstance(err, requests.exceptions.ConnectTimeout):
        return "connect timeout"
    if isinstance(err, requests.exceptions.ReadTimeout):
        return "read timeout"
    if _never_sent(err):
        return "connection refused"
    return f"connection error ({type(err).__name__})"


def _error_detail(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.reason or "request failed"
    if isinstance(body, dict):
        for key in ("message", "error_description", "error"):
            if isinstance(body.get(key), str):
                return str(body[key])[:200]
    return response.reason or "request failed"


def _exhausted(
    method: str, path: str, retries: int, status: int | None, reason: str, body: str | None = None
) -> TelzinoApiError:
    last = f"HTTP {status}" if status is not None else reason
    return TelzinoApiError(
        method, path, status, f"gave up after {retries + 1} attempts; last result: {last} ({reason})", body
    )


def _maybe_placed(
    method: str, path: str, status: int | None, reason: str, describe: str, body: str | None = None
) -> TelzinoCallMayHaveBeenPlacedError:
    return TelzinoCallMayHaveBeenPlacedError(
        method,
        path,
        status,
        f"{reason}; the call MAY HAVE BEEN PLACED, so it was not sent again and the task is not "
        f"retried. Check the agent's recent calls for {describe}; the API may list it only after a "
        "while. Once you have checked, clearing the task looks for the call again before dialling",
        body,
    )
