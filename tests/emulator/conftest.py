"""Fixtures for the emulator tests: a fresh emulator per test and an authenticated HTTP client."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
import requests

from telzino_provider.emulator import TelzinoEmulator

START = datetime(2026, 6, 11, 12, 0, 0, tzinfo=timezone.utc)


class Client:
    """``requests.Session`` bound to an emulator, with the static token and agent paths."""

    def __init__(self, emu: TelzinoEmulator) -> None:
        self.emu = emu
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {emu.token}"

    def url(self, path: str) -> str:
        return self.emu.base_url + path

    def calls_path(self, agent_id: str | None = None) -> str:
        return f"/v1/agents/{agent_id or self.emu.agent_id}/outbound-calls"

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 5)
        return self.session.get(self.url(path), **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 5)
        return self.session.post(self.url(path), **kwargs)

    def create_call(self, to_number: str, **fields: Any) -> dict[str, Any]:
        response = self.post(self.calls_path(), json={"to_number": to_number, **fields})
        assert response.status_code == 202, response.text
        return response.json()

    def get_call(self, call_id: str) -> dict[str, Any]:
        response = self.get(f"{self.calls_path()}/{call_id}")
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def emu() -> Iterator[TelzinoEmulator]:
    with TelzinoEmulator(start_time=START) as emulator:
        yield emulator


@pytest.fixture
def client(emu: TelzinoEmulator) -> Iterator[Client]:
    c = Client(emu)
    yield c
    c.session.close()
