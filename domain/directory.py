"""The directory's use cases: one method per command, each one call of the write path.

Organizations apply for inclusion, are reviewed, kept current, and removed or reinstated; a
law-enforcement agency has one reporting protocol per jurisdiction (kept by a
``JurisdictionClaim`` saved in the protocol's own write). How a command is run (idempotency,
conflicts, caching, locks) is ``domain/write_path.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID, uuid4

from domain.jurisdiction_claim import JurisdictionClaim
from domain.organization import ContactOutcome, Organization, RemovalReason
from domain.reporting_protocol import NotALawEnforcementAgency, ProtocolExists, ReportingProtocol
from domain.rules import UNREACHABLE_AFTER
from domain.vocabulary import (
    OrganizationKind,
    parse_contacts,
    parse_criteria,
    parse_jurisdiction,
    parse_profile,
)
from domain.write_path import Outcome, WritePath


class DirectoryUseCases(WritePath):
    """The directory's commands, a mixin over the write path (``domain/hotline.py`` joins it
    with the case use cases over one store); on its own, an application of the directory."""

    name = WritePath.name

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        unreachable_after: int = UNREACHABLE_AFTER,
        claim_key: bytes | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(env, **kwargs)
        self.unreachable_after = unreachable_after
        # The key of jurisdiction claims' ids: the same in every process on one store, and
        # never stored with it (the composition root derives it from the master key).
        self._claim_key = claim_key

    # -- inclusion ---------------------------------------------------------------------

    def apply_for_inclusion(
        self,
        key: str,
        profile: dict[str, Any],
        criteria: list[str],
        public_listing: bool,
        listing_agreement: str = "",
    ) -> Outcome:
        """The application, as the organization (or staff on its behalf) sent it. Whether it
        looks like an organization already known is the read model's to flag, for staff
        alone: nothing here looks, so the applicant's answer cannot tell."""
        clean = parse_profile(profile)
        attested = parse_criteria(criteria)
        new_id = uuid4()
        inputs = {"profile": clean, "criteria": attested, "publicListing": public_listing}
        if listing_agreement:  # only when given: a request made before repeats as it was
            inputs["listingAgreement"] = listing_agreement
        return self._run(
            key,
            "applyForInclusion",
            inputs,
            lambda _new: Organization.submit_application(
                id=new_id,
                profile=clean,
                criteria=attested,
                public_listing=public_listing,
                listing_agreement=listing_agreement,
            ),
        )

    def start_review(self, key: str, org_id: UUID) -> Outcome:
        return self._change(
            key, "startReview", org_id, {}, Organization, lambda o: o.start_review()
        )

    def request_more_information(self, key: str, org_id: UUID, questions: str) -> Outcome:
        return self._change(
            key,
            "requestMoreInformation",
            org_id,
            {"questions": questions},
            Organization,
            lambda o: o.request_more_information(questions),
        )

    def provide_information(
        self, key: str, org_id: UUID, answers: str, criteria: list[str] | None
    ) -> Outcome:
        attested = None if criteria is None else parse_criteria(criteria)
        return self._change(
            key,
            "provideInformation",
            org_id,
            {"answers": answers, "criteria": attested},
            Organization,
            lambda o: o.provide_information(answers, attested),
        )

    def approve_inclusion(self, key: str, org_id: UUID, note: str) -> Outcome:
        return self._change(
            key,
            "approveInclusion",
            org_id,
            {"note": note},
            Organization,
            lambda o: o.approve_inclusion(note),
        )

    def include_agency(self, key: str, org_id: UUID, note: str, protocol_id: UUID) -> Outcome:
        def include(org: Organization) -> None:
            agency = self._read(
                protocol_id, ReportingProtocol, "reporting protocol", lambda p: p.agency_id
            )
            org.include_agency(note, protocol_id, agency)

        return self._change(
            key,
            "includeAgency",
            org_id,
            {"note": note, "protocol": protocol_id},
            Organization,
            include,
        )

    def include_public_body(self, key: str, org_id: UUID, verification: str) -> Outcome:
        return self._change(
            key,
            "includePublicBody",
            org_id,
            {"verification": verification},
            Organization,
            lambda o: o.include_public_body(verification),
        )

    def decline_inclusion(self, key: str, org_id: UUID, reason: str) -> Outcome:
        return self._change(
            key,
            "declineInclusion",
            org_id,
            {"reason": reason},
            Organization,
            lambda o: o.decline_inclusion(reason),
        )

    # -- keeping the record current ----------------------------------------------------

    def submit_profile_update(self, key: str, org_id: UUID, profile: dict[str, Any]) -> Outcome:
        clean = parse_profile(profile)
        return self._change(
            key,
            "submitProfileUpdate",
            org_id,
            {"profile": clean},
            Organization,
            lambda o: o.submit_profile_update(clean),
        )

    def accept_profile_update(self, key: str, org_id: UUID) -> Outcome:
        return self._change(
            key,
            "acceptProfileUpdate",
            org_id,
            {},
            Organization,
            lambda o: o.accept_profile_update(),
        )

    def reject_profile_update(self, key: str, org_id: UUID, reason: str) -> Outcome:
        return self._change(
            key,
            "rejectProfileUpdate",
            org_id,
            {"reason": reason},
            Organization,
            lambda o: o.reject_profile_update(reason),
        )

    def set_public_listing(
        self, key: str, org_id: UUID, listed: bool, agreement: str = ""
    ) -> Outcome:
        return self._change(
            key,
            "setPublicListing",
            org_id,
            # Only when given, so a request made before agreements were asked repeats as it was.
            {"listed": listed, **({"agreement": agreement} if agreement else {})},
            Organization,
            lambda o: o.set_public_listing(listed, agreement),
        )

    # -- possible duplicates -----------------------------------------------------------

    def dismiss_possible_duplicate(self, key: str, org_id: UUID, note: str) -> Outcome:
        return self._change(
            key,
            "dismissPossibleDuplicate",
            org_id,
            {"note": note},
            Organization,
            lambda o: o.dismiss_possible_duplicate(note),
        )

    def decline_as_duplicate(
        self, key: str, org_id: UUID, duplicate_of: UUID, note: str
    ) -> Outcome:
        def decline(org: Organization) -> None:
            if duplicate_of != org_id:  # the organization itself is refused by name
                self._read(duplicate_of, Organization, "organization", lambda o: o.id)
            org.decline_as_duplicate(duplicate_of, note)

        return self._change(
            key,
            "declineAsDuplicate",
            org_id,
            {"duplicateOf": duplicate_of, "note": note},
            Organization,
            decline,
        )

    def confirm_review(self, key: str, org_id: UUID, note: str) -> Outcome:
        return self._change(
            key,
            "confirmReview",
            org_id,
            {"note": note},
            Organization,
            lambda o: o.confirm_review(note),
        )

    def record_contact_attempt(
        self, key: str, org_id: UUID, outcome: ContactOutcome, note: str
    ) -> Outcome:
        return self._change(
            key,
            "recordContactAttempt",
            org_id,
            {"outcome": outcome.value, "note": note},
            Organization,
            lambda o: o.record_contact_attempt(outcome, note, self.unreachable_after),
        )

    # -- misconduct, removal, reinstatement --------------------------------------------

    def record_misconduct_allegation(self, key: str, org_id: UUID, summary: str) -> Outcome:
        return self._change(
            key,
            "recordMisconductAllegation",
            org_id,
            {"summary": summary},
            Organization,
            lambda o: o.record_misconduct_allegation(summary),
        )

    def request_removal(self, key: str, org_id: UUID, note: str) -> Outcome:
        return self._change(
            key,
            "requestRemoval",
            org_id,
            {"note": note},
            Organization,
            lambda o: o.request_removal(note),
        )

    def remove_organization(
        self, key: str, org_id: UUID, reason: RemovalReason, note: str
    ) -> Outcome:
        return self._change(
            key,
            "removeOrganization",
            org_id,
            {"reason": reason.value, "note": note},
            Organization,
            lambda o: o.remove(reason, note),
        )

    def reinstate_organization(self, key: str, org_id: UUID, reason: str) -> Outcome:
        return self._change(
            key,
            "reinstateOrganization",
            org_id,
            {"reason": reason},
            Organization,
            lambda o: o.reinstate(reason),
        )

    # -- reporting protocols -----------------------------------------------------------

    def establish_reporting_protocol(
        self,
        key: str,
        agency_id: UUID,
        province: str,
        municipality: str | None,
        contacts: list[dict[str, Any]],
    ) -> Outcome:
        jurisdiction = parse_jurisdiction(province, municipality)
        clean = parse_contacts(contacts)
        if self._claim_key is None:
            raise RuntimeError("this application was built without a claim_key")
        claim_id = JurisdictionClaim.id_for(self._claim_key, agency_id, jurisdiction)
        new_id = uuid4()

        def establish(_new: object) -> tuple[ReportingProtocol, JurisdictionClaim]:
            agency = self._get(agency_id, Organization, "organization")
            if agency.profile["kind"] != OrganizationKind.LAW_ENFORCEMENT_AGENCY.value:
                raise NotALawEnforcementAgency(
                    "a reporting protocol belongs to a law-enforcement agency; "
                    "this organization is of another kind"
                )
            # A protocol established before ids were random has no claim: its own id is one.
            legacy_id = ReportingProtocol.legacy_id_for(agency_id, jurisdiction)
            if not (self._absent(claim_id) and self._absent(legacy_id)):
                raise ProtocolExists(
                    "this agency already has a reporting protocol for this jurisdiction; "
                    "revise its contacts instead"
                )
            protocol = ReportingProtocol.establish(new_id, agency_id, jurisdiction, clean)
            return protocol, JurisdictionClaim.claim(claim_id, protocol.id)

        return self._run(
            key,
            "establishReportingProtocol",
            {"agency": agency_id, "jurisdiction": jurisdiction, "contacts": clean},
            establish,
        )

    def revise_protocol_contacts(
        self, key: str, protocol_id: UUID, contacts: list[dict[str, Any]], note: str
    ) -> Outcome:
        clean = parse_contacts(contacts)
        return self._change(
            key,
            "reviseProtocolContacts",
            protocol_id,
            {"contacts": clean, "note": note},
            ReportingProtocol,
            lambda p: p.revise_contacts(clean, note),
            what="reporting protocol",
        )

    # -- reads the API needs before a decision -------------------------------------------

    def protocol_agency(self, protocol_id: UUID) -> UUID:
        return self._get(protocol_id, ReportingProtocol, "reporting protocol").agency_id
