"""The queue of cases flagged for a mandatory-report decision, on both stores: one row per
flagged case, decided or not, paged oldest first with a count, and the same after a rebuild
from the log."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest

from api.wiring import System
from domain.base import ReasonRequired, acting_as
from domain.case import CallerRelationship, Channel
from domain.mandatory_report import MandatoryReportDecisionRequired
from tests.helpers import STAFF, SUPERVISOR, a_key

A_MINOR = {"province": "CA-NS", "minorInvolved": "YES", "situationType": "LABOUR_TRAFFICKING"}


def open_case(system: System, **details: Any) -> UUID:
    with acting_as(STAFF):
        return system.app.open_case(
            a_key(), Channel.TEXT, "en", CallerRelationship.FAMILY_OR_FRIEND, {}, details
        ).id


def test_flagged_cases_queue_until_decided_and_rebuild_the_same(system: System) -> None:
    first, second, third = (open_case(system, **A_MINOR) for _ in range(3))
    open_case(system, province="CA-NS", minorInvolved="NO", situationType="SEX_TRAFFICKING")
    with acting_as(SUPERVISOR):
        system.app.decide_no_mandatory_report(
            a_key(), second, "Fictional: the worker is 22, confirmed."
        )
    system.projector.catch_up()
    queue = system.cases

    count, page = queue.mandatory_reports(False, 1, None)
    assert count == 2
    assert [item["caseId"] for item in page] == [str(first)]
    after = (page[0]["flaggedAt"], page[0]["caseId"])
    count, rest = queue.mandatory_reports(False, 5, after)
    assert [item["caseId"] for item in rest] == [str(third)]
    count, decided = queue.mandatory_reports(True, 5, None)
    assert (count, [item["caseId"] for item in decided]) == (1, [str(second)])
    assert decided[0]["decidedAt"] is not None
    everything = queue.mandatory_reports(None, 5, None)

    system.projector.rebuild()

    assert queue.mandatory_reports(None, 5, None) == everything


def test_a_refused_close_and_a_blank_decision_write_nothing(system: System) -> None:
    case = open_case(system, **A_MINOR)
    with acting_as(SUPERVISOR):  # a potential trafficking case: a supervisor's decision first
        system.app.consult_supervisor(
            a_key(), case, "Fictional: report if a minor is confirmed.", "Fictional: ask again."
        )
    head = system.projector.head()
    with acting_as(STAFF), pytest.raises(MandatoryReportDecisionRequired):
        system.app.close_case(a_key(), case, "Fictional: resolved.")
    with acting_as(SUPERVISOR), pytest.raises(ReasonRequired):
        system.app.decide_no_mandatory_report(a_key(), case, " ")
    assert system.projector.head() == head
