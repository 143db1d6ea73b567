"""A contact with the hotline, a page of them, the public counts of them, and what a contact
command did: GraphQL types, built from read-model documents."""

from __future__ import annotations

import strawberry

from api.schema.cases.enums import Channel
from api.schema.common import PageInfo
from api.schema.contacts.enums import Direction, Disposition
from projections.contacts import ContactDoc


@strawberry.type(
    description=(
        "One contact with the hotline (a call, text, chat, email or web form), with or without a "
        "case. It holds no caller personal data and no free text: what was said belongs on the "
        "case, sealed. Read by hotline staff, supervisors and compliance officers; every read is "
        "in the access log."
    )
)
class Contact:
    id: strawberry.ID = strawberry.field(description="The contact's id (random).")
    channel: Channel = strawberry.field(description="How the hotline was reached.")
    direction: Direction = strawberry.field(description="Which way the contact went.")
    started_at: str = strawberry.field(description="When it started (ISO 8601, UTC).")
    duration_seconds: int = strawberry.field(
        description=(
            "How long it lasted, in seconds (0 once its case's personal data was erased; its "
            "start is then the first of its month, and it names no case)."
        )
    )
    language: str | None = strawberry.field(
        description="The language spoken (ISO 639-1 or 639-3 code); null when not known."
    )
    disposition: Disposition = strawberry.field(description="What came of it.")
    province: str | None = strawberry.field(
        description=(
            "The province or territory recorded on the contact (ISO 3166-2:CA code); its case's "
            "counts for the statistics when it has one."
        )
    )
    case_id: strawberry.ID | None = strawberry.field(
        description="The case it belongs to; null while it has none."
    )
    attached_at: str | None = strawberry.field(
        description=(
            "When it was attached to its case after being recorded (ISO 8601, UTC); null when "
            "recorded on the case, or with none."
        )
    )
    recorded_at: str = strawberry.field(description="When it was recorded (ISO 8601, UTC).")
    recorded_by: str = strawberry.field(description="The user id of whoever recorded it.")

    def access_key(self) -> tuple[str, str, str | None]:
        return "Contact", str(self.id), None if self.case_id is None else str(self.case_id)


def build_contact(doc: ContactDoc) -> Contact:
    return Contact(
        id=strawberry.ID(doc["id"]),
        channel=Channel(doc["channel"]),
        direction=Direction(doc["direction"]),
        started_at=doc["startedAt"],
        duration_seconds=doc["durationSeconds"],
        language=doc["language"],
        disposition=Disposition(doc["disposition"]),
        province=doc["province"],
        case_id=None if doc["caseId"] is None else strawberry.ID(doc["caseId"]),
        attached_at=doc["attachedAt"],
        recorded_at=doc["recordedAt"],
        recorded_by=doc["recordedBy"],
    )


@strawberry.type(description="A page of contacts.")
class ContactPage:
    items: list[Contact] = strawberry.field(description="This page of contacts, newest first.")
    page_info: PageInfo = strawberry.field(
        description="Whether more contacts follow, and where this page ends."
    )


@strawberry.type(
    description="A count of contacts with the hotline; null when too small to publish."
)
class ContactStatisticsCell:
    value: str = strawberry.field(description="The value counted (a month, a channel, a province).")
    count: int | None = strawberry.field(
        description=(
            "How many contacts, rounded to a multiple of the publication threshold; null when too "
            "small to publish."
        )
    )


@strawberry.type(description="What a contact command did; a repeated key returns the first result.")
class ContactResult:
    contact_id: strawberry.ID = strawberry.field(description="The contact's id.")
    version: int = strawberry.field(description="The contact's version after the command.")
    replayed: bool = strawberry.field(
        description="True when the idempotency key had been used: nothing was written again."
    )
    contact: Contact | None = strawberry.field(description="The contact after the command.")
