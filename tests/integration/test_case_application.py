"""The case use cases on real stores, SQLite and PostgreSQL, through the composition root.

Information leaves the hotline only on a basis, and exactly as disclosed; refusals write
nothing; concurrent staff lose nothing; counts for the public are consented and suppressed;
and no caller's personal data sits anywhere in the databases in plain text.
"""
# Table names in these queries come from the databases' own catalogues; values are bound.
# ruff: noqa: S608

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest

from api.config import Settings
from api.infrastructure.stores import SQLiteViewStore
from api.infrastructure.vault import EnvelopeVault
from api.wiring import System, build_system
from domain.base import Actor, InvalidInput, NotFound, acting_as
from domain.case import (
    CallerRelationship,
    Case,
    Channel,
    ConsentGiver,
    ConsentMethod,
    ConsentRequired,
    ConsentScope,
    DisclosableField,
    Exception_,
    Need,
    ReferralMode,
    ReferralOutcomeKind,
    SupervisorRequired,
    UnknownReferral,
)
from domain.cases import EmergencyCall, OrganizationNotAvailable
from domain.idempotency import (
    IdempotencyKeyReused,
    IdempotencyRecord,
    Sealed,
    fingerprint,
    record_id,
)
from domain.mandatory_report import OutsideJurisdiction
from domain.organization import RemovalReason
from domain.vault import SEALED_TEXT
from domain.write_path import Outcome
from projections.aggregates import iso
from projections.cases import CaseFilter, InboxItem
from tests.e2e.conftest import seed
from tests.helpers import a_key

STAFF = Actor("fictional-staff-1", "staff", request_id="req-fictional-cases-1")
SUPERVISOR = Actor("fictional-supervisor-1", "supervisor", request_id="req-fictional-cases-2")
SERGEANT = {"name": "Sgt. Fictional Example", "phone": "+1 555 010 0142"}
CALLER = {
    "name": "Fictional Caller Example",
    "phone": "+1 555 010 0101",
    "email": "caller@example.org",
    "notes": "Fictional notes.",
}
BRIEF = "Fictional brief: needs a safe bed tonight."
ALL_FACTORS = {
    "callersWishes": "wants a report",
    "levelOfDetail": "brief",
    "applicableLaw": "fictional statute",
    "localProtocol": "fictional protocol",
}


def written(system: System) -> int:
    return system.app.recorder.max_notification_id() or 0


@contextmanager
def nothing_written(system: System) -> Iterator[None]:
    before = written(system)
    yield
    assert written(system) == before


def a_case(
    system: System,
    personal: dict[str, Any] | None = None,
    *,
    province: str | None = "CA-ON",
    needs: tuple[str, ...] = ("SHELTER", "LEGAL"),
    **details: Any,
) -> UUID:
    with acting_as(STAFF):
        return system.app.open_case(
            a_key(),
            Channel.CALL,
            "en",
            CallerRelationship.VICTIM_OR_SURVIVOR,
            CALLER if personal is None else personal,
            {"province": province, "needs": list(needs), "urgency": "HIGH", **details},
        ).id


def consent(
    system: System,
    case_id: UUID,
    scope: ConsentScope,
    recipient: UUID | None = None,
    expires_at: datetime | None = None,
) -> UUID:
    """Grants a consent; returns its id."""
    with acting_as(STAFF):
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


def a_case_consented_to_a_shelter(system: System) -> tuple[UUID, UUID]:
    """An included shelter, and a case whose caller consented to sharing with it."""
    shelter = seed(system, "Example Harbour Shelter")
    case_id = a_case(system)
    consent(system, case_id, ConsentScope.SHARE_WITH_ORGANIZATION, shelter)
    return shelter, case_id


def refer(
    system: System,
    case_id: UUID,
    org: UUID,
    fields: tuple[DisclosableField, ...] = (
        DisclosableField.CALLER_NAME,
        DisclosableField.NEEDS,
        DisclosableField.BRIEF,
    ),
    **kwargs: Any,
) -> None:
    with acting_as(kwargs.pop("actor", STAFF)):
        system.app.refer(
            a_key(),
            case_id,
            org,
            ReferralMode.WARM_TRANSFER,
            [Need.SHELTER],
            list(fields),
            kwargs.pop("brief", BRIEF),
            **kwargs,
        )


def an_agency_with_a_protocol(
    system: System,
    name: str = "Example Harbour Police Service",
    province: str = "CA-ON",
    municipality: str | None = None,
) -> tuple[UUID, UUID]:
    agency = seed(system, name, kind="LAW_ENFORCEMENT_AGENCY")
    with acting_as(STAFF):
        protocol = system.app.establish_reporting_protocol(
            a_key(), agency, province, municipality, [SERGEANT]
        ).id
    return agency, protocol


def report(
    system: System,
    case_id: UUID,
    protocol: UUID,
    *,
    actor: Actor = SUPERVISOR,
    factors: dict[str, str] = ALL_FACTORS,
    override: str = "",
) -> None:
    with acting_as(actor):
        system.app.report_to_law_enforcement(
            a_key(),
            case_id,
            protocol,
            factors,
            [DisclosableField.LOCATION, DisclosableField.BRIEF],
            BRIEF,
            jurisdiction_override=override,
        )


def inbox(system: System, table: str, owner: UUID) -> list[InboxItem]:
    system.projector.catch_up()
    return system.cases.inbox(table, str(owner), 50)


def ledger(system: System) -> list[dict[str, Any]]:
    system.projector.catch_up()
    return system.cases.ledger(50, None)


# -- referral: exactly what was disclosed ------------------------------------------------------


