"""The audit trail's costs: point-in-time replay, `nrd audit export` and `verify` against the
raw notification read rate, and the access log's cost on a staff case-detail read.

1. Replay: a case with 1,000 events, built through the real commands (updateCase, grantConsent,
   withdrawConsent, acting as staff), replayed as of its midpoint by
   `AuditTrail.state_as_of(id, version=500)` and by moment, with the app's snapshots (every
   50 events) and without (the same `AuditTrail` code over an
   `eventsourcing.application.Repository(app.events)` with no snapshot store). Both must
   answer the same state. p50/p95 of each, and the ratio without ÷ with.
2. Export: a log of real domain events (organizations and cases, each change beside its
   idempotency record, as the commands write them; written in bulk through `app.save`, then
   projected), exported by `AuditTrail.export` → `api.audit.write_export` to a file, in a
   fresh child process per log size; events/s against the raw read rate
   (`recorder.select_notifications`, same batch size, same log, same process), and resident
   memory at two log sizes (peak RSS of the run, VmHWM; tracemalloc peak) to show it stays flat.
   The `nrd audit export` command itself is run too (wall clock and its peak RSS).
3. Verify: `projections.chain.verify` over the same log (the chain projection caught up),
   events/s against the raw read rate at its own batch size; memory as for the export.
4. Access log: the staff `case(id)` query (15 fields, two of them sealed personal data)
   through the real Starlette app (`create_app(system)`, driven in process over ASGI: the
   handler, the executor noting the reads, the access-log write in a worker thread) with the
   access log written, against the same read with the write skipped (`system.access.record`
   swapped for a no-op, benchmark only) and with the log off entirely (no noting, no write).
   PostgreSQL and SQLite.

    /work/venv/bin/python bench/audit.py            # ~4 min writing the logs, ~3.5 min reusing them
    /work/venv/bin/python bench/audit.py --quick    # smaller: ~1.5 min
    /work/venv/bin/python bench/audit.py --help
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import math
import os
import random
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from uuid import UUID, uuid4

import common
import psycopg
from rebuild import read_log, run_child

CHILD_MARK = "AUDIT_CHILD "
LOG_VERSION = "1"  # bump when the generated log changes shape: old bench_audit_log* are rebuilt
# Fixed, not secret: only `nrd audit verify` (the CLI) needs it with PostgreSQL.
AUDIT_SIGNING_KEY = base64.b64encode(b"nrd-bench-audit-signing-key-32b!").decode()
CASE_QUERY = (
    "query CaseDetail($id: ID!) { case(id: $id) { id version open channel language "
    "relationship callerName callerPhone province municipality urgency situationType "
    "needs openedAt consents { id scope grantedAt withdrawnAt } } }"
)
CASE_FIELDS = 15  # top-level fields of CASE_QUERY


# -- small helpers ---------------------------------------------------------------------------


def pct(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


def summary_ms(seconds: Sequence[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "p50_ms": statistics.median(ms),
        "p95_ms": pct(ms, 95),
        "mean_ms": statistics.fmean(ms),
        "min_ms": min(ms),
    }


def proc_status_kb(field: str, pid: int | str = "self") -> int:
    """A kB figure of /proc/<pid>/status (VmRSS, VmHWM); 0 if gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def reset_peak_rss() -> bool:
    """Resets this process's VmHWM to its current RSS (Linux ≥ 4.0), so the next reading is
    the peak of what runs in between. ru_maxrss cannot serve: a child started by fork+exec
    inherits its parent's high-water mark (Linux keeps it across exec)."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def staff_actor(system: Any, tag: str, role: str = "staff") -> Any:
    from domain.base import Actor

    return Actor(
        f"bench-audit-{tag}",
        role,
        request_id=f"bench-audit-{tag}",
        policy_version=system.policy.version,
    )


def sqlite_settings(folder: Path) -> Any:
    from api.config import Settings

    return Settings.from_env(
        {
            "NRD_DATA_DIR": str(folder),
            "NRD_JWT_SECRET": common.JWT_SECRET,
            "NRD_MASTER_KEY": common.MASTER_KEY,
        }
    )


def key() -> str:
    return f"bench-audit-{uuid4()}"


# -- 1. replay of a 1,000-event case --------------------------------------------------------


def build_long_case(system: Any, events: int) -> tuple[UUID, float, int]:
    """A case reaching ``events`` events through the real commands, acting as staff: open,
    then updateCase / grantConsent / withdrawConsent in turn. Returns (id, seconds, commands)."""
    from domain.base import acting_as
    from domain.case import (
        CallerRelationship,
        Channel,
        ConsentGiver,
        ConsentMethod,
        ConsentScope,
    )

    app = system.app
    urgencies = ["LOW", "MEDIUM", "HIGH"]
    progress = common.Progress(f"[{system.store.dialect}] commands on the long case", events)
    with acting_as(staff_actor(system, "replay")):
        case_id = app.open_case(
            key(),
            Channel.CALL,
            "en",
            CallerRelationship.VICTIM_OR_SURVIVOR,
            {
                "name": "Fictional Replay Caller",
                "phone": "+1 555 019 4242",
                "notes": "Fictional bench notes",
            },
            {
                "province": "CA-ON",
                "urgency": "HIGH",
                "needs": ["SHELTER"],
                "situationType": "LABOUR_TRAFFICKING",
                "minorInvolved": "NO",
            },
        ).id
        version, commands = 1, 1
        while version < events:
            step = commands % 3
            if step == 1:
                outcome = app.update_case(
                    key(),
                    case_id,
                    {
                        "urgency": urgencies[commands % 3],
                        "municipality": f"Fictionville {commands}",
                        "needs": ["SHELTER", "LEGAL"] if commands % 2 else ["HEALTH"],
                    },
                )
            elif step == 2:
                outcome = app.grant_consent(
                    key(),
                    case_id,
                    ConsentScope.FOLLOW_UP_CONTACT,
                    None,
                    ConsentGiver.CALLER,
                    ConsentMethod.VERBAL,
                    None,
                )
            else:
                case = app.repository.get(case_id)
                active = [c for c, v in case.consents.items() if v["withdrawnAt"] is None]
                outcome = app.withdraw_consent(key(), case_id, UUID(active[0]))
            version, commands = outcome.version, commands + 1
            progress.update(version)
    return case_id, progress.finish(), commands


def replay(system: Any, case_id: UUID, events: int, count: int) -> dict[str, Any]:
    """state_as_of at the midpoint (by version and by moment) and just before the next
    snapshot, with the app's snapshots and without any, alternating; p50/p95 of each."""
    from eventsourcing.application import Repository

    from projections.audit import AuditTrail

    app = system.app
    with_snapshots = system.audit
    shim = SimpleNamespace(
        repository=Repository(app.events), mapper=app.mapper, recorder=app.recorder
    )
    without = AuditTrail(shim)  # type: ignore[arg-type]
    middle = events // 2
    interval = type(app).snapshotting_intervals[type(app.repository.get(case_id))]
    before_next = middle + interval - 1  # the most events folded after a snapshot
    moment = with_snapshots._event(case_id, middle).timestamp
    snapshots = len(list(app.snapshots.get(case_id))) if app.snapshots is not None else 0
    targets = {
        f"version={middle}": {"version": middle},
        f"moment of v{middle}": {"moment": moment},
        f"version={before_next}": {"version": before_next},
    }
    modes = {"snapshots": with_snapshots, "no snapshots": without}
    same: dict[str, bool] = {}
    for name, where in targets.items():
        a = with_snapshots.state_as_of(case_id, **where)
        b = without.state_as_of(case_id, **where)
        expected = where.get("version", middle)
        if a is None or b is None or a["version"] != expected:
            raise SystemExit(
                f"replay {name}: got version {a and a['version']}, expected {expected}"
            )
        same[name] = a == b
        if not same[name]:
            common.say(
                f"WARNING: replay {name}: the state from snapshots differs from the "
                "state folded from the events"
            )
    for _ in range(3):  # warm-up
        for where in targets.values():
            for audit in modes.values():
                audit.state_as_of(case_id, **where)
    times: dict[tuple[str, str], list[float]] = {(t, m): [] for t in targets for m in modes}
    order = [(t, m) for t in targets for m in modes]
    progress = common.Progress(f"[{system.store.dialect}] replays", count * len(order))
    for n in range(count):
        for t, m in order if n % 2 == 0 else order[::-1]:
            started = time.perf_counter()
            state = modes[m].state_as_of(case_id, **targets[t])
            times[(t, m)].append(time.perf_counter() - started)
            assert state is not None
        progress.update((n + 1) * len(order))
    progress.finish()
    rows = []
    for t in targets:
        w, wo = summary_ms(times[(t, "snapshots")]), summary_ms(times[(t, "no snapshots")])
        rows.append(
            {
                "target": t,
                "snapshots": w,
                "no_snapshots": wo,
                "ratio_p50": wo["p50_ms"] / w["p50_ms"],
                "ratio_p95": wo["p95_ms"] / w["p95_ms"],
                "same_state": same[t],
            }
        )
    return {
        "case_events": events,
        "snapshot_interval": interval,
        "snapshots": snapshots,
        "replays_each": count,
        "rows": rows,
    }


