"""Retries, timeouts, auth and error messages, against the emulator over real HTTP."""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from telzino_provider.connection import ConnectionSettings
from telzino_provider.emulator import OUTCOME_NUMBERS
from telzino_provider.exceptions import (
    TelzinoApiError,
    TelzinoCallMayHaveBeenPlacedError,
    TelzinoRequestNotSentError,
)
from telzino_provider.transport import TelzinoTransport
from telzino_provider.transport.retry import RetryPolicy, parse_retry_after, retries_until


class Sleeps(list):
    """Records the waits the transport asks for, and waits a token amount so time still passes."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def transport_for(emulator, *, oauth=False, sleep=None, **overrides) -> TelzinoTransport:
    fields: dict = {"base_url": emulator.base_url, "retry_backoff": 0.01, "max_retry_wait": 5.0}
    if oauth:
        fields.update(client_id=emulator.client_id, client_secret=emulator.client_secret)
    else:
        fields["access_token"] = emulator.token
    fields.update(overrides)
    return TelzinoTransport(ConnectionSettings(**fields), sleep=sleep if sleep is not None else Sleeps())


def agents_path(emulator) -> str:
    return f"/v1/agents/{emulator.agent_id}/outbound-calls"


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_get_retries_transient_statuses(emulator, status):
    sleeps = Sleeps()
    transport = transport_for(emulator, sleep=sleeps)
    emulator.fail_next(2, status=status)
    body = transport.get(agents_path(emulator), {"limit": 5})
    assert body["pagination"]["page"] == 1
    assert [r.status for r in emulator.requests] == [status, status, 200]
    assert len(sleeps) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_get_does_not_retry_client_errors(emulator, status):
    transport = transport_for(emulator)
    emulator.fail_next(1, status=status, body='{"error": "nope", "message": "bad thing"}')
    with pytest.raises(TelzinoApiError) as err:
        transport.get(agents_path(emulator))
    assert err.value.status_code == status
    assert emulator.count_requests() == 1
    assert f"GET {agents_path(emulator)} returned HTTP {status}: bad thing" in str(err.value)


def test_retry_after_seconds_is_honoured(emulator):
    sleeps = Sleeps()
    emulator.fail_next(1, status=429, retry_after="3")
    transport_for(emulator, sleep=sleeps).get(agents_path(emulator))
    assert sleeps == [3.0]


def test_retry_after_http_date_is_honoured_and_capped(emulator):
    sleeps = Sleeps()
    soon = datetime.now(timezone.utc) + timedelta(seconds=4)
    emulator.fail_next(1, status=503, retry_after=format_datetime(soon, usegmt=True))
    emulator.fail_next(1, status=503, retry_after="600")
    transport_for(emulator, sleep=sleeps, max_retry_wait=5.0).get(agents_path(emulator))
    assert 2.0 <= sleeps[0] <= 4.0
    assert sleeps[1] == 5.0  # the connection's cap wins over a long Retry-After


def test_real_wait_follows_retry_after(emulator):
    emulator.fail_next(1, status=429, retry_after="1")
    transport = transport_for(emulator, sleep=time.sleep)
    started = time.monotonic()
    transport.get(agents_path(emulator))
    assert time.monotonic() - started >= 1.0


def test_backoff_grows_and_is_capped():
    policy = RetryPolicy(max_retries=10, max_wait=8.0, backoff=1.0)
    for retry, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (8, 8.0)]:
        delays = [policy.delay(retry) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1  # jittered
    assert parse_retry_after("garbage") is None
    assert parse_retry_after(None) is None


def test_exhausted_budget_says_attempts_and_last_status(emulator):
    emulator.fail_next(10, status=503)
    transport = transport_for(emulator, max_retries=3)
    with pytest.raises(TelzinoApiError, match=r"gave up after 4 attempts; last result: HTTP 503") as err:
        transport.get(agents_path(emulator))
    assert err.value.status_code == 503
    assert emulator.count_requests() == 4


def test_read_timeout_is_retried_for_get(emulator):
    emulator.hang_next(1, 1.0)
    transport = transport_for(emulator, read_timeout=0.3)
    body = transport.get(agents_path(emulator))
    assert "data" in body
    time.sleep(1.0)  # the hung request is logged when it finally answers
    assert emulator.count_requests(method="GET") == 2


def test_unreachable_host_gives_clear_error():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens once closed
    settings = ConnectionSettings(
        base_url=f"http://127.0.0.1:{port}", access_token="t0ken-value", max_retries=2, retry_backoff=0.01
    )
    with pytest.raises(TelzinoApiError, match="gave up after 3 attempts; last result: connection refused"):
        TelzinoTransport(settings, sleep=Sleeps()).get("/v1/agents")


def test_malformed_json_is_a_clear_error(emulator):
    emulator.malformed_next(1)
    with pytest.raises(TelzinoApiError, match="not valid JSON"):
        transport_for(emulator).get(agents_path(emulator))


def test_error_body_is_truncated(emulator):
    emulator.fail_next(1, status=400, body="x" * 5000)
    with pytest.raises(TelzinoApiError) as err:
        transport_for(emulator).get(agents_path(emulator))
    assert "x" * 300 + "...(truncated)" in str(err.value)
    assert "x" * 301 not in str(err.value)


# A short national number (8 digits) has only 2 digits the mask pattern does not need: a cut through
# it before masking would leave 6 of its 8 digits in clear.
SHORT_NUMBER = "+35312345"


def test_api_message_is_masked_before_it_is_cut(emulator):
    message = "x" * 193 + SHORT_NUMBER + " is blocked"  # the 200-character cut falls inside the number
    emulator.fail_next(1, status=400, body=json.dumps({"message": message}))
    with pytest.raises(TelzinoApiError) as err:
        transport_for(emulator).get(agents_path(emulator))
    assert "+353123" not in str(err.value) and "x" * 193 + "+35*" in str(err.value)


def test_error_body_is_masked_before_it_is_cut(emulator):
    # Indented bodies shrink when their whitespace is folded: the cut falls inside the number.
    emulator.fail_next(1, status=400, body=" " * 657 + SHORT_NUMBER + " is blocked " + "y" * 5000)
    with pytest.raises(TelzinoApiError) as err:
        transport_for(emulator).get(agents_path(emulator))
    assert "+353123" not in str(err.value) and "+35*****5 is blocked y" in str(err.value)
    assert str(err.value).endswith("...(truncated)")


# -- creating calls: never twice -------------------------------------------------------------


def create(transport, emulator):
    body = {"to_number": OUTCOME_NUMBERS["completed"], "metadata": {"crm_id": "42"}}
    return transport.create(agents_path(emulator), body, describe="a call with metadata {'crm_id': '42'}")


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_create_is_not_retried_after_server_error(emulator, status):
    emulator.fail_next(1, status=status, method="POST")
    with pytest.raises(TelzinoCallMayHaveBeenPlacedError, match="MAY HAVE BEEN PLACED") as err:
        create(transport_for(emulator), emulator)
    assert "crm_id" in str(err.value)
    assert emulator.count_requests(method="POST") == 1


def test_create_is_not_retried_after_read_timeout(emulator):
    emulator.hang_next(1, 2.0)
    with pytest.raises(TelzinoCallMayHaveBeenPlacedError, match="read timeout"):
        create(transport_for(emulator, read_timeout=0.3), emulator)
    time.sleep(1.9)  # let the hung request finish so the log is complete
    assert emulator.count_requests(method="POST") == 1


def test_create_is_not_retried_after_lost_response(emulator):
    emulator.drop_next_post_response()
    with pytest.raises(TelzinoCallMayHaveBeenPlacedError):
        create(transport_for(emulator), emulator)
    assert emulator.count_requests(method="POST") == 1
    assert len(emulator.calls()) == 1  # it was placed, exactly once


class _Stopped(BaseException):
    """Stands for what Airflow raises to stop a try (AirflowTaskTimeout, AirflowTaskTerminated)."""


@contextlib.contextmanager
def _raised_in(seconds: float, error: type[BaseException]) -> Iterator[None]:
    """``error`` raised in this thread ``seconds`` from now, mid-request, as a signal handler does."""

    def handler(signum: int, frame: object) -> None:
        raise error("stopped")

    previous = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_a_create_stopped_in_flight_may_have_placed_the_call(emulator):
    emulator.hang_next(1, 1.5)
    stopped = r"interrupted \(_Stopped: stopped\)"
    with pytest.raises(TelzinoCallMayHaveBeenPlacedError, match=stopped) as err, _raised_in(0.3, _Stopped):
        create(transport_for(emulator), emulator)
    assert isinstance(err.value.__cause__, _Stopped)


@pytest.mark.parametrize("error", [KeyboardInterrupt, SystemExit])
def test_the_interpreter_stopping_mid_create_passes_unchanged(emulator, error):
    emulator.hang_next(1, 1.5)
    with pytest.raises(error), _raised_in(0.3, error):
        create(transport_for(emulator), emulator)


def test_a_get_stopped_in_flight_passes_unchanged(emulator):
    emulator.hang_next(1, 1.5)
    with pytest.raises(_Stopped), _raised_in(0.3, _Stopped):
        transport_for(emulator).get(agents_path(emulator))


def test_create_is_retried_after_429(emulator):
    sleeps = Sleeps()
    emulator.fail_next(1, status=429, retry_after="1", method="POST")
    created = create(transport_for(emulator, sleep=sleeps), emulator)
    assert created["status"] == "queued"
    assert emulator.count_requests(method="POST") == 2
    assert sleeps == [1.0]
    assert [c["id"] for c in emulator.calls()] == [created["id"]]


def test_create_on_refused_connection_is_retried_not_flagged():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = ConnectionSettings(
        base_url=f"http://127.0.0.1:{port}", access_token="t0ken-value", max_retries=1, retry_backoff=0.01
    )
    transport = TelzinoTransport(settings, sleep=Sleeps())
    with pytest.raises(TelzinoApiError) as err:
        transport.create("/v1/agents/x/outbound-calls", {"to_number": "+18135550100"}, describe="a call")
    assert not isinstance(err.value, TelzinoCallMayHaveBeenPlacedError)
    assert "gave up after 2 attempts" in str(err.value)


# -- auth ------------------------------------------------------------------------------------


def test_static_token_rejected_says_what_to_check(emulator):
    transport = transport_for(emulator, access_token="not-the-token")
    with pytest.raises(TelzinoApiError, match="HTTP 401.*check the connection's access token") as err:
        transport.get(agents_path(emulator))
    assert err.value.status_code == 401
    assert emulator.count_requests() == 1


def test_oauth_token_is_fetched_once_and_shared(emulator):
    first = transport_for(emulator, oauth=True)
    second = transport_for(emulator, oauth=True)
    for transport in (first, second, first):
        transport.get(agents_path(emulator))
    assert emulator.count_requests(path_prefix="/oauth/token") == 1
    token_request = next(r for r in emulator.requests if r.path == "/oauth/token")
    assert token_request.body["grant_type"] == "client_credentials"
    assert token_request.body["audience"] == "https://api.telzino.com/"


def test_oauth_token_renewed_after_401(emulator):
    transport = transport_for(emulator, oauth=True)
    transport.get(agents_path(emulator))
    emulator.expire_tokens()
    transport.get(agents_path(emulator))
    assert emulator.count_requests(path_prefix="/oauth/token") == 2
    assert [r.status for r in emulator.requests if r.path != "/oauth/token"] == [200, 401, 200]


def test_oauth_token_renewed_before_expiry(emulator):
    emulator.token_ttl = 2
    transport = transport_for(emulator, oauth=True)
    transport.get(agents_path(emulator))
    time.sleep(2.0)  # renewal is due at 90% of the lifetime
    transport.get(agents_path(emulator))
    assert emulator.count_requests(path_prefix="/oauth/token") == 2
    assert all(r.status == 200 for r in emulator.requests)


def test_bad_client_credentials(emulator):
    transport = transport_for(emulator, oauth=True, client_secret="wrong-secret")
    with pytest.raises(TelzinoApiError, match=r"POST /oauth/token returned HTTP 401") as err:
        transport.get(agents_path(emulator))
    assert "wrong-secret" not in str(err.value)


def test_secrets_never_logged_at_debug(emulator, caplog):
    caplog.set_level(logging.DEBUG)
    static = transport_for(emulator)
    oauth = transport_for(emulator, oauth=True)
    emulator.fail_next(1, status=503)
    static.get(agents_path(emulator))
    oauth.get(agents_path(emulator))
    emulator.expire_tokens()
    oauth.get(agents_path(emulator))
    issued = [r for r in emulator.requests if r.path == "/oauth/token"]
    assert len(issued) == 2
    assert "Telzino API GET" in caplog.text  # the transport did log
    for secret in (emulator.token, emulator.client_secret):
        assert secret not in caplog.text
    for header in (r.headers.get("Authorization", "") for r in emulator.requests):
        if header:
            assert header.split(" ", 1)[1] not in caplog.text


def test_user_agent_names_the_provider(emulator):
    transport_for(emulator).get(agents_path(emulator))
    assert emulator.requests[0].headers["User-Agent"].startswith("airflow-provider-telzino/")


# -- requests that cannot be built are never sent, retried or called "maybe placed" --------------


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"access_token": "t0ken\nvalue"}, "password"),
        ({"access_token": "t0ken-vålue"}, "password"),
        ({"base_url": "http://127.0.0.1:99999"}, "host"),
        ({"base_url": "http://127.0.0.1:abc"}, "host"),
    ],
    ids=["newline-in-token", "non-ascii-token", "port-out-of-range", "port-not-a-number"],
)
@pytest.mark.parametrize("method", ["get", "create"])
def test_a_request_that_cannot_be_built_is_refused_not_retried(emulator, overrides, field, method):
    sleeps = Sleeps()
    transport = transport_for(emulator, sleep=sleeps, max_retries=3, **overrides)
    with pytest.raises(TelzinoRequestNotSentError) as err:
        if method == "get":
            transport.get(agents_path(emulator))
        else:
            create(transport, emulator)
    assert err.value.field == field and "nothing was sent" in str(err.value)
    assert not isinstance(err.value, TelzinoApiError)  # so no wait counts it as a transient error
    assert "t0ken" not in str(err.value)
    assert sleeps == [] and emulator.requests == []


@pytest.mark.parametrize("number", [float("nan"), float("inf")])
def test_a_body_json_cannot_carry_is_refused_before_sending(emulator, number):
    sleeps = Sleeps()
    transport = transport_for(emulator, sleep=sleeps)
    with pytest.raises(TelzinoRequestNotSentError, match="nothing was sent") as err:
        transport.create(agents_path(emulator), {"metadata": {"score": number}}, describe="a call")
    assert not isinstance(err.value, TelzinoCallMayHaveBeenPlacedError)
    assert sleeps == [] and emulator.requests == []


def test_json_body_is_sent_as_utf8(emulator):
    note = "予約確認" * 750
    created = transport_for(emulator).create(
        agents_path(emulator),
        {"to_number": OUTCOME_NUMBERS["completed"], "metadata": {"note": note}},
        describe="a call",
    )
    post = next(r for r in emulator.requests if r.method == "POST")
    assert post.body["metadata"] == {"note": note} and created["status"] == "queued"
    assert post.headers["Content-Type"] == "application/json"
    assert int(post.headers["Content-Length"]) < 9100  # UTF-8, not 18 KB of \\u escapes


def test_no_retry_starts_that_would_end_past_the_looks_deadline(emulator):
    sleeps = Sleeps()
    emulator.fail_next(10, status=503, retry_after="3")
    transport = transport_for(emulator, sleep=sleeps)
    with retries_until(time.time() + 2), pytest.raises(TelzinoApiError) as err:
        transport.get(agents_path(emulator))
    assert "the next retry, in 3.0 s, would come after the wait's deadline" in str(err.value)
    assert "stopped after 1 attempts" in str(err.value) and err.value.status_code == 503
    assert emulator.count_requests() == 1 and sleeps == []


def test_retries_that_end_before_the_deadline_are_made(emulator):
    sleeps = Sleeps()  # records instead of sleeping: the clock does not move
    emulator.fail_next(2, status=503, retry_after="3")
    with retries_until(time.time() + 10):
        transport_for(emulator, sleep=sleeps).get(agents_path(emulator))
    assert sleeps == [3.0, 3.0] and emulator.count_requests() == 3
    # outside the block, no deadline is left behind
    emulator.fail_next(1, status=503, retry_after="30")
    transport_for(emulator, sleep=sleeps, max_retry_wait=60.0).get(agents_path(emulator))
    assert sleeps[-1] == 30.0
