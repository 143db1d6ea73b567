"""What a caller sends about the directory: its inputs and arguments."""

from __future__ import annotations

from typing import Annotated

import strawberry

from api.schema.common import (
    Criterion,
    FocusArea,
    OrganizationKind,
    OrganizationStatus,
    Population,
    ServiceCategory,
    ServiceNature,
)

MAX_SEARCH_LENGTH = 200
OrganizationId = Annotated[strawberry.ID, strawberry.argument(description="The organization's id.")]


@strawberry.input(description="A service the organization offers.")
class ServiceInput:
    name_en: str = strawberry.field(description="The service's name in English.")
    name_fr: str = strawberry.field(description="The service's name in French.")
    category: ServiceCategory = strawberry.field(
        description="How long the service supports a person."
    )
    natures: list[ServiceNature] = strawberry.field(
        description="Whether the service is social, legal, or both."
    )


@strawberry.input(description="A place the organization serves.")
class RegionInput:
    province: str = strawberry.field(description="ISO 3166-2:CA code, e.g. CA-ON")
    municipality: str | None = strawberry.field(
        default=None,
        description=(
            "The municipality served, when the organization serves only part of the province or "
            "territory."
        ),
    )


@strawberry.input(description="How the public reaches the organization.")
class PublicContactInput:
    phone: str | None = strawberry.field(default=None, description="The public phone number.")
    toll_free: str | None = strawberry.field(
        default=None, description="The public toll-free number."
    )
    email: str | None = strawberry.field(default=None, description="The public email address.")
    website: str | None = strawberry.field(default=None, description="The public website (https).")


@strawberry.input(
    description=(
        "The organization's designated point of contact for the hotline: internal, never public."
    )
)
class PointOfContactInput:
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


@strawberry.input(description="Where the organization is.")
class LocationInput:
    province: str = strawberry.field(
        description="The province or territory, as an ISO 3166-2:CA code (e.g. CA-ON)."
    )
    municipality: str | None = strawberry.field(default=None, description="The municipality.")
    address: str | None = strawberry.field(default=None, description="The street address.")
    postal_code: str | None = strawberry.field(
        default=None, description="The postal code (A1A 1A1)."
    )
    confidential: bool = strawberry.field(
        default=False,
        description=(
            "True when the location must never be published (a shelter's address, for one): the "
            "public directory then shows only its province and municipality."
        ),
    )


@strawberry.input(description="An organization's profile, in English and French.")
class ProfileInput:
    kind: OrganizationKind = strawberry.field(
        description="What kind of member of the directory the organization is."
    )
    name_en: str = strawberry.field(description="The organization's name in English.")
    name_fr: str = strawberry.field(description="The organization's name in French.")
    description_en: str | None = strawberry.field(
        default=None, description="What the organization does, in English."
    )
    description_fr: str | None = strawberry.field(
        default=None, description="What the organization does, in French."
    )
    services: list[ServiceInput] | None = strawberry.field(
        default=None, description="The services it offers."
    )
    focus_areas: list[FocusArea] | None = strawberry.field(
        default=None, description="The areas of work it focuses on."
    )
    populations: list[Population] | None = strawberry.field(
        default=None, description="The groups of people it serves."
    )
    languages: list[str] | None = strawberry.field(
        default=None, description="ISO 639-1 or 639-3 codes"
    )
    regions: list[RegionInput] | None = strawberry.field(
        default=None, description="Where it serves people."
    )
    hours: str | None = strawberry.field(
        default=None, description="When it is open or can be reached."
    )
    intake_process: str | None = strawberry.field(
        default=None, description="How a person is taken in."
    )
    referral_protocol: str | None = strawberry.field(
        default=None,
        description=("How the hotline should refer a caller to it (internal: never public)."),
    )
    public_contact: PublicContactInput | None = strawberry.field(
        default=None,
        description=("How the public reaches it (shown in the public directory if it opts in)."),
    )
    point_of_contact: PointOfContactInput | None = strawberry.field(
        default=None,
        description=("The designated point of contact for the hotline (internal: never public)."),
    )
    location: LocationInput | None = strawberry.field(default=None, description="Where it is.")


@strawberry.input(description="The public application form for inclusion in the directory.")
class ApplicationInput:
    profile: ProfileInput = strawberry.field(
        description="The organization's profile, in English and French."
    )
    criteria: list[Criterion] = strawberry.field(
        description="The minimum criteria the organization attests it meets (all seven are "
        "needed for approval)"
    )
    public_listing: bool = strawberry.field(
        description="Consent to appear in the public directory once included"
    )
    listing_agreement: str | None = strawberry.field(
        default=None,
        description=(
            "Staff and supervisors applying on an organization's behalf: its written agreement "
            "to the public listing (a reference and a note), required of them when "
            "publicListing is true."
        ),
    )


@strawberry.input(description="Filters combine with AND; values within one filter with OR.")
class DirectoryFilter:
    provinces: list[str] | None = strawberry.field(
        default=None,
        description=(
            "Organizations serving any of these provinces or territories (ISO 3166-2:CA codes)."
        ),
    )
    service_categories: list[ServiceCategory] | None = strawberry.field(
        default=None, description="Organizations offering a service in any of these categories."
    )
    service_natures: list[ServiceNature] | None = strawberry.field(
        default=None, description="Organizations offering a service of any of these natures."
    )
    focus_areas: list[FocusArea] | None = strawberry.field(
        default=None, description="Organizations focusing on any of these areas."
    )
    populations: list[Population] | None = strawberry.field(
        default=None, description="Organizations serving any of these groups."
    )
    languages: list[str] | None = strawberry.field(
        default=None,
        description=(
            "Organizations serving people in any of these languages (ISO 639-1 or 639-3 codes)."
        ),
    )
    kinds: list[OrganizationKind] | None = strawberry.field(
        default=None, description="Organizations of any of these kinds."
    )
    statuses: list[OrganizationStatus] | None = strawberry.field(
        default=None,
        description=(
            "Organizations in any of these statuses. The hotline's roles only: any other role is "
            "refused."
        ),
    )
    review_due: bool | None = strawberry.field(
        default=None,
        description=(
            "True: only organizations whose periodic review is due. The hotline's roles only: any "
            "other role is refused."
        ),
    )
    flagged_unreachable: bool | None = strawberry.field(
        default=None,
        description=(
            "Only organizations flagged unreachable (true) or not (false). The hotline's roles only: "
            "any other role is refused."
        ),
    )
    possible_duplicate: bool | None = strawberry.field(
        default=None,
        description=(
            "Only applications flagged as possible duplicates that staff have not decided on "
            "(true), or every other organization (false). The hotline's roles only: any other "
            "role is refused."
        ),
    )
