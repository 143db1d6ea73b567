"""Answers from a case's recipients: given past events, when a partner answers a referral or a
liaison acknowledges a report, then the new event or a named refusal (and nothing written)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest
from eventsourcing.utils import get_topic

from domain.base import Actor, InvalidInput, ReasonRequired, acting_as
from domain.case import (
    Case,
    DeclineReason,
    ReferralAlreadyAnswered,
    ReferralAnswerKind,
    ReportAlreadyAcknowledged,
    UnknownReferral,
    UnknownReport,
)
from tests.helpers import STAFF, Fact, happened, refused, replayed

CASE_ID = UUID("00000000-0000-4000-8000-00000000c101")
HARBOUR_SHELTER = UUID("00000000-0000-4000-8000-0000000001a1")
VALLEY_CLINIC = UUID("00000000-0000-4000-8000-0000000001a2")
HARBOUR_POLICE = UUID("00000000-0000-4000-8000-0000000001b1")
VALLEY_POLICE = UUID("00000000-0000-4000-8000-0000000001b2")
CONSENT = UUID("00000000-0000-4000-8000-0000000001e1")
REFERRAL_DISCLOSURE = UUID("00000000-0000-4000-8000-0000000001f0")
REPORT_DISCLOSURE = UUID("00000000-0000-4000-8000-0000000001f1")
REFERRAL = UUID("00000000-0000-4000-8000-0000000001f2")
REPORT = UUID("00000000-0000-4000-8000-0000000001f3")
NOWHERE = UUID("00000000-0000-4000-8000-0000000001ff")

SHELTER_PARTNER = Actor("fictional-partner-1", "partner", str(HARBOUR_SHELTER), "req-fictional-3")
CLINIC_PARTNER = Actor("fictional-partner-2", "partner", str(VALLEY_CLINIC), "req-fictional-4")
HARBOUR_LIAISON = Actor(
    "fictional-liaison-1", "law_enforcement", str(HARBOUR_POLICE), "req-fictional-5"
)
VALLEY_LIAISON = Actor(
    "fictional-liaison-2", "law_enforcement", str(VALLEY_POLICE), "req-fictional-6"
)


def opened() -> Fact:
    return happened(
        Case.Opened,
        originator_topic=get_topic(Case),
        channel="CALL",
        language="en",
        relationship="VICTIM_OR_SURVIVOR",
        sealed_personal="sealed-fictional-personal-data",
        has_personal_data=True,
        details={"province": "CA-ON"},
    )


def disclosed(disclosure: UUID, kind: str, recipient: UUID) -> Fact:
    return happened(
        Case.InformationDisclosed,
        disclosure_id=str(disclosure),
        recipient_kind=kind,
        recipient_id=str(recipient),
        fields=["BRIEF"],
        consent_id=str(CONSENT),
        exception=None,
        justification="",
        sealed_copy="sealed-fictional-copy",
        policy_version="p1",
    )


def a_referred_and_reported_case(*more: Fact) -> Case:
    return replayed(
        Case,
        CASE_ID,
        opened(),
        disclosed(REFERRAL_DISCLOSURE, "ORGANIZATION", HARBOUR_SHELTER),
        happened(
            Case.ReferralMade,
            referral_id=str(REFERRAL),
            organization_id=str(HARBOUR_SHELTER),
            mode="WARM_TRANSFER",
            needs=["SHELTER"],
            disclosure_id=str(REFERRAL_DISCLOSURE),
        ),
        disclosed(REPORT_DISCLOSURE, "LAW_ENFORCEMENT", HARBOUR_POLICE),
        happened(
            Case.ReportedToLawEnforcement,
            report_id=str(REPORT),
            agency_id=str(HARBOUR_POLICE),
            protocol_id=str(NOWHERE),
            factors={},
            facts={
                "urgency": None,
                "imminentHarm": None,
                "minorInvolved": "UNKNOWN",
                "indicators": [],
                "consent": "ACTIVE",
                "consentId": str(CONSENT),
            },
            jurisdiction_override="",
            disclosure_id=str(REPORT_DISCLOSURE),
        ),
        *more,
    )


def answered(answer: str = "ACCEPTED", reason: str | None = None) -> Fact:
    return happened(
        Case.ReferralAnswered, referral_id=str(REFERRAL), answer=answer, reason=reason, note=""
    )


def acknowledged() -> Fact:
    return happened(Case.ReportAcknowledged, report_id=str(REPORT), contact_name="", file_number="")


def closed() -> Fact:
    return happened(Case.Closed, reason="Fictional: the caller found support.")


def then(case: Case) -> list[Any]:
    return list(case.collect_events())


def sealed(text: str) -> str:
    return f"sealed:{text}"


# -- a partner answers a referral --------------------------------------------------------------


def test_the_addressed_partner_accepts_a_referral_before_its_intake() -> None:
    case = a_referred_and_reported_case()

    with acting_as(SHELTER_PARTNER):
        case.answer_referral(
            REFERRAL, ReferralAnswerKind.ACCEPTED, None, " Intake Monday. ", sealed
        )

    [event] = then(case)
    assert type(event) is Case.ReferralAnswered
    assert (event.answer, event.reason, event.note, event.actor_role) == (
        "ACCEPTED",
        None,
        "sealed:Intake Monday.",
        "partner",
    )
    answer = case.referrals[str(REFERRAL)].get("answer")
    assert answer is not None and answer["by"] == "fictional-partner-1"


@pytest.mark.parametrize("reason", list(DeclineReason))
def test_the_addressed_partner_declines_a_referral_with_a_reason(reason: DeclineReason) -> None:
    case = a_referred_and_reported_case()

    with acting_as(SHELTER_PARTNER):
        case.answer_referral(REFERRAL, ReferralAnswerKind.DECLINED, reason, "")

    [event] = then(case)
    assert (event.answer, event.reason, event.note) == ("DECLINED", reason.value, "")


def test_declining_a_referral_needs_a_reason() -> None:
    case = a_referred_and_reported_case()

    with acting_as(SHELTER_PARTNER):
        refused(
            case,
            ReasonRequired,
            lambda: case.answer_referral(REFERRAL, ReferralAnswerKind.DECLINED, None, "full"),
        )


def test_an_acceptance_gives_no_reason() -> None:
    case = a_referred_and_reported_case()

    with acting_as(SHELTER_PARTNER):
        refused(
            case,
            InvalidInput,
            lambda: case.answer_referral(
                REFERRAL, ReferralAnswerKind.ACCEPTED, DeclineReason.NO_CAPACITY, ""
            ),
        )


@pytest.mark.parametrize("note", ["x" * 4001, "a\x00b"], ids=["too long", "control character"])
def test_a_bad_note_is_refused(note: str) -> None:
    case = a_referred_and_reported_case()

    with acting_as(SHELTER_PARTNER):
        refused(
            case,
            InvalidInput,
            lambda: case.answer_referral(REFERRAL, ReferralAnswerKind.ACCEPTED, None, note),
        )


@pytest.mark.parametrize("first", [answered(), answered("DECLINED", "NOT_ELIGIBLE")])
def test_a_referral_is_answered_once(first: Fact) -> None:
    case = a_referred_and_reported_case(first)

    with acting_as(SHELTER_PARTNER):
        refused(
            case,
            ReferralAlreadyAnswered,
            lambda: case.answer_referral(REFERRAL, ReferralAnswerKind.ACCEPTED, None, ""),
        )


@pytest.mark.parametrize(
    "actor", [CLINIC_PARTNER, STAFF, HARBOUR_LIAISON], ids=["another partner", "staff", "liaison"]
)
def test_only_the_addressed_organization_answers_and_others_learn_nothing(actor: Actor) -> None:
    # Already answered: another's attempt must not learn even that.
    case = a_referred_and_reported_case(answered())

    with acting_as(actor):
        not_theirs = refused(
            case,
            UnknownReferral,
            lambda: case.answer_referral(REFERRAL, ReferralAnswerKind.ACCEPTED, None, ""),
        )
        not_there = refused(
            case,
            UnknownReferral,
            lambda: case.answer_referral(NOWHERE, ReferralAnswerKind.ACCEPTED, None, ""),
        )
    assert str(not_theirs) == str(not_there) == "referral not found"


def test_a_partner_answers_even_once_the_case_is_closed() -> None:
    # A recipient is never told whether the case is open: refusing would tell it.
    case = a_referred_and_reported_case(closed())

    with acting_as(SHELTER_PARTNER):
        case.answer_referral(REFERRAL, ReferralAnswerKind.DECLINED, DeclineReason.OTHER, "")

    assert [type(e) for e in then(case)] == [Case.ReferralAnswered]


# -- a liaison acknowledges a report ------------------------------------------------------------


def test_the_addressed_agency_acknowledges_a_report_with_its_contact_and_file_number() -> None:
    case = a_referred_and_reported_case()

    with acting_as(HARBOUR_LIAISON):
        case.acknowledge_report(REPORT, " Fictional Detective ", "FIC-0001", sealed)

    [event] = then(case)
    assert type(event) is Case.ReportAcknowledged
    assert (event.contact_name, event.file_number, event.actor_role) == (
        "sealed:Fictional Detective",
        "sealed:FIC-0001",
        "law_enforcement",
    )
    acknowledgement = case.reports[str(REPORT)].get("acknowledgement")
    assert acknowledgement is not None and acknowledgement["by"] == "fictional-liaison-1"


def test_a_report_is_acknowledged_without_a_contact_or_file_number() -> None:
    case = a_referred_and_reported_case()

    with acting_as(HARBOUR_LIAISON):
        case.acknowledge_report(REPORT, "", "  ", sealed)

    [event] = then(case)
    assert (event.contact_name, event.file_number) == ("", "")  # nothing sealed for nothing


def test_a_too_long_contact_name_and_file_number_are_both_named() -> None:
    case = a_referred_and_reported_case()

    with acting_as(HARBOUR_LIAISON):
        error = refused(
            case,
            InvalidInput,
            lambda: case.acknowledge_report(REPORT, "n" * 201, "f\x07" * 2),
        )
    assert isinstance(error, InvalidInput) and len(error.problems) == 2


def test_a_report_is_acknowledged_once() -> None:
    case = a_referred_and_reported_case(acknowledged())

    with acting_as(HARBOUR_LIAISON):
        refused(
            case,
            ReportAlreadyAcknowledged,
            lambda: case.acknowledge_report(REPORT, "Fictional Detective", ""),
        )


@pytest.mark.parametrize(
    "actor", [VALLEY_LIAISON, STAFF, SHELTER_PARTNER], ids=["another agency", "staff", "partner"]
)
def test_only_the_addressed_agency_acknowledges_and_others_learn_nothing(actor: Actor) -> None:
    case = a_referred_and_reported_case(acknowledged())

    with acting_as(actor):
        not_theirs = refused(case, UnknownReport, lambda: case.acknowledge_report(REPORT, "", ""))
        not_there = refused(case, UnknownReport, lambda: case.acknowledge_report(NOWHERE, "", ""))
    assert str(not_theirs) == str(not_there) == "report not found"
