"""One TelzinoTransport shared by several threads (concurrent paging): pause, token cache, pool."""

from __future__ import annotations

import logging
import threading
import time

from tests.transport.test_client import agents_path, transport_for


def wait_until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.005)


def test_a_429_pauses_every_thread_not_only_the_one_that_got_it(emulator):
    release = threading.Event()
    waits: list[tuple[str, float]] = []

    def sleep(seconds: float) -> None:
        waits.append((threading.current_thread().name, seconds))
        release.wait(5)

    transport = transport_for(emulator, sleep=sleep)
    emulator.fail_next(1, status=429, retry_after="4")
    first = threading.Thread(target=transport.get, args=(agents_path(emulator),), name="first")
    second = threading.Thread(target=transport.get, args=(agents_path(emulator),), name="second")
    try:
        first.start()
        wait_until(lambda: len(waits) == 1)
        second.start()
        wait_until(lambda: len(waits) == 2)

        assert waits[0] == ("first", 4.0)
        assert waits[1][0] == "second" and 3.0 < waits[1][1] <= 4.0
        assert emulator.count_requests() == 1  # the second thread has sent nothing yet
    finally:
        release.set()
        first.join(5)
        second.join(5)
    assert [r.status for r in emulator.requests] == [429, 200, 200]


def test_a_server_error_does_not_pause_the_other_threads(emulator):
    sleeps: list[float] = []
    transport = transport_for(emulator, sleep=sleeps.append)
    emulator.fail_next(1, status=503, retry_after="4")
    transport.get(agents_path(emulator))
    transport.get(agents_path(emulator))
    assert sleeps == [4.0]  # only the retry itself waited


def test_threads_share_one_token_renewal(emulator):
    transport = transport_for(emulator, oauth=True)
    transport.get(agents_path(emulator))
    emulator.expire_tokens()
    start = threading.Barrier(8)
    errors: list[BaseException] = []

    def read() -> None:
        start.wait()
        try:
            transport.get(agents_path(emulator))
        except BaseException as err:  # reported below
            errors.append(err)

    threads = [threading.Thread(target=read) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert not errors
    assert emulator.count_requests("POST", "/oauth/token") == 2  # the first token and one renewal


def test_sixteen_threads_keep_their_connections(emulator, caplog):
    emulator.latency = 0.05  # so that all sixteen requests are open at the same time
    transport = transport_for(emulator)
    start = threading.Barrier(16)

    def read() -> None:
        start.wait()
        for _ in range(2):
            transport.get(agents_path(emulator))

    threads = [threading.Thread(target=read) for _ in range(16)]
    with caplog.at_level(logging.WARNING, logger="urllib3.connectionpool"):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)

    assert emulator.count_requests() == 32
    assert "Connection pool is full" not in caplog.text
