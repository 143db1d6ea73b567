"""The directory's own rules on real stores, SQLite and PostgreSQL: reinstatements recorded under
the old rule load as they were, and the read model flags applications that look like a known
organization, in log order, the same after a rebuild."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast
from uuid import UUID, uuid4

from eventsourcing.persistence import StoredEvent

from api.wiring import System
from domain.base import Actor, acting_as
from domain.organization import ALL_CRITERIA, Organization, RemovalReason, Status
from projections.directory import INTERNAL, PUBLIC, InternalDoc, match_keys
from tests.e2e.conftest import fictional_profile, seed
from tests.helpers import a_key
from tests.integration.test_projections import ids_in, read_models

STAFF = Actor("fictional-staff-9", "staff", request_id="req-fictional-rules")


def an_application(system: System, name: str, **changes: Any) -> UUID:
    with acting_as(STAFF):
        org: UUID = system.app.apply_for_inclusion(
            a_key(), fictional_profile(name, **changes), list(ALL_CRITERIA), False
        ).id
    return org


# -- reinstatement under the old rule ------------------------------------------------------


def old_reinstatement(system: System, org_id: UUID, version: int) -> StoredEvent:
    """A reinstatement as the store held it before reinstatement went through review: its
    topic and its fields, nothing else."""
    mapper = system.app.mapper
    state = {
        "originator_id": org_id,
        "originator_version": version,
        "timestamp": datetime(2025, 3, 1, tzinfo=UTC),
        "actor_id": "fictional-supervisor-0",
        "actor_role": "supervisor",
        "request_id": "req-fictional-old",
        "reason": "Fictional: the allegation was unfounded.",
    }
    return StoredEvent(
        originator_id=org_id,
        originator_version=version,
        topic="domain.organization:Organization.Reinstated",
        state=mapper.transcoder.encode(state),
    )


def test_an_organization_reinstated_under_the_old_rule_stays_included(system: System) -> None:
    org_id = seed(system, "Example Returning Haven")
    with acting_as(STAFF):
        removed = system.app.remove_organization(
            a_key(), org_id, RemovalReason.ORGANIZATION_REQUEST, ""
        )
    assert system.app.mapper.cipher is None and system.app.mapper.compressor is None
    system.app.recorder.insert_events([old_reinstatement(system, org_id, removed.version + 1)])
    system.app.repository.cache = None  # read the store, not this process's memory

    org: Organization = system.app.repository.get(org_id)
    system.projector.catch_up()

    assert org.state is Status.INCLUDED
    assert org.removal is None
    assert org.last_confirmed_at == datetime(2025, 3, 1, tzinfo=UTC)
    [event] = system.app.events.get(org_id, gt=removed.version)
    assert type(event) is Organization.Reinstated
    assert str(org_id) in ids_in(system.store, PUBLIC)
    internal = cast(InternalDoc | None, system.directory.get(INTERNAL, str(org_id)))
    assert internal is not None and internal["status"] == "INCLUDED"


# -- possible duplicates in the read model -------------------------------------------------


def flags(system: System) -> list[tuple[str, str, str, str | None]]:
    with system.store.read() as cursor:
        rows = cursor.execute(
            "SELECT application_id, organization_id, matched_on, resolution "
            "FROM directory_possible_duplicates ORDER BY application_id, organization_id"
        ).fetchall()
    return [tuple(row) for row in rows]


def test_names_compare_without_case_accents_punctuation_or_spacing() -> None:
    plain = match_keys({"nameEn": "Example Harbour Shelter", "nameFr": "Refuge du Port"})
    styled = match_keys({"nameEn": "  EXAMPLE harbour-shelter!", "nameFr": "Réfuge   du port"})
    assert plain == styled
    assert set(plain.values()) == {"NAME"}
    assert match_keys({"nameEn": "Example Harbour Shelter Two"}).keys().isdisjoint(plain)


def test_a_postal_code_matches_only_with_an_email() -> None:
    located = {"location": {"postalCode": "K1A 0B1"}}
    assert match_keys(located) == {}
    with_email = match_keys({**located, "pointOfContact": {"email": "Lead@Example.org"}})
    assert list(with_email.values()) == ["POSTAL_CODE_AND_EMAIL"]
    same = match_keys(
        {"location": {"postalCode": "k1a0b1"}, "publicContact": {"email": "lead@example.org "}}
    )
    assert same == with_email


def test_the_same_application_sent_three_times_is_flagged_twice_never_merged(
    system: System,
) -> None:
    first = an_application(system, "Example Thrice Sent Outreach")
    second = an_application(system, "Example Thrice Sent Outreach")
    third = an_application(system, "EXAMPLE THRICE-SENT OUTREACH")
    unrelated = an_application(system, "Example Unrelated Clinic")

    system.projector.catch_up()

    assert flags(system) == sorted(
        [
            (str(second), str(first), "NAME", None),
            (str(third), str(first), "NAME", None),
            (str(third), str(second), "NAME", None),
        ]
    )
    assert ids_in(system.store, INTERNAL) == sorted(
        str(o) for o in (first, second, third, unrelated)
    )
    listed = system.directory.possible_duplicates()
    # Oldest application first; an application's links in the order of their ids.
    assert [(r["applicationId"], r["organizationId"]) for r in listed] == [
        (str(second), str(first)),
        *sorted([(str(third), str(first)), (str(third), str(second))]),
    ]
    assert system.directory.possible_duplicates(first=1, after=None)[0] == listed[0]
    after = (listed[0]["flaggedAt"], listed[0]["applicationId"], listed[0]["organizationId"])
    assert system.directory.possible_duplicates(after=after) == listed[1:]


def test_a_decision_closes_a_flag_and_a_rebuild_finds_the_same_flags(system: System) -> None:
    known = seed(system, "Example Harbour Shelter")
    dismissed = an_application(system, "Example Harbour Shelter")
    duplicate = an_application(system, "Example Harbour Shelter")
    reviewed = an_application(system, "Example Harbour Shelter")
    with acting_as(STAFF):
        system.app.dismiss_possible_duplicate(a_key(), dismissed, "Fictional: another town.")
        system.app.start_review(a_key(), duplicate)  # declined after review, as any
        system.app.decline_as_duplicate(a_key(), duplicate, known, "Fictional: sent twice.")
        system.app.start_review(a_key(), reviewed)
        system.app.decline_inclusion(a_key(), reviewed, "Fictional: criteria not met.")
    system.projector.catch_up()

    resolutions = {(a, o): r for a, o, _, r in flags(system)}
    assert resolutions[(str(dismissed), str(known))] == "DISMISSED"
    assert resolutions[(str(duplicate), str(known))] == "DECLINED_AS_DUPLICATE"
    assert resolutions[(str(reviewed), str(known))] == "DECIDED"
    assert system.directory.possible_duplicates() == []
    doc = cast(InternalDoc | None, system.directory.get(INTERNAL, str(duplicate)))
    assert doc is not None and doc["duplicateOf"] == str(known)
    assert {d["resolution"] for d in doc["possibleDuplicates"]} == {"DECLINED_AS_DUPLICATE"}

    followed = read_models(system.store)
    before = flags(system)
    system.projector.rebuild()
    assert flags(system) == before
    assert read_models(system.store) == followed


def test_an_application_stored_before_agreements_were_kept_loads_with_none(
    system: System,
) -> None:
    with acting_as(STAFF):
        org_id = system.app.apply_for_inclusion(
            a_key(), fictional_profile("Example Older Form"), list(ALL_CRITERIA), True, "ref."
        ).id
    [stored] = system.app.recorder.select_events(org_id)
    transcoder = system.app.mapper.transcoder
    state = transcoder.decode(stored.state)
    assert (state["class_version"], state["listing_agreement"]) == (2, "ref.")
    del state["class_version"], state["listing_agreement"]  # the first version's shape
    older = uuid4()
    state["originator_id"] = older
    old = StoredEvent(
        originator_id=older,
        originator_version=1,
        topic=stored.topic,
        state=transcoder.encode(state),
    )
    system.app.recorder.insert_events([old])

    org: Organization = system.app.repository.get(older)

    assert org.public_listing is True
    [event] = system.app.events.get(older)
    assert event.listing_agreement == ""  # type: ignore[attr-defined]
