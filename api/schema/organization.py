"""The Organization type and its parts, built from read-model documents field by field.

``from_doc`` sets only the fields the policy lets this caller read on this record; every other
field stays null. The caller's relation to the record was decided before (``Context``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import strawberry

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
    return [Service(name_en=s["nameEn"], name_fr=s["nameFr"],
                    category=ServiceCategory(s["category"]),
                    natures=[ServiceNature(n) for n in s["natures"]]) for s in v]


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
        kind=OrganizationKind(p["kind"]), name_en=p["nameEn"], name_fr=p["nameFr"],
        description_en=p["descriptionEn"], description_fr=p["descriptionFr"],
        services=_services(p["services"]), focus_areas=[FocusArea(v) for v in p["focusAreas"]],
        populations=[Population(v) for v in p["populations"]], languages=p["languages"],
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


# GraphQL field -> (python attribute, document key, how to build it from the document).
# A document without the key (a public copy) leaves the field null.
_FIELDS: dict[str, tuple[str, str, Any]] = {
    "kind": ("kind", "kind", lambda d, _: OrganizationKind(d["kind"])),
    "nameEn": ("name_en", "nameEn", lambda d, _: d["nameEn"]),
    "nameFr": ("name_fr", "nameFr", lambda d, _: d["nameFr"]),
    "descriptionEn": ("description_en", "descriptionEn", lambda d, _: d.get("descriptionEn")),
    "descriptionFr": ("description_fr", "descriptionFr", lambda d, _: d.get("descriptionFr")),
    "services": ("services", "services", lambda d, _: _services(d.get("services") or [])),
    "focusAreas": ("focus_areas", "focusAreas", lambda d, _: [FocusArea(v) for v in d.get("focusAreas") or []]),
    "populations": ("populations", "populations",
                    lambda d, _: [Population(v) for v in d.get("populations") or []]),
    "languages": ("languages", "languages", lambda d, _: d.get("languages") or []),
    "regions": ("regions", "regions", lambda d, _: _regions(d.get("regions") or [])),
    "hours": ("hours", "hours", lambda d, _: d.get("hours")),
    "intakeProcess": ("intake_process", "intakeProcess", lambda d, _: d.get("intakeProcess")),
    "publicContact": ("public_contact", "publicContact", lambda d, _: _public_contact(d.get("publicContact"))),
    "location": ("location", "location", lambda d, _: _location(d.get("location"))),
    "status": ("status", "status", lambda d, _: OrganizationStatus(d["status"])),
    "publiclyListed": ("publicly_listed", "publicListing", lambda d, _: d["publicListing"]),
    "pointOfContact": ("point_of_contact", "pointOfContact",
                       lambda d, _: _point_of_contact(d.get("pointOfContact"))),
    "referralProtocol": ("referral_protocol", "referralProtocol", lambda d, _: d.get("referralProtocol")),
    "criteria": ("criteria", "criteria", lambda d, _: [Criterion(c) for c in d["criteria"]]),
    "lastConfirmedAt": ("last_confirmed_at", "lastConfirmedAt", lambda d, _: d["lastConfirmedAt"]),
    "reviewDueAt": ("review_due_at", "lastConfirmedAt", lambda d, i: _review_due_at(d["lastConfirmedAt"], i)),
    "failedContactAttempts": ("failed_contact_attempts", "failedContactAttempts", lambda d, _: d["failedContactAttempts"]),
    "flaggedUnreachable": ("flagged_unreachable", "flaggedUnreachable", lambda d, _: d["flaggedUnreachable"]),
    "contactAttempts": ("contact_attempts", "contactAttempts", lambda d, _: [
        ContactAttempt(at=a["at"], outcome=ContactOutcome(a["outcome"]), note=a["note"])
        for a in d["contactAttempts"]]),
    "pendingProfileUpdate": ("pending_profile_update", "pendingUpdate", lambda d, _: None if not d["pendingUpdate"]
                             else PendingProfileUpdate(
                                 submitted_at=d["pendingUpdate"]["submittedAt"],
                                 profile=_profile(d["pendingUpdate"]["profile"]))),
    "removalRequested": ("removal_requested", "removalRequested", lambda d, _: d["removalRequested"]),
    "history": ("history", "history", lambda d, _: [
        HistoryEntry(at=h["at"], what=h["what"], status=OrganizationStatus(h["status"]),
                     actor_role=h["actorRole"], note=h["note"]) for h in d["history"]]),
    "version": ("version", "version", lambda d, _: d["version"]),
    "createdAt": ("created_at", "createdAt", lambda d, _: d["createdAt"]),
    "updatedAt": ("updated_at", "updatedAt", lambda d, _: d["updatedAt"]),
    "misconductAllegations": ("misconduct_allegations", "allegations", lambda d, _: [
        MisconductAllegation(at=a["at"], summary=a["summary"], recorded_by=a["recordedBy"])
        for a in d["allegations"]]),
    "removal": ("removal", "removal", lambda d, _: None if not d["removal"] else Removal(
        at=d["removal"]["at"], reason=RemovalReason(d["removal"]["reason"]),
        note=d["removal"]["note"], removed_by=d["removal"]["removedBy"])),
}


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

    @classmethod
    def from_doc(cls, doc: dict[str, Any], visible: frozenset[str],
                 review_interval: timedelta) -> Organization:
        kwargs: dict[str, Any] = {"id": strawberry.ID(doc["id"])}
        for name in visible:
            spec = _FIELDS.get(name)
            if spec is not None and spec[1] in doc:
                kwargs[spec[0]] = spec[2](doc, review_interval)
        return cls(**kwargs)

