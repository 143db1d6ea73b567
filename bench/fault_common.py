"""What the fault scripts (``fault_*.py``) share: nrd processes as production starts them,
GraphQL over loopback, the stores they strike (a private PostgreSQL cluster, or SQLite files,
in a temporary folder removed at the end), writers that keep case work coming through the real
commands, and PASS/FAIL lines.

Every process is started by these scripts on 127.0.0.1, stopped by its own pid on every way
out, and every wait is bounded.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import common

sys.path.insert(0, str(common.REPO))

from tests.fault_harness import PrivateCluster

APPLY = """mutation($key: String!, $input: ApplicationInput!) {
  applyForInclusion(idempotencyKey: $key, input: $input) { organizationId } }"""
DIRECTORY = "{ directory(first: 5) { edges { node { nameEn } } } }"


def criteria() -> list[str]:
    from domain.vocabulary import Criterion

    return [c.value for c in Criterion]


def application(key: str, n: int) -> dict[str, Any]:
    """Variables for APPLY: a fictional organization's application."""
    from api.demo import demo_profile

    profile = demo_profile(n, "CA-ON", random.Random(n))
    return {
        "key": key,
        "input": {"profile": profile, "criteria": criteria(), "publicListing": True},
    }


class Checks:
    """PASS/FAIL lines on stdout; the script's exit status is 1 if any failed."""

    def __init__(self) -> None:
        self.failed = 0

    def check(self, ok: bool, what: str, detail: str = "") -> bool:
        print(f"{'PASS' if ok else 'FAIL'} {what}{': ' + detail if detail else ''}", flush=True)
        self.failed += not ok
        return ok

    def status(self) -> int:
        print(
            f"{'FAIL' if self.failed else 'PASS'} overall"
            f"{f' ({self.failed} failed)' if self.failed else ''}",
            flush=True,
        )
        return 1 if self.failed else 0


@dataclass
class Answer:
    status: int
    body: Any
    retry_after: str | None
    started: float
    ended: float

    @property
    def seconds(self) -> float:
        return self.ended - self.started

    @property
    def codes(self) -> list[str]:
        return [e.get("extensions", {}).get("code") for e in (self.body or {}).get("errors", [])]

    @property
    def retryable(self) -> bool:
        errors = (self.body or {}).get("errors", [])
        return bool(errors) and all(e.get("extensions", {}).get("retryable") for e in errors)


def post(
    url: str,
    query: str,
    variables: dict[str, Any] | None = None,
    token: str | None = None,
    timeout: float = 60.0,
) -> Answer:
    request = urllib.request.Request(
        url + "/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={
            "content-type": "application/json",
            **({"authorization": f"Bearer {token}"} if token else {}),
        },
    )
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Answer(
                response.status,
                json.loads(response.read()),
                response.headers.get("retry-after"),
                started,
                time.monotonic(),
            )
    except urllib.error.HTTPError as error:
        body = error.read()
        return Answer(
            error.code,
            json.loads(body) if body else None,
            error.headers.get("retry-after"),
            started,
            time.monotonic(),
        )


def staff_token() -> str:
    from api.auth import Authenticator

    return Authenticator(common.JWT_SECRET, "nrd").issue("staff", "fault-staff-1", None)


