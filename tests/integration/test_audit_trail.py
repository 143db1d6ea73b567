"""The audit trail, read from the event log itself, on real stores (SQLite and PostgreSQL).

Every event of a record says who acted, in which role, when, why and from which request; the
history filters and pages without losing or repeating an event; a record replays to any version
or moment exactly as its events fold, snapshots or not; the public directory can be seen as it
stood on a date; the whole log exports in order and resumes where it stopped; and no caller's
personal data appears anywhere in what the audit shows.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from api.wiring import System
from domain.base import Actor, acting_as
from domain.case import (
    CallerRelationship,
    Case,
    Channel,
    ConsentGiver,
    ConsentMethod,
    ConsentScope,
    DisclosableField,
    Exception_,
    Need,
    ReferralMode,
)
from domain.idempotency import IdempotencyRecord
from domain.organization import ContactOutcome, Organization, RemovalReason
from projections.aggregates import iso
from projections.audit import MASK, HistoryFilter, parse_moment, plain
from projections.directory import PUBLIC, DirectoryQuery, OrganizationDoc
from tests.e2e.conftest import ALL_CRITERIA, fictional_profile, seed
from tests.helpers import AGREEMENT, a_key

STAFF_ID = "fictional-staff-7"
SUPERVISOR_ID = "fictional-supervisor-3"
CALLER = {
    "name": "Wrenna Thistlewood-Fictional",
    "phone": "+1 555 010 0177",
    "email": "wrenna.thistlewood@example.org",
    "notes": "Fictional notes: waits by the Gorseberry Laundromat.",
}
# Every way the caller's data could show up in clear, in any case.
CALLER_TRACES = [*CALLER.values(), "Wrenna", "Thistlewood", "5550100177", "010 0177", "Gorseberry"]
BRIEF = "Fictional brief: needs a safe bed tonight."
SERGEANT = {"name": "Sgt. Fictional Example", "phone": "+1 555 010 0142"}
CONSTABLE = {"name": "Cst. Fictional Sample", "email": "ht-unit@example.org"}
EVERYTHING = HistoryFilter()


def staff(request_id: str) -> Actor:
    return Actor(STAFF_ID, "staff", request_id=request_id)


def supervisor(request_id: str) -> Actor:
    return Actor(SUPERVISOR_ID, "supervisor", request_id=request_id)


def a_moment() -> datetime:
    """An instant strictly after every command before it and before every command after it."""
    time.sleep(0.003)
    moment = datetime.now(UTC)
    time.sleep(0.003)
    return moment


def open_a_case(system: System, request_id: str = "req-audit-open") -> UUID:
    with acting_as(staff(request_id)):
        return system.app.open_case(
            a_key(),
            Channel.CALL,
            "en",
            CallerRelationship.VICTIM_OR_SURVIVOR,
            CALLER,
            {"province": "CA-ON", "urgency": "HIGH", "needs": ["SHELTER"]},
        ).id


def update(system: System, case_id: UUID, actor: Actor, **details: Any) -> None:
    with acting_as(actor):
        system.app.update_case(a_key(), case_id, details)


def grant(
    system: System,
    case_id: UUID,
    recipient: UUID | None,
    scope: ConsentScope = ConsentScope.SHARE_WITH_ORGANIZATION,
    expires_at: datetime | None = None,
) -> UUID:
    """Grants a consent as staff; returns its id."""
    with acting_as(staff("req-audit-consent")):
        system.app.grant_consent(
            a_key(),
            case_id,
            scope,
            recipient,
            ConsentGiver.CALLER,
            ConsentMethod.VERBAL,
            expires_at,
        )
    case: Case = system.app.repository.get(case_id)
    return UUID(list(case.consents)[-1])


def refer_with_caller_details(system: System, case_id: UUID, shelter: UUID) -> None:
    with acting_as(staff("req-audit-refer")):
        system.app.refer(
            a_key(),
            case_id,
            shelter,
            ReferralMode.WARM_TRANSFER,
            [Need.SHELTER],
            [
                DisclosableField.CALLER_NAME,
                DisclosableField.CALLER_PHONE,
                DisclosableField.CALLER_EMAIL,
            ],
            BRIEF,
        )


def history(
    system: System,
    record: UUID,
    where: HistoryFilter = EVERYTHING,
    first: int = 10_000,
    after_version: int = 0,
) -> list[dict[str, Any]]:
    return system.audit.history(record, where, first, after_version)


def who_and_why(entries: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (e["version"], e["type"], e["actorId"], e["actorRole"], e["requestId"], e["reason"])
        for e in entries
    ]


def masked(aggregate: Any) -> dict[str, Any]:
    """An aggregate's own attributes (not the library's private ones), sealed values masked."""
    masked_state: dict[str, Any] = plain(
        {k: v for k, v in vars(aggregate).items() if not k.startswith("_")}
    )
    return masked_state


def folded(system: System, record: UUID, version: int) -> Any:
    """The record at ``version``, folded from its events alone: no snapshot involved."""
    aggregate = None
    for event in system.app.events.get(record, lte=version):
        aggregate = event.mutate(aggregate)  # type: ignore[attr-defined]
    return aggregate


def public_directory_now(system: System) -> list[OrganizationDoc]:
    system.projector.catch_up()
    return system.directory.search(PUBLIC, DirectoryQuery(first=100), with_facets=False).docs


def log_positions(system: System) -> list[tuple[int, str, int]]:
    return [
        (n.id, str(n.originator_id), n.originator_version)
        for n in system.app.recorder.select_notifications(start=1, limit=100_000)
    ]


def matches_the_events(system: System, record: UUID, entries: list[dict[str, Any]]) -> None:
    """The entries are the record's events, each once, oldest first, at their own times."""
    events: list[Any] = list(system.app.events.get(record))
    assert [(e["recordId"], e["version"], e["type"], e["at"]) for e in entries] == [
        (str(record), ev.originator_version, type(ev).__qualname__, iso(ev.timestamp))
        for ev in events
    ]


