"""The read models follow the event log on SQLite and PostgreSQL: a rebuild from zero gives the
same rows as following along, a crash or a failed batch loses and repeats nothing, concurrent
projectors and a tailing reader apply every event exactly once, and the public directory holds
only what the public may see.
"""
# Table names in these queries are the projections' own constants; values are bound.
# ruff: noqa: S608

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import OperationalError

from api import cli
from api.config import Settings
from api.wiring import System, build_system
from domain.base import Actor, InvalidInput, acting_as
from domain.case import (
    CallerRelationship,
    Channel,
    ConsentGiver,
    ConsentMethod,
    ConsentScope,
)
from domain.directory import DirectoryUseCases
from domain.organization import ALL_CRITERIA, ContactOutcome, RemovalReason
from projections.cases import CaseProjection
from projections.chain import ChainProjection
from projections.directory import INTERNAL, PUBLIC, DirectoryProjection
from projections.runner import Projector
from projections.sql import Cursor, Int8s, Texts, ViewStore, insert_rows
from projections.topics import TopicCheck
from tests.conftest import a_system
from tests.e2e.conftest import fictional_profile, seed
from tests.helpers import AGREEMENT, a_key

STAFF = Actor("fictional-staff-7", "staff", request_id="req-fictional-projections")
SERGEANT = {"name": "Sgt. Fictional Example", "phone": "+1 555 010 0142"}
CONSTABLE = {"name": "Cst. Fictional Sample", "email": "ht-unit@example.org"}
PUBLIC_KEYS = {
    "id",
    "kind",
    "nameEn",
    "nameFr",
    "descriptionEn",
    "descriptionFr",
    "services",
    "focusAreas",
    "populations",
    "languages",
    "regions",
    "hours",
    "intakeProcess",
    "publicContact",
    "location",
}


# -- a directory with some history -----------------------------------------------------------


def an_applicant(app: DirectoryUseCases, name: str, listed: bool = True, **changes: Any) -> UUID:
    return app.apply_for_inclusion(
        a_key(), fictional_profile(name, **changes), list(ALL_CRITERIA), listed, AGREEMENT
    ).id


def an_included(app: DirectoryUseCases, name: str, listed: bool = True, **changes: Any) -> UUID:
    org = an_applicant(app, name, listed, **changes)
    app.start_review(a_key(), org)
    app.approve_inclusion(a_key(), org, "Fictional approval.")
    return org


def a_busy_directory(app: DirectoryUseCases) -> dict[str, UUID]:
    """Every kind of directory change, written through the commands; nothing projected yet."""
    with acting_as(STAFF):
        harbour = an_included(app, "Example Harbour Shelter")
        app.submit_profile_update(
            a_key(),
            harbour,
            fictional_profile("Example Harbour Shelter", hours="Fictional hours: 8 to 20"),
        )
        app.accept_profile_update(a_key(), harbour)
        app.set_public_listing(a_key(), harbour, False, AGREEMENT)
        app.set_public_listing(a_key(), harbour, True, AGREEMENT)

        clinic = an_applicant(app, "Sample Legal Clinic", province="CA-QC")
        app.start_review(a_key(), clinic)
        app.request_more_information(a_key(), clinic, "Who answers the fictional legal line?")
        app.provide_information(a_key(), clinic, "A fictional paralegal.", None)
        app.start_review(a_key(), clinic)
        app.approve_inclusion(a_key(), clinic, "Fictional approval after questions.")
        app.submit_profile_update(a_key(), clinic, fictional_profile("Sample Legal Clinic Two"))
        app.reject_profile_update(a_key(), clinic, "Fictional: the new name is not registered.")
        app.set_public_listing(a_key(), clinic, False, AGREEMENT)

        declined = an_applicant(app, "Placeholder Declined Centre")
        app.start_review(a_key(), declined)
        app.decline_inclusion(a_key(), declined, "Fictional: criteria not met.")

        waiting = an_applicant(app, "Sample Waiting Outreach", listed=False)

        unreachable = an_included(app, "Example Quiet Drop-In", province="CA-MB")
        for _ in range(3):
            app.record_contact_attempt(a_key(), unreachable, ContactOutcome.NO_ANSWER, "")

        removed = an_included(app, "Example Removed Hostel", province="CA-BC")
        app.record_misconduct_allegation(a_key(), removed, "Fictional allegation.")
        app.remove_organization(a_key(), removed, RemovalReason.MISCONDUCT_ALLEGATION, "")

        reinstated = an_included(app, "Example Returning Haven", province="CA-NS")
        app.remove_organization(a_key(), reinstated, RemovalReason.UNREACHABLE, "")
        app.reinstate_organization(a_key(), reinstated, "Fictional: reached them again.")
        app.approve_inclusion(a_key(), reinstated, "Fictional: reviewed again.")

        agency = an_applicant(
            app,
            "Example Harbour Police Service",
            listed=False,
            kind="LAW_ENFORCEMENT_AGENCY",
            services=[],
        )
        app.start_review(a_key(), agency)
        protocol = app.establish_reporting_protocol(
            a_key(), agency, "CA-ON", "Fictionville", [SERGEANT]
        ).id
        app.revise_protocol_contacts(
            a_key(), protocol, [SERGEANT, CONSTABLE], "Fictional: a second contact joins the rota."
        )
        # An agency is included on its request and the protocol established for it.
        app.include_agency(a_key(), agency, "Fictional approval.", protocol)
    return {
        "harbour": harbour,
        "clinic": clinic,
        "declined": declined,
        "waiting": waiting,
        "unreachable": unreachable,
        "removed": removed,
        "reinstated": reinstated,
        "agency": agency,
        "protocol": protocol,
    }


