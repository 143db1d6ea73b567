"""Cases for the hotline; inboxes of disclosed copies for partners and law enforcement; the
disclosure ledger for compliance; de-identified statistics for everyone.

A partner or a liaison never reads a case: only the copy disclosed to them, opened here with
the case's key. A referral or report that is not the caller's answers exactly as a missing one.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, TypeVar
from uuid import UUID

import strawberry
from strawberry.types import Info

from api.context import Context, camel, parse_id, snake
from api.schema import vocabulary
from api.schema.common import After, First, IdempotencyKey, PageInfo, selected, to_plain
from domain.base import InvalidInput, NotFound
from domain.case import (
    CallerRelationship,
    Channel,
    ConsentGiver,
    ConsentMethod,
    ConsentScope,
    DisclosableField,
    Exception_,
    Indicator,
    Need,
    RecipientKind,
    ReferralMode,
    ReferralOutcomeKind,
    SituationType,
    Tristate,
    Urgency,
)
from domain.directory import Outcome
from domain.organization import Status
from domain.vocabulary import parse_codes
from projections.aggregates import iso
from projections.audit import parse_moment, plain
from projections.cases import CaseFilter as Filter
from projections.directory import INTERNAL

T = TypeVar("T")

# Arguments several case fields take, described once.
CaseId = Annotated[strawberry.ID, strawberry.argument(description="The case's id.")]
Brief = Annotated[str, strawberry.argument(description=(
    "A brief written for the recipient: it leaves with the disclosure (as the BRIEF field)."))]
Basis = Annotated[Exception_ | None, strawberry.argument(description=(
    "Disclose under this exception, without the caller's consent: a supervisor only, with a "
    "written justification. Omitted, an active, unexpired consent covering the recipient is "
    "required."))]
Justification = Annotated[str, strawberry.argument(description=(
    "The written justification of the exception (required with one)."))]

for _enum, (_description, _values) in (
        (Channel, vocabulary.CHANNEL), (CallerRelationship, vocabulary.CALLER_RELATIONSHIP),
        (Tristate, vocabulary.TRISTATE), (SituationType, vocabulary.SITUATION_TYPE),
        (Urgency, vocabulary.URGENCY), (Need, vocabulary.NEED),
        (ConsentScope, vocabulary.CONSENT_SCOPE), (ConsentGiver, vocabulary.CONSENT_GIVER),
        (ConsentMethod, vocabulary.CONSENT_METHOD),
        (DisclosableField, vocabulary.DISCLOSABLE_FIELD),
        (RecipientKind, vocabulary.RECIPIENT_KIND), (Indicator, vocabulary.INDICATOR),
        (ReferralMode, vocabulary.REFERRAL_MODE),
        (ReferralOutcomeKind, vocabulary.REFERRAL_OUTCOME_KIND)):
    vocabulary.describe(_enum, _description, _values)
vocabulary.describe(Exception_, *vocabulary.DISCLOSURE_EXCEPTION, name="DisclosureException")


class StatisticsDimension(StrEnum):
    MONTH = "month"
    PROVINCE = "province"
    SITUATION_TYPE = "situationType"
    NEED = "need"


vocabulary.describe(StatisticsDimension, *vocabulary.STATISTICS_DIMENSION)

# -- output types ------------------------------------------------------------------------------


@strawberry.type(description=(
    "A caller's consent: explicit, scoped, recorded with who gave it and how, and "
    "withdrawable (a withdrawal stops future disclosures; past ones stay on record)."))
class Consent:
    id: strawberry.ID = strawberry.field(description="The consent's id.")
    scope: ConsentScope = strawberry.field(description="What the consent allows.")
    recipient_id: strawberry.ID | None = strawberry.field(
        description="The organization or agency it names; null when it names none.")
    given_by: ConsentGiver = strawberry.field(description="Who gave it.")
    method: ConsentMethod = strawberry.field(description="How it was given.")
    expires_at: str | None = strawberry.field(
        description="When it lapses (ISO 8601, UTC); null if it does not.")
    recorded_by: str = strawberry.field(description="The user id of whoever recorded it.")
    granted_at: str = strawberry.field(description="When it was recorded (ISO 8601, UTC).")
    withdrawn_at: str | None = strawberry.field(
        description="When it was withdrawn (ISO 8601, UTC); null while it stands.")


@strawberry.type(description="A record of information leaving the hotline: names, not values.")
class Disclosure:
    id: strawberry.ID = strawberry.field(description="The disclosure's id.")
    recipient_kind: RecipientKind = strawberry.field(description="Who the information went to.")
    recipient_id: strawberry.ID | None = strawberry.field(
        description="The organization or agency it went to (null for emergency services).")
    fields: list[DisclosableField] = strawberry.field(
        description="Which fields left (their names, never their values).")
    consent_id: strawberry.ID | None = strawberry.field(
        description="The consent it relied on; null under an exception.")
    exception: Exception_ | None = strawberry.field(
        description="The exception a supervisor authorized; null under a consent.")
    justification: str = strawberry.field(
        description="The supervisor's written justification for an exception.")
    at: str = strawberry.field(description="When it was recorded (ISO 8601, UTC).")
    by: str = strawberry.field(description="The user id of whoever disclosed.")
    by_role: str = strawberry.field(description="Their role.")


@strawberry.type(description="What an organization reported became of a referral to it.")
class ReferralOutcome:
    at: str = strawberry.field(description="When the organization reported it (ISO 8601, UTC).")
    outcome: ReferralOutcomeKind = strawberry.field(description="What became of the referral.")
    note: str = strawberry.field(description="The organization's note.")


@strawberry.type(description="A referral of the caller to an organization of the directory.")
class CaseReferral:
    id: strawberry.ID = strawberry.field(description="The referral's id.")
    organization_id: strawberry.ID = strawberry.field(
        description="The organization the caller was referred to.")
    mode: ReferralMode = strawberry.field(description="How the referral was made.")
    needs: list[Need] = strawberry.field(description="The needs it is for.")
    disclosure_id: strawberry.ID | None = strawberry.field(description=(
        "The disclosure that went with it; null when nothing was sent (a referral relayed to the "
        "caller)."))
    at: str = strawberry.field(description="When it was made (ISO 8601, UTC).")
    outcomes: list[ReferralOutcome] = strawberry.field(
        description="What the organization has reported since, oldest first.")


@strawberry.type(description="The factors a supervisor weighed in reporting to law enforcement.")
class ReportFactors:
    urgency: str = strawberry.field(
        description="The urgency, as weighed (the supervisor's words).")
    imminent_harm: str = strawberry.field(
        description="Imminent harm to the caller or others (the supervisor's words).")
    minor_involved: str = strawberry.field(
        description="Whether a minor is involved (the supervisor's words).")
    indicators_present: str = strawberry.field(
        description="The trafficking indicators present (the supervisor's words).")
    callers_wishes: str = strawberry.field(
        description="The caller's wishes (the supervisor's words).")
    level_of_detail: str = strawberry.field(
        description="The level of detail available (the supervisor's words).")
    applicable_law: str = strawberry.field(
        description="The law that applies (the supervisor's words).")
    local_protocol: str = strawberry.field(
        description="The local reporting protocol (the supervisor's words).")


@strawberry.type(description=(
    "A supervisor's report of the case to a law-enforcement agency, under the agency's "
    "reporting protocol."))
class CaseReport:
    id: strawberry.ID = strawberry.field(description="The report's id.")
    agency_id: strawberry.ID = strawberry.field(
        description="The law-enforcement agency reported to.")
    protocol_id: strawberry.ID = strawberry.field(
        description="The reporting protocol it went under.")
    factors: ReportFactors = strawberry.field(description="The factors the supervisor weighed.")
    disclosure_id: strawberry.ID = strawberry.field(description="The disclosure that went with it.")
    at: str = strawberry.field(description="When it was made (ISO 8601, UTC).")
    by: str = strawberry.field(description="The user id of the supervisor who reported.")


@strawberry.type(description="A call to emergency services about the case.")
class EmergencyCall:
    at: str = strawberry.field(
        description="When emergency services were contacted (ISO 8601, UTC).")
    province: str = strawberry.field(
        description="The province or territory of the case (ISO 3166-2:CA code).")
    number: str = strawberry.field(
        description="The number called: 911, or the territory's configured number.")
    disclosure_id: strawberry.ID | None = strawberry.field(
        description="The disclosure that went with it; null when nothing was disclosed.")


@strawberry.type(description="A supervisor's decision on a potential trafficking case.")
class Consultation:
    at: str = strawberry.field(description="When the decision was recorded (ISO 8601, UTC).")
    supervisor_id: str = strawberry.field(description="The user id of the supervisor.")
    decision: str = strawberry.field(description="The supervisor's decision, in their words.")


@strawberry.type(description="A closing or reopening of the case.")
class CaseHistoryEntry:
    at: str = strawberry.field(description="When it happened (ISO 8601, UTC).")
    what: str = strawberry.field(description="What happened: CLOSED or REOPENED.")
    note: str = strawberry.field(description="The reason given.")


_PERSONAL = {"callerName": "name", "callerPhone": "phone", "callerEmail": "email",
             "callerOtherContact": "otherContact", "notes": "notes", "assessment": "assessment"}
_DETAILS = {"province": "province", "municipality": "municipality",
            "minorInvolved": "minorInvolved", "situationType": "situationType",
            "urgency": "urgency", "imminentHarm": "imminentHarm", "needs": "needs",
            "indicators": "indicators", "assignedTo": "assignedTo"}


@strawberry.type(description="A legal hold: while it stands, the caller's data cannot be erased.")
class LegalHoldView:
    at: str = strawberry.field(description="When the hold was placed (ISO 8601, UTC).")
    by: str = strawberry.field(description="The user id of the supervisor who placed it.")
    reason: str = strawberry.field(description="Why it was placed.")


@strawberry.type(description=(
    "A hotline case. Caller personal data is opened only when asked for. Read by hotline staff "
    "and supervisors only: no other role can find a case by any attribute, and every read of "
    "its fields is in the access log."))
class Case:
    id: strawberry.ID = strawberry.field(
        description="The case's id (random: it says nothing about the case).")
    version: int | None = strawberry.field(
        default=None, description="The case's version: the number of events recorded on it.")
    open: bool | None = strawberry.field(default=None, description="Whether the case is open.")
    channel: Channel | None = strawberry.field(
        default=None, description="How the caller reached the hotline.")
    language: str | None = strawberry.field(
        default=None, description="The caller's language (ISO 639-1 or 639-3 code).")
    relationship: CallerRelationship | None = strawberry.field(
        default=None, description="Who the caller is to the situation.")
    has_personal_data: bool | None = strawberry.field(default=None, description=(
        "Whether the caller gave any personal data (name, phone, email or another contact)."))
    caller_name: str | None = strawberry.field(default=None, description=(
        "The caller's name. Caller personal data: sealed with the case's key, opened only when "
        "selected, every read logged; null once erased."))
    caller_phone: str | None = strawberry.field(default=None, description=(
        "The caller's phone number. Caller personal data: sealed with the case's key, opened only "
        "when selected, every read logged; null once erased."))
    caller_email: str | None = strawberry.field(default=None, description=(
        "The caller's email address. Caller personal data: sealed with the case's key, opened "
        "only when selected, every read logged; null once erased."))
    caller_other_contact: str | None = strawberry.field(default=None, description=(
        "Another way to reach the caller. Caller personal data: sealed with the case's key, "
        "opened only when selected, every read logged; null once erased."))
    notes: str | None = strawberry.field(default=None, description=(
        "Staff's notes on the case: sealed with the case's key like personal data, every read "
        "logged; null once erased."))
    assessment: str | None = strawberry.field(default=None, description=(
        "Staff's assessment of the situation: sealed with the case's key like personal data, "
        "every read logged; null once erased."))
    province: str | None = strawberry.field(
        default=None, description="The province or territory of the case (ISO 3166-2:CA code).")
    municipality: str | None = strawberry.field(
        default=None, description="The municipality of the case.")
    minor_involved: Tristate | None = strawberry.field(
        default=None, description="Whether a minor is or may be involved.")
    situation_type: SituationType | None = strawberry.field(
        default=None, description="The kind of situation.")
    urgency: Urgency | None = strawberry.field(default=None, description="How urgent the case is.")
    imminent_harm: bool | None = strawberry.field(
        default=None, description="Whether the caller or others are in imminent danger.")
    needs: list[Need] | None = strawberry.field(default=None, description="The caller's needs.")
    indicators: list[Indicator] | None = strawberry.field(
        default=None, description="The trafficking indicators recorded.")
    assigned_to: str | None = strawberry.field(
        default=None, description="The user id of the staff member the case is assigned to.")
    opened_at: str | None = strawberry.field(
        default=None, description="When the case was opened (ISO 8601, UTC).")
    updated_at: str | None = strawberry.field(
        default=None, description="When the case last changed (ISO 8601, UTC).")
    consultations: list[Consultation] | None = strawberry.field(
        default=None, description="Supervisors' decisions on the case, oldest first.")
    consents: list[Consent] | None = strawberry.field(
        default=None, description="The caller's consents, withdrawn ones included.")
    disclosures: list[Disclosure] | None = strawberry.field(
        default=None, description="Every time information about the case left the hotline.")
    referrals: list[CaseReferral] | None = strawberry.field(
        default=None, description="The referrals made.")
    reports: list[CaseReport] | None = strawberry.field(
        default=None, description="The reports to law enforcement.")
    emergencies: list[EmergencyCall] | None = strawberry.field(
        default=None, description="The calls to emergency services.")
    history: list[CaseHistoryEntry] | None = strawberry.field(
        default=None, description="When the case was closed and reopened, and why.")
    legal_hold: LegalHoldView | None = strawberry.field(default=None, description=(
        "The legal hold standing on the case, if any: while it stands the caller's data cannot be "
        "erased."))
    personal_data_erased_at: str | None = strawberry.field(default=None, description=(
        "When the caller's personal data was erased (ISO 8601, UTC); null if it was not."))

    def access_key(self) -> tuple[str, str, str | None]:
        return "Case", str(self.id), str(self.id)


_PLAIN = ("version", "open", "channel", "language", "relationship", "hasPersonalData",
          "openedAt", "updatedAt")

# The nested parts of a case: GraphQL name -> how to build it from the document, with ``text``
# opening the staff-written free text sealed with the case's key.
_NESTED: dict[str, Callable[[dict[str, Any], Callable[[str], str]], Any]] = {
    "consultations": lambda doc, text: [
        Consultation(at=c["at"], supervisor_id=c["supervisorId"], decision=text(c["decision"]))
        for c in doc["consultations"]],
    "consents": lambda doc, _: [Consent(
        id=c["id"], scope=c["scope"], recipient_id=c["recipientId"], given_by=c["givenBy"],
        method=c["method"], expires_at=c["expiresAt"], recorded_by=c["recordedBy"],
        granted_at=c["grantedAt"], withdrawn_at=c["withdrawnAt"]) for c in doc["consents"]],
    "disclosures": lambda doc, text: [_disclosure(d, text) for d in doc["disclosures"]],
    "referrals": lambda doc, text: [CaseReferral(
        id=r["id"], organization_id=r["organizationId"], mode=r["mode"], needs=r["needs"],
        disclosure_id=r["disclosureId"], at=r["at"],
        outcomes=[_outcome(o, text) for o in r["outcomes"]]) for r in doc["referrals"]],
    "reports": lambda doc, text: [CaseReport(
        id=r["id"], agency_id=r["agencyId"], protocol_id=r["protocolId"],
        factors=ReportFactors(**{snake(k): text(v) for k, v in r["factors"].items()}),
        disclosure_id=r["disclosureId"], at=r["at"], by=r["by"]) for r in doc["reports"]],
    "emergencies": lambda doc, _: [
        EmergencyCall(at=e["at"], province=e["province"], number=e["number"],
                      disclosure_id=e["disclosureId"]) for e in doc["emergencies"]],
    "history": lambda doc, text: [CaseHistoryEntry(**{**h, "note": text(h["note"])})
                                  for h in doc["history"]],
    "legalHold": lambda doc, _: doc.get("legalHold") and LegalHoldView(**doc["legalHold"]),
    "personalDataErasedAt": lambda doc, _: doc.get("erasedAt"),
}


def _opener(ctx: Context, case_id: str) -> Callable[[str], str]:
    case = UUID(case_id)
    return lambda value: ctx.system.app.open_text(case, value)


def _outcome(o: dict[str, Any], text: Callable[[str], str]) -> ReferralOutcome:
    return ReferralOutcome(at=o["at"], outcome=o["outcome"], note=text(o["note"]))


def _case(ctx: Context, doc: dict[str, Any], wanted: set[str]) -> Case:
    """Builds only the fields both visible to this role and selected; the sealed personal data
    is opened only when one of its fields is among them."""
    visible = ctx.system.policy.fields(ctx.role, "Case", "any") & wanted
    values: dict[str, Any] = {}
    if visible & _PERSONAL.keys() and doc["sealedPersonal"]:  # empty once erased
        personal = ctx.system.app.open_sealed(UUID(doc["id"]), doc["sealedPersonal"]) or {}
        values |= {name: personal.get(key) for name, key in _PERSONAL.items()}
    values |= {name: doc["details"].get(key) for name, key in _DETAILS.items()}
    values |= {name: doc[name] for name in _PLAIN}
    text = _opener(ctx, doc["id"])
    values |= {name: build(doc, text) for name, build in _NESTED.items() if name in visible}
    return Case(id=strawberry.ID(doc["id"]),
                **{snake(name): value for name, value in values.items() if name in visible})


def _disclosure(d: dict[str, Any], text: Callable[[str], str]) -> Disclosure:
    return Disclosure(id=d["id"], recipient_kind=d["recipientKind"], recipient_id=d["recipientId"],
                      fields=d["fields"], consent_id=d["consentId"], exception=d["exception"],
                      justification=text(d["justification"]), at=d["at"], by=d["by"],
                      by_role=d["byRole"])


@strawberry.type(description=(
    "Exactly what was disclosed to you with a referral or report; every other field is null. "
    "Read by the partner or agency it was disclosed to, and every read is in the access log."))
class DisclosedCopy:
    caller_name: str | None = strawberry.field(
        default=None, description="The caller's name. Null when it was not disclosed.")
    caller_phone: str | None = strawberry.field(
        default=None, description="The caller's phone number. Null when it was not disclosed.")
    caller_email: str | None = strawberry.field(
        default=None, description="The caller's email address. Null when it was not disclosed.")
    caller_other_contact: str | None = strawberry.field(default=None, description=(
        "Another way to reach the caller. Null when it was not disclosed."))
    province: str | None = strawberry.field(default=None, description=(
        "The province or territory of the case (ISO 3166-2:CA code). Null when it was not "
        "disclosed."))
    municipality: str | None = strawberry.field(
        default=None, description="The municipality of the case. Null when it was not disclosed.")
    language: str | None = strawberry.field(default=None, description=(
        "The caller's language (ISO 639-1 or 639-3 code). Null when it was not disclosed."))
    minor_involved: Tristate | None = strawberry.field(default=None, description=(
        "Whether a minor is or may be involved. Null when it was not disclosed."))
    situation_type: SituationType | None = strawberry.field(
        default=None, description="The kind of situation. Null when it was not disclosed.")
    urgency: Urgency | None = strawberry.field(
        default=None, description="How urgent the case is. Null when it was not disclosed.")
    needs: list[Need] | None = strawberry.field(default=None, description=(
        "The needs the referral is for (a report: the caller's needs). Null when it was not "
        "disclosed."))
    indicators: list[Indicator] | None = strawberry.field(default=None, description=(
        "The trafficking indicators recorded. Null when it was not disclosed."))
    brief: str | None = strawberry.field(default=None, description=(
        "The brief the hotline wrote for you. Null when it was not disclosed."))
    # Which item (referral or report) of which case this copy was disclosed with.
    _item: strawberry.Private[tuple[str, str] | None] = None

    def access_key(self) -> tuple[str, str, str | None] | None:
        return None if self._item is None else ("DisclosedCopy", self._item[0], self._item[1])


def _copy(ctx: Context, case_id: str, item: dict[str, Any]) -> DisclosedCopy | None:
    if not item.get("sealedCopy"):
        return None  # nothing was sent, or the case's personal data was erased
    copy = ctx.system.app.open_sealed(UUID(case_id), item["sealedCopy"])
    if copy is None:
        return None  # the case's personal data was erased: nothing can be read
    location = copy.get("LOCATION") or {}
    return DisclosedCopy(
        _item=(item["id"], case_id),
        caller_name=copy.get("CALLER_NAME"), caller_phone=copy.get("CALLER_PHONE"),
        caller_email=copy.get("CALLER_EMAIL"),
        caller_other_contact=copy.get("CALLER_OTHER_CONTACT"),
        province=location.get("province"), municipality=location.get("municipality"),
        language=copy.get("LANGUAGE"), minor_involved=copy.get("MINOR_INVOLVED"),
        situation_type=copy.get("SITUATION_TYPE"), urgency=copy.get("URGENCY"),
        needs=copy.get("NEEDS"), indicators=copy.get("INDICATORS"), brief=copy.get("BRIEF"))


@strawberry.type(description=(
    "A referral addressed to your organization: read by its partners only, and only what was "
    "disclosed."))
class ReferralInboxItem:
    id: strawberry.ID = strawberry.field(description="The referral's id.")
    mode: ReferralMode = strawberry.field(description="How the referral was made.")
    needs: list[Need] = strawberry.field(description="The needs it is for.")
    at: str = strawberry.field(description="When it was made (ISO 8601, UTC).")
    fields: list[DisclosableField] = strawberry.field(
        description="Which fields were disclosed to you with it.")
    disclosed: DisclosedCopy | None = strawberry.field(description=(
        "What was disclosed to you; null when nothing was sent, or once the caller's data was "
        "erased."))
    outcomes: list[ReferralOutcome] = strawberry.field(
        description="The outcomes your organization has reported, oldest first.")
    _case_id: strawberry.Private[str] = ""

    def access_key(self) -> tuple[str, str, str | None]:
        return "ReferralInboxItem", str(self.id), self._case_id


@strawberry.type(description=(
    "A report addressed to your agency: read by its law-enforcement liaisons only, and only "
    "what was disclosed."))
class ReportInboxItem:
    id: strawberry.ID = strawberry.field(description="The report's id.")
    at: str = strawberry.field(description="When it was made (ISO 8601, UTC).")
    fields: list[DisclosableField] = strawberry.field(
        description="Which fields were disclosed to you with it.")
    disclosed: DisclosedCopy | None = strawberry.field(
        description="What was disclosed to you; null once the caller's data was erased.")
    _case_id: strawberry.Private[str] = ""

    def access_key(self) -> tuple[str, str, str | None]:
        return "ReportInboxItem", str(self.id), self._case_id


def _referral_item(ctx: Context, item: dict[str, Any]) -> ReferralInboxItem:
    return ReferralInboxItem(id=item["id"], mode=item["mode"], needs=item["needs"],
                             at=item["at"], fields=item["fields"],
                             disclosed=_copy(ctx, item["caseId"], item),
                             outcomes=[_outcome(o, _opener(ctx, item["caseId"]))
                                       for o in item["outcomes"]],
                             _case_id=item["caseId"])


def _report_item(ctx: Context, item: dict[str, Any]) -> ReportInboxItem:
    return ReportInboxItem(id=item["id"], at=item["at"], fields=item["fields"],
                           disclosed=_copy(ctx, item["caseId"], item), _case_id=item["caseId"])


@strawberry.type(description=(
    "An entry of the disclosure ledger: who disclosed which fields of which case to whom, "
    "when and on what basis; never the values. Read by staff, supervisors and compliance "
    "officers."))
class LedgerEntry:
    id: strawberry.ID = strawberry.field(description="The disclosure's id.")
    case_id: strawberry.ID = strawberry.field(description="The case it was made from.")
    recipient_kind: RecipientKind = strawberry.field(description="Who the information went to.")
    recipient_id: strawberry.ID | None = strawberry.field(
        description="The organization or agency it went to (null for emergency services).")
    fields: list[DisclosableField] = strawberry.field(
        description="Which fields left (their names, never their values).")
    consent_id: strawberry.ID | None = strawberry.field(
        description="The consent it relied on; null under an exception.")
    exception: Exception_ | None = strawberry.field(
        description="The exception a supervisor authorized; null under a consent.")
    justification: str = strawberry.field(
        description="The supervisor's written justification for an exception.")
    at: str = strawberry.field(description="When it was recorded (ISO 8601, UTC).")
    by: str = strawberry.field(description="The user id of whoever disclosed.")
    by_role: str = strawberry.field(description="Their role.")
    policy_version: str | None = strawberry.field(default=None, description=(
        "The confidentiality policy in force (a hash of its files); null for disclosures recorded "
        "before versions were kept."))

    def access_key(self) -> tuple[str, str, str | None]:
        return "LedgerEntry", str(self.id), str(self.case_id)


@strawberry.type(description="A page of cases.")
class CasePage:
    items: list[Case] = strawberry.field(description="This page of cases, newest first.")
    page_info: PageInfo = strawberry.field(
        description="Whether more cases follow, and where this page ends.")


@strawberry.type(description="A page of the disclosure ledger.")
class LedgerPage:
    items: list[LedgerEntry] = strawberry.field(
        description="This page of disclosures, newest first.")
    page_info: PageInfo = strawberry.field(
        description="Whether more follow, and where this page ends.")


@strawberry.type(description="A count of cases that consented to statistics; null when too "
                             "small to publish.")
class StatisticsCell:
    value: str = strawberry.field(
        description="The value counted (a month, a province code, an enum value).")
    count: int | None = strawberry.field(description=(
        "How many consenting cases, rounded to a multiple of the publication threshold; null when "
        "too small to publish."))


# -- inputs ------------------------------------------------------------------------------------

@strawberry.input(description=(
    "The caller's personal data: sealed with the case's own key before it is stored."))
class CallerInput:
    name: str | None = strawberry.field(
        default=None, description="The caller's name, if they give it.")
    phone: str | None = strawberry.field(default=None, description=(
        "The caller's phone number, if they give it (it also finds their earlier cases)."))
    email: str | None = strawberry.field(
        default=None, description="The caller's email address, if they give it.")
    other_contact: str | None = strawberry.field(
        default=None, description="Another way to reach the caller, if they give one.")


@strawberry.input(description=(
    "A case's details. On an update, each field given replaces the one recorded; omitted ones "
    "stay."))
class CaseDetailsInput:
    province: str | None = strawberry.field(
        default=None, description="The province or territory of the case (ISO 3166-2:CA code).")
    municipality: str | None = strawberry.field(default=None, description=(
        "The municipality of the case (no personal data: it is not sealed)."))
    minor_involved: Tristate | None = strawberry.field(
        default=None, description="Whether a minor is or may be involved.")
    situation_type: SituationType | None = strawberry.field(
        default=None, description="The kind of situation.")
    urgency: Urgency | None = strawberry.field(default=None, description="How urgent the case is.")
    imminent_harm: bool | None = strawberry.field(
        default=None, description="Whether the caller or others are in imminent danger.")
    needs: list[Need] | None = strawberry.field(default=None, description="The caller's needs.")
    indicators: list[Indicator] | None = strawberry.field(
        default=None, description="The trafficking indicators recorded.")
    assigned_to: str | None = strawberry.field(
        default=None, description="The user id of the staff member to assign the case to.")


@strawberry.input(description="A new case, from a call, text, chat, email or web form.")
class OpenCaseInput:
    channel: Channel = strawberry.field(description="How the caller reached the hotline.")
    language: str = strawberry.field(description="The caller's language (ISO 639-1 or 639-3 code).")
    relationship: CallerRelationship = strawberry.field(
        description="Who the caller is to the situation.")
    caller: CallerInput | None = strawberry.field(default=None, description=(
        "The caller's personal data, all of it optional: the caller may stay anonymous."))
    notes: str | None = strawberry.field(
        default=None, description="Staff's notes (sealed with the case's key).")
    assessment: str | None = strawberry.field(default=None, description=(
        "Staff's assessment of the situation (sealed with the case's key)."))
    details: CaseDetailsInput | None = strawberry.field(
        default=None, description="The case's details.")


@strawberry.input(description=(
    "Filters on cases combine with AND; values within one filter with OR."))
class CaseFilter:
    open: bool | None = strawberry.field(
        default=None, description="Only open cases (true) or closed ones (false).")
    urgencies: list[Urgency] | None = strawberry.field(
        default=None, description="Cases of any of these urgencies.")
    provinces: list[str] | None = strawberry.field(default=None, description=(
        "Cases in any of these provinces or territories (ISO 3166-2:CA codes)."))
    situation_types: list[SituationType] | None = strawberry.field(
        default=None, description="Cases of any of these kinds.")
    assigned_to: str | None = strawberry.field(
        default=None, description="Cases assigned to this user id.")
    opened_after: str | None = strawberry.field(
        default=None, description="Cases opened at or after this moment (ISO 8601).")
    opened_before: str | None = strawberry.field(
        default=None, description="Cases opened before this moment (ISO 8601).")
    caller_phone: str | None = strawberry.field(
        default=None, description="Finds earlier cases from the same phone (a keyed lookup)")


@strawberry.input(description=(
    "The factors weighed in reporting to law enforcement: every one is required, in the "
    "supervisor's words (sealed with the case's key)."))
class ReportFactorsInput:
    urgency: str = strawberry.field(description="The urgency, as weighed.")
    imminent_harm: str = strawberry.field(description="Imminent harm to the caller or others.")
    minor_involved: str = strawberry.field(description="Whether a minor is involved.")
    indicators_present: str = strawberry.field(description="The trafficking indicators present.")
    callers_wishes: str = strawberry.field(description="The caller's wishes.")
    level_of_detail: str = strawberry.field(description="The level of detail available.")
    applicable_law: str = strawberry.field(description="The law that applies.")
    local_protocol: str = strawberry.field(description="The local reporting protocol.")


@strawberry.type(description="What a case command did; a repeated key returns the first result.")
class CaseResult:
    case_id: strawberry.ID = strawberry.field(
        description="The id of the case the command acted on.")
    version: int = strawberry.field(description="The case's version after the command.")
    replayed: bool = strawberry.field(
        description="True when the idempotency key had been used: nothing was written again.")
    case: Case | None = strawberry.field(description="The case after the command.")


@strawberry.type(description=(
    "What reporting a referral's outcome did; a repeated key returns the first result."))
class ReferralOutcomeResult:
    referral_id: strawberry.ID = strawberry.field(description="The referral's id.")
    replayed: bool = strawberry.field(
        description="True when the idempotency key had been used: nothing was written again.")
    referral: ReferralInboxItem | None = strawberry.field(
        description="The referral as your inbox now shows it.")


# -- queries -------------------------------------------------------------------------------------

def _page(first: int, limit: int) -> None:
    if not 1 <= first <= limit:
        raise InvalidInput([f"first must be between 1 and {limit}"])


def _cursor(at: str, item_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([at, item_id]).encode()).decode()


def _after(after: str | None) -> tuple[str, str] | None:
    if after is None:
        return None
    try:
        at, item_id = json.loads(base64.urlsafe_b64decode(after.encode()))
        UUID(item_id)
        if not isinstance(at, str) or len(at) > 40 or not at.isprintable():
            raise ValueError
    except (ValueError, TypeError, UnicodeError):
        raise InvalidInput(["after: not a cursor returned by this API"]) from None
    return at, item_id


def _instant(value: str | None, name: str) -> str | None:
    if value is None:
        return None
    try:
        return iso(parse_moment(value))
    except ValueError as error:
        raise InvalidInput([f"{name}: {error}"]) from None


@strawberry.type
class CaseQueries:
    @strawberry.field(description=(
        "Cases, newest first: hotline staff and supervisors only (no other role may ask). "
        "Every case read is in the access log."))
    async def cases(self, info: Info[Context, None],
                    filter: Annotated[CaseFilter | None, strawberry.argument(
                        description="Narrows the cases.")] = None,
                    first: First = 20, after: After = None) -> CasePage:
        ctx = info.context
        _page(first, ctx.system.settings.max_page_size)
        f = filter or CaseFilter()
        ctx.check_filters("CaseFilter", f)
        parse_codes(f.provinces or [], [])
        if f.caller_phone:
            ctx.rate_limit("lookup")  # finding callers by number, one guess at a time
        lookup = ctx.system.vault.lookup_key(f.caller_phone) if f.caller_phone else None
        query = Filter(open=f.open, urgencies=[u.value for u in f.urgencies or []],
                       provinces=f.provinces or [],
                       situation_types=[s.value for s in f.situation_types or []],
                       assigned_to=f.assigned_to,
                       opened_after=_instant(f.opened_after, "openedAfter"),
                       opened_before=_instant(f.opened_before, "openedBefore"),
                       phone_lookup=lookup)
        docs = await ctx.run(ctx.cases.search, query, first + 1, _after(after))
        # Whether any case matches is itself confidential, an empty answer too.
        ctx.reads.searched("Query.cases", (camel(k) for k, v in vars(f).items() if v is not None),
                           (("Case", doc["id"], doc["id"]) for doc in docs[:first]))
        wanted = selected(info, "items")
        # One thread hop for the page: opening sealed data is blocking store work.
        items = await ctx.run(lambda: [_case(ctx, doc, wanted) for doc in docs[:first]])
        last = docs[len(items) - 1] if items else None
        end = _cursor(last["openedAt"], last["id"]) if last else None
        return CasePage(items=items, page_info=PageInfo(has_next_page=len(docs) > first,
                                                        end_cursor=end))

    @strawberry.field(description=(
        "One case, or null: hotline staff and supervisors only. The read is in the access "
        "log."))
    async def case(self, info: Info[Context, None], id: CaseId) -> Case | None:
        ctx = info.context
        clean = parse_id(str(id))
        doc = None if clean is None else await ctx.run(ctx.cases.get, clean)
        return None if doc is None else await ctx.run(_case, ctx, doc, selected(info))

    @strawberry.field(description=(
        "Referrals addressed to your organization, newest first (partners; empty once the "
        "organization is no longer included)."))
    async def referral_inbox(self, info: Info[Context, None],
                             first: First = 20) -> list[ReferralInboxItem]:
        return await _inbox(info.context, "referral_inbox", first, _referral_item)

    @strawberry.field(description=(
        "One referral addressed to your organization, or null: one addressed elsewhere answers "
        "as one that does not exist."))
    async def referral(self, info: Info[Context, None],
                       id: Annotated[strawberry.ID, strawberry.argument(
                           description="The referral's id.")]) -> ReferralInboxItem | None:
        return await _one(info.context, "referral_inbox", str(id), _referral_item)

    @strawberry.field(description=(
        "Reports addressed to your agency, newest first (law-enforcement liaisons)."))
    async def report_inbox(self, info: Info[Context, None],
                           first: First = 20) -> list[ReportInboxItem]:
        return await _inbox(info.context, "report_inbox", first, _report_item)

    @strawberry.field(description=(
        "One report addressed to your agency, or null: one addressed elsewhere answers as one "
        "that does not exist."))
    async def report(self, info: Info[Context, None],
                     id: Annotated[strawberry.ID, strawberry.argument(
                         description="The report's id.")]) -> ReportInboxItem | None:
        return await _one(info.context, "report_inbox", str(id), _report_item)

    @strawberry.field(description="Every disclosure, newest first: who, to whom, which fields, "
                                  "on which basis. Never the values. Staff, supervisors and "
                                  "compliance officers.")
    async def disclosure_ledger(self, info: Info[Context, None], first: First = 20,
                                after: After = None) -> LedgerPage:
        ctx = info.context
        _page(first, ctx.system.settings.max_page_size)
        entries = await ctx.run(ctx.cases.ledger, first + 1, _after(after))
        ctx.reads.searched("Query.disclosureLedger", (),
                           (("LedgerEntry", e["id"], e["caseId"]) for e in entries[:first]))
        # A justification is free text staff wrote on the case: it opens for those who may
        # read the case's own disclosures, and reads as the audit trail shows it to the others
        # (compliance): masked, since it can hold the caller's personal data.
        opens = ctx.system.policy.allows(ctx.role, "Disclosure.justification")

        def entry(e: dict[str, Any]) -> LedgerEntry:
            text = e["justification"]
            opened: dict[str, Any] = {
                **e, "justification": ctx.system.app.open_text(UUID(e["caseId"]), text)
                if opens else plain(text)}
            return LedgerEntry(**{snake(k): v for k, v in opened.items()})

        items = await ctx.run(lambda: [entry(e) for e in entries[:first]])
        last = entries[len(items) - 1] if items else None
        end = _cursor(last["at"], last["id"]) if last else None
        return LedgerPage(items=items, page_info=PageInfo(has_next_page=len(entries) > first,
                                                          end_cursor=end))

    @strawberry.field(description="De-identified counts of cases that consented to statistics, "
                                  "opened in completed months, by one dimension; small counts "
                                  "are suppressed and the others rounded. Everyone.")
    async def statistics(self, info: Info[Context, None],
                         dimension: Annotated[StatisticsDimension, strawberry.argument(
                             description="What to count the cases by.")],
                         ) -> list[StatisticsCell]:
        ctx = info.context
        cells = await ctx.run(ctx.cases.statistics, dimension.value,
                              datetime.now(UTC), ctx.system.settings.statistics_threshold)
        return [StatisticsCell(value=v, count=n) for v, n in cells]


async def _still_included(ctx: Context, organization_id: str) -> bool:
    """An organization removed (or otherwise no longer included) reads nothing more."""
    doc = await ctx.run(ctx.system.directory.get, INTERNAL, organization_id)
    return doc is not None and doc["status"] == Status.INCLUDED.value


_INBOX_TYPES = {"referral_inbox": "ReferralInboxItem", "report_inbox": "ReportInboxItem"}


async def _inbox(ctx: Context, table: str, first: int,
                 build: Callable[[Context, dict[str, Any]], T]) -> list[T]:
    """The caller's own inbox: only items addressed to its organization, newest first."""
    _page(first, ctx.system.settings.max_page_size)
    owner = ctx.principal.organization_id
    if owner is None or not await _still_included(ctx, owner):
        return []
    items = await ctx.run(ctx.cases.inbox, table, owner, first)
    # Whether anything was addressed to the caller is confidential, an empty inbox too.
    ctx.reads.searched(f"Query.{camel(table)}", (),
                       ((_INBOX_TYPES[table], item["id"], item["caseId"]) for item in items))
    return await ctx.run(lambda: [build(ctx, item) for item in items])