# -- 2./3. a long log of real domain events, exported and verified ----------------------------


def _meta(url: str, schema: str) -> dict[str, str]:
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        row = conn.execute("SELECT to_regclass(%s)", (f"{schema}.bench_meta",)).fetchone()
        if row is None or row[0] is None:
            return {}
        return dict(conn.execute(f"SELECT name, value FROM {schema}.bench_meta").fetchall())


def _mark(url: str, schema: str, values: dict[str, str]) -> None:
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {schema}.bench_meta "
            "(name TEXT PRIMARY KEY, value TEXT NOT NULL)"
        )
        for name, value in values.items():
            conn.execute(
                f"INSERT INTO {schema}.bench_meta (name, value) VALUES (%s, %s) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (name, value),
            )


def generate_log(system: Any, target: int, batch_events: int = 1000) -> dict[str, Any]:
    """Writes exactly ``target`` real domain events: organizations (apply, review, approve)
    and cases (open, update, consent to share, referral with its disclosure, the referral's
    outcome, close), each command's events beside its idempotency record as `_run` writes
    them. The aggregates decide in memory (the same methods the commands call; case data
    sealed by the real vault, one key per case) and are saved in bulk, ~``batch_events``
    events per `app.save`: much faster than one command per transaction, same events."""
    from api.demo import ALL_CRITERIA, demo_profile
    from domain.base import acting_as
    from domain.case import (
        CallerRelationship,
        Case,
        Channel,
        ConsentGiver,
        ConsentMethod,
        ConsentScope,
        DisclosableField,
        Need,
        RecipientKind,
        ReferralMode,
    )
    from domain.idempotency import IdempotencyRecord, fingerprint
    from domain.organization import Organization
    from domain.vocabulary import PROVINCES, parse_criteria, parse_profile

    app, vault = system.app, system.vault
    rng = random.Random(11)
    provinces = sorted(PROVINCES)
    pending: list[Any] = []
    counts: dict[str, Any] = {"events": 0, "saves": 0, "cases": 0, "organizations": 0}
    buffered = [0]
    progress = common.Progress(f"[{system.settings.database_schema}] writing events", target)

    def flush() -> None:
        if pending:
            recordings = app.save(*pending)
            counts["events"] += len(recordings)
            counts["saves"] += 1
            pending.clear()
            buffered[0] = 0
            progress.update(counts["events"])

    def done(aggregate: Any, operation: str, new_events: int) -> None:
        """One command's worth: its events (already pending on the aggregate) and its
        idempotency record."""
        pending.append(
            IdempotencyRecord.record(
                uuid4(),
                operation,
                fingerprint(operation, {"id": str(aggregate.id)}).digest,
                {"id": str(aggregate.id), "version": aggregate.version},
            )
        )
        buffered[0] += new_events + 1

    def remaining() -> int:
        return target - int(counts["events"]) - buffered[0]

    org_ids: list[UUID] = []
    per_org, per_case = 6, 15
    with acting_as(staff_actor(system, "log")):
        n = 0
        while remaining() >= per_org + per_case:
            if n % 25 == 0:
                index = counts["organizations"]
                org = Organization.submit_application(
                    id=uuid4(),
                    profile=parse_profile(
                        demo_profile(index, provinces[index % len(provinces)], rng)
                    ),
                    criteria=parse_criteria(ALL_CRITERIA),
                    public_listing=index % 5 != 4,
                    listing_agreement="Bench: the organization's signed form (fictional)",
                )
                pending.append(org)
                done(org, "applyForInclusion", 1)
                org.start_review()
                done(org, "startReview", 1)
                org.approve_inclusion("Bench approval (fictional)")
                done(org, "approveInclusion", 1)
                org_ids.append(org.id)
                counts["organizations"] += 1
            org_id = org_ids[-1]
            case_id = uuid4()
            vault.create_key(case_id)
            personal = {
                "name": f"Fictional Log Caller {n}",
                "phone": f"+1 555 01{n % 10**6:06d}",
                "notes": "Fictional bench notes",
            }
            case = Case.open_case(
                id=case_id,
                channel=Channel.CALL,
                language="en",
                relationship=CallerRelationship.VICTIM_OR_SURVIVOR,
                sealed_personal=vault.seal(case_id, personal),
                has_personal_data=True,
                details={
                    "province": provinces[n % len(provinces)],
                    "urgency": "HIGH",
                    "needs": ["LEGAL", "SHELTER"],
                    "situationType": "LABOUR_TRAFFICKING",
                    "minorInvolved": "NO",
                },
            )
            pending.append(case)
            done(case, "openCase", 1)
            case.update_details({"urgency": "MEDIUM", "municipality": "Fictionville"})
            done(case, "updateCase", 1)
            case.grant_consent(
                uuid4(),
                ConsentScope.SHARE_WITH_ORGANIZATION,
                org_id,
                ConsentGiver.CALLER,
                ConsentMethod.VERBAL,
                None,
            )
            done(case, "grantConsent", 1)
            # A potential trafficking case: nothing leaves before a supervisor's decision.
            with acting_as(staff_actor(system, "log-supervisor", "supervisor")):
                case.consult_supervisor("Refer with consent (fictional)", "Warm transfer")
            done(case, "consultSupervisor", 1)
            referral_id, disclosure_id = uuid4(), uuid4()
            fields = [
                DisclosableField.CALLER_NAME,
                DisclosableField.CALLER_PHONE,
                DisclosableField.BRIEF,
                DisclosableField.NEEDS,
            ]
            app._disclose(
                case,
                disclosure_id,
                RecipientKind.ORGANIZATION,
                org_id,
                fields,
                "Needs a safe bed tonight (fictional bench case)",
                None,
                "",
                needs=[Need.SHELTER, Need.LEGAL],
            )
            case.refer(
                referral_id,
                org_id,
                ReferralMode.WARM_TRANSFER.value,
                [Need.SHELTER, Need.LEGAL],
                disclosure_id,
            )
            done(case, "refer", 2)
            case.report_referral_outcome(
                referral_id, str(org_id), "ACCEPTED", "Intake booked (fictional)"
            )
            done(case, "reportReferralOutcome", 1)
            case.close("Referred and accepted (fictional)")
            done(case, "closeCase", 1)
            counts["cases"] += 1
            n += 1
            if buffered[0] >= batch_events:
                flush()
        while remaining() > 0:  # exactly ``target``: single-event idempotency records
            pending.append(IdempotencyRecord.record(uuid4(), "bench", "0" * 64, {"pad": True}))
            buffered[0] += 1
            if buffered[0] >= batch_events:
                flush()
        flush()
    counts["seconds"] = progress.finish()
    return counts