def test_a_referral_holds_a_sealed_copy_of_exactly_the_disclosed_fields(system: System) -> None:
    shelter = seed(system, "Example Harbour Shelter")
    clinic = seed(system, "Example Valley Clinic")
    case_id = a_case(system)
    consent(system, case_id, ConsentScope.SHARE_WITH_ORGANIZATION, shelter)

    refer(system, case_id, shelter)

    [item] = inbox(system, "referral_inbox", shelter)
    assert set(item) == {
        "id",
        "caseId",
        "mode",
        "needs",
        "at",
        "sealedCopy",
        "fields",
        "outcomes",
        # The partner's own answer, and whether the consent behind the copy was withdrawn.
        "answer",
        "consentWithdrawn",
    }
    assert (item["caseId"], item["mode"], item["needs"], item["fields"]) == (
        str(case_id),
        "WARM_TRANSFER",
        ["SHELTER"],
        ["CALLER_NAME", "NEEDS", "BRIEF"],
    )
    assert system.vault.open(case_id, item["sealedCopy"]) == {
        # The needs disclosed are the referral's (the case also lists LEGAL): the partner's
        # inbox shows exactly what was disclosed, nothing more.
        "CALLER_NAME": "Fictional Caller Example",
        "NEEDS": ["SHELTER"],
        "BRIEF": BRIEF,
    }
    assert "Fictional Caller Example" not in str(item)
    assert inbox(system, "referral_inbox", clinic) == []
    [entry] = ledger(system)
    assert (entry["recipientKind"], entry["recipientId"], entry["fields"], entry["byRole"]) == (
        "ORGANIZATION",
        str(shelter),
        ["CALLER_NAME", "NEEDS", "BRIEF"],
        "staff",
    )
    assert entry["consentId"] is not None and entry["exception"] is None
    assert "sealedCopy" not in entry and "Fictional Caller Example" not in str(entry)


def test_the_receiving_organization_reports_an_outcome_and_another_cannot(
    system: System,
) -> None:
    shelter = seed(system, "Example Harbour Shelter")
    clinic = seed(system, "Example Valley Clinic")
    case_id = a_case(system)
    consent(system, case_id, ConsentScope.SHARE_WITH_ORGANIZATION, shelter)
    refer(system, case_id, shelter)
    [item] = inbox(system, "referral_inbox", shelter)
    referral = UUID(item["id"])

    with (
        acting_as(Actor("fictional-partner-2", "partner", str(clinic))),
        nothing_written(system),
        pytest.raises(UnknownReferral, match="referral not found"),
    ):
        system.app.report_referral_outcome(
            a_key(), case_id, referral, str(clinic), ReferralOutcomeKind.ACCEPTED, ""
        )
    with acting_as(Actor("fictional-partner-1", "partner", str(shelter))):
        system.app.report_referral_outcome(
            a_key(),
            case_id,
            referral,
            str(shelter),
            ReferralOutcomeKind.ACCEPTED,
            "Fictional: intake booked.",
        )

    [item] = inbox(system, "referral_inbox", shelter)
    [outcome] = item["outcomes"]
    # Free text is sealed with the case's key in the read model, like the disclosed copy.
    assert outcome["outcome"] == "ACCEPTED" and outcome["note"].startswith(SEALED_TEXT)
    assert system.app.open_text(case_id, outcome["note"]) == "Fictional: intake booked."


@pytest.mark.parametrize("status", ["submitted", "under-review", "declined", "removed"])
def test_a_referral_to_an_organization_that_is_not_included_is_refused(
    system: System,
    status: str,
) -> None:
    org = seed(system, "Example Harbour Shelter", included=status == "removed")
    with acting_as(STAFF):
        if status == "under-review":
            system.app.start_review(a_key(), org)
        elif status == "declined":
            system.app.start_review(a_key(), org)
            system.app.decline_inclusion(a_key(), org, "Fictional: criteria not met.")
        elif status == "removed":
            system.app.remove_organization(
                a_key(), org, RemovalReason.ORGANIZATION_REQUEST, "Fictional: closing down."
            )
    case_id = a_case(system)
    consent(system, case_id, ConsentScope.SHARE_WITH_ORGANIZATION, org)

    with (
        nothing_written(system),
        pytest.raises(OrganizationNotAvailable, match="only to included organizations"),
    ):
        refer(system, case_id, org)

    assert inbox(system, "referral_inbox", org) == []
    assert ledger(system) == []


def test_a_referral_to_an_organization_that_does_not_exist_is_refused(system: System) -> None:
    case_id = a_case(system)

    with nothing_written(system), pytest.raises(NotFound, match="organization not found"):
        refer(system, case_id, uuid4(), fields=())


# -- consent and its basis ---------------------------------------------------------------------


def test_a_consent_for_an_organization_that_does_not_exist_is_refused(system: System) -> None:
    case_id = a_case(system)
    shelter = seed(system, "Example Harbour Shelter")

    with nothing_written(system):
        with pytest.raises(NotFound, match="organization not found"):
            consent(system, case_id, ConsentScope.SHARE_WITH_ORGANIZATION, uuid4())
        with pytest.raises(NotFound, match="law-enforcement agency not found"):
            consent(system, case_id, ConsentScope.REPORT_TO_LAW_ENFORCEMENT, shelter)
        with pytest.raises(InvalidInput, match="names the organization"):
            consent(system, case_id, ConsentScope.SHARE_WITH_ORGANIZATION, None)


def test_a_disclosure_without_a_basis_is_refused_and_nothing_is_written(system: System) -> None:
    shelter = seed(system, "Example Harbour Shelter")
    clinic = seed(system, "Example Valley Clinic")
    case_id = a_case(system)
    consent(system, case_id, ConsentScope.SHARE_WITH_ORGANIZATION, clinic)
    consent(system, case_id, ConsentScope.FOLLOW_UP_CONTACT)

    with nothing_written(system), pytest.raises(ConsentRequired, match="SHARE_WITH_ORGANIZATION"):
        refer(system, case_id, shelter)

    assert inbox(system, "referral_inbox", shelter) == []
    assert ledger(system) == []


def test_an_exception_by_staff_is_refused_and_by_a_supervisor_is_recorded(
    system: System,
) -> None:
    shelter = seed(system, "Example Harbour Shelter")
    case_id = a_case(system)

    with nothing_written(system), pytest.raises(SupervisorRequired):
        refer(
            system,
            case_id,
            shelter,
            exception=Exception_.IMMINENT_HARM,
            justification="Fictional: a threat tonight.",
        )
    refer(
        system,
        case_id,
        shelter,
        actor=SUPERVISOR,
        exception=Exception_.IMMINENT_HARM,
        justification="Fictional: a threat tonight.",
    )

    [entry] = ledger(system)
    assert (entry["consentId"], entry["exception"], entry["by"]) == (
        None,
        "IMMINENT_HARM",
        "fictional-supervisor-1",
    )
    assert entry["justification"].startswith(SEALED_TEXT)
    assert system.app.open_text(case_id, entry["justification"]) == ("Fictional: a threat tonight.")


