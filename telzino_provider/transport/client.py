"""One requests session per hook: timeouts, auth header, retries, and errors that are safe to show."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from telzino_provider import __version__
from telzino_provider.connection import ConnectionSettings
from telzino_provider.exceptions import (
    TelzinoApiError,
    TelzinoCallMayHaveBeenPlacedError,
    TelzinoRequestNotSentError,
    quoted,
)
from telzino_provider.jsonbody import encode_json, json_problem
from telzino_provider.transport.auth import ClientCredentialsToken, StaticToken, TokenSource
from telzino_provider.transport.retry import RETRY_STATUSES, RetryPolicy, past_deadline
from telzino_provider.validation import MAX_CONCURRENCY

log = logging.getLogger(__name__)

USER_AGENT = f"airflow-provider-telzino/{__version__} (+python-requests/{requests.__version__})"
#: Longest slice of the API's own error message quoted as an error's detail.
MAX_DETAIL_CHARS = 200

#: What requests raises for a request it refuses to send (a bad URL, scheme or header), also from
#: ``Session.send`` (the adapter parses the URL again): nothing reached the network.
_NOT_SENDABLE = (
    requests.exceptions.InvalidURL,
    requests.exceptions.InvalidSchema,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidHeader,
    requests.exceptions.URLRequired,
)

#: What stops the interpreter rather than the try: passed on as it is, also mid-create.
_STOPS_PROCESS = (KeyboardInterrupt, SystemExit, GeneratorExit)


class TelzinoTransport:
    """Sends requests to the Telzino API and returns parsed JSON.

    Safe requests (GET, the token exchange) are retried on 429, 5xx, connection errors and read
    timeouts. Creating a call is retried only when it certainly was not placed (429, or a connection
    that never opened): a replayed POST could dial a person twice. Any other end of a create in
    flight raises :class:`TelzinoCallMayHaveBeenPlacedError`, also Airflow stopping the try there
    (``execution_timeout``, SIGTERM, a ``BaseException`` kept as its cause).

    Safe to share between threads (concurrent paging does): the session's connection pool holds a
    connection per worker, the OAuth token cache is locked, and a 429 pauses every thread, not only
    the one that got it (the rate limit is the API's, whoever sends).

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
        # requests keeps 10 connections per host; concurrent paging needs one per worker, or
        # urllib3 discards (and reopens) the surplus with a warning.
        adapter = HTTPAdapter(pool_maxsize=MAX_CONCURRENCY)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self._pause_lock = threading.Lock()
        self._paused_until = 0.0  # time.monotonic() before which no request is sent (429)
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
        """POST a call-placing request. ``describe`` (no secrets) goes into uncertain errors, masked."""
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
        body = _encode_body(json)
        honoured = 0.0  # the end of the latest shared pause this request already waited out
        while True:
            honoured = self._hold(honoured)
            headers = {"Authorization": f"Bearer {self.auth.token()}"} if authenticated else {}
            request = self._prepare(method, url, params, body, headers)
            started = time.monotonic()
            try:
                response = self.session.send(request, **self._send_settings(request))
            except _NOT_SENDABLE as err:
                raise _not_sent(err, url) from None
            except requests.RequestException as err:
                reason = _describe_network_error(err)
                if places_call and not _never_sent(err):
                    raise _maybe_placed(method, path, None, reason, describe) from None
                if retries >= budget:
                    raise _exhausted(method, path, retries, None, reason) from None
                retries += 1
                delay = self._retry_delay(method, path, retries, None, reason)
                self._wait(method, path, retries, budget, reason, delay)
                continue
            except _STOPS_PROCESS:
                raise
            except BaseException as err:
                # Airflow stops a try by raising a BaseException in the task's thread, whatever it
                # is doing (execution_timeout, SIGTERM): mid-create, the API may have the call.
                if places_call:
                    raise _maybe_placed(method, path, None, _interrupted(err), describe) from err
                raise
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
            delay = self._retry_delay(
                method, path, retries, status, _error_detail(response), response.headers.get("Retry-After")
            )
            paused = self._wait(method, path, retries, budget, f"HTTP {status}", delay, status == 429)
            honoured = max(honoured, paused)

    def _prepare(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None,
        body: bytes | None,
        headers: dict[str, str],
    ) -> requests.PreparedRequest:
        """The request as it will go out; whatever requests refuses here was never sent."""
        if body is not None:
            headers = {**headers, "Content-Type": "application/json"}
        try:
            return self.session.prepare_request(
                requests.Request(method, url, params=params, data=body, headers=headers)
            )
        except (requests.RequestException, ValueError) as err:
            raise _not_sent(err, url) from None

    def _send_settings(self, request: requests.PreparedRequest) -> dict[str, Any]:
        """What ``Session.request`` would pass to ``send``: the timeout and the environment's proxy and
        certificate settings (``REQUESTS_CA_BUNDLE``, ``HTTPS_PROXY``, ...)."""
        settings = self.session.merge_environment_settings(request.url, {}, None, None, None)
        return {"timeout": self._timeout, "allow_redirects": True, **settings}

    def _retry_delay(
        self,
        method: str,
        path: str,
        retry: int,
        status: int | None,
        reason: str,
        retry_after: str | None = None,
    ) -> float:
        """Seconds to sleep before retry ``retry``; raises instead when that sleep would end past the
        deadline of the wait this request looks for (see :func:`retries_until`)."""
        delay = self.policy.delay(retry, retry_after)
        deadline = past_deadline(delay)
        if deadline is not None:
            last = f"HTTP {status}" if status is not None else reason
            raise TelzinoApiError(
                method,
                path,
                status,
                f"stopped after {retry} attempts: the next retry, in {delay:.1f} s, would come after "
                f"the wait's deadline; last result: {last} ({reason})",
            )
        return delay

    def _wait(
        self,
        method: str,
        path: str,
        retry: int,
        budget: int,
        reason: str,
        delay: float,
        rate_limited: bool = False,
    ) -> float:
        """Sleep ``delay`` before retry ``retry``; after a 429, make every thread of this transport
        wait too. Returns the end of the shared pause this started (0 if none).
        """
        log.warning(
            "Telzino API %s %s: %s; retry %d of %d in %.1f s", method, path, reason, retry, budget, delay
        )
        until = 0.0
        if rate_limited:
            until = time.monotonic() + delay
            with self._pause_lock:
                self._paused_until = max(self._paused_until, until)
        self._sleep(delay)
        return until

    def _hold(self, honoured: float) -> float:
        """Wait out a pause another thread's 429 started; returns the pause end now honoured."""
        with self._pause_lock:
            until = self._paused_until
        if until <= honoured:
            return honoured
        remaining = until - time.monotonic()
        if remaining > 0:
            log.info("Telzino API rate limited: holding this request %.1f s with the others", remaining)
            self._sleep(remaining)
        return until

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


def _encode_body(value: Any) -> bytes | None:
    """The JSON body as sent (the bytes the metadata size check counts); refused before sending."""
    if value is None:
        return None
    try:
        return encode_json(value)
    except (TypeError, ValueError) as err:
        raise TelzinoRequestNotSentError("body", json_problem(err)) from None


def _not_sent(err: Exception, url: str) -> TelzinoRequestNotSentError:
    """The error for a request requests refused to build or send; never quotes a header value."""
    if isinstance(err, requests.exceptions.InvalidHeader):
        return TelzinoRequestNotSentError(
            "password", "the access token cannot go into an HTTP header; paste it again exactly as issued"
        )
    return TelzinoRequestNotSentError(
        "host",
        f"{url[:200]} is not a URL requests can send to ({type(err).__name__}); check the host and port",
    )


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


def _interrupted(err: BaseException) -> str:
    """The reason for a create stopped while in flight, naming what stopped it."""
    return f"interrupted ({type(err).__name__}: {quoted(err, 200)}) before the answer arrived"


def _error_detail(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.reason or "request failed"
    if isinstance(body, dict):
        for key in ("message", "error_description", "error"):
            if isinstance(body.get(key), str):
                return quoted(body[key], MAX_DETAIL_CHARS)  # masked, then cut
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
