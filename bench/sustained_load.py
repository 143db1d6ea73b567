"""Sustained mixed load in the production layout: memory and latency stay flat.

Two API processes (``nrd serve``) and a projection worker (``nrd projections run``) on
PostgreSQL, in a schema of their own. ``--writers`` staff clients (6) keep ``--cases`` cases
(300) in work through GraphQL: each command goes to one of the live cases at random (details
changed, consent granted, a referral), and a case that has had ``--commands-per-case`` commands
is replaced by a newly opened one, so the load is steady (a case does not grow for ever) while
new records keep arriving, as at a hotline. ``--readers`` staff clients (2) read the case list
with filters and cases by id, alternately. Each client is its own staff user.

Every minute: the resident memory (RSS) of each process at the minute's end, the read and write
p50 and p99, the errors, and the worker's lag (events not yet in the case read model). PASS
when, for each process's RSS and for the read and the write p99, the last minute is within 10 %
of the reference minute (the third; the second when ``--minutes`` is 3 or less), or within an
absolute floor of it for tiny values (``RSS_FLOOR_MIB``, ``P99_FLOOR_SECONDS``), where 10 %
is noise. Only growth fails: a last minute lower than the reference passes.

    python bench/sustained_load.py [--minutes 10] [--writers 6] [--cases 300] [--readers 2]

Loopback only; every process is stopped by its pid on every way out, and every wait is bounded
(``--minutes`` at most 60).
"""

from __future__ import annotations

import argparse
import itertools
import random
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import common
import fault_common as fc

RSS_FLOOR_MIB = 3.0
P99_FLOOR_SECONDS = 0.025
TOLERANCE = 0.10
SAMPLE_SECONDS = 5.0

OPEN = """mutation($key: String!, $input: OpenCaseInput!) {
  openCase(idempotencyKey: $key, input: $input) { caseId } }"""
UPDATE = """mutation($key: String!, $id: ID!, $details: CaseDetailsInput!) {
  updateCase(idempotencyKey: $key, id: $id, details: $details) { case { id version } } }"""
CONSENT = """mutation($key: String!, $id: ID!, $to: ID!) {
  grantConsent(idempotencyKey: $key, id: $id, scope: SHARE_WITH_ORGANIZATION, recipientId: $to,
               givenBy: CALLER, method: VERBAL) { case { id version } } }"""
REFER = """mutation($key: String!, $id: ID!, $org: ID!) {
  referCase(idempotencyKey: $key, id: $id, organizationId: $org, mode: WARM_TRANSFER,
            needs: [SHELTER], fields: [NEEDS], brief: "Fictional bench brief") {
    case { id version } } }"""
LIST = """query($filter: CaseFilter, $first: Int!) {
  cases(filter: $filter, first: $first) { items { id province urgency needs open } } }"""
DECIDE = """mutation($key: String!, $id: ID!) {
  recordSupervisorDecision(idempotencyKey: $key, id: $id, decision: "Fictional: refer",
                           nextSteps: "Fictional: a warm transfer") { version } }"""
BY_ID = """query($id: ID!) { case(id: $id) { id province urgency needs callerName
  referrals { id organizationId } consents { id scope } } }"""

PROVINCES = ["CA-ON", "CA-QC", "CA-BC", "CA-AB", "CA-MB", "CA-NS"]
URGENCIES = ["LOW", "MEDIUM", "HIGH"]
NEEDS = ["SHELTER", "LEGAL", "HEALTH", "INCOME", "IMMIGRATION"]


@dataclass
class Sample:
    kind: str  # "read" or "write"
    at: float
    seconds: float
    ok: bool