# -- looking at the read models --------------------------------------------------------------


def read_models(store: ViewStore) -> dict[str, list[tuple[Any, ...]]]:
    """Every read-model row, tracking positions included, in a deterministic order."""
    search = ", search::text" if store.dialect == "postgres" else ""
    queries = {
        INTERNAL: f"SELECT id, kind, sort_key, status, last_confirmed_at, flagged_unreachable, "
        f"doc{search} FROM {INTERNAL} ORDER BY id",
        PUBLIC: f"SELECT id, kind, sort_key, doc{search} FROM {PUBLIC} ORDER BY id",
        "reporting_protocols": "SELECT id, agency_id, province, doc FROM reporting_protocols "
        "ORDER BY id",
        # The stored state's bytes hold the snapshot's own timestamp; its version must agree.
        "directory_state": "SELECT id, version, topic FROM directory_state ORDER BY id",
        "protocols_state": "SELECT id, version, topic FROM protocols_state ORDER BY id",
        "projection_tracking": "SELECT name, position FROM projection_tracking ORDER BY name",
    }
    for scope in (INTERNAL, PUBLIC):
        queries[f"{scope}_facets"] = (
            f"SELECT id, facet, value FROM {scope}_facets ORDER BY id, facet, value"
        )
        if store.dialect == "sqlite":
            queries[f"{scope}_fts"] = f"SELECT id, body FROM {scope}_fts ORDER BY id, body"
    with store.read() as cursor:
        return {
            table: [tuple(row) for row in cursor.execute(sql).fetchall()]
            for table, sql in queries.items()
        }


def ids_in(store: ViewStore, table: str) -> list[str]:
    with store.read() as cursor:
        return [row[0] for row in cursor.execute(f"SELECT id FROM {table} ORDER BY id").fetchall()]


def projected_topics(projector: Projector) -> list[str]:
    return [topic for projection in projector.projections for topic in projection.topics]


def projected_events(projector: Projector) -> int:
    """How many events in the whole log some projection handles."""
    return len(
        projector.app.recorder.select_notifications(
            start=1, limit=100_000, topics=projected_topics(projector)
        )
    )


def pending_events(projector: Projector) -> int:
    """How many events each projection has yet to apply, from its own tracking position."""
    positions = projector.positions()
    return sum(
        len(
            projector.app.recorder.select_notifications(
                start=positions[p.name] + 1, limit=100_000, topics=p.topics
            )
        )
        for p in projector.projections
    )


def the_projections(system: System) -> list[Any]:
    """Fresh instances of every projection the system runs."""

    def fresh(p: Any) -> Any:
        if isinstance(p, ChainProjection | TopicCheck):
            return type(p)()
        if isinstance(p, CaseProjection):
            assert p.history is not None  # the case projection stores its state behind
            return CaseProjection(system.app.mapper, system.store.dialect, system.vault, p.history)
        return type(p)(system.app.mapper, system.store.dialect)

    return [fresh(p) for p in system.projector.projections]


