"""The write path, on real stores: one locked statement per write on PostgreSQL, cached
aggregates whose decisions on stale state never reach the store, and the case read models
written behind the case commands yet read back by their own process at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, cast
from uuid import UUID, uuid4

import psycopg
import pytest
from eventsourcing.application import Cache
from eventsourcing.persistence import IntegrityError, StoredEvent

from api.config import ConfigurationError, Settings
from api.faults import ReadModelBehind
from api.infrastructure.listener import LogListener
from api.infrastructure.recorders import LockedInsertRecorder
from api.wiring import System, build_system
from domain import write_path as write_path_module
from domain.base import NotFound, acting_as
from domain.case import (
    CallerRelationship,
    Case,
    Channel,
    ConsentGiver,
    ConsentMethod,
    ConsentRequired,
    ConsentScope,
    DisclosableField,
    Need,
    ReferralMode,
)
from domain.cases import OrganizationNotAvailable
from domain.organization import Organization, RemovalReason, Status
from domain.write_path import CopyingRepository, SizedCache
from projections import runner
from tests.conftest import PG_URL, a_system
from tests.e2e.conftest import seed
from tests.helpers import AGREEMENT, a_key
from tests.integration.test_case_application import (
    BRIEF,
    STAFF,
    SUPERVISOR,
    a_case,
    a_case_consented_to_a_shelter,
    an_agency_with_a_protocol,
    consent,
    nothing_written,
    refer,
    report,
)


@contextmanager
def following(system: System, interval: float = 30.0) -> Iterator[None]:
    """The system's projection worker, with an interval far longer than any test waits: what
    it applies in time, it applied because it was woken."""
    stop = threading.Event()
    worker = threading.Thread(target=system.follow_log, args=(stop, interval), daemon=True)
    worker.start()
    try:
        yield
    finally:
        stop.set()
        worker.join(timeout=2)
    assert not worker.is_alive(), "the worker did not stop promptly"


CALL: tuple[Channel, str, CallerRelationship, dict[str, str], dict[str, str]] = (
    Channel.CALL,
    "en",
    CallerRelationship.ANONYMOUS,
    {},
    {"province": "CA-ON"},
)


def copying(system: System) -> CopyingRepository:
    """The system's repository, with the locks and reads the write path adds to the library's."""
    repository = system.app.repository
    assert isinstance(repository, CopyingRepository)
    return repository


def cache_of(system: System) -> Cache[UUID, Any]:
    """The aggregates the system holds: the very objects its commands decide on."""
    cache = system.app.repository.cache
    assert cache is not None
    return cache


def cached_case(system: System, case_id: UUID) -> Case:
    return cast(Case, cache_of(system).get(case_id))


def eventually(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)
    return check()


def stored(version: int, originator: UUID) -> StoredEvent:
    return StoredEvent(
        originator_id=originator,
        originator_version=version,
        topic="tests.fictional:Event",
        state=b'{"fictional": true}',
    )


# -- PostgreSQL: one statement, the table lock inside it ------------------------------------------


@pytest.mark.postgres
def test_postgres_writes_through_the_locked_insert(pg_system: System) -> None:
    assert isinstance(pg_system.app.recorder, LockedInsertRecorder)


@pytest.mark.postgres
def test_the_locked_insert_stores_ids_given_as_text_and_checks_versions_read_of_them(
    pg_system: System,
) -> None:
    recorder = pg_system.app.recorder
    first, second = uuid4(), uuid4()
    recorder.insert_events([stored(1, first)])
    as_text = StoredEvent(
        originator_id=str(second),
        originator_version=1,
        topic="tests.fictional:Event",
        state=b'{"fictional": true}',
    )

    recorder.insert_events([as_text], relied_on={first: 1})
    recorder.insert_events([stored(2, first)])
    with pytest.raises(IntegrityError):
        recorder.insert_events([stored(2, second)], relied_on={first: 1})

    assert [e.originator_id for e in recorder.select_events(second)] == [second]


@pytest.mark.postgres
def test_the_event_store_refuses_to_start_unless_statements_read_what_committed_before_them(
    pg_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The check of versions relied on reads after the lock; a snapshot older than the lock
    # (REPEATABLE READ) would miss a write that came between.
    monkeypatch.setenv("PGOPTIONS", "-c default_transaction_isolation=repeatable\\ read")
    with pytest.raises(ConfigurationError, match="read committed"):
        build_system(pg_settings)


@pytest.mark.postgres
def test_a_write_waits_while_another_transaction_holds_the_event_tables_lock(
    pg_system: System,
) -> None:
    # The lock is what keeps notification ids committing in order, so that a reader tailing
    # the log never passes over an id that commits late.
    done: list[UUID] = []
    options = f"-c search_path={pg_system.settings.database_schema}"
    with psycopg.connect(PG_URL, options=options) as holder:
        holder.execute("LOCK TABLE nrd_events IN EXCLUSIVE MODE")
        before = pg_system.app.recorder.max_notification_id()
        writer = threading.Thread(target=lambda: done.append(a_case(pg_system)), daemon=True)
        writer.start()
        writer.join(timeout=0.5)
        assert writer.is_alive() and not done
        assert pg_system.app.recorder.max_notification_id() == before
        holder.rollback()
    writer.join(timeout=10)
    assert done and pg_system.app.repository.get(done[0]).version == 1


@pytest.mark.postgres
def test_notification_ids_come_back_in_the_order_the_events_were_given(
    pg_system: System,
) -> None:
    first, second = uuid4(), uuid4()
    events = [stored(1, first), stored(1, second), stored(2, first), stored(2, second)]
    ids = pg_system.app.recorder.insert_events(events)

    assert ids is not None and ids == sorted(ids) and len(set(ids)) == 4
    logged = pg_system.app.recorder.select_notifications(start=ids[0], limit=10)
    assert [(n.id, n.originator_id, n.originator_version) for n in logged] == [
        (i, e.originator_id, e.originator_version) for i, e in zip(ids, events, strict=True)
    ]


def test_a_version_already_taken_writes_nothing_of_the_whole_write(system: System) -> None:
    taken, fresh = uuid4(), uuid4()
    system.app.recorder.insert_events([stored(1, taken)])

    with nothing_written(system), pytest.raises(IntegrityError):
        system.app.recorder.insert_events([stored(1, fresh), stored(1, taken)])

    assert system.app.recorder.select_events(fresh) == []
    # The connection went back to the pool usable: the next write works.
    assert system.app.recorder.insert_events([stored(1, fresh)])


# -- idempotency ------------------------------------------------------------------------------


def test_a_repeated_referral_returns_its_first_result_after_the_organization_was_removed(
    system: System,
) -> None:
    shelter, case_id = a_case_consented_to_a_shelter(system)
    key = a_key()
    with acting_as(STAFF):
        first = system.app.refer(
            key,
            case_id,
            shelter,
            ReferralMode.WARM_TRANSFER,
            [Need.SHELTER],
            [DisclosableField.CALLER_NAME],
            BRIEF,
        )
    with acting_as(SUPERVISOR):
        system.app.remove_organization(
            a_key(), shelter, RemovalReason.ORGANIZATION_REQUEST, "Fictional: asked to leave."
        )

    with nothing_written(system), acting_as(STAFF):
        again = system.app.refer(
            key,
            case_id,
            shelter,
            ReferralMode.WARM_TRANSFER,
            [Need.SHELTER],
            [DisclosableField.CALLER_NAME],
            BRIEF,
        )
        with pytest.raises(OrganizationNotAvailable):  # a new referral is refused
            system.app.refer(
                a_key(),
                case_id,
                shelter,
                ReferralMode.WARM_TRANSFER,
                [Need.SHELTER],
                [DisclosableField.CALLER_NAME],
                BRIEF,
            )

    assert again.replayed and (again.id, again.version) == (first.id, first.version)


# -- a decision on stale cached state never reaches the store ------------------------------------


def test_a_process_holding_a_case_in_its_cache_decides_on_what_another_process_wrote(
    system: System,
) -> None:
    shelter = seed(system, "Example Harbour Shelter")
    case_id = a_case(system)
    consent_id = consent(system, case_id, ConsentScope.SHARE_WITH_ORGANIZATION, shelter)
    system.app.repository.get(case_id)  # this process now holds the case
    with a_system(system.settings) as other, acting_as(STAFF):
        other.app.withdraw_consent(a_key(), case_id, consent_id)

    with nothing_written(system), pytest.raises(ConsentRequired):
        refer(system, case_id, shelter, fields=(DisclosableField.CALLER_NAME,))


def test_a_refused_command_leaves_the_cached_case_as_it_was(system: System) -> None:
    shelter = seed(system, "Example Harbour Shelter")
    case_id = a_case(system)
    loaded: Case = system.app.repository.get(case_id)
    version = loaded.version

    with pytest.raises(ConsentRequired):
        refer(system, case_id, shelter, fields=(DisclosableField.CALLER_NAME,))

    cached: Case = system.app.repository.get(case_id)
    assert cached.version == version and not cached.referrals


def test_a_refusal_that_changed_nothing_keeps_the_cached_case(system: System) -> None:
    shelter = seed(system, "Example Harbour Shelter")
    case_id = a_case(system)
    system.app.repository.get(case_id)
    cached = cached_case(system, case_id)

    with pytest.raises(ConsentRequired):
        refer(system, case_id, shelter, fields=(DisclosableField.CALLER_NAME,))

    assert cached_case(system, case_id) is cached


def removed_by_another_process(system: System, organization: UUID) -> None:
    with a_system(system.settings) as other, acting_as(SUPERVISOR):
        other.app.remove_organization(
            a_key(), organization, RemovalReason.ORGANIZATION_REQUEST, "Fictional: asked to leave."
        )


def test_a_referral_relying_on_a_cached_organization_another_process_removed_writes_nothing(
    system: System,
) -> None:
    shelter, case_id = a_case_consented_to_a_shelter(system)
    refer(system, case_id, shelter)  # this process now holds the case and the organization
    removed_by_another_process(system, shelter)

    with nothing_written(system), pytest.raises(OrganizationNotAvailable):
        refer(system, case_id, shelter)


def test_a_refusal_on_a_cached_organization_is_made_again_on_what_another_process_wrote(
    system: System,
) -> None:
    shelter, case_id = a_case_consented_to_a_shelter(system)
    with acting_as(SUPERVISOR):
        system.app.remove_organization(
            a_key(),
            shelter,
            RemovalReason.ORGANIZATION_REQUEST,
            "Fictional: asked to leave for a while.",
        )
    with pytest.raises(OrganizationNotAvailable):  # this process now holds it, removed
        refer(system, case_id, shelter)
    with a_system(system.settings) as other, acting_as(SUPERVISOR):
        other.app.reinstate_organization(a_key(), shelter, "Fictional: back again.")
        other.app.approve_inclusion(a_key(), shelter, "Fictional: reviewed again.")

    refer(system, case_id, shelter)

    assert len(system.app.repository.get(case_id).referrals) == 1


def test_a_report_relying_on_a_cached_agency_another_process_removed_writes_nothing(
    system: System,
) -> None:
    agency, protocol = an_agency_with_a_protocol(system)
    case_id = a_case(system)
    consent(system, case_id, ConsentScope.REPORT_TO_LAW_ENFORCEMENT, agency)
    report(system, case_id, protocol)  # this process now holds the protocol and the agency
    removed_by_another_process(system, agency)

    with nothing_written(system), pytest.raises(OrganizationNotAvailable):
        report(system, case_id, protocol)


def test_a_command_that_changes_nothing_on_a_stale_cached_record_decides_again(
    system: System,
) -> None:
    # Withdrawing a listing consent that this process still holds as withdrawn: the stale
    # decision writes no event, only its idempotency record, and must not pass for done.
    shelter = seed(system, "Example Harbour Shelter", listed=False)
    system.app.repository.get(shelter)  # this process now holds it, unlisted
    with a_system(system.settings) as other, acting_as(STAFF):
        other.app.set_public_listing(a_key(), shelter, True, AGREEMENT)

    with acting_as(STAFF):
        outcome = system.app.set_public_listing(a_key(), shelter, False, AGREEMENT)

    with a_system(system.settings) as fresh:
        stored: Organization = fresh.app.repository.get(shelter)
    assert stored.public_listing is False and outcome.version == stored.version


def test_a_command_on_cached_records_reads_nothing_from_the_event_store_before_writing(
    system: System,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(write_path_module, "TRUST_SECONDS", 60.0)  # however slow this machine
    shelter, case_id = a_case_consented_to_a_shelter(system)
    refer(system, case_id, shelter)  # the case and the organization are cached now
    reads: list[UUID] = []
    select_events = system.app.recorder.select_events

    def counting(originator_id: UUID, **kwargs: object) -> object:
        reads.append(originator_id)
        return select_events(originator_id, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(system.app.recorder, "select_events", counting)
    refer(system, case_id, shelter)

    assert reads == []
    assert len(system.app.repository.get(case_id).referrals) == 2


def test_a_cached_case_not_known_current_for_a_moment_is_brought_up_to_date_before_deciding(
    system: System,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shelter, case_id = a_case_consented_to_a_shelter(system)
    refer(system, case_id, shelter)  # cached, and known current as of this save
    cached = cached_case(system, case_id)
    with a_system(system.settings) as other:
        written = consent(other, case_id, ConsentScope.FOLLOW_UP_CONTACT)
    monkeypatch.setattr(write_path_module, "TRUST_SECONDS", 0.0)  # that moment has passed
    saves: list[object] = []
    save = system.app.save

    def counting(*objs: object, **kwargs: object) -> object:
        saves.append(objs)
        return save(*objs, **kwargs)

    monkeypatch.setattr(system.app, "save", counting)
    refer(system, case_id, shelter)

    assert len(saves) == 1  # no write refused as stale, no second pass
    assert cached_case(system, case_id) is cached  # folded into, not reloaded
    with a_system(system.settings) as fresh:
        stored: Case = fresh.app.repository.get(case_id)
    assert (cached.version, len(cached.referrals)) == (stored.version, 2)
    assert written in {UUID(c) for c in cached.consents}


def test_only_the_moments_within_trust_are_remembered(
    system: System,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    repository = copying(system)
    first = a_case(system)
    assert first in repository._current_at
    monkeypatch.setattr(write_path_module, "TRUST_SECONDS", 0.05)
    time.sleep(0.1)

    second = a_case(system)

    assert first not in repository._current_at and second in repository._current_at


def test_a_case_command_checks_the_cached_organization_without_copying_it(
    system: System,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shelter, case_id = a_case_consented_to_a_shelter(system)
    refer(system, case_id, shelter)  # the case and the organization are cached now
    copied: list[object] = []
    copy = write_path_module._copy

    def counting(aggregate: object) -> object:
        copied.append(aggregate)
        return copy(aggregate)

    monkeypatch.setattr(write_path_module, "_copy", counting)
    with acting_as(STAFF):  # the commands alone: the helper reads the case back
        system.app.grant_consent(
            a_key(),
            case_id,
            ConsentScope.SHARE_WITH_ORGANIZATION,
            shelter,
            ConsentGiver.CALLER,
            ConsentMethod.VERBAL,
            None,
        )
    refer(system, case_id, shelter)

    assert copied == []
    assert len(system.app.repository.get(case_id).referrals) == 2


def test_a_check_of_an_organization_waits_for_a_command_changing_it_in_place(
    system: System,
) -> None:
    # The check reads the cached object itself: never while another command has it half
    # changed, so it sees the organization as it was or as it was saved, nothing between.
    shelter = seed(system, "Example Harbour Shelter")
    repository = copying(system)
    repository.get(shelter)
    changing, release = threading.Event(), threading.Event()
    seen: list[tuple[str, int]] = []

    def command() -> None:
        with repository.changing(shelter) as organization:
            organization.status = "half-changed"  # as a decision would, in place
            changing.set()
            assert release.wait(5)
            organization.status = Status.INCLUDED.value

    thread = threading.Thread(target=command, daemon=True)
    thread.start()
    assert changing.wait(5)
    reader = threading.Thread(
        target=lambda: seen.append(repository.read(shelter, lambda o: (o.status, o.version))),
        daemon=True,
    )
    reader.start()
    reader.join(timeout=0.2)
    assert reader.is_alive() and seen == []  # waiting for the command's lock
    release.set()
    thread.join(timeout=5)
    reader.join(timeout=5)

    assert seen == [(Status.INCLUDED.value, repository.get(shelter).version)]


def test_a_check_inside_a_decision_notes_the_version_it_read(system: System) -> None:
    shelter = seed(system, "Example Harbour Shelter")
    repository = copying(system)
    organization: Organization = repository.get(shelter)
    version = organization.version
    for trusting in (True, False):
        with repository.deciding(trusting=trusting) as decision:
            assert repository.read(shelter, lambda o: o.status) == Status.INCLUDED.value
        assert decision.reads == {shelter: version}


@pytest.mark.parametrize("moved_on", [False, True])
def test_a_write_relying_on_a_version_that_has_moved_on_writes_nothing_of_it(
    system: System,
    moved_on: bool,
) -> None:
    relied, written = uuid4(), uuid4()
    recorder = system.app.recorder
    recorder.insert_events([stored(1, relied), stored(2, relied)])

    if moved_on:
        with nothing_written(system), pytest.raises(IntegrityError):
            recorder.insert_events([stored(1, written)], relied_on={relied: 1})
        assert recorder.select_events(written) == []
    else:
        assert recorder.insert_events([stored(1, written)], relied_on={relied: 2})
        assert len(recorder.select_events(written)) == 1


def test_a_write_relying_on_nothing_or_on_what_it_writes_is_not_refused(system: System) -> None:
    # The version a write takes is checked by the store's key, not as something relied on.
    first = uuid4()
    recorder = system.app.recorder
    assert recorder.insert_events([stored(1, first)], relied_on={})
    assert recorder.insert_events([stored(2, first)], relied_on={first: 1})
    assert len(recorder.select_events(first)) == 2


class PausingCopy:
    """Planted in a cached aggregate: its first deep copy waits a moment for another load to
    fold new events into the same cached object, and notes whether one did meanwhile."""

    def __init__(self) -> None:
        self.copying, self.folded = threading.Event(), threading.Event()
        self.folded_during_copy: bool | None = None

    def __deepcopy__(self, memo: object) -> PausingCopy:
        if not self.copying.is_set():
            self.copying.set()
            self.folded_during_copy = self.folded.wait(0.5)
        return self


def test_a_cached_case_is_never_folded_into_while_it_is_being_copied(system: System) -> None:
    # The library copied the cached aggregate outside the lock that guards folding events into
    # it: a copy taken mid-fold failed ("dictionary changed size during iteration").
    case_id = a_case(system)
    system.app.repository.get(case_id)
    probe = PausingCopy()
    vars(cached_case(system, case_id))["_probe"] = probe
    with a_system(system.settings) as other:
        consent(other, case_id, ConsentScope.FOLLOW_UP_CONTACT)
        first = threading.Thread(target=system.app.repository.get, args=(case_id,))
        first.start()
        assert probe.copying.wait(5)
        consent(other, case_id, ConsentScope.FOLLOW_UP_CONTACT)

        def second() -> None:
            system.app.repository.get(case_id)
            probe.folded.set()

        folding = threading.Thread(target=second)
        folding.start()
        first.join(timeout=10)
        folding.join(timeout=10)

    assert probe.folded_during_copy is False
    assert system.app.repository.get(case_id).version == 3


def grant_then(system: System, case_id: UUID, then: Callable[[Case], None]) -> None:
    """A command whose decision grants a consent to the cached case, then does ``then``."""

    def decide(case: Case) -> None:
        case.grant_consent(
            uuid4(),
            ConsentScope.FOLLOW_UP_CONTACT,
            None,
            ConsentGiver.CALLER,
            ConsentMethod.VERBAL,
            None,
        )
        then(case)

    with acting_as(STAFF):
        system.app._change(a_key(), "grantConsent", case_id, {}, Case, decide, what="case")


def test_a_command_decides_on_the_cached_case_itself_not_a_copy(system: System) -> None:
    case_id = a_case(system)
    system.app.repository.get(case_id)
    cached = cached_case(system, case_id)

    consent(system, case_id, ConsentScope.FOLLOW_UP_CONTACT)

    assert cached_case(system, case_id) is cached
    assert cached.version == 2 and len(cached.consents) == 1


def test_a_decision_refused_after_changing_the_cached_case_leaves_nothing_of_it(
    system: System,
) -> None:
    case_id = a_case(system)
    system.app.repository.get(case_id)

    def refuse(_case: Case) -> None:
        raise ConsentRequired("Fictional: refused after the consent was granted in memory.")

    with nothing_written(system), pytest.raises(ConsentRequired):
        grant_then(system, case_id, refuse)

    assert case_id not in cast(SizedCache, cache_of(system))  # evicted, not left half-changed
    case: Case = system.app.repository.get(case_id)
    assert case.version == 1 and not case.consents


def test_a_save_that_conflicts_evicts_the_cached_case_and_decides_again_on_what_was_stored(
    system: System,
) -> None:
    case_id = a_case(system)
    system.app.repository.get(case_id)
    writes: list[UUID] = []

    def another_process_writes_first(_case: Case) -> None:
        if not writes:  # only during the first attempt
            with a_system(system.settings) as other:
                writes.append(consent(other, case_id, ConsentScope.FOLLOW_UP_CONTACT))

    grant_then(system, case_id, another_process_writes_first)

    stored: Case = system.app.repository.get(case_id)
    assert stored.version == 3 and len(stored.consents) == 2
    assert writes[0] in {UUID(c) for c in stored.consents}
    cached = cached_case(system, case_id)
    assert (cached.version, list(cached.consents)) == (3, list(stored.consents))


def test_loading_the_case_a_decision_holds_gives_a_private_copy_without_waiting(
    system: System,
) -> None:
    case_id = a_case(system)
    loaded: list[Case] = []

    def load_again(case: Case) -> None:
        loaded.append(system.app.repository.get(case_id))
        assert loaded[0] is not case and loaded[0].version == case.version - 1

    grant_then(system, case_id, load_again)

    assert system.app.repository.get(case_id).version == 2


def test_two_commands_naming_each_others_case_never_wait_on_each_other(system: System) -> None:
    # Each holds its own case's lock and reads the record it was given: here, the other case.
    first, second = a_case(system), a_case(system)
    repository = copying(system)
    holding = [threading.Event(), threading.Event()]
    read: list[int] = []

    def command(mine: UUID, other: UUID, n: int) -> None:
        with repository.changing(mine):
            holding[n].set()
            assert holding[1 - n].wait(5)
            read.append(repository.get(other).version)

    threads = [
        threading.Thread(target=command, args=(first, second, 0), daemon=True),
        threading.Thread(target=command, args=(second, first, 1), daemon=True),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)

    assert not any(thread.is_alive() for thread in threads), "the two commands deadlocked"
    assert read == [1, 1]
    assert repository.get(first).version == repository.get(second).version == 1


def test_a_case_named_as_the_organization_of_another_case_is_not_found(system: System) -> None:
    first, second = a_case(system), a_case(system)
    with nothing_written(system), acting_as(STAFF):
        with pytest.raises(NotFound, match="organization not found"):
            system.app.refer(
                a_key(),
                first,
                second,
                ReferralMode.WARM_TRANSFER,
                [Need.SHELTER],
                [DisclosableField.CALLER_NAME],
                BRIEF,
            )
        with pytest.raises(NotFound, match="organization not found"):
            system.app.refer(
                a_key(),
                first,
                first,
                ReferralMode.WARM_TRANSFER,
                [Need.SHELTER],
                [DisclosableField.CALLER_NAME],
                BRIEF,
            )
        with pytest.raises(NotFound, match="organization not found"):
            system.app.grant_consent(
                a_key(),
                first,
                ConsentScope.SHARE_WITH_ORGANIZATION,
                first,
                ConsentGiver.CALLER,
                ConsentMethod.VERBAL,
                None,
            )


# -- case read models written behind, read back at once --------------------------------------------


def position(system: System, name: str) -> int:
    return system.projector.positions()[name]


def test_a_case_command_answers_before_the_case_read_model_applies_it(system: System) -> None:
    system.projector.catch_up()
    with acting_as(STAFF):
        outcome = system.app.open_case(a_key(), *CALL)
    system.read_your_writes(outcome.position, outcome.topics)  # what the API does

    assert position(system, "cases") < outcome.position
    # A read in this process applies what it owes first.
    doc = system.cases.get(str(outcome.id))
    assert doc is not None and doc["id"] == str(outcome.id)
    assert position(system, "cases") >= outcome.position


def test_an_organization_command_is_applied_before_it_answers(system: System) -> None:
    shelter = seed(system, "Example Harbour Shelter")
    with acting_as(SUPERVISOR):
        outcome = system.app.remove_organization(
            a_key(), shelter, RemovalReason.ORGANIZATION_REQUEST, "Fictional: asked to leave."
        )
    system.read_your_writes(outcome.position, outcome.topics)

    # Who may read what changed: in force for every process once the command has answered.
    assert position(system, "directory") >= outcome.position


def test_an_erasure_answers_only_once_the_case_rows_no_longer_hold_what_it_erased(
    system: System,
) -> None:
    case_id = a_case(system)
    system.projector.catch_up()
    with acting_as(SUPERVISOR):
        outcome = system.app.erase_personal_data(a_key(), case_id, "Fictional: asked to.")
    system.read_your_writes(outcome.position, outcome.topics)

    # Applied for every process (the repeat-caller lookup among the rows), not just owed.
    assert position(system, "cases") >= outcome.position


def test_a_replayed_erasure_also_answers_only_once_the_case_rows_are_cleared(
    system: System,
) -> None:
    # A lost acknowledgement, or a client retrying after a timeout: the repeat is a replay,
    # whose events are not known, so it waits as the first request would have.
    case_id = a_case(system)
    system.projector.catch_up()
    key = a_key()
    with acting_as(SUPERVISOR):
        system.app.erase_personal_data(key, case_id, "Fictional: asked to.")
        again = system.app.erase_personal_data(key, case_id, "Fictional: asked to.")
    assert again.replayed and again.topics is None
    system.read_your_writes(again.position, again.topics)

    assert position(system, "cases") >= again.position


def test_a_withdrawn_consent_answers_only_once_every_process_reads_it(system: System) -> None:
    case_id = a_case(system)
    consent_id = consent(system, case_id, ConsentScope.NON_IDENTIFYING_STATISTICS)
    system.projector.catch_up()
    with acting_as(STAFF):
        outcome = system.app.withdraw_consent(a_key(), case_id, consent_id)
    system.read_your_writes(outcome.position, outcome.topics)

    assert position(system, "cases") >= outcome.position


def test_the_worker_applies_a_case_command_at_once_rather_than_at_its_interval(
    system: System,
) -> None:
    with following(system):
        with acting_as(STAFF):
            outcome = system.app.open_case(a_key(), *CALL)
        system.read_your_writes(outcome.position, outcome.topics)

        assert eventually(lambda: position(system, "cases") >= outcome.position)


@pytest.mark.postgres
def test_a_worker_process_is_woken_by_another_processs_write(pg_system: System) -> None:
    worker = pg_system
    worker.projector.catch_up()
    with following(worker), a_system(worker.settings, inline_projections=False) as api:
        time.sleep(0.2)  # the worker is listening
        with acting_as(STAFF):
            outcome = api.app.open_case(a_key(), *CALL)
        api.read_your_writes(outcome.position, outcome.topics)

        assert eventually(lambda: position(worker, "cases") >= outcome.position)
        # The API process reads its own write back once the worker applied it.
        assert api.cases.get(str(outcome.id)) is not None


def test_an_api_process_without_projections_waits_for_the_worker_to_read_its_own_case(
    settings: Settings,
) -> None:
    with a_system(settings, inline_projections=False) as api:
        with acting_as(STAFF):
            outcome = api.app.open_case(a_key(), *CALL)
        api.read_your_writes(outcome.position, outcome.topics)  # does not wait
        with a_system(settings) as worker:
            worker.projector.catch_up()
        assert api.cases.get(str(outcome.id)) is not None


# -- caches bounded by their bytes ---------------------------------------------------------------


def test_the_cached_and_folded_cases_stay_within_nrd_cache_mb(settings: Settings) -> None:
    small = settings.with_changes(cache_mb=1)
    with a_system(small) as system:
        with acting_as(STAFF):
            opened = [system.app.open_case(a_key(), *CALL) for _ in range(400)]
        for outcome in opened:  # loaded, as a command on it would
            system.app.repository.get(outcome.id)
        system.projector.catch_up()
        cached = system.app.repository.cache.entries  # type: ignore[union-attr]
        [folded] = [p for p in system.projector.projections if p.name == "cases"]
        in_memory = folded._cache  # type: ignore[attr-defined]

        assert 0 < len(cached) < 400 and cached.size <= small.cache_bytes("aggregates")
        assert 0 < len(in_memory) < 400 and in_memory.size <= small.cache_bytes("folded")
        # The newest stay; an evicted case loads again when a command needs it.
        assert opened[-1].id in cached and opened[0].id not in cached
        with acting_as(STAFF):
            system.app.update_case(a_key(), opened[0].id, {"urgency": "HIGH"})


# -- read-your-writes per caller ------------------------------------------------------------------

CALLER_A, CALLER_B = "staff\x1f\x1ffictional-staff-a", "staff\x1f\x1ffictional-staff-b"


def test_a_process_applying_its_own_read_models_reads_every_write_it_acknowledged(
    system: System,
) -> None:
    system.projector.catch_up()
    with acting_as(STAFF):
        theirs = system.app.open_case(a_key(), *CALL)
    system.read_your_writes(theirs.position, theirs.topics, CALLER_B)

    # Applying them waits for no other process: caller A's read applies B's write too.
    assert system.cases.for_caller(CALLER_A).get(str(theirs.id)) is not None


def test_with_a_worker_a_caller_reads_its_own_case_write_among_others_writes(
    settings: Settings,
) -> None:
    with a_system(settings, inline_projections=False) as api, a_system(settings) as worker:
        worker.projector.catch_up()
        with following(worker, interval=0.05):
            with acting_as(STAFF):
                mine = api.app.open_case(a_key(), *CALL)
                theirs = api.app.open_case(a_key(), *CALL)
            api.read_your_writes(mine.position, mine.topics, CALLER_A)
            api.read_your_writes(theirs.position, theirs.topics, CALLER_B)

            # A's read waits for the worker to apply A's write, then reads it back.
            assert api.cases.for_caller(CALLER_A).get(str(mine.id)) is not None
            assert position(worker, "cases") >= mine.position


def test_an_api_process_waits_for_the_worker_only_for_the_readers_own_writes(
    settings: Settings,
) -> None:
    with a_system(settings, inline_projections=False, projection_wait=0.3) as api:
        with acting_as(STAFF):
            theirs = api.app.open_case(a_key(), *CALL)
        api.read_your_writes(theirs.position, theirs.topics, CALLER_B)

        # No worker runs: B's read waits its bound and says the read model is behind, while
        # A's read answers at once from the read model as it is.
        started = time.monotonic()
        assert api.cases.for_caller(CALLER_A).get(str(theirs.id)) is None
        assert time.monotonic() - started < 0.3
        with pytest.raises(ReadModelBehind):
            api.cases.for_caller(CALLER_B).get(str(theirs.id))
        # A read for no caller in particular (a command line, a test) waits for every write.
        with pytest.raises(ReadModelBehind):
            api.cases.get(str(theirs.id))
        with a_system(settings) as worker:
            worker.projector.catch_up()
        assert api.cases.for_caller(CALLER_B).get(str(theirs.id)) is not None


def test_callers_owed_positions_are_bounded_and_a_forgotten_one_is_still_waited_for(
    system: System, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "MAX_OWED_CALLERS", 3)
    projector = system.projector
    projector.catch_up()
    with acting_as(STAFF):
        outcomes = [system.app.open_case(a_key(), *CALL) for _ in range(5)]
    for n, outcome in enumerate(outcomes):
        system.read_your_writes(outcome.position, outcome.topics, f"fictional-caller-{n}")

    assert len(projector._owed_by) == 3
    # The callers forgotten were owed up to the second case: every caller's read now waits
    # for that much, so none of them can miss its own write.
    assert projector.owed("fictional-caller-0")["cases"] == outcomes[1].position
    assert projector.owed("fictional-never-wrote")["cases"] == outcomes[1].position
    assert projector.owed("fictional-caller-4")["cases"] == outcomes[4].position
    assert system.cases.for_caller("fictional-caller-0").get(str(outcomes[0].id)) is not None


def test_callers_whose_writes_are_applied_are_forgotten(system: System) -> None:
    projector = system.projector
    with acting_as(STAFF):
        first = system.app.open_case(a_key(), *CALL)
    system.read_your_writes(first.position, first.topics, CALLER_A)
    projector.catch_up()
    with acting_as(STAFF):
        second = system.app.open_case(a_key(), *CALL)
    system.read_your_writes(second.position, second.topics, CALLER_B)

    assert list(projector._owed_by) == [CALLER_B]


def assert_woken_by_a_write(listener: LogListener, system: System) -> None:
    """A wait already under way when another connection writes a case ends, woken."""
    woken: list[bool] = []
    waiter = threading.Thread(target=lambda: woken.append(listener.wait(5.0, threading.Event())))
    waiter.start()
    time.sleep(0.2)
    a_case(system)
    waiter.join(timeout=10)
    assert woken == [True]


@pytest.mark.postgres
def test_a_listener_whose_connection_dropped_listens_again_and_is_woken(
    pg_system: System,
) -> None:
    listener = LogListener(
        pg_system.settings.postgres_params(),
        cast(LockedInsertRecorder, pg_system.app.recorder).channel_name,
    )
    try:
        listener.start()
        assert listener._conn is not None
        backend = listener._conn.info.backend_pid
        with psycopg.connect(PG_URL, autocommit=True) as admin:
            ended = admin.execute("SELECT pg_terminate_backend(%s)", (backend,)).fetchone()
        assert ended == (True,)
        nobody = threading.Event()
        assert listener.wait(0.2, nobody) is False  # the dropped connection: noticed, no wake
        listener.start()  # what the next wait does first
        assert listener._conn is not None and listener._conn.info.backend_pid != backend
        assert_woken_by_a_write(listener, pg_system)
    finally:
        listener.close()


@pytest.mark.postgres
def test_a_paused_listener_hears_nothing_and_hears_again_once_resumed(pg_system: System) -> None:
    listener = LogListener(
        pg_system.settings.postgres_params(),
        cast(LockedInsertRecorder, pg_system.app.recorder).channel_name,
    )
    nobody = threading.Event()
    try:
        listener.start()
        listener.pause()
        a_case(pg_system)  # written while paused: no notification comes, now or later

        assert listener.resume() is True and listener.resume() is False
        assert listener.wait(0.3, nobody) is False
        assert_woken_by_a_write(listener, pg_system)
    finally:
        listener.close()


class ScriptedListener:
    """A listener that notes what the worker asks of it, with passes that find the scripted
    numbers of events."""

    def __init__(self, projector: Any, found: list[int], stop: threading.Event) -> None:
        self.log: list[str] = []
        self.paused = False

        def catch_up() -> int:
            applied = found.pop(0)
            self.log.append(f"pass {applied}")
            if not found:
                stop.set()
            return applied

        projector.catch_up = catch_up

    def wait(self, timeout: float, local: threading.Event) -> bool:
        self.log.append("wait")
        return True  # as if notified at once

    def pause(self) -> None:
        self.log.append("pause")
        self.paused = True

    def resume(self) -> bool:
        was, self.paused = self.paused, False
        if was:
            self.log.append("resume")
        return was

    def close(self) -> None:
        self.log.append("close")  # only after a failure to listen, which none of these is


def test_a_busy_worker_stops_listening_and_looks_again_before_it_waits_once_idle(
    system: System,
) -> None:
    stop = threading.Event()
    listener = ScriptedListener(system.projector, [2, 1, 4, 3, 0, 0, 1, 0], stop)

    system.projector.run_forever(stop, interval=30.0, gather=0.0, listener=listener)

    assert listener.log == [
        "pass 2",
        "wait",
        "pass 1",
        "wait",
        "pass 4",
        "pause",
        "pass 3",
        "pause",
        # idle again: listening, but a write while paused sent nothing, so one more look
        "pass 0",
        "resume",
        "pass 0",
        "wait",
        "pass 1",
        "wait",
        "pass 0",
        "wait",
    ]


@pytest.mark.postgres
def test_a_worker_under_a_steady_load_still_applies_a_lone_write_at_once_afterwards(
    pg_system: System,
) -> None:
    worker = pg_system
    worker.projector.catch_up()
    with following(worker), a_system(worker.settings, inline_projections=False) as api:
        time.sleep(0.2)  # the worker is listening
        with acting_as(STAFF):
            for _ in range(40):  # a steady load: the worker stops listening meanwhile
                api.app.open_case(a_key(), *CALL)
                time.sleep(0.01)
        time.sleep(0.5)  # idle again: listening again
        with acting_as(STAFF):
            outcome = api.app.open_case(a_key(), *CALL)

        assert eventually(lambda: position(worker, "cases") >= outcome.position, timeout=3)
