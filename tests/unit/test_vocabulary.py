"""The one gate a profile passes before it enters an event: every problem named at once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from domain.base import InvalidInput
from domain.vocabulary import MAX_NAME, MAX_TEXT, parse_contacts, parse_jurisdiction, parse_profile


def a_profile(**changes: Any) -> dict[str, Any]:
    profile: dict[str, Any] = {
        "kind": "DIRECT_SERVICE_PROVIDER",
        "nameEn": "Example Harbour Shelter",
        "nameFr": "Refuge Exemple du Port",
        "languages": ["en", "fr"],
        "regions": [{"province": "CA-NS", "municipality": "Example Harbour"}],
        "publicContact": {"phone": "+1 555 010 0199", "email": "intake@example.org"},
        "location": {"province": "CA-NS", "postalCode": "B0J 1Z0"},
    }
    profile.update(changes)
    return profile


def problems_with(profile: dict[str, Any]) -> list[str]:
    with pytest.raises(InvalidInput) as refused:
        parse_profile(profile)
    return refused.value.problems


def test_a_well_formed_profile_is_accepted() -> None:
    profile = parse_profile(a_profile())

    assert profile["kind"] == "DIRECT_SERVICE_PROVIDER"
    assert profile["nameEn"] == "Example Harbour Shelter"
    assert profile["languages"] == ["en", "fr"]
    assert profile["regions"] == [{"province": "CA-NS", "municipality": "Example Harbour"}]
    assert profile["publicContact"] == {"phone": "+1 555 010 0199", "email": "intake@example.org"}


def test_an_unknown_province_code_is_refused_with_the_codes_expected() -> None:
    problems = problems_with(a_profile(regions=[{"province": "ON"}]))

    assert len(problems) == 1
    assert "regions[0].province" in problems[0]
    assert "'ON'" in problems[0]
    assert "CA-ON" in problems[0]


def test_an_unknown_location_province_is_refused() -> None:
    problems = problems_with(a_profile(location={"province": "CA-ZZ"}))

    assert len(problems) == 1
    assert problems[0].startswith("location.province: unknown province or territory code 'CA-ZZ'")


@pytest.mark.parametrize("code", ["xx", "zzz", "french", "f", ""])
def test_an_unknown_language_code_is_refused(code: str) -> None:
    problems = problems_with(a_profile(languages=["en", code]))

    assert problems == [f"languages: {code!r} is not an ISO 639-1 or ISO 639-3 language code"]


@pytest.mark.parametrize("code", ["fr", "en", "iu", "mic", "iku", "cre", "oji"])
def test_two_letter_and_three_letter_language_codes_are_accepted(code: str) -> None:
    profile = parse_profile(a_profile(languages=[code]))

    assert profile["languages"] == [code]


@pytest.mark.parametrize("name", ["nameEn", "nameFr"])
@pytest.mark.parametrize("value", ["", "   ", None])
def test_an_empty_english_or_french_name_is_refused(name: str, value: str | None) -> None:
    problems = problems_with(a_profile(**{name: value}))

    assert problems == [f"{name} must not be empty"]


@pytest.mark.parametrize("kind", ["SHELTER", None, "direct_service_provider"])
def test_an_unknown_kind_is_refused_with_the_kinds_expected(kind: str | None) -> None:
    problems = problems_with(a_profile(kind=kind))

    assert len(problems) == 1
    assert problems[0].startswith(f"kind: unknown value {kind!r}")
    assert "LAW_ENFORCEMENT_AGENCY" in problems[0]


@pytest.mark.parametrize("email", ["intake", "intake@example", "in take@example.org", "@x.org"])
def test_a_malformed_email_is_refused(email: str) -> None:
    problems = problems_with(a_profile(publicContact={"email": email}))

    assert problems == ["publicContact.email is not an email address"]


@pytest.mark.parametrize("phone", ["call us", "555-CALL", "+1 555 010 0199 press 2"])
def test_a_malformed_phone_number_is_refused(phone: str) -> None:
    problems = problems_with(
        a_profile(pointOfContact={"name": "Fictional Person", "afterHoursPhone": phone})
    )

    assert problems == ["pointOfContact.afterHoursPhone is not a phone number"]


@pytest.mark.parametrize("phone", ["+1 555 010 0199", "(555) 010-0199", "555.010.0199 ext. 12"])
def test_common_phone_number_shapes_are_accepted(phone: str) -> None:
    profile = parse_profile(a_profile(publicContact={"phone": phone}))

    assert profile["publicContact"] == {"phone": phone}


@pytest.mark.parametrize("postal_code", ["12345", "B0J-1Z0", "BB0 1Z0", "B0J 1Z"])
def test_a_malformed_postal_code_is_refused(postal_code: str) -> None:
    problems = problems_with(a_profile(location={"province": "CA-NS", "postalCode": postal_code}))

    assert problems == ["location.postalCode is not a Canadian postal code"]


def test_a_postal_code_is_upper_cased() -> None:
    profile = parse_profile(a_profile(location={"province": "CA-NS", "postalCode": " b0j 1z0 "}))

    assert profile["location"]["postalCode"] == "B0J 1Z0"


@pytest.mark.parametrize(("key", "limit"), [("nameEn", MAX_NAME), ("descriptionFr", MAX_TEXT)])
def test_text_longer_than_its_limit_is_refused(key: str, limit: int) -> None:
    profile: Mapping[str, Any] = parse_profile(a_profile(**{key: "x" * limit}))
    assert profile[key] == "x" * limit

    problems = problems_with(a_profile(**{key: "x" * (limit + 1)}))

    assert problems == [f"{key} is longer than {limit} characters"]


def test_one_invalid_input_lists_every_problem_at_once() -> None:
    problems = problems_with(
        {
            "kind": "SHELTER",
            "nameEn": "",
            "nameFr": "Refuge Exemple du Port",
            "languages": ["fr", "xx"],
            "regions": [{"province": "QC"}],
            "publicContact": {"email": "not-an-email", "phone": "call us"},
            "location": {"province": "CA-QC", "postalCode": "12345"},
            "services": [
                {
                    "nameEn": "Fictional drop-in",
                    "nameFr": "Accueil fictif",
                    "category": "SOMETIMES",
                    "natures": [],
                }
            ],
            "focusAreas": ["GARDENING"],
        }
    )

    expected_fragments = [
        "kind: unknown value 'SHELTER'",
        "nameEn must not be empty",
        "languages: 'xx'",
        "regions[0].province",
        "publicContact.email",
        "publicContact.phone",
        "location.postalCode",
        "services[0].category",
        "services[0].natures",
        "focusAreas: unknown value 'GARDENING'",
    ]
    assert len(problems) == len(expected_fragments)
    for fragment in expected_fragments:
        assert any(fragment in problem for problem in problems), fragment


def test_the_error_message_joins_every_problem() -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_profile(a_profile(nameEn="", nameFr=""))

    assert str(refused.value) == "nameEn must not be empty; nameFr must not be empty"


def test_a_profile_is_normalised_stripped_lower_cased_and_deduplicated() -> None:
    profile = parse_profile(
        a_profile(
            nameEn="  Example Harbour Shelter  ",
            languages=["FR", " fr ", "Mic", "en"],
            focusAreas=["HUMAN_TRAFFICKING", "HUMAN_TRAFFICKING", "HOMELESS_YOUTH"],
            regions=[
                {"province": "CA-NS", "municipality": " Example Harbour "},
                {"province": "CA-NS", "municipality": "Example Harbour"},
                {"province": "CA-NB"},
            ],
        )
    )

    assert profile["nameEn"] == "Example Harbour Shelter"
    assert profile["languages"] == ["fr", "mic", "en"]
    assert profile["focusAreas"] == ["HUMAN_TRAFFICKING", "HOMELESS_YOUTH"]
    assert profile["regions"] == [
        {"province": "CA-NS", "municipality": "Example Harbour"},
        {"province": "CA-NB"},
    ]


def test_empty_contact_fields_are_dropped() -> None:
    profile = parse_profile(
        a_profile(publicContact={"phone": " ", "email": "intake@example.org", "website": ""})
    )

    assert profile["publicContact"] == {"email": "intake@example.org"}


# -- reporting protocol contacts and jurisdictions ----------------------------------------


def test_a_contact_list_is_accepted_and_stripped() -> None:
    contacts = parse_contacts(
        [
            {"name": " Sgt. Fictional Example ", "role": "HT unit", "phone": "+1 555 010 0142"},
            {"name": "Cst. Fictional Sample", "email": "ht-unit@example.org"},
        ]
    )

    assert contacts == [
        {"name": "Sgt. Fictional Example", "role": "HT unit", "phone": "+1 555 010 0142"},
        {"name": "Cst. Fictional Sample", "email": "ht-unit@example.org"},
    ]


@pytest.mark.parametrize(
    "contacts", [None, "Sgt. Fictional Example", {"name": "x"}, [{"name": "Fictional"}] * 51]
)
def test_contacts_that_are_not_a_short_list_are_refused(contacts: Any) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_contacts(contacts)

    assert refused.value.problems == ["contacts must be a list of at most 50 contacts"]


def test_every_contact_needs_a_name_and_a_phone_or_an_email_all_reported_together() -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_contacts(
            [
                {"phone": "+1 555 010 0142"},
                {"name": "Sgt. Fictional Example"},
                {"name": "Cst. Fictional Sample", "email": "not-an-email"},
                "Cst. Fictional Third",
            ]
        )

    assert refused.value.problems == [
        "contacts[0].name must not be empty",
        "contacts[1] needs a phone or an email",
        "contacts[2].email is not an email address",
        "contacts[3] must be an object",
        "contacts[3].name must not be empty",
        "contacts[3] needs a phone or an email",
    ]


def test_a_jurisdiction_is_a_province_and_an_optional_stripped_municipality() -> None:
    assert parse_jurisdiction("CA-NS", "  Example Harbour ") == {
        "province": "CA-NS",
        "municipality": "Example Harbour",
    }
    assert parse_jurisdiction("CA-NS", "   ") == {"province": "CA-NS"}
    assert parse_jurisdiction("CA-NS", None) == {"province": "CA-NS"}


@pytest.mark.parametrize("province", ["NS", "CA-XX", "", None])
def test_a_jurisdiction_in_an_unknown_province_is_refused(province: str | None) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_jurisdiction(province, "Example Harbour")

    assert len(refused.value.problems) == 1
    assert refused.value.problems[0].startswith(
        f"jurisdiction.province: unknown province or territory code {province!r}"
    )
