"""The directory's controlled vocabulary and the validated shape of an organization's profile.

Events store profiles as plain dicts (a storage contract of primitives); ``parse_profile``
is the one gate through which a profile enters an event, and it reports every problem at once.
"""

from __future__ import annotations

import re
from enum import Enum, StrEnum
from typing import Any, NotRequired, Required, TypedDict, cast

import pycountry

from domain.base import CONTROL_CHARACTERS, InvalidInput


class OrganizationKind(StrEnum):
    DIRECT_SERVICE_PROVIDER = "DIRECT_SERVICE_PROVIDER"
    INDIRECT_SERVICE_PROVIDER = "INDIRECT_SERVICE_PROVIDER"
    LAW_ENFORCEMENT_AGENCY = "LAW_ENFORCEMENT_AGENCY"
    GOVERNMENT_BODY = "GOVERNMENT_BODY"
    COALITION_OR_NETWORK = "COALITION_OR_NETWORK"
    OTHER_ALLIED_ORGANIZATION = "OTHER_ALLIED_ORGANIZATION"
    # A public body mandated to receive reports of suspected abuse of a minor; its jurisdiction
    # is its profile's regions (a province, or a municipality in it).
    CHILD_PROTECTION_AUTHORITY = "CHILD_PROTECTION_AUTHORITY"


class FocusArea(StrEnum):
    HUMAN_TRAFFICKING = "HUMAN_TRAFFICKING"
    SEXUAL_ASSAULT = "SEXUAL_ASSAULT"
    DOMESTIC_VIOLENCE = "DOMESTIC_VIOLENCE"
    LABOUR_RIGHTS = "LABOUR_RIGHTS"
    HOMELESS_YOUTH = "HOMELESS_YOUTH"
    INDIGENOUS_SPECIFIC = "INDIGENOUS_SPECIFIC"
    IMMIGRATION_AND_REFUGEE = "IMMIGRATION_AND_REFUGEE"
    HEALTH_CARE = "HEALTH_CARE"
    OTHER = "OTHER"


class ServiceCategory(StrEnum):
    EMERGENCY = "EMERGENCY"
    SHORT_TERM_TRANSITIONAL = "SHORT_TERM_TRANSITIONAL"
    LONG_TERM = "LONG_TERM"


class ServiceNature(StrEnum):
    SOCIAL = "SOCIAL"
    LEGAL = "LEGAL"


class Population(StrEnum):
    ADULTS = "ADULTS"
    YOUTH = "YOUTH"
    CHILDREN = "CHILDREN"
    WOMEN = "WOMEN"
    MEN = "MEN"
    TWO_SPIRIT_AND_LGBTQIA = "TWO_SPIRIT_AND_LGBTQIA"
    INDIGENOUS_PEOPLES = "INDIGENOUS_PEOPLES"
    NEWCOMERS_AND_REFUGEES = "NEWCOMERS_AND_REFUGEES"
    MIGRANT_WORKERS = "MIGRANT_WORKERS"
    PEOPLE_WITH_DISABILITIES = "PEOPLE_WITH_DISABILITIES"
    FAMILIES = "FAMILIES"
    ALL = "ALL"


class Criterion(StrEnum):
    """The seven minimum criteria for inclusion, as the organization attests them."""

    SURVIVOR_CENTRED_RESPONSE = "SURVIVOR_CENTRED_RESPONSE"
    TRAUMA_INFORMED_QUALIFIED_STAFF = "TRAUMA_INFORMED_QUALIFIED_STAFF"
    INCLUSIVE_NON_DISCRIMINATORY = "INCLUSIVE_NON_DISCRIMINATORY"
    CLIENT_SAFETY = "CLIENT_SAFETY"
    DATA_PROTECTION = "DATA_PROTECTION"
    GOOD_STANDING_COLLABORATIVE = "GOOD_STANDING_COLLABORATIVE"
    REGIONAL_BEST_PRACTICES = "REGIONAL_BEST_PRACTICES"


# ISO 3166-2:CA: the ten provinces and three territories.
PROVINCES: dict[str, str] = {
    "CA-AB": "Alberta",
    "CA-BC": "British Columbia",
    "CA-MB": "Manitoba",
    "CA-NB": "New Brunswick",
    "CA-NL": "Newfoundland and Labrador",
    "CA-NS": "Nova Scotia",
    "CA-NT": "Northwest Territories",
    "CA-NU": "Nunavut",
    "CA-ON": "Ontario",
    "CA-PE": "Prince Edward Island",
    "CA-QC": "Quebec",
    "CA-SK": "Saskatchewan",
    "CA-YT": "Yukon",
}

MAX_TEXT = 4000
MAX_NAME = 200
MAX_LIST = 50
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[0-9 ()\-.]{3,30}(?: ?(?:x|ext\.?) ?[0-9]{1,6})?$")
_POSTAL = re.compile(r"^[A-Za-z]\d[A-Za-z] ?\d[A-Za-z]\d$")


def is_language_code(code: str) -> bool:
    """ISO 639-1 (two letters) or ISO 639-3 (three letters, e.g. Indigenous languages)."""
    if len(code) == 2:
        return pycountry.languages.get(alpha_2=code) is not None
    if len(code) == 3:
        return pycountry.languages.get(alpha_3=code) is not None
    return False


