"""Timing oracle: does "not yours" cost what "does not exist" costs?

SECURITY.md: a reviewer measures timing over thousands of samples. For each by-id lookup a
caller outside the hotline can make, this sends the same GraphQL document with two kinds of id,
interleaved in random order over one keep-alive connection, so that whatever else the machine
does falls on both alike:

* **not yours**: the id of a record that exists but is not the caller's (another agency's
  reporting protocol, report; another partner's referral; an organization the caller may not
  see: included but not publicly listed, or still in review);
* **does not exist**: a fresh random id.

and reports the medians and the two-sided Mann-Whitney U p-value of the two samples (scipy).
PASS when p > 0.01: no evidence, at that level, that the two cost differently. Every answer is
also checked byte for byte: the two kinds must answer the same.

The app is the real one (``uvicorn --factory nrd_app:create``, one worker, on loopback), on
SQLite (a data folder of its own under results/, removed afterwards) and on PostgreSQL (schema
``bench_timing`` in database ``test``, recreated and dropped), seeded through the real commands
with fictional data: two law-enforcement agencies with protocols and reports, two partners
with referrals, and organizations the public directory does not show.

    .venv/bin/python bench/timing_oracle.py            # 2,000 + 2,000 per lookup, both stores
    .venv/bin/python bench/timing_oracle.py --stores postgres --rounds 3
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import common

SCHEMA = "bench_timing"
THRESHOLD = 0.01
TARGETS = 20  # records of each kind that are not the caller's, asked for in turn
MAX_SAMPLES = 50_000

CONTACTS = [
    {
        "name": "Fictional Detective Bench",
        "role": "Human trafficking unit",
        "phone": "+1 555 030 0101",
        "email": "ht-unit@example.org",
    }
]


@dataclass(frozen=True)
class Lookup:
    name: str
    role: str  # whose token asks
    query: str
    changes: bool = False  # a mutation: never sent for the caller's own record


LOOKUPS = {
    "reportingProtocol": Lookup(
        "reportingProtocol",
        "law_enforcement",
        "query Lookup($id: ID!) { reportingProtocol(id: $id) { id province municipality "
        "contacts { name phone } updatedAt } }",
    ),
    "organization": Lookup(
        "organization",
        "partner",
        "query Lookup($id: ID!) { organization(id: $id) { id nameEn nameFr kind "
        "regions { province municipality } } }",
    ),
    "referral": Lookup(
        "referral",
        "partner",
        "query Lookup($id: ID!) { referral(id: $id) { id mode needs at fields "
        "disclosed { callerName brief } } }",
    ),
    "report": Lookup(
        "report",
        "law_enforcement",
        "query Lookup($id: ID!) { report(id: $id) { id at fields disclosed { urgency brief } } }",
    ),
    # Refused before anything is written: the same key serves every request.
    "reviseProtocolContacts": Lookup(
        "reviseProtocolContacts",
        "law_enforcement",
        "mutation Lookup($id: ID!) { reviseProtocolContacts(idempotencyKey: "
        '"bench-timing-revise", id: $id, contacts: [{name: "Fictional Newcomer"}]) '
        "{ protocolId version } }",
        changes=True,
    ),
}


@dataclass
class Seeded:
    agency: str  # the liaison's agency
    partner: str  # the partner's organization
    targets: dict[str, list[str]] = field(default_factory=dict)  # lookup -> not-yours ids
    own: dict[str, list[str]] = field(default_factory=dict)  # lookup -> the caller's own ids


# -- seeding -------------------------------------------------------------------------------------


def _profile(index: int, kind: str, name: str) -> dict[str, Any]:
    from api.demo import demo_profile

    profile = demo_profile(index, "CA-ON", random.Random(index))
    profile.update(
        {
            "kind": kind,
            "nameEn": f"{name} {index} (fictional)",
            "nameFr": f"{name} {index} (fictif)",
        }
    )
    return profile


def _organization(
    app: Any, index: int, kind: str, name: str, *, listed: bool, include: bool = True
) -> UUID:
    from api.demo import ALL_CRITERIA

    org: UUID = app.apply_for_inclusion(
        f"timing-apply-{uuid4()}",
        _profile(index, kind, name),
        ALL_CRITERIA,
        listed,
        "Bench: the organization's signed listing form (fictional)",
    ).id
    app.start_review(f"timing-review-{uuid4()}", org)
    if include:
        app.approve_inclusion(f"timing-approve-{uuid4()}", org, "Bench approval (fictional)")
    return org


def _case(app: Any, index: int, municipality: str | None = None) -> UUID:
    from domain.case import CallerRelationship, Channel

    case: UUID = app.open_case(
        f"timing-case-{uuid4()}",
        Channel.CALL,
        "en",
        CallerRelationship.VICTIM_OR_SURVIVOR,
        {"name": f"Fictional Timing Caller {index}", "phone": f"+1 555 02{index:06d}"},
        {
            "province": "CA-ON",
            "urgency": "HIGH",
            "needs": ["SHELTER"],
            "situationType": "LABOUR_TRAFFICKING",
            "minorInvolved": "NO",
            **({"municipality": municipality} if municipality else {}),
        },
    ).id
    return case


def _decide(app: Any, case: UUID, decision: str = "Refer (fictional bench).") -> None:
    """A potential trafficking case needs a supervisor's decision before anything leaves."""
    from domain.base import Actor, acting_as

    with acting_as(Actor("fictional-timing-supervisor", "supervisor", request_id="timing")):
        app.consult_supervisor(f"timing-decision-{uuid4()}", case, decision, "Fictional: go ahead.")