# -- who, when, why, from which request --------------------------------------------------------


def test_every_event_of_a_case_says_who_acted_in_which_role_when_why_and_from_which_request(
    system: System,
) -> None:
    shelter = seed(system, "Example Harbour Shelter")
    started = iso(a_moment())
    case_id = open_a_case(system)
    consent_id = grant(system, case_id, shelter)
    refer_with_caller_details(system, case_id, shelter)
    with acting_as(supervisor("req-audit-consult")):
        system.app.consult_supervisor(
            a_key(), case_id, "Fictional decision: a warm transfer.", "Fictional: transfer."
        )
    with acting_as(supervisor("req-audit-emergency")):
        system.app.contact_emergency_services(
            a_key(),
            case_id,
            [DisclosableField.LOCATION],
            "",
            Exception_.IMMINENT_HARM,
            "Fictional: a threat tonight.",
        )
    with acting_as(staff("req-audit-close")):
        system.app.close_case(a_key(), case_id, "Fictional: the caller is safe.")
    with acting_as(supervisor("req-audit-reopen")):
        system.app.reopen_case(a_key(), case_id, "Fictional: the caller called back.")
    with acting_as(staff("req-audit-withdraw")):
        system.app.withdraw_consent(a_key(), case_id, consent_id)
    finished = iso(a_moment())

    entries = history(system, case_id)

    assert system.audit.record_type(case_id) == "Case"
    matches_the_events(system, case_id, entries)
    assert who_and_why(entries) == [
        (1, "Case.Opened", STAFF_ID, "staff", "req-audit-open", None),
        (2, "Case.ConsentGranted", STAFF_ID, "staff", "req-audit-consent", None),
        (3, "Case.InformationDisclosed", STAFF_ID, "staff", "req-audit-refer", None),
        (4, "Case.ReferralMade", STAFF_ID, "staff", "req-audit-refer", None),
        # Staff-written free text on a case is sealed with its key: the audit shows that a
        # reason was given, masked like the caller's data (an erasure takes it too).
        (5, "Case.SupervisorConsulted", SUPERVISOR_ID, "supervisor", "req-audit-consult", MASK),
        (6, "Case.InformationDisclosed", SUPERVISOR_ID, "supervisor", "req-audit-emergency", MASK),
        (
            7,
            "Case.EmergencyServicesContacted",
            SUPERVISOR_ID,
            "supervisor",
            "req-audit-emergency",
            None,
        ),
        (8, "Case.Closed", STAFF_ID, "staff", "req-audit-close", MASK),
        (9, "Case.Reopened", SUPERVISOR_ID, "supervisor", "req-audit-reopen", MASK),
        (10, "Case.ConsentWithdrawn", STAFF_ID, "staff", "req-audit-withdraw", None),
    ]
    assert all(e["recordType"] == "Case" and e["position"] is None for e in entries)
    assert all(started < e["at"] < finished for e in entries)
    assert [e["at"] for e in entries] == sorted(e["at"] for e in entries)
    granted, disclosed = entries[1]["data"], entries[2]["data"]
    assert (granted["consent_id"], granted["scope"], granted["recipient_id"]) == (
        str(consent_id),
        "SHARE_WITH_ORGANIZATION",
        str(shelter),
    )
    assert (disclosed["recipient_id"], disclosed["fields"]) == (
        str(shelter),
        ["CALLER_NAME", "CALLER_PHONE", "CALLER_EMAIL", "BRIEF", "NEEDS"],
    )
    assert entries[6]["data"]["number"] == "911"
    assert not {"actor_id", "actor_role", "request_id"} & set(entries[0]["data"])