def ensure_log(url: str, schema: str, events: int, reseed: bool) -> dict[str, Any]:
    """The log of ``events`` events in ``schema``, written and projected unless a finished one
    is there (marked in ``<schema>.bench_meta``)."""
    from api.wiring import build_system

    meta = {} if reseed else _meta(url, schema)
    if meta.get("log_version") == LOG_VERSION and meta.get("log_events") == str(events):
        common.say(
            f"schema {schema}: reusing the {events:,}-event log written earlier "
            "(--reseed writes it again)"
        )
        return {
            "schema": schema,
            "events": events,
            "reused": True,
            "write_seconds": float(meta.get("write_seconds", "nan")),
            "project_seconds": float(meta.get("project_seconds", "nan")),
        }
    common.say(
        f"schema {schema}: writing a {events:,}-event log "
        f"({'--reseed' if reseed else 'none finished there'})"
    )
    common.recreate_schema(url, schema)
    system = build_system(common.settings_for(schema, url, pool_size=4))
    try:
        written = generate_log(system, events)
        head = system.projector.head()
        _, project_seconds = common.catch_up(system)
        positions = system.projector.positions()
    finally:
        system.close()
    if written["events"] != events or head < events:
        raise SystemExit(
            f"{schema}: wrote {written['events']} events (head {head}), expected {events}"
        )
    if min(positions.values()) < head:
        raise SystemExit(f"{schema}: projections did not catch up: {positions} < {head}")
    _mark(
        url,
        schema,
        {
            "log_version": LOG_VERSION,
            "log_events": str(events),
            "write_seconds": f"{written['seconds']:.1f}",
            "project_seconds": f"{project_seconds:.1f}",
        },
    )
    common.say(
        f"schema {schema}: {events:,} events ({written['cases']:,} cases, "
        f"{written['organizations']:,} organizations, {written['saves']} saves) in "
        f"{written['seconds']:.1f}s; projected in {project_seconds:.1f}s"
    )
    return {
        "schema": schema,
        "events": events,
        "reused": False,
        **written,
        "write_seconds": written["seconds"],
        "project_seconds": project_seconds,
    }


