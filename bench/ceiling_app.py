"""The stack's ceiling: the command benchmark's two mutations, with resolvers that do nothing.

Same documents, same variables, same argument types and enums (the domain's own), the same
answer shape (``caseId version replayed``), served the same way: strawberry's ASGI app in
Starlette, under uvicorn with as many worker processes as the API gets, the parsed and validated
document cached as the API caches it. No authentication, no policy, no store, no thread hop: what
this answers per second is as far as the HTTP and GraphQL layers the product prescribes can go on
this machine before any of nrd's own work.

POST /graphql   GET /healthz
Run as ``uvicorn --factory ceiling_app:create`` (from the repository root, for ``domain``).
"""

from __future__ import annotations

import strawberry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from strawberry.asgi import GraphQL
from strawberry.extensions import ParserCache, ValidationCache

from api.wiring import settle_process
from domain.case import (
    ConsentGiver,
    ConsentMethod,
    ConsentScope,
    DisclosableField,
    Need,
    ReferralMode,
)

for _enum in (ConsentScope, ConsentGiver, ConsentMethod, ReferralMode, Need, DisclosableField):
    strawberry.enum(_enum)


@strawberry.type
class CaseResult:
    case_id: strawberry.ID
    version: int
    replayed: bool


@strawberry.type
class Query:
    @strawberry.field
    def ok(self) -> bool:
        return True


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def grant_consent(
        self,
        idempotency_key: str,
        id: strawberry.ID,
        scope: ConsentScope,
        given_by: ConsentGiver,
        method: ConsentMethod,
        recipient_id: strawberry.ID | None = None,
        expires_at: str | None = None,
    ) -> CaseResult:
        return CaseResult(case_id=id, version=2, replayed=False)

    @strawberry.mutation
    async def refer_case(
        self,
        idempotency_key: str,
        id: strawberry.ID,
        organization_id: strawberry.ID,
        mode: ReferralMode,
        needs: list[Need],
        fields: list[DisclosableField] | None = None,
        brief: str = "",
    ) -> CaseResult:
        return CaseResult(case_id=id, version=3, replayed=False)


schema = strawberry.Schema(
    query=Query,
    mutation=Mutation,
    extensions=[lambda: ParserCache(maxsize=64), lambda: ValidationCache(maxsize=64)],
)


def healthz(_request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def create() -> Starlette:
    settle_process()  # as `nrd serve` does: the stack served the same way
    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/graphql", GraphQL(schema), methods=["GET", "POST"]),
        ]
    )
