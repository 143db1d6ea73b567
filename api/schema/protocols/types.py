"""A reporting protocol, its contacts and revisions, and what a protocol command did."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from api.context import Context
from api.schema.directory.organization import Organization, review_interval


@strawberry.type(description="A person who receives the hotline's reports under a protocol.")
class ProtocolContact:
    name: str = strawberry.field(description="The person's name.")
    role: str | None = strawberry.field(default=None, description="Their role or rank.")
    phone: str | None = strawberry.field(default=None, description="Their phone number.")
    email: str | None = strawberry.field(default=None, description="Their email address.")
    availability: str | None = strawberry.field(
        default=None, description="When they can be reached."
    )


@strawberry.type(description="A revision of a protocol's contact list, kept for good.")
class ProtocolRevision:
    revision: int = strawberry.field(
        description="The revision's number, from 1 when the protocol was established."
    )
    at: str = strawberry.field(description="When it was made (ISO 8601, UTC).")
    actor_id: str = strawberry.field(description="The user id of whoever made it.")
    actor_role: str = strawberry.field(description="Their role.")
    note: str = strawberry.field(description="Their note on the change.")
    contacts: list[ProtocolContact] = strawberry.field(
        description="The contact list as it stood from this revision."
    )


def _contacts(values: list[dict[str, Any]]) -> list[ProtocolContact]:
    return [
        ProtocolContact(
            name=c["name"],
            role=c.get("role"),
            phone=c.get("phone"),
            email=c.get("email"),
            availability=c.get("availability"),
        )
        for c in values
    ]


@strawberry.type(
    description="An agency's reporting protocol for one jurisdiction: who "
    "receives the hotline's reports there. Read by staff and "
    "supervisors, and by the agency's own liaisons."
)
class ReportingProtocol:
    id: strawberry.ID = strawberry.field(description="The protocol's id.")
    agency_id: strawberry.ID | None = strawberry.field(
        default=None, description="The id of the law-enforcement agency it belongs to."
    )
    province: str | None = strawberry.field(
        default=None, description="The jurisdiction's province or territory (ISO 3166-2:CA code)."
    )
    municipality: str | None = strawberry.field(
        default=None,
        description=(
            "The jurisdiction's municipality; null when it covers the whole province or territory."
        ),
    )
    contacts: list[ProtocolContact] | None = strawberry.field(
        default=None, description="The personnel who receive the hotline's reports now."
    )
    updated_at: str | None = strawberry.field(
        default=None, description="When the contact list last changed (ISO 8601, UTC)."
    )
    revisions: list[ProtocolRevision] | None = strawberry.field(
        default=None, description="Every revision of the contact list, oldest first."
    )

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
                ProtocolRevision(
                    revision=r["revision"],
                    at=r["at"],
                    actor_id=r["actorId"],
                    actor_role=r["actorRole"],
                    note=r["note"],
                    contacts=_contacts(r["contacts"]),
                )
                for r in doc["revisions"]
            ],
        }
        names = {"agencyId": "agency_id", "updatedAt": "updated_at"}
        kwargs = {names.get(k, k): make() for k, make in built.items() if k in visible}
        return cls(id=strawberry.ID(doc["id"]), **kwargs)


@strawberry.type(
    description="What a protocol command did; a repeated key returns the first result."
)
class ProtocolResult:
    protocol_id: strawberry.ID = strawberry.field(
        description="The id of the protocol the command acted on."
    )
    version: int = strawberry.field(description="The protocol's version after the command.")
    replayed: bool = strawberry.field(
        description="True when the idempotency key had been used: nothing was written again."
    )
    protocol: ReportingProtocol | None = strawberry.field(
        description="The protocol as your role may now read it."
    )
