"""Case commands over HTTP against raw lock-taking inserts; the cost of the field-level policy.

(a) The command path: clients each send a consent-and-referral pair (grantConsent, then
    referCase disclosing fields under that consent) to the real app in a uvicorn process on
    PostgreSQL, one pair after another, against the raw rate of single-row insert transactions
    that take the same table lock as the event store (`LOCK TABLE <schema>.nrd_events IN
    EXCLUSIVE MODE`, then an INSERT into a scratch table) from as many psycopg connections, on
    the same database in the same run. Ratio = mutations/s ÷ raw transactions/s (each mutation
    is one such transaction); pairs/s are reported too. Each round also sends the same requests
    to bench/ceiling_app.py, the same mutations with resolvers that do nothing, served the same
    way: the ratio that app reaches is the most the prescribed HTTP and GraphQL stack allows on
    this machine before any of nrd's own work (``--no-ceiling`` skips it).
(b) Field-level policy cost: the staff `cases(first: 50)` list with ~15 fields per case (two of
    them sealed personal data), run in process through `schema.execute`, with the policy on and
    with it bypassed — in this process only, by swapping in an allow-everything policy and a
    document gate without the field-policy rule — alternating, many iterations.

    /work/venv/bin/python bench/case_commands.py           # 1,500 cases, 8 clients, ~3 min
    /work/venv/bin/python bench/case_commands.py --help
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from functools import lru_cache
from pathlib import Path
from typing import Any
from uuid import uuid4

import common
import psycopg
from directory_search import machine_busy

GRANT = (
    "mutation Grant($key: String!, $id: ID!, $org: ID!) { grantConsent(idempotencyKey: "
    "$key, id: $id, scope: SHARE_WITH_ORGANIZATION, recipientId: $org, givenBy: CALLER, "
    "method: VERBAL) { caseId version replayed } }"
)
REFER_BRIEF = "Needs a safe bed tonight (fictional bench case)"
REFER = (
    "mutation Refer($key: String!, $id: ID!, $org: ID!) { referCase(idempotencyKey: $key, "
    "id: $id, organizationId: $org, mode: WARM_TRANSFER, needs: [SHELTER, LEGAL], "
    "fields: [CALLER_NAME, CALLER_PHONE, NEEDS, BRIEF], "
    f'brief: "{REFER_BRIEF}") '
    "{ caseId version replayed } }"
)
CASE_LIST = (
    "query CaseList { cases(first: 50) { items { id version open channel language "
    "relationship callerName callerPhone province municipality minorInvolved "
    "situationType urgency imminentHarm needs openedAt } "
    "pageInfo { hasNextPage endCursor } } }"
)
CASE_FIELDS = 16  # selected per case in CASE_LIST


# -- seeding -------------------------------------------------------------------------------------


def seed(system: Any, cases: int, threads: int) -> tuple[str, list[str], float]:
    """One included organization and ``cases`` open cases, through the real commands."""
    import random

    from api.demo import ALL_CRITERIA, demo_profile
    from domain.base import Actor, acting_as
    from domain.case import CallerRelationship, Channel
    from domain.vocabulary import PROVINCES

    app = system.app
    with acting_as(Actor("bench-staff-0", "staff", request_id="bench-seed")):
        profile = demo_profile(0, "CA-ON", random.Random(7))
        org = app.apply_for_inclusion(
            f"bench-org-{uuid4()}",
            profile,
            ALL_CRITERIA,
            True,
            "Bench: the organization's signed listing form (fictional)",
        ).id
        app.start_review(f"bench-org-{uuid4()}", org)
        app.approve_inclusion(f"bench-org-{uuid4()}", org, "Bench approval (fictional)")
    provinces = sorted(PROVINCES)
    opened: list[str] = []
    lock = threading.Lock()
    indexes = iter(range(cases))
    errors: list[BaseException] = []
    progress = common.Progress("opening cases", cases)
    supervisor = Actor("bench-supervisor-0", "supervisor", request_id="bench-seed")

    def worker(n: int) -> None:
        with acting_as(Actor(f"bench-staff-{n}", "staff", request_id=f"bench-seed-{n}")):
            while not errors:
                with lock:
                    i = next(indexes, None)
                if i is None:
                    return
                try:
                    outcome = app.open_case(
                        f"bench-case-{uuid4()}",
                        Channel.CALL,
                        "en",
                        CallerRelationship.VICTIM_OR_SURVIVOR,
                        {
                            "name": f"Fictional Bench Caller {i}",
                            "phone": f"+1 555 01{i:06d}",
                            "email": f"bench.caller.{i}@example.org",
                            "notes": "Fictional bench notes",
                        },
                        {
                            "province": provinces[i % len(provinces)],
                            "urgency": "HIGH",
                            "needs": ["SHELTER", "LEGAL"],
                            "situationType": "LABOUR_TRAFFICKING",
                            "minorInvolved": "NO",
                            "municipality": "Fictionville",
                        },
                    )
                    # A potential trafficking case: nothing leaves before a supervisor's
                    # decision (recorded here, outside what is measured).
                    with acting_as(supervisor):
                        app.consult_supervisor(
                            f"bench-decision-{uuid4()}",
                            outcome.id,
                            "Fictional: refer with consent.",
                            "Fictional: a warm transfer.",
                        )
                except BaseException as error:
                    errors.append(error)
                    return
                with lock:
                    opened.append(str(outcome.id))
                    progress.update(len(opened))

    workers = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    seconds = progress.finish()
    if errors:
        raise errors[0]
    common.catch_up(system)
    return str(org), opened, seconds


# -- (a) the command path over HTTP --------------------------------------------------------------

WRK_LUA = """-- generated by bench/case_commands.py: one connection per thread, so each thread's
-- requests go strictly one after the other: grantConsent on a case, then referCase on it.
local grant_body = [==[%(grant)s]==]
local refer_body = [==[%(refer)s]==]
local token = "%(token)s"
local all_cases = { %(cases)s }
local threads = {}
local made = 0