@dataclass
class Load:
    """The clients' shared state: the live cases, and every request's outcome."""

    apis: list[str]
    shelters: list[str]
    cases: int
    commands_per_case: int
    started: float = field(default_factory=time.monotonic)
    samples: list[Sample] = field(default_factory=list)
    live: list[str] = field(default_factory=list)
    worked: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)
    numbers: Any = field(default_factory=itertools.count)
    first_error: str = ""
    # A potential trafficking case needs a supervisor's decision before its referral: each
    # case opened gets one, from this supervisor, as part of opening it.
    supervisor_token: str = ""

    def post(self, kind: str, query: str, variables: dict[str, Any], token: str) -> Any:
        url = self.apis[next(self.numbers) % len(self.apis)]
        try:
            answer = fc.post(url, query, variables, token, timeout=30)
        except OSError as error:
            self._note(Sample(kind, time.monotonic(), 30.0, False), type(error).__name__)
            return None
        ok = answer.status == 200 and not answer.codes
        self._note(
            Sample(kind, answer.started, answer.seconds, ok),
            "" if ok else f"HTTP {answer.status} {answer.codes}",
        )
        return answer.body.get("data") if ok else None

    def _note(self, sample: Sample, error: str) -> None:
        with self.lock:
            self.samples.append(sample)
            if error and not self.first_error:
                self.first_error = error

    def open_case(self, token: str, rng: random.Random) -> str | None:
        details = {
            "province": rng.choice(PROVINCES),
            "urgency": rng.choice(URGENCIES),
            "needs": [rng.choice(NEEDS)],
            "situationType": "LABOUR_TRAFFICKING",
            "minorInvolved": "NO",
        }
        data = self.post(
            "write",
            OPEN,
            {
                "key": f"open-{rng.getrandbits(64):016x}",
                "input": {
                    "channel": "CALL",
                    "language": "en",
                    "relationship": "VICTIM_OR_SURVIVOR",
                    "caller": {"name": "Fictional Bench Caller", "phone": "+1 555 010 0000"},
                    "details": details,
                },
            },
            token,
        )
        if data is None:
            return None
        case = str(data["openCase"]["caseId"])
        decided = self.post(
            "write",
            DECIDE,
            {"key": f"decide-{rng.getrandbits(64):016x}", "id": case},
            self.supervisor_token,
        )
        return None if decided is None else case

    def pick(self, rng: random.Random) -> tuple[int, str, int] | None:
        with self.lock:
            if not self.live:
                return None
            slot = rng.randrange(len(self.live))
            case = self.live[slot]
            done = self.worked.get(case, 0)
            self.worked[case] = done + 1
            return slot, case, done

    def replace(self, slot: int, old: str, new: str) -> None:
        with self.lock:
            if slot < len(self.live) and self.live[slot] == old:
                self.live[slot] = new
                self.worked.pop(old, None)


def writer(load: Load, n: int, token: str) -> None:
    rng = random.Random(n)
    while not load.stop.is_set():
        with load.lock:
            filling = len(load.live) < load.cases
        if filling:
            case = load.open_case(token, rng)
            if case is not None:
                with load.lock:
                    load.live.append(case)
            continue
        picked = load.pick(rng)
        if picked is None:
            continue
        slot, case, done = picked
        if done >= load.commands_per_case:
            new = load.open_case(token, rng)
            if new is not None:
                load.replace(slot, case, new)
            continue
        key = f"w{n}-{rng.getrandbits(64):016x}"
        shelter = load.shelters[hash(case) % len(load.shelters)]
        step = done % 3
        if step == 0:
            load.post(
                "write",
                UPDATE,
                {
                    "key": key,
                    "id": case,
                    "details": {"urgency": rng.choice(URGENCIES), "needs": [rng.choice(NEEDS)]},
                },
                token,
            )
        elif step == 1:
            load.post("write", CONSENT, {"key": key, "id": case, "to": shelter}, token)
        else:
            load.post("write", REFER, {"key": key, "id": case, "org": shelter}, token)


def reader(load: Load, n: int, token: str) -> None:
    rng = random.Random(1000 + n)
    for turn in itertools.count():
        if load.stop.is_set():
            return
        with load.lock:
            case = rng.choice(load.live) if load.live else None
        if turn % 2 or case is None:
            flt: dict[str, Any] = {"open": True}
            if rng.random() < 0.5:
                flt["provinces"] = rng.sample(PROVINCES, 2)
            if rng.random() < 0.5:
                flt["urgencies"] = [rng.choice(URGENCIES)]
            load.post("read", LIST, {"filter": flt, "first": 20}, token)
        else:
            load.post("read", BY_ID, {"id": case}, token)


def rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def lag(url: str, schema: str) -> int | None:
    """Events in the log that the case read model has not applied yet."""
    try:
        with common._admin(url) as conn:
            head = conn.execute(f"SELECT max(notification_id) FROM {schema}.nrd_events").fetchone()
            at = conn.execute(
                f"SELECT position FROM {schema}.projection_tracking WHERE name = 'cases'"
            ).fetchone()
    except Exception:
        return None
    return None if head is None or at is None else int(head[0] or 0) - int(at[0])


def quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def minutes_table(
    load: Load,
    rss: dict[int, dict[str, float]],
    lags: dict[int, int | None],
    minutes: int,
    names: list[str],
) -> list[dict[str, Any]]:
    rows = []
    for minute in range(1, minutes + 1):
        low, high = load.started + 60 * (minute - 1), load.started + 60 * minute
        row: dict[str, Any] = {"minute": minute}
        for kind in ("read", "write"):
            done = [s for s in load.samples if low <= s.at < high and s.kind == kind]
            seconds = [s.seconds for s in done if s.ok]
            row[f"{kind}s"] = len(done)
            row[f"{kind}_errors"] = sum(not s.ok for s in done)
            row[f"{kind}_p50"] = quantile(seconds, 0.5)
            row[f"{kind}_p99"] = quantile(seconds, 0.99)
        for name in names:
            row[f"rss_{name}"] = rss.get(minute, {}).get(name)
        row["lag"] = lags.get(minute)
        rows.append(row)
    return rows


def pid(process: fc.Process) -> int:
    assert process.proc is not None
    return process.proc.pid


def ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{1000 * seconds:.0f}"