def _refer(app: Any, index: int, partner: UUID) -> None:
    from domain.case import (
        ConsentGiver,
        ConsentMethod,
        ConsentScope,
        DisclosableField,
        Need,
        ReferralMode,
    )

    case = _case(app, index)
    _decide(app, case)
    app.grant_consent(
        f"timing-consent-{uuid4()}",
        case,
        ConsentScope.SHARE_WITH_ORGANIZATION,
        partner,
        ConsentGiver.CALLER,
        ConsentMethod.VERBAL,
        None,
    )
    app.refer(
        f"timing-refer-{uuid4()}",
        case,
        partner,
        ReferralMode.WARM_TRANSFER,
        [Need.SHELTER],
        [DisclosableField.CALLER_NAME, DisclosableField.NEEDS],
        "Fictional bench brief: needs a safe bed tonight.",
    )


def _report(app: Any, supervisor: Any, index: int, protocol: UUID, municipality: str) -> None:
    """A report under ``protocol``, whose jurisdiction is ``municipality`` (the case's)."""
    from domain.base import acting_as
    from domain.case import DisclosableField, Exception_
    from domain.cases import REPORT_FACTORS

    case = _case(app, index, municipality)
    with acting_as(supervisor):
        app.consult_supervisor(
            f"timing-decision-{uuid4()}",
            case,
            "Report under the local protocol (fictional bench).",
            "Fictional: report now.",
        )
        app.report_to_law_enforcement(
            f"timing-report-{uuid4()}",
            case,
            protocol,
            {factor: "fictional bench assessment" for factor in REPORT_FACTORS},
            [DisclosableField.URGENCY, DisclosableField.BRIEF],
            "Fictional bench brief.",
            Exception_.IMMINENT_HARM,
            "Imminent harm described by a fictional caller.",
        )


