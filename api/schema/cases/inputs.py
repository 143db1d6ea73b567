"""What a caller sends about cases: inputs, arguments described once, and their parsing."""

from __future__ import annotations

import base64
import json
from typing import Annotated
from uuid import UUID

import strawberry

from api.schema.cases.enums import (
    CallerRelationship,
    Channel,
    Exception_,
    Indicator,
    Need,
    SituationType,
    Tristate,
    Urgency,
)
from domain.base import InvalidInput
from projections.aggregates import iso
from projections.audit import parse_moment

# Arguments several case fields take, described once.
CaseId = Annotated[strawberry.ID, strawberry.argument(description="The case's id.")]
Brief = Annotated[
    str,
    strawberry.argument(
        description=(
            "A brief written for the recipient: it leaves with the disclosure (as the BRIEF field)."
        )
    ),
]
Basis = Annotated[
    Exception_ | None,
    strawberry.argument(
        description=(
            "Disclose under this exception, without the caller's consent: a supervisor only, with a "
            "written justification. Omitted, an active, unexpired consent covering the recipient is "
            "required."
        )
    ),
]
Justification = Annotated[
    str,
    strawberry.argument(
        description=("The written justification of the exception (required with one).")
    ),
]


@strawberry.input(
    description=("The caller's personal data: sealed with the case's own key before it is stored.")
)
class CallerInput:
    name: str | None = strawberry.field(
        default=None, description="The caller's name, if they give it."
    )
    phone: str | None = strawberry.field(
        default=None,
        description=(
            "The caller's phone number, if they give it (it also finds their earlier cases)."
        ),
    )
    email: str | None = strawberry.field(
        default=None, description="The caller's email address, if they give it."
    )
    other_contact: str | None = strawberry.field(
        default=None, description="Another way to reach the caller, if they give one."
    )


@strawberry.input(
    description=(
        "A case's details. On an update, each field given replaces the one recorded; omitted ones "
        "stay."
    )
)
class CaseDetailsInput:
    province: str | None = strawberry.field(
        default=None, description="The province or territory of the case (ISO 3166-2:CA code)."
    )
    municipality: str | None = strawberry.field(
        default=None,
        description=("The municipality of the case (no personal data: it is not sealed)."),
    )
    minor_involved: Tristate | None = strawberry.field(
        default=None, description="Whether a minor is or may be involved."
    )
    situation_type: SituationType | None = strawberry.field(
        default=None, description="The kind of situation."
    )
    urgency: Urgency | None = strawberry.field(default=None, description="How urgent the case is.")
    imminent_harm: bool | None = strawberry.field(
        default=None, description="Whether the caller or others are in imminent danger."
    )
    needs: list[Need] | None = strawberry.field(default=None, description="The caller's needs.")
    indicators: list[Indicator] | None = strawberry.field(
        default=None, description="The trafficking indicators recorded."
    )
    assigned_to: str | None = strawberry.field(
        default=None, description="The user id of the staff member to assign the case to."
    )


@strawberry.input(description="A new case, from a call, text, chat, email or web form.")
class OpenCaseInput:
    channel: Channel = strawberry.field(description="How the caller reached the hotline.")
    language: str = strawberry.field(description="The caller's language (ISO 639-1 or 639-3 code).")
    relationship: CallerRelationship = strawberry.field(
        description="Who the caller is to the situation."
    )
    caller: CallerInput | None = strawberry.field(
        default=None,
        description=(
            "The caller's personal data, all of it optional: the caller may stay anonymous."
        ),
    )
    notes: str | None = strawberry.field(
        default=None, description="Staff's notes (sealed with the case's key)."
    )
    assessment: str | None = strawberry.field(
        default=None,
        description=("Staff's assessment of the situation (sealed with the case's key)."),
    )
    details: CaseDetailsInput | None = strawberry.field(
        default=None, description="The case's details."
    )


@strawberry.input(
    description=("Filters on cases combine with AND; values within one filter with OR.")
)
class CaseFilter:
    open: bool | None = strawberry.field(
        default=None, description="Only open cases (true) or closed ones (false)."
    )
    urgencies: list[Urgency] | None = strawberry.field(
        default=None, description="Cases of any of these urgencies."
    )
    provinces: list[str] | None = strawberry.field(
        default=None,
        description=("Cases in any of these provinces or territories (ISO 3166-2:CA codes)."),
    )
    situation_types: list[SituationType] | None = strawberry.field(
        default=None, description="Cases of any of these kinds."
    )
    assigned_to: str | None = strawberry.field(
        default=None, description="Cases assigned to this user id."
    )
    opened_after: str | None = strawberry.field(
        default=None, description="Cases opened at or after this moment (ISO 8601)."
    )
    opened_before: str | None = strawberry.field(
        default=None, description="Cases opened before this moment (ISO 8601)."
    )
    caller_phone: str | None = strawberry.field(
        default=None, description="Finds earlier cases from the same phone (a keyed lookup)"
    )


@strawberry.input(
    description=(
        "The factors a supervisor weighs in reporting to law enforcement that are judgement: "
        "each required and not empty, in the supervisor's words (sealed with the case's key). "
        "The facts the case holds (urgency and imminent harm, a minor involved, the indicators "
        "present, the consent on record) are filled in from the case."
    )
)
class ReportFactorsInput:
    callers_wishes: str = strawberry.field(description="The caller's wishes, if known.")
    level_of_detail: str = strawberry.field(
        description="The level of detail and reportable information provided."
    )
    applicable_law: str = strawberry.field(
        description="The federal, provincial or territorial law that applies."
    )
    local_protocol: str = strawberry.field(
        description="The local reporting protocol in the jurisdiction, as applied."
    )


def check_page(first: int, limit: int) -> None:
    if not 1 <= first <= limit:
        raise InvalidInput([f"first must be between 1 and {limit}"])


def parse_after(after: str | None) -> tuple[str, str] | None:
    if after is None:
        return None
    try:
        at, item_id = json.loads(base64.urlsafe_b64decode(after.encode()))
        UUID(item_id)
        if not isinstance(at, str) or len(at) > 40 or not at.isprintable():
            raise ValueError
    except (ValueError, TypeError, UnicodeError):
        raise InvalidInput(["after: not a cursor returned by this API"]) from None
    return at, item_id


def instant(value: str | None, name: str) -> str | None:
    if value is None:
        return None
    try:
        return iso(parse_moment(value))
    except ValueError as error:
        raise InvalidInput([f"{name}: {error}"]) from None