def test_a_withdrawn_consent_used_again_is_refused_and_the_earlier_disclosure_stays(
    system: System,
) -> None:
    shelter = seed(system, "Example Harbour Shelter")
    case_id = a_case(system)
    consent_id = consent(system, case_id, ConsentScope.SHARE_WITH_ORGANIZATION, shelter)
    refer(system, case_id, shelter)
    with acting_as(STAFF):
        system.app.withdraw_consent(a_key(), case_id, consent_id)

    with nothing_written(system), pytest.raises(ConsentRequired):
        refer(system, case_id, shelter, brief="Fictional: a second referral.")

    [entry] = ledger(system)
    assert entry["consentId"] == str(consent_id)
    assert len(inbox(system, "referral_inbox", shelter)) == 1


def test_an_expired_consent_is_refused_and_an_unexpired_one_still_covers(
    system: System,
) -> None:
    shelter = seed(system, "Example Harbour Shelter")
    clinic = seed(system, "Example Valley Clinic")
    case_id = a_case(system)
    now = datetime.now(UTC)
    consent(
        system,
        case_id,
        ConsentScope.SHARE_WITH_ORGANIZATION,
        shelter,
        expires_at=now + timedelta(milliseconds=300),
    )
    consent(
        system,
        case_id,
        ConsentScope.SHARE_WITH_ORGANIZATION,
        clinic,
        expires_at=now + timedelta(days=1),
    )
    time.sleep(0.4)  # the first consent has now expired

    with nothing_written(system), pytest.raises(ConsentRequired, match="unexpired"):
        refer(system, case_id, shelter)
    refer(system, case_id, clinic)  # the expiry survived the store with its time zone

    assert [e["recipientId"] for e in ledger(system)] == [str(clinic)]


def test_a_referral_that_discloses_no_fields_sends_nothing_without_a_basis(
    system: System,
) -> None:
    shelter = seed(system, "Example Harbour Shelter")
    case_id = a_case(system)

    try:
        with acting_as(STAFF):
            system.app.refer(
                a_key(), case_id, shelter, ReferralMode.PHONE, [Need.IMMIGRATION], [], BRIEF
            )
    except ConsentRequired:
        pass

    received = inbox(system, "referral_inbox", shelter)
    recorded = [e for e in ledger(system) if e["recipientId"] == str(shelter)]
    assert received == [] or recorded, f"the partner received {received} on no basis"


# -- report to law enforcement -----------------------------------------------------------------


def test_a_supervisor_reports_under_a_protocol_and_only_that_agency_receives_it(
    system: System,
) -> None:
    agency, protocol = an_agency_with_a_protocol(system)
    other_agency, _ = an_agency_with_a_protocol(system, "Example Valley Police Service")
    case_id = a_case(system, municipality="Fictionville")
    consent(system, case_id, ConsentScope.REPORT_TO_LAW_ENFORCEMENT, agency)

    report(system, case_id, protocol)

    [item] = inbox(system, "report_inbox", agency)
    assert (item["caseId"], item["fields"]) == (str(case_id), ["LOCATION", "BRIEF"])
    assert system.vault.open(case_id, item["sealedCopy"]) == {
        "LOCATION": {"province": "CA-ON", "municipality": "Fictionville"},
        "BRIEF": BRIEF,
    }
    assert inbox(system, "report_inbox", other_agency) == []
    case: Case = system.app.repository.get(case_id)
    [made] = case.reports.values()
    assert (made["agencyId"], made["protocolId"], made["by"]) == (
        str(agency),
        str(protocol),
        "fictional-supervisor-1",
    )
    assert {k: system.app.open_text(case_id, v) for k, v in made["factors"].items()} == (
        ALL_FACTORS
    )
    # The facts are the case's own, as it held them.
    assert made.get("facts") == {
        "urgency": "HIGH",
        "imminentHarm": None,
        "minorInvolved": "UNKNOWN",
        "indicators": [],
        "consent": "ACTIVE",
        "consentId": next(iter(case.consents)),
    }
    assert made.get("jurisdictionOverride") == ""


def test_a_report_outside_the_case_jurisdiction_is_refused_and_nothing_leaves(
    system: System,
) -> None:
    agency, toronto = an_agency_with_a_protocol(
        system, "Example Toronto Police Service", municipality="Toronto"
    )
    quebec = a_case(system, province="CA-QC", municipality="Montréal")
    nowhere = a_case(system, province=None)
    for case_id in (quebec, nowhere):
        consent(system, case_id, ConsentScope.REPORT_TO_LAW_ENFORCEMENT, agency)

        with nothing_written(system), pytest.raises(OutsideJurisdiction):
            report(system, case_id, toronto)

    assert inbox(system, "report_inbox", agency) == []
    assert ledger(system) == []


def test_a_supervisor_reports_outside_the_jurisdiction_with_an_override(system: System) -> None:
    agency, toronto = an_agency_with_a_protocol(
        system, "Example Toronto Police Service", municipality="Toronto"
    )
    case_id = a_case(system, province="CA-QC")
    consent(system, case_id, ConsentScope.REPORT_TO_LAW_ENFORCEMENT, agency)
    why = "Fictional: the caller is staying in Toronto; its unit leads this file."

    report(system, case_id, toronto, override=why)

    [item] = inbox(system, "report_inbox", agency)
    assert item["caseId"] == str(case_id)
    case: Case = system.app.repository.get(case_id)
    [made] = case.reports.values()
    sealed = made.get("jurisdictionOverride", "")
    assert sealed.startswith(SEALED_TEXT) and why not in sealed
    assert system.app.open_text(case_id, sealed) == why


