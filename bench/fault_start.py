"""A process that starts while the database refuses connections retries with backoff and then
comes up; one that cannot connect within NRD_CONNECT_TIMEOUT_SECONDS exits saying why.

Runs a private PostgreSQL cluster of its own (initdb into a temporary folder, loopback on a
free port, max_connections 20), which it stops and removes at the end: the shared server is
never restarted or filled. Three scenarios:

1. refused: ``nrd serve`` starts while nothing listens on the port; once it has logged a
   retry, the cluster starts. PASS: it retried, then answered /healthz within
   ``--patience`` seconds of the cluster's start.
2. too many clients: the cluster's connection slots for ordinary roles are all held by the
   script; ``nrd serve`` (as an ordinary role) starts. PASS: it retried on "too many
   connections", then came up once the script let the slots go.
3. gives up: the cluster stopped, ``nrd projections status`` with
   NRD_CONNECT_TIMEOUT_SECONDS=3. PASS: it exited non-zero within 3 s plus ``--patience``,
   saying the database could not be reached within 3 s, and naming the setting.

    python bench/fault_start.py [--patience 30]

Needs PostgreSQL 15's server binaries (/usr/lib/postgresql/15/bin) and, as root, runuser
to run them as the postgres user.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common
import fault_common as fc
import psycopg

BIN = Path("/usr/lib/postgresql/15/bin")
ROLE = "nrd_fault"


class Cluster:
    """A private PostgreSQL cluster on loopback, run as the postgres user."""

    def __init__(self, max_connections: int = 20) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="nrd-fault-pg-"))
        self.data = self.folder / "data"
        self.port = common.free_port()
        self.max_connections = max_connections
        self.log = self.folder / "server.log"

    def _as_postgres(self, *command: str, timeout: float = 60) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run(
            [*prefix, *command],
            check=True,
            timeout=timeout,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def create(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
        self._as_postgres(
            str(BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync"
        )
        settings = (
            f"listen_addresses = '127.0.0.1'\nport = {self.port}\n"
            f"unix_socket_directories = '{self.folder}'\n"
            f"max_connections = {self.max_connections}\nfsync = off\n"
        )
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(settings)

    def start(self) -> None:
        self._as_postgres(
            str(BIN / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-w",
            "-t",
            "30",
            "start",
        )

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._as_postgres(
                str(BIN / "pg_ctl"),
                "-D",
                str(self.data),
                "-m",
                "immediate",
                "-w",
                "-t",
                "30",
                "stop",
            )

    def url(self, user: str = "postgres", database: str = "postgres") -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    def remove(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


def nrd_env(cluster: Cluster, name: str, **settings: str) -> dict[str, str]:
    env = fc.env_for(
        cluster.url(ROLE, "nrd"),
        "",
        **{"NRD_APPLICATION_NAME": name, "NRD_CONNECT_TIMEOUT_SECONDS": "120", **settings},
    )
    env.pop("NRD_DATABASE_SCHEMA", None)
    env["NRD_DATA_DIR"] = str(cluster.folder / name)
    return env


def refused(cluster: Cluster, patience: float, checks: fc.Checks) -> None:
    server = fc.Process("start-refused", ["serve"], nrd_env(cluster, "nrd-fault-refused"))
    with fc.processes(server):
        retried = server.wait_logged("cannot start yet", patience)
        checks.check(
            retried,
            "while nothing listened, the start retried",
            "it logged that it cannot start yet, and tries again",
        )
        cluster.start()
        came_up = server.wait_healthy(patience)
        checks.check(
            came_up is not None,
            "once the database started, the server came up",
            f"{came_up:.1f} s after the database's start" if came_up else "it did not",
        )


def too_many_clients(cluster: Cluster, patience: float, checks: fc.Checks) -> None:
    blockers: list[psycopg.Connection[tuple[object, ...]]] = []
    try:
        while True:  # every slot an ordinary role may use
            try:
                blockers.append(psycopg.connect(cluster.url(ROLE, "nrd"), connect_timeout=5))
            except psycopg.OperationalError:
                break
            if len(blockers) > cluster.max_connections:
                break
        server = fc.Process("start-full", ["serve"], nrd_env(cluster, "nrd-fault-full"))
        with fc.processes(server):
            retried = server.wait_logged("too many connections", patience)
            checks.check(
                retried,
                "while the database had no slot to spare, the start retried",
                f"{len(blockers)} slots held; it logged too many connections",
            )
            for conn in blockers:
                conn.close()
            blockers.clear()
            came_up = server.wait_healthy(patience)
            checks.check(
                came_up is not None,
                "once slots were free, the server came up",
                f"{came_up:.1f} s after they were" if came_up else "it did not",
            )
    finally:
        for conn in blockers:
            conn.close()


def gives_up(cluster: Cluster, patience: float, checks: fc.Checks) -> None:
    cluster.stop()
    env = nrd_env(cluster, "nrd-fault-status", NRD_CONNECT_TIMEOUT_SECONDS="3")
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "api.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(common.free_port()),
        ],
        env=env,
        cwd=common.REPO,
        capture_output=True,
        text=True,
        timeout=3 + patience,
        check=False,
    )
    seconds = time.monotonic() - started
    said = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
    checks.check(
        done.returncode != 0
        and "could not be reached within 3 s" in said
        and "NRD_CONNECT_TIMEOUT_SECONDS" in said,
        "a start that could not connect in time exited saying why",
        f"exit {done.returncode} after {seconds:.1f} s: {said[:110]}...",
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--patience",
        type=float,
        default=30.0,
        help="seconds to wait for each expected event (at most 120)",
    )
    args = parser.parse_args()
    patience = min(120.0, args.patience)
    if not (BIN / "initdb").exists():
        print(f"FAIL PostgreSQL 15's server binaries are not in {BIN}")
        return 1
    checks = fc.Checks()
    cluster = Cluster()
    try:
        cluster.create()
        cluster.start()
        with psycopg.connect(cluster.url(), autocommit=True) as admin:
            admin.execute(f"CREATE ROLE {ROLE} LOGIN")
            admin.execute(f"CREATE DATABASE nrd OWNER {ROLE}")
        # As production does before anything starts: processes refuse an unmigrated schema.
        subprocess.run(
            [sys.executable, "-m", "api.cli", "db", "migrate"],
            env=nrd_env(cluster, "nrd-fault-migrate"),
            cwd=common.REPO,
            check=True,
            capture_output=True,
            timeout=120,
        )
        cluster.stop()
        refused(cluster, patience, checks)
        too_many_clients(cluster, patience, checks)
        gives_up(cluster, patience, checks)
    finally:
        cluster.remove()
    return checks.status()


if __name__ == "__main__":
    common.exit_cleanly_on_sigterm()
    sys.exit(main())