class _Problems:
    """Collects every problem in an input, so one error names them all."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, message: str) -> None:
        self.items.append(message)

    def raise_if_any(self) -> None:
        if self.items:
            raise InvalidInput(self.items)

    def text(
        self, data: dict[str, Any], key: str, *, required: bool = False, limit: int = MAX_TEXT
    ) -> str:
        value = data.get(key)
        if value is None:
            value = ""
        if not isinstance(value, str):
            self.add(f"{key} must be text")
            return ""
        value = value.strip()
        if CONTROL_CHARACTERS.search(value):
            self.add(f"{key} contains control characters")
        if required and not value:
            self.add(f"{key} must not be empty")
        if len(value) > limit:
            self.add(f"{key} is longer than {limit} characters")
        return value

    def enum_list(self, data: dict[str, Any], key: str, enum: type[Enum]) -> list[str]:
        values = data.get(key) or []
        if not isinstance(values, list) or len(values) > MAX_LIST:
            self.add(f"{key} must be a list of at most {MAX_LIST} values")
            return []
        allowed = {str(member.value) for member in enum}
        result: list[str] = []
        for value in values:
            value = getattr(value, "value", value)
            if value not in allowed:
                expected = ", ".join(sorted(allowed))
                self.add(f"{key}: unknown value {value!r}; expected one of {expected}")
            elif value not in result:
                result.append(str(value))
        return result

    def province(self, value: Any, where: str) -> str:
        if value not in PROVINCES:
            self.add(
                f"{where}: unknown province or territory code {value!r}; "
                f"expected one of {', '.join(PROVINCES)}"
            )
            return ""
        return str(value)

    def phone(self, value: str, where: str) -> None:
        if value and not _PHONE.match(value):
            self.add(f"{where} is not a phone number")

    def email(self, value: str, where: str) -> None:
        if value and not _EMAIL.match(value):
            self.add(f"{where} is not an email address")


def _contact(p: _Problems, data: Any, where: str, fields: tuple[str, ...]) -> dict[str, str]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        p.add(f"{where} must be an object")
        return {}
    result = {field: p.text(data, field, limit=MAX_NAME) for field in fields}
    for field, value in result.items():
        if field in ("phone", "tollFree", "afterHoursPhone"):
            p.phone(value, f"{where}.{field}")
        if field == "email":
            p.email(value, f"{where}.{field}")
    return {k: v for k, v in result.items() if v}


# An organization's profile as ``parse_profile`` gives it and its events keep it: plain dicts at
# run time, typed so that a misspelt key is an error. Profiles stored before a key existed lack
# it, so only the kind and the names are sure to be there.
class Service(TypedDict):
    nameEn: str
    nameFr: str
    category: str
    natures: list[str]


class Region(TypedDict):
    province: str
    municipality: NotRequired[str]


class Contact(TypedDict, total=False):
    """How the public reaches it (``PUBLIC_CONTACT_FIELDS``), or the hotline's point of
    contact there (``POINT_OF_CONTACT_FIELDS``): only the fields given."""

    name: str
    title: str
    phone: str
    tollFree: str
    email: str
    website: str
    afterHoursPhone: str


class Location(TypedDict, total=False):
    province: str
    municipality: str
    address: str
    postalCode: str
    confidential: bool


class Profile(TypedDict, total=False):
    kind: Required[str]
    nameEn: Required[str]
    nameFr: Required[str]
    descriptionEn: str
    descriptionFr: str
    hours: str
    intakeProcess: str
    referralProtocol: str
    focusAreas: list[str]
    populations: list[str]
    services: list[Service]
    languages: list[str]
    regions: list[Region]
    publicContact: Contact
    pointOfContact: Contact
    location: Location


PUBLIC_CONTACT_FIELDS = ("phone", "tollFree", "email", "website")
POINT_OF_CONTACT_FIELDS = ("name", "title", "phone", "email", "afterHoursPhone")


def parse_profile(data: dict[str, Any]) -> Profile:
    """Validates and normalizes a profile; raises ``InvalidInput`` naming every problem."""
    p = _Problems()
    profile: dict[str, Any] = {}
    kind = data.get("kind")
    kind = getattr(kind, "value", kind)
    if kind not in {k.value for k in OrganizationKind}:
        p.add(
            f"kind: unknown value {kind!r}; expected one of "
            f"{', '.join(k.value for k in OrganizationKind)}"
        )
    profile["kind"] = kind
    for key in ("nameEn", "nameFr"):
        profile[key] = p.text(data, key, required=True, limit=MAX_NAME)
    for key in ("descriptionEn", "descriptionFr", "hours", "intakeProcess", "referralProtocol"):
        profile[key] = p.text(data, key)
    profile["focusAreas"] = p.enum_list(data, "focusAreas", FocusArea)
    profile["populations"] = p.enum_list(data, "populations", Population)
    profile["services"] = _services(p, data.get("services") or [])
    profile["languages"] = _languages(p, data.get("languages") or [])
    profile["regions"] = _regions(p, data.get("regions") or [])
    profile["publicContact"] = _contact(
        p, data.get("publicContact"), "publicContact", PUBLIC_CONTACT_FIELDS
    )
    profile["pointOfContact"] = _contact(
        p, data.get("pointOfContact"), "pointOfContact", POINT_OF_CONTACT_FIELDS
    )
    profile["location"] = _location(p, data.get("location"))
    if kind == OrganizationKind.CHILD_PROTECTION_AUTHORITY.value and not profile["regions"]:
        p.add("regions: a child-protection authority names its jurisdiction (at least one region)")
    p.raise_if_any()
    return cast(Profile, profile)


def _services(p: _Problems, values: Any) -> list[dict[str, Any]]:
    if not isinstance(values, list) or len(values) > MAX_LIST:
        p.add(f"services must be a list of at most {MAX_LIST} services")
        return []
    services = []
    for index, item in enumerate(values):
        where = f"services[{index}]"
        if not isinstance(item, dict):
            p.add(f"{where} must be an object")
            continue
        category = getattr(item.get("category"), "value", item.get("category"))
        if category not in {c.value for c in ServiceCategory}:
            p.add(f"{where}.category: unknown value {category!r}")
        natures = p.enum_list(item, "natures", ServiceNature)
        if not natures:
            p.add(f"{where}.natures: name at least one of SOCIAL, LEGAL")
        services.append(
            {
                "nameEn": p.text(item, "nameEn", required=True, limit=MAX_NAME),
                "nameFr": p.text(item, "nameFr", required=True, limit=MAX_NAME),
                "category": category,
                "natures": natures,
            }
        )
    return services


def _languages(p: _Problems, values: Any) -> list[str]:
    if not isinstance(values, list) or len(values) > MAX_LIST:
        p.add(f"languages must be a list of at most {MAX_LIST} codes")
        return []
    result: list[str] = []
    for value in values:
        code = value.strip().lower() if isinstance(value, str) else ""
        if not is_language_code(code):
            p.add(f"languages: {value!r} is not an ISO 639-1 or ISO 639-3 language code")
        elif code not in result:
            result.append(code)
    return result


def _regions(p: _Problems, values: Any) -> list[dict[str, str]]:
    if not isinstance(values, list) or len(values) > MAX_LIST:
        p.add(f"regions must be a list of at most {MAX_LIST} regions")
        return []
    result: list[dict[str, str]] = []
    for index, item in enumerate(values):
        where = f"regions[{index}]"
        if not isinstance(item, dict):
            p.add(f"{where} must be an object")
            continue
        region = {"province": p.province(item.get("province"), f"{where}.province")}
        municipality = p.text(item, "municipality", limit=MAX_NAME)
        if municipality:
            region["municipality"] = municipality
        if region not in result:
            result.append(region)
    return result


def _location(p: _Problems, data: Any) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        p.add("location must be an object")
        return {}
    location: dict[str, Any] = {
        "province": p.province(data.get("province"), "location.province"),
        "municipality": p.text(data, "municipality", limit=MAX_NAME),
        "address": p.text(data, "address", limit=MAX_NAME),
        "postalCode": p.text(data, "postalCode", limit=10).upper(),
        "confidential": bool(data.get("confidential", False)),
    }
    if location["postalCode"] and not _POSTAL.match(location["postalCode"]):
        p.add("location.postalCode is not a Canadian postal code")
    return location


def parse_codes(provinces: list[str], languages: list[str]) -> None:
    """Checks province and language codes used to filter, naming every unknown one."""
    p = _Problems()
    for code in provinces:
        p.province(code, "provinces")
    for code in languages:
        if not is_language_code(code):
            p.add(f"languages: {code!r} is not an ISO 639-1 or ISO 639-3 language code")
    p.raise_if_any()


def parse_criteria(values: Any) -> list[str]:
    p = _Problems()
    result = p.enum_list({"criteria": values}, "criteria", Criterion)
    p.raise_if_any()
    return result


def parse_contacts(values: Any) -> list[dict[str, str]]:
    """A reporting protocol's contact list: each with a name and a phone or an email."""
    p = _Problems()
    if not isinstance(values, list) or len(values) > MAX_LIST:
        p.add(f"contacts must be a list of at most {MAX_LIST} contacts")
        p.raise_if_any()
    contacts = []
    for index, item in enumerate(values):
        where = f"contacts[{index}]"
        contact = _contact(p, item, where, ("name", "role", "phone", "email", "availability"))
        if not contact.get("name"):
            p.add(f"{where}.name must not be empty")
        if not (contact.get("phone") or contact.get("email")):
            p.add(f"{where} needs a phone or an email")
        contacts.append(contact)
    p.raise_if_any()
    return contacts


def parse_jurisdiction(province: Any, municipality: str | None) -> dict[str, str]:
    p = _Problems()
    jurisdiction = {"province": p.province(province, "jurisdiction.province")}
    place = p.text({"municipality": municipality}, "municipality", limit=MAX_NAME)
    if place:
        jurisdiction["municipality"] = place
    p.raise_if_any()
    return jurisdiction