def child_log(args: argparse.Namespace) -> dict[str, Any]:
    """In a fresh process (so its memory belongs to this log size alone): raw reads, the
    export and the verification, timed; RSS sampled; then each again under tracemalloc."""
    from api.audit import write_export
    from api.wiring import build_system
    from projections.audit import BATCH as EXPORT_BATCH
    from projections.audit import describe
    from projections.chain import BATCH as VERIFY_BATCH
    from projections.chain import verify

    system = build_system(common.settings_for(args.schema, args.database_url, pool_size=4))
    folder = Path(tempfile.mkdtemp(prefix="bench-audit-export-"))
    try:
        app = system.app
        head = system.projector.head()
        common.say(f"[{args.schema}] warm-up read of {head:,} events")
        read_log(app, EXPORT_BATCH, decode=True)
        raw: dict[str, list[float]] = {"read1000": [], "read2000": [], "decode": [], "describe": []}

        def raw_passes() -> None:
            for name, batch in (("read1000", EXPORT_BATCH), ("read2000", VERIFY_BATCH)):
                started = time.perf_counter()
                count = read_log(app, batch, decode=False)
                raw[name].append(time.perf_counter() - started)
                if count != head:
                    raise SystemExit(f"read {count} events, expected {head}")

        def described() -> None:
            started = time.perf_counter()
            start, mapper = 1, app.mapper
            while batch := app.recorder.select_notifications(start, limit=EXPORT_BATCH):
                for n in batch:
                    describe(mapper.to_domain_event(n), n.id)
                start = batch[-1].id + 1
            raw["describe"].append(time.perf_counter() - started)
            started = time.perf_counter()
            read_log(app, EXPORT_BATCH, decode=True)
            raw["decode"].append(time.perf_counter() - started)

        raw_passes()
        described()

        def measured(
            label: str, run: Callable[[Callable[[int, int], None]], Any], traced: bool
        ) -> tuple[Any, dict[str, Any]]:
            samples: list[int] = []

            def sample(_position: int, _head: int) -> None:
                samples.append(common.rss_kb())

            if traced:
                tracemalloc.start()
            rss0 = common.rss_kb()
            exact = reset_peak_rss()  # VmHWM from here on is this run's peak
            usage0 = resource.getrusage(resource.RUSAGE_SELF)
            started = time.perf_counter()
            value = run(sample)
            seconds = time.perf_counter() - started
            usage1 = resource.getrusage(resource.RUSAGE_SELF)
            peak = proc_status_kb("VmHWM") if exact else max(samples, default=rss0)
            peak_traced = tracemalloc.get_traced_memory()[1] if traced else None
            if traced:
                tracemalloc.stop()
            found = {
                "seconds": seconds,
                "eps": head / seconds,
                "cpu_share": (
                    (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
                )
                / seconds,
                "rss_start_kb": rss0,
                "rss_peak_kb": peak,
                "rss_growth_kb": peak - rss0,
                "peak_exact": exact,
                "rss_max_sampled_kb": max(samples, default=rss0),
                "samples": len(samples),
                "traced_peak_kb": None if peak_traced is None else peak_traced / 1024,
            }
            common.say(
                f"[{args.schema}] {label}{' (tracemalloc)' if traced else ''}: "
                f"{seconds:.1f}s, {head / seconds:,.0f} ev/s, peak RSS "
                f"{peak / 1024:.1f} MiB (+{(peak - rss0) / 1024:.1f})"
                + ("" if peak_traced is None else f", traced peak {peak_traced / 2**20:.2f} MiB")
            )
            return value, found

        def export(sample: Callable[[int, int], None], name: str) -> tuple[int, int]:
            path = folder / name
            with open(os.devnull, "w") as nowhere:
                return write_export(
                    lambda after: system.audit.export(after, None, None, None, sample),
                    path,
                    False,
                    nowhere,
                )

        def check(sample: Callable[[int, int], None]) -> Any:
            return verify(app.recorder, system.store, (), sample)

        (written, last), export_run = measured(
            "export", lambda s: export(s, "export.ndjson"), False
        )
        size = (folder / "export.ndjson").stat().st_size
        if written != head or last != head:
            raise SystemExit(f"exported {written} events to position {last}, expected {head}")
        raw_passes()
        result, verify_run = measured("verify", check, False)
        if not result.intact or result.events != head:
            raise SystemExit(f"verify: {result}")
        raw_passes()
        (folder / "export.ndjson").unlink()
        traced = {}
        if args.tracemalloc:
            _, traced["export"] = measured("export", lambda s: export(s, "traced.ndjson"), True)
            (folder / "traced.ndjson").unlink()
            _, traced["verify"] = measured("verify", check, True)
            raw_passes()
        med = {k: statistics.median(v) for k, v in raw.items()}
        return {
            "schema": args.schema,
            "events": head,
            "export": export_run,
            "verify": verify_run,
            "traced": traced,
            "export_bytes": size,
            "chained_to": result.chained_to,
            "raw_passes": len(raw["read1000"]),
            "read1000_eps": head / med["read1000"],
            "read2000_eps": head / med["read2000"],
            "decode_eps": head / med["decode"],
            "describe_eps": head / med["describe"],
            "read1000_spread": [head / max(raw["read1000"]), head / min(raw["read1000"])],
            "read2000_spread": [head / max(raw["read2000"]), head / min(raw["read2000"])],
        }
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        system.close()


def run_cli(
    args: argparse.Namespace, schema: str, verb: list[str], timeout: float
) -> dict[str, Any]:
    """`python -m api.cli audit ...` as a process of its own: wall clock, CPU and its peak RSS
    (its VmHWM, read every 20 ms while it runs; start-up and the access-log write included)."""
    env = {
        **common.server_env(schema, args.database_url),
        "NRD_AUDIT_SIGNING_KEY": AUDIT_SIGNING_KEY,
    }
    command = [sys.executable, "-m", "api.cli", "audit", *verb]
    started = time.perf_counter()
    proc = subprocess.Popen(
        command,
        cwd=common.REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    peak = 0
    try:
        deadline = time.monotonic() + timeout
        while True:
            peak = max(peak, proc_status_kb("VmHWM", proc.pid))
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(command, timeout)
            time.sleep(0.02)
        seconds = time.perf_counter() - started
        assert proc.stdout is not None
        out = proc.stdout.read()  # small: exports go to a file
        proc.returncode = os.waitstatus_to_exitcode(status)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            proc.wait(timeout=5)
        raise
    finally:
        if proc.stdout is not None:
            proc.stdout.close()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command[2:])} exited {proc.returncode}")
    return {
        "seconds": seconds,
        "peak_rss_kb": peak,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "stdout": out.decode()[-300:],
    }


