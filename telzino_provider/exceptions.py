"""Errors raised by the provider."""

from __future__ import annotations

from telzino_provider.redaction import mask_phones_in_text
from telzino_provider.version_compat import AirflowException, AirflowFailException

#: Longest slice of a response body quoted in an error message.
MAX_BODY_CHARS = 300
#: Longest slice of another error's text quoted in a message (its own body is cut already).
MAX_ERROR_CHARS = 1000

#: What a number is made of: the first cut of a long text moves past them.
_NUMBER_CHARS = frozenset("+0123456789")

_HINTS = {
    401: "check the connection's access token or OAuth client id/secret",
    403: "check that these credentials may use this agent",
    404: "check the agent id and call id, and that the host is the API base URL without /v1",
}


def truncate_body(body: str | bytes | None, limit: int = MAX_BODY_CHARS) -> str:
    """A response body (or any quoted text) cut to ``limit`` characters, phone numbers masked."""
    if body is None:
        return ""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    text = " ".join(text.split())
    if len(text) <= limit:
        return mask_phones_in_text(text)
    # Masked before the cut: a cut through a number leaves too few digits for the mask's pattern, and
    # those in clear. Only a little past the limit is masked (to the end of a number there), so a
    # 16 KB body costs about what a short one does.
    end = limit * 2 + 64
    while end < len(text) and text[end] in _NUMBER_CHARS:
        end += 1
    return mask_phones_in_text(text[:end])[:limit] + "...(truncated)"


def quoted(value: object, limit: int = MAX_BODY_CHARS) -> str:
    """Any value (the API's ``error`` text, an exception, an event) as text fit for a message or a
    log line: one line, at most ``limit`` characters, phone numbers masked."""
    return truncate_body(value if isinstance(value, (str, bytes)) else str(value), limit)


class TelzinoValidationError(ValueError):
    """Bad input, caught before any request is sent. The message names the field and the fix."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        super().__init__(f"{field}: {problem}")


class TelzinoApiError(AirflowException):
    """A request to the Telzino API failed.

    :param method: HTTP method of the failed request.
    :param path: URL path (no query string, no secrets).
    :param status_code: HTTP status, or None when no response arrived.
    :param detail: what happened; phone numbers in it are masked (it may quote the API's text).
    :param body: the response body; at most ``MAX_BODY_CHARS`` of it is quoted, numbers masked.
    """

    def __init__(
        self,
        method: str,
        path: str,
        status_code: int | None,
        detail: str,
        body: str | bytes | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.status_code = status_code  # type: ignore[assignment]
        parts = [f"Telzino API {method} {path}"]
        parts.append(f"returned HTTP {status_code}" if status_code is not None else "got no response")
        message = f"{' '.join(parts)}: {mask_phones_in_text(detail)}"
        if status_code in _HINTS:
            message += f" ({_HINTS[status_code]})"
        quoted = truncate_body(body)
        if quoted:
            message += f". Response body: {quoted}"
        super().__init__(message)


class TelzinoCallMayHaveBeenPlacedError(TelzinoApiError, AirflowFailException):
    """Creating a call failed in a way that does not prove the call was not placed.

    Never retried automatically: a second POST could dial the person twice. It is also an
    ``AirflowFailException``, so the task that raises it fails without Airflow's retries, whatever
    ``retries`` says: the API may list the call only later, and a retry that looked too early would
    dial again. A person decides when to clear the task (the create operator then looks again).
    """


class TelzinoRequestNotSentError(TelzinoValidationError):
    """``requests`` refused to build the request (a header, the URL or the body), so nothing was sent.

    Never retried, never counted as a transient error, never "may have been placed": the server saw
    nothing. ``field`` names the setting or argument to fix.
    """

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(field, f"the request could not be built, so nothing was sent: {problem}")


class TelzinoCallPlacedWithoutIdError(TelzinoApiError, AirflowFailException):
    """The API accepted a create (2xx) but its answer carries no call id.

    The call was placed, and nothing can wait on it; a retry might not find it yet and dial again, so
    the task fails without Airflow's retries. Clearing the task looks for the call (by its correlation
    key) before dialling.
    """

    def __init__(self, method: str, path: str) -> None:
        self.method = method
        self.path = path
        self.status_code = None  # type: ignore[assignment]  # a 2xx whose code the transport keeps
        AirflowFailException.__init__(
            self,
            f"Telzino API {method} {path} accepted the create (2xx) but its answer has no call 'id'. "
            "The call WAS PLACED; the task fails without retries so that no retry dials again. Find the "
            "call in the agent's call list (metadata key 'airflow'); clearing the task looks for it "
            "before dialling",
        )