function setup(thread)
  made = made + 1
  thread:set("tid", made)
  table.insert(threads, thread)
end

function init(args)
  local nthreads, offset = tonumber(args[1]), tonumber(args[2])
  nonce = args[3]
  mine = {}
  for i = tid, #all_cases, nthreads do table.insert(mine, all_cases[i]) end
  at = (offset %% #mine) + 1
  phase, sent, answered, failures, pairs_ok, grant_ok = 0, 0, 0, 0, 0, false
  headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}
end

function request()
  sent = sent + 1
  local body = (phase == 0) and grant_body or refer_body
  body = body:gsub("__CASE__", mine[at]):gsub("__KEY__", nonce .. "-" .. tid .. "-" .. sent)
  return wrk.format("POST", "/graphql", headers, body)
end

function response(status, headers, body)
  answered = answered + 1
  local good = status == 200 and not body:find('"errors"', 1, true)
  if not good then failures = failures + 1 end
  if phase == 0 then
    grant_ok = good
  else
    if good and grant_ok then pairs_ok = pairs_ok + 1 end
    at = (at %% #mine) + 1
  end
  phase = 1 - phase
end

done = function(summary, latency, requests)
  local pairs, failed, answers = 0, 0, 0
  for _, thread in ipairs(threads) do
    pairs = pairs + thread:get("pairs_ok")
    failed = failed + thread:get("failures")
    answers = answers + thread:get("answered")
  end
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests":%%d,"answered":%%d,"pairs":%%d,'
    .. '"graphql_failures":%%d,"duration_us":%%d,"socket_errors":%%d,"status_errors":%%d,'
    .. '"p50_us":%%d,"p95_us":%%d,"p99_us":%%d,"mean_us":%%.1f}\\n',
    summary.requests, answers, pairs, failed, summary.duration,
    e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.mean))
