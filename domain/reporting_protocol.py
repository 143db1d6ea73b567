"""A law-enforcement agency's reporting protocol for one jurisdiction: a living contact list.

Every revision replaces the whole list and is kept, so the history shows who was responsible
for the hotline's reports at any moment. A protocol's id is random: one computed from the
agency and the jurisdiction (public facts) would let anyone name another agency's protocol and
time the answer. One protocol per agency and jurisdiction is kept by a ``JurisdictionClaim``
saved with it.
"""

from __future__ import annotations

import unicodedata
from typing import Any
from uuid import UUID, uuid5

from domain.base import AuditedAggregate, DomainError, clean_text

# Protocols established before ids were random have the id ``legacy_id_for`` gives, and keep it.
_LEGACY_NAMESPACE = UUID("6f1d3c2e-8b0a-4d55-9a57-2f4a3c1b0e71")


def jurisdiction_key(agency_id: UUID, jurisdiction: dict[str, str]) -> str:
    """The agency and the jurisdiction, as one protocol's natural key (the municipality's case
    ignored)."""
    return "|".join(
        [str(agency_id), jurisdiction["province"], jurisdiction.get("municipality", "").casefold()]
    )


def place_key(name: str) -> str:
    """A municipality's name as places are compared: case, accents and punctuation aside
    ("Montréal", "MONTREAL" and "montreal" are one place; "Saint-Jean" is "Saint Jean"). Wider
    than ``jurisdiction_key``, which must stay as it is: claims' ids are computed from it."""
    decomposed = unicodedata.normalize("NFKD", name)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return " ".join("".join(c if c.isalnum() else " " for c in bare).split())


def covers(jurisdiction: dict[str, str], province: str | None, municipality: str | None) -> bool:
    """Whether a protocol's jurisdiction covers a place: the same province or territory, and,
    for a municipal protocol, the same municipality. An unknown province is covered by none."""
    if province is None or jurisdiction["province"] != province:
        return False
    place = jurisdiction.get("municipality")
    return not place or (municipality is not None and place_key(place) == place_key(municipality))


class ProtocolExists(DomainError):
    code = "PROTOCOL_EXISTS"


class NotALawEnforcementAgency(DomainError):
    code = "NOT_A_LAW_ENFORCEMENT_AGENCY"


class ContactsUnchanged(DomainError):
    code = "CONTACTS_UNCHANGED"


class ReportingProtocol(AuditedAggregate):
    class Established(AuditedAggregate.Created):
        agency_id: UUID
        jurisdiction: dict[str, str]
        contacts: list[dict[str, str]]

        def apply(self, protocol: ReportingProtocol) -> None:
            # Runs after __init__: the established list is the first revision.
            protocol._revision(self, "established")

    def __init__(
        self, agency_id: UUID, jurisdiction: dict[str, str], contacts: list[dict[str, str]]
    ) -> None:
        self.agency_id = agency_id
        self.jurisdiction = jurisdiction
        self.contacts = contacts
        self.revisions: list[dict[str, Any]] = []

    @staticmethod
    def legacy_id_for(agency_id: UUID, jurisdiction: dict[str, str]) -> UUID:
        """The id a protocol established before ids were random has: a new protocol for the
        same agency and jurisdiction must find it."""
        return uuid5(_LEGACY_NAMESPACE, jurisdiction_key(agency_id, jurisdiction))

    @classmethod
    def establish(
        cls, id: UUID, agency_id: UUID, jurisdiction: dict[str, str], contacts: list[dict[str, str]]
    ) -> ReportingProtocol:
        protocol: ReportingProtocol = cls._create(
            cls.Established,
            id=id,
            agency_id=agency_id,
            jurisdiction=jurisdiction,
            contacts=contacts,
        )
        return protocol

    class ContactsRevised(AuditedAggregate.Event):
        contacts: list[dict[str, str]]
        note: str

        def apply(self, protocol: ReportingProtocol) -> None:
            protocol.contacts = self.contacts
            protocol._revision(self, self.note)

    def revise_contacts(self, contacts: list[dict[str, str]], note: str) -> None:
        if contacts == self.contacts:
            raise ContactsUnchanged("the contact list is the same as the current revision")
        self.trigger_event(
            self.ContactsRevised, contacts=contacts, note=clean_text(note, "the note")
        )

    def _revision(self, event: AuditedAggregate.Event, note: str) -> None:
        self.revisions.append(
            {
                "revision": len(self.revisions) + 1,
                "at": event.timestamp,
                "actorId": event.actor_id,
                "actorRole": event.actor_role,
                "note": note,
                "contacts": self.contacts,
            }
        )
