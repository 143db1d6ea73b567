"""The Organization type and its parts, built from read-model documents field by field.

``from_doc`` sets only the fields the policy lets this caller read on this record; every other
field stays null. The caller's relation to the record was decided before (``Context``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import strawberry

from api.context import snake
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


@strawberry.type
class Service:
    name_en: str
    name_fr: str
    category: ServiceCategory
    natures: list[ServiceNature]


@strawberry.type
class Region:
    province: str
    municipality: str | None = None


@strawberry.type
class PublicContact:
    phone: str | None = None
    toll_free: str | None = None
    email: str | None = None
    website: str | None = None


@strawberry.type(description="The designated point of contact: internal, never public.")
class PointOfContact:
    name: str | None = None
    title: str | None = None
    phone: str | None = None
    email: str | None = None
    after_hours_phone: str | None = None


@strawberry.type(description="A confidential location never shows its address publicly.")
class Location:
    province: str | None = None
    municipality: str | None = None
    address: str | None = None
    postal_code: str | None = None
    confidential: bool | None = None


@strawberry.type
class ContactAttempt:
    at: str
    outcome: ContactOutcome
    note: str


@strawberry.type
class HistoryEntry:
    at: str
    what: str
    status: OrganizationStatus
    actor_role: str
    note: str


@strawberry.type
class MisconductAllegation:
    at: str
    summary: str
    recorded_by: str


@strawberry.type
class Removal:
    at: str
    reason: RemovalReason
    note: str
    removed_by: str


@strawberry.type(description="A profile as submitted, before staff accept it.")
class Profile:
    kind: OrganizationKind
    name_en: str
    name_fr: str
    description_en: str
    description_fr: str
    services: list[Service]
    focus_areas: list[FocusArea]
    populations: list[Population]
    languages: list[str]
    regions: list[Region]
    hours: str
    intake_process: str
    referral_protocol: str
    public_contact: PublicContact | None
    point_of_contact: PointOfContact | None
    location: Location | None


@strawberry.type
class PendingProfileUpdate:
    submitted_at: str
    profile: Profile


def _services(v: list[dict[str, Any]]) -> list[Service]:
    return [Service(name_en=s["nameEn"], name_fr=s["nameFr"], category=s["category"],
                    natures=s["natures"]) for s in v]


def _regions(v: list[dict[str, Any]]) -> list[Region]:
    return [Region(province=r["province"], municipality=r.get("municipality")) for r in v]


def _public_contact(v: dict[str, Any] | None) -> PublicContact | None:
    return PublicContact(phone=v.get("phone"), toll_free=v.get("tollFree"),
                         email=v.get("email"), website=v.get("website")) if v else None


def _point_of_contact(v: dict[str, Any] | None) -> PointOfContact | None:
    return PointOfContact(name=v.get("name"), title=v.get("title"), phone=v.get("phone"),
                          email=v.get("email"),
                          after_hours_phone=v.get("afterHoursPhone")) if v else None


def _location(v: dict[str, Any] | None) -> Location | None:
    if not v:
        return None
    return Location(province=v.get("province"), municipality=v.get("municipality") or None,
                    address=v.get("address") or None, postal_code=v.get("postalCode") or None,
                    confidential=v.get("confidential"))


def _profile(p: dict[str, Any]) -> Profile:
    return Profile(
        kind=p["kind"], name_en=p["nameEn"], name_fr=p["nameFr"],
        description_en=p["descriptionEn"], description_fr=p["descriptionFr"],
        services=_services(p["services"]), focus_areas=p["focusAreas"],
        populations=p["populations"], languages=p["languages"],
        regions=_regions(p["regions"]), hours=p["hours"], intake_process=p["intakeProcess"],
        referral_protocol=p["referralProtocol"], public_contact=_public_contact(p["publicContact"]),
        point_of_contact=_point_of_contact(p["pointOfContact"]),
        location=_location(p["location"]),
    )


def _review_due_at(last: str | None, interval: timedelta) -> str | None:
    if last is None:
        return None
    moment = datetime.strptime(last, "%Y-%m-%dT%H:%M:%S.%fZ") + interval
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# Fields whose value is the document's value as it is (the document key is the GraphQL name).
_PLAIN = frozenset({
    "nameEn", "nameFr", "descriptionEn", "descriptionFr", "languages", "hours", "intakeProcess",
    "referralProtocol", "lastConfirmedAt", "failedContactAttempts", "flaggedUnreachable",
    "removalRequested", "version", "createdAt", "updatedAt"})

# Fields built from a document value: GraphQL name -> (document key, builder). Enum values stay
# text: the enums are StrEnums, and GraphQL serializes text by one dictionary look-up.
_BUILT: dict[str, tuple[str, Callable[[Any, timedelta], Any]]] = {
    "kind": ("kind", lambda v, _: v),
    "status": ("status", lambda v, _: v),
    "publiclyListed": ("publicListing", lambda v, _: v),
    "reviewDueAt": ("lastConfirmedAt", lambda v, interval: _review_due_at(v, interval)),
    "services": ("services", lambda v, _: _services(v or [])),
    "focusAreas": ("focusAreas", lambda v, _: v or []),
    "populations": ("populations", lambda v, _: v or []),
    "regions": ("regions", lambda v, _: _regions(v or [])),
    "publicContact": ("publicContact", lambda v, _: _public_contact(v)),
    "pointOfContact": ("pointOfContact", lambda v, _: _point_of_contact(v)),
    "location": ("location", lambda v, _: _location(v)),
    "criteria": ("criteria", lambda v, _: v),
    "contactAttempts": ("contactAttempts", lambda v, _: [
        ContactAttempt(at=a["at"], outcome=a["outcome"], note=a["note"])
        for a in v]),
    "pendingProfileUpdate": ("pendingUpdate", lambda v, _: v and PendingProfileUpdate(
        submitted_at=v["submittedAt"], profile=_profile(v["profile"]))),
    "history": ("history", lambda v, _: [
        HistoryEntry(at=h["at"], what=h["what"], status=h["status"],
                     actor_role=h["actorRole"], note=h["note"]) for h in v]),
    "misconductAllegations": ("allegations", lambda v, _: [
        MisconductAllegation(at=a["at"], summary=a["summary"], recorded_by=a["recordedBy"])
        for a in v]),
    "removal": ("removal", lambda v, _: v and Removal(
        at=v["at"], reason=v["reason"], note=v["note"],
        removed_by=v["removedBy"])),
}


_ATTRIBUTE = {name: snake(name) for name in [*_PLAIN, *_BUILT]}  # computed once


@strawberry.type(description=(
    "An organization in the National Referral Directory. Inclusion is not endorsement. "
    "Fields your role may not read on this record are null."))
class Organization:
    id: strawberry.ID
    kind: OrganizationKind | None = None
    name_en: str | None = None
    name_fr: str | None = None
    description_en: str | None = None
    description_fr: str | None = None
    services: list[Service] | None = None
    focus_areas: list[FocusArea] | None = None
    populations: list[Population] | None = None
    languages: list[str] | None = None
    regions: list[Region] | None = None
    hours: str | None = None
    intake_process: str | None = None
    public_contact: PublicContact | None = None
    location: Location | None = None
    status: OrganizationStatus | None = None
    publicly_listed: bool | None = None
    point_of_contact: PointOfContact | None = None
    referral_protocol: str | None = None
    criteria: list[Criterion] | None = None
    last_confirmed_at: str | None = None
    review_due_at: str | None = None
    failed_contact_attempts: int | None = None
    flagged_unreachable: bool | None = None
    contact_attempts: list[ContactAttempt] | None = None
    pending_profile_update: PendingProfileUpdate | None = None
    removal_requested: bool | None = None
    history: list[HistoryEntry] | None = None
    version: int | None = None
    created_at: str | None = None
    updated_at: str | None = None
    misconduct_allegations: list[MisconductAllegation] | None = None
    removal: Removal | None = None
    # Built from the internal directory: its contacts and locations are confidential reads.
    _internal: strawberry.Private[bool] = False

    def access_key(self) -> tuple[str, str, str | None] | None:
        return ("Organization", str(self.id), None) if self._internal else None

    @classmethod
    def from_doc(cls, doc: dict[str, Any], visible: frozenset[str] | set[str],
                 review_interval: timedelta) -> Organization:
        """Only ``visible`` fields are set: those the policy lets this caller read here (and,
        where the resolver knows, those the query selects); every other field stays null."""
        kwargs: dict[str, Any] = {"id": strawberry.ID(doc["id"]),
                                  "_internal": "pointOfContact" in doc}
        for name in visible:
            source, build = (name, None) if name in _PLAIN else _BUILT.get(name, ("", None))
            # A document without the key (a public copy) leaves the field null.
            if source in doc:
                value = doc[source]
                kwargs[_ATTRIBUTE[name]] = value if build is None else build(value, review_interval)
        return cls(**kwargs)

