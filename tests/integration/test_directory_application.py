"""The directory's use cases on real stores, SQLite and PostgreSQL: idempotent, all-or-nothing,
and safe when many people record the same organization at the same moment.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any, Protocol, TypeVar
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import IntegrityError

from api.config import Settings
from domain.base import Actor, InvalidInput, NotFound, acting_as
from domain.directory import DirectoryUseCases
from domain.idempotency import IdempotencyKeyReused, IdempotencyRecord, InvalidIdempotencyKey
from domain.organization import (
    ALL_CRITERIA,
    ContactOutcome,
    NotUnderReview,
    Organization,
    RemovalReason,
    Status,
)
from domain.reporting_protocol import NotALawEnforcementAgency, ProtocolExists, ReportingProtocol
from domain.write_path import ConcurrentUpdate, Outcome
from tests.helpers import AGREEMENT, a_key

SHELTER: dict[str, Any] = {
    "kind": "DIRECT_SERVICE_PROVIDER",
    "nameEn": "Example Harbour Shelter",
    "nameFr": "Refuge Exemple du Port",
    "languages": ["en", "fr", "mic"],
    "regions": [{"province": "CA-NS", "municipality": "Example Harbour"}],
}
POLICE: dict[str, Any] = {
    "kind": "LAW_ENFORCEMENT_AGENCY",
    "nameEn": "Example Harbour Police Service",
    "nameFr": "Service de police Exemple du Port",
}
SERGEANT = {"name": "Sgt. Fictional Example", "phone": "+1 555 010 0142"}
CONSTABLE = {"name": "Cst. Fictional Sample", "email": "ht-unit@example.org"}

App = TypeVar("App", bound=DirectoryUseCases)
# The key of jurisdiction claims' ids (the composition root derives it from the master key).
CLAIM_KEY = b"fictional claim key for the tests"


class OpenApp(Protocol):
    def __call__(self, cls: type[App]) -> App: ...


@pytest.fixture
def open_app(settings: Settings) -> Iterator[OpenApp]:
    """Opens a DirectoryUseCases (or a hand-written subclass) on the test's store."""
    opened: list[DirectoryUseCases] = []

    def open_(cls: type[App]) -> App:
        app = cls(env=settings.event_store_env(), claim_key=CLAIM_KEY)
        opened.append(app)
        return app

    yield open_
    for app in opened:
        app.close()


@pytest.fixture
def app(open_app: OpenApp) -> DirectoryUseCases:
    return open_app(DirectoryUseCases)


def written(app: DirectoryUseCases) -> int:
    return app.recorder.max_notification_id() or 0


def versions(app: DirectoryUseCases, aggregate_id: UUID) -> list[int]:
    return [event.originator_version for event in app.events.get(aggregate_id)]


def event_names(app: DirectoryUseCases, aggregate_id: UUID) -> list[str]:
    return [type(event).__name__ for event in app.events.get(aggregate_id)]


def idempotency_records(app: DirectoryUseCases) -> int:
    topic_suffix = IdempotencyRecord.Recorded.__qualname__
    return sum(
        1
        for n in app.recorder.select_notifications(start=1, limit=1000)
        if n.topic.endswith(topic_suffix)
    )


def an_applicant(app: DirectoryUseCases, profile: dict[str, Any] = SHELTER) -> UUID:
    return app.apply_for_inclusion(a_key(), profile, list(ALL_CRITERIA), False).id


def an_included(app: DirectoryUseCases, profile: dict[str, Any] = SHELTER) -> UUID:
    org_id = an_applicant(app, profile)
    app.start_review(a_key(), org_id)
    app.approve_inclusion(a_key(), org_id, "Fictional approval.")
    return org_id


def an_included_agency(app: DirectoryUseCases) -> UUID:
    """A police service included on its own path: its request and a protocol (in New
    Brunswick, out of the way of the protocols the tests establish)."""
    police = an_applicant(app, POLICE)
    app.start_review(a_key(), police)
    protocol = app.establish_reporting_protocol(a_key(), police, "CA-NB", None, [SERGEANT])
    app.include_agency(a_key(), police, "Fictional approval.", protocol.id)
    return police


