"""Member and service-account commands. Who may manage whom is the domain's decision
(``domain/memberships.py``); the policy says which roles may ask at all."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated
from uuid import UUID

import strawberry
from strawberry.types import Info

from api.context import Context, parse_id
from api.schema.common import IdempotencyKey, selected
from api.schema.members.enums import MemberRole
from api.schema.members.inputs import (
    CreateServiceAccountInput,
    InviteMemberInput,
    MemberId,
    Reason,
)
from api.schema.members.types import (
    IssuedServiceToken,
    MemberResult,
    ServiceAccountResult,
    build_member,
)
from domain.base import DomainError, InvalidInput, NotFound
from domain.write_path import Outcome
from projections.aggregates import iso

AccountId = Annotated[strawberry.ID, strawberry.argument(description="The service account's id.")]


class ServiceTokenShownOnce(DomainError):
    """A repeated issueServiceToken: the token was shown the first time only."""

    code = "SERVICE_TOKEN_SHOWN_ONCE"


class PersonRequired(DomainError):
    """Who holds which role, and which integration holds a token, is decided by a person who
    signed in, never by an integration's token: a leaked token cannot mint its own successors
    nor invite anyone."""

    code = "PERSON_REQUIRED"


def _by_a_person(ctx: Context) -> None:
    if ctx.principal.token_id is not None:
        raise PersonRequired(
            "memberships and service accounts are managed by a person who signed in, not by a "
            "service account's token"
        )


def _id(value: object, what: str) -> UUID:
    clean = parse_id(str(value))
    if clean is None:
        raise NotFound(f"{what} not found")
    return UUID(clean)


def _org(value: object | None) -> UUID | None:
    if value is None:
        return None
    clean = parse_id(str(value))
    if clean is None:
        raise InvalidInput(["organizationId: an organization id"])
    return UUID(clean)


async def _member_result(info: Info[Context, None], outcome: Outcome) -> MemberResult:
    ctx = info.context
    member = None
    if "member" in selected(info):
        doc = await ctx.run(ctx.system.memberships.get, str(outcome.id))
        member = None if doc is None else build_member(doc)
    return MemberResult(
        member_id=strawberry.ID(str(outcome.id)),
        version=outcome.version,
        replayed=outcome.replayed,
        member=member,
    )


def _account_result(outcome: Outcome) -> ServiceAccountResult:
    return ServiceAccountResult(
        service_account_id=strawberry.ID(str(outcome.id)),
        version=outcome.version,
        replayed=outcome.replayed,
    )


@strawberry.type
class MemberMutations:
    @strawberry.mutation(
        description=(
            "Invite a person to hold a role: supervisors invite anyone; an organization's "
            "administrator invites its own organization's people. The invitation is taken up by "
            "the first sign-in with that verified address, before it expires."
        )
    )
    async def invite_member(
        self,
        info: Info[Context, None],
        idempotency_key: IdempotencyKey,
        input: Annotated[InviteMemberInput, strawberry.argument(description="The invitation.")],
    ) -> MemberResult:
        ctx = info.context
        _by_a_person(ctx)
        org = _org(input.organization_id)
        ctx.authorize("Mutation.inviteMember", None if org is None else str(org), "member")
        outcome = await ctx.command(
            lambda: ctx.system.app.invite_member(
                idempotency_key, input.email, input.role, org, input.administrator
            )
        )
        return await _member_result(info, outcome)

    @strawberry.mutation(
        description=(
            "Change a member's role (within the hotline's roles, or an organization member's "
            "administrator right): supervisors, or the organization's administrator."
        )
    )
    async def change_member_role(
        self,
        info: Info[Context, None],
        idempotency_key: IdempotencyKey,
        id: MemberId,
        role: Annotated[MemberRole, strawberry.argument(description="The new role.")],
        reason: Reason,
        administrator: Annotated[
            bool,
            strawberry.argument(description="Whether they manage their organization's people."),
        ] = False,
    ) -> MemberResult:
        return await _managed(
            info,
            "Mutation.changeMemberRole",
            id,
            lambda app, key, member: app.change_member_role(
                key, member, role, administrator, reason
            ),
            idempotency_key,
        )

    @strawberry.mutation(
        description=(
            "Suspend a member: every request and session of theirs is refused from the next "
            "one on, until reinstated."
        )
    )
    async def suspend_member(
        self,
        info: Info[Context, None],
        idempotency_key: IdempotencyKey,
        id: MemberId,
        reason: Reason,
    ) -> MemberResult:
        return await _managed(
            info,
            "Mutation.suspendMember",
            id,
            lambda app, key, member: app.suspend_member(key, member, reason),
            idempotency_key,
        )

    @strawberry.mutation(description="Reinstate a suspended member.")
    async def reinstate_member(
        self,
        info: Info[Context, None],
        idempotency_key: IdempotencyKey,
        id: MemberId,
        reason: Reason,
    ) -> MemberResult:
        return await _managed(
            info,
            "Mutation.reinstateMember",
            id,
            lambda app, key, member: app.reinstate_member(key, member, reason),
            idempotency_key,
        )

    @strawberry.mutation(description="Revoke a membership for good.")
    async def revoke_member(
        self,
        info: Info[Context, None],
        idempotency_key: IdempotencyKey,
        id: MemberId,
        reason: Reason,
    ) -> MemberResult:
        return await _managed(
            info,
            "Mutation.revokeMember",
            id,
            lambda app, key, member: app.revoke_member(key, member, reason),
            idempotency_key,
        )

    @strawberry.mutation(description="Create a service account for an integration: supervisors.")
    async def create_service_account(
        self,
        info: Info[Context, None],
        idempotency_key: IdempotencyKey,
        input: Annotated[
            CreateServiceAccountInput, strawberry.argument(description="The integration.")
        ],
    ) -> ServiceAccountResult:
        ctx = info.context
        _by_a_person(ctx)
        ctx.authorize("Mutation.createServiceAccount", None, "service account")
        org = _org(input.organization_id)
        outcome = await ctx.command(
            lambda: ctx.system.app.create_service_account(
                idempotency_key, input.name, input.role, org
            )
        )
        return _account_result(outcome)

    @strawberry.mutation(
        description=(
            "Issue a bearer token for a service account: supervisors. The token is in this "
            "answer only; a repeated key is refused (SERVICE_TOKEN_SHOWN_ONCE)."
        )
    )
    async def issue_service_token(
        self,
        info: Info[Context, None],
        idempotency_key: IdempotencyKey,
        service_account_id: AccountId,
        minutes: Annotated[
            int | None,
            strawberry.argument(
                description="How long it lives (at most NRD_SERVICE_TOKEN_MAX_MINUTES; the default)."
            ),
        ] = None,
    ) -> IssuedServiceToken:
        ctx = info.context
        _by_a_person(ctx)
        ctx.authorize("Mutation.issueServiceToken", None, "service account")
        account_id = _id(service_account_id, "service account")
        most = ctx.system.settings.service_token_max_minutes
        lifetime = most if minutes is None else minutes
        if not 1 <= lifetime <= most:
            raise InvalidInput([f"minutes: between 1 and {most}"])
        doc = await ctx.run(ctx.system.memberships.service_account, str(account_id))
        if doc is None:
            raise NotFound("service account not found")
        token_id = secrets.token_urlsafe(16)
        outcome = await ctx.command(
            lambda: ctx.system.app.issue_service_token(
                idempotency_key, account_id, token_id, lifetime
            )
        )
        if outcome.replayed:
            raise ServiceTokenShownOnce(
                "this key already issued a token, shown only then: issue a new one with a new key"
            )
        token = ctx.system.auth.issue(
            doc["role"],
            doc["id"],
            doc["organizationId"],
            hours=lifetime / 60,
            token_id=token_id,
        )
        expires = datetime.now(UTC) + timedelta(minutes=lifetime)
        return IssuedServiceToken(
            service_account_id=strawberry.ID(doc["id"]),
            token_id=strawberry.ID(token_id),
            token=token,
            expires_at=iso(expires),
        )

    @strawberry.mutation(
        description="Revoke a service token: refused from the next request on. Supervisors."
    )
    async def revoke_service_token(
        self,
        info: Info[Context, None],
        idempotency_key: IdempotencyKey,
        service_account_id: AccountId,
        token_id: Annotated[strawberry.ID, strawberry.argument(description="The token's id.")],
        reason: Reason,
    ) -> ServiceAccountResult:
        ctx = info.context
        _by_a_person(ctx)
        ctx.authorize("Mutation.revokeServiceToken", None, "service account")
        account_id = _id(service_account_id, "service account")
        outcome = await ctx.command(
            lambda: ctx.system.app.revoke_service_token(
                idempotency_key, account_id, str(token_id), reason
            )
        )
        return _account_result(outcome)


async def _managed(
    info: Info[Context, None],
    coordinate: str,
    id: object,
    run: Callable[..., Outcome],
    key: str,
) -> MemberResult:
    ctx = info.context
    _by_a_person(ctx)
    member = _id(id, "member")
    # The policy lets supervisors and organizations' people ask; the domain decides whose.
    ctx.authorize(coordinate, ctx.principal.organization_id, "member")
    outcome = await ctx.command(lambda: run(ctx.system.app, key, member))
    return await _member_result(info, outcome)
