"""A reporting protocol is a living contact list: every revision kept, with who made it."""

from __future__ import annotations

from collections.abc import Iterator
from uuid import UUID, uuid4

import pytest

from domain.base import Actor, acting_as
from domain.jurisdiction_claim import JurisdictionClaim
from domain.reporting_protocol import ContactsUnchanged, ReportingProtocol

HARBOUR_POLICE = UUID("00000000-0000-4000-8000-0000000000b1")
VALLEY_POLICE = UUID("00000000-0000-4000-8000-0000000000b2")
HARBOUR = {"province": "CA-NS", "municipality": "Example Harbour"}
SERGEANT = {"name": "Sgt. Fictional Example", "phone": "+1 555 010 0142"}
CONSTABLE = {"name": "Cst. Fictional Sample", "email": "ht-unit@example.org"}
SERVER_KEY = b"fictional test key, 32 bytes long"
OTHER_SERVER_KEY = b"another fictional test key, also"
LIAISON = Actor("fictional-liaison-1", "staff", request_id="req-fictional-7")
SUPERVISOR = Actor("fictional-supervisor-1", "supervisor", request_id="req-fictional-8")


@pytest.fixture
def liaison() -> Iterator[Actor]:
    with acting_as(LIAISON) as actor:
        yield actor


def test_the_established_contact_list_is_revision_one(liaison: Actor) -> None:
    protocol = ReportingProtocol.establish(uuid4(), HARBOUR_POLICE, HARBOUR, [SERGEANT])

    assert [type(e) for e in protocol.collect_events()] == [ReportingProtocol.Established]
    assert protocol.contacts == [SERGEANT]
    assert [
        (r["revision"], r["note"], r["actorId"], r["actorRole"], r["contacts"])
        for r in protocol.revisions
    ] == [(1, "established", "fictional-liaison-1", "staff", [SERGEANT])]


def test_a_revision_replaces_the_list_and_keeps_the_earlier_one_with_its_author(
    liaison: Actor,
) -> None:
    protocol = ReportingProtocol.establish(uuid4(), HARBOUR_POLICE, HARBOUR, [SERGEANT])

    with acting_as(SUPERVISOR):
        protocol.revise_contacts([CONSTABLE], "  Fictional: the sergeant moved units.  ")

    assert [type(e) for e in protocol.collect_events()] == [
        ReportingProtocol.Established,
        ReportingProtocol.ContactsRevised,
    ]
    assert protocol.contacts == [CONSTABLE]
    assert [
        (r["revision"], r["actorId"], r["actorRole"], r["note"], r["contacts"])
        for r in protocol.revisions
    ] == [
        (1, "fictional-liaison-1", "staff", "established", [SERGEANT]),
        (
            2,
            "fictional-supervisor-1",
            "supervisor",
            "Fictional: the sergeant moved units.",
            [CONSTABLE],
        ),
    ]


def test_a_revision_with_the_same_contacts_is_refused(liaison: Actor) -> None:
    protocol = ReportingProtocol.establish(uuid4(), HARBOUR_POLICE, HARBOUR, [SERGEANT, CONSTABLE])
    protocol.collect_events()

    with pytest.raises(ContactsUnchanged):
        protocol.revise_contacts([dict(SERGEANT), dict(CONSTABLE)], "No real change.")

    assert protocol.collect_events() == []
    assert len(protocol.revisions) == 1


def test_a_protocol_has_the_id_it_is_given(liaison: Actor) -> None:
    chosen = uuid4()

    protocol = ReportingProtocol.establish(chosen, HARBOUR_POLICE, HARBOUR, [SERGEANT])

    assert protocol.id == chosen
    assert protocol.id != ReportingProtocol.legacy_id_for(HARBOUR_POLICE, HARBOUR)


def test_the_legacy_id_is_the_one_protocols_were_given_before_ids_were_random() -> None:
    # Stored protocols keep these ids, and a new protocol must still find them: the value is
    # the one the earlier code gave this agency and jurisdiction.
    assert ReportingProtocol.legacy_id_for(HARBOUR_POLICE, HARBOUR) == UUID(
        "86999183-599e-5863-8763-7556772bc1fa"
    )
    assert ReportingProtocol.legacy_id_for(
        HARBOUR_POLICE, HARBOUR
    ) == ReportingProtocol.legacy_id_for(
        HARBOUR_POLICE, {"province": "CA-NS", "municipality": "EXAMPLE harbour"}
    )


def test_a_claim_names_the_protocol_it_was_made_for(liaison: Actor) -> None:
    protocol_id = uuid4()
    claim_id = JurisdictionClaim.id_for(SERVER_KEY, HARBOUR_POLICE, HARBOUR)

    claim = JurisdictionClaim.claim(claim_id, protocol_id)

    assert [type(e) for e in claim.collect_events()] == [JurisdictionClaim.Claimed]
    assert (claim.id, claim.protocol_id) == (claim_id, protocol_id)


def test_the_claim_id_is_the_same_for_the_same_agency_and_jurisdiction() -> None:
    assert JurisdictionClaim.id_for(
        SERVER_KEY, HARBOUR_POLICE, HARBOUR
    ) == JurisdictionClaim.id_for(
        SERVER_KEY, HARBOUR_POLICE, {"province": "CA-NS", "municipality": "Example Harbour"}
    )


def test_the_claim_id_ignores_the_case_of_the_municipality() -> None:
    assert JurisdictionClaim.id_for(
        SERVER_KEY, HARBOUR_POLICE, HARBOUR
    ) == JurisdictionClaim.id_for(
        SERVER_KEY, HARBOUR_POLICE, {"province": "CA-NS", "municipality": "EXAMPLE harbour"}
    )


def test_the_claim_id_cannot_be_computed_without_the_server_key() -> None:
    claim_id = JurisdictionClaim.id_for(SERVER_KEY, HARBOUR_POLICE, HARBOUR)

    assert claim_id != JurisdictionClaim.id_for(OTHER_SERVER_KEY, HARBOUR_POLICE, HARBOUR)
    assert claim_id != ReportingProtocol.legacy_id_for(HARBOUR_POLICE, HARBOUR)


@pytest.mark.parametrize(
    ("agency", "jurisdiction"),
    [
        (VALLEY_POLICE, HARBOUR),
        (HARBOUR_POLICE, {"province": "CA-NB", "municipality": "Example Harbour"}),
        (HARBOUR_POLICE, {"province": "CA-NS", "municipality": "Example Valley"}),
        (HARBOUR_POLICE, {"province": "CA-NS"}),
    ],
)
def test_another_agency_or_jurisdiction_has_another_claim_id(
    agency: UUID, jurisdiction: dict[str, str]
) -> None:
    assert JurisdictionClaim.id_for(SERVER_KEY, agency, jurisdiction) != JurisdictionClaim.id_for(
        SERVER_KEY, HARBOUR_POLICE, HARBOUR
    )