async def _one(ctx: Context, table: str, item_id: str,
               build: Callable[[Context, dict[str, Any]], T]) -> T | None:
    found = await _inbox_item(ctx, table, item_id)
    return None if found is None else await ctx.run(build, ctx, found)


async def _inbox_item(ctx: Context, table: str, item_id: str) -> dict[str, Any] | None:
    """The item if it is addressed to the caller's organization; otherwise None, exactly as
    for an item that does not exist."""
    clean = parse_id(item_id)
    owner = ctx.principal.organization_id
    if clean is None or owner is None or not await _still_included(ctx, owner):
        return None
    found = await ctx.run(ctx.cases.inbox_item, table, clean, owner)
    if found is None:
        return None
    case_id, item = found
    return {**item, "caseId": case_id}


# -- mutations -----------------------------------------------------------------------------------

async def _case_result(info: Info[Context, None], outcome: Outcome) -> CaseResult:
    ctx = info.context
    case = None
    if "case" in selected(info):  # the case's read model, only when asked for
        doc = await ctx.run(ctx.cases.get, str(outcome.id))
        case = None if doc is None else await ctx.run(_case, ctx, doc, selected(info, "case"))
    return CaseResult(case_id=strawberry.ID(str(outcome.id)), version=outcome.version,
                      replayed=outcome.replayed, case=case)