# -- the lifecycle, end to end through the application -------------------------------------


def test_an_organization_goes_from_application_to_reinstatement_through_the_application(
    app: DirectoryUseCases, staff: Actor
) -> None:
    steps: list[Callable[[UUID], Outcome]] = [
        lambda o: app.start_review(a_key(), o),
        lambda o: app.request_more_information(a_key(), o, "Who answers the fictional line?"),
        lambda o: app.provide_information(a_key(), o, "A fictional coordinator.", None),
        lambda o: app.start_review(a_key(), o),
        lambda o: app.approve_inclusion(a_key(), o, "Fictional approval."),
        lambda o: app.submit_profile_update(a_key(), o, {**SHELTER, "hours": "Fictional hours"}),
        lambda o: app.accept_profile_update(a_key(), o),
        lambda o: app.set_public_listing(a_key(), o, True, "Fictional signed form NRD-0003."),
        lambda o: app.confirm_review(a_key(), o, "Fictional yearly check."),
        lambda o: app.record_contact_attempt(a_key(), o, ContactOutcome.NO_ANSWER, ""),
        lambda o: app.record_misconduct_allegation(a_key(), o, "Fictional allegation."),
        lambda o: app.remove_organization(a_key(), o, RemovalReason.MISCONDUCT_ALLEGATION, ""),
        lambda o: app.reinstate_organization(a_key(), o, "Fictional: allegation unfounded."),
        # Reinstatement returns it to review; the inclusion decision returns it to the directory.
        lambda o: app.approve_inclusion(a_key(), o, "Fictional: reviewed again."),
    ]
    first = app.apply_for_inclusion(a_key(), SHELTER, list(ALL_CRITERIA), False)
    outcomes = [first] + [step(first.id) for step in steps]

    assert [o.version for o in outcomes] == list(range(1, len(steps) + 2))
    assert all(o.id == first.id and not o.replayed for o in outcomes)
    positions = [o.position for o in outcomes]
    assert positions == sorted(set(positions))
    assert event_names(app, first.id) == [
        "ApplicationSubmitted",
        "ReviewStarted",
        "MoreInformationRequested",
        "InformationProvided",
        "ReviewStarted",
        "InclusionApproved",
        "ProfileUpdateSubmitted",
        "ProfileUpdateAccepted",
        "PublicListingAgreementRecorded",
        "ReviewConfirmed",
        "ContactAttemptRecorded",
        "MisconductAllegationRecorded",
        "Removed",
        "ReinstatedForReview",
        "InclusionApproved",
    ]
    org: Organization = app.repository.get(first.id)
    assert org.state is Status.INCLUDED
    assert org.profile["hours"] == "Fictional hours"
    assert org.public_listing is True
    assert {e.actor_id for e in app.events.get(first.id)} == {  # type: ignore[attr-defined]
        staff.user_id
    }


def test_a_protocol_is_established_for_a_police_service_and_revised(
    app: DirectoryUseCases, staff: Actor
) -> None:
    police = an_included_agency(app)

    established = app.establish_reporting_protocol(
        a_key(), police, "CA-NS", "Example Harbour", [SERGEANT]
    )
    revised = app.revise_protocol_contacts(
        a_key(), established.id, [CONSTABLE], "Fictional: new unit lead."
    )

    assert established.id.version == 4  # random: nothing about it can be computed
    assert established.id != ReportingProtocol.legacy_id_for(
        police, {"province": "CA-NS", "municipality": "Example Harbour"}
    )
    assert (established.version, revised.version) == (1, 2)
    assert app.protocol_agency(established.id) == police
    protocol: ReportingProtocol = app.repository.get(established.id)
    assert [r["contacts"] for r in protocol.revisions] == [[SERGEANT], [CONSTABLE]]


# -- idempotency ---------------------------------------------------------------------------


