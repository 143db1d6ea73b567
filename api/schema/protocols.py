"""Law-enforcement reporting protocols: living contact lists, with every revision kept."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

import strawberry
from strawberry.types import Info

from api.context import Context, parse_id
from api.schema.common import IdempotencyKey, to_plain
from api.schema.directory import review_interval
from api.schema.organization import Organization
from domain.base import NotFound
from domain.directory import Outcome
from domain.vocabulary import parse_codes

ProtocolId = Annotated[strawberry.ID, strawberry.argument(description="The protocol's id.")]


@strawberry.type(description="A person who receives the hotline's reports under a protocol.")
class ProtocolContact:
    name: str = strawberry.field(description="The person's name.")
    role: str | None = strawberry.field(default=None, description="Their role or rank.")
    phone: str | None = strawberry.field(default=None, description="Their phone number.")
    email: str | None = strawberry.field(default=None, description="Their email address.")
    availability: str | None = strawberry.field(
        default=None, description="When they can be reached.")


@strawberry.type(description="A revision of a protocol's contact list, kept for good.")
class ProtocolRevision:
    revision: int = strawberry.field(
        description="The revision's number, from 1 when the protocol was established.")
    at: str = strawberry.field(description="When it was made (ISO 8601, UTC).")
    actor_id: str = strawberry.field(description="The user id of whoever made it.")
    actor_role: str = strawberry.field(description="Their role.")
    note: str = strawberry.field(description="Their note on the change.")
    contacts: list[ProtocolContact] = strawberry.field(
        description="The contact list as it stood from this revision.")


def _contacts(values: list[dict[str, Any]]) -> list[ProtocolContact]:
    return [ProtocolContact(name=c["name"], role=c.get("role"), phone=c.get("phone"),
                            email=c.get("email"), availability=c.get("availability"))
            for c in values]


@strawberry.type(description="An agency's reporting protocol for one jurisdiction: who "
                             "receives the hotline's reports there. Read by staff and "
                             "supervisors, and by the agency's own liaisons.")
class ReportingProtocol:
    id: strawberry.ID = strawberry.field(description="The protocol's id.")
    agency_id: strawberry.ID | None = strawberry.field(
        default=None, description="The id of the law-enforcement agency it belongs to.")
    province: str | None = strawberry.field(
        default=None, description="The jurisdiction's province or territory (ISO 3166-2:CA code).")
    municipality: str | None = strawberry.field(default=None, description=(
        "The jurisdiction's municipality; null when it covers the whole province or territory."))
    contacts: list[ProtocolContact] | None = strawberry.field(
        default=None, description="The personnel who receive the hotline's reports now.")
    updated_at: str | None = strawberry.field(
        default=None, description="When the contact list last changed (ISO 8601, UTC).")
    revisions: list[ProtocolRevision] | None = strawberry.field(
        default=None, description="Every revision of the contact list, oldest first.")

    def access_key(self) -> tuple[str, str, str | None]:
        return "ReportingProtocol", str(self.id), None

    @strawberry.field(description="The agency, as your role may see it.")
    async def agency(self, info: Info[Context, None]) -> Organization | None:
        if self.agency_id is None:
            return None
        found = await info.context.organization(str(self.agency_id))
        if found is None:
            return None
        return Organization.from_doc(found[0], found[1], review_interval(info.context))

    @classmethod
    def from_doc(cls, doc: dict[str, Any], visible: frozenset[str]) -> ReportingProtocol:
        built: dict[str, Any] = {
            "agencyId": lambda: strawberry.ID(doc["agencyId"]),
            "province": lambda: doc["province"],
            "municipality": lambda: doc.get("municipality"),
            "contacts": lambda: _contacts(doc["contacts"]),
            "updatedAt": lambda: doc["updatedAt"],
            "revisions": lambda: [
                ProtocolRevision(revision=r["revision"], at=r["at"], actor_id=r["actorId"],
                                 actor_role=r["actorRole"], note=r["note"],
                                 contacts=_contacts(r["contacts"]))
                for r in doc["revisions"]],
        }
        names = {"agencyId": "agency_id", "updatedAt": "updated_at"}
        kwargs = {names.get(k, k): make() for k, make in built.items() if k in visible}
        return cls(id=strawberry.ID(doc["id"]), **kwargs)


@strawberry.input(description="A person who receives the hotline's reports under a protocol.")
class ProtocolContactInput:
    name: str = strawberry.field(description="The person's name.")
    role: str | None = strawberry.field(default=None, description="Their role or rank.")
    phone: str | None = strawberry.field(default=None, description="Their phone number.")
    email: str | None = strawberry.field(default=None, description="Their email address.")
    availability: str | None = strawberry.field(
        default=None, description="When they can be reached.")


@strawberry.type(description="What a protocol command did; a repeated key returns the first "
                             "result.")
class ProtocolResult:
    protocol_id: strawberry.ID = strawberry.field(
        description="The id of the protocol the command acted on.")
    version: int = strawberry.field(description="The protocol's version after the command.")
    replayed: bool = strawberry.field(
        description="True when the idempotency key had been used: nothing was written again.")
    protocol: ReportingProtocol | None = strawberry.field(
        description="The protocol as your role may now read it.")


@strawberry.type
class ProtocolQueries:
    @strawberry.field(description="Reporting protocols your role may read (a liaison: only "
                                  "their own agency's).")
    async def reporting_protocols(self, info: Info[Context, None],
                                  province: Annotated[str | None, strawberry.argument(
                                      description=("Only protocols for this province or "
                                                   "territory (ISO 3166-2:CA code)."))] = None,
                                  ) -> list[ReportingProtocol]:
        if province is not None:
            parse_codes([province], [])
        docs, visible = await info.context.protocols(province)
        return [ReportingProtocol.from_doc(doc, visible) for doc in docs]

    @strawberry.field(description="One reporting protocol your role may read, or null.")
    async def reporting_protocol(self, info: Info[Context, None],
                                 id: ProtocolId) -> ReportingProtocol | None:
        found = await info.context.protocol(str(id))
        return None if found is None else ReportingProtocol.from_doc(*found)


async def _result(ctx: Context, outcome: Outcome) -> ProtocolResult:
    found = await ctx.protocol(str(outcome.id))
    return ProtocolResult(protocol_id=strawberry.ID(str(outcome.id)), version=outcome.version,
                          replayed=outcome.replayed,
                          protocol=None if found is None else ReportingProtocol.from_doc(*found))


@strawberry.type
class ProtocolMutations:
    @strawberry.mutation(description=(
        "Establish an agency's reporting protocol for a jurisdiction, one per agency and "
        "jurisdiction (staff and supervisors, or the agency's own liaison)."))
    async def establish_reporting_protocol(
        self, info: Info[Context, None], idempotency_key: IdempotencyKey,
        agency_id: Annotated[strawberry.ID, strawberry.argument(
            description="The law-enforcement agency's id.")],
        province: Annotated[str, strawberry.argument(
            description="The jurisdiction's province or territory (ISO 3166-2:CA code).")],
        contacts: Annotated[list[ProtocolContactInput], strawberry.argument(
            description="The personnel who receive the hotline's reports.")],
        municipality: Annotated[str | None, strawberry.argument(description=(
            "The jurisdiction's municipality; omitted, the whole province or "
            "territory."))] = None,
    ) -> ProtocolResult:
        ctx = info.context
        agency = parse_id(str(agency_id))
        ctx.authorize("Mutation.establishReportingProtocol", agency, "organization")
        if agency is None:
            raise NotFound("organization not found")
        outcome = await ctx.command(lambda: ctx.system.app.establish_reporting_protocol(
            idempotency_key, UUID(agency), province, municipality, to_plain(contacts)))
        return await _result(ctx, outcome)

    @strawberry.mutation(description=(
        "Replace a protocol's contact list; every revision is kept (staff and supervisors, or "
        "the agency's own liaison)."))
    async def revise_protocol_contacts(
        self, info: Info[Context, None], idempotency_key: IdempotencyKey,
        id: ProtocolId, contacts: Annotated[list[ProtocolContactInput], strawberry.argument(
            description="The whole contact list as it should read.")],
        note: Annotated[str, strawberry.argument(description="A note on the change.")] = "",
    ) -> ProtocolResult:
        ctx = info.context
        clean = parse_id(str(id))
        if clean is None:
            raise NotFound("reporting protocol not found")
        agency: str | None
        if (scope := ctx.protocol_scope()) is not None and scope[1] is not None:
            # A caller who reads only its own agency's protocols: whose it is is decided in
            # the read model's query (where the caller found the id), so another agency's
            # costs what a missing one does; loading the aggregate would cost more, or less
            # when cached, than finding none.
            found = await ctx.protocol(clean)
            agency = None if found is None else found[0]["agencyId"]
        else:
            agency = str(await ctx.run(ctx.system.app.protocol_agency, UUID(clean)))
        ctx.authorize("Mutation.reviseProtocolContacts", agency, "reporting protocol")
        outcome = await ctx.command(lambda: ctx.system.app.revise_protocol_contacts(
            idempotency_key, UUID(clean), to_plain(contacts), note))
        return await _result(ctx, outcome)