def _case_id(ctx: Context, coordinate: str, case_id: str) -> UUID:
    ctx.authorize(coordinate, None, "case")
    clean = parse_id(case_id)
    if clean is None:
        raise NotFound("case not found")
    return UUID(clean)


def _optional_id(value: strawberry.ID | None, name: str) -> UUID | None:
    return None if value is None else _required_id(value, name)


def _required_id(value: strawberry.ID, name: str) -> UUID:
    clean = parse_id(str(value))
    if clean is None:
        raise InvalidInput([f"{name} must be an id"])
    return UUID(clean)


@strawberry.type
class CaseMutations:
    @strawberry.mutation(description="Open a case (staff and supervisors).")
    async def open_case(self, info: Info[Context, None], idempotency_key: IdempotencyKey,
                        input: Annotated[OpenCaseInput, strawberry.argument(
                            description="The new case.")]) -> CaseResult:
        ctx = info.context
        ctx.authorize("Mutation.openCase", None, "case")
        personal = {**to_plain(input.caller or CallerInput()), "notes": input.notes,
                    "assessment": input.assessment}
        details = to_plain(input.details or CaseDetailsInput())
        outcome = await ctx.command(lambda: ctx.system.app.open_case(
            idempotency_key, input.channel, input.language, input.relationship, personal,
            details))
        return await _case_result(info, outcome)

    @strawberry.mutation(description="Update an open case's details (staff and supervisors).")
    async def update_case(self, info: Info[Context, None], idempotency_key: IdempotencyKey,
                          id: CaseId, details: Annotated[CaseDetailsInput, strawberry.argument(
                              description="The details that change.")]) -> CaseResult:
        ctx = info.context
        case_id = _case_id(ctx, "Mutation.updateCase", str(id))
        outcome = await ctx.command(lambda: ctx.system.app.update_case(
            idempotency_key, case_id, to_plain(details)))
        return await _case_result(info, outcome)

    @strawberry.mutation(description=(
        "Record a supervisor's decision on a potential trafficking case (supervisors)."))
    async def record_supervisor_decision(self, info: Info[Context, None],
                                         idempotency_key: IdempotencyKey, id: CaseId,
                                         decision: Annotated[str, strawberry.argument(
                                             description="The decision, in their words.")],
                                         ) -> CaseResult:
        ctx = info.context
        case_id = _case_id(ctx, "Mutation.recordSupervisorDecision", str(id))
        outcome = await ctx.command(lambda: ctx.system.app.consult_supervisor(
            idempotency_key, case_id, decision))
        return await _case_result(info, outcome)

    @strawberry.mutation(description="Record a caller's consent (staff and supervisors).")
    async def grant_consent(self, info: Info[Context, None], idempotency_key: IdempotencyKey,
                            id: CaseId,
                            scope: Annotated[ConsentScope, strawberry.argument(
                                description="What the consent allows.")],
                            given_by: Annotated[ConsentGiver, strawberry.argument(
                                description="Who gave it.")],
                            method: Annotated[ConsentMethod, strawberry.argument(
                                description="How it was given.")],
                            recipient_id: Annotated[strawberry.ID | None, strawberry.argument(
                                description=("The organization it names (required to share "
                                             "with one), or the one agency a report may go "
                                             "to."))] = None,
                            expires_at: Annotated[str | None, strawberry.argument(
                                description=("When it lapses (ISO 8601, in the future); "
                                             "omitted, it stands until withdrawn."))] = None,
                            ) -> CaseResult:
        ctx = info.context
        case_id = _case_id(ctx, "Mutation.grantConsent", str(id))
        recipient = _optional_id(recipient_id, "recipientId")
        expiry = _instant(expires_at, "expiresAt")
        moment = None if expiry is None else datetime.strptime(
            expiry, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        outcome = await ctx.command(lambda: ctx.system.app.grant_consent(
            idempotency_key, case_id, scope, recipient, given_by, method, moment))
        return await _case_result(info, outcome)

    @strawberry.mutation(description=(
        "Withdraw a consent: it stops future disclosures; past ones stay on record (staff and "
        "supervisors)."))
    async def withdraw_consent(self, info: Info[Context, None],
                               idempotency_key: IdempotencyKey, id: CaseId,
                               consent_id: Annotated[strawberry.ID, strawberry.argument(
                                   description="The consent's id.")]) -> CaseResult:
        ctx = info.context
        case_id = _case_id(ctx, "Mutation.withdrawConsent", str(id))
        consent = _required_id(consent_id, "consentId")
        outcome = await ctx.command(lambda: ctx.system.app.withdraw_consent(
            idempotency_key, case_id, consent))
        return await _case_result(info, outcome)

    @strawberry.mutation(description="Refers the caller to an included organization, with a "
                                     "brief disclosed under a consent or an exception (staff "
                                     "and supervisors; an exception, supervisors only).")
    async def refer_case(self, info: Info[Context, None], idempotency_key: IdempotencyKey,
                         id: CaseId,
                         organization_id: Annotated[strawberry.ID, strawberry.argument(
                             description=("The organization: included, and not a "
                                          "law-enforcement agency."))],
                         mode: Annotated[ReferralMode, strawberry.argument(
                             description="How the referral is made.")],
                         needs: Annotated[list[Need], strawberry.argument(
                             description="The needs it is for.")],
                         fields: Annotated[list[DisclosableField] | None, strawberry.argument(
                             description=("The fields to disclose to the organization (NEEDS, "
                                          "and BRIEF with a brief, are added). Omitted with no "
                                          "brief, nothing is sent: a referral relayed to the "
                                          "caller."))] = None,
                         brief: Brief = "", exception: Basis = None,
                         justification: Justification = "") -> CaseResult:
        ctx = info.context
        case_id = _case_id(ctx, "Mutation.referCase", str(id))
        ctx.rate_limit("disclosure")
        organization = _required_id(organization_id, "organizationId")
        outcome = await ctx.command(lambda: ctx.system.app.refer(
            idempotency_key, case_id, organization, mode, needs, fields or [], brief,
            exception, justification))
        return await _case_result(info, outcome)

    @strawberry.mutation(description=(
        "Report the case to a law-enforcement agency under its reporting protocol, with the "
        "factors weighed (supervisors)."))
    async def report_to_law_enforcement(
        self, info: Info[Context, None], idempotency_key: IdempotencyKey, id: CaseId,
        protocol_id: Annotated[strawberry.ID, strawberry.argument(description=(
            "The reporting protocol to report under: its agency receives the report."))],
        factors: Annotated[ReportFactorsInput, strawberry.argument(
            description="The factors weighed.")],
        fields: Annotated[list[DisclosableField], strawberry.argument(
            description="The fields to disclose to the agency.")],
        brief: Brief = "", exception: Basis = None, justification: Justification = "",
    ) -> CaseResult:
        ctx = info.context
        case_id = _case_id(ctx, "Mutation.reportToLawEnforcement", str(id))
        ctx.rate_limit("disclosure")
        protocol = _required_id(protocol_id, "protocolId")
        outcome = await ctx.command(lambda: ctx.system.app.report_to_law_enforcement(
            idempotency_key, case_id, protocol, to_plain(factors), fields, brief, exception,
            justification))
        return await _case_result(info, outcome)

    @strawberry.mutation(description=(
        "Record a call to emergency services for the case's province or territory: 911, or "
        "the configured number in the Northwest Territories and Nunavut (staff and "
        "supervisors). Anything disclosed needs a supervisor's exception."))
    async def contact_emergency_services(
        self, info: Info[Context, None], idempotency_key: IdempotencyKey, id: CaseId,
        fields: Annotated[list[DisclosableField] | None, strawberry.argument(
            description="The fields disclosed to emergency services, if any.")] = None,
        brief: Brief = "", exception: Basis = None, justification: Justification = "",
    ) -> CaseResult:
        ctx = info.context
        case_id = _case_id(ctx, "Mutation.contactEmergencyServices", str(id))
        outcome = await ctx.command(lambda: ctx.system.app.contact_emergency_services(
            idempotency_key, case_id, fields or [], brief, exception, justification))
        return await _case_result(info, outcome)

    @strawberry.mutation(description="Close an open case (staff and supervisors).")
    async def close_case(self, info: Info[Context, None], idempotency_key: IdempotencyKey,
                         id: CaseId, reason: Annotated[str, strawberry.argument(
                             description="Why it is closed.")]) -> CaseResult:
        ctx = info.context
        case_id = _case_id(ctx, "Mutation.closeCase", str(id))
        outcome = await ctx.command(lambda: ctx.system.app.close_case(
            idempotency_key, case_id, reason))
        return await _case_result(info, outcome)

    @strawberry.mutation(description="Reopen a closed case (staff and supervisors).")
    async def reopen_case(self, info: Info[Context, None], idempotency_key: IdempotencyKey,
                          id: CaseId, reason: Annotated[str, strawberry.argument(
                              description="Why it is reopened.")]) -> CaseResult:
        ctx = info.context
        case_id = _case_id(ctx, "Mutation.reopenCase", str(id))
        outcome = await ctx.command(lambda: ctx.system.app.reopen_case(
            idempotency_key, case_id, reason))
        return await _case_result(info, outcome)

    @strawberry.mutation(description="A partner reports what became of a referral to it.")
    async def report_referral_outcome(self, info: Info[Context, None],
                                      idempotency_key: IdempotencyKey,
                                      referral_id: Annotated[strawberry.ID, strawberry.argument(
                                          description="The referral's id.")],
                                      outcome: Annotated[ReferralOutcomeKind, strawberry.argument(
                                          description="What became of it.")],
                                      note: Annotated[str, strawberry.argument(
                                          description="A note for the hotline.")] = "",
                                      ) -> ReferralOutcomeResult:
        ctx = info.context
        found = await _inbox_item(ctx, "referral_inbox", str(referral_id))
        ctx.authorize("Mutation.reportReferralOutcome",
                      ctx.principal.organization_id if found else None, "referral")
        if found is None:
            raise NotFound("referral not found")
        org = str(ctx.principal.organization_id)
        result = await ctx.command(lambda: ctx.system.app.report_referral_outcome(
            idempotency_key, UUID(found["caseId"]), UUID(found["id"]), org, outcome, note))
        again = await _inbox_item(ctx, "referral_inbox", found["id"])
        return ReferralOutcomeResult(
            referral_id=strawberry.ID(found["id"]), replayed=result.replayed,
            referral=None if again is None else await ctx.run(_referral_item, ctx, again))
