"""Shared pieces of the fault scripts (``fault_*.py``): nrd processes as production starts
them, GraphQL over loopback, and PASS/FAIL lines.

Every process is started by these scripts on 127.0.0.1, stopped by its own pid on every way
out, and every wait is bounded.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import common

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
    return {"key": key, "input": {"profile": profile, "criteria": criteria(),
                                  "publicListing": True}}


class Checks:
    """PASS/FAIL lines on stdout; the script's exit status is 1 if any failed."""

    def __init__(self) -> None:
        self.failed = 0

    def check(self, ok: bool, what: str, detail: str = "") -> bool:
        print(f"{'PASS' if ok else 'FAIL'} {what}{': ' + detail if detail else ''}", flush=True)
        self.failed += not ok
        return ok

    def status(self) -> int:
        print(f"{'FAIL' if self.failed else 'PASS'} overall"
              f"{f' ({self.failed} failed)' if self.failed else ''}", flush=True)
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


def post(url: str, query: str, variables: dict[str, Any] | None = None,
         token: str | None = None, timeout: float = 60.0) -> Answer:
    request = urllib.request.Request(
        url + "/graphql", data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"content-type": "application/json",
                 **({"authorization": f"Bearer {token}"} if token else {})})
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Answer(response.status, json.loads(response.read()),
                          response.headers.get("retry-after"), started, time.monotonic())
    except urllib.error.HTTPError as error:
        body = error.read()
        return Answer(error.code, json.loads(body) if body else None,
                      error.headers.get("retry-after"), started, time.monotonic())


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
            self.proc = subprocess.Popen([sys.executable, "-m", "api.cli", *args],
                                         env=self.env, cwd=common.REPO, stdout=log,
                                         stderr=subprocess.STDOUT)
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


def sessions(url: str, application_name: str) -> int:
    with common._admin(url) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                           (application_name,)).fetchone()
    return int(row[0]) if row else 0


def drop_schema(url: str, schema: str) -> None:
    with common._admin(url) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
