"""The Organization type and its parts, built from read-model documents field by field.

``from_doc`` sets only the fields the policy lets this caller read on this record; every other
field stays null. The caller's relation to the record was decided before (``Context``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import strawberry

from api.context import Context, snake
from api.schema.common import (
    ContactOutcome,
    Criterion,
    FocusArea,
    OrganizationKind,
    OrganizationStatus,
    Population,
    RemovalReason,
    ServiceCategory,
    ServiceNature,
)
from domain.rules import review_due_at

_INSTANT = "%Y-%m-%dT%H:%M:%S.%fZ"  # the read models' text form of an instant


@strawberry.type(description="A service an organization offers.")
class Service:
    name_en: str = strawberry.field(description="The service's name in English.")
    name_fr: str = strawberry.field(description="The service's name in French.")
    category: ServiceCategory = strawberry.field(
        description="How long the service supports a person."
    )
    natures: list[ServiceNature] = strawberry.field(
        description="Whether the service is social, legal, or both."
    )


@strawberry.type(description="A place an organization serves.")
class Region:
    province: str = strawberry.field(
        description="The province or territory served, as an ISO 3166-2:CA code (e.g. CA-ON)."
    )
    municipality: str | None = strawberry.field(
        default=None,
        description=(
            "The municipality served, when the organization serves only part of the province or "
            "territory."
        ),
    )


@strawberry.type(description="How the public reaches an organization.")
class PublicContact:
    phone: str | None = strawberry.field(default=None, description="The public phone number.")
    toll_free: str | None = strawberry.field(
        default=None, description="The public toll-free number."
    )
    email: str | None = strawberry.field(default=None, description="The public email address.")
    website: str | None = strawberry.field(default=None, description="The public website.")


@strawberry.type(description="The designated point of contact: internal, never public.")
class PointOfContact:
    name: str | None = strawberry.field(default=None, description="The contact person's name.")
    title: str | None = strawberry.field(
        default=None, description="The contact person's title or role."
    )
    phone: str | None = strawberry.field(
        default=None, description="The contact person's phone number."
    )
    email: str | None = strawberry.field(
        default=None, description="The contact person's email address."
    )
    after_hours_phone: str | None = strawberry.field(
        default=None, description="A number for after hours."
    )


@strawberry.type(description="A confidential location never shows its address publicly.")
class Location:
    province: str | None = strawberry.field(
        default=None, description="The province or territory, as an ISO 3166-2:CA code."
    )
    municipality: str | None = strawberry.field(default=None, description="The municipality.")
    address: str | None = strawberry.field(
        default=None,
        description=(
            "The street address: null in the public directory when the location is confidential."
        ),
    )
    postal_code: str | None = strawberry.field(
        default=None,
        description=(
            "The postal code: null in the public directory when the location is confidential."
        ),
    )
    confidential: bool | None = strawberry.field(
        default=None,
        description=(
            "Whether the location must never be published (a shelter's address, for one): null in the "
            "public directory."
        ),
    )


@strawberry.type(
    description=("An attempt by hotline staff to reach an organization's point of contact.")
)
class ContactAttempt:
    at: str = strawberry.field(description="When the attempt was made (ISO 8601, UTC).")
    outcome: ContactOutcome = strawberry.field(description="What came of it.")
    note: str = strawberry.field(description="Staff's note on the attempt.")


@strawberry.type(description="A step in an organization's inclusion history.")
class HistoryEntry:
    at: str = strawberry.field(description="When it happened (ISO 8601, UTC).")
    what: str = strawberry.field(
        description=(
            "What happened: the status reached, or a step such as PROFILE_UPDATE_ACCEPTED, "
            "PUBLIC_LISTING_OPTED_OUT or PERIODIC_REVIEW_CONFIRMED."
        )
    )
    status: OrganizationStatus = strawberry.field(description="The organization's status after it.")
    actor_role: str = strawberry.field(description="The role of whoever did it.")
    note: str = strawberry.field(
        description="The note, reason, questions or answers given with it."
    )


@strawberry.type(
    description=(
        "An allegation of misconduct against an organization, as a supervisor recorded it."
    )
)
class MisconductAllegation:
    at: str = strawberry.field(description="When the allegation was recorded (ISO 8601, UTC).")
    summary: str = strawberry.field(description="The supervisor's summary of the allegation.")
    recorded_by: str = strawberry.field(
        description="The user id of the supervisor who recorded it."
    )


@strawberry.type(description="Why and by whom an organization was removed from the directory.")
class Removal:
    at: str = strawberry.field(description="When the organization was removed (ISO 8601, UTC).")
    reason: RemovalReason = strawberry.field(description="Why it was removed.")
    note: str = strawberry.field(description="The supervisor's note on the removal.")
    removed_by: str = strawberry.field(description="The user id of the supervisor who removed it.")


@strawberry.type(
    description=(
        "An existing organization an application looks like: flagged for staff to decide, never "
        "merged. The hotline's roles only."
    )
)
class PossibleDuplicate:
    organization_id: strawberry.ID = strawberry.field(
        description="The existing organization the application looks like."
    )
    matched_on: list[str] = strawberry.field(
        description=(
            "What matched: NAME (the same name, letter case, accents and punctuation aside), "
            "POSTAL_CODE_AND_EMAIL (the same postal code with the same email address)."
        )
    )
    flagged_at: str = strawberry.field(
        description="When the application was flagged (ISO 8601, UTC)."
    )
    resolution: str | None = strawberry.field(
        description=(
            "Null while staff have not decided; DISMISSED (not a duplicate), "
            "DECLINED_AS_DUPLICATE, or DECIDED (the application was decided otherwise)."
        )
    )


@strawberry.type(description="A profile as submitted, before staff accept it.")
class Profile:
    kind: OrganizationKind = strawberry.field(
        description="What kind of member of the directory the organization is."
    )
    name_en: str = strawberry.field(description="The organization's name in English.")
    name_fr: str = strawberry.field(description="The organization's name in French.")
    description_en: str = strawberry.field(description="What the organization does, in English.")
    description_fr: str = strawberry.field(description="What the organization does, in French.")
    services: list[Service] = strawberry.field(description="The services it offers.")
    focus_areas: list[FocusArea] = strawberry.field(description="The areas of work it focuses on.")
    populations: list[Population] = strawberry.field(description="The groups of people it serves.")
    languages: list[str] = strawberry.field(
        description="The languages it serves people in (ISO 639-1 or 639-3 codes)."
    )
    regions: list[Region] = strawberry.field(description="Where it serves people.")
    hours: str = strawberry.field(description="When it is open or can be reached.")
    intake_process: str = strawberry.field(description="How a person is taken in.")
    referral_protocol: str = strawberry.field(
        description="How the hotline refers a caller to it (internal)."
    )
    public_contact: PublicContact | None = strawberry.field(
        description="How the public reaches it."
    )
    point_of_contact: PointOfContact | None = strawberry.field(
        description="The designated point of contact for the hotline (internal)."
    )
    location: Location | None = strawberry.field(description="Where it is.")


@strawberry.type(
    description=("A profile update an organization submitted, awaiting staff's decision.")
)
class PendingProfileUpdate:
    submitted_at: str = strawberry.field(
        description="When the update was submitted (ISO 8601, UTC)."
    )
    profile: Profile = strawberry.field(description="The profile as submitted.")


def _services(v: list[dict[str, Any]]) -> list[Service]:
    return [
        Service(
            name_en=s["nameEn"], name_fr=s["nameFr"], category=s["category"], natures=s["natures"]
        )
        for s in v
    ]


def _regions(v: list[dict[str, Any]]) -> list[Region]:
    return [Region(province=r["province"], municipality=r.get("municipality")) for r in v]


def _public_contact(v: dict[str, Any] | None) -> PublicContact | None:
    return (
        PublicContact(
            phone=v.get("phone"),
            toll_free=v.get("tollFree"),
            email=v.get("email"),
            website=v.get("website"),
        )
        if v
        else None
    )


def _point_of_contact(v: dict[str, Any] | None) -> PointOfContact | None:
    return (
        PointOfContact(
            name=v.get("name"),
            title=v.get("title"),
            phone=v.get("phone"),
            email=v.get("email"),
            after_hours_phone=v.get("afterHoursPhone"),
        )
        if v
        else None
    )


def _location(v: dict[str, Any] | None) -> Location | None:
    if not v:
        return None
    return Location(
        province=v.get("province"),
        municipality=v.get("municipality") or None,
        address=v.get("address") or None,
        postal_code=v.get("postalCode") or None,
        confidential=v.get("confidential"),
    )


def _profile(p: dict[str, Any]) -> Profile:
    return Profile(
        kind=p["kind"],
        name_en=p["nameEn"],
        name_fr=p["nameFr"],
        description_en=p["descriptionEn"],
        description_fr=p["descriptionFr"],
        services=_services(p["services"]),
        focus_areas=p["focusAreas"],
        populations=p["populations"],
        languages=p["languages"],
        regions=_regions(p["regions"]),
        hours=p["hours"],
        intake_process=p["intakeProcess"],
        referral_protocol=p["referralProtocol"],
        public_contact=_public_contact(p["publicContact"]),
        point_of_contact=_point_of_contact(p["pointOfContact"]),
        location=_location(p["location"]),
    )


def _review_due_at(last: str | None, interval_days: int) -> str | None:
    if last is None:
        return None
    due = review_due_at(datetime.strptime(last, _INSTANT), interval_days)
    return due.strftime(_INSTANT)


# Fields whose value is the document's value as it is (the document key is the GraphQL name).
_PLAIN = frozenset(
    {
        "nameEn",
        "nameFr",
        "descriptionEn",
        "descriptionFr",
        "languages",
        "hours",
        "intakeProcess",
        "referralProtocol",
        "lastConfirmedAt",
        "failedContactAttempts",
        "flaggedUnreachable",
        "removalRequested",
        "version",
        "createdAt",
        "updatedAt",
    }
)

# Fields built from a document value: GraphQL name -> (document key, builder). Enum values stay
# text: the enums are StrEnums, and GraphQL serializes text by one dictionary look-up.
_BUILT: dict[str, tuple[str, Callable[[Any, int], Any]]] = {
    "kind": ("kind", lambda v, _: v),
    "status": ("status", lambda v, _: v),
    "publiclyListed": ("publicListing", lambda v, _: v),
    "reviewDueAt": ("lastConfirmedAt", lambda v, days: _review_due_at(v, days)),
    "services": ("services", lambda v, _: _services(v or [])),
    "focusAreas": ("focusAreas", lambda v, _: v or []),
    "populations": ("populations", lambda v, _: v or []),
    "regions": ("regions", lambda v, _: _regions(v or [])),
    "publicContact": ("publicContact", lambda v, _: _public_contact(v)),
    "pointOfContact": ("pointOfContact", lambda v, _: _point_of_contact(v)),
    "location": ("location", lambda v, _: _location(v)),
    "criteria": ("criteria", lambda v, _: v),
    "contactAttempts": (
        "contactAttempts",
        lambda v, _: [ContactAttempt(at=a["at"], outcome=a["outcome"], note=a["note"]) for a in v],
    ),
    "pendingProfileUpdate": (
        "pendingUpdate",
        lambda v, _: (
            v
            and PendingProfileUpdate(submitted_at=v["submittedAt"], profile=_profile(v["profile"]))
        ),
    ),
    "history": (
        "history",
        lambda v, _: [
            HistoryEntry(
                at=h["at"],
                what=h["what"],
                status=h["status"],
                actor_role=h["actorRole"],
                note=h["note"],
            )
            for h in v
        ],
    ),
    "misconductAllegations": (
        "allegations",
        lambda v, _: [
            MisconductAllegation(at=a["at"], summary=a["summary"], recorded_by=a["recordedBy"])
            for a in v
        ],
    ),
    "possibleDuplicates": (
        "possibleDuplicates",
        lambda v, _: [
            PossibleDuplicate(
                organization_id=strawberry.ID(d["organizationId"]),
                matched_on=d["matchedOn"],
                flagged_at=d["flaggedAt"],
                resolution=d["resolution"],
            )
            for d in v
        ],
    ),
    "duplicateOf": ("duplicateOf", lambda v, _: v and strawberry.ID(v)),
    "removal": (
        "removal",
        lambda v, _: (
            v and Removal(at=v["at"], reason=v["reason"], note=v["note"], removed_by=v["removedBy"])
        ),
    ),
}


_ATTRIBUTE = {name: snake(name) for name in [*_PLAIN, *_BUILT]}  # computed once


@strawberry.type(
    description=(
        "An organization in the National Referral Directory. Inclusion is not endorsement. "
        "Fields your role may not read on this record are null. The hotline's roles are staff, "
        "supervisors and compliance officers."
    )
)
class Organization:
    id: strawberry.ID = strawberry.field(description="The organization's id.")
    kind: OrganizationKind | None = strawberry.field(
        default=None, description="What kind of member of the directory it is."
    )
    name_en: str | None = strawberry.field(default=None, description="Its name in English.")
    name_fr: str | None = strawberry.field(default=None, description="Its name in French.")
    description_en: str | None = strawberry.field(
        default=None, description="What it does, in English."
    )
    description_fr: str | None = strawberry.field(
        default=None, description="What it does, in French."
    )
    services: list[Service] | None = strawberry.field(
        default=None, description="The services it offers."
    )
    focus_areas: list[FocusArea] | None = strawberry.field(
        default=None, description="The areas of work it focuses on."
    )
    populations: list[Population] | None = strawberry.field(
        default=None, description="The groups of people it serves."
    )
    languages: list[str] | None = strawberry.field(
        default=None, description="The languages it serves people in (ISO 639-1 or 639-3 codes)."
    )
    regions: list[Region] | None = strawberry.field(
        default=None, description="Where it serves people."
    )
    hours: str | None = strawberry.field(
        default=None, description="When it is open or can be reached."
    )
    intake_process: str | None = strawberry.field(
        default=None, description="How a person is taken in."
    )
    public_contact: PublicContact | None = strawberry.field(
        default=None, description="How the public reaches it."
    )
    location: Location | None = strawberry.field(
        default=None,
        description=(
            "Where it is. The public directory never shows a confidential location's address or "
            "postal code."
        ),
    )
    status: OrganizationStatus | None = strawberry.field(
        default=None,
        description=(
            "Where it stands in the inclusion lifecycle. Read by the hotline, and by a partner on its "
            "own record."
        ),
    )
    publicly_listed: bool | None = strawberry.field(
        default=None,
        description=(
            "Whether it agreed to appear in the public directory. Read by the hotline, and by a "
            "partner on its own record."
        ),
    )
    point_of_contact: PointOfContact | None = strawberry.field(
        default=None,
        description=(
            "Its designated point of contact for the hotline. Read by the hotline, and by a partner "
            "on its own record."
        ),
    )
    referral_protocol: str | None = strawberry.field(
        default=None,
        description=(
            "How the hotline refers a caller to it. Read by the hotline, and by a partner on its own "
            "record."
        ),
    )
    criteria: list[Criterion] | None = strawberry.field(
        default=None,
        description=(
            "The minimum criteria it attests it meets. Read by the hotline, and by a partner on its "
            "own record."
        ),
    )
    last_confirmed_at: str | None = strawberry.field(
        default=None,
        description=(
            "When the record was last confirmed: approved, updated, reviewed or reinstated (ISO 8601, "
            "UTC). Read by the hotline, and by a partner on its own record."
        ),
    )
    review_due_at: str | None = strawberry.field(
        default=None,
        description=(
            "When its periodic review falls due (NRD_REVIEW_INTERVAL_DAYS after the last "
            "confirmation). Read by the hotline, and by a partner on its own record."
        ),
    )
    failed_contact_attempts: int | None = strawberry.field(
        default=None,
        description=(
            "Failed attempts to reach its point of contact since it was last reached. Read by the "
            "hotline, and by a partner on its own record."
        ),
    )
    flagged_unreachable: bool | None = strawberry.field(
        default=None,
        description=(
            "Whether the failed attempts reached NRD_UNREACHABLE_AFTER: a candidate for removal. Read "
            "by the hotline, and by a partner on its own record."
        ),
    )
    contact_attempts: list[ContactAttempt] | None = strawberry.field(
        default=None,
        description=(
            "Every attempt to reach its point of contact. Read by the hotline, and by a partner on "
            "its own record."
        ),
    )
    pending_profile_update: PendingProfileUpdate | None = strawberry.field(
        default=None,
        description=(
            "A profile update awaiting staff's decision. Read by the hotline, and by a partner "
            "on its own record."
        ),
    )
    removal_requested: bool | None = strawberry.field(
        default=None,
        description=(
            "Whether it asked to be removed from the directory. Read by the hotline, and by a partner "
            "on its own record."
        ),
    )
    history: list[HistoryEntry] | None = strawberry.field(
        default=None,
        description=(
            "Its inclusion history, oldest first. Read by the hotline, and by a partner on its own "
            "record."
        ),
    )
    version: int | None = strawberry.field(
        default=None,
        description=(
            "The record's version: the number of events recorded on it. Read by the hotline only."
        ),
    )
    created_at: str | None = strawberry.field(
        default=None,
        description=(
            "When it applied (ISO 8601, UTC). Read by the hotline, and by a partner on its own "
            "record."
        ),
    )
    updated_at: str | None = strawberry.field(
        default=None,
        description=("When the record last changed (ISO 8601, UTC). Read by the hotline only."),
    )
    misconduct_allegations: list[MisconductAllegation] | None = strawberry.field(
        default=None,
        description=(
            "Allegations of misconduct on record. Read by supervisors and compliance officers only."
        ),
    )
    removal: Removal | None = strawberry.field(
        default=None,
        description=(
            "Why and by whom it was removed. Read by supervisors and compliance officers only."
        ),
    )
    possible_duplicates: list[PossibleDuplicate] | None = strawberry.field(
        default=None,
        description=(
            "Existing organizations this application looks like (name, or postal code and "
            "email), for staff to dismiss or decline as a duplicate. Read by the hotline only."
        ),
    )
    duplicate_of: strawberry.ID | None = strawberry.field(
        default=None,
        description=(
            "The organization this application was declined as a duplicate of. Read by the "
            "hotline only."
        ),
    )
    # Built from the internal directory: its contacts and locations are confidential reads.
    _internal: strawberry.Private[bool] = False

    def access_key(self) -> tuple[str, str, str | None] | None:
        return ("Organization", str(self.id), None) if self._internal else None

    @classmethod
    def from_doc(
        cls, doc: Mapping[str, Any], visible: frozenset[str] | set[str], review_interval_days: int
    ) -> Organization:
        """Only ``visible`` fields are set: those the policy lets this caller read here (and,
        where the resolver knows, those the query selects); every other field stays null."""
        kwargs: dict[str, Any] = {
            "id": strawberry.ID(doc["id"]),
            "_internal": "pointOfContact" in doc,
        }
        for name in visible:
            source, build = (name, None) if name in _PLAIN else _BUILT.get(name, ("", None))
            # A document without the key (a public copy) leaves the field null.
            if source in doc:
                value = doc[source]
                kwargs[_ATTRIBUTE[name]] = (
                    value if build is None else build(value, review_interval_days)
                )
        return cls(**kwargs)


def review_interval(ctx: Context) -> int:
    """The days between an organization's confirmation and its review, as configured."""
    return ctx.system.settings.review_interval_days