def seed(system: Any) -> Seeded:
    """Two agencies (mine, theirs), two partners (mine, theirs), organizations the public
    directory does not show; ``TARGETS`` protocols, referrals and reports of the others', and
    a few of the callers' own."""
    from domain.base import Actor, acting_as
    from projections.directory import INTERNAL

    app = system.app
    staff = Actor("bench-timing-staff", "staff", request_id="bench-timing")
    supervisor = Actor("bench-timing-supervisor", "supervisor", request_id="bench-timing")
    police, provider = "LAW_ENFORCEMENT_AGENCY", "DIRECT_SERVICE_PROVIDER"
    progress = common.Progress("seeding", 4 * TARGETS + 8)
    done = 0

    def step() -> None:
        nonlocal done
        done += 1
        progress.update(done)

    with acting_as(staff):
        # Agencies are included on a protocol established for them (below).
        mine = _organization(
            app, 0, police, "Example Bench Police Service", listed=False, include=False
        )
        theirs = _organization(
            app, 1, police, "Example Other Police Service", listed=False, include=False
        )
        partner = _organization(app, 2, provider, "Example Bench Shelter", listed=True)
        other = _organization(app, 3, provider, "Example Other Shelter", listed=True)
        step()
        my_protocol = app.establish_reporting_protocol(
            f"timing-protocol-{uuid4()}", mine, "CA-ON", "Fictional Town", CONTACTS
        ).id
        app.include_agency(f"timing-approve-{uuid4()}", mine, "Bench approval", my_protocol)
        their_protocols = []
        for n in range(TARGETS):
            their_protocols.append(
                app.establish_reporting_protocol(
                    f"timing-protocol-{uuid4()}", theirs, "CA-ON", f"Fictional Town {n}", CONTACTS
                ).id
            )
            step()
        app.include_agency(
            f"timing-approve-{uuid4()}", theirs, "Bench approval", their_protocols[0]
        )
        unseen = []  # included but not listed, or still in review: not in the public directory
        for n in range(TARGETS):
            unseen.append(
                _organization(
                    app,
                    10 + n,
                    provider,
                    "Example Unlisted Service",
                    listed=False,
                    include=n % 2 == 0,
                )
            )
            step()
        for n in range(TARGETS):
            _refer(app, n, other)
            step()
        for n in range(3):
            _refer(app, 100 + n, partner)
            step()
        for n in range(TARGETS):
            _report(app, supervisor, 200 + n, their_protocols[n], f"Fictional Town {n}")
            step()
        for n in range(3):
            _report(app, supervisor, 300 + n, my_protocol, "Fictional Town")
            step()
    progress.finish()
    common.catch_up(system)

    def inbox(table: str, owner: UUID) -> list[str]:
        return [item["id"] for item in system.cases.inbox(table, str(owner), 100)]

    assert system.directory.get(INTERNAL, str(unseen[0])) is not None
    return Seeded(
        agency=str(mine),
        partner=str(partner),
        targets={
            "reportingProtocol": [str(p) for p in their_protocols],
            "reviseProtocolContacts": [str(p) for p in their_protocols],
            "organization": [str(o) for o in unseen],
            "referral": inbox("referral_inbox", other),
            "report": inbox("report_inbox", theirs),
        },
        own={
            "reportingProtocol": [str(my_protocol)],
            "organization": [str(partner)],
            "reviseProtocolContacts": [str(my_protocol)],
            "referral": inbox("referral_inbox", partner),
            "report": inbox("report_inbox", mine),
        },
    )


# -- measuring -----------------------------------------------------------------------------------


class Client:
    """One keep-alive HTTP/1.1 connection; each request timed from send to the last byte."""

    def __init__(self, port: int, token: str) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        self.headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}

    def ask(self, query: str, record_id: str) -> tuple[float, bytes]:
        body = json.dumps({"query": query, "variables": {"id": record_id}}).encode()
        started = time.perf_counter_ns()
        self.connection.request("POST", "/graphql", body, self.headers)
        response = self.connection.getresponse()
        answer = response.read()
        elapsed = (time.perf_counter_ns() - started) / 1e6
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {answer[:200]!r}")
        return elapsed, answer

    def close(self) -> None:
        self.connection.close()