# -- rebuild -----------------------------------------------------------------------------------


def test_a_rebuild_from_the_log_gives_every_row_that_following_the_log_gave(
    system: System,
) -> None:
    ids = a_busy_directory(system.app)
    system.projector.catch_up()
    followed = read_models(system.store)

    applied = system.projector.rebuild()

    assert applied == projected_events(system.projector)
    assert read_models(system.store) == followed
    assert len(followed[INTERNAL]) == 8
    assert sorted(row[0] for row in followed[PUBLIC]) == sorted(
        str(ids[name]) for name in ("harbour", "unreachable", "reinstated")
    )
    assert [row[0] for row in followed["reporting_protocols"]] == [str(ids["protocol"])]
    head = system.projector.head()
    assert followed["projection_tracking"] == [
        ("cases", head),
        ("chain", head),
        ("contacts", head),
        ("directory", head),
        ("memberships", head),
        ("protocols", head),
        ("service_accounts", head),
        ("topics", head),
        ("work_items", head),
    ]


def test_a_batch_of_events_a_projection_has_already_folded_in_writes_nothing(
    system: System,
) -> None:
    ids = a_busy_directory(system.app)
    with acting_as(Actor("fictional-staff-1", "staff")):
        case_id = system.app.open_case(
            a_key(),
            Channel.CALL,
            "en",
            CallerRelationship.ANONYMOUS,
            {},
            {"province": "CA-ON", "needs": ["SHELTER"]},
        ).id
    system.projector.catch_up()
    before = read_models(system.store), case_tables(system.store)
    again = {DirectoryProjection: ids["harbour"], CaseProjection: case_id}

    for projection in system.projector.projections:
        if type(projection) in again:
            events = list(system.app.events.get(again[type(projection)]))
            with system.store.transaction() as cursor:  # a batch delivered twice
                projection.process(cursor, events)

    assert (read_models(system.store), case_tables(system.store)) == before


# -- the case projection's state, stored behind and kept in memory ------------------------------


def a_case_with_follow_ups(system: System, follow_ups: int) -> UUID:
    """A case, then ``follow_ups`` consents, each applied in a batch of its own."""
    with acting_as(STAFF):
        case_id = system.app.open_case(
            a_key(),
            Channel.CALL,
            "en",
            CallerRelationship.ANONYMOUS,
            {},
            {"province": "CA-ON", "needs": ["SHELTER"]},
        ).id
    system.projector.catch_up()
    for _ in range(follow_ups):
        a_follow_up_consent(system, case_id)
        system.projector.catch_up()
    return case_id


def a_follow_up_consent(system: System, case_id: UUID) -> None:
    with acting_as(STAFF):
        system.app.grant_consent(
            a_key(),
            case_id,
            ConsentScope.FOLLOW_UP_CONTACT,
            None,
            ConsentGiver.CALLER,
            ConsentMethod.VERBAL,
            None,
        )


def stored_state_version(system: System, case_id: UUID) -> int:
    with system.store.read() as cursor:
        row = cursor.execute(
            "SELECT version FROM cases_state WHERE id = %s", (str(case_id),)
        ).fetchone()
    assert row is not None
    return int(row[0])


def consents_shown(system: System, case_id: UUID, *, version: int, consents: int) -> None:
    doc = system.cases.get(str(case_id))
    assert doc is not None and (doc["version"], len(doc["consents"])) == (version, consents)


def rows_match_a_rebuild(system: System) -> None:
    followed = case_tables(system.store)
    system.projector.rebuild()
    assert case_tables(system.store) == followed


def test_a_cases_state_is_stored_behind_while_its_rows_follow_every_batch(
    system: System,
) -> None:
    case_id = a_case_with_follow_ups(system, 3)

    consents_shown(system, case_id, version=4, consents=3)
    assert stored_state_version(system, case_id) == 1  # stored when opened, not since