class Process:
    """An ``nrd`` command (``serve``, ``projections run``) in a process of its own, its output
    in a log file under bench/results; stopped by its pid."""

    def __init__(self, name: str, args: list[str], env: dict[str, str]) -> None:
        self.name, self.args, self.env = name, args, env
        self.port = common.free_port() if args[0] == "serve" else None
        self.log = common.RESULTS / f"fault-{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Process:
        common.RESULTS.mkdir(exist_ok=True)
        args = list(self.args)
        if self.port is not None:
            args += ["--host", "127.0.0.1", "--port", str(self.port)]
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "api.cli", *args],
                env=self.env,
                cwd=common.REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/healthz", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def wait_healthy(self, timeout: float) -> float | None:
        """Seconds until /healthz answered 200, or None if it did not within ``timeout``."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.proc is not None and self.proc.poll() is not None:
                return None
            if self.healthy():
                return time.monotonic() - started
            time.sleep(0.2)
        return None

    def wait_logged(self, text: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output():
                return True
            time.sleep(0.1)
        return False

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)


@contextmanager
def processes(*started: Process) -> Any:
    with ExitStack() as stack:
        for process in started:
            stack.callback(process.stop)
            process.start()
        yield started


def env_for(url: str, schema: str, **settings: str) -> dict[str, str]:
    """The environment of an nrd process on ``schema``: the benchmarks' settings, plus
    ``settings`` (NRD_* names)."""
    env = common.server_env(schema, url)
    env.update(settings)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(common.REPO), env.get("PYTHONPATH")]))
    return env


def fresh_schema(url: str, schema: str) -> None:
    """An empty ``schema``, migrated as production does before it starts anything:
    processes refuse a schema nobody migrated."""
    common.recreate_schema(url, schema)
    common.settings_for(schema, url)  # migrates it


def sessions(url: str, application_name: str) -> int:
    with common._admin(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (application_name,)
        ).fetchone()
    return int(row[0]) if row else 0


def drop_schema(url: str, schema: str) -> None:
    with common._admin(url) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


MASTER_KEY = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="  # fictional, bench only


@contextmanager
def stores(kind: str) -> Iterator[tuple[Any, PrivateCluster | None, Path]]:
    """(settings, cluster or None, folder) for a migrated store of this ``kind``."""
    from api.config import Settings
    from api.wiring import migrate_database

    with tempfile.TemporaryDirectory(prefix="nrd-fault-") as folder:
        if kind == "sqlite":
            settings = Settings(
                data_dir=Path(folder), jwt_secret="bench-secret-" + "x" * 40, master_key=MASTER_KEY
            )
            migrate_database(settings)
            yield settings, None, Path(folder)
            return
        with PrivateCluster() as cluster:
            settings = Settings(
                data_dir=Path(folder),
                database_url=cluster.url,
                database_schema="public",
                master_key=MASTER_KEY,
                jwt_secret="bench-secret-" + "x" * 40,
            )
            migrate_database(settings)
            yield settings, cluster, Path(folder)


class Writers:
    """Threads writing case work through the commands, each retrying a failed command (the
    database restarting under it) with the same idempotency key, as a client would."""

    def __init__(self, settings: Any, threads: int) -> None:
        from api.wiring import build_system
        from tests.e2e.conftest import seed

        self.system = build_system(settings)
        self.shelters = [seed(self.system, f"Example Bench Shelter {n}") for n in range(3)]
        self.acknowledged: list[UUID] = []
        self.retries = 0
        self.lost: list[str] = []
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._write, args=(n,), daemon=True) for n in range(threads)
        ]

    def _command(self, run: Any) -> Any:
        deadline = time.monotonic() + 60
        while True:
            try:
                return run()
            except Exception as error:
                from domain.base import DomainError

                if (
                    isinstance(error, DomainError) and not error.retryable
                ) or time.monotonic() > deadline:
                    self.lost.append(type(error).__name__)
                    return None
                self.retries += 1
                time.sleep(0.2)

    def _write(self, n: int) -> None:
        from domain.base import Actor, acting_as
        from domain.case import (
            CallerRelationship,
            Channel,
            ConsentGiver,
            ConsentMethod,
            ConsentScope,
            DisclosableField,
            Need,
            ReferralMode,
        )

        app, rng = self.system.app, random.Random(n)
        with acting_as(Actor(f"fictional-bench-writer-{n}", "staff", request_id=f"bench-{n}")):
            while not self._stop.is_set():
                tag = f"bench-{n}-{rng.getrandbits(64):016x}"
                opened = self._command(
                    lambda tag=tag: app.open_case(
                        f"{tag}-open",
                        Channel.CALL,
                        "en",
                        CallerRelationship.VICTIM_OR_SURVIVOR,
                        {"name": "Fictional Bench Caller"},
                        {"province": "CA-ON", "needs": ["SHELTER"]},
                    )
                )
                if opened is None:
                    continue
                self.acknowledged.append(opened.id)
                shelter = rng.choice(self.shelters)
                self._command(
                    lambda tag=tag, case=opened.id, to=shelter: app.grant_consent(
                        f"{tag}-consent",
                        case,
                        ConsentScope.SHARE_WITH_ORGANIZATION,
                        to,
                        ConsentGiver.CALLER,
                        ConsentMethod.VERBAL,
                        None,
                    )
                )
                self._command(
                    lambda tag=tag, case=opened.id, to=shelter: app.refer(
                        f"{tag}-refer",
                        case,
                        to,
                        ReferralMode.WARM_TRANSFER,
                        [Need.SHELTER],
                        [DisclosableField.NEEDS],
                        "Fictional bench brief.",
                    )
                )

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=90)
        self.system.close()


class Report:
    """PASS/FAIL lines, and the same in the JSON line."""

    def __init__(self) -> None:
        self.checks: list[tuple[str, bool, str]] = []

    def add(self, name: str, passed: bool, detail: str = "") -> None:
        self.checks.append((name, passed, detail))
        common.say(f"{'PASS' if passed else 'FAIL'}: {name}")

    def finish(self, benchmark: str, results: dict[str, Any]) -> int:
        for name, passed, detail in self.checks:
            print(f"{'PASS' if passed else 'FAIL'}: {name}" + (f" ({detail})" if detail else ""))
        results["checks"] = [{"check": n, "pass": p, "detail": d} for n, p, d in self.checks]
        common.emit(benchmark, results)
        return 0 if self.checks and all(p for _, p, _ in self.checks) else 1