def test_every_event_of_an_organization_says_who_when_and_why_it_was_declined_removed_or_back(
    system: System,
) -> None:
    app = system.app
    with acting_as(staff("req-org-apply")):
        included = app.apply_for_inclusion(
            a_key(), fictional_profile("Example Alder Shelter"), ALL_CRITERIA, True, AGREEMENT
        ).id
        declined = app.apply_for_inclusion(
            a_key(), fictional_profile("Example Fir Outreach"), ALL_CRITERIA, True, AGREEMENT
        ).id
    with acting_as(staff("req-org-review")):
        app.start_review(a_key(), included)
        app.start_review(a_key(), declined)
    with acting_as(staff("req-org-questions")):
        app.request_more_information(a_key(), included, "Fictional: who staffs the nights?")
    with acting_as(Actor("fictional-partner-4", "partner", str(included), "req-org-answers")):
        app.provide_information(a_key(), included, "Fictional: two coordinators.", None)
    with acting_as(staff("req-org-review-again")):
        app.start_review(a_key(), included)
    with acting_as(supervisor("req-org-approve")):
        app.approve_inclusion(a_key(), included, "Fictional: every criterion attested.")
    with acting_as(supervisor("req-org-decline")):
        app.decline_inclusion(a_key(), declined, "Fictional: no safety policy on file.")
    with acting_as(supervisor("req-org-allegation")):
        app.record_misconduct_allegation(a_key(), included, "Fictional allegation summary.")
    with acting_as(supervisor("req-org-remove")):
        app.remove_organization(
            a_key(),
            included,
            RemovalReason.MISCONDUCT_ALLEGATION,
            "Fictional: removed pending an inquiry.",
        )
    with acting_as(supervisor("req-org-reinstate")):
        app.reinstate_organization(a_key(), included, "Fictional: the allegation was unfounded.")

    entries = history(system, included)
    declined_entries = history(system, declined)

    assert system.audit.record_type(included) == "Organization"
    matches_the_events(system, included, entries)
    matches_the_events(system, declined, declined_entries)
    assert who_and_why(entries) == [
        (1, "Organization.ApplicationSubmitted", STAFF_ID, "staff", "req-org-apply", None),
        (2, "Organization.ReviewStarted", STAFF_ID, "staff", "req-org-review", None),
        (
            3,
            "Organization.MoreInformationRequested",
            STAFF_ID,
            "staff",
            "req-org-questions",
            "Fictional: who staffs the nights?",
        ),
        (
            4,
            "Organization.InformationProvided",
            "fictional-partner-4",
            "partner",
            "req-org-answers",
            "Fictional: two coordinators.",
        ),
        (5, "Organization.ReviewStarted", STAFF_ID, "staff", "req-org-review-again", None),
        (
            6,
            "Organization.InclusionApproved",
            SUPERVISOR_ID,
            "supervisor",
            "req-org-approve",
            "Fictional: every criterion attested.",
        ),
        (
            7,
            "Organization.MisconductAllegationRecorded",
            SUPERVISOR_ID,
            "supervisor",
            "req-org-allegation",
            "Fictional allegation summary.",
        ),
        (
            8,
            "Organization.Removed",
            SUPERVISOR_ID,
            "supervisor",
            "req-org-remove",
            "MISCONDUCT_ALLEGATION",
        ),
        (
            9,
            "Organization.ReinstatedForReview",
            SUPERVISOR_ID,
            "supervisor",
            "req-org-reinstate",
            "Fictional: the allegation was unfounded.",
        ),
    ]
    assert entries[7]["data"] == {
        "reason": "MISCONDUCT_ALLEGATION",
        "note": "Fictional: removed pending an inquiry.",
    }
    assert who_and_why(declined_entries) == [
        (1, "Organization.ApplicationSubmitted", STAFF_ID, "staff", "req-org-apply", None),
        (2, "Organization.ReviewStarted", STAFF_ID, "staff", "req-org-review", None),
        (
            3,
            "Organization.InclusionDeclined",
            SUPERVISOR_ID,
            "supervisor",
            "req-org-decline",
            "Fictional: no safety policy on file.",
        ),
    ]