end
"""


def body_template(query: str, name: str, org: str) -> str:
    return json.dumps(
        {
            "query": query,
            "operationName": name,
            "variables": {"key": "__KEY__", "id": "__CASE__", "org": org},
        }
    )


def write_lua(token: str, org: str, cases: list[str]) -> Path:
    script = common.RESULTS / "wrk-case-commands.lua"
    script.write_text(
        WRK_LUA
        % {
            "grant": body_template(GRANT, "Grant", org),
            "refer": body_template(REFER, "Refer", org),
            "token": token,
            "cases": ", ".join(f'"{c}"' for c in cases),
        }
    )
    return script


def run_wrk(url: str, script: Path, clients: int, seconds: int, offset: int) -> dict[str, Any]:
    command = [
        "wrk",
        "-t",
        str(clients),
        "-c",
        str(clients),
        "-d",
        f"{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        url,
        "--",
        str(clients),
        str(offset),
        uuid4().hex[:12],
    ]
    out = subprocess.run(
        command, capture_output=True, text=True, check=True, timeout=seconds + 60
    ).stdout
    raw = json.loads(next(x for x in out.splitlines() if x.startswith("WRKJSON "))[8:])
    elapsed = raw["duration_us"] / 1e6
    return {
        "mutations": raw["answered"],
        "seconds": elapsed,
        "mutations_per_s": raw["answered"] / elapsed,
        "pairs": raw["pairs"],
        "pairs_per_s": raw["pairs"] / elapsed,
        "errors": raw["graphql_failures"] + raw["socket_errors"],
        "p50_ms": raw["p50_us"] / 1000,
        "p95_ms": raw["p95_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
    }


def run_httpx(
    url: str, token: str, org: str, cases: list[str], clients: int, seconds: int, offset: int
) -> dict[str, Any]:
    """The same pairs from an asyncio httpx client (competes with the server for the CPU)."""
    import httpx2 as httpx

    headers = {"Authorization": f"Bearer {token}"}
    latencies: list[float] = []
    counts = {"mutations": 0, "pairs": 0, "errors": 0}
    nonce = uuid4().hex[:12]

    async def client(n: int, http: httpx.AsyncClient, deadline: float) -> None:
        mine = cases[n::clients]
        at, sent = offset % len(mine), 0
        while time.perf_counter() < deadline:
            good = True
            for query, name in ((GRANT, "Grant"), (REFER, "Refer")):
                sent += 1
                started = time.perf_counter()
                try:
                    answer = await http.post(
                        url,
                        headers=headers,
                        json={
                            "query": query,
                            "operationName": name,
                            "variables": {"key": f"{nonce}-{n}-{sent}", "id": mine[at], "org": org},
                        },
                    )
                    ok = answer.status_code == 200 and "errors" not in answer.json()
                except httpx.HTTPError:
                    ok = False
                latencies.append(time.perf_counter() - started)
                counts["mutations"] += 1
                counts["errors"] += not ok
                good = good and ok
            counts["pairs"] += good
            at = (at + 1) % len(mine)

    async def main() -> float:
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        async with httpx.AsyncClient(limits=limits, timeout=10) as http:
            start = time.perf_counter()
            await asyncio.gather(*(client(n, http, start + seconds) for n in range(clients)))
            return time.perf_counter() - start

    elapsed = asyncio.run(main())
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000

    return {
        "mutations": counts["mutations"],
        "seconds": elapsed,
        "mutations_per_s": counts["mutations"] / elapsed,
        "pairs": counts["pairs"],
        "pairs_per_s": counts["pairs"] / elapsed,
        "errors": counts["errors"],
        "p50_ms": pct(50),
        "p95_ms": pct(95),
        "p99_ms": pct(99),
    }


def raw_inserts(url: str, schema: str, connections: int, seconds: float) -> dict[str, Any]:
    """Single-row insert transactions, each first taking the event store's table lock."""
    lock = f"LOCK TABLE {schema}.nrd_events IN EXCLUSIVE MODE"
    insert = f"INSERT INTO {schema}.bench_scratch (writer, payload) VALUES (%s, %s)"
    payload = os.urandom(512)  # about the size of one sealed event
    counts = [0] * connections
    latencies: list[list[float]] = [[] for _ in range(connections)]
    errors: list[BaseException] = []
    stop = threading.Event()
    ready = threading.Barrier(connections + 1)

    def writer(n: int) -> None:
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
                ready.wait(timeout=30)
                while not stop.is_set():
                    started = time.perf_counter()
                    with conn.transaction():
                        conn.execute(lock)
                        conn.execute(insert, (n, payload))
                    latencies[n].append(time.perf_counter() - started)
                    counts[n] += 1
        except BaseException as error:
            errors.append(error)
            ready.abort()

    workers = [threading.Thread(target=writer, args=(n,), daemon=True) for n in range(connections)]
    for w in workers:
        w.start()
    done, elapsed = 0, 1.0
    try:
        ready.wait(timeout=30)
        start = time.perf_counter()
        before = sum(counts)
        time.sleep(seconds)
        done = sum(counts) - before
        elapsed = time.perf_counter() - start
    except threading.BrokenBarrierError:
        pass  # a writer failed to connect: raised below
    finally:
        stop.set()
        for w in workers:
            w.join(timeout=30)
    if errors:
        raise errors[0]
    every = sorted(x for per in latencies for x in per)

    def pct(p: float) -> float:
        return every[min(len(every) - 1, int(p / 100 * len(every)))] * 1000

    return {
        "transactions": done,
        "seconds": elapsed,
        "transactions_per_s": done / elapsed,
        "p50_ms": pct(50),
        "p95_ms": pct(95),
        "p99_ms": pct(99),
    }


def events_by_kind(url: str, schema: str) -> dict[str, int]:
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        rows = conn.execute(
            f"SELECT topic, COUNT(*) FROM {schema}.nrd_events WHERE topic LIKE 'domain.case:%%' "
            "GROUP BY topic"
        ).fetchall()
    return {topic.rsplit(".", 1)[1]: int(n) for topic, n in rows}