def test_a_case_in_toronto_is_reported_under_the_toronto_protocol(system: System) -> None:
    agency, toronto = an_agency_with_a_protocol(
        system, "Example Toronto Police Service", municipality="Toronto"
    )
    case_id = a_case(system, municipality="TORONTO")
    consent(system, case_id, ConsentScope.REPORT_TO_LAW_ENFORCEMENT, agency)

    report(system, case_id, toronto)

    assert len(inbox(system, "report_inbox", agency)) == 1


def test_a_report_must_record_every_factor_weighed(system: System) -> None:
    agency, protocol = an_agency_with_a_protocol(system)
    case_id = a_case(system)
    consent(system, case_id, ConsentScope.REPORT_TO_LAW_ENFORCEMENT, agency)
    partial = {k: v for k, v in ALL_FACTORS.items() if k not in ("callersWishes", "applicableLaw")}

    with nothing_written(system), pytest.raises(InvalidInput) as raised:
        report(system, case_id, protocol, factors=partial)

    assert "callersWishes" in str(raised.value) and "applicableLaw" in str(raised.value)
    assert "urgency" not in str(raised.value)


def test_staff_cannot_report_to_law_enforcement(system: System) -> None:
    agency, protocol = an_agency_with_a_protocol(system)
    case_id = a_case(system)
    consent(system, case_id, ConsentScope.REPORT_TO_LAW_ENFORCEMENT, agency)

    with nothing_written(system), pytest.raises(SupervisorRequired):
        report(system, case_id, protocol, actor=STAFF)

    assert inbox(system, "report_inbox", agency) == []
    assert ledger(system) == []


# -- emergency services ------------------------------------------------------------------------


def contact_emergency_services(system: System, case_id: UUID) -> str | None:
    """Calls emergency services for the case; returns the number recorded (None: unknown)."""
    with acting_as(SUPERVISOR):
        system.app.contact_emergency_services(
            a_key(),
            case_id,
            [DisclosableField.LOCATION],
            "",
            Exception_.IMMINENT_HARM,
            "Fictional: the caller reports a threat tonight.",
        )
    case: Case = system.app.repository.get(case_id)
    return case.emergencies[-1]["number"]


def test_emergency_services_are_911_in_the_provinces_and_yukon(system: System) -> None:
    for province in ("CA-ON", "CA-YT"):
        assert contact_emergency_services(system, a_case(system, province=province)) == "911"

    assert [e["recipientKind"] for e in ledger(system)] == ["EMERGENCY_SERVICES"] * 2


def test_nunavut_without_a_configured_number_is_recorded_with_the_number_unknown(
    system: System,
) -> None:
    case_id = a_case(system, province="CA-NU")

    assert contact_emergency_services(system, case_id) is None

    case: Case = system.app.repository.get(case_id)
    assert case.emergencies[-1].get("numberSource") == "NOT_CONFIGURED"
    assert [e["recipientKind"] for e in ledger(system)] == ["EMERGENCY_SERVICES"]


def test_a_case_with_no_province_yet_is_recorded_with_the_number_unknown(system: System) -> None:
    case_id = a_case(system, province=None)

    assert contact_emergency_services(system, case_id) is None

    case: Case = system.app.repository.get(case_id)
    assert (case.emergencies[-1]["province"], case.emergencies[-1].get("numberSource")) == (
        None,
        "PROVINCE_UNKNOWN",
    )


def test_a_territory_uses_its_configured_emergency_number(settings: Settings) -> None:
    system = build_system(
        settings.with_changes(emergency_numbers={"CA-NU": "555-0100", "CA-NU:Iqaluit": "555-0111"})
    )
    try:
        assert contact_emergency_services(system, a_case(system, province="CA-NU")) == ("555-0100")
        in_iqaluit = a_case(system, province="CA-NU", municipality="iqaluit")
        assert system.app.emergency_number(in_iqaluit).number == "555-0111"
        assert contact_emergency_services(system, in_iqaluit) == "555-0111"
        assert contact_emergency_services(system, a_case(system, province="CA-NT")) is None
    finally:
        system.close()


def call_emergency_services(
    system: System,
    case_id: UUID,
    fields: tuple[DisclosableField, ...] = (DisclosableField.LOCATION,),
    *,
    actor: Actor = SUPERVISOR,
    key: str | None = None,
    brief: str = "",
    exception: Exception_ | None = Exception_.IMMINENT_HARM,
    withheld: str | None = None,
) -> tuple[Outcome, EmergencyCall]:
    """Calls emergency services for the case; returns the outcome and the call recorded."""
    with acting_as(actor):
        outcome = system.app.contact_emergency_services(
            key or a_key(),
            case_id,
            list(fields),
            brief,
            exception,
            "Fictional: the caller reports a threat tonight." if exception else "",
            withheld,
        )
    return outcome, system.app.emergency_call(case_id, outcome.version)


def test_an_emergency_call_whose_disclosure_has_no_basis_is_recorded_without_it(
    system: System,
) -> None:
    case_id = a_case(system)

    outcome, call = call_emergency_services(system, case_id, exception=None, actor=STAFF)

    case: Case = system.app.repository.get(case_id)
    assert [e["number"] for e in case.emergencies] == ["911"]
    assert case.emergencies[-1]["disclosureId"] is None
    assert case.disclosures == {}
    assert ledger(system) == []
    assert call.warning is not None
    assert call.warning.startswith("DISCLOSURE_NOT_MADE: ")
    assert "CONSENT_REQUIRED" in call.warning
    assert not outcome.replayed


def test_an_exception_asked_by_staff_is_not_sent_but_the_call_is_recorded(
    system: System,
) -> None:
    case_id = a_case(system)

    _, call = call_emergency_services(system, case_id, actor=STAFF)

    case: Case = system.app.repository.get(case_id)
    assert len(case.emergencies) == 1 and case.disclosures == {}
    assert call.disclosure_not_made is not None
    assert call.disclosure_not_made.startswith("SUPERVISOR_REQUIRED: ")


