"""Case commands, and the recipients' own: a partner's answer to a referral and report of its
outcome, a liaison's acknowledgement of a report."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

import strawberry
from strawberry.types import Info

from api.context import Context, parse_id
from api.ratelimit import RateLimited
from api.schema.cases.enums import (
    ConsentGiver,
    ConsentMethod,
    ConsentScope,
    DeclineReason,
    DisclosableField,
    Need,
    ReferralAnswerKind,
    ReferralMode,
    ReferralOutcomeKind,
)
from api.schema.cases.inbox import (
    ReferralOutcomeResult,
    ReportAcknowledgementResult,
    find_inbox_item,
    referral_item,
    report_item,
)
from api.schema.cases.inputs import (
    Basis,
    Brief,
    CallerInput,
    CaseDetailsInput,
    CaseId,
    Justification,
    OpenCaseInput,
    ReportFactorsInput,
    instant,
)
from api.schema.cases.types import (
    Case,
    CaseResult,
    EmergencyContactResult,
    build_case,
    emergency_number,
)
from api.schema.common import IdempotencyKey, selected, to_plain
from domain.base import InvalidInput, NotFound
from domain.write_path import Outcome
from projections.cases import InboxItem


async def _case_of(info: Info[Context, None], outcome: Outcome) -> Case | None:
    ctx = info.context
    if "case" not in selected(info):  # the case's read model, only when asked for
        return None
    doc = await ctx.run(ctx.cases.get, str(outcome.id))
    return None if doc is None else await ctx.run(build_case, ctx, doc, selected(info, "case"))


async def _case_result(info: Info[Context, None], outcome: Outcome) -> CaseResult:
    case = await _case_of(info, outcome)
    return CaseResult(
        case_id=strawberry.ID(str(outcome.id)),
        version=outcome.version,
        replayed=outcome.replayed,
        case=case,
    )


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


async def _addressed(
    ctx: Context, table: str, coordinate: str, item_id: str, what: str
) -> InboxItem:
    """The inbox item addressed to the caller's own organization that a recipient's command
    acts on; another's is refused exactly as a missing one."""
    found = await find_inbox_item(ctx, table, item_id)
    ctx.authorize(coordinate, ctx.principal.organization_id if found else None, what)
    if found is None:
        raise NotFound(f"{what} not found")
    return found


async def _referral_result(
    ctx: Context, found: InboxItem, command: Callable[[], Outcome]
) -> ReferralOutcomeResult:
    result = await ctx.command(command)
    again = await find_inbox_item(ctx, "referral_inbox", found["id"])
    return ReferralOutcomeResult(
        referral_id=strawberry.ID(found["id"]),
        replayed=result.replayed,
        referral=None if again is None else await ctx.run(referral_item, ctx, again),
    )


