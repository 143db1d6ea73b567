"""Reports follow the local reporting protocol of the case's jurisdiction, and an emergency call
is never refused: given past events, when a command, then new events or a named refusal.

A report goes under a protocol whose jurisdiction covers the case's province (and municipality,
for a municipal protocol); anything else only by a supervisor's written override. The factors
that are judgement are each required; the facts the case holds are filled in from it. An
emergency call is recorded with the number for the place, or with the number unknown. Events
stored in the earlier shapes still load.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any, cast

import pytest
from eventsourcing.persistence import StoredEvent

from domain.base import Actor, InvalidInput
from domain.case import Case, ConsentScope
from domain.cases import CaseUseCases
from domain.emergency import EmergencyNumber, EmergencyNumbers, NumberSource
from domain.mandatory_report import OutsideJurisdiction
from domain.reporting_protocol import covers, place_key
from domain.vault import Vault
from tests.helpers import Fact, happened, refused
from tests.unit.test_case import (
    ALL_FACTORS,
    CASE_ID,
    CONSENT,
    EARLIER_DISCLOSURE,
    HARBOUR_POLICE,
    HARBOUR_PROTOCOL,
    NOW,
    ONTARIO,
    REPORT,
    SEALED_PERSONAL,
    consented,
    given,
    opened,
    report,
    then,
    withdrawn,
)
from tests.unit.test_case_compliance import NoVault, stored

TORONTO = {"province": "CA-ON", "municipality": "Toronto"}
MONTREAL = {"province": "CA-QC", "municipality": "Montréal"}
OVERRIDE = "Fictional: the caller is in Ontario tonight; the Toronto unit leads this file."


def opened_in(**details: Any) -> Fact:
    _, fields = opened()
    return happened(Case.Opened, **{**fields, "details": details})


def sealed(text: str) -> str:
    return f"sealed:{text}"


# -- jurisdiction ----------------------------------------------------------------------------


def test_a_provincial_protocol_covers_every_municipality_of_its_province(
    supervisor: Actor,
) -> None:
    case = given(opened_in(province="CA-ON", municipality="Fictional Falls"))

    report(case, jurisdiction=ONTARIO)

    [event] = then(case)
    assert type(event) is Case.ReportedToLawEnforcement
    assert event.jurisdiction_override == ""


@pytest.mark.parametrize("place", ["Toronto", "TORONTO", "  toronto "])
def test_a_municipal_protocol_covers_its_municipality_whatever_the_case(
    supervisor: Actor, place: str
) -> None:
    case = given(opened_in(province="CA-ON", municipality=place))

    report(case, jurisdiction=TORONTO)

    assert [type(e) for e in then(case)] == [Case.ReportedToLawEnforcement]


@pytest.mark.parametrize("place", ["Montreal", "MONTRÉAL", "Montréal"])
def test_municipalities_compare_without_accents(supervisor: Actor, place: str) -> None:
    case = given(opened_in(province="CA-QC", municipality=place))

    report(case, jurisdiction=MONTREAL)

    assert [type(e) for e in then(case)] == [Case.ReportedToLawEnforcement]


def test_a_quebec_case_is_refused_under_a_toronto_protocol(supervisor: Actor) -> None:
    case = given(opened_in(province="CA-QC", municipality="Montréal"))

    error = refused(case, OutsideJurisdiction, lambda: report(case, jurisdiction=TORONTO))

    assert error.code == "OUTSIDE_JURISDICTION"
    assert "jurisdictionOverride" in str(error)
    assert "Montr" not in str(error)  # the message holds no case data
    assert case.reports == {}


@pytest.mark.parametrize(
    "details",
    [{"province": "CA-ON", "municipality": "Ottawa"}, {"province": "CA-ON"}],
    ids=["another-municipality", "no-municipality"],
)
def test_a_municipal_protocol_covers_no_other_place(
    supervisor: Actor, details: dict[str, str]
) -> None:
    case = given(opened_in(**details))

    refused(case, OutsideJurisdiction, lambda: report(case, jurisdiction=TORONTO))


def test_a_case_with_no_province_yet_is_outside_every_jurisdiction(supervisor: Actor) -> None:
    case = given(opened_in(urgency="HIGH"))

    refused(
        case,
        OutsideJurisdiction,
        lambda: report(case, jurisdiction=ONTARIO),
        match="no province or territory recorded yet",
    )


def test_a_supervisor_overrides_the_jurisdiction_with_a_justification(
    supervisor: Actor,
) -> None:
    case = given(opened_in(province="CA-QC"))

    case.report(
        REPORT,
        HARBOUR_POLICE,
        HARBOUR_PROTOCOL,
        ALL_FACTORS,
        EARLIER_DISCLOSURE,
        sealed,
        jurisdiction=TORONTO,
        override=f"  {OVERRIDE}  ",
        now=NOW,
    )

    [event] = then(case)
    assert event.jurisdiction_override == sealed(OVERRIDE)  # sealed with the case's key
    assert case.reports[str(REPORT)]["jurisdictionOverride"] == sealed(OVERRIDE)
    assert event.factors == {k: sealed(v) for k, v in ALL_FACTORS.items()}


def test_an_override_of_a_jurisdiction_that_covers_the_case_is_refused(
    supervisor: Actor,
) -> None:
    case = given(opened())

    refused(
        case, InvalidInput, lambda: report(case, override=OVERRIDE), match="no override is needed"
    )


def test_a_blank_override_is_no_override(supervisor: Actor) -> None:
    case = given(opened_in(province="CA-QC"))

    refused(case, OutsideJurisdiction, lambda: report(case, override="  \n "))


def test_municipal_names_compare_by_place_key() -> None:
    assert place_key("Saint-Jean-sur-Richelieu") == place_key("saint jean sur richelieu")
    assert place_key("Montréal") == place_key("MONTREAL") == "montreal"
    assert place_key("Iqaluit") != place_key("Igloolik")
    assert not covers(ONTARIO, None, None)


# -- factors and facts -----------------------------------------------------------------------


@pytest.mark.parametrize("factor", list(ALL_FACTORS))
def test_an_empty_factor_is_refused(supervisor: Actor, factor: str) -> None:
    case = given(opened())

    error = refused(
        case,
        InvalidInput,
        lambda: report(case, factors={**ALL_FACTORS, factor: "   "}),
    )

    assert cast(InvalidInput, error).problems == [f"factors.{factor}: required, and not empty"]


def test_a_missing_factor_and_a_fact_retyped_are_refused_together(supervisor: Actor) -> None:
    case = given(opened())
    factors = {k: v for k, v in ALL_FACTORS.items() if k != "applicableLaw"}

    error = refused(
        case, InvalidInput, lambda: report(case, factors={**factors, "urgency": "HIGH"})
    )

    assert cast(InvalidInput, error).problems == [
        "factors.urgency: not a judgement factor",
        "factors.applicableLaw: required, and not empty",
    ]


def test_the_facts_are_filled_in_from_the_case(supervisor: Actor) -> None:
    case = given(
        opened_in(
            province="CA-ON",
            urgency="IMMINENT_HARM",
            imminentHarm=True,
            minorInvolved="YES",
            indicators=["DEBT_BONDAGE", "MINOR_IN_COMMERCIAL_SEX"],
        ),
        consented(ConsentScope.REPORT_TO_LAW_ENFORCEMENT, None),
        # Indicators reference potential trafficking: a supervisor's decision comes first.
        happened(
            Case.SupervisorConsulted,
            decision="Fictional: report now.",
            next_steps="Fictional: call the liaison.",
            answers=[],
        ),
    )

    report(case)

    [event] = then(case)
    assert event.facts == {
        "urgency": "IMMINENT_HARM",
        "imminentHarm": True,
        "minorInvolved": "YES",
        "indicators": ["DEBT_BONDAGE", "MINOR_IN_COMMERCIAL_SEX"],
        "consent": "ACTIVE",
        "consentId": str(CONSENT),
    }
    assert case.reports[str(REPORT)]["facts"] == event.facts


@pytest.mark.parametrize(
    ("history", "on_record"),
    [
        ([], "NONE"),
        (
            [consented(ConsentScope.REPORT_TO_LAW_ENFORCEMENT, HARBOUR_POLICE), withdrawn()],
            "WITHDRAWN",
        ),
        (
            [
                consented(
                    ConsentScope.REPORT_TO_LAW_ENFORCEMENT,
                    HARBOUR_POLICE,
                    expires_at=NOW - timedelta(days=1),
                )
            ],
            "EXPIRED",
        ),
        ([consented(ConsentScope.SHARE_WITH_ORGANIZATION, HARBOUR_POLICE)], "NONE"),
    ],
    ids=["none", "withdrawn", "expired", "another-scope"],
)
def test_the_consent_on_record_is_filled_in(
    supervisor: Actor, history: list[Fact], on_record: str
) -> None:
    case = given(opened(), *history)

    report(case)

    [event] = then(case)
    assert (event.facts["consent"], event.facts["consentId"]) == (on_record, None)


# -- emergency numbers -----------------------------------------------------------------------

TABLE = EmergencyNumbers({"CA-NU": "555-0100", "CA-NU:Iqaluit": "555-0111"})


@pytest.mark.parametrize("province", ["CA-ON", "CA-QC", "CA-YT", "CA-BC"])
def test_911_in_the_provinces_and_yukon(province: str) -> None:
    assert TABLE.for_place(province, "Fictional Falls") == EmergencyNumber(
        province, "911", NumberSource.NINE_ONE_ONE
    )


@pytest.mark.parametrize("place", ["Iqaluit", "IQALUIT ", "iqaluit"])
def test_a_community_entry_gives_that_community_its_number(place: str) -> None:
    assert TABLE.for_place("CA-NU", place) == EmergencyNumber(
        "CA-NU", "555-0111", NumberSource.COMMUNITY, "Iqaluit"
    )


def test_other_communities_take_the_territory_entry() -> None:
    found = TABLE.for_place("CA-NU", "Fictional Inlet")

    assert found == EmergencyNumber("CA-NU", "555-0100", NumberSource.TERRITORY)
    assert found.warning is None


def test_a_territory_with_no_entry_has_no_number_and_a_warning() -> None:
    found = TABLE.for_place("CA-NT", "Yellowknife")

    assert (found.number, found.source) == (None, NumberSource.NOT_CONFIGURED)
    assert found.warning is not None and "NRD_EMERGENCY_NUMBERS" in found.warning


def test_a_case_with_no_province_has_no_number_and_a_warning() -> None:
    found = TABLE.for_place(None, None)

    assert found == EmergencyNumber(None, None, NumberSource.PROVINCE_UNKNOWN)
    assert found.warning is not None and "province" in found.warning


def test_an_emergency_call_with_no_number_known_is_recorded(staff: Actor) -> None:
    case = given(opened_in(urgency="IMMINENT_HARM"))

    case.contact_emergency_services(TABLE.for_place(None, None), None)

    [event] = then(case)
    assert (event.province, event.number, event.number_source) == (
        None,
        None,
        "PROVINCE_UNKNOWN",
    )
    assert case.emergencies[-1]["number"] is None


def test_an_emergency_call_records_the_community_whose_number_it_was(staff: Actor) -> None:
    case = given(opened_in(province="CA-NU", municipality="Iqaluit"))

    case.contact_emergency_services(TABLE.for_place("CA-NU", "Iqaluit"), None)

    [event] = then(case)
    assert (event.province, event.number, event.number_source, event.community) == (
        "CA-NU",
        "555-0111",
        "COMMUNITY",
        "Iqaluit",
    )


# -- events stored in their earlier shapes ---------------------------------------------------


@pytest.fixture
def app() -> Iterator[CaseUseCases]:
    application = CaseUseCases(
        {"PERSISTENCE_MODULE": "eventsourcing.popo"}, vault=cast(Vault, NoVault())
    )
    yield application
    application.close()


# What version 2 added to each event, absent from events stored before.
# (And what a later version added: an emergency call's disclosure_not_made, v3.)
V2_ONLY = (
    "class_version",
    "facts",
    "jurisdiction_override",
    "number_source",
    "community",
    "disclosure_not_made",
)


def version_1(app: CaseUseCases, fact: Fact, version: int, **state: Any) -> StoredEvent:
    """The fact as version 1 stored it: without what version 2 added, with ``state``."""
    current = stored(app, fact, version)
    decoded = app.mapper.transcoder.decode(current.state)
    for key in V2_ONLY:
        decoded.pop(key, None)
    decoded.update(state)
    return StoredEvent(
        originator_id=current.originator_id,
        originator_version=current.originator_version,
        topic=current.topic,
        state=app.mapper.transcoder.encode(decoded),
    )


OLD_FACTORS = {
    "urgency": "HIGH, in the supervisor's words",
    "imminentHarm": "no",
    "minorInvolved": "not known",
    "indicatorsPresent": "fictional indicators",
    **ALL_FACTORS,
}


def test_a_report_stored_before_the_facts_were_filled_in_still_loads(app: CaseUseCases) -> None:
    old_report = happened(
        Case.ReportedToLawEnforcement,
        report_id=str(REPORT),
        agency_id=str(HARBOUR_POLICE),
        protocol_id=str(HARBOUR_PROTOCOL),
        factors=OLD_FACTORS,
        facts=None,
        jurisdiction_override="",
        disclosure_id=str(EARLIER_DISCLOSURE),
    )
    old = version_1(app, old_report, 2, factors=OLD_FACTORS)
    assert b"facts" not in old.state and b"class_version" not in old.state
    app.recorder.insert_events([stored(app, opened(), 1), old])

    case: Case = app.repository.get(CASE_ID)

    made = case.reports[str(REPORT)]
    assert (made["factors"], made.get("facts"), made.get("jurisdictionOverride")) == (
        OLD_FACTORS,
        None,
        "",
    )
    assert case.sealed_personal == SEALED_PERSONAL


@pytest.mark.parametrize(
    ("province", "number", "loaded", "source"),
    [
        ("CA-ON", "911", "CA-ON", "NINE_ONE_ONE"),
        ("CA-NU", "fictional-000", "CA-NU", "TERRITORY"),
        ("None", "fictional-000", None, "TERRITORY"),
    ],
    ids=["911", "configured", "none-as-text"],
)
def test_an_emergency_call_stored_before_numbers_could_be_unknown_still_loads(
    app: CaseUseCases, province: str, number: str, loaded: str | None, source: str
) -> None:
    call = happened(
        Case.EmergencyServicesContacted,
        province=province,
        number=number,
        number_source="ignored",
        community=None,
        disclosure_id=None,
        disclosure_not_made=None,
    )
    old = version_1(app, call, 2, province=province, number=number)
    assert b"number_source" not in old.state and b"class_version" not in old.state
    app.recorder.insert_events([stored(app, opened(), 1), old])

    case: Case = app.repository.get(CASE_ID)

    [made] = case.emergencies
    assert (made["province"], made["number"], made.get("numberSource"), made.get("community")) == (
        loaded,
        number,
        source,
        None,
    )
    assert made.get("disclosureNotMade") is None


def test_an_emergency_call_stored_before_a_disclosure_could_be_left_out_still_loads(
    app: CaseUseCases,
) -> None:
    call = happened(
        Case.EmergencyServicesContacted,
        province="CA-ON",
        number="911",
        number_source="NINE_ONE_ONE",
        community=None,
        disclosure_id=None,
        disclosure_not_made="ignored",
    )
    current = stored(app, call, 2)
    decoded = app.mapper.transcoder.decode(current.state)
    del decoded["disclosure_not_made"]
    decoded["class_version"] = 2
    old = StoredEvent(
        originator_id=current.originator_id,
        originator_version=current.originator_version,
        topic=current.topic,
        state=app.mapper.transcoder.encode(decoded),
    )
    app.recorder.insert_events([stored(app, opened(), 1), old])

    case: Case = app.repository.get(CASE_ID)

    [made] = case.emergencies
    assert (made["number"], made["disclosureId"], made.get("disclosureNotMade")) == (
        "911",
        None,
        None,
    )
