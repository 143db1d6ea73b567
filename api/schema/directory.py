"""Directory queries and the inclusion-lifecycle mutations."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import strawberry
from strawberry.types import Info

from api.context import Context, parse_id
from api.schema.common import (
    ContactOutcome,
    Criterion,
    FocusArea,
    OrganizationKind,
    OrganizationStatus,
    PageInfo,
    Population,
    RemovalReason,
    ServiceCategory,
    ServiceNature,
    selected,
    to_plain,
)
from api.schema.organization import Organization
from domain.base import InvalidInput, NotFound
from domain.directory import Outcome
from domain.vocabulary import parse_codes
from projections.directory import DirectoryQuery, encode_cursor, review_cutoff, sort_key

MAX_SEARCH_LENGTH = 200

# -- inputs ----------------------------------------------------------------------------------


@strawberry.input
class ServiceInput:
    name_en: str
    name_fr: str
    category: ServiceCategory
    natures: list[ServiceNature]


@strawberry.input
class RegionInput:
    province: str = strawberry.field(description="ISO 3166-2:CA code, e.g. CA-ON")
    municipality: str | None = None


@strawberry.input
class PublicContactInput:
    phone: str | None = None
    toll_free: str | None = None
    email: str | None = None
    website: str | None = None


@strawberry.input
class PointOfContactInput:
    name: str | None = None
    title: str | None = None
    phone: str | None = None
    email: str | None = None
    after_hours_phone: str | None = None


@strawberry.input
class LocationInput:
    province: str
    municipality: str | None = None
    address: str | None = None
    postal_code: str | None = None
    confidential: bool = False


@strawberry.input(description="An organization's profile, in English and French.")
class ProfileInput:
    kind: OrganizationKind
    name_en: str
    name_fr: str
    description_en: str | None = None
    description_fr: str | None = None
    services: list[ServiceInput] | None = None
    focus_areas: list[FocusArea] | None = None
    populations: list[Population] | None = None
    languages: list[str] | None = strawberry.field(default=None,
                                                    description="ISO 639-1 or 639-3 codes")
    regions: list[RegionInput] | None = None
    hours: str | None = None
    intake_process: str | None = None
    referral_protocol: str | None = None
    public_contact: PublicContactInput | None = None
    point_of_contact: PointOfContactInput | None = None
    location: LocationInput | None = None


@strawberry.input(description="The public application form for inclusion in the directory.")
class ApplicationInput:
    profile: ProfileInput
    criteria: list[Criterion] = strawberry.field(
        description="The minimum criteria the organization attests it meets (all seven are "
                    "needed for approval)")
    public_listing: bool = strawberry.field(
        description="Consent to appear in the public directory once included")


@strawberry.input(description="Filters combine with AND; values within one filter with OR.")
class DirectoryFilter:
    provinces: list[str] | None = None
    service_categories: list[ServiceCategory] | None = None
    service_natures: list[ServiceNature] | None = None
    focus_areas: list[FocusArea] | None = None
    populations: list[Population] | None = None
    languages: list[str] | None = None
    kinds: list[OrganizationKind] | None = None
    statuses: list[OrganizationStatus] | None = None
    review_due: bool | None = None
    flagged_unreachable: bool | None = None


_FACET_OF_FILTER = {"provinces": "province", "service_categories": "serviceCategory",
                    "service_natures": "serviceNature", "focus_areas": "focusArea",
                    "populations": "population", "languages": "language", "kinds": "kind"}

# -- results ---------------------------------------------------------------------------------


@strawberry.type
class FacetValue:
    value: str
    count: int


@strawberry.type
class Facet:
    name: str
    values: list[FacetValue]


@strawberry.type
class DirectoryEdge:
    cursor: str
    node: Organization


@strawberry.type
class DirectoryConnection:
    edges: list[DirectoryEdge]
    page_info: PageInfo
    total_count: int
    facets: list[Facet]


@strawberry.type(description="What a command did. A repeated idempotency key returns the "
                             "first result with replayed = true.")
class OrganizationResult:
    organization_id: strawberry.ID
    version: int
    replayed: bool
    organization: Organization | None


def review_interval(ctx: Context) -> timedelta:
    return timedelta(days=ctx.system.settings.review_interval_days)


def _query(ctx: Context, search: str | None, filter: DirectoryFilter | None,
           first: int, after: str | None) -> DirectoryQuery:
    problems = []
    limit = ctx.system.settings.max_page_size
    if not 1 <= first <= limit:
        problems.append(f"first must be between 1 and {limit}")
    if search is not None and len(search) > MAX_SEARCH_LENGTH:
        problems.append(f"search must be at most {MAX_SEARCH_LENGTH} characters")
    facets: dict[str, list[str]] = {}
    extra: dict[str, Any] = {}
    if filter is not None:
        ctx.check_filters("DirectoryFilter", filter)
        for name, value in vars(filter).items():
            if value is None:
                continue
            if name in _FACET_OF_FILTER:
                facets[_FACET_OF_FILTER[name]] = [to_plain(v) for v in value]
            else:
                extra[name] = value
    if problems:
        raise InvalidInput(problems)
    parse_codes(facets.get("province", []), facets.get("language", []))
    cutoff = None
    if extra.get("review_due"):
        cutoff = review_cutoff(datetime.now(UTC),
                               ctx.system.settings.review_interval_days)
    return DirectoryQuery(
        text=search or "", facets=facets,
        statuses=[to_plain(s) for s in extra.get("statuses") or []],
        review_due_before=cutoff, flagged_unreachable=extra.get("flagged_unreachable"),
        first=first, after=after,
    )


@strawberry.type
class DirectoryQueries:
    @strawberry.field(description="Search the directory your role may read: the public "
                                  "directory, or the internal one for hotline staff.")
    async def directory(self, info: Info[Context, None], search: str | None = None,
                        filter: DirectoryFilter | None = None,
                        first: int = 20, after: str | None = None) -> DirectoryConnection:
        ctx = info.context
        query = _query(ctx, search, filter, first, after)
        # Counting and faceting cost a query each: run them only when they are asked for;
        # and build only the fields and cursors the query selects.
        wanted = selected(info)
        page, visible = await ctx.search(query, "facets" in wanted, "totalCount" in wanted)
        fields = visible & selected(info, "edges", "node")
        with_cursor = "cursor" in selected(info, "edges")
        interval = review_interval(ctx)
        edges = [DirectoryEdge(
            cursor=encode_cursor(sort_key(doc["nameEn"]), doc["id"]) if with_cursor else "",
            node=Organization.from_doc(doc, fields, interval)) for doc in page.docs]
        facets = [Facet(name=name, values=[FacetValue(value=v, count=c)
                                           for v, c in values.items()])
                  for name, values in sorted(page.facets.items())]
        return DirectoryConnection(
            edges=edges, total_count=page.total, facets=facets,
            page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor))

    @strawberry.field(description="One organization, or null when it does not exist or your "
                                  "role may not see it (the two answers are the same).")
    async def organization(self, info: Info[Context, None],
                           id: strawberry.ID) -> Organization | None:
        found = await info.context.organization(str(id))
        if found is None:
            return None
        doc, visible = found
        return Organization.from_doc(doc, visible & selected(info), review_interval(info.context))


# -- mutations ---------------------------------------------------------------------------------

async def _run(info: Info[Context, None], coordinate: str, org_id: str | None,
               command: Callable[[UUID], Outcome]) -> OrganizationResult:
    ctx = info.context
    clean = parse_id(org_id) if org_id is not None else None
    ctx.authorize(coordinate, clean, "organization")
    if org_id is not None and clean is None:
        raise NotFound("organization not found")
    outcome = await ctx.command(lambda: command(UUID(clean) if clean else UUID(int=0)))
    found = await ctx.organization(str(outcome.id))
    organization = None
    if found is not None:
        organization = Organization.from_doc(found[0], found[1], review_interval(ctx))
    return OrganizationResult(organization_id=strawberry.ID(str(outcome.id)),
                              version=outcome.version, replayed=outcome.replayed,
                              organization=organization)


@strawberry.type
class DirectoryMutations:
    @strawberry.mutation(description="Apply for inclusion (the public form).")
    async def apply_for_inclusion(self, info: Info[Context, None], idempotency_key: str,
                                  input: ApplicationInput) -> OrganizationResult:
        app = info.context.system.app
        return await _run(info, "Mutation.applyForInclusion", None,
                          lambda _: app.apply_for_inclusion(
                              idempotency_key, to_plain(input.profile),
                              [c.value for c in input.criteria], input.public_listing))

    @strawberry.mutation
    async def start_review(self, info: Info[Context, None], idempotency_key: str,
                           id: strawberry.ID) -> OrganizationResult:
        app = info.context.system.app
        return await _run(info, "Mutation.startReview", id,
                          lambda org: app.start_review(idempotency_key, org))

    @strawberry.mutation
    async def request_more_information(self, info: Info[Context, None], idempotency_key: str,
                                       id: strawberry.ID,
                                       questions: str) -> OrganizationResult:
        app = info.context.system.app
        return await _run(info, "Mutation.requestMoreInformation", id,
                          lambda org: app.request_more_information(idempotency_key, org,
                                                                   questions))

    @strawberry.mutation
    async def provide_information(self, info: Info[Context, None], idempotency_key: str,
                                  id: strawberry.ID, answers: str,
                                  criteria: list[Criterion] | None = None,
                                  ) -> OrganizationResult:
        app = info.context.system.app
        attested = None if criteria is None else [c.value for c in criteria]
        return await _run(info, "Mutation.provideInformation", id,
                          lambda org: app.provide_information(idempotency_key, org, answers,
                                                              attested))

    @strawberry.mutation
    async def approve_inclusion(self, info: Info[Context, None], idempotency_key: str,
                                id: strawberry.ID,
                                note: str = "") -> OrganizationResult:
        app = info.context.system.app
        return await _run(info, "Mutation.approveInclusion", id,
                          lambda org: app.approve_inclusion(idempotency_key, org, note))

    @strawberry.mutation
    async def decline_inclusion(self, info: Info[Context, None], idempotency_key: str,
                                id: strawberry.ID,
                                reason: str) -> OrganizationResult:
        app = info.context.system.app
        return await _run(info, "Mutation.declineInclusion", id,
                          lambda org: app.decline_inclusion(idempotency_key, org, reason))

    @strawberry.mutation
    async def submit_profile_update(self, info: Info[Context, None], idempotency_key: str,
                                    id: strawberry.ID,
                                    profile: ProfileInput) -> OrganizationResult:
        app = info.context.system.app
        return await _run(info, "Mutation.submitProfileUpdate", id,
                          lambda org: app.submit_profile_update(idempotency_key, org,
                                                                to_plain(profile)))

    @strawberry.mutation
    async def accept_profile_update(self, info: Info[Context, None], idempotency_key: str,
                                    id: strawberry.ID) -> OrganizationResult:
        app = info.context.system.app
        return await _run(info, "Mutation.acceptProfileUpdate", id,
                          lambda org: app.accept_profile_update(idempotency_key, org))

    @strawberry.mutation
    async def reject_profile_update(self, info: Info[Context, None], idempotency_key: str,
                                    id: strawberry.ID,
                                    reason: str) -> OrganizationResult:
        app = info.context.system.app
        return await _run(info, "Mutation.rejectProfileUpdate", id,
                          lambda org: app.reject_profile_update(idempotency_key, org, reason))

    @strawberry.mutation(description="Opt in to, or out of, the public directory listing.")
    async def set_public_listing(self, info: Info[Context, None], idempotency_key: str,
                                 id: strawberry.ID,
                                 listed: bool) -> OrganizationResult:
        app = info.context.system.app
        return await _run(info, "Mutation.setPublicListing", id,
                          lambda org: app.set_public_listing(idempotency_key, org, listed))

    @strawberry.mutation(description="Record that the periodic review confirmed the record.")
    async def confirm_review(self, info: Info[Context, None], idempotency_key: str,
                             id: strawberry.ID,
                             note: str = "") -> OrganizationResult:
        app = info.context.system.app
        return await _run(info, "Mutation.confirmReview", id,
                          lambda org: app.confirm_review(idempotency_key, org, note))

    @strawberry.mutation
    async def record_contact_attempt(self, info: Info[Context, None], idempotency_key: str,
                                     id: strawberry.ID,
                                     outcome: ContactOutcome,
                                     note: str = "") -> OrganizationResult:
        app = info.context.system.app
        return await _run(info, "Mutation.recordContactAttempt", id,
                          lambda org: app.record_contact_attempt(
                              idempotency_key, org, outcome, note))

    @strawberry.mutation
    async def record_misconduct_allegation(self, info: Info[Context, None],
                                           idempotency_key: str,
                                           id: strawberry.ID,
                                           summary: str) -> OrganizationResult:
        app = info.context.system.app
        return await _run(info, "Mutation.recordMisconductAllegation", id,
                          lambda org: app.record_misconduct_allegation(idempotency_key, org,
                                                                       summary))

    @strawberry.mutation(description="A partner asks to be removed from the directory.")
    async def request_removal(self, info: Info[Context, None], idempotency_key: str,
                              id: strawberry.ID,
                              note: str = "") -> OrganizationResult:
        app = info.context.system.app
        return await _run(info, "Mutation.requestRemoval", id,
                          lambda org: app.request_removal(idempotency_key, org, note))

    @strawberry.mutation
    async def remove_organization(self, info: Info[Context, None], idempotency_key: str,
                                  id: strawberry.ID,
                                  reason: RemovalReason, note: str = "") -> OrganizationResult:
        app = info.context.system.app
        return await _run(info, "Mutation.removeOrganization", id,
                          lambda org: app.remove_organization(
                              idempotency_key, org, reason, note))

    @strawberry.mutation
    async def reinstate_organization(self, info: Info[Context, None], idempotency_key: str,
                                     id: strawberry.ID,
                                     reason: str) -> OrganizationResult:
        app = info.context.system.app
        return await _run(info, "Mutation.reinstateOrganization", id,
                          lambda org: app.reinstate_organization(idempotency_key, org, reason))