def measure(
    client: Client,
    lookup: Lookup,
    targets: list[str],
    own: list[str],
    samples: int,
    warmup: int,
    rng: random.Random,
    fresh: bool,
) -> dict[str, Any]:
    from scipy.stats import mannwhitneyu

    if not lookup.changes:
        # The caller's own record answers with data: the lookup works, the ids are right.
        found = json.loads(client.ask(lookup.query, own[0])[1])
        if not (found.get("data") or {}).get(lookup.name):
            raise RuntimeError(f"{lookup.name}: the caller's own record is not found: {found}")
    kinds = ["not yours"] * samples + ["does not exist"] * samples
    rng.shuffle(kinds)
    # As many missing ids as targets, asked for in turn as the targets are: the two kinds then
    # differ in nothing but existence (``fresh``: a new random id every time instead).
    missing = [str(UUID(int=rng.getrandbits(128), version=4)) for _ in targets]
    ids = {"not yours": targets, "does not exist": missing}
    for n in range(warmup):
        client.ask(lookup.query, (targets if n % 2 else missing)[n % len(targets)])
    times: dict[str, list[float]] = {"not yours": [], "does not exist": []}
    answers: dict[str, set[bytes]] = {"not yours": set(), "does not exist": set()}
    progress = common.Progress(f"  {lookup.name}", len(kinds))
    for n, kind in enumerate(kinds):
        record_id = (
            str(uuid4())
            if fresh and kind == "does not exist"
            else ids[kind][len(times[kind]) % len(targets)]
        )
        elapsed, answer = client.ask(lookup.query, record_id)
        times[kind].append(elapsed)
        answers[kind].add(answer)
        progress.update(n + 1)
    progress.finish()
    mine, absent = times["not yours"], times["does not exist"]
    p_value = float(mannwhitneyu(mine, absent, alternative="two-sided").pvalue)
    same = answers["not yours"] == answers["does not exist"] and len(answers["not yours"]) == 1
    return {
        "lookup": lookup.name,
        "role": lookup.role,
        "samples_each": samples,
        "median_not_yours_ms": round(statistics.median(mine), 4),
        "median_missing_ms": round(statistics.median(absent), 4),
        "median_difference_us": round(
            1000 * (statistics.median(mine) - statistics.median(absent)), 1
        ),
        "p_value": p_value,
        "pass": p_value > THRESHOLD,
        "answers_identical": same,
        "answer": sorted(answers["does not exist"])[0].decode()[:200],
    }


# -- one store -----------------------------------------------------------------------------------


def store_env(store: str, url: str, data_dir: Path) -> dict[str, str]:
    env = common.server_env(SCHEMA, url)
    env["NRD_DATA_DIR"] = str(data_dir)
    if store == "sqlite":
        env.pop("NRD_DATABASE_URL")
        env.pop("NRD_DATABASE_SCHEMA")
    return env


def run_store(store: str, args: argparse.Namespace, rng: random.Random) -> dict[str, Any]:
    from api.config import Settings
    from api.wiring import build_system

    common.RESULTS.mkdir(exist_ok=True)
    data_dir = Path(tempfile.mkdtemp(prefix=f"timing-{store}-", dir=common.RESULTS))
    try:
        if store == "postgres":
            common.recreate_schema(args.database_url, SCHEMA)
        env = store_env(store, args.database_url, data_dir)
        settings = Settings.from_env({k: v for k, v in env.items() if k.startswith("NRD_")})
        common.say(f"{store}: seeding through the commands")
        system = build_system(settings)
        try:
            seeded = seed(system)
            tokens = {
                "law_enforcement": system.auth.issue(
                    "law_enforcement", "bench-liaison", seeded.agency, hours=2
                ),
                "partner": system.auth.issue("partner", "bench-partner", seeded.partner, hours=2),
            }
        finally:
            system.close()
        server = common.Server(f"timing-{store}", "nrd_app:create", env)
        results = []
        with common.running(server):
            for name in args.lookups:
                lookup = LOOKUPS[name]
                client = Client(server.port, tokens[lookup.role])
                try:
                    for round_ in range(args.rounds):
                        common.say(
                            f"{store}: {name}, round {round_ + 1}/{args.rounds}: "
                            f"{args.samples} + {args.samples} requests, interleaved"
                        )
                        result = measure(
                            client,
                            lookup,
                            seeded.targets[name],
                            seeded.own[name],
                            args.samples,
                            args.warmup,
                            rng,
                            args.fresh_ids,
                        )
                        results.append({"store": store, "round": round_ + 1, **result})
                finally:
                    client.close()
        return {"store": store, "lookups": results}
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
        if store == "postgres" and not args.keep_schema:
            with common._admin(args.database_url) as conn:
                conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")


