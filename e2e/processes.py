"""Every process the harness starts: each in its own process group, its output in a log file.

Airflow's LocalExecutor workers and the task processes they fork outlive their parent when it is
killed, and some ignore SIGTERM; ending the whole group (SIGTERM, then SIGKILL after a grace period)
is the only way to leave nothing behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

GRACE_S = 10.0


class SetupError(Exception):
    """The deployment could not be started; the message says which log to read."""


def as_user(user: str, argv: Sequence[str]) -> list[str]:
    """``argv`` run as the unprivileged ``user`` (through ``setpriv``) instead of the caller."""
    return ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", *argv]


class Processes:
    """Starts long-running processes and ends them all (in reverse order) on :meth:`stop_all`."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self._procs: dict[str, subprocess.Popen] = {}

    def start(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        user: str | None = None,
    ) -> subprocess.Popen:
        """Start ``argv`` in a new session (its own process group); output to ``<log_dir>/<name>.log``.

        :param user: run as this unprivileged user (through ``setpriv``) instead of the caller.
        """
        if user:
            argv = as_user(user, argv)
        log = (self.log_dir / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            list(argv),
            env=dict(env) if env is not None else None,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()  # the child holds its own descriptor
        self._procs[name] = proc
        return proc

    def get(self, name: str) -> subprocess.Popen:
        return self._procs[name]

    def kill(self, name: str) -> None:
        """SIGKILL one process group at once (a crash, not a shutdown)."""
        proc = self._procs.pop(name)
        _signal_group(proc.pid, signal.SIGKILL)
        proc.wait()

    def stop(self, name: str, first: signal.Signals = signal.SIGTERM) -> None:
        """End one process group: ``first``, then SIGKILL for whatever is left after the grace period."""
        proc = self._procs.pop(name, None)
        if proc is not None:
            _end_groups([proc], first)

    def stop_all(self) -> None:
        """End every group still recorded, newest first, in one shared grace period."""
        procs = list(reversed(self._procs.values()))
        self._procs.clear()
        _end_groups(procs, signal.SIGTERM)


def _end_groups(procs: list[subprocess.Popen], first: signal.Signals) -> None:
    for proc in procs:
        _signal_group(proc.pid, first)
    deadline = time.monotonic() + GRACE_S
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
    # The leader may be gone while workers it forked still run in its group: SIGKILL the group anyway.
    for proc in procs:
        _signal_group(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def free_port() -> int:
    """A port nothing listens on right now (the OS picks it; never a fixed one)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