def test_an_emergency_call_on_an_erased_case_is_recorded_and_sends_nothing(
    system: System,
) -> None:
    case_id = a_case(system)
    with acting_as(SUPERVISOR):
        system.app.erase_personal_data(a_key(), case_id, "Fictional: the caller asked.")

    _, call = call_emergency_services(system, case_id, (DisclosableField.CALLER_PHONE,))

    case: Case = system.app.repository.get(case_id)
    assert len(case.emergencies) == 1 and case.disclosures == {}
    assert call.disclosure_not_made is not None
    assert call.disclosure_not_made.startswith("PERSONAL_DATA_ERASED: ")
    assert ledger(system) == []


def test_an_emergency_call_on_a_closed_case_is_recorded_and_the_case_stays_closed(
    system: System,
) -> None:
    case_id = a_case(system)
    with acting_as(STAFF):
        system.app.close_case(a_key(), case_id, "Fictional: the caller is safe.")

    _, bare = call_emergency_services(system, case_id, ())
    _, call = call_emergency_services(system, case_id)

    case: Case = system.app.repository.get(case_id)
    assert [e["number"] for e in case.emergencies] == ["911", "911"]
    assert case.open is False
    assert (bare.warning, bare.disclosure_not_made) == (None, None)
    assert call.disclosure_not_made is not None
    assert call.disclosure_not_made.startswith("CASE_CLOSED: ")
    assert case.disclosures == {}


def test_a_repeated_emergency_call_returns_the_first_result_and_its_warning(
    system: System,
) -> None:
    case_id = a_case(system, province="CA-NU")
    key = a_key()

    first, call = call_emergency_services(system, case_id, exception=None, key=key)
    with nothing_written(system):
        again, repeat = call_emergency_services(
            system, case_id, exception=None, key=key, withheld="RATE_LIMITED: fictional"
        )

    assert again.replayed and (again.id, again.version) == (first.id, first.version)
    assert repeat == call
    assert call.warning is not None
    assert "NRD_EMERGENCY_NUMBERS" in call.warning and "DISCLOSURE_NOT_MADE" in call.warning


def test_a_disclosure_withheld_at_the_edge_records_the_call_without_it(system: System) -> None:
    case_id = a_case(system)

    _, call = call_emergency_services(system, case_id, withheld="RATE_LIMITED: fictional")

    case: Case = system.app.repository.get(case_id)
    assert len(case.emergencies) == 1 and case.disclosures == {}
    assert call.disclosure_not_made == "RATE_LIMITED: fictional"


def test_a_brief_given_with_an_emergency_call_is_disclosed(system: System) -> None:
    case_id = a_case(system)

    call_emergency_services(system, case_id, (DisclosableField.LOCATION,), brief=BRIEF)

    [disclosed] = ledger(system)
    assert disclosed["fields"] == ["LOCATION", "BRIEF"]
    case: Case = system.app.repository.get(case_id)
    [made] = case.disclosures.values()
    assert system.vault.open(case_id, made["sealedCopy"]) == {
        "LOCATION": {"province": "CA-ON", "municipality": None},
        "BRIEF": BRIEF,
    }


def test_a_brief_given_with_a_report_is_disclosed_without_brief_in_the_fields(
    system: System,
) -> None:
    agency, protocol = an_agency_with_a_protocol(system)
    case_id = a_case(system)
    consent(system, case_id, ConsentScope.REPORT_TO_LAW_ENFORCEMENT, agency)

    with acting_as(SUPERVISOR):
        system.app.report_to_law_enforcement(
            a_key(), case_id, protocol, ALL_FACTORS, [DisclosableField.LOCATION], BRIEF
        )

    [item] = inbox(system, "report_inbox", agency)
    assert item["fields"] == ["LOCATION", "BRIEF"]
    assert system.vault.open(case_id, item["sealedCopy"])["BRIEF"] == BRIEF  # type: ignore[index]


# -- concurrency and idempotency ---------------------------------------------------------------

UPDATES_EACH = 3


