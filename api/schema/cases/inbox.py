"""Inboxes of disclosed copies for partners and law enforcement: only what was disclosed
to the caller's own organization, opened with the case's key. An item addressed
elsewhere answers exactly as a missing one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar
from uuid import UUID

import strawberry

from api.context import Context, camel, parse_id
from api.schema.cases.enums import (
    DisclosableField,
    Indicator,
    Need,
    ReferralMode,
    SituationType,
    Tristate,
    Urgency,
)
from api.schema.cases.inputs import check_page
from api.schema.cases.types import (
    ReferralAnswer,
    ReferralOutcome,
    ReportAcknowledgement,
    acknowledgement_of,
    answer_of,
    opener,
    outcome_of,
)
from domain.organization import Status
from projections.cases import InboxItem
from projections.directory import INTERNAL

T = TypeVar("T")


@strawberry.type(
    description=(
        "Exactly what was disclosed to you with a referral or report; every other field is null. "
        "Read by the partner or agency it was disclosed to, and every read is in the access log."
    )
)
class DisclosedCopy:
    caller_name: str | None = strawberry.field(
        default=None, description="The caller's name. Null when it was not disclosed."
    )
    caller_phone: str | None = strawberry.field(
        default=None, description="The caller's phone number. Null when it was not disclosed."
    )
    caller_email: str | None = strawberry.field(
        default=None, description="The caller's email address. Null when it was not disclosed."
    )
    caller_other_contact: str | None = strawberry.field(
        default=None,
        description=("Another way to reach the caller. Null when it was not disclosed."),
    )
    province: str | None = strawberry.field(
        default=None,
        description=(
            "The province or territory of the case (ISO 3166-2:CA code). Null when it was not "
            "disclosed."
        ),
    )
    municipality: str | None = strawberry.field(
        default=None, description="The municipality of the case. Null when it was not disclosed."
    )
    language: str | None = strawberry.field(
        default=None,
        description=(
            "The caller's language (ISO 639-1 or 639-3 code). Null when it was not disclosed."
        ),
    )
    minor_involved: Tristate | None = strawberry.field(
        default=None,
        description=("Whether a minor is or may be involved. Null when it was not disclosed."),
    )
    situation_type: SituationType | None = strawberry.field(
        default=None, description="The kind of situation. Null when it was not disclosed."
    )
    urgency: Urgency | None = strawberry.field(
        default=None, description="How urgent the case is. Null when it was not disclosed."
    )
    needs: list[Need] | None = strawberry.field(
        default=None,
        description=(
            "The needs the referral is for (a report: the caller's needs). Null when it was not "
            "disclosed."
        ),
    )
    indicators: list[Indicator] | None = strawberry.field(
        default=None,
        description=("The trafficking indicators recorded. Null when it was not disclosed."),
    )
    brief: str | None = strawberry.field(
        default=None,
        description=("The brief the hotline wrote for you. Null when it was not disclosed."),
    )
    # Which item (referral or report) of which case this copy was disclosed with.
    _item: strawberry.Private[tuple[str, str] | None] = None

    def access_key(self) -> tuple[str, str, str | None] | None:
        return None if self._item is None else ("DisclosedCopy", self._item[0], self._item[1])


def _copy(ctx: Context, case_id: str, item: InboxItem) -> DisclosedCopy | None:
    if not item.get("sealedCopy"):
        return None  # nothing was sent, or the case's personal data was erased
    copy = ctx.system.app.open_sealed(UUID(case_id), item["sealedCopy"])
    if copy is None:
        return None  # the case's personal data was erased: nothing can be read
    location = copy.get("LOCATION") or {}
    return DisclosedCopy(
        _item=(item["id"], case_id),
        caller_name=copy.get("CALLER_NAME"),
        caller_phone=copy.get("CALLER_PHONE"),
        caller_email=copy.get("CALLER_EMAIL"),
        caller_other_contact=copy.get("CALLER_OTHER_CONTACT"),
        province=location.get("province"),
        municipality=location.get("municipality"),
        language=copy.get("LANGUAGE"),
        minor_involved=copy.get("MINOR_INVOLVED"),
        situation_type=copy.get("SITUATION_TYPE"),
        urgency=copy.get("URGENCY"),
        needs=copy.get("NEEDS"),
        indicators=copy.get("INDICATORS"),
        brief=copy.get("BRIEF"),
    )


@strawberry.type(
    description=(
        "A referral addressed to your organization: read by its partners only, and only what was "
        "disclosed."
    )
)
class ReferralInboxItem:
    id: strawberry.ID = strawberry.field(description="The referral's id.")
    mode: ReferralMode = strawberry.field(description="How the referral was made.")
    needs: list[Need] = strawberry.field(description="The needs it is for.")
    at: str = strawberry.field(description="When it was made (ISO 8601, UTC).")
    fields: list[DisclosableField] = strawberry.field(
        description="Which fields were disclosed to you with it."
    )
    disclosed: DisclosedCopy | None = strawberry.field(
        description=(
            "What was disclosed to you; null when nothing was sent, or once the caller's data was "
            "erased."
        )
    )
    outcomes: list[ReferralOutcome] = strawberry.field(
        description="The outcomes your organization has reported, oldest first."
    )
    answer: ReferralAnswer | None = strawberry.field(
        default=None,
        description="Your organization's answer (answerReferral); null while unanswered.",
    )
    consent_withdrawn: bool = strawberry.field(
        default=False,
        description=(
            "True once the consent this was disclosed under has been withdrawn (nothing more is "
            "said): handle what you hold accordingly; nothing more will be disclosed under it."
        ),
    )
    _case_id: strawberry.Private[str] = ""

    def access_key(self) -> tuple[str, str, str | None]:
        return "ReferralInboxItem", str(self.id), self._case_id


@strawberry.type(
    description=(
        "A report addressed to your agency: read by its law-enforcement liaisons only, and only "
        "what was disclosed."
    )
)
class ReportInboxItem:
    id: strawberry.ID = strawberry.field(description="The report's id.")
    at: str = strawberry.field(description="When it was made (ISO 8601, UTC).")
    fields: list[DisclosableField] = strawberry.field(
        description="Which fields were disclosed to you with it."
    )
    disclosed: DisclosedCopy | None = strawberry.field(
        description="What was disclosed to you; null once the caller's data was erased."
    )
    acknowledgement: ReportAcknowledgement | None = strawberry.field(
        default=None,
        description="Your agency's acknowledgement (acknowledgeReport); null until given.",
    )
    consent_withdrawn: bool = strawberry.field(
        default=False,
        description=(
            "True once the consent this was disclosed under has been withdrawn (nothing more is "
            "said): handle what you hold accordingly; nothing more will be disclosed under it."
        ),
    )
    _case_id: strawberry.Private[str] = ""

    def access_key(self) -> tuple[str, str, str | None]:
        return "ReportInboxItem", str(self.id), self._case_id


def referral_item(ctx: Context, item: InboxItem) -> ReferralInboxItem:
    text = opener(ctx, item["caseId"])
    return ReferralInboxItem(
        id=strawberry.ID(item["id"]),
        mode=ReferralMode(item["mode"]),
        needs=[Need(need) for need in item["needs"]],
        at=item["at"],
        fields=[DisclosableField(name) for name in item["fields"]],
        disclosed=_copy(ctx, item["caseId"], item),
        outcomes=[outcome_of(o, text) for o in item["outcomes"]],
        answer=answer_of(item.get("answer"), text),
        consent_withdrawn=bool(item.get("consentWithdrawn")),
        _case_id=item["caseId"],
    )


def report_item(ctx: Context, item: InboxItem) -> ReportInboxItem:
    return ReportInboxItem(
        id=strawberry.ID(item["id"]),
        at=item["at"],
        fields=[DisclosableField(name) for name in item["fields"]],
        disclosed=_copy(ctx, item["caseId"], item),
        acknowledgement=acknowledgement_of(
            item.get("acknowledgement"), opener(ctx, item["caseId"])
        ),
        consent_withdrawn=bool(item.get("consentWithdrawn")),
        _case_id=item["caseId"],
    )


@strawberry.type(
    description="What acknowledging a report did; a repeated key returns the first result."
)
class ReportAcknowledgementResult:
    report_id: strawberry.ID = strawberry.field(description="The report's id.")
    replayed: bool = strawberry.field(
        description="True when the idempotency key had been used: nothing was written again."
    )
    report: ReportInboxItem | None = strawberry.field(
        description="The report as your inbox now shows it."
    )


@strawberry.type(
    description=(
        "What answering a referral, or reporting its outcome, did; a repeated key returns the "
        "first result."
    )
)
class ReferralOutcomeResult:
    referral_id: strawberry.ID = strawberry.field(description="The referral's id.")
    replayed: bool = strawberry.field(
        description="True when the idempotency key had been used: nothing was written again."
    )
    referral: ReferralInboxItem | None = strawberry.field(
        description="The referral as your inbox now shows it."
    )


async def still_included(ctx: Context, organization_id: str) -> bool:
    """An organization removed (or otherwise no longer included) reads nothing more."""
    doc = await ctx.run(ctx.system.directory.get, INTERNAL, organization_id)
    return doc is not None and doc.get("status") == Status.INCLUDED.value


_INBOX_TYPES = {"referral_inbox": "ReferralInboxItem", "report_inbox": "ReportInboxItem"}


async def inbox(
    ctx: Context, table: str, first: int, build: Callable[[Context, InboxItem], T]
) -> list[T]:
    """The caller's own inbox: only items addressed to its organization, newest first."""
    check_page(first, ctx.system.settings.max_page_size)
    owner = ctx.principal.organization_id
    if owner is None or not await still_included(ctx, owner):
        return []
    items = await ctx.run(ctx.cases.inbox, table, owner, first)
    # Whether anything was addressed to the caller is confidential, an empty inbox too.
    ctx.reads.searched(
        f"Query.{camel(table)}",
        (),
        ((_INBOX_TYPES[table], item["id"], item["caseId"]) for item in items),
    )
    return await ctx.run(lambda: [build(ctx, item) for item in items])


async def one_item(
    ctx: Context, table: str, item_id: str, build: Callable[[Context, InboxItem], T]
) -> T | None:
    found = await find_inbox_item(ctx, table, item_id)
    return None if found is None else await ctx.run(build, ctx, found)


async def find_inbox_item(ctx: Context, table: str, item_id: str) -> InboxItem | None:
    """The item if it is addressed to the caller's organization; otherwise None, exactly as
    for an item that does not exist."""
    clean = parse_id(item_id)
    owner = ctx.principal.organization_id
    if clean is None or owner is None or not await still_included(ctx, owner):
        return None
    found = await ctx.run(ctx.cases.inbox_item, table, clean, owner)
    if found is None:
        return None
    case_id, item = found
    return {**item, "caseId": case_id}
