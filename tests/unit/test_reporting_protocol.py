"""A reporting protocol is a living contact list: every revision kept, with who made it."""

from __future__ import annotations

from collections.abc import Iterator
from uuid import UUID

import pytest

from domain.base import Actor, acting_as
from domain.reporting_protocol import ContactsUnchanged, ReportingProtocol

HARBOUR_POLICE = UUID("00000000-0000-4000-8000-0000000000b1")
VALLEY_POLICE = UUID("00000000-0000-4000-8000-0000000000b2")
HARBOUR = {"province": "CA-NS", "municipality": "Example Harbour"}
SERGEANT = {"name": "Sgt. Fictional Example", "phone": "+1 555 010 0142"}
CONSTABLE = {"name": "Cst. Fictional Sample", "email": "ht-unit@example.org"}
LIAISON = Actor("fictional-liaison-1", "staff", request_id="req-fictional-7")
SUPERVISOR = Actor("fictional-supervisor-1", "supervisor", request_id="req-fictional-8")


@pytest.fixture
def liaison() -> Iterator[Actor]:
    with acting_as(LIAISON) as actor:
        yield actor


def test_the_established_contact_list_is_revision_one(liaison: Actor) -> None:
    protocol = ReportingProtocol.establish(HARBOUR_POLICE, HARBOUR, [SERGEANT])

    assert [type(e) for e in protocol.collect_events()] == [ReportingProtocol.Established]
    assert protocol.id == ReportingProtocol.id_for(HARBOUR_POLICE, HARBOUR)
    assert protocol.contacts == [SERGEANT]
    assert [(r["revision"], r["note"], r["actorId"], r["actorRole"], r["contacts"])
            for r in protocol.revisions] == [
        (1, "established", "fictional-liaison-1", "staff", [SERGEANT])]


def test_a_revision_replaces_the_list_and_keeps_the_earlier_one_with_its_author(
    liaison: Actor,
) -> None:
    protocol = ReportingProtocol.establish(HARBOUR_POLICE, HARBOUR, [SERGEANT])

    with acting_as(SUPERVISOR):
        protocol.revise_contacts([CONSTABLE], "  Fictional: the sergeant moved units.  ")

    assert [type(e) for e in protocol.collect_events()] == [
        ReportingProtocol.Established, ReportingProtocol.ContactsRevised]
    assert protocol.contacts == [CONSTABLE]
    assert [(r["revision"], r["actorId"], r["actorRole"], r["note"], r["contacts"])
            for r in protocol.revisions] == [
        (1, "fictional-liaison-1", "staff", "established", [SERGEANT]),
        (2, "fictional-supervisor-1", "supervisor", "Fictional: the sergeant moved units.",
         [CONSTABLE]),
    ]


def test_a_revision_with_the_same_contacts_is_refused(liaison: Actor) -> None:
    protocol = ReportingProtocol.establish(HARBOUR_POLICE, HARBOUR, [SERGEANT, CONSTABLE])
    protocol.collect_events()

    with pytest.raises(ContactsUnchanged):
        protocol.revise_contacts([dict(SERGEANT), dict(CONSTABLE)], "No real change.")

    assert protocol.collect_events() == []
    assert len(protocol.revisions) == 1


def test_the_protocol_id_is_the_same_for_the_same_agency_and_jurisdiction() -> None:
    assert ReportingProtocol.id_for(HARBOUR_POLICE, HARBOUR) == ReportingProtocol.id_for(
        HARBOUR_POLICE, {"province": "CA-NS", "municipality": "Example Harbour"})


def test_the_protocol_id_ignores_the_case_of_the_municipality() -> None:
    assert ReportingProtocol.id_for(HARBOUR_POLICE, HARBOUR) == ReportingProtocol.id_for(
        HARBOUR_POLICE, {"province": "CA-NS", "municipality": "EXAMPLE harbour"})


@pytest.mark.parametrize(("agency", "jurisdiction"), [
    (VALLEY_POLICE, HARBOUR),
    (HARBOUR_POLICE, {"province": "CA-NB", "municipality": "Example Harbour"}),
    (HARBOUR_POLICE, {"province": "CA-NS", "municipality": "Example Valley"}),
    (HARBOUR_POLICE, {"province": "CA-NS"}),
])
def test_another_agency_or_jurisdiction_has_another_protocol_id(
    agency: UUID, jurisdiction: dict[str, str]
) -> None:
    assert ReportingProtocol.id_for(agency, jurisdiction) != ReportingProtocol.id_for(
        HARBOUR_POLICE, HARBOUR)
