"""The inclusion lifecycle's commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated
from uuid import UUID

import strawberry
from strawberry.types import Info

from api.context import Context, parse_id
from api.schema.common import ContactOutcome, Criterion, IdempotencyKey, RemovalReason, to_plain
from api.schema.directory.inputs import ApplicationInput, OrganizationId, ProfileInput
from api.schema.directory.organization import Organization, review_interval
from api.schema.directory.types import OrganizationResult
from domain.base import NotFound
from domain.write_path import Outcome


async def _run(
    info: Info[Context, None],
    coordinate: str,
    org_id: str | None,
    command: Callable[[UUID], Outcome],
) -> OrganizationResult:
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
    return OrganizationResult(
        organization_id=strawberry.ID(str(outcome.id)),
        version=outcome.version,
        replayed=outcome.replayed,
        organization=organization,
    )


@strawberry.type
class DirectoryMutations:
    @strawberry.mutation(
        description=(
            "Apply for inclusion in the directory (the public form). Anyone may apply; staff and "
            "supervisors may apply on an organization's behalf."
        )
    )
    async def apply_for_inclusion(
        self,
        info: Info[Context, None],
        idempotency_key: IdempotencyKey,
        input: Annotated[ApplicationInput, strawberry.argument(description="The application.")],
    ) -> OrganizationResult:
        app = info.context.system.app
        return await _run(
            info,
            "Mutation.applyForInclusion",
            None,
            lambda _: app.apply_for_inclusion(
                idempotency_key,
                to_plain(input.profile),
                [c.value for c in input.criteria],
                input.public_listing,
                input.listing_agreement or "",
            ),
        )

    @strawberry.mutation(
        description=(
            "Start reviewing an application, new or with the information asked for (staff and "
            "supervisors)."
        )
    )
    async def start_review(
        self, info: Info[Context, None], idempotency_key: IdempotencyKey, id: OrganizationId
    ) -> OrganizationResult:
        app = info.context.system.app
        return await _run(
            info, "Mutation.startReview", id, lambda org: app.start_review(idempotency_key, org)
        )

    @strawberry.mutation(
        description=(
            "Ask an organization under review for more information (staff and supervisors)."
        )
    )
    async def request_more_information(
        self,
        info: Info[Context, None],
        idempotency_key: IdempotencyKey,
        id: OrganizationId,
        questions: Annotated[
            str, strawberry.argument(description="What the organization is asked.")
        ],
    ) -> OrganizationResult:
        app = info.context.system.app
        return await _run(
            info,
            "Mutation.requestMoreInformation",
            id,
            lambda org: app.request_more_information(idempotency_key, org, questions),
        )

    @strawberry.mutation(
        description=(
            "Answer a request for more information: a partner for its own organization, or staff "
            "and supervisors on its behalf."
        )
    )
    async def provide_information(
        self,
        info: Info[Context, None],
        idempotency_key: IdempotencyKey,
        id: OrganizationId,
        answers: Annotated[
            str, strawberry.argument(description="The answers to the questions asked.")
        ],
        criteria: Annotated[
            list[Criterion] | None,
            strawberry.argument(
                description=(
                    "The criteria attested, when they change; omitted, they stay as they were."
                )
            ),
        ] = None,
    ) -> OrganizationResult:
        app = info.context.system.app
        attested = None if criteria is None else [c.value for c in criteria]
        return await _run(
            info,
            "Mutation.provideInformation",
            id,
            lambda org: app.provide_information(idempotency_key, org, answers, attested),
        )

    @strawberry.mutation(
        description=(
            "Include an organization under review in the directory: a service provider must "
            "attest all seven criteria; an agency is included with includeAgency, a child-protection "
            "authority with includePublicBody instead (staff "
            "and supervisors)."
        )
    )
    async def approve_inclusion(
        self,
        info: Info[Context, None],
        idempotency_key: IdempotencyKey,
        id: OrganizationId,
        note: Annotated[str, strawberry.argument(description="A note for the history.")] = "",
    ) -> OrganizationResult:
        app = info.context.system.app
        return await _run(
            info,
            "Mutation.approveInclusion",
            id,
            lambda org: app.approve_inclusion(idempotency_key, org, note),
        )

    @strawberry.mutation(
        description=(
            "Include a child-protection authority under review in the directory: a public body "
            "with no reporting protocol and no service criteria, included by a supervisor on a "
            "written verification that it is the statutory body (supervisors)."
        )
    )
    async def include_public_body(
        self,
        info: Info[Context, None],
        idempotency_key: IdempotencyKey,
        id: OrganizationId,
        verification: Annotated[
            str,
            strawberry.argument(
                description="How the supervisor verified it is the statutory body: the "
                "source checked and a reference (required)."
            ),
        ],
    ) -> OrganizationResult:
        app = info.context.system.app
        return await _run(
            info,
            "Mutation.includePublicBody",
            id,
            lambda org: app.include_public_body(idempotency_key, org, verification),
        )

    @strawberry.mutation(
        description=(
            "Include a law-enforcement agency under review in the directory on its own path: its "
            "request (its application) and a reporting protocol established for it, not the "
            "service providers' criteria (staff and supervisors)."
        )
    )
    async def include_agency(
        self,
        info: Info[Context, None],
        idempotency_key: IdempotencyKey,
        id: OrganizationId,
        reporting_protocol_id: Annotated[
            strawberry.ID,
            strawberry.argument(description="A reporting protocol established for this agency."),
        ],
        note: Annotated[str, strawberry.argument(description="A note for the history.")] = "",
    ) -> OrganizationResult:
        app = info.context.system.app
        protocol = parse_id(reporting_protocol_id)
        if protocol is None:
            raise NotFound("reporting protocol not found")
        return await _run(
            info,
            "Mutation.includeAgency",
            id,
            lambda org: app.include_agency(idempotency_key, org, note, UUID(protocol)),
        )

    @strawberry.mutation(
        description=(
            "Decline an application under review or awaiting information (staff and supervisors)."
        )
    )
    async def decline_inclusion(
        self,
        info: Info[Context, None],
        idempotency_key: IdempotencyKey,
        id: OrganizationId,
        reason: Annotated[str, strawberry.argument(description="Why it is declined.")],
    ) -> OrganizationResult:
        app = info.context.system.app
        return await _run(
            info,
            "Mutation.declineInclusion",
            id,
            lambda org: app.decline_inclusion(idempotency_key, org, reason),
        )

    @strawberry.mutation(
        description=(
            "Submit a new profile for staff to accept or reject: a partner for its own "
            "organization, or staff and supervisors."
        )
    )
    async def submit_profile_update(
        self,
        info: Info[Context, None],
        idempotency_key: IdempotencyKey,
        id: OrganizationId,
        profile: Annotated[
            ProfileInput, strawberry.argument(description="The whole profile as it should read.")
        ],
    ) -> OrganizationResult:
        app = info.context.system.app
        return await _run(
            info,
            "Mutation.submitProfileUpdate",
            id,
            lambda org: app.submit_profile_update(idempotency_key, org, to_plain(profile)),
        )

    @strawberry.mutation(
        description=(
            "Accept the pending profile update: it becomes the profile (staff and supervisors)."
        )
    )
    async def accept_profile_update(
        self, info: Info[Context, None], idempotency_key: IdempotencyKey, id: OrganizationId
    ) -> OrganizationResult:
        app = info.context.system.app
        return await _run(
            info,
            "Mutation.acceptProfileUpdate",
            id,
            lambda org: app.accept_profile_update(idempotency_key, org),
        )

    @strawberry.mutation(
        description=(
            "Reject the pending profile update: the profile stays as it was (staff and "
            "supervisors)."
        )
    )
    async def reject_profile_update(
        self,
        info: Info[Context, None],
        idempotency_key: IdempotencyKey,
        id: OrganizationId,
        reason: Annotated[str, strawberry.argument(description="Why it is rejected.")],
    ) -> OrganizationResult:
        app = info.context.system.app
        return await _run(
            info,
            "Mutation.rejectProfileUpdate",
            id,
            lambda org: app.reject_profile_update(idempotency_key, org, reason),
        )

    @strawberry.mutation(
        description=(
            "Opt in to, or out of, the public directory listing: a partner for its own "
            "organization; staff and supervisors only by recording the organization's written "
            "agreement."
        )
    )
    async def set_public_listing(
        self,
        info: Info[Context, None],
        idempotency_key: IdempotencyKey,
        id: OrganizationId,
        listed: Annotated[
            bool, strawberry.argument(description="True to appear in the public directory.")
        ],
        agreement: Annotated[
            str,
            strawberry.argument(
                description=(
                    "Staff and supervisors: the organization's written agreement (a reference "
                    "and a note), required of them and kept in the history. A partner acting "
                    "for its own organization needs none."
                )
            ),
        ] = "",
    ) -> OrganizationResult:
        app = info.context.system.app
        return await _run(
            info,
            "Mutation.setPublicListing",
            id,
            lambda org: app.set_public_listing(idempotency_key, org, listed, agreement),
        )

    @strawberry.mutation(
        description=(
            "Dismiss the possible-duplicate flag on an application not decided yet: it is not "
            "a duplicate (staff and supervisors)."
        )
    )
    async def dismiss_possible_duplicate(
        self,
        info: Info[Context, None],
        idempotency_key: IdempotencyKey,
        id: OrganizationId,
        note: Annotated[str, strawberry.argument(description="Why it is not a duplicate.")],
    ) -> OrganizationResult:
        app = info.context.system.app
        return await _run(
            info,
            "Mutation.dismissPossibleDuplicate",
            id,
            lambda org: app.dismiss_possible_duplicate(idempotency_key, org, note),
        )

    @strawberry.mutation(
        description=(
            "Decline an application not decided yet as a duplicate of an existing organization "
            "(staff and supervisors). Nothing is merged."
        )
    )
    async def decline_as_duplicate(
        self,
        info: Info[Context, None],
        idempotency_key: IdempotencyKey,
        id: OrganizationId,
        duplicate_of: Annotated[
            strawberry.ID,
            strawberry.argument(description="The existing organization it duplicates."),
        ],
        note: Annotated[str, strawberry.argument(description="A note for the hotline.")] = "",
    ) -> OrganizationResult:
        app = info.context.system.app
        existing = parse_id(duplicate_of)
        if existing is None:
            raise NotFound("organization not found")
        return await _run(
            info,
            "Mutation.declineAsDuplicate",
            id,
            lambda org: app.decline_as_duplicate(idempotency_key, org, UUID(existing), note),
        )

    @strawberry.mutation(
        description=(
            "Record that the periodic review confirmed an included organization's record (staff "
            "and supervisors)."
        )
    )
    async def confirm_review(
        self,
        info: Info[Context, None],
        idempotency_key: IdempotencyKey,
        id: OrganizationId,
        note: Annotated[str, strawberry.argument(description="A note for the history.")] = "",
    ) -> OrganizationResult:
        app = info.context.system.app
        return await _run(
            info,
            "Mutation.confirmReview",
            id,
            lambda org: app.confirm_review(idempotency_key, org, note),
        )

    @strawberry.mutation(
        description=(
            "Record an attempt to reach an organization's point of contact; after "
            "NRD_UNREACHABLE_AFTER failed ones in a row it is flagged unreachable (staff and "
            "supervisors)."
        )
    )
    async def record_contact_attempt(
        self,
        info: Info[Context, None],
        idempotency_key: IdempotencyKey,
        id: OrganizationId,
        outcome: Annotated[
            ContactOutcome, strawberry.argument(description="What came of the attempt.")
        ],
        note: Annotated[str, strawberry.argument(description="A note on the attempt.")] = "",
    ) -> OrganizationResult:
        app = info.context.system.app
        return await _run(
            info,
            "Mutation.recordContactAttempt",
            id,
            lambda org: app.record_contact_attempt(idempotency_key, org, outcome, note),
        )

    @strawberry.mutation(
        description=("Record an allegation of misconduct against an organization (supervisors).")
    )
    async def record_misconduct_allegation(
        self,
        info: Info[Context, None],
        idempotency_key: IdempotencyKey,
        id: OrganizationId,
        summary: Annotated[str, strawberry.argument(description="A summary of the allegation.")],
    ) -> OrganizationResult:
        app = info.context.system.app
        return await _run(
            info,
            "Mutation.recordMisconductAllegation",
            id,
            lambda org: app.record_misconduct_allegation(idempotency_key, org, summary),
        )

    @strawberry.mutation(
        description=(
            "Ask for an included organization to be removed from the directory: a partner for "
            "its own, or staff and supervisors on its behalf."
        )
    )
    async def request_removal(
        self,
        info: Info[Context, None],
        idempotency_key: IdempotencyKey,
        id: OrganizationId,
        note: Annotated[str, strawberry.argument(description="A note for the history.")] = "",
    ) -> OrganizationResult:
        app = info.context.system.app
        return await _run(
            info,
            "Mutation.requestRemoval",
            id,
            lambda org: app.request_removal(idempotency_key, org, note),
        )

    @strawberry.mutation(
        description=(
            "Remove an included organization from the directory (supervisors). A removal for "
            "misconduct needs an allegation on record."
        )
    )
    async def remove_organization(
        self,
        info: Info[Context, None],
        idempotency_key: IdempotencyKey,
        id: OrganizationId,
        reason: Annotated[RemovalReason, strawberry.argument(description="Why it is removed.")],
        note: Annotated[
            str,
            strawberry.argument(
                description=("A note on the removal; required when the reason is OTHER.")
            ),
        ] = "",
    ) -> OrganizationResult:
        app = info.context.system.app
        return await _run(
            info,
            "Mutation.removeOrganization",
            id,
            lambda org: app.remove_organization(idempotency_key, org, reason, note),
        )

    @strawberry.mutation(
        description=(
            "Lift a removal (supervisors): the organization is under review again, and returns "
            "to the directory only by a new inclusion decision."
        )
    )
    async def reinstate_organization(
        self,
        info: Info[Context, None],
        idempotency_key: IdempotencyKey,
        id: OrganizationId,
        reason: Annotated[str, strawberry.argument(description="Why it is reinstated.")],
    ) -> OrganizationResult:
        app = info.context.system.app
        return await _run(
            info,
            "Mutation.reinstateOrganization",
            id,
            lambda org: app.reinstate_organization(idempotency_key, org, reason),
        )
