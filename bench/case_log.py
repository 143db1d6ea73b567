"""An event log of worked cases, written through the real commands, on PostgreSQL or SQLite.

Each case is opened (personal data sealed with its key) and worked the way the hotline works
one: a consent to share with a shelter, a warm-transfer referral disclosing the caller's name,
the needs and a brief, the shelter's outcome, a consent to report, a supervisor's report to the
agency under the case's provincial protocol, a consent to statistics; a supervisor's decision
first (the cases reference potential trafficking: nothing leaves without one), every fifth
closed. With each command's idempotency record that is about 18 events a case. Thirteen shelters and thirteen agencies (one protocol per province)
come first.

A finished log is marked (PostgreSQL: ``<schema>.bench_meta``; SQLite: ``bench_meta.json`` in
its data folder) and reused while the count and ``CASE_SEED_VERSION`` match.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import common

CASE_SEED_VERSION = "2"  # bump when the seeded cases change shape
SQLITE_ROOT = common.RESULTS / "data"
FACTORS = {
    "callersWishes": "wants a report",
    "levelOfDetail": "brief",
    "applicableLaw": "fictional statute",
    "localProtocol": "fictional protocol",
}
BRIEF = "Fictional bench brief: needs a safe bed tonight."


@dataclass(frozen=True)
class Log:
    """Where one seeded log lives: a PostgreSQL schema, or a SQLite data folder."""

    store: str  # "postgres" or "sqlite"
    cases: int
    url: str = common.DEFAULT_URL

    @property
    def name(self) -> str:
        return f"bench_rebuild_cases_{self.cases}"

    @property
    def data_dir(self) -> Path:
        return SQLITE_ROOT / self.name

    def settings(self) -> Any:
        if self.store == "postgres":
            return common.settings_for(self.name, self.url)
        from api.config import Settings

        env = {
            k: v
            for k, v in common.server_env(self.name, self.url).items()
            if k.startswith("NRD_") and k not in ("NRD_DATABASE_URL", "NRD_DATABASE_SCHEMA")
        }
        return Settings.from_env({**env, "NRD_DATA_DIR": str(self.data_dir)})

    def seeded(self) -> int | None:
        """Cases a finished seed left here, or None."""
        if self.store == "postgres":
            with common._admin(self.url) as conn:
                row = conn.execute(
                    "SELECT to_regclass(%s)", (f"{self.name}.bench_meta",)
                ).fetchone()
                if row is None or row[0] is None:
                    return None
                meta = dict(
                    conn.execute(f"SELECT name, value FROM {self.name}.bench_meta").fetchall()
                )
        else:
            path = self.data_dir / "bench_meta.json"
            meta = json.loads(path.read_text()) if path.exists() else {}
        if meta.get("case_seed_version") != CASE_SEED_VERSION or "cases" not in meta:
            return None
        return int(meta["cases"])

    def reset(self) -> None:
        if self.store == "postgres":
            common.recreate_schema(self.url, self.name)
            return
        import shutil

        shutil.rmtree(self.data_dir, ignore_errors=True)
        self.data_dir.mkdir(parents=True)

    def mark(self, seconds: float) -> None:
        meta = {
            "cases": str(self.cases),
            "case_seed_version": CASE_SEED_VERSION,
            "seed_seconds": f"{seconds:.1f}",
        }
        if self.store == "sqlite":
            (self.data_dir / "bench_meta.json").write_text(json.dumps(meta))
            return
        with common._admin(self.url) as conn:
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {self.name}.bench_meta "
                "(name TEXT PRIMARY KEY, value TEXT NOT NULL)"
            )
            for name, value in meta.items():
                conn.execute(
                    f"INSERT INTO {self.name}.bench_meta (name, value) VALUES (%s, %s) "
                    "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                    (name, value),
                )


@dataclass(frozen=True)
class Partners:
    """An included shelter and an agency with its protocol, per province."""

    shelters: dict[str, UUID]
    protocols: dict[str, UUID]


def _partners(app: Any) -> Partners:
    from api.demo import ALL_CRITERIA, demo_profile
    from domain.base import Actor, acting_as
    from domain.vocabulary import PROVINCES

    shelters: dict[str, UUID] = {}
    protocols: dict[str, UUID] = {}
    rng = random.Random(11)
    with acting_as(Actor("bench-staff-partners", "staff", request_id="bench-partners")):
        for n, province in enumerate(sorted(PROVINCES)):
            for kind in ("DIRECT_SERVICE_PROVIDER", "LAW_ENFORCEMENT_AGENCY"):
                profile = {**demo_profile(n, province, rng), "kind": kind}
                org = app.apply_for_inclusion(
                    f"bench-org-{uuid4()}",
                    profile,
                    ALL_CRITERIA,
                    kind != "LAW_ENFORCEMENT_AGENCY",
                    "Bench: the organization's signed listing form (fictional)",
                ).id
                app.start_review(f"bench-org-{uuid4()}", org)
                if kind == "LAW_ENFORCEMENT_AGENCY":
                    protocols[province] = app.establish_reporting_protocol(
                        f"bench-protocol-{uuid4()}",
                        org,
                        province,
                        None,
                        [{"name": "Sgt. Fictional Bench", "phone": "+1 555 010 0142"}],
                    ).id
                    # An agency is included on the protocol established for it.
                    app.include_agency(
                        f"bench-org-{uuid4()}", org, "Bench approval", protocols[province]
                    )
                else:
                    app.approve_inclusion(f"bench-org-{uuid4()}", org, "Bench approval (fictional)")
                    shelters[province] = org
    return Partners(shelters, protocols)


def work_case(app: Any, index: int, partners: Partners, staff: Any, supervisor: Any) -> int:
    """One case opened and worked through the real commands; returns the commands run."""
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
        ReferralOutcomeKind,
    )

    provinces = sorted(partners.shelters)
    province = provinces[index % len(provinces)]
    shelter, protocol = partners.shelters[province], partners.protocols[province]

    def key() -> str:
        return f"bench-{uuid4()}"

    def consent(case_id: UUID, scope: ConsentScope, recipient: UUID | None) -> None:
        app.grant_consent(
            key(), case_id, scope, recipient, ConsentGiver.CALLER, ConsentMethod.VERBAL, None
        )

    with acting_as(staff):
        case_id = app.open_case(
            key(),
            Channel.CALL,
            "en",
            CallerRelationship.VICTIM_OR_SURVIVOR,
            {
                "name": f"Fictional Bench Caller {index}",
                "phone": f"+1 555 01{index:06d}",
                "notes": "Fictional bench notes",
            },
            {
                "province": province,
                "urgency": "HIGH",
                "needs": ["SHELTER", "LEGAL"],
                "situationType": "LABOUR_TRAFFICKING",
                "minorInvolved": "NO",
                "municipality": "Fictionville",
            },
        ).id
    with acting_as(supervisor):  # a potential trafficking case: the decision comes first
        app.consult_supervisor(
            key(), case_id, "Fictional: refer with consent, then report.", "Fictional: refer."
        )
    with acting_as(staff):
        consent(case_id, ConsentScope.SHARE_WITH_ORGANIZATION, shelter)
        app.refer(
            key(),
            case_id,
            shelter,
            ReferralMode.WARM_TRANSFER,
            [Need.SHELTER, Need.LEGAL],
            [DisclosableField.CALLER_NAME, DisclosableField.NEEDS],
            BRIEF,
        )
        consent(case_id, ConsentScope.REPORT_TO_LAW_ENFORCEMENT, None)
        consent(case_id, ConsentScope.NON_IDENTIFYING_STATISTICS, None)
    referral = next(iter(app.repository.get(case_id).referrals))
    with acting_as(Actor("bench-partner", "partner", str(shelter))):
        app.report_referral_outcome(
            key(),
            case_id,
            UUID(referral),
            str(shelter),
            ReferralOutcomeKind.ACCEPTED,
            "Fictional: booked.",
        )
    commands = 7
    with acting_as(supervisor):
        app.report_to_law_enforcement(
            key(),
            case_id,
            protocol,
            FACTORS,
            [DisclosableField.LOCATION, DisclosableField.BRIEF],
            BRIEF,
        )
        commands += 1
        if index % 5 == 0:
            app.close_case(key(), case_id, "Fictional: resolved.")
            commands += 1
    return commands


def seed(system: Any, cases: int, threads: int) -> tuple[float, int]:
    """Writes the partners and ``cases`` worked cases with ``threads`` writers: (seconds,
    commands run)."""
    from domain.base import Actor

    app = system.app
    partners = _partners(app)
    indexes = iter(range(cases))
    lock = threading.Lock()
    done, commands = [0], [0]
    errors: list[BaseException] = []
    progress = common.Progress("seeding worked cases", cases)

    def worker(n: int) -> None:
        staff = Actor(f"bench-staff-{n}", "staff", request_id=f"bench-{n}")
        supervisor = Actor(f"bench-supervisor-{n}", "supervisor", request_id=f"bench-s-{n}")
        while not errors:
            with lock:
                index = next(indexes, None)
            if index is None:
                return
            try:
                ran = work_case(app, index, partners, staff, supervisor)
            except BaseException as error:
                errors.append(error)
                return
            with lock:
                done[0] += 1
                commands[0] += ran
            progress.update(done[0])

    workers = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    seconds = progress.finish()
    if errors:
        raise errors[0]
    return seconds, commands[0]


def ensure(
    log: Log, reseed: bool = False, threads: int = 2, build: Callable[[Any], Any] | None = None
) -> dict[str, Any]:
    """Reuses ``log`` if a finished seed of its count is there, else writes it; then brings
    its read models up to date."""
    from api.wiring import build_system

    build = build or build_system
    found = None if reseed else log.seeded()
    reused = found == log.cases
    seconds = None
    if reused:
        common.say(
            f"[{log.store}] {log.name}: reusing the {log.cases} cases seeded earlier "
            "(--reseed writes them again)"
        )
    else:
        common.say(
            f"[{log.store}] {log.name}: seeding {log.cases} worked cases through the "
            f"commands ({threads} writer threads)"
        )
        log.reset()
    system = build(log.settings())
    try:
        if not reused:
            started = time.perf_counter()
            _, commands = seed(system, log.cases, threads)
            seconds = time.perf_counter() - started
            common.say(
                f"[{log.store}] {log.cases} cases: {commands} commands in "
                f"{seconds:.0f}s ({commands / seconds:,.0f}/s)"
            )
        applied, _ = common.catch_up(system)
        head = system.projector.head()
    finally:
        system.close()
    if not reused:
        log.mark(seconds or 0.0)
    return {
        "store": log.store,
        "cases": log.cases,
        "reused": reused,
        "events": head,
        "seed_seconds": None if seconds is None else round(seconds, 1),
        "projected_now": applied,
    }
