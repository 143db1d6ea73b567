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
from typing import Any, TypeVar
from uuid import UUID

import strawberry
from strawberry.types import Info

from api.context import Context, parse_id, snake
from api.schema.common import PageInfo, selected, to_plain
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
from projections.audit import parse_moment
from projections.cases import CaseFilter as Filter
from projections.directory import INTERNAL

T = TypeVar("T")

for _enum in (Channel, CallerRelationship, Tristate, SituationType, Urgency, Need, ConsentScope,
              ConsentGiver, ConsentMethod, DisclosableField, RecipientKind, Indicator,
              ReferralMode, ReferralOutcomeKind):
    strawberry.enum(_enum)
strawberry.enum(Exception_, name="DisclosureException")


class StatisticsDimension(StrEnum):
    MONTH = "month"
    PROVINCE = "province"
    SITUATION_TYPE = "situationType"
    NEED = "need"


strawberry.enum(StatisticsDimension)

# -- output types ------------------------------------------------------------------------------


@strawberry.type
class Consent:
    id: strawberry.ID
    scope: ConsentScope
    recipient_id: strawberry.ID | None
    given_by: ConsentGiver
    method: ConsentMethod
    expires_at: str | None
    recorded_by: str
    granted_at: str
    withdrawn_at: str | None


@strawberry.type(description="A record of information leaving the hotline: names, not values.")
class Disclosure:
    id: strawberry.ID
    recipient_kind: RecipientKind
    recipient_id: strawberry.ID | None
    fields: list[DisclosableField]
    consent_id: strawberry.ID | None
    exception: Exception_ | None
    justification: str
    at: str
    by: str
    by_role: str


@strawberry.type
class ReferralOutcome:
    at: str
    outcome: ReferralOutcomeKind
    note: str


@strawberry.type
class CaseReferral:
    id: strawberry.ID
    organization_id: strawberry.ID
    mode: ReferralMode
    needs: list[Need]
    disclosure_id: strawberry.ID | None
    at: str
    outcomes: list[ReferralOutcome]


@strawberry.type
class ReportFactors:
    urgency: str
    imminent_harm: str
    minor_involved: str
    indicators_present: str
    callers_wishes: str
    level_of_detail: str
    applicable_law: str
    local_protocol: str


@strawberry.type
class CaseReport:
    id: strawberry.ID
    agency_id: strawberry.ID
    protocol_id: strawberry.ID
    factors: ReportFactors
    disclosure_id: strawberry.ID
    at: str
    by: str


@strawberry.type
class EmergencyCall:
    at: str
    province: str
    number: str
    disclosure_id: strawberry.ID | None


@strawberry.type
class Consultation:
    at: str
    supervisor_id: str
    decision: str


@strawberry.type
class CaseHistoryEntry:
    at: str
    what: str
    note: str


_PERSONAL = {"callerName": "name", "callerPhone": "phone", "callerEmail": "email",
             "callerOtherContact": "otherContact", "notes": "notes", "assessment": "assessment"}
_DETAILS = {"province": "province", "municipality": "municipality",
            "minorInvolved": "minorInvolved", "situationType": "situationType",
            "urgency": "urgency", "imminentHarm": "imminentHarm", "needs": "needs",
            "indicators": "indicators", "assignedTo": "assignedTo"}


@strawberry.type(description="A legal hold: while it stands, the caller's data cannot be erased.")
class LegalHoldView:
    at: str
    by: str
    reason: str