def test_two_staff_updating_one_case_at_once_lose_nothing(system: System) -> None:
    case_id = a_case(system)
    start_together = threading.Barrier(2)
    failures: list[BaseException] = []
    changes = [
        [{"urgency": u} for u in ("LOW", "MEDIUM", "IMMINENT_HARM")],
        [{"municipality": f"Fictionville-{n}"} for n in range(UPDATES_EACH)],
    ]

    def one_member(n: int) -> None:
        with acting_as(Actor(f"fictional-staff-{n}", "staff", request_id=f"req-thread-{n}")):
            start_together.wait()
            try:
                for details in changes[n]:
                    system.app.update_case(a_key(), case_id, details)
            except BaseException as error:
                failures.append(error)

    threads = [threading.Thread(target=one_member, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert failures == []
    events: list[Any] = list(system.app.events.get(case_id))
    assert [e.originator_version for e in events] == list(range(1, 2 + 2 * UPDATES_EACH))
    assert sorted(e.actor_id for e in events[1:]) == (
        ["fictional-staff-0"] * UPDATES_EACH + ["fictional-staff-1"] * UPDATES_EACH
    )
    case: Case = system.app.repository.get(case_id)
    assert (case.details["urgency"], case.details["municipality"]) == (
        "IMMINENT_HARM",
        f"Fictionville-{UPDATES_EACH - 1}",
    )


def test_replaying_open_case_with_its_key_writes_nothing(system: System) -> None:
    def open_it(personal: dict[str, Any]) -> Any:
        with acting_as(STAFF):
            return system.app.open_case(
                "fictional-open-key-1",
                Channel.TEXT,
                "en",
                CallerRelationship.ANONYMOUS,
                personal,
                {"province": "CA-ON"},
            )

    first = open_it(CALLER)

    with nothing_written(system):
        again = open_it(dict(CALLER))
    assert (again.id, again.version, again.replayed) == (first.id, first.version, True)
    # The fingerprint holds the personal data as a keyed digest: any other value is refused,
    # one of the same length too.
    with nothing_written(system), pytest.raises(IdempotencyKeyReused):
        open_it({**CALLER, "name": CALLER["name"] + " Junior"})
    with nothing_written(system), pytest.raises(IdempotencyKeyReused):
        open_it({**CALLER, "name": CALLER["name"].replace("Example", "Exemple")})
    with nothing_written(system), pytest.raises(IdempotencyKeyReused):
        open_it({k: v for k, v in CALLER.items() if k != "email"})
    with system.keys.read() as cursor:
        assert cursor.execute("SELECT COUNT(*) FROM case_keys").fetchone()[0] == 1


# -- read models: statistics and repeat callers ------------------------------------------------


def test_statistics_count_only_consenting_cases_and_suppress_small_counts(
    system: System,
) -> None:
    for province, count in (("CA-ON", 3), ("CA-BC", 2), ("CA-QC", 1)):
        for _ in range(count):
            consent(
                system, a_case(system, province=province), ConsentScope.NON_IDENTIFYING_STATISTICS
            )
    a_case(system, province="CA-ON")  # no consent at all
    consent(system, a_case(system, province="CA-ON"), ConsentScope.FOLLOW_UP_CONTACT)
    consent(
        system,
        a_case(system, province="CA-ON"),
        ConsentScope.NON_IDENTIFYING_STATISTICS,
        expires_at=datetime.now(UTC) + timedelta(milliseconds=300),
    )
    withdrawn_case = a_case(system, province="CA-ON")
    consent_id = consent(system, withdrawn_case, ConsentScope.NON_IDENTIFYING_STATISTICS)
    with acting_as(STAFF):
        system.app.withdraw_consent(a_key(), withdrawn_case, consent_id)
    system.projector.catch_up()

    time.sleep(0.4)  # the short-lived statistics consent has now expired

    def statistics(threshold: int) -> list[tuple[str, int | None]]:
        # Only completed months are published: look from next month.
        return system.cases.statistics("province", NEXT_MONTH(), threshold)

    # Nothing suppressed: only the six consenting cases are counted.
    assert statistics(1) == [("CA-BC", 2), ("CA-ON", 3), ("CA-QC", 1)]
    # Every count under the threshold is suppressed.
    assert statistics(3) == [("CA-BC", None), ("CA-ON", 3), ("CA-QC", None)]
    # One small count alone could be recovered by subtraction: the next smallest goes too;
    # what is published is rounded to a multiple of the threshold (3 -> 4).
    assert statistics(2) == [("CA-BC", None), ("CA-ON", 4), ("CA-QC", None)]
    assert statistics(4) == [("CA-BC", None), ("CA-ON", None), ("CA-QC", None)]
    # The current month is not published at all: a new call changes nothing visible.
    assert system.cases.statistics("province", datetime.now(UTC), 1) == []


def NEXT_MONTH() -> datetime:
    return datetime.now(UTC) + timedelta(days=32)


def test_a_small_count_cannot_be_recovered_by_subtracting_across_dimensions(
    system: System,
) -> None:
    """Ten consenting cases in Ontario, one in Nunavut, one in Yukon: the month's total must
    not give away the two territories' single cases (12 - 10 = 2)."""
    for province in ["CA-ON"] * 10 + ["CA-NU", "CA-YT"]:
        consent(system, a_case(system, province=province), ConsentScope.NON_IDENTIFYING_STATISTICS)
    system.projector.catch_up()
    by_province = dict(system.cases.statistics("province", NEXT_MONTH(), 5))
    [(_, month_total)] = system.cases.statistics("month", NEXT_MONTH(), 5)
    assert by_province == {"CA-NU": None, "CA-ON": 10, "CA-YT": None}
    assert month_total is not None and month_total % 5 == 0
    ontario = by_province["CA-ON"]
    assert ontario is not None and month_total - ontario in (0, 5)  # never the true 2


def test_a_repeat_caller_is_found_by_their_phone_written_differently(system: System) -> None:
    first = a_case(system, {"name": "Fictional Caller One", "phone": "+1 (555) 010-0001"})
    again = a_case(system, {"name": "Fictional Caller One", "phone": "555 010 0001"})
    a_case(system, {"name": "Fictional Caller Two", "phone": "555 010 0002"})
    a_case(system, {"name": "Fictional Caller Three"})
    system.projector.catch_up()

    found = system.cases.search(
        CaseFilter(phone_lookup=system.vault.lookup_key("555.010.0001")), 50, None
    )

    assert sorted(doc["id"] for doc in found) == sorted([str(first), str(again)])
    with system.store.read() as cursor:
        lookups = [r[0] for r in cursor.execute("SELECT phone_lookup FROM cases").fetchall()]
    assert not any(value and "0100001" in value for value in lookups)


def test_a_case_projected_again_keeps_its_repeat_caller_digest(system: System) -> None:
    case_id = a_case(system, {"name": "Fictional Caller One", "phone": "+1 (555) 010-0001"})
    system.projector.catch_up()
    for _ in range(3):  # each command rewrites the case's rows
        consent(system, case_id, ConsentScope.FOLLOW_UP_CONTACT)
        system.projector.catch_up()

    found = system.cases.search(
        CaseFilter(phone_lookup=system.vault.lookup_key("555 010 0001")), 50, None
    )

    assert [doc["id"] for doc in found] == [str(case_id)]


CASE_TABLES = {
    "cases": "id",
    "case_needs": "case_id, need",
    "referral_inbox": "id",
    "report_inbox": "id",
    "disclosure_ledger": "id",
}


def case_rows(system: System) -> dict[str, list[tuple[Any, ...]]]:
    system.projector.catch_up()
    with system.store.read() as cursor:
        return {
            table: [
                tuple(row)
                for row in cursor.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()
            ]
            for table, order in CASE_TABLES.items()
        }


def test_rows_written_event_by_event_are_the_rows_a_rebuild_writes_at_once(
    system: System,
) -> None:
    # Each command's batch writes only the inbox and ledger rows its events touched; a rebuild
    # writes every case whole. After its details change (a whole rewrite), every later event of
    # the kept case goes through the first path only.
    shelter = seed(system, "Example Harbour Shelter")
    agency, protocol = an_agency_with_a_protocol(system)
    kept, erased = a_case(system), a_case(system)
    system.projector.catch_up()  # the cases' first batch, apart from what follows
    partner = Actor("fictional-partner-1", "partner", str(shelter))

    def outcome() -> None:
        case: Case = system.app.repository.get(kept)
        first = next(r["id"] for r in case.referrals.values() if r["disclosureId"] is not None)
        with acting_as(partner):
            system.app.report_referral_outcome(
                a_key(),
                kept,
                UUID(first),
                str(shelter),
                ReferralOutcomeKind.ACCEPTED,
                "Fictional: booked.",
            )

    def supervisor(command: Callable[[str], object]) -> Callable[[], None]:
        def run() -> None:
            with acting_as(SUPERVISOR):
                command(a_key())

        return run

    def withdraw_statistics(key: str) -> None:
        case: Case = system.app.repository.get(kept)
        consent_id = next(
            UUID(c)
            for c, v in case.consents.items()
            if v["scope"] == ConsentScope.NON_IDENTIFYING_STATISTICS
        )
        system.app.withdraw_consent(key, kept, consent_id)

    app = system.app
    for step in (
        supervisor(lambda key: app.update_case(key, kept, {"needs": ["LEGAL", "HEALTH"]})),
        lambda: consent(system, kept, ConsentScope.SHARE_WITH_ORGANIZATION, shelter),
        lambda: refer(system, kept, shelter),
        lambda: refer(system, kept, shelter, fields=(), brief=""),  # relayed: no inbox row
        lambda: consent(system, kept, ConsentScope.REPORT_TO_LAW_ENFORCEMENT, agency),
        lambda: report(system, kept, protocol),
        lambda: consent(system, kept, ConsentScope.NON_IDENTIFYING_STATISTICS),
        outcome,
        supervisor(withdraw_statistics),
        supervisor(lambda key: app.consult_supervisor(key, kept, "Fictional: go ahead.", "Go.")),
        supervisor(lambda key: app.place_legal_hold(key, kept, "Fictional: court order.")),
        supervisor(lambda key: app.release_legal_hold(key, kept, "Fictional: order lifted.")),
        supervisor(lambda key: app.close_case(key, kept, "Fictional: resolved.")),
        supervisor(lambda key: app.reopen_case(key, kept, "Fictional: called back.")),
        lambda: consent(system, erased, ConsentScope.SHARE_WITH_ORGANIZATION, shelter),
        lambda: refer(system, erased, shelter),
        supervisor(lambda key: app.erase_personal_data(key, erased, "Fictional: asked.")),
    ):
        step()
        system.projector.catch_up()
    followed = case_rows(system)

    system.projector.rebuild()

    assert case_rows(system) == followed
    assert len(followed["referral_inbox"]) == 2 and len(followed["report_inbox"]) == 1
    assert len(followed["disclosure_ledger"]) == 3
    assert sorted(row[1] for row in followed["case_needs"] if row[0] == str(kept)) == [
        "HEALTH",
        "LEGAL",
    ]
    inboxes = {row[2]: json.loads(row[4]) for row in followed["referral_inbox"]}
    assert [o["outcome"] for o in inboxes[str(kept)]["outcomes"]] == ["ACCEPTED"]
    assert inboxes[str(erased)]["sealedCopy"] == ""


def test_a_rebuild_in_small_batches_keeps_no_instants_between_batches_and_equals_the_live_rows(
    system: System,
) -> None:
    # A rebuild's memory stays flat however long the log: what it memoizes per instant (and
    # per case key) goes with each batch. Its batches are the live projector's size.
    shelter = seed(system, "Example Harbour Shelter")
    _, protocol = an_agency_with_a_protocol(system)
    for _ in range(4):
        case_id = a_case(system)
        consent(system, case_id, ConsentScope.SHARE_WITH_ORGANIZATION, shelter)
        refer(system, case_id, shelter)
        consent(system, case_id, ConsentScope.REPORT_TO_LAW_ENFORCEMENT)
        report(system, case_id, protocol)
    followed = case_rows(system)
    assert iso.cache_info().currsize > 0  # following the log memoizes them
    held: list[int] = []

    def each_batch(name: str, _position: int, _head: int) -> None:
        if name == "cases":
            held.append(iso.cache_info().currsize)

    system.projector.batch_size = 7
    system.projector.rebuild(each_batch)

    assert case_rows(system) == followed
    assert len(held) > 1 and set(held) == {0}  # several batches, each forgotten


# -- no plain text at rest ---------------------------------------------------------------------

SECRET_CALLER = {
    "name": "Zephyrine Quillfeather",
    "phone": "+1 (555) 010-0199",
    "email": "zquillfeather@example.org",
    "otherContact": "Signal handle fictional-marigold-owl",
    "notes": "Meets at the Lanternwick Diner after dark (fictional)",
    "assessment": "Fictional assessment: Brambleworth risk",
}
SECRETS = [
    *SECRET_CALLER.values(),
    "Zephyrine",
    "Quillfeather",
    "zquillfeather",
    "5550100199",
    "010-0199",
    "marigold-owl",
    "Lanternwick",
    "Brambleworth",
]
# Structured details are not personal data and are stored as given: finding one proves the
# scan reads where the data is.
VISIBLE = "Fictionville-Scanmark"


def write_a_secret_case(system: System) -> None:
    shelter = seed(system, "Example Harbour Shelter")
    case_id = a_case(system, SECRET_CALLER, municipality=VISIBLE)
    consent(system, case_id, ConsentScope.SHARE_WITH_ORGANIZATION, shelter)
    refer(
        system,
        case_id,
        shelter,
        fields=(
            DisclosableField.CALLER_NAME,
            DisclosableField.CALLER_PHONE,
            DisclosableField.CALLER_EMAIL,
        ),
    )
    with acting_as(STAFF):
        system.app.update_case(a_key(), case_id, {"urgency": "IMMINENT_HARM"})
    system.projector.catch_up()


def sqlite_bytes(data_dir: Path) -> dict[str, bytes]:
    files = {p.name: p.read_bytes() for p in data_dir.rglob("*") if ".sqlite" in p.name}
    assert {"events.sqlite", "views.sqlite", "keys.sqlite"} <= set(files)
    return files


def postgres_bytes(settings: Settings) -> dict[str, bytes]:
    schema = settings.database_schema
    assert settings.database_url is not None
    found: dict[str, bytes] = {}
    with psycopg.connect(settings.database_url) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (schema,),
            ).fetchall()
        ]
        assert {"cases", "referral_inbox", "disclosure_ledger", "case_keys"} <= set(tables)
        for table in tables:
            parts: list[bytes] = []
            for (as_text,) in conn.execute(f'SELECT t::text FROM "{schema}"."{table}" t'):
                parts.append(as_text.encode())
            for row in conn.execute(f'SELECT * FROM "{schema}"."{table}"'):
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        raw = bytes(value)
                        parts += [raw, raw.decode("utf-8", "replace").encode()]
                    else:
                        parts.append(str(value).encode())
            found[table] = b"\n".join(parts)
    assert len(found) >= 8
    return found


