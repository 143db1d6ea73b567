"""What the fault tests and ``bench/fault_*.py`` share: a real projection worker in a process
of its own (killed, cut off, paused at a named point: ``projections/faults.py``), ``nrd``
commands run as an operator would, and a private PostgreSQL cluster that may be restarted
(the shared server never is). Everything listens on loopback and waits with a bound.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import psycopg

from api.config import Settings

REPO = Path(__file__).resolve().parent.parent
POSTGRES_BIN = Path(os.environ.get("NRD_TEST_POSTGRES_BIN", "/usr/lib/postgresql/15/bin"))


def nrd_environment(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment an operator gives ``nrd`` for these stores (nothing of the caller's
    NRD_* or OTEL_* leaks in)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NRD_", "OTEL_"))}
    env.update(
        {
            "OTEL_TRACES_EXPORTER": "none",
            "NRD_DATA_DIR": str(settings.data_dir),
            "NRD_JWT_SECRET": settings.jwt_secret or "x" * 40,
            "PYTHONPATH": str(REPO),
        }
    )
    if settings.master_key:
        env["NRD_MASTER_KEY"] = settings.master_key
    if settings.uses_postgres:
        env.update(
            {
                "NRD_DATABASE_URL": settings.database_url or "",
                "NRD_DATABASE_SCHEMA": settings.database_schema,
                "NRD_MAX_CONNECTIONS": "4",
            }
        )
    env.update(extra)
    return env


def nrd(
    env: Mapping[str, str],
    *args: str,
    timeout: float = 120.0,
) -> subprocess.CompletedProcess[str]:
    """Runs one ``nrd`` command to its end (bounded)."""
    return subprocess.run(  # noqa: S603 - this interpreter, nrd's own arguments
        [sys.executable, "-m", "api.cli", *args],
        env=dict(env),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class Worker:
    """``nrd projections run`` in a process of its own; its output goes to ``log``."""

    def __init__(
        self,
        env: Mapping[str, str],
        log: Path,
        fault: str | None = None,
        pause_dir: Path | None = None,
    ) -> None:
        self.env = dict(env)
        if fault:
            self.env["NRD_TEST_FAULT"] = fault
        if pause_dir is not None:
            self.env["NRD_TEST_FAULT_DIR"] = str(pause_dir)
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Worker:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "api.cli", "projections", "run", "--interval", "0.05"],
                env=self.env,
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return self

    def wait(self, timeout: float) -> int | None:
        """Its exit code (-9 once killed at its fault point), or None if it still runs."""
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def __enter__(self) -> Worker:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PrivateCluster:
    """A PostgreSQL cluster of this test's own, on a free loopback port, in a temporary
    folder owned by the postgres user; removed on exit. It may be restarted or have its
    sessions ended at will."""

    def __init__(self) -> None:
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="nrd-pg-"))
        self.data = self.folder / "data"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/nrd"

    def _as_postgres(self, *command: str, timeout: float = 60.0) -> None:
        runner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run(  # noqa: S603 - fixed PostgreSQL tools
            [*runner, *command],
            check=True,
            timeout=timeout,
            capture_output=True,
        )

    def _ctl(self, action: str, *extra: str) -> None:
        self._as_postgres(
            str(POSTGRES_BIN / "pg_ctl"),
            "-D",
            str(self.data),
            "-w",
            "-t",
            "30",
            "-l",
            str(self.folder / "server.log"),
            "-o",
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c max_connections=100",
            action,
            *extra,
        )

    def __enter__(self) -> PrivateCluster:
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres")
        self._as_postgres(
            str(POSTGRES_BIN / "initdb"),
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
        )
        self._ctl("start")
        with psycopg.connect(self.url.replace("/nrd", "/postgres"), autocommit=True) as conn:
            conn.execute("CREATE DATABASE nrd")
        return self

    def start(self) -> None:
        self._ctl("start")

    def stop(self) -> None:
        self._ctl("stop", "-m", "immediate")

    def restart(self) -> None:
        """As ``pg_ctlcluster ... restart -m immediate``: every session dies, nothing is shut
        down cleanly."""
        self._ctl("restart", "-m", "immediate")

    def end_sessions(self, keep: Any = None) -> int:
        """Ends every other session of the database (as ``pg_terminate_backend`` would)."""
        with psycopg.connect(self.url, autocommit=True, connect_timeout=10) as conn:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                "datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchall()
        return len(rows)

    def __exit__(self, *_: object) -> None:
        with contextlib.suppress(subprocess.SubprocessError):
            self._ctl("stop", "-m", "immediate")
        shutil.rmtree(self.folder, ignore_errors=True)


def wait_until(condition: Any, timeout: float, every: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return bool(condition())