@strawberry.type(description="A hotline case. Caller personal data is opened only when asked for.")
class Case:
    id: strawberry.ID
    version: int | None = None
    open: bool | None = None
    channel: Channel | None = None
    language: str | None = None
    relationship: CallerRelationship | None = None
    has_personal_data: bool | None = None
    caller_name: str | None = None
    caller_phone: str | None = None
    caller_email: str | None = None
    caller_other_contact: str | None = None
    notes: str | None = None
    assessment: str | None = None
    province: str | None = None
    municipality: str | None = None
    minor_involved: Tristate | None = None
    situation_type: SituationType | None = None
    urgency: Urgency | None = None
    imminent_harm: bool | None = None
    needs: list[Need] | None = None
    indicators: list[Indicator] | None = None
    assigned_to: str | None = None
    opened_at: str | None = None
    updated_at: str | None = None
    consultations: list[Consultation] | None = None
    consents: list[Consent] | None = None
    disclosures: list[Disclosure] | None = None
    referrals: list[CaseReferral] | None = None
    reports: list[CaseReport] | None = None
    emergencies: list[EmergencyCall] | None = None
    history: list[CaseHistoryEntry] | None = None
    legal_hold: LegalHoldView | None = None
    personal_data_erased_at: str | None = None

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


@strawberry.type(description="Exactly what was disclosed to you; every other field is null.")
class DisclosedCopy:
    caller_name: str | None = None
    caller_phone: str | None = None
    caller_email: str | None = None
    caller_other_contact: str | None = None
    province: str | None = None
    municipality: str | None = None
    language: str | None = None
    minor_involved: Tristate | None = None
    situation_type: SituationType | None = None
    urgency: Urgency | None = None
    needs: list[Need] | None = None
    indicators: list[Indicator] | None = None
    brief: str | None = None
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


@strawberry.type(description="A referral addressed to your organization.")
class ReferralInboxItem:
    id: strawberry.ID
    mode: ReferralMode
    needs: list[Need]
    at: str
    fields: list[DisclosableField]
    disclosed: DisclosedCopy | None
    outcomes: list[ReferralOutcome]
    _case_id: strawberry.Private[str] = ""

    def access_key(self) -> tuple[str, str, str | None]:
        return "ReferralInboxItem", str(self.id), self._case_id


@strawberry.type(description="A report addressed to your agency.")
class ReportInboxItem:
    id: strawberry.ID
    at: str
    fields: list[DisclosableField]
    disclosed: DisclosedCopy | None
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


@strawberry.type
class LedgerEntry:
    id: strawberry.ID
    case_id: strawberry.ID
    recipient_kind: RecipientKind
    recipient_id: strawberry.ID | None
    fields: list[DisclosableField]
    consent_id: strawberry.ID | None
    exception: Exception_ | None
    justification: str
    at: str
    by: str
    by_role: str
    policy_version: str | None = None

    def access_key(self) -> tuple[str, str, str | None]:
        return "LedgerEntry", str(self.id), str(self.case_id)


@strawberry.type
class CasePage:
    items: list[Case]
    page_info: PageInfo


@strawberry.type
class LedgerPage:
    items: list[LedgerEntry]
    page_info: PageInfo


@strawberry.type(description="A count of cases that consented to statistics; null when too "
                             "small to publish.")
class StatisticsCell:
    value: str
    count: int | None


# -- inputs ------------------------------------------------------------------------------------

@strawberry.input
class CallerInput:
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    other_contact: str | None = None


@strawberry.input
class CaseDetailsInput:
    province: str | None = None
    municipality: str | None = None
    minor_involved: Tristate | None = None
    situation_type: SituationType | None = None
    urgency: Urgency | None = None
    imminent_harm: bool | None = None
    needs: list[Need] | None = None
    indicators: list[Indicator] | None = None
    assigned_to: str | None = None


@strawberry.input
class OpenCaseInput:
    channel: Channel
    language: str
    relationship: CallerRelationship
    caller: CallerInput | None = None
    notes: str | None = None
    assessment: str | None = None
    details: CaseDetailsInput | None = None


@strawberry.input
class CaseFilter:
    open: bool | None = None
    urgencies: list[Urgency] | None = None
    provinces: list[str] | None = None
    situation_types: list[SituationType] | None = None
    assigned_to: str | None = None
    opened_after: str | None = None
    opened_before: str | None = None
    caller_phone: str | None = strawberry.field(
        default=None, description="Finds earlier cases from the same phone (a keyed lookup)")


