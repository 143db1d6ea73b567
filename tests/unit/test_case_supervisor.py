"""Supervisor involvement (seed 000: "If a caller references a potential case of human
trafficking, a hotline supervisor will be brought into the discussion to determine the next
steps"): given past events, when a command, then new events or a named refusal.

A case references potential trafficking when its situation type is anything but NOT_TRAFFICKING
(UNKNOWN included) or it has an indicator. Such a case needs a supervisor's decision, taken on
its current facts, before information leaves or it closes; an emergency call never waits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.domain import Snapshot
from eventsourcing.utils import get_topic

from domain.base import Actor, ReasonRequired
from domain.case import (
    Case,
    CaseClosed,
    ConsentScope,
    DisclosableField,
    Exception_,
    Need,
    RecipientKind,
    SupervisorDecisionRequired,
    SupervisorRequired,
    references_potential_trafficking,
)
from domain.cases import CaseUseCases
from tests.helpers import Fact, happened, refused
from tests.unit.test_case import (
    CASE_ID,
    DISCLOSURE,
    HARBOUR_SHELTER,
    ON_911,
    REFERRAL,
    SEALED_PERSONAL,
    closed,
    consented,
    given,
    kinds,
    report,
    then,
    to_shelter,
)
from tests.unit.test_case_compliance import app, stored

__all__ = ["app"]  # the in-memory application fixture, shared with the compliance scenarios

REQUEST = UUID("00000000-0000-4000-8000-0000000000c1")
SECOND_REQUEST = UUID("00000000-0000-4000-8000-0000000000c2")


def opened_as(**details: Any) -> Fact:
    return happened(
        Case.Opened,
        originator_topic=get_topic(Case),
        channel="CALL",
        language="en",
        relationship="VICTIM_OR_SURVIVOR",
        sealed_personal=SEALED_PERSONAL,
        has_personal_data=True,
        details={"province": "CA-ON", "urgency": "HIGH", **details},
    )


def trafficking() -> Fact:
    return opened_as(situationType="LABOUR_TRAFFICKING")


def requested(request_id: UUID = REQUEST, question: str = "Fictional: refer or report?") -> Fact:
    return happened(
        Case.SupervisorRequested, supervisor_request_id=str(request_id), question=question
    )


def decided(*answers: UUID) -> Fact:
    """A decision recorded earlier (past facts are stamped with one earlier user)."""
    return happened(
        Case.SupervisorConsulted,
        decision="Fictional: refer with consent, no report.",
        next_steps="Fictional: a warm transfer tonight.",
        answers=[str(a) for a in answers],
    )


def updated(**details: Any) -> Fact:
    return happened(Case.DetailsUpdated, details=details)


# What sends information out or ends the case: each needs a standing decision.
HELD_BACK: dict[str, Callable[[Case], object]] = {
    "disclose-with-consent": lambda c: to_shelter(c),
    "disclose-under-an-exception": lambda c: to_shelter(
        c, exception=Exception_.IMMINENT_HARM, justification="Fictional: danger tonight."
    ),
    "report": report,
    "close": lambda c: c.close("Fictional: the caller is safe."),
}


def worked_trafficking_case(*facts: Fact) -> Case:
    return given(
        trafficking(),
        consented(ConsentScope.SHARE_WITH_ORGANIZATION, HARBOUR_SHELTER),
        *facts,
    )


# -- which cases reference potential trafficking ---------------------------------------------


@pytest.mark.parametrize(
    ("details", "references"),
    [
        ({"situationType": "SEX_TRAFFICKING"}, True),
        ({"situationType": "LABOUR_TRAFFICKING"}, True),
        ({"situationType": "BOTH"}, True),
        ({"situationType": "UNKNOWN"}, True),  # not ruled out: a potential case
        ({"situationType": "NOT_TRAFFICKING"}, False),
        ({}, False),  # nothing recorded yet
        ({"situationType": "NOT_TRAFFICKING", "indicators": ["DEBT_BONDAGE"]}, True),
        ({"indicators": ["DOCUMENTS_CONFISCATED"]}, True),
        ({"indicators": []}, False),
    ],
)
def test_a_case_references_potential_trafficking_by_situation_or_indicator(
    details: dict[str, Any], references: bool
) -> None:
    assert references_potential_trafficking(details) is references


# -- staff request a supervisor ----------------------------------------------------------------


def test_staff_request_a_supervisor_with_their_question(staff: Actor) -> None:
    case = given(trafficking())

    case.request_supervisor(
        REQUEST, "  Fictional: may we refer her tonight?  ", "sealed:<{}>".format
    )

    [event] = then(case)
    assert type(event) is Case.SupervisorRequested
    assert (event.supervisor_request_id, event.question) == (
        str(REQUEST),
        "sealed:<Fictional: may we refer her tonight?>",
    )
    assert case.supervisor_requests[str(REQUEST)] == {
        "id": str(REQUEST),
        "at": event.timestamp,
        "by": "fictional-staff-1",
        "question": "sealed:<Fictional: may we refer her tonight?>",
        "answeredAt": None,
        "answeredBy": None,
    }
    assert [r["id"] for r in case.open_supervisor_requests()] == [str(REQUEST)]


def test_a_request_for_a_supervisor_says_what_is_asked(staff: Actor) -> None:
    case = given(trafficking())

    refused(case, ReasonRequired, lambda: case.request_supervisor(REQUEST, "   "))


def test_a_closed_case_takes_no_request(staff: Actor) -> None:
    case = given(opened_as(), closed())

    refused(case, CaseClosed, lambda: case.request_supervisor(REQUEST, "Fictional question."))


# -- a supervisor decides --------------------------------------------------------------------


def test_a_decision_records_who_what_the_next_steps_and_answers_the_open_requests(
    supervisor: Actor,
) -> None:
    case = given(trafficking(), requested(REQUEST), decided(REQUEST), requested(SECOND_REQUEST))

    case.consult_supervisor(" Fictional: report now. ", " Fictional: call the police liaison. ")

    [event] = then(case)
    assert type(event) is Case.SupervisorConsulted
    assert (event.decision, event.next_steps, event.answers) == (
        "Fictional: report now.",
        "Fictional: call the police liaison.",
        [str(SECOND_REQUEST)],  # the one already answered is not answered again
    )
    latest = case.consultations[-1]
    assert (latest["supervisorId"], latest["at"], latest["version"]) == (
        "fictional-supervisor-1",
        event.timestamp,
        5,
    )
    second = case.supervisor_requests[str(SECOND_REQUEST)]
    assert (second["answeredAt"], second["answeredBy"]) == (
        event.timestamp,
        "fictional-supervisor-1",
    )
    assert case.supervisor_requests[str(REQUEST)]["answeredBy"] == "fictional-staff-0"
    assert case.open_supervisor_requests() == []


def test_a_supervisor_may_decide_with_no_request(supervisor: Actor) -> None:
    case = given(trafficking())

    case.consult_supervisor("Fictional: refer.", "Fictional: warm transfer.")

    [event] = then(case)
    assert event.answers == []
    assert case.supervisor_decision_required is False


def test_a_decision_sets_the_next_steps(supervisor: Actor) -> None:
    case = given(trafficking(), requested())

    refused(case, ReasonRequired, lambda: case.consult_supervisor("Fictional: refer.", "  "))
    assert case.open_supervisor_requests() != []


def test_staff_cannot_decide_even_on_their_own_request(staff: Actor) -> None:
    case = given(trafficking(), requested())

    refused(
        case,
        SupervisorRequired,
        lambda: case.consult_supervisor("Fictional: refer.", "Fictional: go."),
    )


# -- nothing leaves and the case does not close without a decision ---------------------------


@pytest.mark.parametrize("command", HELD_BACK.values(), ids=HELD_BACK.keys())
def test_a_potential_trafficking_case_waits_for_a_supervisors_decision(
    supervisor: Actor, command: Callable[[Case], object]
) -> None:
    case = worked_trafficking_case(requested())

    error = refused(case, SupervisorDecisionRequired, lambda: command(case))

    assert error.code == "SUPERVISOR_DECISION_REQUIRED"
    assert "requestSupervisor" in str(error) and "recordSupervisorDecision" in str(error)


@pytest.mark.parametrize("command", HELD_BACK.values(), ids=HELD_BACK.keys())
def test_with_a_decision_on_record_the_case_goes_on(
    supervisor: Actor, command: Callable[[Case], object]
) -> None:
    case = worked_trafficking_case(requested(), decided(REQUEST))

    command(case)

    assert len(then(case)) == 1


@pytest.mark.parametrize("command", HELD_BACK.values(), ids=HELD_BACK.keys())
def test_a_case_that_references_no_trafficking_needs_no_decision(
    supervisor: Actor, command: Callable[[Case], object]
) -> None:
    case = given(
        opened_as(situationType="NOT_TRAFFICKING"),
        consented(ConsentScope.SHARE_WITH_ORGANIZATION, HARBOUR_SHELTER),
    )

    command(case)

    assert len(then(case)) == 1


def test_an_emergency_call_never_waits_for_the_decision(supervisor: Actor) -> None:
    case = worked_trafficking_case(requested())

    case.disclose(
        DISCLOSURE,
        RecipientKind.EMERGENCY_SERVICES,
        None,
        [DisclosableField.LOCATION],
        Exception_.IMMINENT_HARM,
        "Fictional: danger now.",
        "sealed-fictional-copy",
        case.created_on,
    )
    case.contact_emergency_services(ON_911, DISCLOSURE)

    assert kinds(case) == [Case.InformationDisclosed, Case.EmergencyServicesContacted]
    assert case.supervisor_decision_required is True  # the decision still follows


def test_a_referral_relayed_to_the_caller_sends_nothing_and_needs_no_decision(
    staff: Actor,
) -> None:
    case = worked_trafficking_case()

    case.refer(REFERRAL, HARBOUR_SHELTER, "PHONE", [Need.SHELTER], None)

    assert kinds(case) == [Case.ReferralMade]


# -- which decision stands ----------------------------------------------------------------------


def test_a_decision_recorded_before_the_case_referenced_trafficking_does_not_count(
    staff: Actor,
) -> None:
    case = given(
        opened_as(situationType="NOT_TRAFFICKING"),
        decided(),
        updated(situationType="SEX_TRAFFICKING"),
    )

    assert case.standing_decision() is None
    refused(case, SupervisorDecisionRequired, lambda: case.close("Fictional: resolved."))


@pytest.mark.parametrize(
    "change",
    [{"indicators": ["DEBT_BONDAGE"]}, {"situationType": "BOTH"}],
    ids=["a new indicator", "another situation type"],
)
def test_a_decision_goes_stale_when_the_trafficking_facts_change(
    staff: Actor, change: dict[str, Any]
) -> None:
    case = given(trafficking(), decided(), updated(**change))

    refused(case, SupervisorDecisionRequired, lambda: case.close("Fictional: resolved."))


def test_a_decision_stands_through_changes_to_other_details(staff: Actor) -> None:
    case = given(
        trafficking(),
        decided(),
        updated(urgency="LOW", municipality="Fictionville", situationType="LABOUR_TRAFFICKING"),
    )

    case.close("Fictional: resolved.")

    assert kinds(case) == [Case.Closed]


def test_a_new_decision_on_the_changed_facts_stands(supervisor: Actor) -> None:
    case = given(trafficking(), decided(), updated(indicators=["ISOLATION"]))

    case.consult_supervisor("Fictional: still refer.", "Fictional: same steps.")
    case.close("Fictional: resolved.")

    assert kinds(case) == [Case.SupervisorConsulted, Case.Closed]


# -- states and events stored before -------------------------------------------------------------


def test_a_decision_stored_before_next_steps_and_requests_loads(app: CaseUseCases) -> None:
    old = stored(app, decided(), 2, drop=("next_steps", "answers", "class_version"))
    assert b"next_steps" not in old.state and b"class_version" not in old.state
    app.recorder.insert_events([stored(app, trafficking(), 1), old])

    case: Case = app.repository.get(CASE_ID)

    [consultation] = case.consultations
    assert (consultation["decision"], consultation["nextSteps"], consultation["answers"]) == (
        "Fictional: refer with consent, no report.",
        "",
        [],
    )
    assert case.supervisor_decision_required is False  # an old decision still stands
    [event] = app.events.get(CASE_ID, gt=1)
    assert isinstance(event, Case.SupervisorConsulted) and event.next_steps == ""


def test_a_case_state_stored_before_supervisor_requests_loads(app: CaseUseCases) -> None:
    case = given(trafficking(), decided())
    snapshot = Snapshot.take(case)
    state = dict(snapshot.state)
    for key in ("supervisor_requests", "trafficking_facts_version", "class_version"):
        state.pop(key)
    for consultation in state["consultations"]:
        del consultation["nextSteps"], consultation["answers"], consultation["version"]
    old = Snapshot(
        originator_id=snapshot.originator_id,
        originator_version=snapshot.originator_version,
        timestamp=snapshot.timestamp,
        topic=snapshot.topic,
        state=state,
    )

    loaded = old.mutate(None)
    assert isinstance(loaded, Case)

    assert loaded.supervisor_requests == {} and loaded.trafficking_facts_version == 0
    assert loaded.standing_decision() is not None  # a decision on record stands
    assert loaded.supervisor_decision_required is False