def test_every_revision_of_a_reporting_protocol_says_who_when_and_why(system: System) -> None:
    agency = seed(system, "Example Harbour Police Service", kind="LAW_ENFORCEMENT_AGENCY")
    with acting_as(staff("req-protocol-establish")):
        protocol = system.app.establish_reporting_protocol(
            a_key(), agency, "CA-ON", None, [SERGEANT]
        ).id
    with acting_as(supervisor("req-protocol-revise")):
        system.app.revise_protocol_contacts(
            a_key(), protocol, [CONSTABLE], "Fictional: a new unit lead."
        )

    entries = history(system, protocol)

    assert system.audit.record_type(protocol) == "ReportingProtocol"
    matches_the_events(system, protocol, entries)
    assert who_and_why(entries) == [
        (1, "ReportingProtocol.Established", STAFF_ID, "staff", "req-protocol-establish", None),
        (
            2,
            "ReportingProtocol.ContactsRevised",
            SUPERVISOR_ID,
            "supervisor",
            "req-protocol-revise",
            "Fictional: a new unit lead.",
        ),
    ]
    assert (entries[0]["data"]["agency_id"], entries[0]["data"]["contacts"]) == (
        str(agency),
        [SERGEANT],
    )
    assert entries[1]["data"]["contacts"] == [CONSTABLE]


# -- filters and pages -------------------------------------------------------------------------


def test_the_history_filters_by_time_range_actor_and_event_type_alone_and_together(
    system: System,
) -> None:
    before = a_moment()
    case_id = open_a_case(system)  # v1 staff
    update(system, case_id, staff("req-1"), urgency="MEDIUM")  # v2 staff
    t1 = a_moment()
    with acting_as(supervisor("req-2")):
        system.app.consult_supervisor(
            a_key(), case_id, "Fictional decision.", "Go."
        )  # v3 supervisor
    update(system, case_id, supervisor("req-3"), urgency="HIGH")  # v4 supervisor
    update(system, case_id, staff("req-4"), municipality="Fictionville")  # v5 staff
    t2 = a_moment()
    with acting_as(staff("req-5")):
        system.app.close_case(a_key(), case_id, "Fictional: resolved.")  # v6 staff
    with acting_as(supervisor("req-6")):
        system.app.reopen_case(a_key(), case_id, "Fictional: called back.")  # v7 supervisor
    after = a_moment()
    updated = frozenset({"Case.DetailsUpdated"})

    def versions(**where: Any) -> list[int]:
        return [e["version"] for e in history(system, case_id, HistoryFilter(**where))]

    assert versions() == [1, 2, 3, 4, 5, 6, 7]
    # Time alone.
    assert versions(since=t1) == [3, 4, 5, 6, 7]
    assert versions(until=t2) == [1, 2, 3, 4, 5]
    assert versions(since=t1, until=t2) == [3, 4, 5]
    assert versions(since=before, until=after) == [1, 2, 3, 4, 5, 6, 7]
    assert versions(since=after) == []
    assert versions(until=before) == []
    # Actor alone.
    assert versions(actor_id=SUPERVISOR_ID) == [3, 4, 7]
    assert versions(actor_id=STAFF_ID) == [1, 2, 5, 6]
    assert versions(actor_id="fictional-nobody") == []
    # Type alone.
    assert versions(types=updated) == [2, 4, 5]
    assert versions(types=frozenset({"Case.Closed", "Case.Reopened"})) == [6, 7]
    assert versions(types=frozenset({"Case.NoSuchEvent"})) == []
    # Together.
    assert versions(since=t1, until=t2, actor_id=STAFF_ID) == [5]
    assert versions(since=t1, actor_id=SUPERVISOR_ID) == [3, 4, 7]
    assert versions(actor_id=STAFF_ID, types=updated) == [2, 5]
    assert versions(since=t1, types=updated) == [4, 5]
    assert versions(since=t1, until=t2, actor_id=SUPERVISOR_ID, types=updated) == [4]
    assert versions(since=t2, actor_id=SUPERVISOR_ID, types=updated) == []
    # A filtered history pages too: each page starts after the last version shown.
    only_staff_updates = HistoryFilter(actor_id=STAFF_ID, types=updated)
    assert [e["version"] for e in history(system, case_id, only_staff_updates, 1)] == [2]
    assert [e["version"] for e in history(system, case_id, only_staff_updates, 1, 2)] == [5]
    assert history(system, case_id, only_staff_updates, 1, 5) == []