def test_a_repeated_key_returns_the_first_outcome_and_writes_nothing(
    app: DirectoryUseCases, staff: Actor
) -> None:
    key = a_key()
    first = app.apply_for_inclusion(key, SHELTER, list(ALL_CRITERIA), False)
    before = written(app)

    again = app.apply_for_inclusion(key, SHELTER, list(ALL_CRITERIA), False)

    assert again.replayed is True
    assert (again.id, again.version) == (first.id, first.version)
    assert written(app) == before
    assert versions(app, first.id) == [1]


def test_a_repeated_key_for_a_change_returns_the_first_outcome_and_writes_nothing(
    app: DirectoryUseCases, staff: Actor
) -> None:
    org_id = an_applicant(app)
    key = a_key()
    first = app.start_review(key, org_id)
    before = written(app)

    again = app.start_review(key, org_id)

    assert again == Outcome(first.id, first.version, before, replayed=True)
    assert written(app) == before
    assert event_names(app, org_id) == ["ApplicationSubmitted", "ReviewStarted"]


def test_the_same_key_with_different_input_is_refused_and_writes_nothing(
    app: DirectoryUseCases, staff: Actor
) -> None:
    key = a_key()
    app.apply_for_inclusion(key, SHELTER, list(ALL_CRITERIA), False)
    before = written(app)

    with pytest.raises(IdempotencyKeyReused):
        app.apply_for_inclusion(key, SHELTER, list(ALL_CRITERIA), True, AGREEMENT)
    with pytest.raises(IdempotencyKeyReused):
        app.apply_for_inclusion(
            key, {**SHELTER, "nameEn": "Example Valley Centre"}, list(ALL_CRITERIA), False
        )
    assert written(app) == before


def test_the_same_key_for_another_command_is_refused_and_writes_nothing(
    app: DirectoryUseCases, staff: Actor
) -> None:
    org_id = an_applicant(app)
    key = a_key()
    app.start_review(key, org_id)
    before = written(app)

    with pytest.raises(IdempotencyKeyReused):
        app.decline_inclusion(key, org_id, "Fictional reason.")
    assert written(app) == before


def test_keys_belong_to_each_user_so_two_users_with_one_key_make_two_organizations(
    app: DirectoryUseCases,
) -> None:
    key = "fictional-shared-key-0001"
    with acting_as(Actor("fictional-staff-1", "staff")):
        first = app.apply_for_inclusion(key, SHELTER, list(ALL_CRITERIA), False)
    with acting_as(Actor("fictional-staff-2", "staff")):
        second = app.apply_for_inclusion(key, SHELTER, list(ALL_CRITERIA), False)

    assert first.id != second.id
    assert not first.replayed
    assert not second.replayed
    assert versions(app, first.id) == [1]
    assert versions(app, second.id) == [1]
    assert idempotency_records(app) == 2


@pytest.mark.parametrize("key", ["short", "", "x" * 201, "fictional\nkey-with-newline"])
def test_an_invalid_key_is_refused_and_writes_nothing(
    app: DirectoryUseCases, staff: Actor, key: str
) -> None:
    org_id = an_applicant(app)
    before = written(app)

    with pytest.raises(InvalidIdempotencyKey):
        app.start_review(key, org_id)
    with pytest.raises(InvalidIdempotencyKey):
        app.apply_for_inclusion(key, SHELTER, list(ALL_CRITERIA), False)
    assert written(app) == before


# -- refusals write nothing ----------------------------------------------------------------


def test_an_unknown_province_is_refused_as_invalid_input_and_writes_nothing(
    app: DirectoryUseCases, staff: Actor
) -> None:
    with pytest.raises(InvalidInput) as refused:
        app.apply_for_inclusion(
            a_key(), {**SHELTER, "regions": [{"province": "CA-XX"}]}, list(ALL_CRITERIA), False
        )

    assert "regions[0].province" in str(refused.value)
    assert written(app) == 0


def test_an_unknown_criterion_is_refused_as_invalid_input_and_writes_nothing(
    app: DirectoryUseCases, staff: Actor
) -> None:
    with pytest.raises(InvalidInput):
        app.apply_for_inclusion(a_key(), SHELTER, ["CLIENT_SAFETY", "FREE_COFFEE"], False)

    assert written(app) == 0


