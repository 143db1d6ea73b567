"""Shared pieces of the benchmarks: settings, seeding through the real commands, servers, output.

Benchmarks report ratios against a reference measured in the same run on the same machine, never
absolute targets (see bench/README.md): the absolute figures only make the ratios readable.
"""

from __future__ import annotations

import base64
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn
from uuid import uuid4

import psycopg

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results"
DEFAULT_URL = os.environ.get("NRD_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
JWT_SECRET = "bench-secret-" + "x" * 40
# Fixed (not secret) so that a reused schema's encrypted records stay readable across runs.
MASTER_KEY = base64.b64encode(b"nrd-bench-master-key-not-secret!").decode()
SEED_VERSION = "1"  # bump when the seeded data changes shape, so old schemas are reseeded


# -- output ----------------------------------------------------------------------------------


def choose_client(wanted: str) -> str:
    """wrk when asked or available; else an httpx client (which competes for the CPU)."""
    if wanted != "auto":
        return wanted
    if shutil.which("wrk"):
        return "wrk"
    say(
        "wrk not found (apt-get install -y wrk): falling back to an httpx client, which "
        "competes with the servers for the CPU"
    )
    return "httpx"


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def exit_cleanly_on_sigterm() -> None:
    """SIGTERM (kill, timeout) unwinds like Ctrl-C does, so every ``finally`` stops what this
    process started (servers, child processes, py-spy) instead of leaving it running."""

    def handler(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


class Progress:
    """A single rewritten stderr line, at most five times a second."""

    def __init__(self, label: str, total: int) -> None:
        self.label, self.total = label, total
        self.started = time.perf_counter()
        self._last = 0.0
        self._lock = threading.Lock()

    def update(self, done: int, extra: str = "") -> None:
        now = time.perf_counter()
        with self._lock:
            if now - self._last < 0.2 and done < self.total:
                return
            self._last = now
        elapsed = now - self.started
        rate = done / elapsed if elapsed > 0 else 0.0
        print(
            f"\r{self.label}: {done}/{self.total} ({rate:,.0f}/s, {elapsed:.0f}s){extra}   ",
            end="",
            file=sys.stderr,
            flush=True,
        )

    def finish(self) -> float:
        print(file=sys.stderr, flush=True)
        return time.perf_counter() - self.started


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        lines.append(
            "  ".join(
                c.rjust(w) if n and i else c.ljust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
    }


def background_busy(seconds: float = 2.0) -> float:
    """Share of the machine's CPU busy before the benchmark starts (other work skews ratios)."""

    def sample() -> tuple[int, int]:
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        return sum(values) - values[3] - values[4], sum(values)

    busy0, total0 = sample()
    time.sleep(seconds)
    busy1, total1 = sample()
    share = (busy1 - busy0) / max(1, total1 - total0)
    if share > 0.15:
        say(
            f"WARNING: the machine is already {100 * share:.0f}% busy with other work: "
            "absolute figures and, less so, the ratios will be skewed"
        )
    return share


def revision() -> dict[str, Any]:
    """The commit measured, and whether the measured code differed from it."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, check=False
        ).stdout

    changed = [
        line[3:]
        for line in git("status", "--porcelain").splitlines()
        if not line[3:].startswith("bench/")
    ]
    return {
        "commit": git("rev-parse", "--short", "HEAD").strip(),
        "uncommitted_outside_bench": changed,
    }


def emit(name: str, result: dict[str, Any]) -> Path:
    """Prints the final JSON line on stdout and keeps a copy under bench/results/."""
    result = {
        "benchmark": name,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "code": revision(),
        **result,
    }
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"{name}-{stamp}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, separators=(",", ":")), flush=True)
    say(f"results kept in {path.relative_to(REPO)}")
    return path


def rounded(value: Any, digits: int = 3) -> Any:
    """``value`` with every float in it (in dicts and lists too) rounded, for the results."""
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v, digits) for v in value]
    return value


def run(main: Callable[[], int]) -> NoReturn:
    """A benchmark's ``__main__``: exits with what ``main`` returns, or 130 on Ctrl-C (by then
    every ``finally`` on the way out has stopped what the benchmark started)."""
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        say("interrupted")
        sys.exit(130)


# -- profiles ----------------------------------------------------------------------------------

# Frames on every stack (entry points, the event loop, worker threads): no news in "inclusive".
_PLUMBING = (
    "threading",
    "click/",
    "uvicorn/",
    "starlette/",
    "asyncio/",
    "anyio/",
    "<frozen runpy>",
    "strawberry/utils/await_maybe",
)
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def _short(frame: str) -> str:
    match = _FRAME.match(frame)
    if not match:
        return frame
    path = match["file"]
    for marker in ("site-packages/", "/work/main/", "lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{match['func']} ({path})"


def summarize_profile(raw: Path, top: int, within: str = "") -> dict[str, Any]:
    """Self and inclusive sample shares per function, from py-spy's collapsed stacks
    (only the stacks that pass through a frame containing ``within``, if given)."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        if within and within not in stack:
            continue
        frames = [_short(f) for f in stack.split(";")]
        frames = [f for f in frames if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        total += n
        own[frames[-1]] += n
        for f in set(frames):
            if not f.rpartition(" (")[2].startswith(_PLUMBING):
                inclusive[f] += n

    def share(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(f, 100 * c / total) for f, c in counter.most_common(top)]

    return {"samples": total, "self": share(own), "inclusive": share(inclusive)}


# -- the store -------------------------------------------------------------------------------


def server_env(schema: str, url: str = DEFAULT_URL) -> dict[str, str]:
    """The environment a server subprocess reads its settings from (NRD_* as in production;
    any NRD_* of the calling shell is dropped, so every run measures the same settings)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NRD_")}
    env.update(
        {
            "NRD_DATABASE_URL": url,
            "NRD_DATABASE_SCHEMA": schema,
            "NRD_JWT_SECRET": JWT_SECRET,
            "NRD_MASTER_KEY": MASTER_KEY,
            "NRD_DATA_DIR": str(RESULTS / "data"),
            # The load generators send thousands of disclosures a minute under one token.
            "NRD_RATE_LIMIT_PER_MINUTE": "1000000",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        }
    )
    return env


_migrated: set[tuple[str, str]] = set()


def settings_for(schema: str, url: str = DEFAULT_URL, pool_size: int = 10) -> Any:
    """The settings of an in-process system: the servers' settings, read the same way, with
    ``pool_size`` connections in each of its two pools. The schema is migrated first (``nrd db
    migrate``), once per process: nothing else makes tables on PostgreSQL."""
    from api.config import Settings
    from api.wiring import migrate_database

    env = {k: v for k, v in server_env(schema, url).items() if k.startswith("NRD_")}
    settings = Settings.from_env({**env, "NRD_MAX_CONNECTIONS": str(2 * pool_size + 1)})
    if (url, schema) not in _migrated:
        with _admin(url) as conn:
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        migrate_database(settings)
        _migrated.add((url, schema))
    return settings


def _admin(url: str) -> psycopg.Connection[Any]:
    return psycopg.connect(url, autocommit=True, connect_timeout=5)


def seeded_count(url: str, schema: str) -> int | None:
    """How many organizations a finished seed left in ``schema``, or None if none finished."""
    with _admin(url) as conn:
        row = conn.execute("SELECT to_regclass(%s)", (f"{schema}.bench_meta",)).fetchone()
        if row is None or row[0] is None:
            return None
        meta = dict(conn.execute(f"SELECT name, value FROM {schema}.bench_meta").fetchall())
    if meta.get("seed_version") != SEED_VERSION or "organizations" not in meta:
        return None
    return int(meta["organizations"])


def recreate_schema(url: str, schema: str) -> None:
    with _admin(url) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.execute(f"CREATE SCHEMA {schema}")
    _migrated.discard((url, schema))


def _mark_seeded(url: str, schema: str, count: int, seconds: float) -> None:
    with _admin(url) as conn:
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {schema}.bench_meta "
            "(name TEXT PRIMARY KEY, value TEXT NOT NULL)"
        )
        for name, value in (
            ("organizations", str(count)),
            ("seed_version", SEED_VERSION),
            ("seed_seconds", f"{seconds:.1f}"),
        ):
            conn.execute(
                f"INSERT INTO {schema}.bench_meta (name, value) VALUES (%s, %s) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (name, value),
            )


APPROVAL_NOTE = "Bench approval (fictional)"
# Staff record an organization's written agreement to its public listing with its application.
LISTING_AGREEMENT = "Bench: the organization's signed listing form (fictional)"


def _plan(index: int, rng: random.Random) -> tuple[dict[str, Any], bool, bool]:
    """What organization ``index`` is: its profile, whether it asks to be listed publicly,
    whether it ends included. 80% end included and publicly listed; index % 10 == 8:
    included but not listed publicly; index % 10 == 9: left in review. Provinces rotate over
    all 13; languages come from demo_profile (en/fr and others)."""
    from api.demo import demo_profile
    from domain.vocabulary import PROVINCES

    provinces = sorted(PROVINCES)
    profile = demo_profile(index, provinces[index % len(provinces)], rng)
    # Both official languages across the set: every other organization serves in en and fr.
    if index % 2 == 0:
        profile["languages"] = ["en", "fr"]
    bucket = index % 10
    return profile, bucket != 8, bucket != 9


def _seed_one(app: Any, index: int, rng: random.Random, tag: str) -> int:
    """One organization through the real commands (apply, start review, approve)."""
    from api.demo import ALL_CRITERIA

    profile, listed, approved = _plan(index, rng)
    org = app.apply_for_inclusion(
        f"{tag}-{index}-apply", profile, ALL_CRITERIA, listed, LISTING_AGREEMENT
    ).id
    app.start_review(f"{tag}-{index}-review", org)
    if approved:
        app.approve_inclusion(f"{tag}-{index}-approve", org, APPROVAL_NOTE)
        return 3
    return 2


def seed_bulk(
    system: Any, count: int, tag: str, batch: int = 500, rng_seed: int = 1000
) -> tuple[float, int]:
    """The faster path: the same commands' events, written ``batch`` organizations per
    transaction instead of one command per transaction. For each organization the aggregate
    methods the commands call (``Organization.submit_application``, ``start_review``,
    ``approve_inclusion``) decide in memory on the same inputs (``parse_profile``,
    ``parse_criteria``), acting as the same staff actor, and each command's idempotency
    record is made as ``WritePath._decide_and_save`` makes it (same id from the
    actor and key, same fingerprint, same result); ``app.save`` writes them all. What
    differs: ids are fresh, timestamps are the writing moment, and a batch's events commit
    together. The read models are projected once, afterwards (``catch_up``), as for the
    command path. ``tests/integration/test_bench_seeding.py`` checks both paths project
    the same read models. Returns (seconds, commands)."""
    from api.demo import ALL_CRITERIA
    from domain.base import Actor, acting_as
    from domain.idempotency import IdempotencyRecord, record_id
    from domain.organization import Organization
    from domain.vocabulary import parse_criteria, parse_profile

    app = system.app
    rng = random.Random(rng_seed)
    actor = Actor("bench-staff-0", "staff", request_id="bench-0")
    identity = "\x1f".join([actor.role, actor.organization_id or "", actor.user_id])
    pending: list[Any] = []
    commands = 0
    progress = Progress("seeding organizations (bulk)", count)

    def recorded(key: str, operation: str, inputs: dict[str, Any], org: Any) -> None:
        nonlocal commands
        digest = app._fingerprint(operation, inputs)  # as the command computes it
        pending.append(
            IdempotencyRecord.record(
                record_id(identity, key),
                operation,
                digest.digest,
                {"id": str(org.id), "version": org.version},
            )
        )
        commands += 1

    with acting_as(actor):
        for index in range(count):
            profile, listed, approved = _plan(index, rng)
            clean, attested = parse_profile(profile), parse_criteria(ALL_CRITERIA)
            org = Organization.submit_application(
                id=uuid4(),
                profile=clean,
                criteria=attested,
                public_listing=listed,
                listing_agreement=LISTING_AGREEMENT,
            )
            recorded(
                f"{tag}-{index}-apply",
                "applyForInclusion",
                {
                    "profile": clean,
                    "criteria": attested,
                    "publicListing": listed,
                    "listingAgreement": LISTING_AGREEMENT,
                },
                org,
            )
            org.start_review()
            recorded(f"{tag}-{index}-review", "startReview", {"id": org.id}, org)
            if approved:
                org.approve_inclusion(APPROVAL_NOTE)
                recorded(
                    f"{tag}-{index}-approve",
                    "approveInclusion",
                    {"id": org.id, "note": APPROVAL_NOTE},
                    org,
                )
            pending.append(org)
            if (index + 1) % batch == 0 or index + 1 == count:
                app.save(*pending)
                pending.clear()
                progress.update(index + 1)
    return progress.finish(), commands


def seed(system: Any, count: int, threads: int, tag: str) -> tuple[float, int]:
    """Writes ``count`` organizations with ``threads`` writers: (seconds, commands run)."""
    from domain.base import Actor, acting_as

    app = system.app
    next_index = iter(range(count))
    lock = threading.Lock()
    done = [0]
    commands = [0]
    errors: list[BaseException] = []
    stop = threading.Event()
    progress = Progress("seeding organizations", count)

    def worker(n: int) -> None:
        rng = random.Random(1000 + n)
        with acting_as(Actor(f"bench-staff-{n}", "staff", request_id=f"bench-{n}")):
            while not errors and not stop.is_set():
                with lock:
                    index = next(next_index, None)
                if index is None:
                    return
                try:
                    ran = _seed_one(app, index, rng, tag)
                except BaseException as error:
                    errors.append(error)
                    return
                with lock:
                    done[0] += 1
                    commands[0] += ran
                progress.update(done[0])

    workers = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(threads)]
    try:
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    finally:  # on Ctrl-C, let the writers finish their command before the store closes
        stop.set()
        for w in workers:
            w.join(timeout=30)
    seconds = progress.finish()
    if errors:
        raise errors[0]
    return seconds, commands[0]


def catch_up(system: Any) -> tuple[int, float]:
    head = system.projector.head()
    progress = Progress("projecting events", head)
    started = time.perf_counter()

    def show(name: str, position: int, _head: int) -> None:
        progress.update(position, f" [{name}]")

    applied = system.projector.catch_up(show)
    progress.finish()
    return applied, time.perf_counter() - started


def sqlite_env(folder: Path) -> dict[str, str]:
    """``server_env`` for the embedded store: SQLite files in ``folder``."""
    env = server_env("", DEFAULT_URL)
    for name in ("NRD_DATABASE_URL", "NRD_DATABASE_SCHEMA"):
        env.pop(name)
    env["NRD_DATA_DIR"] = str(folder)
    return env


def sqlite_folder(name: str) -> Path:
    return RESULTS / f"data-{name}"


def _sqlite_seeded_count(folder: Path) -> int | None:
    try:
        meta = json.loads((folder / "bench_meta.json").read_text())
    except (OSError, ValueError):
        return None
    if meta.get("seed_version") != SEED_VERSION:
        return None
    return int(meta["organizations"])


def _system_for(store: str, schema: str, url: str, threads: int) -> Any:
    from api.config import Settings
    from api.wiring import build_system

    if store == "sqlite":  # the embedded store migrates itself when a system is built
        env = {k: v for k, v in sqlite_env(sqlite_folder(schema)).items() if k.startswith("NRD_")}
        return build_system(Settings.from_env(env))
    return build_system(settings_for(schema, url, pool_size=max(4, threads)))


def ensure_seeded(
    schema: str,
    count: int,
    url: str = DEFAULT_URL,
    reseed: bool = False,
    threads: int = 2,
    *,
    bulk: bool = False,
    store: str = "postgres",
) -> dict[str, Any]:
    """Reuses ``schema`` (on SQLite: the folder ``sqlite_folder(schema)``) if a finished seed
    of ``count`` organizations is there, else reseeds: through the commands, or with ``bulk``
    through ``seed_bulk`` (the same commands' events, many organizations per transaction)."""
    folder = sqlite_folder(schema)
    where = f"{store} {schema}"
    if reseed:
        found = None
    elif store == "sqlite":
        found = _sqlite_seeded_count(folder)
    else:
        found = seeded_count(url, schema)
    if found == count:
        say(
            f"{where}: reusing the {count} organizations seeded earlier "
            "(--reseed writes them again)"
        )
        system = _system_for(store, schema, url, threads)
        try:
            applied, _ = catch_up(system)
            head = system.projector.head()
        finally:
            system.close()
        return {
            "store": store,
            "schema": schema,
            "organizations": count,
            "reused": True,
            "events": head,
            "seed_seconds": None,
            "projected_now": applied,
        }
    why = "--reseed" if reseed else (f"it holds {found}" if found is not None else "not seeded")
    path = "in bulk (seed_bulk)" if bulk else f"through the commands ({threads} writer threads)"
    say(f"{where}: seeding {count} organizations {path} ({why})")
    if store == "sqlite":
        shutil.rmtree(folder, ignore_errors=True)
    else:
        recreate_schema(url, schema)
    system = _system_for(store, schema, url, threads)
    try:
        if bulk:
            seconds, commands = seed_bulk(system, count, tag=f"bench-{schema}")
        else:
            seconds, commands = seed(system, count, threads, tag=f"bench-{schema}")
        applied, projection_seconds = catch_up(system)
        head = system.projector.head()
    finally:
        system.close()
    if store == "sqlite":
        (folder / "bench_meta.json").write_text(
            json.dumps(
                {
                    "organizations": count,
                    "seed_version": SEED_VERSION,
                    "seed_seconds": round(seconds, 1),
                }
            )
        )
    else:
        _mark_seeded(url, schema, count, seconds)
    say(
        f"{where}: {count} organizations, {head} events in {seconds:.1f}s "
        f"({commands} commands, {commands / seconds:,.0f}/s); "
        f"projected in {projection_seconds:.1f}s"
    )
    return {
        "store": store,
        "schema": schema,
        "organizations": count,
        "reused": False,
        "bulk": bulk,
        "events": head,
        "seed_seconds": round(seconds, 1),
        "projection_seconds": round(projection_seconds, 1),
        "projected_now": applied,
    }


# -- servers ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A uvicorn server on loopback (one process, or a supervisor with ``workers`` worker
    processes), started and stopped by its own pid."""

    def __init__(
        self,
        name: str,
        target: str,
        env: dict[str, str],
        port: int | None = None,
        health_path: str = "/healthz",
        workers: int = 1,
    ) -> None:
        self.name, self.target, self.env = name, target, env
        self.workers = workers
        self.port = port or free_port()
        self.health_path = health_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = RESULTS / f"server-{name}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 60.0) -> None:
        import urllib.request

        RESULTS.mkdir(exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            self.target,
            "--app-dir",
            str(BENCH_DIR),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
            "--log-level",
            "warning",
            "--no-access-log",
        ]
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                command, env=self.env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT
            )
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} server exited early; see {self.log}")
                try:
                    with urllib.request.urlopen(self.url + self.health_path, timeout=2) as r:
                        if r.status == 200:
                            say(f"{self.name} server up on {self.url} (pid {self.pid})")
                            return
                except OSError:
                    time.sleep(0.2)
            raise RuntimeError(
                f"{self.name} server did not become healthy in {timeout:g}s; see {self.log}"
            )
        except BaseException:  # also Ctrl-C while waiting: never leave it running
            self.stop()
            raise

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            self.proc.terminate()
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            say(f"{self.name} server (pid {self.pid}) ignored SIGTERM for 15 s: killing it")
        finally:  # also when a second Ctrl-C interrupts the wait
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(timeout=5)


@contextmanager
def running(*servers: Server) -> Iterator[tuple[Server, ...]]:
    """Starts the servers in order; on every way out, stops each one that started (a server
    that fails to start stops itself), even if stopping another one fails."""
    started: list[Server] = []

    def report() -> None:
        if started:
            say("servers stopped: " + ", ".join(f"{s.name} (pid {s.pid})" for s in started))

    with ExitStack() as stack:
        stack.callback(report)
        for server in servers:
            server.start()
            started.append(server)
            stack.callback(server.stop)
        yield servers


def cpu_seconds(pid: int) -> float:
    """user + system CPU of one process so far (from /proc/PID/stat); 0 once it has gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """``cpu_seconds`` of a process and of every process under it (a uvicorn supervisor's
    workers)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(parent, []).append(int(entry.name))
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += cpu_seconds(current)
        todo += children.get(current, [])
    return total


def postgres_cpu_seconds() -> float:
    """user + system CPU of this machine's PostgreSQL so far: every live postgres process, plus
    what the postmaster's exited children used (its cutime + cstime), so a backend that exits
    mid-measure still counts. 0 when PostgreSQL is not local."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != "postgres":
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            parent = (Path("/proc") / fields[1] / "comm").read_text().strip()
        except OSError:
            continue  # gone meanwhile
        total += (int(fields[11]) + int(fields[12])) / tick
        if parent != "postgres":  # the postmaster: add its reaped children
            total += (int(fields[13]) + int(fields[14])) / tick
    return total


def rss_kb() -> int:
    """Current resident set size of this process, from /proc (kB)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - started