def log_benchmarks(args: argparse.Namespace) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = []
    for events in args.log_sizes:
        schema = f"{args.schema_prefix}_log{events // 1000}k"
        seeded = ensure_log(args.database_url, schema, events, args.reseed)
        command = [
            sys.executable,
            __file__,
            "--child-log",
            "--schema",
            schema,
            "--database-url",
            args.database_url,
        ]
        if not args.tracemalloc:
            command.append("--no-tracemalloc")
        try:
            out = run_child(command, args.child_timeout)
        except subprocess.TimeoutExpired:
            raise SystemExit(
                f"[{schema}] the measuring child took more than "
                f"{args.child_timeout:g}s and was stopped"
            ) from None
        except subprocess.CalledProcessError as error:
            raise SystemExit(
                f"[{schema}] the measuring child failed (exit "
                f"{error.returncode}); its error is above"
            ) from None
        line = next(x for x in out.splitlines() if x.startswith(CHILD_MARK))
        result = json.loads(line[len(CHILD_MARK) :])
        result["seed"] = seeded
        if args.cli:
            if not runs:  # the command's fixed cost: start-up, then one row read and signed
                common.say(f"[{schema}] nrd audit head (the CLI's start-up cost)")
                result["cli_head"] = run_cli(args, schema, ["head"], args.child_timeout)
            with tempfile.TemporaryDirectory(prefix="bench-audit-cli-") as folder:
                target = Path(folder) / "export.ndjson"
                common.say(f"[{schema}] nrd audit export --output (the CLI)")
                cli_export = run_cli(
                    args, schema, ["export", "--output", str(target)], args.child_timeout
                )
                lines = sum(1 for _ in target.open("rb"))
            if lines != events:
                raise SystemExit(f"the CLI exported {lines} lines, expected {events}")
            common.say(f"[{schema}] nrd audit verify (the CLI)")
            cli_verify = run_cli(args, schema, ["verify"], args.child_timeout)
            if f"intact: {events} events" not in cli_verify["stdout"]:
                raise SystemExit(f"the CLI verify said: {cli_verify['stdout']}")
            result["cli"] = {"export": cli_export, "verify": cli_verify}
        runs.append(result)
    return runs


# -- 4. the access log's cost on a case-detail read -------------------------------------------