def test_no_caller_personal_data_sits_in_plain_text_in_any_database(
    system: System,
    settings: Settings,
) -> None:
    write_a_secret_case(system)

    stored = postgres_bytes(settings) if settings.uses_postgres else sqlite_bytes(settings.data_dir)

    everything = b"\n".join(stored.values())
    assert VISIBLE.encode() in everything  # the scan does see what is stored in clear
    for where, data in stored.items():
        lowered = data.lower()
        for secret in SECRETS:
            assert secret.encode() not in data, f"{secret!r} in plain text in {where}"
            assert secret.lower().encode() not in lowered, f"{secret!r} (any case) in {where}"


def test_a_consent_that_has_already_expired_is_refused_and_nothing_is_written(
    system: System,
) -> None:
    shelter = seed(system, "Example Harbour Shelter")
    case_id = a_case(system)
    with nothing_written(system), pytest.raises(InvalidInput, match="expiresAt is already past"):
        consent(
            system,
            case_id,
            ConsentScope.SHARE_WITH_ORGANIZATION,
            shelter,
            expires_at=datetime.now(UTC) - timedelta(minutes=1),
        )


def test_an_open_case_fingerprint_can_be_computed_only_with_the_vaults_key(system: System) -> None:
    """A stored fingerprint confirms a guessed caller only to someone holding the master key:
    its sealed text is digested under a key derived from it."""
    personal = {"name": "Fictional Ada", "phone": "5550101"}
    with acting_as(STAFF):
        system.app.open_case(
            "fictional-open-key-2",
            Channel.TEXT,
            "en",
            CallerRelationship.ANONYMOUS,
            personal,
            {"province": "CA-ON"},
        )
    identity = "\x1f".join([STAFF.role, STAFF.organization_id or "", STAFF.user_id])
    record: IdempotencyRecord = system.app.repository.get(
        record_id(identity, "fictional-open-key-2")
    )
    inputs = {
        "channel": "TEXT",
        "language": "en",
        "relationship": "ANONYMOUS",
        "details": {"province": "CA-ON"},
        "personal": {k: Sealed(v) for k, v in personal.items()},
    }
    elsewhere = SQLiteViewStore(system.settings.data_dir / "another-keys.sqlite")
    try:
        another_key = EnvelopeVault(b"\x02" * 32, elsewhere).keyed_digest
    finally:
        elsewhere.close()

    assert record.fingerprint == fingerprint("openCase", inputs, system.vault.keyed_digest).digest
    assert record.fingerprint != fingerprint("openCase", inputs, another_key).digest
    for unkeyed in (str, lambda text: hashlib.sha256(text.encode()).hexdigest()):
        assert record.fingerprint != fingerprint("openCase", inputs, unkeyed).digest
    # Nor sealed text by its length: the digest earlier code made, which every fingerprint keeps.
    assert record.fingerprint != fingerprint("openCase", inputs, system.vault.keyed_digest).earlier
    assert "Fictional Ada" not in json.dumps(record.fingerprint)


