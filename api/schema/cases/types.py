"""The case and what hangs on it, the disclosure ledger, the de-identified statistics,
and the results of case commands: GraphQL types, built from read-model documents.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from uuid import UUID

import strawberry

from api.context import Context, snake
from api.schema.cases.enums import (
    CallerRelationship,
    Channel,
    ConsentGiver,
    ConsentMethod,
    ConsentOnRecord,
    ConsentScope,
    DeclineReason,
    DisclosableField,
    Exception_,
    Indicator,
    MandatoryReportDecision,
    Need,
    NumberSource,
    RecipientKind,
    ReferralAnswerKind,
    ReferralMode,
    ReferralOutcomeKind,
    SituationType,
    Tristate,
    Urgency,
)
from api.schema.common import PageInfo
from api.schema.contacts.types import Contact, build_contact


@strawberry.type(
    description=(
        "A caller's consent: explicit, scoped, recorded with who gave it and how, and "
        "withdrawable (a withdrawal stops future disclosures; past ones stay on record)."
    )
)
class Consent:
    id: strawberry.ID = strawberry.field(description="The consent's id.")
    scope: ConsentScope = strawberry.field(description="What the consent allows.")
    recipient_id: strawberry.ID | None = strawberry.field(
        description="The organization or agency it names; null when it names none."
    )
    given_by: ConsentGiver = strawberry.field(description="Who gave it.")
    method: ConsentMethod = strawberry.field(description="How it was given.")
    expires_at: str | None = strawberry.field(
        description="When it lapses (ISO 8601, UTC); null if it does not."
    )
    recorded_by: str = strawberry.field(description="The user id of whoever recorded it.")
    granted_at: str = strawberry.field(description="When it was recorded (ISO 8601, UTC).")
    withdrawn_at: str | None = strawberry.field(
        description="When it was withdrawn (ISO 8601, UTC); null while it stands."
    )


@strawberry.type(description="A record of information leaving the hotline: names, not values.")
class Disclosure:
    id: strawberry.ID = strawberry.field(description="The disclosure's id.")
    recipient_kind: RecipientKind = strawberry.field(description="Who the information went to.")
    recipient_id: strawberry.ID | None = strawberry.field(
        description="The organization or agency it went to (null for emergency services)."
    )
    fields: list[DisclosableField] = strawberry.field(
        description="Which fields left (their names, never their values)."
    )
    consent_id: strawberry.ID | None = strawberry.field(
        description="The consent it relied on; null under an exception."
    )
    exception: Exception_ | None = strawberry.field(
        description="The exception a supervisor authorized; null under a consent."
    )
    justification: str = strawberry.field(
        description="The supervisor's written justification for an exception."
    )
    at: str = strawberry.field(description="When it was recorded (ISO 8601, UTC).")
    by: str = strawberry.field(description="The user id of whoever disclosed.")
    by_role: str = strawberry.field(description="Their role.")


@strawberry.type(description="What an organization reported became of a referral to it.")
class ReferralOutcome:
    at: str = strawberry.field(description="When the organization reported it (ISO 8601, UTC).")
    outcome: ReferralOutcomeKind = strawberry.field(description="What became of the referral.")
    note: str = strawberry.field(description="The organization's note.")


@strawberry.type(
    description="An organization's answer to a referral addressed to it, before its own intake."
)
class ReferralAnswer:
    at: str = strawberry.field(description="When the organization answered (ISO 8601, UTC).")
    by: str = strawberry.field(description="The user id of the partner who answered.")
    answer: ReferralAnswerKind = strawberry.field(description="Accepted or declined.")
    reason: DeclineReason | None = strawberry.field(
        description="Why it was declined; null when accepted."
    )
    note: str = strawberry.field(description="The organization's note, if it wrote one.")


@strawberry.type(
    description=(
        "An agency's acknowledgement of a report addressed to it, and what it recorded of its "
        "handling."
    )
)
class ReportAcknowledgement:
    at: str = strawberry.field(description="When the agency acknowledged it (ISO 8601, UTC).")
    by: str = strawberry.field(description="The user id of the liaison who acknowledged it.")
    contact_name: str = strawberry.field(
        description="Who at the agency handles the report; empty when not given."
    )
    file_number: str = strawberry.field(
        description="The agency's file number for it; empty when not given."
    )


def answer_of(doc: Mapping[str, Any] | None, text: Callable[[str], str]) -> ReferralAnswer | None:
    if doc is None:
        return None
    return ReferralAnswer(
        at=doc["at"],
        by=doc["by"],
        answer=doc["answer"],
        reason=doc["reason"],
        note=text(doc["note"]),
    )


def acknowledgement_of(
    doc: Mapping[str, Any] | None, text: Callable[[str], str]
) -> ReportAcknowledgement | None:
    if doc is None:
        return None
    return ReportAcknowledgement(
        at=doc["at"],
        by=doc["by"],
        contact_name=text(doc["contactName"]),
        file_number=text(doc["fileNumber"]),
    )


@strawberry.type(description="A referral of the caller to an organization of the directory.")
class CaseReferral:
    id: strawberry.ID = strawberry.field(description="The referral's id.")
    organization_id: strawberry.ID = strawberry.field(
        description="The organization the caller was referred to."
    )
    mode: ReferralMode = strawberry.field(description="How the referral was made.")
    needs: list[Need] = strawberry.field(description="The needs it is for.")
    disclosure_id: strawberry.ID | None = strawberry.field(
        description=(
            "The disclosure that went with it; null when nothing was sent (a referral relayed to the "
            "caller)."
        )
    )
    at: str = strawberry.field(description="When it was made (ISO 8601, UTC).")
    outcomes: list[ReferralOutcome] = strawberry.field(
        description="What the organization has reported since, oldest first."
    )
    answer: ReferralAnswer | None = strawberry.field(
        default=None,
        description="The organization's answer; null while it has not answered.",
    )


_RETYPED = (
    "On reports recorded before the facts were filled in from the case, the supervisor's "
    "words; null since: read the report's facts."
)


@strawberry.type(description="The factors a supervisor weighed in reporting to law enforcement.")
class ReportFactors:
    urgency: str | None = strawberry.field(
        default=None,
        description="The urgency, as weighed.",
        deprecation_reason=_RETYPED,
    )
    imminent_harm: str | None = strawberry.field(
        default=None,
        description="Imminent harm to the caller or others.",
        deprecation_reason=_RETYPED,
    )
    minor_involved: str | None = strawberry.field(
        default=None,
        description="Whether a minor is involved.",
        deprecation_reason=_RETYPED,
    )
    indicators_present: str | None = strawberry.field(
        default=None,
        description="The trafficking indicators present.",
        deprecation_reason=_RETYPED,
    )
    callers_wishes: str = strawberry.field(
        description="The caller's wishes (the supervisor's words)."
    )
    level_of_detail: str = strawberry.field(
        description="The level of detail available (the supervisor's words)."
    )
    applicable_law: str = strawberry.field(
        description="The law that applies (the supervisor's words)."
    )
    local_protocol: str = strawberry.field(
        description="The local reporting protocol (the supervisor's words)."
    )


@strawberry.type(
    description="The facts the case held when it was reported, filled in from the case."
)
class ReportFacts:
    urgency: Urgency | None = strawberry.field(
        description="The case's urgency; null when none was recorded."
    )
    imminent_harm: bool | None = strawberry.field(
        description="Whether the caller or others were in imminent danger; null if not recorded."
    )
    minor_involved: Tristate = strawberry.field(
        description="Whether a minor is or may be involved (UNKNOWN when not recorded)."
    )
    indicators: list[Indicator] = strawberry.field(
        description="The trafficking indicators recorded on the case."
    )
    consent: ConsentOnRecord = strawberry.field(
        description="The caller's consent to report to this agency, as on record."
    )
    consent_id: strawberry.ID | None = strawberry.field(
        description="The active consent that covered the agency; null when none did."
    )


@strawberry.type(
    description=(
        "A supervisor's report of the case to a law-enforcement agency, under the agency's "
        "reporting protocol."
    )
)
class CaseReport:
    id: strawberry.ID = strawberry.field(description="The report's id.")
    agency_id: strawberry.ID = strawberry.field(
        description="The law-enforcement agency reported to."
    )
    protocol_id: strawberry.ID = strawberry.field(
        description="The reporting protocol it went under."
    )
    factors: ReportFactors = strawberry.field(description="The factors the supervisor weighed.")
    facts: ReportFacts | None = strawberry.field(
        description=(
            "The facts the case held, filled in from it; null on reports recorded before they "
            "were (their factors hold the supervisor's words)."
        )
    )
    jurisdiction_override: str | None = strawberry.field(
        description=(
            "The supervisor's justification for reporting under a protocol whose jurisdiction "
            "does not cover the case's; null when it does."
        )
    )
    disclosure_id: strawberry.ID = strawberry.field(description="The disclosure that went with it.")
    at: str = strawberry.field(description="When it was made (ISO 8601, UTC).")
    by: str = strawberry.field(description="The user id of the supervisor who reported.")
    acknowledgement: ReportAcknowledgement | None = strawberry.field(
        default=None,
        description="The agency's acknowledgement; null while it has not acknowledged it.",
    )


@strawberry.type(description="A call to emergency services about the case.")
class EmergencyCall:
    at: str = strawberry.field(
        description="When emergency services were contacted (ISO 8601, UTC)."
    )
    province: str | None = strawberry.field(
        description=(
            "The province or territory of the case (ISO 3166-2:CA code); null when it was not "
            "recorded yet."
        )
    )
    number: str | None = strawberry.field(
        description=(
            "The number for the place: 911, or the territory's or community's configured number; "
            "null when none was known (numberSource says why)."
        )
    )
    number_source: NumberSource = strawberry.field(
        description="Where the number came from, or why it was unknown."
    )
    community: str | None = strawberry.field(
        description="The community whose configured entry gave the number, if one did."
    )
    disclosure_id: strawberry.ID | None = strawberry.field(
        description="The disclosure that went with it; null when nothing was disclosed."
    )


@strawberry.type(
    description=(
        "The number emergency services answer on for a case's place, or why it is unknown: 911 "
        "in the provinces and Yukon, the configured table in the Northwest Territories and "
        "Nunavut. Read by staff and supervisors; every read is in the access log."
    )
)
class EmergencyNumber:
    case_id: strawberry.ID = strawberry.field(description="The case.")
    province: str | None = strawberry.field(
        description="The case's province or territory; null when not recorded yet."
    )
    number: str | None = strawberry.field(
        description="The number to call; null when none is known (see warning)."
    )
    source: NumberSource = strawberry.field(
        description="Where the number comes from, or why it is unknown."
    )
    community: str | None = strawberry.field(
        description="The community whose configured entry gives the number, if one does."
    )
    warning: str | None = strawberry.field(
        description="What to know when the number is unknown; null when it is known."
    )

    def access_key(self) -> tuple[str, str, str | None]:
        return "EmergencyNumber", str(self.case_id), str(self.case_id)


def emergency_number(case_id: str, found: Any) -> EmergencyNumber:
    """The GraphQL answer for a domain ``EmergencyNumber``."""
    return EmergencyNumber(
        case_id=strawberry.ID(case_id),
        province=found.province,
        number=found.number,
        source=found.source,
        community=found.community,
        warning=found.warning,
    )


@strawberry.type(description="A supervisor's decision on a potential trafficking case.")
class Consultation:
    at: str = strawberry.field(description="When the decision was recorded (ISO 8601, UTC).")
    supervisor_id: str = strawberry.field(description="The user id of the supervisor.")
    decision: str = strawberry.field(description="The supervisor's decision, in their words.")
    next_steps: str = strawberry.field(
        description="The next steps the supervisor set (empty for decisions recorded before)."
    )
    answers: list[strawberry.ID] = strawberry.field(
        description="The ids of the supervisor requests this decision answered."
    )


@strawberry.type(
    description=(
        "Staff asking a supervisor into a case, with their question; answered by the next "
        "supervisor's decision on the case. Read by staff (on the case) and supervisors; every "
        "read is in the access log."
    )
)
class SupervisorRequest:
    id: strawberry.ID = strawberry.field(description="The request's id.")
    case_id: strawberry.ID = strawberry.field(description="The case it is about.")
    requested_at: str = strawberry.field(description="When it was made (ISO 8601, UTC).")
    requested_by: str = strawberry.field(description="The user id of whoever asked.")
    question: str | None = strawberry.field(
        default=None,
        description=(
            "The question, in their words: sealed with the case's key, every read logged."
        ),
    )
    answered_at: str | None = strawberry.field(
        default=None,
        description="When a supervisor's decision answered it (ISO 8601, UTC); null while open.",
    )
    answered_by: str | None = strawberry.field(
        default=None, description="The user id of the supervisor who answered it."
    )

    def access_key(self) -> tuple[str, str, str | None]:
        return "SupervisorRequest", str(self.id), str(self.case_id)


def supervisor_request(
    r: dict[str, Any], case_id: str, text: Callable[[str], str]
) -> SupervisorRequest:
    return SupervisorRequest(
        id=strawberry.ID(r["id"]),
        case_id=strawberry.ID(case_id),
        requested_at=r["at"],
        requested_by=r["by"],
        question=text(r["question"]),
        answered_at=r.get("answeredAt"),
        answered_by=r.get("answeredBy"),
    )


@strawberry.type(description="A page of supervisor requests.")
class SupervisorRequestPage:
    items: list[SupervisorRequest] = strawberry.field(
        description="This page of requests, the longest waiting first."
    )
    total_count: int = strawberry.field(description="How many requests match, in all.")
    page_info: PageInfo = strawberry.field(
        description="Whether more requests follow, and where this page ends."
    )


@strawberry.type(
    description=(
        "The case's mandatory-report decision: a minor is or may be involved in a case that "
        "references abuse or trafficking, so the case closes only once a supervisor records a "
        "report or why none is required."
    )
)
class MandatoryReportView:
    flagged_at: str = strawberry.field(description="When the case was flagged (ISO 8601, UTC).")
    decision: MandatoryReportDecision | None = strawberry.field(
        description="What the supervisor recorded; null while the decision is awaited."
    )
    decided_at: str | None = strawberry.field(
        description="When it was recorded (ISO 8601, UTC); null while awaited."
    )
    decided_by: str | None = strawberry.field(
        description="The user id of the supervisor who recorded it."
    )
    report_id: strawberry.ID | None = strawberry.field(
        description="The report that settled it (in reports or childProtectionReports)."
    )
    justification: str = strawberry.field(
        description="Why no report is required, in the supervisor's words (empty for a report)."
    )


@strawberry.type(
    description=(
        "A supervisor's report of the case to a child-protection authority, under the "
        "suspected-abuse-of-a-minor exception."
    )
)
class ChildProtectionReport:
    id: strawberry.ID = strawberry.field(description="The report's id.")
    authority_id: strawberry.ID = strawberry.field(
        description="The child-protection authority reported to."
    )
    disclosure_id: strawberry.ID = strawberry.field(description="The disclosure that went with it.")
    jurisdiction_override: str = strawberry.field(
        description=(
            "Why an authority whose jurisdiction does not cover the case was chosen (the "
            "supervisor's words); empty when it covers the case."
        )
    )
    at: str = strawberry.field(description="When it was made (ISO 8601, UTC).")
    by: str = strawberry.field(description="The user id of the supervisor who reported.")


@strawberry.type(description="A closing or reopening of the case.")
class CaseHistoryEntry:
    at: str = strawberry.field(description="When it happened (ISO 8601, UTC).")
    what: str = strawberry.field(description="What happened: CLOSED or REOPENED.")
    note: str = strawberry.field(description="The reason given.")


_PERSONAL = {
    "callerName": "name",
    "callerPhone": "phone",
    "callerEmail": "email",
    "callerOtherContact": "otherContact",
    "notes": "notes",
    "assessment": "assessment",
}
_DETAILS = {
    "province": "province",
    "municipality": "municipality",
    "minorInvolved": "minorInvolved",
    "situationType": "situationType",
    "urgency": "urgency",
    "imminentHarm": "imminentHarm",
    "needs": "needs",
    "indicators": "indicators",
    "assignedTo": "assignedTo",
}


@strawberry.type(description="A legal hold: while it stands, the caller's data cannot be erased.")
class LegalHoldView:
    at: str = strawberry.field(description="When the hold was placed (ISO 8601, UTC).")
    by: str = strawberry.field(description="The user id of the supervisor who placed it.")
    reason: str = strawberry.field(description="Why it was placed.")


@strawberry.type(
    description=(
        "A hotline case. Caller personal data is opened only when asked for. Read by hotline staff "
        "and supervisors only: no other role can find a case by any attribute, and every read of "
        "its fields is in the access log."
    )
)
class Case:
    id: strawberry.ID = strawberry.field(
        description="The case's id (random: it says nothing about the case)."
    )
    version: int | None = strawberry.field(
        default=None, description="The case's version: the number of events recorded on it."
    )
    open: bool | None = strawberry.field(default=None, description="Whether the case is open.")
    channel: Channel | None = strawberry.field(
        default=None, description="How the caller reached the hotline."
    )
    language: str | None = strawberry.field(
        default=None, description="The caller's language (ISO 639-1 or 639-3 code)."
    )
    relationship: CallerRelationship | None = strawberry.field(
        default=None, description="Who the caller is to the situation."
    )
    has_personal_data: bool | None = strawberry.field(
        default=None,
        description=(
            "Whether the caller gave any personal data (name, phone, email or another contact)."
        ),
    )
    caller_name: str | None = strawberry.field(
        default=None,
        description=(
            "The caller's name. Caller personal data: sealed with the case's key, opened only when "
            "selected, every read logged; null once erased."
        ),
    )
    caller_phone: str | None = strawberry.field(
        default=None,
        description=(
            "The caller's phone number. Caller personal data: sealed with the case's key, opened only "
            "when selected, every read logged; null once erased."
        ),
    )
    caller_email: str | None = strawberry.field(
        default=None,
        description=(
            "The caller's email address. Caller personal data: sealed with the case's key, opened "
            "only when selected, every read logged; null once erased."
        ),
    )
    caller_other_contact: str | None = strawberry.field(
        default=None,
        description=(
            "Another way to reach the caller. Caller personal data: sealed with the case's key, "
            "opened only when selected, every read logged; null once erased."
        ),
    )
    notes: str | None = strawberry.field(
        default=None,
        description=(
            "Staff's notes on the case: sealed with the case's key like personal data, every read "
            "logged; null once erased."
        ),
    )
    assessment: str | None = strawberry.field(
        default=None,
        description=(
            "Staff's assessment of the situation: sealed with the case's key like personal data, "
            "every read logged; null once erased."
        ),
    )
    province: str | None = strawberry.field(
        default=None, description="The province or territory of the case (ISO 3166-2:CA code)."
    )
    municipality: str | None = strawberry.field(
        default=None, description="The municipality of the case."
    )
    minor_involved: Tristate | None = strawberry.field(
        default=None, description="Whether a minor is or may be involved."
    )
    situation_type: SituationType | None = strawberry.field(
        default=None, description="The kind of situation."
    )
    urgency: Urgency | None = strawberry.field(default=None, description="How urgent the case is.")
    imminent_harm: bool | None = strawberry.field(
        default=None, description="Whether the caller or others are in imminent danger."
    )
    needs: list[Need] | None = strawberry.field(default=None, description="The caller's needs.")
    indicators: list[Indicator] | None = strawberry.field(
        default=None, description="The trafficking indicators recorded."
    )
    assigned_to: str | None = strawberry.field(
        default=None, description="The user id of the staff member the case is assigned to."
    )
    opened_at: str | None = strawberry.field(
        default=None, description="When the case was opened (ISO 8601, UTC)."
    )
    updated_at: str | None = strawberry.field(
        default=None, description="When the case last changed (ISO 8601, UTC)."
    )
    consultations: list[Consultation] | None = strawberry.field(
        default=None, description="Supervisors' decisions on the case, oldest first."
    )
    supervisor_requests: list[SupervisorRequest] | None = strawberry.field(
        default=None,
        description="Staff's requests for a supervisor on this case, oldest first.",
    )
    supervisor_decision_required: bool | None = strawberry.field(
        default=None,
        description=(
            "Whether the case references potential trafficking (a situation type other than "
            "NOT_TRAFFICKING, or an indicator) with no supervisor's decision on its current facts: "
            "until one is recorded nothing leaves (but an emergency call) and it cannot close."
        ),
    )
    consents: list[Consent] | None = strawberry.field(
        default=None, description="The caller's consents, withdrawn ones included."
    )
    disclosures: list[Disclosure] | None = strawberry.field(
        default=None, description="Every time information about the case left the hotline."
    )
    referrals: list[CaseReferral] | None = strawberry.field(
        default=None, description="The referrals made."
    )
    reports: list[CaseReport] | None = strawberry.field(
        default=None, description="The reports to law enforcement."
    )
    emergencies: list[EmergencyCall] | None = strawberry.field(
        default=None, description="The calls to emergency services."
    )
    history: list[CaseHistoryEntry] | None = strawberry.field(
        default=None, description="When the case was closed and reopened, and why."
    )
    legal_hold: LegalHoldView | None = strawberry.field(
        default=None,
        description=(
            "The legal hold standing on the case, if any: while it stands the caller's data cannot be "
            "erased."
        ),
    )
    personal_data_erased_at: str | None = strawberry.field(
        default=None,
        description=(
            "When the caller's personal data was erased (ISO 8601, UTC); null if it was not."
        ),
    )
    contacts: list[Contact] | None = strawberry.field(
        default=None, description="The contacts with the hotline about the case, oldest first."
    )
    mandatory_report: MandatoryReportView | None = strawberry.field(
        default=None,
        description=(
            "The mandatory-report decision the case was flagged for; null when it was not."
        ),
    )
    child_protection_reports: list[ChildProtectionReport] | None = strawberry.field(
        default=None, description="The reports to child-protection authorities."
    )

    def access_key(self) -> tuple[str, str, str | None]:
        return "Case", str(self.id), str(self.id)


_PLAIN = (
    "version",
    "open",
    "channel",
    "language",
    "relationship",
    "hasPersonalData",
    "openedAt",
    "updatedAt",
)

# The nested parts of a case: GraphQL name -> how to build it from the document, with ``text``
# opening the staff-written free text sealed with the case's key.
_NESTED: dict[str, Callable[[dict[str, Any], Callable[[str], str]], Any]] = {
    "consultations": lambda doc, text: [
        Consultation(
            at=c["at"],
            supervisor_id=c["supervisorId"],
            decision=text(c["decision"]),
            next_steps=text(c.get("nextSteps", "")),
            answers=[strawberry.ID(a) for a in c.get("answers", [])],
        )
        for c in doc["consultations"]
    ],
    "supervisorRequests": lambda doc, text: [
        supervisor_request(r, doc["id"], text) for r in doc.get("supervisorRequests", [])
    ],
    "supervisorDecisionRequired": lambda doc, _: doc.get("supervisorDecisionRequired", False),
    "consents": lambda doc, _: [
        Consent(
            id=c["id"],
            scope=c["scope"],
            recipient_id=c["recipientId"],
            given_by=c["givenBy"],
            method=c["method"],
            expires_at=c["expiresAt"],
            recorded_by=c["recordedBy"],
            granted_at=c["grantedAt"],
            withdrawn_at=c["withdrawnAt"],
        )
        for c in doc["consents"]
    ],
    "disclosures": lambda doc, text: [_disclosure(d, text) for d in doc["disclosures"]],
    "referrals": lambda doc, text: [
        CaseReferral(
            id=r["id"],
            organization_id=r["organizationId"],
            mode=r["mode"],
            needs=r["needs"],
            disclosure_id=r["disclosureId"],
            at=r["at"],
            outcomes=[outcome_of(o, text) for o in r["outcomes"]],
            answer=answer_of(r.get("answer"), text),
        )
        for r in doc["referrals"]
    ],
    "reports": lambda doc, text: [_report(r, text) for r in doc["reports"]],
    "emergencies": lambda doc, _: [
        EmergencyCall(
            at=e["at"],
            # Recorded before an unknown province could be: "None" stood for it.
            province=None if e["province"] in (None, "None", "") else e["province"],
            number=e["number"],
            number_source=e.get("numberSource")
            or (NumberSource.NINE_ONE_ONE if e["number"] == "911" else NumberSource.TERRITORY),
            community=e.get("community"),
            disclosure_id=e["disclosureId"],
        )
        for e in doc["emergencies"]
    ],
    "history": lambda doc, text: [
        CaseHistoryEntry(**{**h, "note": text(h["note"])}) for h in doc["history"]
    ],
    "legalHold": lambda doc, _: doc.get("legalHold") and LegalHoldView(**doc["legalHold"]),
    "personalDataErasedAt": lambda doc, _: doc.get("erasedAt"),
    "mandatoryReport": lambda doc, text: _mandatory_report(doc.get("mandatoryReport"), text),
    "childProtectionReports": lambda doc, text: [
        ChildProtectionReport(
            id=strawberry.ID(r["id"]),
            authority_id=strawberry.ID(r["authorityId"]),
            disclosure_id=strawberry.ID(r["disclosureId"]),
            jurisdiction_override=text(r["jurisdictionOverride"]),
            at=r["at"],
            by=r["by"],
        )
        for r in doc.get("childProtectionReports") or []
    ],
}


def _mandatory_report(
    flag: dict[str, Any] | None, text: Callable[[str], str]
) -> MandatoryReportView | None:
    if flag is None:
        return None
    return MandatoryReportView(
        flagged_at=flag["flaggedAt"],
        decision=flag["decision"],
        decided_at=flag["decidedAt"],
        decided_by=flag["decidedBy"],
        report_id=flag["reportId"],
        justification=text(flag["justification"]) if flag["justification"] else "",
    )


def opener(ctx: Context, case_id: str) -> Callable[[str], str]:
    case = UUID(case_id)
    return lambda value: ctx.system.app.open_text(case, value)


def outcome_of(o: Mapping[str, Any], text: Callable[[str], str]) -> ReferralOutcome:
    return ReferralOutcome(at=o["at"], outcome=o["outcome"], note=text(o["note"]))


def build_case(ctx: Context, doc: dict[str, Any], wanted: set[str]) -> Case:
    """Builds only the fields both visible to this role and selected; the sealed personal data
    is opened only when one of its fields is among them."""
    visible = ctx.system.policy.fields(ctx.role, "Case", "any") & wanted
    values: dict[str, Any] = {}
    if visible & _PERSONAL.keys() and doc["sealedPersonal"]:  # empty once erased
        personal = ctx.system.app.open_sealed(UUID(doc["id"]), doc["sealedPersonal"]) or {}
        values |= {name: personal.get(key) for name, key in _PERSONAL.items()}
    values |= {name: doc["details"].get(key) for name, key in _DETAILS.items()}
    values |= {name: doc[name] for name in _PLAIN}
    text = opener(ctx, doc["id"])
    values |= {name: build(doc, text) for name, build in _NESTED.items() if name in visible}
    if "contacts" in visible:  # the contacts' own read model
        values["contacts"] = [build_contact(c) for c in ctx.contacts.of_case(doc["id"])]
    return Case(
        id=strawberry.ID(doc["id"]),
        **{snake(name): value for name, value in values.items() if name in visible},
    )


def _report(r: dict[str, Any], text: Callable[[str], str]) -> CaseReport:
    facts = r.get("facts")  # none on reports recorded before the facts were filled in
    override = r.get("jurisdictionOverride")
    return CaseReport(
        id=r["id"],
        agency_id=r["agencyId"],
        protocol_id=r["protocolId"],
        factors=ReportFactors(**{snake(k): text(v) for k, v in r["factors"].items()}),
        facts=None
        if facts is None
        else ReportFacts(
            urgency=facts["urgency"],
            imminent_harm=facts["imminentHarm"],
            minor_involved=facts["minorInvolved"],
            indicators=facts["indicators"],
            consent=facts["consent"],
            consent_id=facts["consentId"],
        ),
        jurisdiction_override=text(override) if override else None,
        disclosure_id=r["disclosureId"],
        at=r["at"],
        by=r["by"],
        acknowledgement=acknowledgement_of(r.get("acknowledgement"), text),
    )


def _disclosure(d: dict[str, Any], text: Callable[[str], str]) -> Disclosure:
    return Disclosure(
        id=d["id"],
        recipient_kind=d["recipientKind"],
        recipient_id=d["recipientId"],
        fields=d["fields"],
        consent_id=d["consentId"],
        exception=d["exception"],
        justification=text(d["justification"]),
        at=d["at"],
        by=d["by"],
        by_role=d["byRole"],
    )


@strawberry.type(
    description=(
        "An entry of the disclosure ledger: who disclosed which fields of which case to whom, "
        "when and on what basis; never the values. Read by staff, supervisors and compliance "
        "officers."
    )
)
class LedgerEntry:
    id: strawberry.ID = strawberry.field(description="The disclosure's id.")
    case_id: strawberry.ID = strawberry.field(description="The case it was made from.")
    recipient_kind: RecipientKind = strawberry.field(description="Who the information went to.")
    recipient_id: strawberry.ID | None = strawberry.field(
        description="The organization or agency it went to (null for emergency services)."
    )
    fields: list[DisclosableField] = strawberry.field(
        description="Which fields left (their names, never their values)."
    )
    consent_id: strawberry.ID | None = strawberry.field(
        description="The consent it relied on; null under an exception."
    )
    exception: Exception_ | None = strawberry.field(
        description="The exception a supervisor authorized; null under a consent."
    )
    justification: str = strawberry.field(
        description="The supervisor's written justification for an exception."
    )
    at: str = strawberry.field(description="When it was recorded (ISO 8601, UTC).")
    by: str = strawberry.field(description="The user id of whoever disclosed.")
    by_role: str = strawberry.field(description="Their role.")
    policy_version: str | None = strawberry.field(
        default=None,
        description=(
            "The confidentiality policy in force (a hash of its files); null for disclosures recorded "
            "before versions were kept."
        ),
    )

    def access_key(self) -> tuple[str, str, str | None]:
        return "LedgerEntry", str(self.id), str(self.case_id)


@strawberry.type(description="A page of cases.")
class CasePage:
    items: list[Case] = strawberry.field(description="This page of cases, newest first.")
    page_info: PageInfo = strawberry.field(
        description="Whether more cases follow, and where this page ends."
    )


@strawberry.type(
    description=(
        "A case flagged for a mandatory-report decision, as the supervisors' queue lists it."
    )
)
class MandatoryReportTask:
    case_id: strawberry.ID = strawberry.field(description="The flagged case.")
    flagged_at: str = strawberry.field(description="When it was flagged (ISO 8601, UTC).")
    decided: bool = strawberry.field(description="Whether a supervisor has recorded the decision.")
    decided_at: str | None = strawberry.field(
        description="When the decision was recorded (ISO 8601, UTC); null while awaited."
    )

    def access_key(self) -> tuple[str, str, str | None]:
        return "MandatoryReportTask", str(self.case_id), str(self.case_id)


@strawberry.type(description="A page of cases flagged for a mandatory-report decision.")
class MandatoryReportPage:
    total_count: int = strawberry.field(description="How many cases match, on every page.")
    items: list[MandatoryReportTask] = strawberry.field(
        description="This page, the longest waiting first."
    )
    page_info: PageInfo = strawberry.field(
        description="Whether more follow, and where this page ends."
    )


@strawberry.type(description="A page of the disclosure ledger.")
class LedgerPage:
    items: list[LedgerEntry] = strawberry.field(
        description="This page of disclosures, newest first."
    )
    page_info: PageInfo = strawberry.field(
        description="Whether more follow, and where this page ends."
    )


@strawberry.type(
    description="A count of cases that consented to statistics; null when too small to publish."
)
class StatisticsCell:
    value: str = strawberry.field(
        description="The value counted (a month, a province code, an enum value)."
    )
    count: int | None = strawberry.field(
        description=(
            "How many consenting cases, rounded to a multiple of the publication threshold; null when "
            "too small to publish."
        )
    )


@strawberry.type(description="What a case command did; a repeated key returns the first result.")
class CaseResult:
    case_id: strawberry.ID = strawberry.field(
        description="The id of the case the command acted on."
    )
    version: int = strawberry.field(description="The case's version after the command.")
    replayed: bool = strawberry.field(
        description="True when the idempotency key had been used: nothing was written again."
    )
    case: Case | None = strawberry.field(description="The case after the command.")


@strawberry.type(
    description=(
        "What a call to emergency services recorded: never refused for want of a number; a "
        "repeated key returns the first result."
    )
)
class EmergencyContactResult:
    case_id: strawberry.ID = strawberry.field(
        description="The id of the case the command acted on."
    )
    version: int = strawberry.field(description="The case's version after the command.")
    replayed: bool = strawberry.field(
        description="True when the idempotency key had been used: nothing was written again."
    )
    case: Case | None = strawberry.field(description="The case after the command.")
    emergency_number: EmergencyNumber = strawberry.field(
        description="The number recorded with the call, or why it was unknown."
    )
    warning: str | None = strawberry.field(
        description=(
            "Set when the number was unknown (no number configured for the territory, or no "
            "province recorded yet), or when what was to be disclosed with the call was not "
            "sent ('DISCLOSURE_NOT_MADE: ...', with the code of the reason): the call is "
            "recorded all the same."
        )
    )