def mib(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def within(last: float | None, reference: float | None, floor: float) -> bool:
    if last is None or reference is None:
        return False
    return last <= max(reference * (1 + TOLERANCE), reference + floor)


def run(args: argparse.Namespace) -> int:
    schema = args.schema
    common.recreate_schema(args.database_url, schema)
    settings = common.settings_for(schema, args.database_url, pool_size=2)
    from api.wiring import build_system
    from tests.e2e.conftest import seed

    system = build_system(settings)
    try:
        shelters = [str(seed(system, f"Example Bench Shelter {n}")) for n in range(3)]
    finally:
        system.close()
    names = ["api-1", "api-2", "worker"]
    worker_settings = {"NRD_INLINE_PROJECTIONS": "false"}
    apis = [
        fc.Process(
            f"load-{name}",
            ["serve"],
            fc.env_for(
                args.database_url,
                schema,
                NRD_APPLICATION_NAME=f"nrd-load-{name}",
                **worker_settings,
            ),
        )
        for name in names[:2]
    ]
    worker = fc.Process(
        "load-worker",
        ["projections", "run"],
        fc.env_for(
            args.database_url, schema, NRD_APPLICATION_NAME="nrd-load-worker", **worker_settings
        ),
    )
    from api.auth import Authenticator

    auth = Authenticator(common.JWT_SECRET, "nrd")
    rss: dict[int, dict[str, float]] = {}
    lags: dict[int, int | None] = {}
    with fc.processes(worker, *apis):
        for api in apis:
            if api.wait_healthy(90) is None:
                common.say(f"{api.name} did not come up: see {api.log}")
                return 1
        pids = dict(zip(names, [pid(a) for a in (*apis, worker)], strict=True))
        load = Load([a.url for a in apis], shelters, args.cases, args.commands_per_case)
        load.supervisor_token = auth.issue("supervisor", "fictional-bench-supervisor")
        clients = [
            threading.Thread(
                target=writer,
                args=(load, n, auth.issue("staff", f"fictional-bench-writer-{n}")),
                daemon=True,
            )
            for n in range(args.writers)
        ]
        clients += [
            threading.Thread(
                target=reader,
                args=(load, n, auth.issue("staff", f"fictional-bench-reader-{n}")),
                daemon=True,
            )
            for n in range(args.readers)
        ]
        load.started = time.monotonic()
        for client in clients:
            client.start()
        try:
            end = load.started + 60 * args.minutes
            while (now := time.monotonic()) < end:
                minute = int((now - load.started) // 60) + 1
                rss[minute] = {
                    name: value for name, pid in pids.items() if (value := rss_mib(pid)) is not None
                }
                lags[minute] = lag(args.database_url, schema)
                with load.lock:
                    done = len(load.samples)
                common.say(
                    f"minute {minute}: {done} requests, RSS "
                    + ", ".join(f"{k} {v:.0f}" for k, v in rss[minute].items())
                    + f" MiB, lag {lags[minute]}"
                )
                time.sleep(min(SAMPLE_SECONDS, max(0.0, end - time.monotonic())))
        finally:
            load.stop.set()
            for client in clients:
                client.join(timeout=40)
        alive = {a.name: a.proc is not None and a.proc.poll() is None for a in (*apis, worker)}
    rows = minutes_table(load, rss, lags, args.minutes, names)
    print(
        common.table(
            [
                "min",
                "reads",
                "read p50 ms",
                "read p99 ms",
                "writes",
                "write p50 ms",
                "write p99 ms",
                "errors",
                *[f"RSS {n} MiB" for n in names],
                "lag",
            ],
            [
                [
                    r["minute"],
                    r["reads"],
                    ms(r["read_p50"]),
                    ms(r["read_p99"]),
                    r["writes"],
                    ms(r["write_p50"]),
                    ms(r["write_p99"]),
                    r["read_errors"] + r["write_errors"],
                    *[mib(r[f"rss_{n}"]) for n in names],
                    "-" if r["lag"] is None else r["lag"],
                ]
                for r in rows
            ],
        )
    )
    reference = 3 if args.minutes >= 4 else max(1, args.minutes - 1)
    ref, last = rows[reference - 1], rows[-1]
    report = fc.Report()
    report.add("every process ran to the end", all(alive.values()), str(alive))
    errors = sum(r["read_errors"] + r["write_errors"] for r in rows)
    total = sum(r["reads"] + r["writes"] for r in rows)
    report.add(
        "requests answered without error",
        errors <= total * 0.001,
        f"{errors} of {total}; first: {load.first_error or 'none'}",
    )
    for name in names:
        report.add(
            f"RSS of {name} flat (minute {len(rows)} within 10 % or "
            f"{RSS_FLOOR_MIB:g} MiB of minute {reference})",
            within(last[f"rss_{name}"], ref[f"rss_{name}"], RSS_FLOOR_MIB),
            f"{mib(ref[f'rss_{name}'])} -> {mib(last[f'rss_{name}'])} MiB",
        )
    for kind in ("read", "write"):
        report.add(
            f"{kind} p99 flat (minute {len(rows)} within 10 % or "
            f"{1000 * P99_FLOOR_SECONDS:g} ms of minute {reference})",
            within(last[f"{kind}_p99"], ref[f"{kind}_p99"], P99_FLOOR_SECONDS),
            f"{ms(ref[f'{kind}_p99'])} -> {ms(last[f'{kind}_p99'])} ms",
        )
    reads = [s.seconds for s in load.samples if s.kind == "read" and s.ok]
    return report.finish(
        "sustained_load",
        {
            "minutes": args.minutes,
            "writers": args.writers,
            "cases": args.cases,
            "readers": args.readers,
            "commands_per_case": args.commands_per_case,
            "reference_minute": reference,
            "per_minute": rows,
            "read_p50_overall": statistics.median(reads) if reads else None,
        },
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=common.DEFAULT_URL)
    parser.add_argument("--schema", default="bench_sustained_load")
    parser.add_argument("--minutes", type=int, default=10)
    parser.add_argument("--writers", type=int, default=6)
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--readers", type=int, default=2)
    parser.add_argument("--commands-per-case", type=int, default=12)
    args = parser.parse_args()
    if not (
        2 <= args.minutes <= 60
        and 1 <= args.writers <= 32
        and 1 <= args.cases <= 5000
        and 1 <= args.readers <= 32
        and 1 <= args.commands_per_case <= 1000
    ):
        parser.error(
            "--minutes 2-60, --writers 1-32, --cases 1-5000, --readers 1-32, "
            "--commands-per-case 1-1000"
        )
    common.background_busy()
    try:
        return run(args)
    finally:
        fc.drop_schema(args.database_url, args.schema)


if __name__ == "__main__":
    common.exit_cleanly_on_sigterm()
    sys.exit(main())