@strawberry.type
class CaseMutations:
    @strawberry.mutation(description="Open a case (staff and supervisors).")
    async def open_case(
        self,
        info: Info[Context, None],
        idempotency_key: IdempotencyKey,
        input: Annotated[OpenCaseInput, strawberry.argument(description="The new case.")],
    ) -> CaseResult:
        ctx = info.context
        ctx.authorize("Mutation.openCase", None, "case")
        personal = {
            **to_plain(input.caller or CallerInput()),
            "notes": input.notes,
            "assessment": input.assessment,
        }
        details = to_plain(input.details or CaseDetailsInput())
        outcome = await ctx.command(
            lambda: ctx.system.app.open_case(
                idempotency_key,
                input.channel,
                input.language,
                input.relationship,
                personal,
                details,
            )
        )
        return await _case_result(info, outcome)

    @strawberry.mutation(description="Update an open case's details (staff and supervisors).")
    async def update_case(
        self,
        info: Info[Context, None],
        idempotency_key: IdempotencyKey,
        id: CaseId,
        details: Annotated[
            CaseDetailsInput, strawberry.argument(description="The details that change.")
        ],
    ) -> CaseResult:
        ctx = info.context
        case_id = _case_id(ctx, "Mutation.updateCase", str(id))
        outcome = await ctx.command(
            lambda: ctx.system.app.update_case(idempotency_key, case_id, to_plain(details))
        )
        return await _case_result(info, outcome)

    @strawberry.mutation(
        description=(
            "Ask a supervisor into an open case with a question (staff and supervisors). A case "
            "that references potential trafficking needs a supervisor's decision before anything "
            "leaves or it closes."
        )
    )
    async def request_supervisor(
        self,
        info: Info[Context, None],
        idempotency_key: IdempotencyKey,
        id: CaseId,
        question: Annotated[
            str,
            strawberry.argument(
                description="What the supervisor is asked, in your words (sealed, like notes)."
            ),
        ],
    ) -> CaseResult:
        ctx = info.context
        case_id = _case_id(ctx, "Mutation.requestSupervisor", str(id))
        outcome = await ctx.command(
            lambda: ctx.system.app.request_supervisor(idempotency_key, case_id, question)
        )
        return await _case_result(info, outcome)

    @strawberry.mutation(
        description=(
            "Record a supervisor's decision on a case and the next steps (supervisors): it "
            "answers the case's open supervisor requests, and stands until the case's situation "
            "type or indicators change."
        )
    )
    async def record_supervisor_decision(
        self,
        info: Info[Context, None],
        idempotency_key: IdempotencyKey,
        id: CaseId,
        decision: Annotated[str, strawberry.argument(description="The decision, in their words.")],
        next_steps: Annotated[
            str, strawberry.argument(description="The next steps, in their words.")
        ],
    ) -> CaseResult:
        ctx = info.context
        case_id = _case_id(ctx, "Mutation.recordSupervisorDecision", str(id))
        outcome = await ctx.command(
            lambda: ctx.system.app.consult_supervisor(
                idempotency_key, case_id, decision, next_steps
            )
        )
        return await _case_result(info, outcome)

    @strawberry.mutation(description="Record a caller's consent (staff and supervisors).")
    async def grant_consent(
        self,
        info: Info[Context, None],
        idempotency_key: IdempotencyKey,
        id: CaseId,
        scope: Annotated[ConsentScope, strawberry.argument(description="What the consent allows.")],
        given_by: Annotated[ConsentGiver, strawberry.argument(description="Who gave it.")],
        method: Annotated[ConsentMethod, strawberry.argument(description="How it was given.")],
        recipient_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(
                description=(
                    "The organization it names (required to share "
                    "with one), or the one agency a report may go "
                    "to."
                )
            ),
        ] = None,
        expires_at: Annotated[
            str | None,
            strawberry.argument(
                description=(
                    "When it lapses (ISO 8601, in the future); omitted, it stands until withdrawn."
                )
            ),
        ] = None,
    ) -> CaseResult:
        ctx = info.context
        case_id = _case_id(ctx, "Mutation.grantConsent", str(id))
        recipient = _optional_id(recipient_id, "recipientId")
        expiry = instant(expires_at, "expiresAt")
        moment = (
            None
            if expiry is None
            else datetime.strptime(expiry, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        )
        outcome = await ctx.command(
            lambda: ctx.system.app.grant_consent(
                idempotency_key, case_id, scope, recipient, given_by, method, moment
            )
        )
        return await _case_result(info, outcome)

    @strawberry.mutation(
        description=(
            "Withdraw a consent: it stops future disclosures; past ones stay on record, and their "
            "recipients are told it was withdrawn (staff and supervisors)."
        )
    )
    async def withdraw_consent(
        self,
        info: Info[Context, None],
        idempotency_key: IdempotencyKey,
        id: CaseId,
        consent_id: Annotated[strawberry.ID, strawberry.argument(description="The consent's id.")],
    ) -> CaseResult:
        ctx = info.context
        case_id = _case_id(ctx, "Mutation.withdrawConsent", str(id))
        consent = _required_id(consent_id, "consentId")
        outcome = await ctx.command(
            lambda: ctx.system.app.withdraw_consent(idempotency_key, case_id, consent)
        )
        return await _case_result(info, outcome)

    @strawberry.mutation(
        description="Refers the caller to an included organization, with a "
        "brief disclosed under a consent or an exception (staff "
        "and supervisors; an exception, supervisors only)."
    )
    async def refer_case(
        self,
        info: Info[Context, None],
        idempotency_key: IdempotencyKey,
        id: CaseId,
        organization_id: Annotated[
            strawberry.ID,
            strawberry.argument(
                description=("The organization: included, and not a law-enforcement agency.")
            ),
        ],
        mode: Annotated[ReferralMode, strawberry.argument(description="How the referral is made.")],
        needs: Annotated[list[Need], strawberry.argument(description="The needs it is for.")],
        fields: Annotated[
            list[DisclosableField] | None,
            strawberry.argument(
                description=(
                    "The fields to disclose to the organization (NEEDS, "
                    "and BRIEF with a brief, are added). Omitted with no "
                    "brief, nothing is sent: a referral relayed to the "
                    "caller."
                )
            ),
        ] = None,
        brief: Brief = "",
        exception: Basis = None,
        justification: Justification = "",
    ) -> CaseResult:
        ctx = info.context
        case_id = _case_id(ctx, "Mutation.referCase", str(id))
        ctx.rate_limit("disclosure")
        organization = _required_id(organization_id, "organizationId")
        outcome = await ctx.command(
            lambda: ctx.system.app.refer(
                idempotency_key,
                case_id,
                organization,
                mode,
                needs,
                fields or [],
                brief,
                exception,
                justification,
            )
        )
        return await _case_result(info, outcome)

    @strawberry.mutation(
        description=(
            "Report the case to a law-enforcement agency under its reporting protocol, with the "
            "factors weighed (supervisors). The protocol's jurisdiction must cover the case's "
            "province (and municipality, for a municipal protocol): anything else, a case with "
            "no province yet included, is OUTSIDE_JURISDICTION unless jurisdictionOverride "
            "justifies it. The facts the case holds are filled in from it."
        )
    )
    async def report_to_law_enforcement(
        self,
        info: Info[Context, None],
        idempotency_key: IdempotencyKey,
        id: CaseId,
        protocol_id: Annotated[
            strawberry.ID,
            strawberry.argument(
                description=(
                    "The reporting protocol to report under: its agency receives the report."
                )
            ),
        ],
        factors: Annotated[
            ReportFactorsInput,
            strawberry.argument(description="The judgement factors weighed, none empty."),
        ],
        fields: Annotated[
            list[DisclosableField],
            strawberry.argument(description="The fields to disclose to the agency."),
        ],
        brief: Brief = "",
        exception: Basis = None,
        justification: Justification = "",
        jurisdiction_override: Annotated[
            str,
            strawberry.argument(
                description=(
                    "Why the report goes under a protocol whose jurisdiction does not cover the "
                    "case's (the caller is elsewhere, a national unit, ...): sealed with the "
                    "case's key, shown with the report. Only when it does not cover it."
                )
            ),
        ] = "",
    ) -> CaseResult:
        ctx = info.context
        case_id = _case_id(ctx, "Mutation.reportToLawEnforcement", str(id))
        ctx.rate_limit("disclosure")
        protocol = _required_id(protocol_id, "protocolId")
        outcome = await ctx.command(
            lambda: ctx.system.app.report_to_law_enforcement(
                idempotency_key,
                case_id,
                protocol,
                to_plain(factors),
                fields,
                brief,
                exception,
                justification,
                jurisdiction_override,
            )
        )
        return await _case_result(info, outcome)

    @strawberry.mutation(
        description=(
            "Report the case to a child-protection authority, under the "
            "SUSPECTED_ABUSE_OF_A_MINOR exception: it settles the case's mandatory-report "
            "decision (supervisors)."
        )
    )
    async def report_to_child_protection(
        self,
        info: Info[Context, None],
        idempotency_key: IdempotencyKey,
        id: CaseId,
        authority_id: Annotated[
            strawberry.ID,
            strawberry.argument(
                description=(
                    "The child-protection authority: included, and covering the case's "
                    "province (and municipality, for a municipal one)."
                )
            ),
        ],
        fields: Annotated[
            list[DisclosableField],
            strawberry.argument(description="The fields to disclose to the authority."),
        ],
        justification: Annotated[
            str,
            strawberry.argument(
                description="The written justification of the exception (required)."
            ),
        ],
        brief: Brief = "",
        jurisdiction_override: Annotated[
            str,
            strawberry.argument(
                description=(
                    "Why an authority whose jurisdiction does not cover the case must receive "
                    "it; required only then."
                )
            ),
        ] = "",
    ) -> CaseResult:
        ctx = info.context
        case_id = _case_id(ctx, "Mutation.reportToChildProtection", str(id))
        ctx.rate_limit("disclosure")
        authority = _required_id(authority_id, "authorityId")
        outcome = await ctx.command(
            lambda: ctx.system.app.report_to_child_protection(
                idempotency_key,
                case_id,
                authority,
                fields,
                brief,
                justification,
                jurisdiction_override,
            )
        )
        return await _case_result(info, outcome)

    @strawberry.mutation(
        description=(
            "Record that no mandatory report is required for a flagged case, with a written "
            "justification (supervisors)."
        )
    )
    async def decide_no_mandatory_report(
        self,
        info: Info[Context, None],
        idempotency_key: IdempotencyKey,
        id: CaseId,
        justification: Annotated[
            str, strawberry.argument(description="Why no report is required, in writing.")
        ],
    ) -> CaseResult:
        ctx = info.context
        case_id = _case_id(ctx, "Mutation.decideNoMandatoryReport", str(id))
        outcome = await ctx.command(
            lambda: ctx.system.app.decide_no_mandatory_report(
                idempotency_key, case_id, justification
            )
        )
        return await _case_result(info, outcome)

    @strawberry.mutation(
        description=(
            "Record that a report made before the case was flagged (or flagged again) was its "
            "mandatory report: a report to a child-protection authority, or to law enforcement "
            "under SUSPECTED_ABUSE_OF_A_MINOR or telling the agency minorInvolved YES or "
            "UNKNOWN (supervisors)."
        )
    )
    async def settle_mandatory_report_by_earlier_report(
        self,
        info: Info[Context, None],
        idempotency_key: IdempotencyKey,
        id: CaseId,
        report_id: Annotated[
            strawberry.ID,
            strawberry.argument(
                description="The earlier report (reports or childProtectionReports)."
            ),
        ],
    ) -> CaseResult:
        ctx = info.context
        case_id = _case_id(ctx, "Mutation.settleMandatoryReportByEarlierReport", str(id))
        report = _required_id(report_id, "reportId")
        outcome = await ctx.command(
            lambda: ctx.system.app.settle_mandatory_report_by_earlier_report(
                idempotency_key, case_id, report
            )
        )
        return await _case_result(info, outcome)

    @strawberry.mutation(
        description=(
            "Record a call to emergency services for the case's province or territory: 911, or "
            "the configured number in the Northwest Territories and Nunavut, by community where "
            "one is configured (staff and supervisors). Never refused: with no number known it "
            "is recorded as unknown, with a warning; on a closed case too (it stays closed). "
            "Anything disclosed needs a supervisor's exception; a disclosure that cannot be "
            "made (or is rate-limited) is left out, the call recorded all the same and the "
            "warning says DISCLOSURE_NOT_MADE and why. A brief given is disclosed (BRIEF is "
            "added to the fields)."
        )
    )
    async def contact_emergency_services(
        self,
        info: Info[Context, None],
        idempotency_key: IdempotencyKey,
        id: CaseId,
        fields: Annotated[
            list[DisclosableField] | None,
            strawberry.argument(description="The fields disclosed to emergency services, if any."),
        ] = None,
        brief: Brief = "",
        exception: Basis = None,
        justification: Justification = "",
    ) -> EmergencyContactResult:
        ctx = info.context
        case_id = _case_id(ctx, "Mutation.contactEmergencyServices", str(id))
        # The limit on disclosures holds back only what would be sent with the call, never
        # the call: limited, it is recorded without the disclosure, with a warning.
        withheld = None
        if fields or brief.strip():
            try:
                ctx.rate_limit("disclosure")
            except RateLimited as limited:
                withheld = f"{limited.code}: {limited}"
        outcome = await ctx.command(
            lambda: ctx.system.app.contact_emergency_services(
                idempotency_key, case_id, fields or [], brief, exception, justification, withheld
            )
        )
        # The call this command recorded: the case as it left it (a repeat too).
        found = await ctx.run(ctx.system.app.emergency_call, case_id, outcome.version)
        return EmergencyContactResult(
            case_id=strawberry.ID(str(outcome.id)),
            version=outcome.version,
            replayed=outcome.replayed,
            case=await _case_of(info, outcome),
            emergency_number=emergency_number(str(case_id), found.number),
            warning=found.warning,
        )

    @strawberry.mutation(description="Close an open case (staff and supervisors).")
    async def close_case(
        self,
        info: Info[Context, None],
        idempotency_key: IdempotencyKey,
        id: CaseId,
        reason: Annotated[str, strawberry.argument(description="Why it is closed.")],
    ) -> CaseResult:
        ctx = info.context
        case_id = _case_id(ctx, "Mutation.closeCase", str(id))
        outcome = await ctx.command(
            lambda: ctx.system.app.close_case(idempotency_key, case_id, reason)
        )
        return await _case_result(info, outcome)

    @strawberry.mutation(description="Reopen a closed case (staff and supervisors).")
    async def reopen_case(
        self,
        info: Info[Context, None],
        idempotency_key: IdempotencyKey,
        id: CaseId,
        reason: Annotated[str, strawberry.argument(description="Why it is reopened.")],
    ) -> CaseResult:
        ctx = info.context
        case_id = _case_id(ctx, "Mutation.reopenCase", str(id))
        outcome = await ctx.command(
            lambda: ctx.system.app.reopen_case(idempotency_key, case_id, reason)
        )
        return await _case_result(info, outcome)

    @strawberry.mutation(description="A partner reports what became of a referral to it.")
    async def report_referral_outcome(
        self,
        info: Info[Context, None],
        idempotency_key: IdempotencyKey,
        referral_id: Annotated[
            strawberry.ID, strawberry.argument(description="The referral's id.")
        ],
        outcome: Annotated[
            ReferralOutcomeKind, strawberry.argument(description="What became of it.")
        ],
        note: Annotated[str, strawberry.argument(description="A note for the hotline.")] = "",
    ) -> ReferralOutcomeResult:
        ctx = info.context
        found = await _addressed(
            ctx, "referral_inbox", "Mutation.reportReferralOutcome", str(referral_id), "referral"
        )
        org = str(ctx.principal.organization_id)
        return await _referral_result(
            ctx,
            found,
            lambda: ctx.system.app.report_referral_outcome(
                idempotency_key, UUID(found["caseId"]), UUID(found["id"]), org, outcome, note
            ),
        )

    @strawberry.mutation(
        description=(
            "A partner accepts or declines a referral addressed to its organization, once, before "
            "its own intake; declining gives a reason."
        )
    )
    async def answer_referral(
        self,
        info: Info[Context, None],
        idempotency_key: IdempotencyKey,
        referral_id: Annotated[
            strawberry.ID, strawberry.argument(description="The referral's id.")
        ],
        answer: Annotated[
            ReferralAnswerKind, strawberry.argument(description="Accepted or declined.")
        ],
        reason: Annotated[
            DeclineReason | None,
            strawberry.argument(description="Why it is declined (required to decline)."),
        ] = None,
        note: Annotated[
            str, strawberry.argument(description="A note for the hotline (optional).")
        ] = "",
    ) -> ReferralOutcomeResult:
        ctx = info.context
        found = await _addressed(
            ctx, "referral_inbox", "Mutation.answerReferral", str(referral_id), "referral"
        )
        return await _referral_result(
            ctx,
            found,
            lambda: ctx.system.app.answer_referral(
                idempotency_key, UUID(found["caseId"]), UUID(found["id"]), answer, reason, note
            ),
        )

    @strawberry.mutation(
        description=(
            "A law-enforcement liaison acknowledges a report addressed to its agency, once, with "
            "who handles it and the agency's file number if it gives them."
        )
    )
    async def acknowledge_report(
        self,
        info: Info[Context, None],
        idempotency_key: IdempotencyKey,
        report_id: Annotated[strawberry.ID, strawberry.argument(description="The report's id.")],
        contact_name: Annotated[
            str,
            strawberry.argument(
                description="Who at the agency handles it (optional; up to 200 characters)."
            ),
        ] = "",
        file_number: Annotated[
            str,
            strawberry.argument(
                description="The agency's file number (optional; up to 100 characters)."
            ),
        ] = "",
    ) -> ReportAcknowledgementResult:
        ctx = info.context
        found = await _addressed(
            ctx, "report_inbox", "Mutation.acknowledgeReport", str(report_id), "report"
        )
        result = await ctx.command(
            lambda: ctx.system.app.acknowledge_report(
                idempotency_key, UUID(found["caseId"]), UUID(found["id"]), contact_name, file_number
            )
        )
        again = await find_inbox_item(ctx, "report_inbox", found["id"])
        return ReportAcknowledgementResult(
            report_id=strawberry.ID(found["id"]),
            replayed=result.replayed,
            report=None if again is None else await ctx.run(report_item, ctx, again),
        )
