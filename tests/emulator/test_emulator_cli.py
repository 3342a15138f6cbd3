"""``python -m telzino_provider.emulator``: start-up banner, serving, clean exit on signals."""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def read_banner(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> list[str]:
    """Lines printed up to and including the connection line (fails on timeout or exit).

    Reads the raw fd: a buffered ``readline`` would swallow lines the selector never reports.
    """
    assert proc.stdout is not None
    output = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while b"\nexport AIRFLOW_CONN_" not in output or not output.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            assert remaining > 0 and selector.select(remaining), f"no banner; got {output!r}"
            chunk = os.read(proc.stdout.fileno(), 65536)
            assert chunk, f"emulator exited early with {proc.poll()}; got {output!r}"
            output += chunk
    return output.decode().splitlines()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_cli_serves_and_exits_cleanly_on_signal(signum):
    port = free_port()
    command = [sys.executable, "-m", "telzino_provider.emulator", "--port", str(port), "--seed-calls", "40"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        lines = read_banner(proc)
        fields = dict(line.split(": ", 1) for line in lines[1:-2])
        assert fields["base_url"] == f"http://127.0.0.1:{port}"
        assert fields["seeded_calls"] == "40"
        exported = dict(pair.split("=", 1) for pair in lines[-2].removeprefix("export ").split())
        assert exported == {
            "TELZINO_API_URL": fields["base_url"],
            "TELZINO_ACCESS_TOKEN": fields["token"],
            "TELZINO_AGENT_ID": fields["agent_id"],
            "TELZINO_CLIENT_ID": fields["client_id"],
            "TELZINO_CLIENT_SECRET": fields["client_secret"],
        }
        conn = json.loads(lines[-1].removeprefix("export ").split("=", 1)[1].strip("'"))
        assert conn == {"conn_type": "telzino", "host": fields["base_url"], "password": fields["token"]}
        # Pasted into a shell, as the README says, both lines reach the commands that shell runs next.
        seen = subprocess.run(
            [
                "bash",
                "-c",
                f"{lines[-2]}\n{lines[-1]}\nprintenv AIRFLOW_CONN_TELZINO_DEFAULT TELZINO_AGENT_ID",
            ],
            capture_output=True,
            text=True,
            timeout=10,
        )
        assert seen.stdout.splitlines() == [json.dumps(conn), fields["agent_id"]], seen
        headers = {"Authorization": f"Bearer {fields['token']}"}
        agents = requests.get(f"{fields['base_url']}/v1/agents", headers=headers, timeout=5)
        assert agents.status_code == 200
        assert agents.json()["data"][0]["id"] == fields["agent_id"]
        calls_url = f"{fields['base_url']}/v1/agents/{fields['agent_id']}/outbound-calls"
        assert requests.get(calls_url, headers=headers, timeout=5).json()["pagination"]["total"] == 40
        token = requests.post(
            f"{fields['base_url']}/oauth/token",
            json={
                "client_id": fields["client_id"],
                "client_secret": fields["client_secret"],
                "audience": "https://api.telzino.com/",
                "grant_type": "client_credentials",
            },
            timeout=5,
        )
        assert token.status_code == 200
        proc.send_signal(signum)
        assert proc.wait(timeout=10) == 0
        assert proc.stderr is not None and proc.stderr.read() == b""  # quiet: no request logging
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_rejects_bad_arguments():
    result = subprocess.run(
        [sys.executable, "-m", "telzino_provider.emulator", "--speed", "-1"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2 and "--speed" in result.stderr


def test_cli_reports_a_taken_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "telzino_provider.emulator", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 1 and f"127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_defaults_suit_the_readme_and_help_shows_them():
    from telzino_provider.emulator.__main__ import parse_args

    args = parse_args([])
    assert (args.seed_calls, args.seed_hours, args.speed) == (48, 3.0, 60.0)  # calls to list; calls end soon
    result = subprocess.run(
        [sys.executable, "-m", "telzino_provider.emulator", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0
    for option, default in [
        ("--port", "8099"),
        ("--seed-calls", "48"),
        ("--seed-hours", "3.0"),
        ("--speed", "60.0"),
    ]:
        assert re.search(rf"{option}\b.*?\(default: {re.escape(default)}\)", result.stdout, re.DOTALL), option