def test_another_process_folds_a_case_stored_behind_from_the_event_store(
    system: System,
) -> None:
    case_id = a_case_with_follow_ups(system, 3)

    with a_system(system.settings) as other:  # its projections remember nothing
        a_follow_up_consent(other, case_id)
        other.projector.catch_up()
        consents_shown(other, case_id, version=5, consents=4)
    rows_match_a_rebuild(system)


def test_a_failed_batch_leaves_nothing_of_what_it_folded_in_the_projections_memory(
    system: System,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    case_id = a_case_with_follow_ups(system, 1)
    cases = next(p for p in system.projector.projections if isinstance(p, CaseProjection))
    write = cases.write
    failures: list[int] = []

    def fails_once_after_writing(cursor: Cursor, aggregates: list[Any], applied: Any) -> None:
        write(cursor, aggregates, applied)
        if not failures:
            failures.append(1)
            raise ProjectionCrashed("fictional failure after the rows were written")

    monkeypatch.setattr(cases, "write", fails_once_after_writing)
    a_follow_up_consent(system, case_id)
    with pytest.raises(ProjectionCrashed, match="fictional failure"):
        system.projector.catch_up()
    system.projector.catch_up()
    a_follow_up_consent(system, case_id)
    system.projector.catch_up()

    consents_shown(system, case_id, version=4, consents=3)
    rows_match_a_rebuild(system)


def test_a_projection_storing_its_state_behind_needs_the_event_history(
    system: System,
) -> None:
    with pytest.raises(ValueError, match="history"):
        CaseProjection(system.app.mapper, system.store.dialect, system.vault, None)  # type: ignore[arg-type]


def case_tables(store: ViewStore) -> dict[str, list[tuple[Any, ...]]]:
    with store.read() as cursor:
        return {
            table: [
                tuple(row)
                for row in cursor.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
            ]
            for table in ("cases", "case_needs", "disclosure_ledger")
        }


def nrd_environment(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    """The environment an operator would give ``nrd`` for this store."""
    for name in (
        "NRD_DATABASE_URL",
        "NRD_DATABASE_SCHEMA",
        "NRD_DATA_DIR",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    monkeypatch.setenv("NRD_JWT_SECRET", settings.jwt_secret or "")
    monkeypatch.setenv("NRD_MASTER_KEY", settings.master_key or "")
    if settings.uses_postgres:
        monkeypatch.setenv("NRD_DATABASE_URL", settings.database_url or "")
        monkeypatch.setenv("NRD_DATABASE_SCHEMA", settings.database_schema)
        monkeypatch.setenv("NRD_MAX_CONNECTIONS", "5")


def damage_the_read_models(store: ViewStore) -> None:
    with store.transaction() as cursor:
        cursor.execute(f"DELETE FROM {PUBLIC}_facets")
        cursor.execute(f"DELETE FROM {PUBLIC}")
        cursor.execute(f"UPDATE {INTERNAL} SET doc = '{{}}'")


def test_nrd_projections_rebuild_restores_damaged_read_models_and_reports_progress(
    system: System,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    a_busy_directory(system.app)
    system.projector.catch_up()
    followed = read_models(system.store)
    damage_the_read_models(system.store)
    assert read_models(system.store) != followed
    nrd_environment(monkeypatch, settings)
    monkeypatch.setenv("NRD_DATA_DIR", str(settings.data_dir))

    code = cli.main(["projections", "rebuild"])

    stderr = capsys.readouterr().err
    assert code == 0, stderr
    head = system.projector.head()
    assert f"rebuild directory: {head}/{head} events" in stderr
    assert f"rebuild protocols: {head}/{head} events" in stderr
    assert f"rebuilt every read model from {projected_events(system.projector)} events" in stderr
    assert read_models(system.store) == followed


def test_nrd_projections_status_says_behind_by_its_exit_code_until_the_read_models_are_current(
    system: System,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    a_busy_directory(system.app)  # written; nothing applied yet
    nrd_environment(monkeypatch, settings)
    monkeypatch.setenv("NRD_DATA_DIR", str(settings.data_dir))
    head = system.projector.head()

    assert cli.main(["projections", "status", "--max-lag", "0"]) == 1
    behind = capsys.readouterr().out
    assert f"directory: 0/{head} ({head} behind)" in behind
    assert f"directory: {head} events behind (bound 0)" in behind
    assert cli.main(["projections", "status", "--max-lag", str(head)]) == 1  # never moved
    assert f"directory: {head} events behind and never moved (bound 30s)" in capsys.readouterr().out

    system.projector.catch_up()

    assert cli.main(["projections", "status", "--max-lag", "0"]) == 0
    assert capsys.readouterr().out.endswith("current\n")


def test_nrd_projections_rebuild_takes_the_data_folder_from_the_data_dir_flag(
    system: System,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    a_busy_directory(system.app)
    system.projector.catch_up()
    followed = read_models(system.store)
    damage_the_read_models(system.store)
    nrd_environment(monkeypatch, settings)

    code = cli.main(["projections", "rebuild", "--data-dir", str(settings.data_dir)])

    stderr = capsys.readouterr().err
    assert code == 0, stderr
    assert f"rebuilt every read model from {projected_events(system.projector)} events" in stderr
    assert read_models(system.store) == followed


# -- a crash, a failed batch ---------------------------------------------------------------


def test_events_written_before_a_crash_are_projected_by_the_restarted_projector(
    settings: Settings,
) -> None:
    before_crash = build_system(settings)
    with acting_as(STAFF):
        kept = an_included(before_crash.app, "Example Harbour Shelter")
    before_crash.projector.catch_up()
    ids = a_busy_directory(before_crash.app)  # saved; the process dies before projecting them
    with acting_as(STAFF):
        before_crash.app.set_public_listing(a_key(), kept, False, AGREEMENT)
    assert ids_in(before_crash.store, INTERNAL) == [str(kept)]
    assert ids_in(before_crash.store, PUBLIC) == [str(kept)]
    positions = before_crash.projector.positions()
    before_crash.close()

    restarted = build_system(settings)
    try:
        assert restarted.projector.positions() == positions
        pending = pending_events(restarted.projector)
        applied = restarted.projector.catch_up()
        caught_up = read_models(restarted.store)

        assert applied == pending > 30
        assert str(ids["protocol"]) in ids_in(restarted.store, "reporting_protocols")
        assert str(kept) not in ids_in(restarted.store, PUBLIC)
        restarted.projector.rebuild()
        assert read_models(restarted.store) == caught_up
    finally:
        restarted.close()


class ProjectionCrashed(OperationalError):
    """The database connection was lost mid-batch (not the event's fault: nothing is
    quarantined, the batch is tried again)."""


class CrashesAtTheNthEvent(DirectoryProjection):
    """The directory projection, except that it writes the rows for the first n - 1 events of
    a batch and then fails, as a lost connection would, mid-transaction."""

    def __init__(self, app: DirectoryUseCases, store: ViewStore, n: int) -> None:
        super().__init__(app.mapper, store.dialect)
        self.n = n
        self.rows_seen_before_the_crash: int | None = None

    def process(self, cursor: Cursor, events: Sequence[DomainEventProtocol[Any]]) -> None:
        super().process(cursor, events[: self.n - 1])
        self.rows_seen_before_the_crash = int(
            cursor.execute(f"SELECT COUNT(*) FROM {INTERNAL}").fetchone()[0]
        )
        raise ProjectionCrashed(f"fictional failure at event {self.n} of {len(events)}")


def test_a_batch_that_fails_midway_leaves_rows_and_position_as_they_were(
    system: System,
) -> None:
    a_busy_directory(system.app)
    system.projector.catch_up()
    before = read_models(system.store)
    position = system.projector.positions()["directory"]
    with acting_as(STAFF):
        newcomers = [an_applicant(system.app, f"Fictional Newcomer Centre {n}") for n in range(4)]
        system.app.start_review(a_key(), newcomers[0])
    crashing = CrashesAtTheNthEvent(system.app, system.store, n=4)

    with pytest.raises(ProjectionCrashed):
        Projector(system.app, system.store, [crashing]).catch_up()

    assert crashing.rows_seen_before_the_crash == len(before[INTERNAL]) + 3  # rolled back
    assert read_models(system.store) == before
    assert system.projector.positions()["directory"] == position

    # Five directory events for the directory; for the chain and for the topic check, those
    # five and the five idempotency records saved with them.
    assert pending_events(system.projector) == 5 + 10 + 10
    assert system.projector.catch_up() == 5 + 10 + 10  # each once, none twice
    followed = read_models(system.store)
    assert set(map(str, newcomers)) <= set(ids_in(system.store, INTERNAL))
    system.projector.rebuild()
    assert read_models(system.store) == followed


# -- concurrency ----------------------------------------------------------------------------


def test_two_projectors_catching_up_at_once_apply_every_event_exactly_once(
    system: System,
    settings: Settings,
) -> None:
    a_busy_directory(system.app)
    with acting_as(STAFF):
        for n in range(12):
            an_applicant(system.app, f"Fictional Backlog Shelter {n:02d}")
    another_process = build_system(settings)
    try:
        projectors = [
            Projector(s.app, s.store, the_projections(s), batch_size=3)
            for s in (system, another_process)
        ]
        start = threading.Barrier(2)

        def catch_up(projector: Projector) -> int:
            start.wait(timeout=10)
            return projector.catch_up()

        with ThreadPoolExecutor(2) as pool:
            applied = list(pool.map(catch_up, projectors))

        # The read models' events, and every event in the log once more for the chain and
        # once more for the topic check.
        everything = len(system.app.recorder.select_notifications(start=1, limit=100_000))
        assert sum(applied) == projected_events(system.projector) + 2 * everything
        head = system.projector.head()
        assert system.projector.positions() == {
            "directory": head,
            "protocols": head,
            "cases": head,
            "work_items": head,
            "contacts": head,
            "memberships": head,
            "service_accounts": head,
            "chain": head,
            "topics": head,
        }
        together = read_models(system.store)
        system.projector.rebuild()
        assert read_models(system.store) == together
    finally:
        another_process.close()


def test_a_projector_tailing_four_concurrent_writers_never_skips_an_event(
    system: System,
) -> None:
    writes_each = 12
    stop = threading.Event()
    passes: list[int] = []
    heads_seen: list[int] = []

    seen_some = threading.Event()

    def saw(name: str, position: int, head: int) -> None:
        heads_seen.append(head)
        seen_some.set()

    def follow() -> None:
        while not stop.is_set():
            passes.append(system.projector.catch_up(saw))
        passes.append(system.projector.catch_up(saw))  # a skipped event would stay skipped

    def write(writer: int) -> list[UUID]:
        actor = Actor(f"fictional-writer-{writer}", "staff", request_id=f"req-writer-{writer}")
        written = []
        with acting_as(actor):
            for n in range(writes_each):
                if n == writes_each // 2:
                    # Half written: wait (bounded) until the follower has applied something,
                    # so it reads while the writers write however the threads are scheduled.
                    seen_some.wait(30)
                written.append(
                    system.app.apply_for_inclusion(
                        f"fictional-writer-{writer}-{n:04d}",
                        fictional_profile(f"Fictional Writer {writer} Shelter {n:02d}"),
                        list(ALL_CRITERIA),
                        True,
                        AGREEMENT,
                    ).id
                )
        return written

    with ThreadPoolExecutor(5) as pool:
        follower = pool.submit(follow)
        writers = [pool.submit(write, writer) for writer in range(4)]
        try:
            acknowledged = [org for writer in writers for org in writer.result()]
        finally:
            stop.set()
        follower.result()

    assert len(acknowledged) == 4 * writes_each
    assert ids_in(system.store, INTERNAL) == sorted(str(org) for org in acknowledged)
    # Every event applied, and only once: each application by the directory, and by the chain
    # and the topic check with the idempotency record saved beside it.
    assert sum(passes) == 5 * len(acknowledged)
    assert min(heads_seen) < system.projector.head()  # it read while the writers wrote


# -- the public directory -----------------------------------------------------------------


def public_text(store: ViewStore) -> str:
    """Everything stored in the public tables, as one string to search for leaks."""
    tables = [f"SELECT doc FROM {PUBLIC}", f"SELECT value FROM {PUBLIC}_facets"]
    if store.dialect == "sqlite":
        tables.append(f"SELECT body FROM {PUBLIC}_fts")
    else:
        tables.append(f"SELECT search::text FROM {PUBLIC}")
    with store.read() as cursor:
        return "\n".join(str(row[0]) for sql in tables for row in cursor.execute(sql).fetchall())


def public_rows_for(store: ViewStore, org: UUID) -> int:
    tables = [PUBLIC, f"{PUBLIC}_facets"] + ([f"{PUBLIC}_fts"] if store.dialect == "sqlite" else [])
    with store.read() as cursor:
        return sum(
            int(
                cursor.execute(
                    f"SELECT COUNT(*) FROM {table} WHERE id = %s", (str(org),)
                ).fetchone()[0]
            )
            for table in tables
        )


def test_the_public_directory_holds_only_included_listed_organizations_and_public_fields(
    system: System,
) -> None:
    hidden_location = {
        "province": "CA-ON",
        "municipality": "Fictionville",
        "address": "12 Fictional Hidden Lane",
        "postalCode": "K1A 0B1",
    }
    shelter = seed(
        system, "Example Harbour Shelter", confidential=True, location=dict(hidden_location)
    )
    clinic = seed(
        system,
        "Sample Legal Clinic",
        province="CA-QC",
        location={
            **hidden_location,
            "province": "CA-QC",
            "address": "3 Sample Open Street",
            "postalCode": "H2X 1Y4",
        },
    )
    seed(system, "Example Unlisted Hostel", listed=False)
    seed(system, "Sample Applicant Outreach", included=False)
    declined = seed(system, "Placeholder Declined Centre", included=False)
    with acting_as(STAFF):
        system.app.start_review(a_key(), declined)
        system.app.decline_inclusion(a_key(), declined, "Fictional: criteria not met.")
    system.projector.catch_up()

    assert ids_in(system.store, PUBLIC) == sorted([str(shelter), str(clinic)])
    shelter_doc: Any = system.directory.get(PUBLIC, str(shelter))
    clinic_doc: Any = system.directory.get(PUBLIC, str(clinic))
    assert shelter_doc is not None and clinic_doc is not None
    assert set(shelter_doc) == set(clinic_doc) == PUBLIC_KEYS
    assert shelter_doc["location"] == {"province": "CA-ON", "municipality": "Fictionville"}
    assert clinic_doc["location"]["address"] == "3 Sample Open Street"
    leaked = public_text(system.store)
    for secret in (
        "Hidden Lane",
        "K1A 0B1",
        "coordinator@example.org",
        "Fictional Coordinator",
        "Warm transfer",
        "INCLUDED",
        "criteria",
    ):
        assert secret not in leaked
    internal: Any = system.directory.get(INTERNAL, str(shelter))
    assert internal is not None and internal["location"]["address"] == "12 Fictional Hidden Lane"


def test_removing_or_opting_out_deletes_the_public_row_and_reinstating_or_opting_in_restores_it(
    system: System,
) -> None:
    shelter = seed(system, "Example Harbour Shelter")
    clinic = seed(system, "Sample Legal Clinic", province="CA-QC")
    listed_rows = public_rows_for(system.store, shelter)
    assert listed_rows >= 3

    def after(command: Any) -> set[str]:
        with acting_as(STAFF):
            command()
        system.projector.catch_up()
        return set(ids_in(system.store, PUBLIC))

    assert after(
        lambda: system.app.remove_organization(
            a_key(), shelter, RemovalReason.ORGANIZATION_REQUEST, ""
        )
    ) == {str(clinic)}
    assert public_rows_for(system.store, shelter) == 0
    assert after(lambda: system.app.set_public_listing(a_key(), clinic, False, AGREEMENT)) == set()
    assert public_rows_for(system.store, clinic) == 0
    assert system.directory.get(INTERNAL, str(clinic)) is not None

    # Reinstated, it is reviewed again: the public row waits for the inclusion decision.
    assert (
        after(
            lambda: system.app.reinstate_organization(
                a_key(), shelter, "Fictional: asked to come back."
            )
        )
        == set()
    )
    assert after(
        lambda: system.app.approve_inclusion(a_key(), shelter, "Fictional: reviewed again.")
    ) == {str(shelter)}
    assert public_rows_for(system.store, shelter) == listed_rows
    assert after(lambda: system.app.set_public_listing(a_key(), clinic, True, AGREEMENT)) == {
        str(shelter),
        str(clinic),
    }


def test_a_pending_profile_update_reaches_the_public_directory_only_once_accepted(
    system: System,
) -> None:
    shelter = seed(system, "Example Harbour Shelter")
    with acting_as(STAFF):
        system.app.submit_profile_update(
            a_key(),
            shelter,
            fictional_profile("Example Harbour Shelter", hours="Fictional hours: weekdays"),
        )
    system.projector.catch_up()
    public = system.directory.get(PUBLIC, str(shelter))
    assert public is not None and public["hours"] == "24/7"

    with acting_as(STAFF):
        system.app.accept_profile_update(a_key(), shelter)
    system.projector.catch_up()

    public = system.directory.get(PUBLIC, str(shelter))
    assert public is not None and public["hours"] == "Fictional hours: weekdays"


# -- regressions (each failed on the first commit of the read models) ------------------------


def test_a_worker_that_caught_up_lets_a_command_wait_for_its_own_write(
    settings: Settings,
) -> None:
    worker_fed = build_system(settings.with_changes(inline_projections=False))
    try:
        with acting_as(STAFF):
            outcome = worker_fed.app.apply_for_inclusion(
                a_key(),
                fictional_profile("Example Harbour Shelter"),
                list(ALL_CRITERIA),
                True,
                AGREEMENT,
            )
        worker_fed.projector.catch_up()  # the projection worker's pass

        assert worker_fed.directory.get(INTERNAL, str(outcome.id)) is not None
        assert worker_fed.projector.wait_for(outcome.position, timeout=0.3)
    finally:
        worker_fed.close()


def test_an_application_holding_a_nul_character_does_not_stall_the_directory(
    system: System,
) -> None:
    # PostgreSQL text refuses NUL: projected as is, it would fail that batch on every pass.
    applicant = Actor("fictional-applicant", "public", request_id="req-fictional-nul")
    # Refusing it as invalid input is as good as projecting it.
    with acting_as(applicant), contextlib.suppress(InvalidInput):
        system.app.apply_for_inclusion(
            a_key(), fictional_profile("Fictional\x00Shelter"), list(ALL_CRITERIA), True, AGREEMENT
        )

    later = seed(system, "Example Later Shelter")

    assert system.directory.get(INTERNAL, str(later)) is not None


def test_insert_rows_writes_every_row_with_its_nulls_and_updates_on_conflict(
    system: System,
) -> None:
    with system.store.transaction() as cursor:
        cursor.execute("CREATE TABLE fictional_rows (id TEXT PRIMARY KEY, n INTEGER, note TEXT)")
        insert_rows(cursor, "fictional_rows", ("id", "n", "note"), (Texts, Int8s, Texts), [])
        insert_rows(
            cursor,
            "fictional_rows",
            ("id", "n", "note"),
            (Texts, Int8s, Texts),
            [("a", 1, "first"), ("b", None, None), ("c", 3, "third")],
        )
        insert_rows(
            cursor,
            "fictional_rows",
            ("id", "n", "note"),
            (Texts, Int8s, Texts),
            [("a", 10, "again"), ("d", 4, None)],
            "ON CONFLICT (id) DO UPDATE SET n = excluded.n, note = excluded.note",
        )
        rows = cursor.execute("SELECT id, n, note FROM fictional_rows ORDER BY id").fetchall()

    assert [tuple(row) for row in rows] == [
        ("a", 10, "again"),
        ("b", None, None),
        ("c", 3, "third"),
        ("d", 4, None),
    ]


@pytest.mark.postgres
def test_read_model_documents_are_compressed_with_lz4_on_postgresql(pg_system: System) -> None:
    with pg_system.store.transaction() as cursor:
        supported = cursor.execute(
            "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
        ).fetchone()[0]
        assert supported, "this server was built without lz4: the test cannot tell"
        cursor.execute("CREATE TABLE fictional_docs (id TEXT PRIMARY KEY, doc TEXT)")
        insert_rows(
            cursor,
            "fictional_docs",
            ("id", "doc"),
            (Texts, Texts),
            [("a", '{"note": "Fictional: a long case note."}' * 400)],
        )
        method = cursor.execute("SELECT pg_column_compression(doc) FROM fictional_docs").fetchone()[
            0
        ]

    assert method == "lz4"