def test_a_repeated_key_with_other_free_text_of_the_same_length_is_refused(system: System) -> None:
    """The finding: fingerprints kept sealed text by its length, so a repeat with other text
    of the same length replayed the first result instead of being refused."""
    shelter, case_id = a_case_consented_to_a_shelter(system)
    close_key, refer_key = a_key(), a_key()
    with acting_as(STAFF):
        system.app.close_case(close_key, case_id, "Fictional: referred on")
        assert system.app.close_case(close_key, case_id, "Fictional: referred on").replayed
        with nothing_written(system), pytest.raises(IdempotencyKeyReused):
            system.app.close_case(close_key, case_id, "Fictional: moved away")
        system.app.reopen_case(a_key(), case_id, "Fictional: called back")
        system.app.refer(
            refer_key,
            case_id,
            shelter,
            ReferralMode.WARM_TRANSFER,
            [Need.SHELTER],
            [DisclosableField.CALLER_NAME],
            "Fictional brief: a bed tonight",
        )
        with nothing_written(system), pytest.raises(IdempotencyKeyReused):
            system.app.refer(
                refer_key,
                case_id,
                shelter,
                ReferralMode.WARM_TRANSFER,
                [Need.SHELTER],
                [DisclosableField.CALLER_NAME],
                "Fictional brief: a cot tonight",
            )


def test_a_key_recorded_before_fingerprints_were_keyed_still_replays_its_request(
    system: System,
) -> None:
    """Records saved by earlier code hold the digest of sealed text by its length: a repeat
    of the same request still returns the first result, and a longer text is still refused."""
    case_id = a_case(system)
    identity = "\x1f".join([STAFF.role, STAFF.organization_id or "", STAFF.user_id])
    reason = "Fictional: referred on"
    earlier = hashlib.sha256(
        json.dumps(
            ["closeCase", {"id": case_id, "reason": len(reason)}], sort_keys=True, default=str
        ).encode()
    ).hexdigest()
    with acting_as(STAFF):
        system.app.save(
            IdempotencyRecord.record(
                record_id(identity, "fictional-earlier-key"),
                "closeCase",
                earlier,
                {"id": str(case_id), "version": 1},
            )
        )
        with nothing_written(system):
            again = system.app.close_case("fictional-earlier-key", case_id, reason)
            with pytest.raises(IdempotencyKeyReused):
                system.app.close_case("fictional-earlier-key", case_id, reason + " later")
    assert (again.id, again.version, again.replayed) == (case_id, 1, True)