class ProjectionWorker:
    """``nrd projections run`` in its own process, as production runs it (docker-compose.yml),
    with the server's settings; stopped by SIGTERM on every way out."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = common.RESULTS / "worker-cases.log"

    def __enter__(self) -> ProjectionWorker:
        common.RESULTS.mkdir(exist_ok=True)
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "api.cli", "projections", "run", "--interval", "0.2"],
                env=self.env,
                cwd=common.REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        time.sleep(1.0)
        if self.proc.poll() is not None:
            raise RuntimeError(f"the projection worker exited early; see {self.log}")
        common.say(f"projection worker up (pid {self.proc.pid})")
        return self

    def cpu(self) -> float:
        assert self.proc is not None
        return common.cpu_seconds(self.proc.pid)

    def __exit__(self, *exc: object) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)


def projection_lag(url: str, schema: str, timeout: float = 30.0) -> float | None:
    """Seconds until the case read model reaches the log's head after the load stops (the
    write-behind read model catching up); None if it did not within ``timeout``."""
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        head = conn.execute(f"SELECT MAX(notification_id) FROM {schema}.nrd_events").fetchone()
        while time.perf_counter() - started < timeout:
            row = conn.execute(
                f"SELECT position FROM {schema}.projection_tracking WHERE name = 'cases'"
            ).fetchone()
            if head and row and row[0] >= head[0]:
                return time.perf_counter() - started
            time.sleep(0.01)
    return None


def command_path(
    args: argparse.Namespace, org: str, cases: list[str], token: str, client: str
) -> dict[str, Any]:
    with psycopg.connect(args.database_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {args.schema}.bench_scratch "
            "(id BIGSERIAL PRIMARY KEY, writer INTEGER NOT NULL, payload BYTEA)"
        )
    env = common.server_env(args.schema, args.database_url)
    env["NRD_INLINE_PROJECTIONS"] = "true" if args.layout == "inline" else "false"
    server = common.Server("cases", "nrd_app:create", env, workers=args.api_processes)
    # The same requests to resolvers that do nothing, served the same way: the stack's ceiling.
    ceiling = common.Server(
        "ceiling", "ceiling_app:create", common.server_env(args.schema), workers=args.api_processes
    )
    worker = ProjectionWorker(env) if args.layout == "production" else None
    script = write_lua(token, org, cases)
    sides = ("raw", "http", "ceiling") if args.ceiling else ("raw", "http")
    rounds: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
    offset = 0
    found = None
    before = events_by_kind(args.database_url, args.schema)
    try:
        with (
            common.running(server, *([ceiling] if args.ceiling else [])),
            worker or contextlib.nullcontext(),
        ):

            def http(seconds: int, url: str = server.url + "/graphql") -> dict[str, Any]:
                nonlocal offset
                if client == "wrk":
                    result = run_wrk(url, script, args.clients, seconds, offset)
                else:
                    result = run_httpx(url, token, org, cases, args.clients, seconds, offset)
                offset += result["pairs"] // args.clients + 1  # fresh cases next time
                return result

            for n in range(args.rounds):
                for side in sides if n % 2 == 0 else reversed(sides):
                    common.say(
                        f"round {n + 1}/{args.rounds}, {side}: warm-up "
                        f"{args.warmup}s, then {args.duration}s with {args.clients} "
                        "clients"
                    )
                    if side == "raw":
                        raw_inserts(args.database_url, args.schema, args.clients, args.warmup)
                        busy0, total0 = machine_busy()
                        pg0 = common.postgres_cpu_seconds()
                        result = raw_inserts(
                            args.database_url, args.schema, args.clients, args.duration
                        )
                        result["postgres_cpu_ms_per_tx"] = (
                            (common.postgres_cpu_seconds() - pg0)
                            * 1000
                            / max(1, result["transactions"])
                        )
                        common.say(
                            f"  raw: {result['transactions_per_s']:,.0f} tx/s, "
                            f"p50 {result['p50_ms']:.1f} ms"
                        )
                    elif side == "ceiling":
                        top = ceiling.url + "/graphql"
                        http(args.warmup, top)
                        busy0, total0 = machine_busy()
                        result = http(args.duration, top)
                        common.say(
                            f"  ceiling: {result['mutations_per_s']:,.1f} no-op "
                            f"mutations/s, errors {result['errors']}"
                        )
                    else:
                        http(args.warmup)
                        cpu0 = common.tree_cpu_seconds(server.pid)
                        busy0, total0 = machine_busy()
                        worker0 = worker.cpu() if worker else 0.0
                        pg0 = common.postgres_cpu_seconds()
                        result = http(args.duration)
                        cpu = common.tree_cpu_seconds(server.pid) - cpu0
                        result["postgres_cpu_ms_per_mutation"] = (
                            (common.postgres_cpu_seconds() - pg0)
                            * 1000
                            / max(1, result["mutations"])
                        )
                        result["server_cpu_ms_per_mutation"] = (
                            cpu * 1000 / max(1, result["mutations"])
                        )
                        result["server_cpu_cores"] = cpu / result["seconds"]
                        if worker:
                            worker_cpu = worker.cpu() - worker0
                            result["worker_cpu_ms_per_mutation"] = (
                                worker_cpu * 1000 / max(1, result["mutations"])
                            )
                            result["worker_cpu_cores"] = worker_cpu / result["seconds"]
                        common.say(
                            f"  http: {result['mutations_per_s']:,.1f} mutations/s "
                            f"({result['pairs_per_s']:,.1f} pairs/s), p50 "
                            f"{result['p50_ms']:.1f} ms, errors {result['errors']}"
                        )
                    busy1, total1 = machine_busy()
                    result["machine_busy"] = (busy1 - busy0) / max(1, total1 - total0)
                    rounds[side].append(result)
            if args.profile:
                found = profile(server, lambda: http(args.profile), args.profile)
            lag = projection_lag(args.database_url, args.schema)
    finally:
        with psycopg.connect(args.database_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f"DROP TABLE IF EXISTS {args.schema}.bench_scratch")
    after = events_by_kind(args.database_url, args.schema)
    written = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    best_raw = max(rounds["raw"], key=lambda r: r["transactions_per_s"])
    best_http = max(rounds["http"], key=lambda r: r["mutations_per_s"])
    best_ceiling = max(rounds.get("ceiling", []), key=lambda r: r["mutations_per_s"], default=None)
    return {
        "raw": best_raw,
        "http": best_http,
        "ceiling": best_ceiling,
        "ceiling_ratio": None
        if best_ceiling is None
        else best_ceiling["mutations_per_s"] / best_raw["transactions_per_s"],
        "all_rounds": rounds,
        "profile": found,
        "layout": args.layout,
        "events_written_during_load": written,
        "case_projection_behind_at_end_s": lag,
        "ratio": best_http["mutations_per_s"] / best_raw["transactions_per_s"],
        "pair_ratio": best_http["pairs_per_s"] / best_raw["transactions_per_s"],
    }


# Where the server's CPU goes per mutation: (label, a frame the stack must hold, one it must
# not). Shares overlap; a frame renamed in the code shows as 0.0 (see the self list instead).
BREAKDOWN = (
    ("event loop: HTTP handler (graphql_post)", "graphql_post (", None),
    ("  of which GraphQL execution (Schema.execute)", "Schema.execute (", None),
    ("worker threads: the command (Context.command)", "Context.command.<locals>.run", None),
    (
        "  loading aggregates, cached or not (CopyingRepository._current)",
        "CopyingRepository._current (",
        None,
    ),
    (
        "  saving events + idempotency record (TracedApplication.save)",
        "TracedApplication.save (",
        None,
    ),
    ("  idempotency lookup (_prior)", "WritePath._prior (", None),
    ("  the vault (seal, open, digest)", "EnvelopeVault.", None),
    (
        "worker threads: read-your-writes catch-up (System.read_your_writes)",
        "System.read_your_writes (",
        None,
    ),
    (
        "worker threads: reading the case back for the answer (CaseQueries.get)",
        "CaseQueries.get (",
        None,
    ),
    ("projection worker thread (Projector.run_forever)", "Projector.run_forever", None),
    ("psycopg, anywhere", "psycopg/", None),
    ("uvicorn h11 outside the handler (parse, write)", "h11_impl", "graphql_post ("),
)


def profile(server: common.Server, load: Any, seconds: int) -> dict[str, Any] | None:
    """py-spy (--gil: the thread holding the GIL, i.e. where the server's CPU goes) on the
    server under the same load."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        common.say("py-spy not found (pip install py-spy): no profile")
        return None
    raw = common.RESULTS / "profile-case-commands.txt"
    common.say(f"profiling the server (pid {server.pid}) for {seconds}s under the same load")
    spy_proc = subprocess.Popen(
        [
            spy,
            "record",
            "--pid",
            str(server.pid),
            "--duration",
            str(seconds),
            "--rate",
            "200",
            "--nonblocking",
            "--gil",
            "--subprocesses",
            "--format",
            "raw",
            "--output",
            str(raw),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        time.sleep(1.0)
        load()
        _, err = spy_proc.communicate(timeout=60)
    finally:  # py-spy stops by itself after --duration; never leave it attached
        if spy_proc.poll() is None:
            spy_proc.kill()
            spy_proc.wait(timeout=5)
    if spy_proc.returncode != 0:
        common.say(f"py-spy failed: {err.decode()[-500:]}")
        return None
    summary = common.summarize_profile(raw, 25)
    counts = dict.fromkeys((label for label, _, _ in BREAKDOWN), 0)
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack:
            total += int(count)
            for label, needle, unless in BREAKDOWN:
                if needle in stack and (unless is None or unless not in stack):
                    counts[label] += int(count)
    summary["breakdown"] = [(label, 100 * n / max(1, total)) for label, n in counts.items()]
    summary["raw"] = str(raw.relative_to(common.REPO))
    return summary


# -- (b) the field-level policy's cost -----------------------------------------------------------


class AllowEverything:
    """BENCHMARK ONLY: a policy that grants every field of every type to every role."""

    def __init__(self, real: Any, graphql_schema: Any) -> None:
        self.version = real.version
        self._fields = {
            name: frozenset(t.fields)
            for name, t in graphql_schema.type_map.items()
            if hasattr(t, "fields") and not name.startswith("__")
        }

    def fields(self, role: str, type_name: str, relation: str = "any") -> frozenset[str]:
        return self._fields.get(type_name, frozenset())

    def allows(
        self, role: str, coordinate: str, action: str = "read", relation: str = "any"
    ) -> bool:
        return True


class PolicySwitch:
    """Turns the policy check off and on again in this process: the compiled policy that the
    resolvers consult, and the document gate's field-policy validation rule."""

    def __init__(self, system: Any) -> None:
        from graphql import validate

        from api.schema.adapter import graphql_schema

        core_schema = graphql_schema(system.schema)
        self.system = system
        self.real_policy = system.policy
        self.open_policy = AllowEverything(system.policy, core_schema)
        gate = system.gate
        self.real_validated = gate.validated
        without = {
            role: tuple(r for r in rules if r.__name__ != "FieldPolicyRule")
            for role, rules in gate._rules.items()
        }

        @lru_cache(maxsize=1024)  # cached like the real gate, so both sides pay the same
        def validated(query: str, role: str) -> tuple[Any, ...]:
            return tuple(validate(core_schema, gate.parsed(query), without[role]))

        self.open_validated = validated

    def set(self, on: bool) -> None:
        self.system.policy = self.real_policy if on else self.open_policy
        self.system.gate.validated = self.real_validated if on else self.open_validated


def policy_cost(system: Any, args: argparse.Namespace) -> dict[str, Any]:
    from api.auth import Principal
    from api.context import Context

    def context(role: str) -> Context:
        return Context(
            principal=Principal(f"bench-{role}-1", role), system=system, request_id="bench-policy"
        )

    staff = context("staff")
    switch = PolicySwitch(system)

    async def execute(ctx: Context) -> Any:
        return await system.schema.execute(CASE_LIST, context_value=ctx, operation_name="CaseList")

    async def batch(n: int) -> float:
        started = time.perf_counter()
        for _ in range(n):
            result = await execute(staff)
            if result.errors:
                raise SystemExit(f"the case list failed: {result.errors}")
        return (time.perf_counter() - started) / n

    async def main() -> dict[str, Any]:
        for on in (True, False, True, False):  # warm-up: caches, the vault's keys, the pool
            switch.set(on)
            for _ in range(3):
                await execute(staff)
        answers = {}
        for on in (True, False):  # the same answer either way, for staff
            switch.set(on)
            result = await execute(staff)
            if result.errors:
                raise SystemExit(f"the case list failed: {result.errors}")
            answers[on] = result.data
        items = answers[True]["cases"]["items"]
        if answers[True] != answers[False] or len(items) != 50:
            raise SystemExit(
                "the case list differs with the policy bypassed, or is not 50 "
                "cases: the comparison would not be like for like"
            )
        # Proof that the switch really bypasses: compliance may not read cases, unless off.
        refused = {}
        for on in (True, False):
            switch.set(on)
            refused[on] = bool((await execute(context("compliance"))).errors)
        if refused != {True: True, False: False}:
            raise SystemExit(f"the policy switch does not work: refused={refused}")
        times: dict[bool, list[float]] = {True: [], False: []}
        progress = common.Progress("policy on/off batches", 2 * args.policy_rounds)
        for n in range(args.policy_rounds):
            for on in (True, False) if n % 2 == 0 else (False, True):
                switch.set(on)
                times[on].append(await batch(args.policy_batch))
                progress.update(len(times[True]) + len(times[False]))
        progress.finish()
        switch.set(True)
        return {"times": times, "fields_per_case": CASE_FIELDS, "cases": len(items)}

    found = asyncio.run(main())  # one event loop: the system's thread limiter binds to it
    on, off = found.pop("times").values()
    on_ms, off_ms = statistics.median(on) * 1000, statistics.median(off) * 1000
    return {
        **found,
        "batches_per_side": len(on),
        "queries_per_batch": args.policy_batch,
        "policy_on_ms": on_ms,
        "policy_off_ms": off_ms,
        "policy_on_best_ms": min(on) * 1000,
        "policy_off_best_ms": min(off) * 1000,
        "overhead_pct": 100 * (on_ms - off_ms) / off_ms,
        "overhead_best_pct": 100 * (min(on) - min(off)) / min(off),
        "batch_spread_pct": 100
        * (statistics.quantiles(on + off, n=4)[2] - statistics.quantiles(on + off, n=4)[0])
        / statistics.median(on + off),
    }


# -- main --------------------------------------------------------------------------------------


def positive(ceiling: int) -> Any:
    def parse(text: str) -> int:
        value = int(text)
        if not 1 <= value <= ceiling:
            raise argparse.ArgumentTypeError(f"must be from 1 to {ceiling:,}")
        return value

    parse.__name__ = "int"
    return parse


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="(a) consent-and-referral mutation pairs over HTTP (uvicorn, one worker, "
        "PostgreSQL) against raw single-row insert transactions taking the event "
        "store's table lock, same clients, same database, same run; (b) the staff "
        "case list (50 cases, 16 fields) in process with the field-level policy on "
        "and bypassed (benchmark only), alternating. Prints tables and a JSON line "
        "and keeps the JSON under bench/results/. Recreates its schema each run. "
        "Runs about seeding + policy-rounds x 2 x policy-batch queries + "
        "rounds x 2 x (warmup + duration) seconds.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--schema", default="bench_cases", help="PostgreSQL schema (recreated)")
    p.add_argument(
        "--database-url",
        default=common.DEFAULT_URL,
        help="PostgreSQL URL (or NRD_BENCH_DATABASE_URL)",
    )
    p.add_argument(
        "--cases",
        type=positive(100_000),
        default=1500,
        help="cases opened before the load (each client works through its share, "
        "one pair per case, wrapping around)",
    )
    p.add_argument("--seed-threads", type=positive(32), default=2, help="threads opening cases")
    p.add_argument(
        "--clients",
        type=positive(64),
        default=8,
        help="concurrent HTTP clients, and raw-insert connections",
    )
    p.add_argument(
        "--duration", type=positive(600), default=20, help="measured seconds per side and round"
    )
    p.add_argument(
        "--warmup", type=positive(120), default=3, help="warm-up seconds per side and round"
    )
    p.add_argument(
        "--rounds",
        type=positive(10),
        default=2,
        help="measure each side this many times, alternating the order; each side's "
        "best round counts, every round is in the JSON",
    )
    p.add_argument(
        "--ceiling",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also send the same requests, each round, to bench/ceiling_app.py "
        "(resolvers that do nothing, served the same way): how far the HTTP "
        "and GraphQL layers alone go on this machine",
    )
    p.add_argument(
        "--layout",
        choices=["production", "inline"],
        default="production",
        help="production: the API process (NRD_INLINE_PROJECTIONS=false) and a "
        "projection worker process, as docker-compose.yml runs them; inline: "
        "one process that also runs the projections",
    )
    p.add_argument(
        "--api-processes",
        type=positive(16),
        default=2,
        help="uvicorn worker processes serving the API (docker-compose.yml runs two "
        "replicas; with --layout inline each one also follows the log)",
    )
    p.add_argument(
        "--client",
        choices=["auto", "wrk", "httpx"],
        default="auto",
        help="HTTP load generator (auto: wrk if installed)",
    )
    p.add_argument(
        "--policy-rounds",
        type=positive(1000),
        default=40,
        help="policy on/off batch pairs (order alternates)",
    )
    p.add_argument(
        "--policy-batch", type=positive(1000), default=30, help="case-list queries per batch"
    )
    p.add_argument(
        "--profile",
        type=int,
        default=0,
        choices=range(0, 301),
        metavar="SECONDS",
        help="after the rounds, py-spy the server for this many seconds under the "
        "same load and print where its CPU goes (0: no profile)",
    )
    p.add_argument(
        "--only", choices=["both", "commands", "policy"], default="both", help="run one part only"
    )
    p.add_argument(
        "--target-ratio", type=float, default=0.4, help="mutations/s ÷ raw tx/s to reach"
    )
    p.add_argument(
        "--target-overhead", type=float, default=10.0, help="policy overhead %% to stay under"
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    common.exit_cleanly_on_sigterm()
    client = common.choose_client(args.client)
    idle = common.background_busy()
    from api.wiring import build_system

    common.say(f"schema {args.schema}: recreating; opening {args.cases} cases through the commands")
    common.recreate_schema(args.database_url, args.schema)
    system = build_system(
        common.settings_for(args.schema, args.database_url, pool_size=max(4, args.seed_threads))
    )
    try:
        org, cases, seed_seconds = seed(system, args.cases, args.seed_threads)
        token = system.auth.issue("staff", "bench-staff-1", hours=2)
        policy = None
        if args.only in ("both", "policy"):
            common.say(
                f"policy cost: {args.policy_rounds} x 2 batches of {args.policy_batch} "
                "case-list queries, in process"
            )
            policy = policy_cost(system, args)
    finally:
        system.close()
    commands = None
    if args.only in ("both", "commands"):
        commands = command_path(args, org, cases, token, client)

    print()
    print(
        f"case commands: {args.cases} cases opened in {seed_seconds:.1f}s; "
        f"{common.machine()['cpus']} cores; machine {100 * idle:.0f}% busy before the run"
    )
    if commands is not None:
        raw, http = commands["raw"], commands["http"]
        print(
            f"\n(a) command path, {args.clients} clients, {args.duration}s after "
            f"{args.warmup}s warm-up, {args.rounds} round(s), best round per side ({client})"
        )
        print(
            common.table(
                ["side", "rate", "unit", "p50 ms", "p95 ms", "p99 ms", "errors"],
                [
                    [
                        "raw LOCK + INSERT",
                        f"{raw['transactions_per_s']:,.0f}",
                        "tx/s",
                        f"{raw['p50_ms']:.1f}",
                        f"{raw['p95_ms']:.1f}",
                        f"{raw['p99_ms']:.1f}",
                        0,
                    ],
                    [
                        "HTTP mutations",
                        f"{http['mutations_per_s']:,.1f}",
                        "mutations/s",
                        f"{http['p50_ms']:.1f}",
                        f"{http['p95_ms']:.1f}",
                        f"{http['p99_ms']:.1f}",
                        http["errors"],
                    ],
                    ["HTTP pairs", f"{http['pairs_per_s']:,.1f}", "pairs/s", "", "", "", ""],
                    *(
                        [
                            [
                                "no-op GraphQL (ceiling)",
                                f"{top['mutations_per_s']:,.1f}",
                                "mutations/s",
                                f"{top['p50_ms']:.1f}",
                                f"{top['p95_ms']:.1f}",
                                f"{top['p99_ms']:.1f}",
                                top["errors"],
                            ]
                        ]
                        if (top := commands["ceiling"]) is not None
                        else []
                    ),
                ],
            )
        )
        verdict = "meets" if commands["ratio"] >= args.target_ratio else "BELOW"
        print(
            f"ratio mutations/s ÷ raw tx/s: {commands['ratio']:.3f} ({verdict} the target "
            f"{args.target_ratio:g}); pairs/s ÷ raw tx/s: {commands['pair_ratio']:.3f}; "
            f"server CPU {http['server_cpu_ms_per_mutation']:.1f} ms per mutation"
        )
        if commands["ceiling"] is not None:
            print(
                f"the stack's ceiling (the same requests, resolvers that do nothing): ratio "
                f"{commands['ceiling_ratio']:.3f}; the API reaches "
                f"{100 * http['mutations_per_s'] / commands['ceiling']['mutations_per_s']:.0f}"
                "% of it"
            )
        worker_note = ""
        if "worker_cpu_cores" in http:
            worker_note = (
                f", projection worker {http['worker_cpu_cores']:.2f} cores, "
                f"{http['worker_cpu_ms_per_mutation']:.2f} ms per mutation"
            )
        cores = common.machine()["cpus"]
        machine_ms = 1000 * cores * http["machine_busy"] / http["mutations_per_s"]
        print(
            f"CPU per mutation, all processes: {machine_ms:.2f} ms (API "
            f"{http['server_cpu_ms_per_mutation']:.2f}, projection worker "
            f"{http.get('worker_cpu_ms_per_mutation', 0.0):.2f}, PostgreSQL "
            f"{http['postgres_cpu_ms_per_mutation']:.2f}; a raw transaction costs PostgreSQL "
            f"{raw['postgres_cpu_ms_per_tx']:.2f}); the target's rate would leave "
            f"{1000 * cores / (args.target_ratio * raw['transactions_per_s']):.2f} ms "
            "per mutation for everything, with the cores fully busy"
        )
        lag = commands["case_projection_behind_at_end_s"]
        print(
            f"layout: {commands['layout']}; case events written during the load: "
            f"{commands['events_written_during_load']}; machine busy: raw "
            f"{100 * raw['machine_busy']:.0f}%, HTTP {100 * http['machine_busy']:.0f}% "
            f"(server {http['server_cpu_cores']:.2f} cores{worker_note}); the case read "
            "model reached the log's head "
            + ("NOT within 30 s" if lag is None else f"{lag:.2f} s after the load")
        )
        found = commands["profile"]
        if found is not None:
            print(
                f"\nserver profile: {found['samples']} samples (py-spy --gil); collapsed "
                f"stacks in {found['raw']}"
            )
            print(
                common.table(
                    ["where the server's CPU goes", "share %"],
                    [[label, f"{v:.1f}"] for label, v in found["breakdown"]],
                )
            )
            print()
            print(
                common.table(
                    ["function", "self %"], [[f, f"{v:.1f}"] for f, v in found["self"][:15]]
                )
            )
    if policy is not None:
        print(
            f"\n(b) field-level policy: staff cases(first: 50), {CASE_FIELDS} fields per "
            f"case, {policy['batches_per_side']} batches of {policy['queries_per_batch']} "
            "per side, alternating"
        )
        print(
            common.table(
                ["policy", "median ms/query", "best batch ms/query"],
                [
                    ["on", f"{policy['policy_on_ms']:.2f}", f"{policy['policy_on_best_ms']:.2f}"],
                    [
                        "bypassed (bench only)",
                        f"{policy['policy_off_ms']:.2f}",
                        f"{policy['policy_off_best_ms']:.2f}",
                    ],
                ],
            )
        )
        verdict = "under" if policy["overhead_pct"] < args.target_overhead else "OVER"
        print(
            f"overhead: {policy['overhead_pct']:+.1f}% by medians, "
            f"{policy['overhead_best_pct']:+.1f}% by best batches ({verdict} the "
            f"{args.target_overhead:g}% limit); batch-to-batch spread (IQR) "
            f"{policy['batch_spread_pct']:.1f}%"
        )
    print()

    common.emit(
        "case_commands",
        common.rounded(
            {
                "background_busy_before": idle,
                "schema": args.schema,
                "cases": args.cases,
                "seed_seconds": seed_seconds,
                "clients": args.clients,
                "duration_s": args.duration,
                "warmup_s": args.warmup,
                "rounds": args.rounds,
                "client": client,
                "command_path": commands,
                "target_ratio": args.target_ratio,
                "meets_ratio": None if commands is None else commands["ratio"] >= args.target_ratio,
                "policy": policy,
                "target_overhead_pct": args.target_overhead,
                "meets_overhead": None
                if policy is None
                else policy["overhead_pct"] < args.target_overhead,
            }
        ),
    )
    return 0


if __name__ == "__main__":
    common.run(main)