@pytest.mark.parametrize("page_size", [1, 4, 7, 50])
def test_paging_through_a_history_returns_every_event_exactly_once(
    system: System,
    page_size: int,
) -> None:
    case_id = open_a_case(system)
    for n in range(14):
        update(system, case_id, staff(f"req-page-{n}"), municipality=f"Fictionville-{n}")
    everything = history(system, case_id)

    pages: list[list[dict[str, Any]]] = []
    after = 0
    while page := history(system, case_id, EVERYTHING, page_size, after):
        pages.append(page)
        after = page[-1]["version"]

    assert all(0 < len(page) <= page_size for page in pages)
    assert len(pages) == -(-15 // page_size)  # no empty page but the one that ends it
    assert [e for page in pages for e in page] == everything
    assert [e["version"] for e in everything] == list(range(1, 16))


# -- what the audit never shows ----------------------------------------------------------------


def test_no_caller_personal_data_appears_in_any_history_replay_or_export(system: System) -> None:
    shelter = seed(system, "Example Harbour Shelter")
    case_id = open_a_case(system)
    grant(system, case_id, shelter)
    refer_with_caller_details(system, case_id, shelter)
    update(system, case_id, staff("req-audit-update"), urgency="IMMINENT_HARM")
    before_erasure = len(list(system.app.events.get(case_id)))
    with acting_as(supervisor("req-audit-erase")):
        system.app.erase_personal_data(a_key(), case_id, "Fictional: the caller asked.")
    events: list[Any] = list(system.app.events.get(case_id))
    sealed = [
        events[0].sealed_personal,
        *(e.sealed_copy for e in events if hasattr(e, "sealed_copy")),
    ]

    entries = history(system, case_id)
    states = [system.audit.state_as_of(case_id, version=v) for v in range(1, len(events) + 1)]
    exported = list(system.audit.export())
    shown = {
        "history": json.dumps(entries),
        "states": json.dumps(states),
        "export": json.dumps(exported),
        "export of the case": json.dumps(list(system.audit.export(record_id=case_id))),
    }

    for where, text in shown.items():
        for trace in CALLER_TRACES:
            assert trace.lower() not in text.lower(), f"{trace!r} shown in the {where}"
        for ciphertext in sealed:
            assert ciphertext not in text, f"a sealed value shown as it is stored, in {where}"
    # The sealed values are there, masked: the scan above looked where the data would be.
    opened, disclosed = entries[0]["data"], entries[2]["data"]
    assert (opened["sealed_personal"], disclosed["sealed_copy"]) == ("[sealed]", "[sealed]")
    assert opened["has_personal_data"] is True
    before = states[before_erasure - 1]
    assert before is not None
    assert before["state"]["sealed_personal"] == "[sealed]"
    assert [d["sealedCopy"] for d in before["state"]["disclosures"].values()] == ["[sealed]"]
    assert {e["recordId"] for e in exported} >= {str(case_id), str(shelter)}


def test_an_unknown_id_and_an_idempotency_record_have_no_history(system: System) -> None:
    with acting_as(staff("req-audit-apply")):
        org = system.app.apply_for_inclusion(
            "fictional-audit-key-0001",
            fictional_profile("Example Alder Shelter"),
            ALL_CRITERIA,
            False,
        ).id
    [bookkeeping] = [
        UUID(str(n.originator_id))
        for n in system.app.recorder.select_notifications(start=1, limit=100)
        if n.topic.endswith(IdempotencyRecord.Recorded.__qualname__)
    ]
    assert system.app.recorder.select_events(bookkeeping, limit=1)  # it is in the log
    now = datetime.now(UTC)

    for unknown in (uuid4(), bookkeeping):
        assert system.audit.record_type(unknown) is None
        assert history(system, unknown) == []
        assert system.audit.state_as_of(unknown, version=1) is None
        assert system.audit.state_as_of(unknown, moment=now) is None
    assert system.audit.record_type(org) == "Organization"
    assert len(history(system, org)) == 1


# -- replay ------------------------------------------------------------------------------------


def test_replay_to_each_version_equals_the_record_loaded_at_that_version(system: System) -> None:
    shelter = seed(system, "Example Harbour Shelter")
    agency = seed(system, "Example Harbour Police Service", kind="LAW_ENFORCEMENT_AGENCY")
    case_id = open_a_case(system)
    grant(system, case_id, shelter, expires_at=datetime.now(UTC) + timedelta(days=30))
    refer_with_caller_details(system, case_id, shelter)
    with acting_as(staff("req-audit-close")):
        system.app.close_case(a_key(), case_id, "Fictional: the caller is safe.")
    with acting_as(staff("req-audit-protocol")):
        protocol = system.app.establish_reporting_protocol(
            a_key(), agency, "CA-ON", None, [SERGEANT]
        ).id
        system.app.revise_protocol_contacts(a_key(), protocol, [CONSTABLE], "Fictional note.")
        system.app.set_public_listing(a_key(), shelter, False, AGREEMENT)
        system.app.submit_profile_update(
            a_key(), shelter, fictional_profile("Example Harbour Shelter", hours="Fictional")
        )
        system.app.accept_profile_update(a_key(), shelter)

    for record, kind in (
        (case_id, "Case"),
        (shelter, "Organization"),
        (protocol, "ReportingProtocol"),
    ):
        last = len(list(system.app.events.get(record)))
        for version in range(1, last + 1):
            loaded: Any = system.app.repository.get(record, version=version)
            assert system.audit.state_as_of(record, version=version) == {
                "recordId": str(record),
                "recordType": kind,
                "version": version,
                "createdAt": iso(loaded.created_on),
                "at": iso(loaded.modified_on),
                "state": masked(loaded),
            }, f"{kind} at version {version}"
        # A version it never reached, or none at all, did not exist.
        assert system.audit.state_as_of(record, version=last + 1) is None
        assert system.audit.state_as_of(record, version=last + 500) is None
        assert system.audit.state_as_of(record, version=0) is None
    replayed = system.audit.state_as_of(protocol, version=1)
    assert replayed is not None
    assert replayed["state"]["contacts"] == [SERGEANT]
    assert replayed["state"]["agency_id"] == str(agency)


def test_replay_of_a_long_case_through_its_snapshots_equals_folding_its_events_alone(
    system: System,
) -> None:
    shelter = seed(system, "Example Harbour Shelter")
    case_id = open_a_case(system)
    grant(system, case_id, shelter, expires_at=datetime.now(UTC) + timedelta(days=30))
    refer_with_caller_details(system, case_id, shelter)  # two events: v3 and v4
    urgencies = ("LOW", "MEDIUM", "HIGH", "IMMINENT_HARM")
    for n in range(5, 116):
        actor = supervisor(f"req-long-{n}") if n % 3 == 0 else staff(f"req-long-{n}")
        if n in (48, 98):
            with acting_as(actor):
                system.app.close_case(a_key(), case_id, f"Fictional closure {n}.")
        elif n in (49, 99):
            with acting_as(supervisor(f"req-long-{n}")):
                system.app.reopen_case(a_key(), case_id, f"Fictional reopening {n}.")
        elif n in (52, 101):
            with acting_as(supervisor(f"req-long-{n}")):
                system.app.consult_supervisor(a_key(), case_id, f"Fictional decision {n}.", "Go.")
        else:
            update(
                system, case_id, actor, urgency=urgencies[n % 4], municipality=f"Fictionville-{n}"
            )
    last = len(list(system.app.events.get(case_id)))
    assert last == 115
    assert system.app.snapshots is not None
    assert [s.originator_version for s in system.app.snapshots.get(case_id)] == [50, 100]

    for version in (1, 49, 50, 51, 75, 99, 100, 101, 108, last):
        by_events = folded(system, case_id, version)
        replayed = system.audit.state_as_of(case_id, version=version)
        assert replayed is not None
        assert (replayed["version"], replayed["createdAt"], replayed["at"]) == (
            version,
            iso(by_events.created_on),
            iso(by_events.modified_on),
        )
        assert replayed["state"] == masked(by_events), f"version {version}"
    middle = system.audit.state_as_of(case_id, version=75)
    assert middle is not None
    assert middle["state"]["details"]["municipality"] == "Fictionville-75"
    assert [h["what"] for h in middle["state"]["history"]] == ["CLOSED", "REOPENED"]


def test_replay_by_moment_picks_the_last_version_at_or_before_it(system: System) -> None:
    app = system.app
    before = a_moment()
    with acting_as(staff("req-moment-apply")):
        org = app.apply_for_inclusion(
            a_key(), fictional_profile("Example Alder Shelter"), ALL_CRITERIA, True, AGREEMENT
        ).id
    after_one = a_moment()
    with acting_as(staff("req-moment-review")):
        app.start_review(a_key(), org)
        app.request_more_information(a_key(), org, "Fictional: who staffs the nights?")
    after_three = a_moment()
    with acting_as(staff("req-moment-answer")):
        app.provide_information(a_key(), org, "Fictional: two coordinators.", None)
    events: list[Any] = list(app.events.get(org))
    second = events[1].timestamp

    assert system.audit.version_at(org, before) is None
    assert system.audit.state_as_of(org, moment=before) is None
    assert system.audit.version_at(org, after_one) == 1
    assert system.audit.version_at(org, after_three) == 3
    assert system.audit.version_at(org, second) == 2  # at the moment itself
    assert system.audit.version_at(org, second - timedelta(microseconds=1)) == 1
    assert system.audit.version_at(org, datetime.now(UTC) + timedelta(days=1)) == 4
    as_of_one = system.audit.state_as_of(org, moment=after_one)
    as_of_three = system.audit.state_as_of(org, moment=after_three)
    assert as_of_one is not None
    assert as_of_three is not None
    assert (as_of_one["version"], as_of_one["state"]["status"]) == (1, "SUBMITTED")
    assert (as_of_three["version"], as_of_three["state"]["status"]) == (3, "INFORMATION_REQUESTED")
    assert as_of_three == system.audit.state_as_of(org, version=3)
    assert system.audit.state_as_of(org, moment=second) == system.audit.state_as_of(org, version=2)


# -- the public directory on a past date -------------------------------------------------------


def test_the_public_directory_as_of_a_date_is_the_one_the_public_saw_then(
    system: System,
) -> None:
    app = system.app
    hidden_address = "99 Hiddenmoss Fictional Lane"
    start = a_moment()

    def included(name: str, listed: bool = True, **changes: Any) -> UUID:
        org_id = app.apply_for_inclusion(
            a_key(), fictional_profile(name, **changes), ALL_CRITERIA, listed, AGREEMENT
        ).id
        app.start_review(a_key(), org_id)
        app.approve_inclusion(a_key(), org_id, "Fictional approval.")
        return org_id

    with acting_as(staff("req-directory-before")):
        alder = included("Example Alder Shelter", descriptionEn="Fictional: the old text")
        birch = included("Example Birch Centre")
        cedar = app.apply_for_inclusion(
            a_key(), fictional_profile("Example Cedar Clinic"), ALL_CRITERIA, True, AGREEMENT
        ).id
        dogwood = included(
            "Example Dogwood House",
            location={
                "province": "CA-ON",
                "municipality": "Fictionville",
                "address": hidden_address,
                "confidential": True,
            },
        )
        elm = included("Example Elm Refuge", listed=False)
        fir = app.apply_for_inclusion(
            a_key(), fictional_profile("Example Fir Outreach"), ALL_CRITERIA, True, AGREEMENT
        ).id
        app.start_review(a_key(), fir)
        app.decline_inclusion(a_key(), fir, "Fictional: criteria not met.")
    seen_then = public_directory_now(system)
    moment = a_moment()
    with acting_as(staff("req-directory-after")):
        app.submit_profile_update(
            a_key(),
            alder,
            fictional_profile("Example Alder Shelter", descriptionEn="Fictional: the new text"),
        )
        app.accept_profile_update(a_key(), alder)
        app.remove_organization(
            a_key(), birch, RemovalReason.ORGANIZATION_REQUEST, "Fictional: closing down."
        )
        app.start_review(a_key(), cedar)
        app.approve_inclusion(a_key(), cedar, "Fictional approval.")
        app.set_public_listing(a_key(), elm, True, AGREEMENT)
    seen_now = public_directory_now(system)

    then = system.audit.public_directory_as_of(moment)
    now = system.audit.public_directory_as_of(datetime.now(UTC))

    assert then == seen_then
    assert [(d["id"], d["nameEn"]) for d in then] == [
        (str(alder), "Example Alder Shelter"),
        (str(birch), "Example Birch Centre"),
        (str(dogwood), "Example Dogwood House"),
    ]
    assert then[0]["descriptionEn"] == "Fictional: the old text"
    assert then[2]["location"] == {"province": "CA-ON", "municipality": "Fictionville"}
    assert now == seen_now
    assert [d["id"] for d in now] == [str(alder), str(cedar), str(dogwood), str(elm)]
    assert now[0]["descriptionEn"] == "Fictional: the new text"
    assert system.audit.public_directory_as_of(start) == []
    for directory in (then, now):
        assert hidden_address not in json.dumps(directory)
        assert str(fir) not in json.dumps(directory)


# -- export ------------------------------------------------------------------------------------


def test_the_export_holds_the_whole_log_in_order_and_resumes_exactly_where_it_stopped(
    system: System,
) -> None:
    agency = seed(system, "Example Harbour Police Service", kind="LAW_ENFORCEMENT_AGENCY")
    t1 = a_moment()
    case_id = open_a_case(system)
    update(system, case_id, staff("req-export-update"), urgency="LOW")
    with acting_as(staff("req-export-close")):
        system.app.close_case(a_key(), case_id, "Fictional: resolved.")
    t2 = a_moment()
    with acting_as(staff("req-export-protocol")):
        protocol = system.app.establish_reporting_protocol(
            a_key(), agency, "CA-ON", None, [SERGEANT]
        ).id
    head = system.app.recorder.max_notification_id()
    progress: list[tuple[int, int]] = []

    everything = list(
        system.audit.export(progress=lambda done, total: progress.append((done, total)))
    )

    # Everything, in log order, each event once, at its own position.
    assert [(e["position"], e["recordId"], e["version"]) for e in everything] == (
        log_positions(system)
    )
    positions = [e["position"] for e in everything]
    assert positions == sorted(set(positions))
    assert positions[-1] == head
    assert progress[-1] == (head, head)
    for record in (agency, case_id, protocol):
        mine = [e for e in everything if e["recordId"] == str(record)]
        assert [{**e, "position": None} for e in mine] == history(system, record)
    # One record only.
    only_case = list(system.audit.export(record_id=case_id))
    assert only_case == [e for e in everything if e["recordId"] == str(case_id)]
    assert [e["version"] for e in only_case] == [1, 2, 3]
    # A time range.
    in_range = list(system.audit.export(since=t1, until=t2))
    assert in_range == [e for e in everything if iso(t1) <= e["at"] < iso(t2)]
    records = {str(agency), str(case_id), str(protocol)}
    assert [(e["recordId"], e["version"]) for e in in_range if e["recordId"] in records] == [
        (str(case_id), 1),
        (str(case_id), 2),
        (str(case_id), 3),
    ]
    assert list(system.audit.export(record_id=case_id, since=t2)) == []
    # Resuming after any position yields exactly the rest.
    for stopped in (0, 1, len(everything) // 2, len(everything) - 1, len(everything)):
        after = everything[stopped - 1]["position"] if stopped else 0
        assert list(system.audit.export(after_position=after)) == everything[stopped:]
        assert list(system.audit.export(after_position=after, record_id=case_id)) == [
            e for e in only_case if e["position"] > after
        ]


def test_a_record_longer_than_one_read_batch_is_exported_paged_and_folded_whole(
    system: System,
) -> None:
    """Over a thousand events (the read batch): saved in one write, the quickest honest way."""
    app = system.app
    with acting_as(staff("req-batch")):
        org_id = app.apply_for_inclusion(
            a_key(), fictional_profile("Example Alder Shelter"), ALL_CRITERIA, True, AGREEMENT
        ).id
        app.start_review(a_key(), org_id)
        app.approve_inclusion(a_key(), org_id, "Fictional approval.")
        org: Organization = app.repository.get(org_id)
        for n in range(1100):
            org.record_contact_attempt(ContactOutcome.REACHED, f"Fictional check {n}", 3)
        app.save(org)
    moment = a_moment()
    with acting_as(supervisor("req-batch-review")):
        app.confirm_review(a_key(), org_id, "Fictional yearly check.")
        app.submit_profile_update(
            a_key(),
            org_id,
            fictional_profile("Example Alder Shelter", descriptionEn="Fictional: the new text"),
        )
        app.accept_profile_update(a_key(), org_id)
    last = len(list(app.events.get(org_id)))
    assert last == 3 + 1100 + 3

    entries = history(system, org_id)
    exported = list(system.audit.export())
    of_the_org = list(system.audit.export(record_id=org_id))

    assert [e["version"] for e in entries] == list(range(1, last + 1))
    assert [e["version"] for e in of_the_org] == list(range(1, last + 1))
    assert [(e["position"], e["recordId"], e["version"]) for e in exported] == (
        log_positions(system)
    )
    assert history(
        system, org_id, HistoryFilter(types=frozenset({"Organization.ReviewConfirmed"})), 10
    ) == [entries[1103]]
    assert history(system, org_id, EVERYTHING, 2, 1100) == entries[1100:1102]
    assert system.audit.version_at(org_id, moment) == 1103
    [then] = system.audit.public_directory_as_of(moment)
    [now] = system.audit.public_directory_as_of(datetime.now(UTC))
    assert (then["descriptionEn"], now["descriptionEn"]) == (
        "Emergency shelter for survivors (fictional)",
        "Fictional: the new text",
    )
    at_1050 = system.audit.state_as_of(org_id, version=1050)
    assert at_1050 is not None
    assert at_1050["state"] == masked(folded(system, org_id, 1050))


# -- moments -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("2026-01-31", datetime(2026, 1, 31, tzinfo=UTC)),
        ("2026-01-31T12:00:00Z", datetime(2026, 1, 31, 12, tzinfo=UTC)),
        ("2026-01-31T12:00:00", datetime(2026, 1, 31, 12, tzinfo=UTC)),
        ("2026-01-31T08:00:00-04:00", datetime(2026, 1, 31, 12, tzinfo=UTC)),
        (" 2026-01-31T12:00:00.250000+00:00 ", datetime(2026, 1, 31, 12, 0, 0, 250000, tzinfo=UTC)),
    ],
)
def test_a_moment_is_an_iso_date_or_instant_and_without_a_zone_it_is_utc(
    text: str,
    moment: datetime,
) -> None:
    parsed = parse_moment(text)

    assert parsed == moment
    assert parsed.tzinfo is not None


@pytest.mark.parametrize(
    "text",
    [
        "last-tuesday-fictional",
        "2026-13-45",
        "2026-01-31T25:00",
        "<script>fictional()</script>",
        "Wrenna Thistlewood",
    ],
)
def test_a_moment_that_is_not_iso_is_refused_without_echoing_it(text: str) -> None:
    with pytest.raises(ValueError, match="ISO 8601") as refused:
        parse_moment(text)

    assert text not in str(refused.value)
