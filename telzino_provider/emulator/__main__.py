"""Command line: run a standalone Telzino emulator until SIGINT/SIGTERM.

    python -m telzino_provider.emulator [--host 127.0.0.1] [--port 8099] [--seed-calls 48]
                                        [--seed-hours 3] [--speed 60] [--seed 1234]

The defaults suit following the README against it: calls to list, and a clock fast enough that a
placed call ends within seconds. Prints the connection details (one ``name: value`` per line), an
``export TELZINO_...`` line for the README's commands and, last, a ready-to-paste
``export AIRFLOW_CONN_TELZINO_DEFAULT=...`` line, then serves. Exit code 0 on SIGINT/SIGTERM, 1 if the
address cannot be bound, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import signal
import sys
import threading
from datetime import timedelta
from types import FrameType

from telzino_provider.emulator.emulator import TelzinoEmulator


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m telzino_provider.emulator",
        description="Run a local Telzino API emulator until Ctrl-C.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind")
    parser.add_argument("--port", type=int, default=8099, help="port; 0 picks any free port")
    parser.add_argument(
        "--seed-calls", type=int, default=48, metavar="N", help="historical calls to seed for the agent"
    )
    parser.add_argument(
        "--seed-hours", type=float, default=3.0, metavar="H", help="spread over the last H hours"
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=60.0,
        help="emulated seconds per real second (1: real time, 0: a frozen clock)",
    )
    parser.add_argument("--seed", type=int, default=1234, help="random seed for ids and seeded calls")
    args = parser.parse_args(argv)
    if args.seed_calls < 0 or args.seed_hours <= 0 or args.speed < 0:
        parser.error("--seed-calls must be >= 0, --seed-hours > 0 and --speed >= 0")
    return args


def connection_line(emu: TelzinoEmulator) -> str:
    conn = {"conn_type": "telzino", "host": emu.base_url, "password": emu.token}
    # `export`: pasted into a shell, the variable must reach the `airflow` commands run there.
    return f"export AIRFLOW_CONN_TELZINO_DEFAULT='{json.dumps(conn)}'"


def readme_line(emu: TelzinoEmulator) -> str:
    """The variables the README's commands read, ready to paste into another shell."""
    names = {
        "TELZINO_API_URL": emu.base_url,
        "TELZINO_ACCESS_TOKEN": emu.token,
        "TELZINO_AGENT_ID": emu.agent_id,
        "TELZINO_CLIENT_ID": emu.client_id,
        "TELZINO_CLIENT_SECRET": emu.client_secret,
    }
    return "export " + " ".join(f"{name}={value}" for name, value in names.items())


def banner(emu: TelzinoEmulator, seeded: int) -> str:
    return "\n".join(
        [
            f"Telzino emulator listening on {emu.base_url} (Ctrl-C to stop)",
            f"base_url: {emu.base_url}",
            f"token: {emu.token}",
            f"agent_id: {emu.agent_id}",
            f"client_id: {emu.client_id}",
            f"client_secret: {emu.client_secret}",
            f"seeded_calls: {seeded}",
            readme_line(emu),
            connection_line(emu),
        ]
    )


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not _is_loopback(args.host):
        print(f"warning: binding {args.host}: the emulator is reachable from other hosts", file=sys.stderr)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    emu = TelzinoEmulator(args.host, args.port, speed=args.speed, seed=args.seed)
    if args.seed_calls:
        end = emu.now()
        emu.seed_calls(args.seed_calls, start=end - timedelta(hours=args.seed_hours), end=end)
    try:
        emu.start()
    except OSError as error:  # typically the port is taken
        print(f"error: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 1
    try:
        print(banner(emu, args.seed_calls), flush=True)
        while not stop.wait(0.2):  # a timed wait keeps the main thread responsive to signals
            pass
    finally:
        emu.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
