"""The metadata database: Debian's PostgreSQL, a throwaway cluster run as an unprivileged user.

The cluster lives in a fresh temporary folder owned by the ``postgres`` system user (created by the
Debian package), listens on 127.0.0.1 on a free port only, trusts local connections and skips
fsync: it holds nothing worth keeping and is deleted at the end.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from e2e.processes import Processes, SetupError, as_user, free_port

USER = "postgres"
DATABASE = "airflow"


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(found[-1]).parent if found else None


def ensure_installed(apt: AptGet) -> Path:
    """The PostgreSQL server's bin folder, installing Debian's ``postgresql`` package when absent."""
    bin_dir = _bin_dir()
    if bin_dir is None:
        # Debian's package would otherwise create and start a "main" cluster on port 5432.
        conf = Path("/etc/postgresql-common/createcluster.conf")
        if not conf.exists():
            conf.parent.mkdir(parents=True, exist_ok=True)
            conf.write_text("create_main_cluster = false\n")
        apt.install("postgresql")
        bin_dir = _bin_dir()
    if bin_dir is None:
        raise SetupError("PostgreSQL is not installed and `apt-get install postgresql` did not provide it")
    return bin_dir


class AptGet:
    """``apt-get install``, with ``apt-get update`` run once before the first install."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self._updated = False

    def install(self, *packages: str) -> None:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        with self.log.open("ab") as out:
            if not self._updated:
                subprocess.run(["apt-get", "update", "-q"], stdout=out, stderr=out, env=env, check=True)
                self._updated = True
            subprocess.run(
                ["apt-get", "install", "-y", "-q", "-o", "Dpkg::Options::=--force-confold", *packages],
                stdout=out,
                stderr=out,
                env=env,
                check=True,
            )


class Postgres:
    """One cluster: :meth:`start` creates and runs it, :attr:`url` is Airflow's connection URL."""

    def __init__(self, bin_dir: Path, procs: Processes) -> None:
        self.bin_dir = bin_dir
        self.procs = procs
        self.port = 0
        self.folder: Path | None = None

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://{USER}@127.0.0.1:{self.port}/{DATABASE}"

    def start(self) -> None:
        pw = pwd.getpwnam(USER)
        self.folder = Path(tempfile.mkdtemp(prefix="telzino-e2e-pg-"))
        os.chown(self.folder, pw.pw_uid, pw.pw_gid)
        data = self.folder / "data"
        self._run_as_user(
            [str(self.bin_dir / "initdb"), "-D", str(data), "-U", USER, "--auth=trust", "-E", "UTF8"]
        )
        self.port = free_port()
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.folder),
            "max_connections": "300",  # every Airflow process keeps a pool
            "fsync": "off",  # a throwaway cluster: speed over durability
            "synchronous_commit": "off",
            "full_page_writes": "off",
        }
        args = [arg for name, value in settings.items() for arg in ("-c", f"{name}={value}")]
        self.procs.start("postgres", [str(self.bin_dir / "postgres"), "-D", str(data), *args], user=USER)
        self._wait_ready()
        self._run_as_user([str(self.bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), DATABASE])

    def stop(self) -> None:
        # SIGINT is PostgreSQL's "fast shutdown"; the folder goes once the server is gone.
        import signal

        self.procs.stop("postgres", first=signal.SIGINT)
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            code = subprocess.call(
                [str(self.bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-q"],
            )
            if code == 0:
                return
            if self.procs.get("postgres").poll() is not None:
                break
            time.sleep(0.2)
        raise SetupError("PostgreSQL did not start; see postgres.log")

    def _run_as_user(self, argv: list[str]) -> None:
        log = self.procs.log_dir / "postgres-setup.log"
        with log.open("ab") as out:
            subprocess.run(
                as_user(USER, argv),
                stdout=out,
                stderr=out,
                check=True,
                cwd=self.folder,
            )