# -- the command ---------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--samples",
        type=int,
        default=2000,
        help=f"requests of each kind per lookup and round (100 to {MAX_SAMPLES:,}; "
        "the finding used 2,000)",
    )
    p.add_argument("--warmup", type=int, default=200, help="untimed requests before each round")
    p.add_argument("--rounds", type=int, default=1, help="rounds per lookup (1 to 10)")
    p.add_argument("--stores", default="sqlite,postgres", help="comma-separated: sqlite, postgres")
    p.add_argument(
        "--lookups", default=",".join(LOOKUPS), help=f"comma-separated: {', '.join(LOOKUPS)}"
    )
    p.add_argument("--database-url", default=common.DEFAULT_URL)
    p.add_argument(
        "--keep-schema", action="store_true", help=f"leave schema {SCHEMA} in place afterwards"
    )
    p.add_argument(
        "--fresh-ids",
        action="store_true",
        help="a new random id for every 'does not exist' request (default: a pool "
        f"of {TARGETS} asked for in turn, as the 'not yours' ids are)",
    )
    p.add_argument("--seed", type=int, default=None, help="the interleaving's random seed")
    args = p.parse_args(argv)
    args.stores = [s for s in args.stores.split(",") if s]
    args.lookups = [s for s in args.lookups.split(",") if s]
    if not 100 <= args.samples <= MAX_SAMPLES:
        p.error(f"--samples must be 100 to {MAX_SAMPLES:,}")
    if not 0 <= args.warmup <= 10_000 or not 1 <= args.rounds <= 10:
        p.error("--warmup must be 0 to 10,000 and --rounds 1 to 10")
    if unknown := set(args.stores) - {"sqlite", "postgres"}:
        p.error(f"unknown store(s): {', '.join(sorted(unknown))}")
    if unknown := set(args.lookups) - set(LOOKUPS):
        p.error(f"unknown lookup(s): {', '.join(sorted(unknown))}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    common.exit_cleanly_on_sigterm()
    idle = common.background_busy()
    seed_value = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    rng = random.Random(seed_value)
    stores = [run_store(store, args, rng) for store in args.stores]
    rows = [r for s in stores for r in s["lookups"]]
    print()
    print(
        f"timing oracle: {args.samples:,} 'not yours' + {args.samples:,} 'does not exist' "
        f"requests per lookup and round, interleaved at random (seed {seed_value}); machine "
        f"{100 * idle:.0f}% busy before the run; PASS when p > {THRESHOLD}"
    )
    print(
        common.table(
            [
                "store",
                "lookup",
                "round",
                "median not yours ms",
                "median missing ms",
                "diff us",
                "p (Mann-Whitney)",
                "same answer",
                "verdict",
            ],
            [
                [
                    r["store"],
                    r["lookup"],
                    r["round"],
                    f"{r['median_not_yours_ms']:.3f}",
                    f"{r['median_missing_ms']:.3f}",
                    f"{r['median_difference_us']:+.1f}",
                    f"{r['p_value']:.3g}",
                    "yes" if r["answers_identical"] else "NO",
                    "PASS" if r["pass"] and r["answers_identical"] else "FAIL",
                ]
                for r in rows
            ],
        )
    )
    common.emit(
        "timing_oracle",
        {
            "samples_each": args.samples,
            "rounds": args.rounds,
            "missing_ids": "fresh" if args.fresh_ids else "pool",
            "seed": seed_value,
            "threshold": THRESHOLD,
            "machine_busy_before": round(idle, 3),
            "results": rows,
        },
    )
    return 0 if all(r["pass"] and r["answers_identical"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