async def asgi_post(app: Any, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    """One POST /graphql through the ASGI app, in process (no socket, no client library)."""
    raw_headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    raw_headers.append((b"content-length", str(len(body)).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"",
        "root_path": "",
        "headers": raw_headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    delivered = False
    never = asyncio.Event()
    status = 0
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await never.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


def build_read_case(system: Any) -> UUID:
    """An included organization and a case with consents and a referral, through the
    commands; then projected, so case(id) can read it."""
    from api.demo import ALL_CRITERIA, demo_profile
    from domain.base import acting_as
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

    app = system.app
    with acting_as(staff_actor(system, "reads")):
        org = app.apply_for_inclusion(
            key(),
            demo_profile(0, "CA-ON", random.Random(3)),
            ALL_CRITERIA,
            True,
            "Bench: the organization's signed listing form (fictional)",
        ).id
        app.start_review(key(), org)
        app.approve_inclusion(key(), org, "Bench approval (fictional)")
        case_id = app.open_case(
            key(),
            Channel.CALL,
            "en",
            CallerRelationship.VICTIM_OR_SURVIVOR,
            {
                "name": "Fictional Detail Caller",
                "phone": "+1 555 019 1234",
                "email": "detail.caller@example.org",
                "notes": "Fictional bench notes",
            },
            {
                "province": "CA-ON",
                "municipality": "Fictionville",
                "urgency": "HIGH",
                "needs": ["SHELTER", "LEGAL"],
                "situationType": "LABOUR_TRAFFICKING",
                "minorInvolved": "NO",
            },
        ).id
        app.grant_consent(
            key(),
            case_id,
            ConsentScope.SHARE_WITH_ORGANIZATION,
            org,
            ConsentGiver.CALLER,
            ConsentMethod.VERBAL,
            None,
        )
        app.grant_consent(
            key(),
            case_id,
            ConsentScope.NON_IDENTIFYING_STATISTICS,
            None,
            ConsentGiver.CALLER,
            ConsentMethod.VERBAL,
            None,
        )
    with acting_as(staff_actor(system, "reads-supervisor", "supervisor")):
        app.consult_supervisor(key(), case_id, "Refer with consent (fictional)", "Warm transfer")
    with acting_as(staff_actor(system, "reads")):
        app.refer(
            key(),
            case_id,
            org,
            ReferralMode.WARM_TRANSFER,
            [Need.SHELTER],
            [DisclosableField.CALLER_NAME, DisclosableField.CALLER_PHONE],
            "Needs a safe bed tonight (fictional bench case)",
        )
        app.update_case(key(), case_id, {"urgency": "MEDIUM"})
    system.projector.catch_up()
    return UUID(str(case_id))


def access_log_rows(system: Any) -> int:
    with system.access.store.read() as cursor:
        return int(cursor.execute("SELECT COUNT(*) FROM access_log").fetchone()[0])


def access_cost(system: Any, case_id: UUID, rounds: int, batch: int) -> dict[str, Any]:
    """The staff case-detail read through the real app, in three modes, alternating:
    "logged" (as in production), "write skipped" (`system.access.record` a no-op: noting and
    the thread hop stay) and "log off" (the executor notes nothing, so the handler skips the
    hop and the write). Benchmark only: the swaps live in this process."""
    from api.access import Reads
    from api.app import create_app

    app = create_app(system)
    token = system.auth.issue("staff", "bench-audit-reader", hours=2)
    body = json.dumps(
        {"query": CASE_QUERY, "operationName": "CaseDetail", "variables": {"id": str(case_id)}}
    ).encode()
    headers = {"content-type": "application/json", "authorization": f"Bearer {token}"}
    real_record, real_note = system.access.record, Reads.note
    write_times: list[float] = []

    def timed_record(reader: Any, reads: Any) -> None:
        started = time.perf_counter()
        real_record(reader, reads)
        write_times.append(time.perf_counter() - started)

    def set_mode(mode: str) -> None:
        system.access.record = timed_record if mode == "logged" else (lambda *_: None)
        Reads.note = (  # type: ignore[method-assign]
            real_note if mode != "log off" else (lambda *_a, **_k: None)
        )

    modes = ("logged", "write skipped", "log off")

    async def main() -> dict[str, Any]:
        answers = {}
        rows = {}
        for mode in modes:  # the same answer in every mode; rows only when logged
            set_mode(mode)
            before = access_log_rows(system)
            for _ in range(10):  # warm-up
                status, answer = await asgi_post(app, body, headers)
            rows[mode] = access_log_rows(system) - before
            parsed = json.loads(answer)
            if status != 200 or parsed.get("errors") or not parsed["data"]["case"]:
                raise SystemExit(f"case(id) failed ({status}): {answer[:300]!r}")
            answers[mode] = parsed
        if not answers["logged"] == answers["write skipped"] == answers["log off"]:
            raise SystemExit("the case read answers differently with the access log skipped")
        if rows != {"logged": 10, "write skipped": 0, "log off": 0}:
            raise SystemExit(
                f"access-log rows written per mode over 10 reads: {rows}; "
                "expected one per logged read only"
            )
        write_times.clear()
        times: dict[str, list[float]] = {m: [] for m in modes}
        progress = common.Progress(
            f"[{system.store.dialect}] case(id) reads", rounds * batch * len(modes)
        )
        for n in range(rounds):
            for mode in modes if n % 2 == 0 else modes[::-1]:
                set_mode(mode)
                for _ in range(batch):
                    started = time.perf_counter()
                    status, _ = await asgi_post(app, body, headers)
                    times[mode].append(time.perf_counter() - started)
                    if status != 200:
                        raise SystemExit(f"case(id) answered {status}")
                progress.update(sum(len(t) for t in times.values()))
        progress.finish()
        return {
            "times": times,
            "fields": len(answers["logged"]["data"]["case"]),
            "response_bytes": len(json.dumps(answers["logged"])),
        }

    try:
        found = asyncio.run(main())  # one loop: the system's limiter binds to it
    finally:
        system.access.record = real_record
        Reads.note = real_note  # type: ignore[method-assign]
    times = found.pop("times")
    stats = {m: summary_ms(t) for m, t in times.items()}
    logged, skipped, off = stats["logged"], stats["write skipped"], stats["log off"]
    return {
        **found,
        "rounds": rounds,
        "batch": batch,
        "reads_per_mode": len(times["logged"]),
        "modes": stats,
        "write": summary_ms(write_times),
        "overhead_vs_skipped_p50_pct": 100 * (logged["p50_ms"] / skipped["p50_ms"] - 1),
        "overhead_vs_skipped_mean_pct": 100 * (logged["mean_ms"] / skipped["mean_ms"] - 1),
        "overhead_vs_off_p50_pct": 100 * (logged["p50_ms"] / off["p50_ms"] - 1),
        "overhead_vs_off_mean_pct": 100 * (logged["mean_ms"] / off["mean_ms"] - 1),
        "ratio_p50": logged["p50_ms"] / skipped["p50_ms"],
    }


# -- driving ----------------------------------------------------------------------------------


def case_parts(args: argparse.Namespace, backend: str, system: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"backend": backend}
    if "replay" in args.only:
        case_id, seconds, commands = build_long_case(system, args.case_events)
        common.say(
            f"[{backend}] a {args.case_events}-event case in {commands} commands, "
            f"{seconds:.1f}s ({commands / seconds:,.0f} commands/s)"
        )
        out["replay"] = {
            **replay(system, case_id, args.case_events, args.replays),
            "build_seconds": seconds,
            "commands": commands,
        }
    if "access" in args.only:
        case_id = build_read_case(system)
        out["access"] = access_cost(system, case_id, args.read_rounds, args.read_batch)
    return out


def parse_sizes(text: str) -> list[int]:
    sizes = [int(x) for x in text.split(",") if x.strip()]
    if not sizes or any(not 1000 <= s <= 2_000_000 for s in sizes):
        raise argparse.ArgumentTypeError("sizes from 1,000 to 2,000,000 events, comma-separated")
    return sizes


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="The audit trail's costs, as ratios measured in the same run: replay of a "
        "1,000-event case with and without snapshots; `nrd audit export` and "
        "`verify` against the raw notification read rate, with memory at two log "
        "sizes; the access log's cost on a staff case(id) read (PostgreSQL and "
        "SQLite). Prints a summary table and a JSON line; keeps the JSON under "
        "bench/results/.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="a smaller run: 50 replays, logs of 10,000 and 40,000 events, 4 x 3 "
        "x 20 reads (other options given explicitly still win)",
    )
    p.add_argument(
        "--only",
        default="replay,export,access",
        help="comma-separated parts: replay, export (with verify), access",
    )
    p.add_argument(
        "--database-url",
        default=common.DEFAULT_URL,
        help="PostgreSQL URL (or NRD_BENCH_DATABASE_URL)",
    )
    p.add_argument(
        "--schema-prefix",
        default="bench_audit",
        help="schemas: <prefix>_case (recreated each run), <prefix>_log<N>k (kept and reused)",
    )
    p.add_argument(
        "--no-sqlite",
        dest="sqlite",
        action="store_false",
        help="skip the SQLite runs of the replay and access-log parts",
    )
    p.add_argument("--case-events", type=int, default=1000, help="events of the replayed case")
    p.add_argument(
        "--replays",
        type=int,
        default=None,
        help="replays per target and mode (default 200, --quick 50)",
    )
    p.add_argument(
        "--log-sizes",
        type=parse_sizes,
        default=None,
        help="log sizes in events, smallest first (default 50000,200000; --quick 10000,40000)",
    )
    p.add_argument("--reseed", action="store_true", help="write the logs again even if kept")
    p.add_argument(
        "--no-tracemalloc",
        dest="tracemalloc",
        action="store_false",
        help="skip the export and verify passes under tracemalloc",
    )
    p.add_argument(
        "--no-cli",
        dest="cli",
        action="store_false",
        help="skip running `nrd audit export` / `verify` as processes",
    )
    p.add_argument(
        "--read-rounds",
        type=int,
        default=None,
        help="alternating rounds of the three read modes (default 10, --quick 4)",
    )
    p.add_argument(
        "--read-batch",
        type=int,
        default=30,
        help="case(id) reads per mode per round (default 30, --quick 20)",
    )
    p.add_argument(
        "--child-timeout",
        type=float,
        default=600.0,
        help="seconds allowed per log size's measuring child and per CLI run",
    )
    p.add_argument("--child-log", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--schema", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.only = {x.strip() for x in args.only.split(",") if x.strip()}
    if not args.only or args.only - {"replay", "export", "access"}:
        p.error("--only takes replay, export, access")
    if args.replays is None:
        args.replays = 50 if args.quick else 200
    if args.log_sizes is None:
        args.log_sizes = [10_000, 40_000] if args.quick else [50_000, 200_000]
    if args.read_rounds is None:
        args.read_rounds = 4 if args.quick else 10
    if args.quick and "--read-batch" not in (argv or sys.argv):
        args.read_batch = 20
    if args.case_events < 100 or args.replays < 5 or args.read_rounds < 1 or args.read_batch < 5:
        p.error("--case-events ≥ 100, --replays ≥ 5, --read-rounds ≥ 1, --read-batch ≥ 5")
    return args


def f0(x: float) -> str:
    return f"{x:,.0f}"


def print_summary(idle: float, cases: list[dict[str, Any]], logs: list[dict[str, Any]]) -> None:
    print()
    print(
        f"audit benchmarks: {common.machine()['cpus']} cores; machine {100 * idle:.0f}% busy "
        "before the run"
    )
    for part in cases:
        r = part.get("replay")
        if r is None:
            continue
        print(
            f"\n1. replay, {part['backend']}: a {r['case_events']}-event case "
            f"({r['commands']} commands), snapshot every {r['snapshot_interval']} "
            f"({r['snapshots']} snapshots); {r['replays_each']} replays per row, "
            "AuditTrail.state_as_of"
        )
        print(
            common.table(
                [
                    "as of",
                    "snapshots p50 ms",
                    "p95 ms",
                    "no snapshots p50 ms",
                    "p95 ms",
                    "ratio p50",
                    "ratio p95",
                    "same state",
                ],
                [
                    [
                        row["target"],
                        f"{row['snapshots']['p50_ms']:.2f}",
                        f"{row['snapshots']['p95_ms']:.2f}",
                        f"{row['no_snapshots']['p50_ms']:.2f}",
                        f"{row['no_snapshots']['p95_ms']:.2f}",
                        f"{row['ratio_p50']:.1f}x",
                        f"{row['ratio_p95']:.1f}x",
                        "yes" if row["same_state"] else "NO",
                    ]
                    for row in r["rows"]
                ],
            )
        )
    if logs:
        print(
            "\n2./3. export and verify vs raw notification reads (PostgreSQL; rates are "
            "events of the log per second; raw read at each path's batch size: export "
            "1000, verify 2000; median of the raw passes)"
        )
        print(
            common.table(
                [
                    "events",
                    "raw read 1000",
                    "read+decode",
                    "+describe",
                    "export",
                    "export/raw",
                    "raw read 2000",
                    "verify",
                    "verify/raw",
                    "export MiB",
                ],
                [
                    [
                        f0(r["events"]),
                        f0(r["read1000_eps"]),
                        f0(r["decode_eps"]),
                        f0(r["describe_eps"]),
                        f0(r["export"]["eps"]),
                        f"{r['export']['eps'] / r['read1000_eps']:.3f}",
                        f0(r["read2000_eps"]),
                        f0(r["verify"]["eps"]),
                        f"{r['verify']['eps'] / r['read2000_eps']:.3f}",
                        f"{r['export_bytes'] / 2**20:.0f}",
                    ]
                    for r in logs
                ],
            )
        )
        print(
            "\nmemory (each log size in a fresh process; peak RSS = VmHWM over the run, reset "
            "at its start; growth = peak minus RSS at the start; traced = tracemalloc peak of a "
            "second pass; CLI = `python -m api.cli audit export --output FILE` / `verify` as a "
            "process of its own: wall clock with start-up, and its peak RSS)"
        )
        rows = []
        for r in logs:
            for path in ("export", "verify"):
                run, traced = r[path], r["traced"].get(path)
                cli = r.get("cli", {}).get(path)
                rows.append(
                    [
                        f0(r["events"]),
                        path,
                        f"{run['seconds']:.1f}",
                        f"{100 * run['cpu_share']:.0f}%",
                        f"{run['rss_start_kb'] / 1024:.1f}",
                        f"{run['rss_peak_kb'] / 1024:.1f}",
                        f"{run['rss_growth_kb'] / 1024:.1f}",
                        "-" if traced is None else f"{traced['traced_peak_kb'] / 1024:.2f}",
                        "-" if cli is None else f"{cli['seconds']:.1f}",
                        "-" if cli is None else f"{cli['cpu_s']:.1f}",
                        "-" if cli is None else f"{cli['peak_rss_kb'] / 1024:.0f}",
                    ]
                )
        print(
            common.table(
                [
                    "events",
                    "path",
                    "s",
                    "python CPU",
                    "RSS start MiB",
                    "peak RSS MiB",
                    "growth MiB",
                    "traced peak MiB",
                    "CLI wall s",
                    "CLI CPU s",
                    "CLI peak RSS MiB",
                ],
                rows,
            )
        )
        head = next((r["cli_head"] for r in logs if "cli_head" in r), None)
        if head is not None:
            print(
                f"CLI fixed cost (`nrd audit head`: start-up, one row read and signed): "
                f"{head['seconds']:.1f}s wall, {head['cpu_s']:.1f}s CPU, peak RSS "
                f"{head['peak_rss_kb'] / 1024:.0f} MiB"
            )
    for part in cases:
        a = part.get("access")
        if a is None:
            continue
        print(
            f"\n4. access log, {part['backend']}: staff case(id), {CASE_FIELDS} fields "
            f"({a['response_bytes']} bytes of JSON), through the real app over ASGI in "
            f"process; {a['reads_per_mode']} reads per mode in {a['rounds']} alternating "
            f"rounds of {a['batch']}"
        )
        m = a["modes"]
        print(
            common.table(
                ["mode", "p50 ms", "p95 ms", "mean ms", "vs write skipped (p50)"],
                [
                    [
                        mode,
                        f"{m[mode]['p50_ms']:.2f}",
                        f"{m[mode]['p95_ms']:.2f}",
                        f"{m[mode]['mean_ms']:.2f}",
                        f"{100 * (m[mode]['p50_ms'] / m['write skipped']['p50_ms'] - 1):+.1f}%",
                    ]
                    for mode in ("logged", "write skipped", "log off")
                ],
            )
        )
        print(
            f"access-log overhead: {a['overhead_vs_skipped_p50_pct']:+.1f}% p50 / "
            f"{a['overhead_vs_skipped_mean_pct']:+.1f}% mean vs the write skipped; "
            f"{a['overhead_vs_off_p50_pct']:+.1f}% p50 vs the log off; the write itself "
            f"(AccessLog.record, in its worker thread): p50 {a['write']['p50_ms']:.2f} ms, "
            f"p95 {a['write']['p95_ms']:.2f} ms"
        )
    print()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    common.exit_cleanly_on_sigterm()
    if args.child_log:
        print(CHILD_MARK + json.dumps(child_log(args)), flush=True)
        return 0
    from api.wiring import build_system

    idle = common.background_busy()
    started = time.perf_counter()
    cases: list[dict[str, Any]] = []
    if args.only & {"replay", "access"}:
        schema = f"{args.schema_prefix}_case"
        common.say(f"schema {schema}: recreating (the replay's case and the read's case)")
        common.recreate_schema(args.database_url, schema)
        system = build_system(common.settings_for(schema, args.database_url, pool_size=4))
        try:
            cases.append(case_parts(args, "PostgreSQL", system))
        finally:
            system.close()
        if args.sqlite:
            with tempfile.TemporaryDirectory(prefix="bench-audit-sqlite-") as folder:
                system = build_system(sqlite_settings(Path(folder)))
                try:
                    cases.append(case_parts(args, "SQLite", system))
                finally:
                    system.close()
    logs = log_benchmarks(args) if "export" in args.only else []
    print_summary(idle, cases, logs)

    common.emit(
        "audit",
        common.rounded(
            {
                "background_busy_before": idle,
                "quick": args.quick,
                "seconds": time.perf_counter() - started,
                "cases": cases,
                "logs": logs,
            }
        ),
    )
    return 0


if __name__ == "__main__":
    common.run(main)