def test_approval_when_not_under_review_is_refused_and_writes_nothing(
    app: DirectoryUseCases, staff: Actor
) -> None:
    org_id = an_applicant(app)
    key = a_key()
    before = written(app)

    with pytest.raises(NotUnderReview):
        app.approve_inclusion(key, org_id, "Too early.")

    assert written(app) == before
    assert versions(app, org_id) == [1]
    # Nothing was recorded under the key: once the review starts, the same key works.
    app.start_review(a_key(), org_id)
    assert app.approve_inclusion(key, org_id, "Too early.").version == 3


def test_an_unknown_organization_is_not_found(app: DirectoryUseCases, staff: Actor) -> None:
    with pytest.raises(NotFound, match="organization not found"):
        app.start_review(a_key(), uuid4())
    with pytest.raises(NotFound, match="reporting protocol not found"):
        app.revise_protocol_contacts(a_key(), uuid4(), [SERGEANT], "")
    assert written(app) == 0


def test_a_protocol_id_is_not_found_as_an_organization(
    app: DirectoryUseCases, staff: Actor
) -> None:
    police = an_applicant(app, POLICE)
    protocol = app.establish_reporting_protocol(a_key(), police, "CA-NS", None, [SERGEANT])
    before = written(app)

    with pytest.raises(NotFound):
        app.start_review(a_key(), protocol.id)
    assert written(app) == before


def test_a_protocol_for_an_organization_that_is_not_law_enforcement_is_refused(
    app: DirectoryUseCases, staff: Actor
) -> None:
    shelter = an_included(app, SHELTER)
    before = written(app)

    with pytest.raises(NotALawEnforcementAgency):
        app.establish_reporting_protocol(a_key(), shelter, "CA-NS", None, [SERGEANT])
    assert written(app) == before


def test_a_second_protocol_for_the_same_agency_and_jurisdiction_is_refused(
    app: DirectoryUseCases, staff: Actor
) -> None:
    police = an_included_agency(app)
    first = app.establish_reporting_protocol(
        a_key(), police, "CA-NS", "Example Harbour", [SERGEANT]
    )
    before = written(app)

    with pytest.raises(ProtocolExists):
        app.establish_reporting_protocol(a_key(), police, "CA-NS", "EXAMPLE HARBOUR", [CONSTABLE])
    assert written(app) == before
    assert versions(app, first.id) == [1]


# -- concurrency ---------------------------------------------------------------------------

THREADS = 8
ATTEMPTS_EACH = 5