@strawberry.input
class ReportFactorsInput:
    urgency: str
    imminent_harm: str
    minor_involved: str
    indicators_present: str
    callers_wishes: str
    level_of_detail: str
    applicable_law: str
    local_protocol: str


@strawberry.type(description="What a case command did; a repeated key returns the first result.")
class CaseResult:
    case_id: strawberry.ID
    version: int
    replayed: bool
    case: Case | None


@strawberry.type
class ReferralOutcomeResult:
    referral_id: strawberry.ID
    replayed: bool
    referral: ReferralInboxItem | None


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
    @strawberry.field(description="Cases, newest first (hotline staff and supervisors).")
    async def cases(self, info: Info[Context, None], filter: CaseFilter | None = None,
                    first: int = 20, after: str | None = None) -> CasePage:
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
        docs = await ctx.run(ctx.system.cases.search, query, first + 1, _after(after))
        wanted = selected(info, "items")
        # One thread hop for the page: opening sealed data is blocking store work.
        items = await ctx.run(lambda: [_case(ctx, doc, wanted) for doc in docs[:first]])
        last = docs[len(items) - 1] if items else None
        end = _cursor(last["openedAt"], last["id"]) if last else None
        return CasePage(items=items, page_info=PageInfo(has_next_page=len(docs) > first,
                                                        end_cursor=end))

    @strawberry.field
    async def case(self, info: Info[Context, None], id: strawberry.ID) -> Case | None:
        ctx = info.context
        clean = parse_id(str(id))
        doc = None if clean is None else await ctx.run(ctx.system.cases.get, clean)
        return None if doc is None else await ctx.run(_case, ctx, doc, selected(info))

    @strawberry.field(description="Referrals addressed to your organization, newest first.")
    async def referral_inbox(self, info: Info[Context, None],
                             first: int = 20) -> list[ReferralInboxItem]:
        return await _inbox(info.context, "referral_inbox", first, _referral_item)

    @strawberry.field(description="One referral addressed to your organization, or null.")
    async def referral(self, info: Info[Context, None],
                       id: strawberry.ID) -> ReferralInboxItem | None:
        return await _one(info.context, "referral_inbox", str(id), _referral_item)

    @strawberry.field(description="Reports addressed to your agency, newest first.")
    async def report_inbox(self, info: Info[Context, None],
                           first: int = 20) -> list[ReportInboxItem]:
        return await _inbox(info.context, "report_inbox", first, _report_item)

    @strawberry.field(description="One report addressed to your agency, or null.")
    async def report(self, info: Info[Context, None],
                     id: strawberry.ID) -> ReportInboxItem | None:
        return await _one(info.context, "report_inbox", str(id), _report_item)

    @strawberry.field(description="Every disclosure, newest first: who, to whom, which fields, "
                                  "on which basis. Never the values.")
    async def disclosure_ledger(self, info: Info[Context, None], first: int = 20,
                                after: str | None = None) -> LedgerPage:
        ctx = info.context
        _page(first, ctx.system.settings.max_page_size)
        entries = await ctx.run(ctx.system.cases.ledger, first + 1, _after(after))
        def entry(e: dict[str, Any]) -> LedgerEntry:
            opened: dict[str, Any] = {
                **e, "justification": ctx.system.app.open_text(UUID(e["caseId"]),
                                                               e["justification"])}
            return LedgerEntry(**{snake(k): v for k, v in opened.items()})

        items = await ctx.run(lambda: [entry(e) for e in entries[:first]])
        last = entries[len(items) - 1] if items else None
        end = _cursor(last["at"], last["id"]) if last else None
        return LedgerPage(items=items, page_info=PageInfo(has_next_page=len(entries) > first,
                                                          end_cursor=end))

    @strawberry.field(description="De-identified counts of cases that consented to statistics, "
                                  "by one dimension; small counts are suppressed.")
    async def statistics(self, info: Info[Context, None],
                         dimension: StatisticsDimension) -> list[StatisticsCell]:
        ctx = info.context
        cells = await ctx.run(ctx.system.cases.statistics, dimension.value,
                              datetime.now(UTC), ctx.system.settings.statistics_threshold)
        return [StatisticsCell(value=v, count=n) for v, n in cells]


