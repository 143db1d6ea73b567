"""The hotline as a mandatory reporter: given a case's past events, when a command, then the
flag, the decision or a named refusal (seed 000: the hotline "will inform appropriate
authorities of situations that reference the suspected abuse of a minor").

A minor's own consent is recorded as such, and may not alone send their personal data to law
enforcement.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest
from eventsourcing.utils import get_topic

from domain.base import Actor, InvalidInput, ReasonRequired, acting_as
from domain.case import (
    CallerRelationship,
    Case,
    Channel,
    ConsentGiver,
    ConsentMethod,
    ConsentRequired,
    ConsentScope,
    DisclosableField,
    Exception_,
    RecipientKind,
    SupervisorRequired,
    UnknownReport,
)
from domain.mandatory_report import (
    MandatoryReportDecisionRequired,
    MinorConsentInsufficient,
    NoMandatoryReportPending,
    NoMinorInvolved,
    OutsideJurisdiction,
    ReportSilentOnTheMinor,
    calls_for_decision,
    covers,
)
from domain.organization import CriteriaNotAttested, Organization, Status
from domain.vocabulary import parse_profile
from tests.helpers import Fact, happened, refused, replayed

CASE_ID = UUID("00000000-0000-4000-8000-00000000c0c1")
AUTHORITY = UUID("00000000-0000-4000-8000-0000000000c7")
AGENCY = UUID("00000000-0000-4000-8000-0000000000b1")
PROTOCOL = UUID("00000000-0000-4000-8000-0000000000d1")
SHELTER = UUID("00000000-0000-4000-8000-0000000000a1")
CONSENT = UUID("00000000-0000-4000-8000-0000000000e1")
DISCLOSURE = UUID("00000000-0000-4000-8000-0000000000f1")
REPORT = UUID("00000000-0000-4000-8000-0000000000f3")
MINOR_IN_SEX_TRADE = {
    "province": "CA-MB",
    "minorInvolved": "YES",
    "situationType": "SEX_TRAFFICKING",
    "indicators": ["MINOR_IN_COMMERCIAL_SEX"],
}
# The judgement factors (the facts, a minor involved among them, are the case's own).
FACTORS = dict.fromkeys(
    ("callersWishes", "levelOfDetail", "applicableLaw", "localProtocol"), "fictional"
)


# -- given ---------------------------------------------------------------------------------


def opened(**details: Any) -> Fact:
    return happened(
        Case.Opened,
        originator_topic=get_topic(Case),
        channel="CHAT",
        language="en",
        relationship="VICTIM_OR_SURVIVOR",
        sealed_personal="sealed-fictional-personal-data",
        has_personal_data=True,
        details=details,
    )


def flagged() -> Fact:
    return happened(Case.MandatoryReportFlagged)


def consented(scope: ConsentScope, by: ConsentGiver, recipient: UUID | None = None) -> Fact:
    return happened(
        Case.ConsentGranted,
        consent_id=str(CONSENT),
        scope=scope.value,
        recipient_id=None if recipient is None else str(recipient),
        given_by=by.value,
        method="CHAT",
        expires_at=None,
    )


def decided_no_report() -> Fact:
    return happened(
        Case.MandatoryReportDecided,
        decision="NO_REPORT_REQUIRED",
        report_id=None,
        justification="Fictional: the caller is an adult, confirmed.",
    )


def supervisor_decided() -> Fact:
    """A supervisor's decision on the case (it references potential trafficking: nothing leaves,
    and it does not close, before one)."""
    return happened(
        Case.SupervisorConsulted,
        decision="Fictional: report as a mandatory reporter.",
        next_steps="Fictional: call the authority today.",
        answers=[],
    )


def given(*facts: Fact) -> Case:
    return replayed(Case, CASE_ID, *facts)


def a_minors_case() -> Case:
    return given(opened(**MINOR_IN_SEX_TRADE), flagged(), supervisor_decided())


def kinds(case: Case) -> list[type[Any]]:
    return [type(event) for event in case.collect_events()]


def disclose_to_authority(case: Case, **kwargs: Any) -> None:
    case.disclose(
        DISCLOSURE,
        RecipientKind.CHILD_PROTECTION_AUTHORITY,
        AUTHORITY,
        [DisclosableField.CALLER_NAME, DisclosableField.LOCATION],
        kwargs.get("exception", Exception_.SUSPECTED_ABUSE_OF_A_MINOR),
        "Fictional: a fifteen-year-old in the sex trade.",
        "sealed-fictional-copy",
        kwargs.get("now", case.modified_on),
    )


# -- the flag ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "details",
    [
        MINOR_IN_SEX_TRADE,
        {"minorInvolved": "YES", "situationType": "LABOUR_TRAFFICKING"},
        {"minorInvolved": "UNKNOWN", "situationType": "UNKNOWN"},
        {"minorInvolved": "YES", "indicators": ["THREATS_OR_VIOLENCE"]},
        {"minorInvolved": "NO", "indicators": ["MINOR_IN_COMMERCIAL_SEX"]},
        {"indicators": ["MINOR_IN_COMMERCIAL_SEX"]},
    ],
)
def test_a_case_opened_with_a_possible_minor_and_abuse_or_trafficking_is_flagged(
    staff: Actor, details: dict[str, Any]
) -> None:
    assert calls_for_decision(details)
    case = Case.open_case(
        id=CASE_ID,
        channel=Channel.CHAT,
        language="en",
        relationship=CallerRelationship.VICTIM_OR_SURVIVOR,
        sealed_personal="sealed",
        has_personal_data=False,
        details=details,
    )
    assert kinds(case) == [Case.Opened, Case.MandatoryReportFlagged]
    assert case.awaits_mandatory_report_decision
    assert case.mandatory_report is not None
    assert case.mandatory_report["decision"] is None


@pytest.mark.parametrize(
    "details",
    [
        {"minorInvolved": "NO", "situationType": "SEX_TRAFFICKING"},
        {"minorInvolved": "YES", "situationType": "NOT_TRAFFICKING"},
        {"minorInvolved": "YES"},
        {"situationType": "SEX_TRAFFICKING", "indicators": ["DEBT_BONDAGE"]},
        {},
    ],
)
def test_a_case_without_both_a_possible_minor_and_abuse_or_trafficking_is_not_flagged(
    staff: Actor, details: dict[str, Any]
) -> None:
    case = given(opened(**details))
    case.update_details({"urgency": "LOW"})
    assert kinds(case) == [Case.DetailsUpdated]


def test_new_details_that_call_for_a_decision_flag_the_case_once(staff: Actor) -> None:
    case = given(opened(province="CA-MB", situationType="SEX_TRAFFICKING"))
    case.update_details({"minorInvolved": "UNKNOWN"})
    case.update_details({"minorInvolved": "YES"})
    assert kinds(case) == [Case.DetailsUpdated, Case.MandatoryReportFlagged, Case.DetailsUpdated]


def test_the_flag_stays_when_the_details_change_back(staff: Actor) -> None:
    case = a_minors_case()
    case.update_details({"minorInvolved": "NO", "indicators": []})
    assert kinds(case) == [Case.DetailsUpdated]
    assert case.awaits_mandatory_report_decision


def test_a_consent_the_minor_gave_themselves_flags_a_trafficking_case(staff: Actor) -> None:
    case = given(opened(situationType="SEX_TRAFFICKING"))
    case.grant_consent(
        CONSENT,
        ConsentScope.FOLLOW_UP_CONTACT,
        None,
        ConsentGiver.MINOR,
        ConsentMethod.CHAT,
        None,
    )
    assert kinds(case) == [Case.ConsentGranted, Case.MandatoryReportFlagged]
    assert case.consents[str(CONSENT)]["givenBy"] == "MINOR"


# -- closing -------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["staff", "supervisor"])
def test_a_flagged_case_cannot_close_before_the_decision(role: str) -> None:
    case = a_minors_case()
    with acting_as(Actor(f"fictional-{role}-1", role)):
        error = refused(
            case, MandatoryReportDecisionRequired, lambda: case.close("Fictional: resolved.")
        )
    assert "decideNoMandatoryReport" in str(error)
    assert "reportToChildProtection" in str(error)


def test_a_flagged_case_closes_once_no_report_is_decided(staff: Actor) -> None:
    case = given(opened(**MINOR_IN_SEX_TRADE), flagged(), decided_no_report(), supervisor_decided())
    case.close("Fictional: resolved.")
    assert kinds(case) == [Case.Closed]


# -- no report required --------------------------------------------------------------------


def test_a_supervisor_decides_no_report_is_required_in_writing(supervisor: Actor) -> None:
    case = a_minors_case()
    case.decide_no_mandatory_report("Fictional: the caller is 19, confirmed.", lambda t: "S:" + t)
    [event] = list(case.collect_events())
    assert isinstance(event, Case.MandatoryReportDecided)
    assert event.decision == "NO_REPORT_REQUIRED"
    assert event.justification == "S:Fictional: the caller is 19, confirmed."
    assert event.actor_id == supervisor.user_id
    assert not case.awaits_mandatory_report_decision


def test_staff_cannot_decide_that_no_report_is_required(staff: Actor) -> None:
    case = a_minors_case()
    refused(case, SupervisorRequired, lambda: case.decide_no_mandatory_report("Fictional."))


def test_a_decision_that_no_report_is_required_needs_a_justification(supervisor: Actor) -> None:
    case = a_minors_case()
    refused(case, ReasonRequired, lambda: case.decide_no_mandatory_report("   "))


@pytest.mark.parametrize(
    "history",
    [[opened(minorInvolved="NO")], [opened(**MINOR_IN_SEX_TRADE), flagged(), decided_no_report()]],
)
def test_no_decision_is_recorded_where_none_is_awaited(
    supervisor: Actor, history: list[Fact]
) -> None:
    case = given(*history)
    refused(case, NoMandatoryReportPending, lambda: case.decide_no_mandatory_report("Fictional."))


# -- reporting to a child-protection authority ---------------------------------------------


def test_a_report_to_a_child_protection_authority_settles_the_decision(
    supervisor: Actor,
) -> None:
    case = a_minors_case()
    disclose_to_authority(case)
    case.report_to_child_protection(REPORT, AUTHORITY, DISCLOSURE, True, "")
    assert kinds(case) == [
        Case.InformationDisclosed,
        Case.ReportedToChildProtection,
        Case.MandatoryReportDecided,
    ]
    assert case.disclosures[str(DISCLOSURE)]["exception"] == "SUSPECTED_ABUSE_OF_A_MINOR"
    assert case.child_protection is not None
    assert case.child_protection[str(REPORT)]["authorityId"] == str(AUTHORITY)
    assert case.mandatory_report is not None
    assert case.mandatory_report["decision"] == "REPORTED_TO_CHILD_PROTECTION"
    assert case.mandatory_report["reportId"] == str(REPORT)


def test_nothing_goes_to_a_child_protection_authority_on_consent_alone(staff: Actor) -> None:
    case = given(
        opened(**MINOR_IN_SEX_TRADE),
        flagged(),
        consented(ConsentScope.REPORT_TO_LAW_ENFORCEMENT, ConsentGiver.GUARDIAN),
        supervisor_decided(),
    )
    refused(case, ConsentRequired, lambda: disclose_to_authority(case, exception=None))


def test_only_a_supervisor_reports_to_a_child_protection_authority(staff: Actor) -> None:
    case = a_minors_case()
    refused(case, SupervisorRequired, lambda: case.check_child_protection_report(True, ""))


def test_an_authority_outside_the_case_jurisdiction_needs_a_written_override(
    supervisor: Actor,
) -> None:
    case = a_minors_case()
    error = refused(
        case, OutsideJurisdiction, lambda: case.check_child_protection_report(False, "  ")
    )
    assert "jurisdictionOverride" in str(error)
    disclose_to_authority(case)
    case.report_to_child_protection(
        REPORT, AUTHORITY, DISCLOSURE, False, "Fictional: the minor lives there now."
    )
    assert case.child_protection is not None
    assert case.child_protection[str(REPORT)]["jurisdictionOverride"] == (
        "Fictional: the minor lives there now."
    )


def test_a_child_protection_authority_hears_only_of_cases_with_a_possible_minor(
    supervisor: Actor,
) -> None:
    case = given(opened(minorInvolved="NO", situationType="LABOUR_TRAFFICKING"))
    refused(case, NoMinorInvolved, lambda: case.check_child_protection_report(True, ""))


@pytest.mark.parametrize(
    ("regions", "province", "municipality", "expected"),
    [
        ([{"province": "CA-MB"}], "CA-MB", None, True),
        ([{"province": "CA-MB"}], "CA-SK", None, False),
        ([{"province": "CA-MB", "municipality": "Winnipeg"}], "CA-MB", "winnipeg", True),
        ([{"province": "CA-MB", "municipality": "Winnipeg"}], "CA-MB", "Brandon", False),
        ([{"province": "CA-MB", "municipality": "Winnipeg"}], "CA-MB", None, False),
        ([{"province": "CA-MB"}], None, None, False),
    ],
)
def test_an_authority_covers_its_province_or_its_municipality(
    regions: list[dict[str, str]], province: str | None, municipality: str | None, expected: bool
) -> None:
    assert covers(regions, province, municipality) is expected


# -- reporting to law enforcement ------------------------------------------------------------


def report_to_police(
    case: Case, exception: Exception_ | None, fields: list[DisclosableField]
) -> None:
    case.disclose(
        DISCLOSURE,
        RecipientKind.LAW_ENFORCEMENT,
        AGENCY,
        fields,
        exception,
        "Fictional justification." if exception else "",
        "sealed-fictional-copy",
        case.modified_on,
    )
    case.report(
        REPORT,
        AGENCY,
        PROTOCOL,
        FACTORS,
        DISCLOSURE,
        jurisdiction={"province": "CA-MB"},
        now=case.modified_on,
    )


@pytest.mark.parametrize(
    ("exception", "fields"),
    [
        (Exception_.SUSPECTED_ABUSE_OF_A_MINOR, [DisclosableField.LOCATION]),
        (Exception_.IMMINENT_HARM, [DisclosableField.LOCATION, DisclosableField.MINOR_INVOLVED]),
    ],
)
def test_a_report_to_law_enforcement_covering_the_minor_settles_the_decision(
    supervisor: Actor, exception: Exception_, fields: list[DisclosableField]
) -> None:
    case = a_minors_case()
    report_to_police(case, exception, fields)
    assert kinds(case)[-1] is Case.MandatoryReportDecided
    assert case.mandatory_report is not None
    assert case.mandatory_report["decision"] == "REPORTED_TO_LAW_ENFORCEMENT"
    assert case.mandatory_report["reportId"] == str(REPORT)


def test_a_report_to_law_enforcement_silent_on_the_minor_leaves_the_decision_open(
    supervisor: Actor,
) -> None:
    case = a_minors_case()
    report_to_police(case, Exception_.IMMINENT_HARM, [DisclosableField.LOCATION])
    assert kinds(case) == [Case.InformationDisclosed, Case.ReportedToLawEnforcement]
    assert case.awaits_mandatory_report_decision


def test_a_report_made_before_the_flag_does_not_settle_it_by_itself(
    supervisor: Actor,
) -> None:
    # In the protocol's province: a report goes under its own jurisdiction's protocol. It sent
    # MINOR_INVOLVED while the case held no value: it told the agency nothing of a minor.
    case = given(opened(province="CA-MB", situationType="SEX_TRAFFICKING"), supervisor_decided())
    report_to_police(case, Exception_.LEGAL_OBLIGATION, [DisclosableField.MINOR_INVOLVED])
    case.update_details({"minorInvolved": "UNKNOWN"})
    assert kinds(case)[-2:] == [Case.DetailsUpdated, Case.MandatoryReportFlagged]
    assert case.awaits_mandatory_report_decision


def test_a_report_that_told_the_agency_no_minor_never_settles_the_flag(supervisor: Actor) -> None:
    """The review's bypass: a report sent minorInvolved NO; staff later set YES; the flag was
    settled by that report, "decided" by the staff member whose update raised it."""
    case = given(
        opened(province="CA-MB", situationType="SEX_TRAFFICKING", minorInvolved="NO"),
        consented(ConsentScope.REPORT_TO_LAW_ENFORCEMENT, ConsentGiver.CALLER, AGENCY),
        supervisor_decided(),
    )
    report_to_police(case, None, [DisclosableField.MINOR_INVOLVED])
    assert case.disclosures[str(DISCLOSURE)]["minorInvolvedSent"] == "NO"
    with acting_as(Actor("fictional-staff-9", "staff")):
        case.update_details({"minorInvolved": "YES"})
        assert kinds(case)[-2:] == [Case.DetailsUpdated, Case.MandatoryReportFlagged]
        case.collect_events()
        refused(case, MandatoryReportDecisionRequired, lambda: case.close("Fictional."))
    assert case.mandatory_report is not None and case.mandatory_report["decidedBy"] is None
    refused(case, ReportSilentOnTheMinor, lambda: case.settle_by_earlier_report(REPORT))


def test_a_report_sending_minor_involved_no_leaves_the_flag_open(supervisor: Actor) -> None:
    # Flagged by the indicator alone, minorInvolved recorded as NO: the field says no minor.
    case = given(
        opened(province="CA-MB", minorInvolved="NO", indicators=["MINOR_IN_COMMERCIAL_SEX"]),
        flagged(),
        supervisor_decided(),
    )
    report_to_police(case, Exception_.IMMINENT_HARM, [DisclosableField.MINOR_INVOLVED])
    assert kinds(case) == [Case.InformationDisclosed, Case.ReportedToLawEnforcement]
    assert case.awaits_mandatory_report_decision


@pytest.mark.parametrize(
    ("exception", "details"),
    [
        (Exception_.SUSPECTED_ABUSE_OF_A_MINOR, {"province": "CA-MB"}),
        (Exception_.LEGAL_OBLIGATION, {"province": "CA-MB", "minorInvolved": "YES"}),
    ],
)
def test_a_supervisor_records_that_an_earlier_report_was_the_mandatory_report(
    supervisor: Actor, exception: Exception_, details: dict[str, Any]
) -> None:
    case = given(opened(**details))
    report_to_police(case, exception, [DisclosableField.MINOR_INVOLVED])
    with acting_as(Actor("fictional-staff-9", "staff")):
        case.update_details({"minorInvolved": "YES", "situationType": "SEX_TRAFFICKING"})
        assert kinds(case)[-1] is Case.MandatoryReportFlagged
        refused(case, SupervisorRequired, lambda: case.settle_by_earlier_report(REPORT))
    case.settle_by_earlier_report(REPORT)
    [event] = list(case.collect_events())
    assert isinstance(event, Case.MandatoryReportDecided)
    assert event.actor_id == supervisor.user_id
    assert case.mandatory_report is not None
    assert case.mandatory_report["decision"] == "REPORTED_TO_LAW_ENFORCEMENT"
    assert case.mandatory_report["reportId"] == str(REPORT)
    assert case.mandatory_report["decidedBy"] == supervisor.user_id


def test_an_earlier_report_to_child_protection_is_recorded_as_the_mandatory_report(
    supervisor: Actor,
) -> None:
    case = given(opened(province="CA-MB", minorInvolved="YES"))
    disclose_to_authority(case)
    case.report_to_child_protection(REPORT, AUTHORITY, DISCLOSURE, True, "")
    case.update_details({"situationType": "SEX_TRAFFICKING"})
    assert kinds(case)[-2:] == [Case.DetailsUpdated, Case.MandatoryReportFlagged]
    case.collect_events()
    case.settle_by_earlier_report(REPORT)
    assert case.mandatory_report is not None
    assert case.mandatory_report["decision"] == "REPORTED_TO_CHILD_PROTECTION"
    assert case.mandatory_report["decidedBy"] == supervisor.user_id


def test_an_earlier_report_is_recorded_only_for_a_known_report_and_an_awaited_decision(
    supervisor: Actor,
) -> None:
    case = a_minors_case()
    refused(case, UnknownReport, lambda: case.settle_by_earlier_report(AGENCY))
    decided = given(opened(**MINOR_IN_SEX_TRADE), flagged(), decided_no_report())
    refused(decided, NoMandatoryReportPending, lambda: decided.settle_by_earlier_report(REPORT))


# -- when the facts get worse ----------------------------------------------------------------


def an_adult_decided_case() -> Case:
    """No report required, decided while the caller could not say whether a minor is involved."""
    return given(
        opened(province="CA-MB", minorInvolved="UNKNOWN", indicators=["THREATS_OR_VIOLENCE"]),
        flagged(),
        decided_no_report(),
        supervisor_decided(),
    )


@pytest.mark.parametrize(
    "worse",
    [
        {"minorInvolved": "YES"},
        {"indicators": ["THREATS_OR_VIOLENCE", "MINOR_IN_COMMERCIAL_SEX"]},
        {"situationType": "SEX_TRAFFICKING"},
    ],
)
def test_a_no_report_decision_taken_on_other_minor_facts_is_flagged_again(
    staff: Actor, worse: dict[str, Any]
) -> None:
    case = an_adult_decided_case()
    case.update_details(worse)
    assert kinds(case) == [Case.DetailsUpdated, Case.MandatoryReportFlagged]
    assert case.awaits_mandatory_report_decision
    with acting_as(Actor("fictional-supervisor-2", "supervisor")):
        case.consult_supervisor("Fictional: decided on the new facts.", "Fictional: steps.")
    case.collect_events()
    refused(case, MandatoryReportDecisionRequired, lambda: case.close("Fictional."))


def test_a_minors_own_consent_after_a_no_report_decision_flags_the_case_again(
    staff: Actor,
) -> None:
    case = an_adult_decided_case()
    case.grant_consent(
        CONSENT, ConsentScope.FOLLOW_UP_CONTACT, None, ConsentGiver.MINOR, ConsentMethod.CHAT, None
    )
    assert kinds(case) == [Case.ConsentGranted, Case.MandatoryReportFlagged]


def test_a_supervisor_decides_again_on_the_new_facts(supervisor: Actor) -> None:
    case = an_adult_decided_case()
    case.update_details({"minorInvolved": "YES"})
    case.consult_supervisor("Fictional: report.", "Fictional: call the authority.")
    case.decide_no_mandatory_report("Fictional: reported by the school already, confirmed.")
    case.close("Fictional: resolved.")
    assert kinds(case)[-2:] == [Case.MandatoryReportDecided, Case.Closed]


@pytest.mark.parametrize(
    "change",
    [{"urgency": "LOW"}, {"minorInvolved": "NO", "indicators": []}],
)
def test_a_no_report_decision_stands_when_nothing_calls_for_another(
    staff: Actor, change: dict[str, Any]
) -> None:
    # Other details, or minor facts that no longer call for a decision at all.
    case = an_adult_decided_case()
    case.update_details(change)
    assert kinds(case) == [Case.DetailsUpdated]
    assert not case.awaits_mandatory_report_decision


def test_a_report_made_stands_when_the_minor_facts_get_worse(supervisor: Actor) -> None:
    # Reported under the exception while the age was unknown: the authority was told a minor
    # may be involved; that it is now known needs no new report (docs/minors.md).
    case = given(
        opened(province="CA-MB", minorInvolved="UNKNOWN", situationType="SEX_TRAFFICKING"),
        flagged(),
        supervisor_decided(),
    )
    report_to_police(case, Exception_.SUSPECTED_ABUSE_OF_A_MINOR, [DisclosableField.LOCATION])
    case.collect_events()
    case.update_details({"minorInvolved": "YES"})
    assert kinds(case) == [Case.DetailsUpdated]
    assert case.mandatory_report is not None
    assert case.mandatory_report["decision"] == "REPORTED_TO_LAW_ENFORCEMENT"


# -- a minor's own consent -----------------------------------------------------------------


def test_a_minors_consent_alone_does_not_send_their_personal_data_to_law_enforcement(
    supervisor: Actor,
) -> None:
    case = given(
        opened(**MINOR_IN_SEX_TRADE),
        flagged(),
        consented(ConsentScope.REPORT_TO_LAW_ENFORCEMENT, ConsentGiver.MINOR),
        supervisor_decided(),
    )
    error = refused(
        case,
        MinorConsentInsufficient,
        lambda: report_to_police(case, None, [DisclosableField.CALLER_PHONE]),
    )
    assert "SUSPECTED_ABUSE_OF_A_MINOR" in str(error)


def test_a_minors_consent_covers_a_report_without_their_personal_data(
    supervisor: Actor,
) -> None:
    case = given(
        opened(**MINOR_IN_SEX_TRADE),
        flagged(),
        consented(ConsentScope.REPORT_TO_LAW_ENFORCEMENT, ConsentGiver.MINOR),
        supervisor_decided(),
    )
    report_to_police(case, None, [DisclosableField.LOCATION, DisclosableField.INDICATORS])
    assert case.disclosures[str(DISCLOSURE)]["consentId"] == str(CONSENT)


def test_a_guardians_consent_covers_the_minors_personal_data(supervisor: Actor) -> None:
    case = given(
        opened(**MINOR_IN_SEX_TRADE),
        flagged(),
        consented(ConsentScope.REPORT_TO_LAW_ENFORCEMENT, ConsentGiver.GUARDIAN),
        supervisor_decided(),
    )
    report_to_police(case, None, [DisclosableField.CALLER_PHONE])
    assert case.disclosures[str(DISCLOSURE)]["consentId"] == str(CONSENT)


def test_a_minors_consent_covers_sharing_with_a_service_provider(staff: Actor) -> None:
    case = given(
        opened(**MINOR_IN_SEX_TRADE),
        flagged(),
        consented(ConsentScope.SHARE_WITH_ORGANIZATION, ConsentGiver.MINOR, SHELTER),
        supervisor_decided(),
    )
    case.disclose(
        DISCLOSURE,
        RecipientKind.ORGANIZATION,
        SHELTER,
        [DisclosableField.CALLER_NAME],
        None,
        "",
        "sealed-fictional-copy",
        case.modified_on,
    )
    assert kinds(case) == [Case.InformationDisclosed]


# -- child-protection authorities in the directory ------------------------------------------


def authority_profile(**changes: Any) -> dict[str, Any]:
    return {
        "kind": "CHILD_PROTECTION_AUTHORITY",
        "nameEn": "Example Child and Family Services (fictional)",
        "nameFr": "Services à l'enfant et à la famille exemple (fictif)",
        "regions": [{"province": "CA-MB"}],
        **changes,
    }


def test_a_child_protection_authority_is_included_without_the_service_criteria(
    staff: Actor,
) -> None:
    org = Organization.submit_application(
        id=AUTHORITY, profile=parse_profile(authority_profile()), criteria=[], public_listing=False
    )
    org.start_review()
    # A public body: a supervisor includes it on a written verification (docs/directory-rules.md).
    with acting_as(Actor("fictional-supervisor", "supervisor")):
        org.include_public_body("A statutory body (fictional): checked in the provincial list")
    assert org.state is Status.INCLUDED


def test_a_service_provider_still_attests_the_criteria(staff: Actor) -> None:
    org = Organization.submit_application(
        id=SHELTER,
        profile=parse_profile(authority_profile(kind="DIRECT_SERVICE_PROVIDER")),
        criteria=[],
        public_listing=False,
    )
    org.start_review()
    list(org.collect_events())
    refused(org, CriteriaNotAttested, lambda: org.approve_inclusion(""))


def test_a_child_protection_authority_names_its_jurisdiction() -> None:
    with pytest.raises(InvalidInput, match="jurisdiction"):
        parse_profile(authority_profile(regions=[]))
