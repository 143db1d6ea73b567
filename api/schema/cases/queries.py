"""Case, inbox, ledger and statistics queries."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

import strawberry
from strawberry.types import Info

from api.context import Context, camel, parse_id, snake
from api.schema.cases.enums import StatisticsDimension
from api.schema.cases.inbox import (
    ReferralInboxItem,
    ReportInboxItem,
    inbox,
    one_item,
    referral_item,
    report_item,
)
from api.schema.cases.inputs import CaseFilter, CaseId, check_page, instant, parse_after
from api.schema.cases.types import (
    Case,
    CasePage,
    EmergencyNumber,
    LedgerEntry,
    LedgerPage,
    MandatoryReportPage,
    MandatoryReportTask,
    StatisticsCell,
    SupervisorRequestPage,
    build_case,
    emergency_number,
    opener,
    supervisor_request,
)
from api.schema.common import After, First, PageInfo, selected
from domain.base import NotFound
from domain.vocabulary import parse_codes
from projections.audit import plain
from projections.cases import CaseFilter as Filter


def _cursor(at: str, item_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([at, item_id]).encode()).decode()


@strawberry.type
class CaseQueries:
    @strawberry.field(
        description=(
            "Cases, newest first: hotline staff and supervisors only (no other role may ask). "
            "Every case read is in the access log."
        )
    )
    async def cases(
        self,
        info: Info[Context, None],
        filter: Annotated[
            CaseFilter | None, strawberry.argument(description="Narrows the cases.")
        ] = None,
        first: First = 20,
        after: After = None,
    ) -> CasePage:
        ctx = info.context
        check_page(first, ctx.system.settings.max_page_size)
        f = filter or CaseFilter()
        ctx.check_filters("CaseFilter", f)
        parse_codes(f.provinces or [], [])
        if f.caller_phone:
            ctx.rate_limit("lookup")  # finding callers by number, one guess at a time
        lookup = ctx.system.vault.lookup_key(f.caller_phone) if f.caller_phone else None
        query = Filter(
            open=f.open,
            urgencies=[u.value for u in f.urgencies or []],
            provinces=f.provinces or [],
            situation_types=[s.value for s in f.situation_types or []],
            assigned_to=f.assigned_to,
            opened_after=instant(f.opened_after, "openedAfter"),
            opened_before=instant(f.opened_before, "openedBefore"),
            phone_lookup=lookup,
        )
        docs = await ctx.run(ctx.cases.search, query, first + 1, parse_after(after))
        # Whether any case matches is itself confidential, an empty answer too.
        ctx.reads.searched(
            "Query.cases",
            (camel(k) for k, v in vars(f).items() if v is not None),
            (("Case", doc["id"], doc["id"]) for doc in docs[:first]),
        )
        wanted = selected(info, "items")
        # One thread hop for the page: opening sealed data is blocking store work.
        items = await ctx.run(lambda: [build_case(ctx, doc, wanted) for doc in docs[:first]])
        last = docs[len(items) - 1] if items else None
        end = _cursor(last["openedAt"], last["id"]) if last else None
        return CasePage(
            items=items, page_info=PageInfo(has_next_page=len(docs) > first, end_cursor=end)
        )

    @strawberry.field(
        description=(
            "One case, or null: hotline staff and supervisors only. The read is in the access log."
        )
    )
    async def case(self, info: Info[Context, None], id: CaseId) -> Case | None:
        ctx = info.context
        clean = parse_id(str(id))
        doc = None if clean is None else await ctx.run(ctx.cases.get, clean)
        return None if doc is None else await ctx.run(build_case, ctx, doc, selected(info))

    @strawberry.field(
        description=(
            "The number emergency services answer on for a case's place, before the call is "
            "made, or why it is unknown; null for no such case. Staff and supervisors; the read "
            "is in the access log."
        )
    )
    async def emergency_number(
        self, info: Info[Context, None], case_id: CaseId
    ) -> EmergencyNumber | None:
        ctx = info.context
        clean = parse_id(str(case_id))
        if clean is None:
            return None
        try:
            found = await ctx.run(ctx.system.app.emergency_number, UUID(clean))
        except NotFound:
            return None
        return emergency_number(clean, found)

    @strawberry.field(
        description=(
            "Referrals addressed to your organization, newest first (partners; empty once the "
            "organization is no longer included)."
        )
    )
    async def referral_inbox(
        self, info: Info[Context, None], first: First = 20
    ) -> list[ReferralInboxItem]:
        return await inbox(info.context, "referral_inbox", first, referral_item)

    @strawberry.field(
        description=(
            "One referral addressed to your organization, or null: one addressed elsewhere answers "
            "as one that does not exist."
        )
    )
    async def referral(
        self,
        info: Info[Context, None],
        id: Annotated[strawberry.ID, strawberry.argument(description="The referral's id.")],
    ) -> ReferralInboxItem | None:
        return await one_item(info.context, "referral_inbox", str(id), referral_item)

    @strawberry.field(
        description=("Reports addressed to your agency, newest first (law-enforcement liaisons).")
    )
    async def report_inbox(
        self, info: Info[Context, None], first: First = 20
    ) -> list[ReportInboxItem]:
        return await inbox(info.context, "report_inbox", first, report_item)

    @strawberry.field(
        description=(
            "One report addressed to your agency, or null: one addressed elsewhere answers as one "
            "that does not exist."
        )
    )
    async def report(
        self,
        info: Info[Context, None],
        id: Annotated[strawberry.ID, strawberry.argument(description="The report's id.")],
    ) -> ReportInboxItem | None:
        return await one_item(info.context, "report_inbox", str(id), report_item)

    @strawberry.field(
        description="Every disclosure, newest first: who, to whom, which fields, "
        "on which basis. Never the values. Staff, supervisors and "
        "compliance officers."
    )
    async def disclosure_ledger(
        self, info: Info[Context, None], first: First = 20, after: After = None
    ) -> LedgerPage:
        ctx = info.context
        check_page(first, ctx.system.settings.max_page_size)
        entries = await ctx.run(ctx.cases.ledger, first + 1, parse_after(after))
        ctx.reads.searched(
            "Query.disclosureLedger",
            (),
            (("LedgerEntry", e["id"], e["caseId"]) for e in entries[:first]),
        )
        # A justification is free text staff wrote on the case: it opens for those who may
        # read the case's own disclosures, and reads as the audit trail shows it to the others
        # (compliance): masked, since it can hold the caller's personal data.
        opens = ctx.system.policy.allows(ctx.role, "Disclosure.justification")

        def entry(e: dict[str, Any]) -> LedgerEntry:
            text = e["justification"]
            opened: dict[str, Any] = {
                **e,
                "justification": ctx.system.app.open_text(UUID(e["caseId"]), text)
                if opens
                else plain(text),
            }
            return LedgerEntry(**{snake(k): v for k, v in opened.items()})

        items = await ctx.run(lambda: [entry(e) for e in entries[:first]])
        last = entries[len(items) - 1] if items else None
        end = _cursor(last["at"], last["id"]) if last else None
        return LedgerPage(
            items=items, page_info=PageInfo(has_next_page=len(entries) > first, end_cursor=end)
        )

    @strawberry.field(
        description=(
            "Staff's requests for a supervisor, the longest waiting first: the open ones unless "
            "`answered` says otherwise (supervisors). Every request read is in the access log."
        )
    )
    async def supervisor_requests(
        self,
        info: Info[Context, None],
        answered: Annotated[
            bool | None,
            strawberry.argument(
                description="false: open requests (the default); true: answered ones; null: all."
            ),
        ] = False,
        first: First = 20,
        after: After = None,
    ) -> SupervisorRequestPage:
        ctx = info.context
        check_page(first, ctx.system.settings.max_page_size)
        rows, total = await ctx.run(
            ctx.cases.supervisor_requests, answered, first + 1, parse_after(after)
        )
        # Which cases wait for a supervisor is itself confidential, an empty answer too.
        ctx.reads.searched(
            "Query.supervisorRequests",
            ["answered"] if answered is not None else [],
            (("SupervisorRequest", r["id"], r["caseId"]) for r in rows[:first]),
        )

        def item(r: dict[str, Any]) -> Any:
            return supervisor_request(r, r["caseId"], opener(ctx, r["caseId"]))

        wants_question = "question" in selected(info, "items")
        items = await ctx.run(
            lambda: [
                item(r) if wants_question else item({**r, "question": ""}) for r in rows[:first]
            ]
        )
        last = rows[len(items) - 1] if items else None
        end = _cursor(last["at"], last["id"]) if last else None
        return SupervisorRequestPage(
            items=items,
            total_count=total,
            page_info=PageInfo(has_next_page=len(rows) > first, end_cursor=end),
        )

    @strawberry.field(
        description=(
            "Cases flagged for a mandatory-report decision, the longest waiting first, with "
            "their count (supervisors). Every case listed is in the access log."
        )
    )
    async def mandatory_report_queue(
        self,
        info: Info[Context, None],
        decided: Annotated[
            bool | None,
            strawberry.argument(
                description="false (the default): those awaiting a decision; true: decided; "
                "null: all."
            ),
        ] = False,
        first: First = 20,
        after: After = None,
    ) -> MandatoryReportPage:
        ctx = info.context
        check_page(first, ctx.system.settings.max_page_size)
        count, rows = await ctx.run(
            ctx.cases.mandatory_reports, decided, first + 1, parse_after(after)
        )
        ctx.reads.searched(
            "Query.mandatoryReportQueue",
            () if decided is None else ("decided",),
            (("MandatoryReportTask", r["caseId"], r["caseId"]) for r in rows[:first]),
        )
        items = [MandatoryReportTask(**{snake(k): v for k, v in r.items()}) for r in rows[:first]]
        last = rows[len(items) - 1] if items else None
        end = _cursor(last["flaggedAt"], last["caseId"]) if last else None
        return MandatoryReportPage(
            total_count=count,
            items=items,
            page_info=PageInfo(has_next_page=len(rows) > first, end_cursor=end),
        )

    @strawberry.field(
        description="De-identified counts of cases that consented to statistics, "
        "opened in completed months, by one dimension; small counts "
        "are suppressed and the others rounded. Everyone."
    )
    async def statistics(
        self,
        info: Info[Context, None],
        dimension: Annotated[
            StatisticsDimension, strawberry.argument(description="What to count the cases by.")
        ],
    ) -> list[StatisticsCell]:
        ctx = info.context
        cells = await ctx.run(
            ctx.cases.statistics,
            dimension.value,
            datetime.now(UTC),
            ctx.system.settings.statistics_threshold,
        )
        return [StatisticsCell(value=v, count=n) for v, n in cells]
