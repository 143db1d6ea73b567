"""Directory queries and the inclusion-lifecycle mutations."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

import strawberry
from strawberry.types import Info

from api.context import Context, parse_id
from api.schema.common import (
    After,
    ContactOutcome,
    Criterion,
    First,
    FocusArea,
    IdempotencyKey,
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
OrganizationId = Annotated[strawberry.ID, strawberry.argument(description="The organization's id.")]

# -- inputs ----------------------------------------------------------------------------------


@strawberry.input(description="A service the organization offers.")
class ServiceInput:
    name_en: str = strawberry.field(description="The service's name in English.")
    name_fr: str = strawberry.field(description="The service's name in French.")
    category: ServiceCategory = strawberry.field(
        description="How long the service supports a person.")
    natures: list[ServiceNature] = strawberry.field(
        description="Whether the service is social, legal, or both.")


@strawberry.input(description="A place the organization serves.")
class RegionInput:
    province: str = strawberry.field(description="ISO 3166-2:CA code, e.g. CA-ON")
    municipality: str | None = strawberry.field(default=None, description=(
        "The municipality served, when the organization serves only part of the province or "
        "territory."))


@strawberry.input(description="How the public reaches the organization.")
class PublicContactInput:
    phone: str | None = strawberry.field(default=None, description="The public phone number.")
    toll_free: str | None = strawberry.field(
        default=None, description="The public toll-free number.")
    email: str | None = strawberry.field(default=None, description="The public email address.")
    website: str | None = strawberry.field(default=None, description="The public website (https).")


@strawberry.input(description=(
    "The organization's designated point of contact for the hotline: internal, never public."))
class PointOfContactInput:
    name: str | None = strawberry.field(default=None, description="The contact person's name.")
    title: str | None = strawberry.field(
        default=None, description="The contact person's title or role.")
    phone: str | None = strawberry.field(
        default=None, description="The contact person's phone number.")
    email: str | None = strawberry.field(
        default=None, description="The contact person's email address.")
    after_hours_phone: str | None = strawberry.field(
        default=None, description="A number for after hours.")


@strawberry.input(description="Where the organization is.")
class LocationInput:
    province: str = strawberry.field(
        description="The province or territory, as an ISO 3166-2:CA code (e.g. CA-ON).")
    municipality: str | None = strawberry.field(default=None, description="The municipality.")
    address: str | None = strawberry.field(default=None, description="The street address.")
    postal_code: str | None = strawberry.field(
        default=None, description="The postal code (A1A 1A1).")
    confidential: bool = strawberry.field(default=False, description=(
        "True when the location must never be published (a shelter's address, for one): the "
        "public directory then shows only its province and municipality."))


@strawberry.input(description="An organization's profile, in English and French.")
class ProfileInput:
    kind: OrganizationKind = strawberry.field(
        description="What kind of member of the directory the organization is.")
    name_en: str = strawberry.field(description="The organization's name in English.")
    name_fr: str = strawberry.field(description="The organization's name in French.")
    description_en: str | None = strawberry.field(
        default=None, description="What the organization does, in English.")
    description_fr: str | None = strawberry.field(
        default=None, description="What the organization does, in French.")
    services: list[ServiceInput] | None = strawberry.field(
        default=None, description="The services it offers.")
    focus_areas: list[FocusArea] | None = strawberry.field(
        default=None, description="The areas of work it focuses on.")
    populations: list[Population] | None = strawberry.field(
        default=None, description="The groups of people it serves.")
    languages: list[str] | None = strawberry.field(default=None,
                                                    description="ISO 639-1 or 639-3 codes")
    regions: list[RegionInput] | None = strawberry.field(
        default=None, description="Where it serves people.")
    hours: str | None = strawberry.field(
        default=None, description="When it is open or can be reached.")
    intake_process: str | None = strawberry.field(
        default=None, description="How a person is taken in.")
    referral_protocol: str | None = strawberry.field(default=None, description=(
        "How the hotline should refer a caller to it (internal: never public)."))
    public_contact: PublicContactInput | None = strawberry.field(default=None, description=(
        "How the public reaches it (shown in the public directory if it opts in)."))
    point_of_contact: PointOfContactInput | None = strawberry.field(default=None, description=(
        "The designated point of contact for the hotline (internal: never public)."))
    location: LocationInput | None = strawberry.field(default=None, description="Where it is.")


@strawberry.input(description="The public application form for inclusion in the directory.")
class ApplicationInput:
    profile: ProfileInput = strawberry.field(
        description="The organization's profile, in English and French.")
    criteria: list[Criterion] = strawberry.field(
        description="The minimum criteria the organization attests it meets (all seven are "
                    "needed for approval)")
    public_listing: bool = strawberry.field(
        description="Consent to appear in the public directory once included")


@strawberry.input(description="Filters combine with AND; values within one filter with OR.")
class DirectoryFilter:
    provinces: list[str] | None = strawberry.field(default=None, description=(
        "Organizations serving any of these provinces or territories (ISO 3166-2:CA codes)."))
    service_categories: list[ServiceCategory] | None = strawberry.field(
        default=None, description="Organizations offering a service in any of these categories.")
    service_natures: list[ServiceNature] | None = strawberry.field(
        default=None, description="Organizations offering a service of any of these natures.")
    focus_areas: list[FocusArea] | None = strawberry.field(
        default=None, description="Organizations focusing on any of these areas.")
    populations: list[Population] | None = strawberry.field(
        default=None, description="Organizations serving any of these groups.")
    languages: list[str] | None = strawberry.field(default=None, description=(
        "Organizations serving people in any of these languages (ISO 639-1 or 639-3 codes)."))
    kinds: list[OrganizationKind] | None = strawberry.field(
        default=None, description="Organizations of any of these kinds.")
    statuses: list[OrganizationStatus] | None = strawberry.field(default=None, description=(
        "Organizations in any of these statuses. The hotline's roles only: any other role is "
        "refused."))
    review_due: bool | None = strawberry.field(default=None, description=(
        "True: only organizations whose periodic review is due. The hotline's roles only: any "
        "other role is refused."))
    flagged_unreachable: bool | None = strawberry.field(default=None, description=(
        "Only organizations flagged unreachable (true) or not (false). The hotline's roles only: "
        "any other role is refused."))


_FACET_OF_FILTER = {"provinces": "province", "service_categories": "serviceCategory",
                    "service_natures": "serviceNature", "focus_areas": "focusArea",
                    "populations": "population", "languages": "language", "kinds": "kind"}

# -- results ---------------------------------------------------------------------------------


@strawberry.type(description="One value of a facet and how many matching organizations have it.")
class FacetValue:
    value: str = strawberry.field(
        description="A value of the facet (a province code, an enum value, a language code).")
    count: int = strawberry.field(
        description="How many organizations matching the search and filters have it.")


@strawberry.type(description="Counts of the matching organizations by one of their attributes.")
class Facet:
    name: str = strawberry.field(description=(
        "What the facet counts: province, serviceCategory, serviceNature, focusArea, population, "
        "language or kind."))
    values: list[FacetValue] = strawberry.field(description="Each value with its count.")


@strawberry.type(description="One organization in a page of directory results.")
class DirectoryEdge:
    cursor: str = strawberry.field(
        description="Where this result is in the list: pass it as `after` for the next page.")
    node: Organization = strawberry.field(description="The organization.")


@strawberry.type(description="A page of directory results.")
class DirectoryConnection:
    edges: list[DirectoryEdge] = strawberry.field(
        description="This page of results, sorted by English name.")
    page_info: PageInfo = strawberry.field(
        description="Whether more results follow, and where this page ends.")
    total_count: int = strawberry.field(description="How many organizations match, over all pages.")
    facets: list[Facet] = strawberry.field(description=(
        "Counts of the matching organizations by province, service, focus area, population, "
        "language and kind."))


@strawberry.type(description="What a command did. A repeated idempotency key returns the "
                             "first result with replayed = true.")
class OrganizationResult:
    organization_id: strawberry.ID = strawberry.field(
        description="The id of the organization the command acted on.")
    version: int = strawberry.field(description="The organization's version after the command.")
    replayed: bool = strawberry.field(
        description="True when the idempotency key had been used: nothing was written again.")
    organization: Organization | None = strawberry.field(
        description="The organization as your role may now read it (null if it may not).")


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
    @strawberry.field(description="Search the directory your role may read: the internal one "
                                  "for the hotline's roles (staff, supervisors, compliance), "
                                  "the public one for everyone else.")
    async def directory(self, info: Info[Context, None],
                        search: Annotated[str | None, strawberry.argument(description=(
                            "Words to find in names, descriptions and services, in English "
                            "or French (up to 200 characters)."))] = None,
                        filter: Annotated[DirectoryFilter | None, strawberry.argument(
                            description="Narrows the results.")] = None,
                        first: First = 20, after: After = None) -> DirectoryConnection:
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
                           id: OrganizationId) -> Organization | None:
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
    @strawberry.mutation(description=(
        "Apply for inclusion in the directory (the public form). Anyone may apply; staff and "
        "supervisors may apply on an organization's behalf."))
    async def apply_for_inclusion(self, info: Info[Context, None],
                                  idempotency_key: IdempotencyKey,
                                  input: Annotated[ApplicationInput, strawberry.argument(
                                      description="The application.")]) -> OrganizationResult:
        app = info.context.system.app
        return await _run(info, "Mutation.applyForInclusion", None,
                          lambda _: app.apply_for_inclusion(
                              idempotency_key, to_plain(input.profile),
                              [c.value for c in input.criteria], input.public_listing))

    @strawberry.mutation(description=(
        "Start reviewing an application, new or with the information asked for (staff and "
        "supervisors)."))
    async def start_review(self, info: Info[Context, None], idempotency_key: IdempotencyKey,
                           id: OrganizationId) -> OrganizationResult:
        app = info.context.system.app
        return await _run(info, "Mutation.startReview", id,
                          lambda org: app.start_review(idempotency_key, org))

    @strawberry.mutation(description=(
        "Ask an organization under review for more information (staff and supervisors)."))
    async def request_more_information(self, info: Info[Context, None],
                                       idempotency_key: IdempotencyKey, id: OrganizationId,
                                       questions: Annotated[str, strawberry.argument(
                                           description="What the organization is asked.")],
                                       ) -> OrganizationResult:
        app = info.context.system.app
        return await _run(info, "Mutation.requestMoreInformation", id,
                          lambda org: app.request_more_information(idempotency_key, org,
                                                                   questions))

    @strawberry.mutation(description=(
        "Answer a request for more information: a partner for its own organization, or staff "
        "and supervisors on its behalf."))
    async def provide_information(self, info: Info[Context, None],
                                  idempotency_key: IdempotencyKey, id: OrganizationId,
                                  answers: Annotated[str, strawberry.argument(
                                      description="The answers to the questions asked.")],
                                  criteria: Annotated[list[Criterion] | None, strawberry.argument(
                                      description=("The criteria attested, when they change; "
                                                   "omitted, they stay as they were."))] = None,
                                  ) -> OrganizationResult:
        app = info.context.system.app
        attested = None if criteria is None else [c.value for c in criteria]
        return await _run(info, "Mutation.provideInformation", id,
                          lambda org: app.provide_information(idempotency_key, org, answers,
                                                              attested))

    @strawberry.mutation(description=(
        "Include an organization under review in the directory: it must attest all seven "
        "criteria (staff and supervisors)."))
    async def approve_inclusion(self, info: Info[Context, None],
                                idempotency_key: IdempotencyKey, id: OrganizationId,
                                note: Annotated[str, strawberry.argument(
                                    description="A note for the history.")] = "",
                                ) -> OrganizationResult:
        app = info.context.system.app
        return await _run(info, "Mutation.approveInclusion", id,
                          lambda org: app.approve_inclusion(idempotency_key, org, note))

    @strawberry.mutation(description=(
        "Decline an application under review or awaiting information (staff and "
        "supervisors)."))
    async def decline_inclusion(self, info: Info[Context, None],
                                idempotency_key: IdempotencyKey, id: OrganizationId,
                                reason: Annotated[str, strawberry.argument(
                                    description="Why it is declined.")],
                                ) -> OrganizationResult:
        app = info.context.system.app
        return await _run(info, "Mutation.declineInclusion", id,
                          lambda org: app.decline_inclusion(idempotency_key, org, reason))

    @strawberry.mutation(description=(
        "Submit a new profile for staff to accept or reject: a partner for its own "
        "organization, or staff and supervisors."))
    async def submit_profile_update(self, info: Info[Context, None],
                                    idempotency_key: IdempotencyKey, id: OrganizationId,
                                    profile: Annotated[ProfileInput, strawberry.argument(
                                        description="The whole profile as it should read.")],
                                    ) -> OrganizationResult:
        app = info.context.system.app
        return await _run(info, "Mutation.submitProfileUpdate", id,
                          lambda org: app.submit_profile_update(idempotency_key, org,
                                                                to_plain(profile)))

    @strawberry.mutation(description=(
        "Accept the pending profile update: it becomes the profile (staff and supervisors)."))
    async def accept_profile_update(self, info: Info[Context, None],
                                    idempotency_key: IdempotencyKey,
                                    id: OrganizationId) -> OrganizationResult:
        app = info.context.system.app
        return await _run(info, "Mutation.acceptProfileUpdate", id,
                          lambda org: app.accept_profile_update(idempotency_key, org))

    @strawberry.mutation(description=(
        "Reject the pending profile update: the profile stays as it was (staff and "
        "supervisors)."))
    async def reject_profile_update(self, info: Info[Context, None],
                                    idempotency_key: IdempotencyKey, id: OrganizationId,
                                    reason: Annotated[str, strawberry.argument(
                                        description="Why it is rejected.")],
                                    ) -> OrganizationResult:
        app = info.context.system.app
        return await _run(info, "Mutation.rejectProfileUpdate", id,
                          lambda org: app.reject_profile_update(idempotency_key, org, reason))

    @strawberry.mutation(description=(
        "Opt in to, or out of, the public directory listing: a partner for its own "
        "organization, or staff and supervisors."))
    async def set_public_listing(self, info: Info[Context, None],
                                 idempotency_key: IdempotencyKey, id: OrganizationId,
                                 listed: Annotated[bool, strawberry.argument(
                                     description="True to appear in the public directory.")],
                                 ) -> OrganizationResult:
        app = info.context.system.app
        return await _run(info, "Mutation.setPublicListing", id,
                          lambda org: app.set_public_listing(idempotency_key, org, listed))

    @strawberry.mutation(description=(
        "Record that the periodic review confirmed an included organization's record (staff "
        "and supervisors)."))
    async def confirm_review(self, info: Info[Context, None],
                             idempotency_key: IdempotencyKey, id: OrganizationId,
                             note: Annotated[str, strawberry.argument(
                                 description="A note for the history.")] = "",
                             ) -> OrganizationResult:
        app = info.context.system.app
        return await _run(info, "Mutation.confirmReview", id,
                          lambda org: app.confirm_review(idempotency_key, org, note))

    @strawberry.mutation(description=(
        "Record an attempt to reach an organization's point of contact; after "
        "NRD_UNREACHABLE_AFTER failed ones in a row it is flagged unreachable (staff and "
        "supervisors)."))
    async def record_contact_attempt(self, info: Info[Context, None],
                                     idempotency_key: IdempotencyKey, id: OrganizationId,
                                     outcome: Annotated[ContactOutcome, strawberry.argument(
                                         description="What came of the attempt.")],
                                     note: Annotated[str, strawberry.argument(
                                         description="A note on the attempt.")] = "",
                                     ) -> OrganizationResult:
        app = info.context.system.app
        return await _run(info, "Mutation.recordContactAttempt", id,
                          lambda org: app.record_contact_attempt(
                              idempotency_key, org, outcome, note))

    @strawberry.mutation(description=(
        "Record an allegation of misconduct against an organization (supervisors)."))
    async def record_misconduct_allegation(self, info: Info[Context, None],
                                           idempotency_key: IdempotencyKey,
                                           id: OrganizationId,
                                           summary: Annotated[str, strawberry.argument(
                                               description="A summary of the allegation.")],
                                           ) -> OrganizationResult:
        app = info.context.system.app
        return await _run(info, "Mutation.recordMisconductAllegation", id,
                          lambda org: app.record_misconduct_allegation(idempotency_key, org,
                                                                       summary))

    @strawberry.mutation(description=(
        "Ask for an included organization to be removed from the directory: a partner for "
        "its own, or staff and supervisors on its behalf."))
    async def request_removal(self, info: Info[Context, None],
                              idempotency_key: IdempotencyKey, id: OrganizationId,
                              note: Annotated[str, strawberry.argument(
                                  description="A note for the history.")] = "",
                              ) -> OrganizationResult:
        app = info.context.system.app
        return await _run(info, "Mutation.requestRemoval", id,
                          lambda org: app.request_removal(idempotency_key, org, note))

    @strawberry.mutation(description=(
        "Remove an included organization from the directory (supervisors). A removal for "
        "misconduct needs an allegation on record."))
    async def remove_organization(self, info: Info[Context, None],
                                  idempotency_key: IdempotencyKey, id: OrganizationId,
                                  reason: Annotated[RemovalReason, strawberry.argument(
                                      description="Why it is removed.")],
                                  note: Annotated[str, strawberry.argument(description=(
                                      "A note on the removal; required when the reason is "
                                      "OTHER."))] = "") -> OrganizationResult:
        app = info.context.system.app
        return await _run(info, "Mutation.removeOrganization", id,
                          lambda org: app.remove_organization(
                              idempotency_key, org, reason, note))

    @strawberry.mutation(description=(
        "Reinstate a removed organization in the directory (supervisors)."))
    async def reinstate_organization(self, info: Info[Context, None],
                                     idempotency_key: IdempotencyKey, id: OrganizationId,
                                     reason: Annotated[str, strawberry.argument(
                                         description="Why it is reinstated.")],
                                     ) -> OrganizationResult:
        app = info.context.system.app
        return await _run(info, "Mutation.reinstateOrganization", id,
                          lambda org: app.reinstate_organization(idempotency_key, org, reason))