def record_reached_from_many_threads(
    app: DirectoryUseCases, org_id: UUID, *, client_retries: int
) -> tuple[list[Outcome], list[BaseException]]:
    """Each thread acts as its own staff member; all start together to collide."""
    start_together = threading.Barrier(THREADS)
    outcomes: list[Outcome] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def one_member(n: int) -> None:
        with acting_as(Actor(f"fictional-staff-{n}", "staff", request_id=f"req-thread-{n}")):
            start_together.wait()
            for attempt in range(ATTEMPTS_EACH):
                key = f"fictional-thread-{n}-attempt-{attempt}"
                for retry in range(client_retries + 1):
                    try:
                        outcome = app.record_contact_attempt(
                            key, org_id, ContactOutcome.REACHED, f"thread {n} attempt {attempt}"
                        )
                    except ConcurrentUpdate as error:
                        if retry == client_retries:
                            with lock:
                                failures.append(error)
                        continue
                    except BaseException as error:
                        with lock:
                            failures.append(error)
                        return
                    with lock:
                        outcomes.append(outcome)
                    break

    threads = [threading.Thread(target=one_member, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return outcomes, failures


def test_concurrent_contact_attempts_on_one_organization_are_each_recorded_exactly_once(
    app: DirectoryUseCases, staff: Actor
) -> None:
    org_id = an_included(app)
    initial = len(versions(app, org_id))

    # Callers retry a retryable ConcurrentUpdate with the same key, as its message asks.
    outcomes, failures = record_reached_from_many_threads(app, org_id, client_retries=20)

    total = THREADS * ATTEMPTS_EACH
    assert failures == []
    assert len(outcomes) == total
    assert sorted(o.version for o in outcomes) == list(range(initial + 1, initial + total + 1))
    assert versions(app, org_id) == list(range(1, initial + total + 1))
    org: Organization = app.repository.get(org_id)
    notes = [a["note"] for a in org.contact_attempts]
    assert len(notes) == total
    assert len(set(notes)) == total
    assert idempotency_records(app) == 3 + total


def test_the_runner_absorbs_eight_concurrent_writers_on_one_organization(
    app: DirectoryUseCases, staff: Actor
) -> None:
    org_id = an_included(app)
    initial = len(versions(app, org_id))

    outcomes, failures = record_reached_from_many_threads(app, org_id, client_retries=0)

    total = THREADS * ATTEMPTS_EACH
    assert failures == []
    assert len(outcomes) == total
    assert versions(app, org_id) == list(range(1, initial + total + 1))


def test_one_request_sent_from_many_threads_at_once_makes_one_organization(
    app: DirectoryUseCases,
) -> None:
    key = "fictional-double-click-0001"
    start_together = threading.Barrier(THREADS)
    outcomes: list[Outcome] = []

    def the_same_click() -> None:
        with acting_as(Actor("fictional-staff-1", "staff")):
            start_together.wait()
            outcomes.append(app.apply_for_inclusion(key, SHELTER, list(ALL_CRITERIA), False))

    threads = [threading.Thread(target=the_same_click) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(outcomes) == THREADS
    assert len({o.id for o in outcomes}) == 1
    assert sum(not o.replayed for o in outcomes) == 1
    assert written(app) == 2
    assert idempotency_records(app) == 1


class ConflictThatNeverResolves(DirectoryUseCases):
    """Every save collides with a (fictional) concurrent writer."""

    name = DirectoryUseCases.name  # a subclass would otherwise get its own PostgreSQL table
    saves = 0

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        self.saves += 1
        raise IntegrityError("fictional concurrent writer took this version")


def test_a_conflict_that_never_resolves_surfaces_as_a_retryable_concurrent_update(
    open_app: OpenApp, staff: Actor
) -> None:
    org_id = an_applicant(open_app(DirectoryUseCases))
    app = open_app(ConflictThatNeverResolves)
    before = written(app)

    with pytest.raises(ConcurrentUpdate) as refused:
        app.start_review(a_key(), org_id)

    assert refused.value.retryable is True
    assert refused.value.code == "CONCURRENT_UPDATE"
    assert app.saves > 1
    assert written(app) == before
    assert versions(app, org_id) == [1]


class LosesTheNextAcknowledgement(DirectoryUseCases):
    """The write lands, but the caller is told it conflicted, as after a dropped connection."""

    name = DirectoryUseCases.name
    lose_next = False

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        recordings = super().save(*objs, **kwargs)
        if self.lose_next:
            self.lose_next = False
            raise IntegrityError("fictional lost acknowledgement")
        return recordings


def test_a_lost_acknowledgement_on_application_returns_the_first_result_written_once(
    open_app: OpenApp, staff: Actor
) -> None:
    app = open_app(LosesTheNextAcknowledgement)
    app.lose_next = True

    outcome = app.apply_for_inclusion(a_key(), SHELTER, list(ALL_CRITERIA), False)

    assert app.lose_next is False
    assert outcome.version == 1
    assert isinstance(app.repository.get(outcome.id), Organization)
    assert versions(app, outcome.id) == [1]
    assert idempotency_records(app) == 1
    assert written(app) == 2


def test_a_lost_acknowledgement_on_a_change_returns_the_first_result_written_once(
    open_app: OpenApp, staff: Actor
) -> None:
    app = open_app(LosesTheNextAcknowledgement)
    org_id = an_applicant(app)
    before = written(app)
    key = a_key()
    app.lose_next = True

    outcome = app.start_review(key, org_id)

    assert app.lose_next is False
    assert (outcome.id, outcome.version) == (org_id, 2)
    assert event_names(app, org_id) == ["ApplicationSubmitted", "ReviewStarted"]
    assert written(app) == before + 2
    assert idempotency_records(app) == 2
    assert app.start_review(key, org_id) == outcome
