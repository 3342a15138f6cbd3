"""The process-wide OAuth token cache with two connections (two emulators) used at the same time."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from telzino_provider.emulator import TelzinoEmulator
from tests.transport.test_client import agents_path, transport_for
from tests.transport.test_client_threads import wait_until


@pytest.fixture
def other() -> Iterator[TelzinoEmulator]:
    """A second Telzino API, so a second set of client credentials (another token URL)."""
    with TelzinoEmulator() as emu:
        yield emu


def test_a_slow_token_endpoint_does_not_stall_another_connection(emulator, other):
    cached = transport_for(emulator, oauth=True)
    cached.get(agents_path(emulator))  # this connection's token is now cached
    other.latency = 3.0  # the other connection's token endpoint answers slowly
    slow = transport_for(other, oauth=True)
    fetching = threading.Thread(target=slow.auth.token)
    fetching.start()
    try:
        time.sleep(0.3)  # the slow token request is on its way
        started = time.monotonic()
        cached.get(agents_path(emulator))
        waited = time.monotonic() - started
        assert fetching.is_alive(), "the cached connection waited for the other one's token"
        assert waited < 1.0
    finally:
        fetching.join(10)
    assert other.count_requests("POST", "/oauth/token") == 1


def test_one_token_request_per_credential_under_concurrency(emulator, other):
    emulator.latency = other.latency = 0.3  # every thread asks while the first request is open
    transports = [transport_for(emulator, oauth=True), transport_for(other, oauth=True)]
    start = threading.Barrier(16)
    tokens: list[str] = []

    def token(transport) -> None:
        start.wait()
        tokens.append(transport.auth.token())

    threads = [threading.Thread(target=token, args=(transports[n % 2],)) for n in range(16)]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: len(tokens) == 16, timeout=10)
    finally:
        for thread in threads:
            thread.join(10)
    assert emulator.count_requests("POST", "/oauth/token") == 1
    assert other.count_requests("POST", "/oauth/token") == 1
    assert len(set(tokens)) == 2  # one token per credential, shared by its eight threads