async def _still_included(ctx: Context, organization_id: str) -> bool:
    """An organization removed (or otherwise no longer included) reads nothing more."""
    doc = await ctx.run(ctx.system.directory.get, INTERNAL, organization_id)
    return doc is not None and doc["status"] == Status.INCLUDED.value


async def _inbox(ctx: Context, table: str, first: int,
                 build: Callable[[Context, dict[str, Any]], T]) -> list[T]:
    """The caller's own inbox: only items addressed to its organization, newest first."""
    _page(first, ctx.system.settings.max_page_size)
    owner = ctx.principal.organization_id
    if owner is None or not await _still_included(ctx, owner):
        return []
    items = await ctx.run(ctx.system.cases.inbox, table, owner, first)
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
    found = await ctx.run(ctx.system.cases.inbox_item, table, clean, owner)
    if found is None:
        return None
    case_id, item = found
    return {**item, "caseId": case_id}


# -- mutations -----------------------------------------------------------------------------------

async def _case_result(info: Info[Context, None], outcome: Outcome) -> CaseResult:
    ctx = info.context
    case = None
    if "case" in selected(info):  # the case's read model, only when asked for
        doc = await ctx.run(ctx.system.cases.get, str(outcome.id))
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
    @strawberry.mutation
    async def open_case(self, info: Info[Context, None], idempotency_key: str,
                        input: OpenCaseInput) -> CaseResult:
        ctx = info.context
        ctx.authorize("Mutation.openCase", None, "case")
        personal = {**to_plain(input.caller or CallerInput()), "notes": input.notes,
                    "assessment": input.assessment}
        details = to_plain(input.details or CaseDetailsInput())
        outcome = await ctx.command(lambda: ctx.system.app.open_case(
            idempotency_key, input.channel, input.language, input.relationship, personal,
            details))
        return await _case_result(info, outcome)

    @strawberry.mutation
    async def update_case(self, info: Info[Context, None], idempotency_key: str,
                          id: strawberry.ID, details: CaseDetailsInput) -> CaseResult:
        ctx = info.context
        case_id = _case_id(ctx, "Mutation.updateCase", str(id))
        outcome = await ctx.command(lambda: ctx.system.app.update_case(
            idempotency_key, case_id, to_plain(details)))
        return await _case_result(info, outcome)

    @strawberry.mutation(description="A supervisor's decision on a potential trafficking case.")
    async def record_supervisor_decision(self, info: Info[Context, None], idempotency_key: str,
                                         id: strawberry.ID,
                                         decision: str) -> CaseResult:
        ctx = info.context
        case_id = _case_id(ctx, "Mutation.recordSupervisorDecision", str(id))
        outcome = await ctx.command(lambda: ctx.system.app.consult_supervisor(
            idempotency_key, case_id, decision))
        return await _case_result(info, outcome)

    @strawberry.mutation
    async def grant_consent(self, info: Info[Context, None], idempotency_key: str,
                            id: strawberry.ID, scope: ConsentScope,
                            given_by: ConsentGiver, method: ConsentMethod,
                            recipient_id: strawberry.ID | None = None,
                            expires_at: str | None = None) -> CaseResult:
        ctx = info.context
        case_id = _case_id(ctx, "Mutation.grantConsent", str(id))
        recipient = _optional_id(recipient_id, "recipientId")
        expiry = _instant(expires_at, "expiresAt")
        moment = None if expiry is None else datetime.strptime(
            expiry, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        outcome = await ctx.command(lambda: ctx.system.app.grant_consent(
            idempotency_key, case_id, scope, recipient, given_by, method, moment))
        return await _case_result(info, outcome)

    @strawberry.mutation(description="Stops future disclosures; past ones stay on record.")
    async def withdraw_consent(self, info: Info[Context, None], idempotency_key: str,
                               id: strawberry.ID,
                               consent_id: strawberry.ID) -> CaseResult:
        ctx = info.context
        case_id = _case_id(ctx, "Mutation.withdrawConsent", str(id))
        consent = _required_id(consent_id, "consentId")
        outcome = await ctx.command(lambda: ctx.system.app.withdraw_consent(
            idempotency_key, case_id, consent))
        return await _case_result(info, outcome)

    @strawberry.mutation(description="Refers the caller to an included organization, with a "
                                     "brief disclosed under a consent or an exception.")
    async def refer_case(self, info: Info[Context, None], idempotency_key: str,
                         id: strawberry.ID, organization_id: strawberry.ID,
                         mode: ReferralMode, needs: list[Need],
                         fields: list[DisclosableField] | None = None, brief: str = "",
                         exception: Exception_ | None = None,
                         justification: str = "") -> CaseResult:
        ctx = info.context
        case_id = _case_id(ctx, "Mutation.referCase", str(id))
        ctx.rate_limit("disclosure")
        organization = _required_id(organization_id, "organizationId")
        outcome = await ctx.command(lambda: ctx.system.app.refer(
            idempotency_key, case_id, organization, mode, needs, fields or [], brief,
            exception, justification))
        return await _case_result(info, outcome)

    @strawberry.mutation(description="A supervisor reports to an agency under its protocol.")
    async def report_to_law_enforcement(
        self, info: Info[Context, None], idempotency_key: str, id: strawberry.ID,
        protocol_id: strawberry.ID, factors: ReportFactorsInput,
        fields: list[DisclosableField], brief: str = "", exception: Exception_ | None = None,
        justification: str = "",
    ) -> CaseResult:
        ctx = info.context
        case_id = _case_id(ctx, "Mutation.reportToLawEnforcement", str(id))
        ctx.rate_limit("disclosure")
        protocol = _required_id(protocol_id, "protocolId")
        outcome = await ctx.command(lambda: ctx.system.app.report_to_law_enforcement(
            idempotency_key, case_id, protocol, to_plain(factors), fields, brief, exception,
            justification))
        return await _case_result(info, outcome)

    @strawberry.mutation(description="911, or the configured number in the territories.")
    async def contact_emergency_services(
        self, info: Info[Context, None], idempotency_key: str, id: strawberry.ID,
        fields: list[DisclosableField] | None = None, brief: str = "",
        exception: Exception_ | None = None, justification: str = "",
    ) -> CaseResult:
        ctx = info.context
        case_id = _case_id(ctx, "Mutation.contactEmergencyServices", str(id))
        outcome = await ctx.command(lambda: ctx.system.app.contact_emergency_services(
            idempotency_key, case_id, fields or [], brief, exception, justification))
        return await _case_result(info, outcome)

    @strawberry.mutation
    async def close_case(self, info: Info[Context, None], idempotency_key: str,
                         id: strawberry.ID, reason: str) -> CaseResult:
        ctx = info.context
        case_id = _case_id(ctx, "Mutation.closeCase", str(id))
        outcome = await ctx.command(lambda: ctx.system.app.close_case(
            idempotency_key, case_id, reason))
        return await _case_result(info, outcome)

    @strawberry.mutation
    async def reopen_case(self, info: Info[Context, None], idempotency_key: str,
                          id: strawberry.ID, reason: str) -> CaseResult:
        ctx = info.context
        case_id = _case_id(ctx, "Mutation.reopenCase", str(id))
        outcome = await ctx.command(lambda: ctx.system.app.reopen_case(
            idempotency_key, case_id, reason))
        return await _case_result(info, outcome)

    @strawberry.mutation(description="A partner reports what became of a referral to it.")
    async def report_referral_outcome(self, info: Info[Context, None], idempotency_key: str,
                                      referral_id: strawberry.ID, outcome: ReferralOutcomeKind,
                                      note: str = "") -> ReferralOutcomeResult:
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
