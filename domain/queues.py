"""Work queues: for each role, what needs doing and by when.

A queue's items are derived from the records themselves, each by one small source: a function
from an aggregate's state to the items it causes now (whose queue, which subject, since when).
The read model (``projections/queues.py``) rewrites a record's items whenever the record
changes, so an item whose cause went away (the referral got an outcome, the review was
confirmed) leaves by itself. An item is due ``Queue.delay`` days after its cause arose; a queue
``listed_when_due`` shows it only from then (a reminder), the others at once (a request).
Who reads which queue is the policy's (``WorkQueue.<NAME>`` scope lines in policies/policy.csv):
``any`` reads every owner's items, ``own`` only its own organization's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Generic, TypeVar

from domain.case import Case, ConsentScope, ReferralAnswerKind
from domain.organization import Organization, Status
from domain.reporting_protocol import ReportingProtocol
from domain.rules import (
    FOLLOW_UP_DAYS,
    INFORMATION_ANSWER_DAYS,
    PROTOCOL_REVISION_DAYS,
    REFERRAL_OUTCOME_DAYS,
    REVIEW_INTERVAL_DAYS,
)

# The owner of the hotline's own items (a partner's or agency's items are owned by its id).
HOTLINE = ""


class QueueName(StrEnum):
    SUPERVISOR_REQUESTS = "SUPERVISOR_REQUESTS"
    FOLLOW_UPS = "FOLLOW_UPS"
    MANDATORY_REPORT_DECISIONS = "MANDATORY_REPORT_DECISIONS"
    REFERRALS_WITHOUT_OUTCOME = "REFERRALS_WITHOUT_OUTCOME"
    REFERRALS_DECLINED = "REFERRALS_DECLINED"
    APPLICATIONS_TO_REVIEW = "APPLICATIONS_TO_REVIEW"
    POSSIBLE_DUPLICATES = "POSSIBLE_DUPLICATES"
    REVIEWS_DUE = "REVIEWS_DUE"
    UNREACHABLE_ORGANIZATIONS = "UNREACHABLE_ORGANIZATIONS"
    INFORMATION_REQUESTS_UNANSWERED = "INFORMATION_REQUESTS_UNANSWERED"
    PROTOCOLS_TO_REVISE = "PROTOCOLS_TO_REVISE"
    # A partner's own.
    REFERRALS_TO_ANSWER = "REFERRALS_TO_ANSWER"
    INFORMATION_REQUESTED = "INFORMATION_REQUESTED"
    # A liaison's own.
    REPORTS_TO_ACKNOWLEDGE = "REPORTS_TO_ACKNOWLEDGE"


class SubjectKind(StrEnum):
    CASE = "CASE"
    REFERRAL = "REFERRAL"
    REPORT = "REPORT"
    ORGANIZATION = "ORGANIZATION"
    REPORTING_PROTOCOL = "REPORTING_PROTOCOL"


@dataclass(frozen=True)
class Delays:
    """Days from an item's cause to its due date, per setting (``api/config.py`` reads them)."""

    follow_up_days: int = FOLLOW_UP_DAYS
    referral_outcome_days: int = REFERRAL_OUTCOME_DAYS
    review_interval_days: int = REVIEW_INTERVAL_DAYS
    information_answer_days: int = INFORMATION_ANSWER_DAYS
    protocol_revision_days: int = PROTOCOL_REVISION_DAYS


@dataclass(frozen=True)
class Queue:
    name: QueueName
    subject_kind: SubjectKind
    # The ``Delays`` field giving its items' due date (None: due at once).
    delay: str | None = None
    listed_when_due: bool = False

    def days(self, delays: Delays) -> int:
        return 0 if self.delay is None else int(getattr(delays, self.delay))


@dataclass(frozen=True)
class Item:
    """One piece of work a record causes now. ``record_id`` is the record it derives from (a
    referral's case: never shown outside the hotline)."""

    queue: QueueName
    subject_id: str
    owner: str
    since: datetime
    record_id: str


A = TypeVar("A")
Found = Iterator[tuple[str, str, datetime]]  # (subject id, owner, since)


@dataclass(frozen=True)
class Source(Generic[A]):
    queue: Queue
    find: Callable[[A], Found]


# -- cases -----------------------------------------------------------------------------------


def _follow_up(case: Case) -> Found:
    """An open case whose caller agreed to be contacted again: due some days after the latest
    such consent still in force (the hotline calls back). A contact on the case after it
    settles it (read with the contacts: ``projections/queues.py``)."""
    granted = [
        c["grantedAt"]
        for c in case.consents.values()
        if c["scope"] == ConsentScope.FOLLOW_UP_CONTACT.value and c["withdrawnAt"] is None
    ]
    if case.open and granted:
        yield str(case.id), HOTLINE, max(granted)


def _supervisor_request(case: Case) -> Found:
    """Staff asked a supervisor about the case: waiting since the oldest request a decision has
    not answered yet (a decision answers every open request)."""
    waiting = [r["at"] for r in case.open_supervisor_requests()]
    if waiting:
        yield str(case.id), HOTLINE, min(waiting)


def _mandatory_report_decision(case: Case) -> Found:
    """A case flagged as the hotline's to report (domain/mandatory_report.py), waiting for a
    supervisor's report or written decision that none is required."""
    flag = case.mandatory_report
    if flag is not None and flag["decision"] is None:
        yield str(case.id), HOTLINE, flag["flaggedAt"]


def _referral_without_outcome(case: Case) -> Found:
    """A referral with no outcome reported (one declined is in ``REFERRALS_DECLINED``)."""
    for referral in case.referrals.values():
        answer = referral.get("answer")
        declined = answer is not None and answer["answer"] == ReferralAnswerKind.DECLINED.value
        if not referral["outcomes"] and not declined:
            yield referral["id"], HOTLINE, referral["at"]


def _referral_to_answer(case: Case) -> Found:
    """A referral sent to a partner (in its inbox) that it has neither accepted nor declined,
    nor reported an outcome for."""
    for referral in case.referrals.values():
        if (
            referral["disclosureId"] is not None
            and referral.get("answer") is None
            and not referral["outcomes"]
        ):
            yield referral["id"], referral["organizationId"], referral["at"]


def _referral_declined(case: Case) -> Found:
    """A referral the partner declined, on an open case with no referral made since: the
    caller needs another organization."""
    for referral in case.referrals.values():
        answer = referral.get("answer")
        if answer is None or answer["answer"] != ReferralAnswerKind.DECLINED.value:
            continue
        later = any(r["at"] > answer["at"] for r in case.referrals.values())
        if case.open and not later:
            yield referral["id"], HOTLINE, answer["at"]


def _report_to_acknowledge(case: Case) -> Found:
    """A report sent to an agency that its liaison has not acknowledged yet."""
    for report in case.reports.values():
        if report.get("acknowledgement") is None:
            yield report["id"], report["agencyId"], report["at"]


CASE_SOURCES: tuple[Source[Case], ...] = (
    Source(Queue(QueueName.SUPERVISOR_REQUESTS, SubjectKind.CASE), _supervisor_request),
    Source(
        Queue(QueueName.MANDATORY_REPORT_DECISIONS, SubjectKind.CASE), _mandatory_report_decision
    ),
    Source(
        Queue(QueueName.FOLLOW_UPS, SubjectKind.CASE, "follow_up_days", listed_when_due=True),
        _follow_up,
    ),
    Source(
        Queue(
            QueueName.REFERRALS_WITHOUT_OUTCOME,
            SubjectKind.REFERRAL,
            "referral_outcome_days",
            listed_when_due=True,
        ),
        _referral_without_outcome,
    ),
    Source(Queue(QueueName.REFERRALS_DECLINED, SubjectKind.REFERRAL), _referral_declined),
    Source(
        Queue(QueueName.REFERRALS_TO_ANSWER, SubjectKind.REFERRAL, "referral_outcome_days"),
        _referral_to_answer,
    ),
    Source(Queue(QueueName.REPORTS_TO_ACKNOWLEDGE, SubjectKind.REPORT), _report_to_acknowledge),
)

# -- organizations ---------------------------------------------------------------------------


def _status_since(org: Organization) -> datetime:
    """When the organization took its current status."""
    steps = [h["at"] for h in org.history if h["what"] == org.status]
    return steps[-1] if steps else org.history[-1]["at"]


def _application_to_review(org: Organization) -> Found:
    if org.status in (Status.SUBMITTED.value, Status.INFORMATION_PROVIDED.value):
        yield str(org.id), HOTLINE, _status_since(org)


def _review_due(org: Organization) -> Found:
    if org.status == Status.INCLUDED.value and org.last_confirmed_at is not None:
        yield str(org.id), HOTLINE, org.last_confirmed_at


def _unreachable(org: Organization) -> Found:
    if org.flagged_unreachable and org.status == Status.INCLUDED.value:
        yield str(org.id), HOTLINE, org.contact_attempts[-1]["at"]


def _information_unanswered(org: Organization) -> Found:
    if org.status == Status.INFORMATION_REQUESTED.value:
        yield str(org.id), HOTLINE, _status_since(org)


def _information_requested(org: Organization) -> Found:
    if org.status == Status.INFORMATION_REQUESTED.value:
        yield str(org.id), str(org.id), _status_since(org)


ORGANIZATION_SOURCES: tuple[Source[Organization], ...] = (
    Source(
        Queue(QueueName.APPLICATIONS_TO_REVIEW, SubjectKind.ORGANIZATION), _application_to_review
    ),
    Source(
        Queue(
            QueueName.REVIEWS_DUE,
            SubjectKind.ORGANIZATION,
            "review_interval_days",
            listed_when_due=True,
        ),
        _review_due,
    ),
    Source(Queue(QueueName.UNREACHABLE_ORGANIZATIONS, SubjectKind.ORGANIZATION), _unreachable),
    Source(
        Queue(
            QueueName.INFORMATION_REQUESTS_UNANSWERED,
            SubjectKind.ORGANIZATION,
            "information_answer_days",
            listed_when_due=True,
        ),
        _information_unanswered,
    ),
    Source(
        Queue(QueueName.INFORMATION_REQUESTED, SubjectKind.ORGANIZATION, "information_answer_days"),
        _information_requested,
    ),
)

# -- reporting protocols ---------------------------------------------------------------------


def _protocol_to_revise(protocol: ReportingProtocol) -> Found:
    """A protocol records when its contacts were revised, not when they were confirmed: one
    not revised for the configured number of days is due for its agency to check."""
    latest = protocol.revisions[-1]["at"]
    yield str(protocol.id), str(protocol.agency_id), latest


PROTOCOL_SOURCES: tuple[Source[ReportingProtocol], ...] = (
    Source(
        Queue(
            QueueName.PROTOCOLS_TO_REVISE,
            SubjectKind.REPORTING_PROTOCOL,
            "protocol_revision_days",
            listed_when_due=True,
        ),
        _protocol_to_revise,
    ),
)

# Queues whose items a read model finds itself, across records, rather than a record's own
# state: possible duplicate applications (projections/directory.py), kept with the
# organizations' items.
FOUND_BY_READ_MODELS: tuple[Queue, ...] = (
    Queue(QueueName.POSSIBLE_DUPLICATES, SubjectKind.ORGANIZATION),
)

QUEUES: dict[QueueName, Queue] = {
    queue.name: queue
    for queue in (
        *(s.queue for s in CASE_SOURCES),
        *(s.queue for s in ORGANIZATION_SOURCES),
        *(s.queue for s in PROTOCOL_SOURCES),
        *FOUND_BY_READ_MODELS,
    )
}


def items_of(sources: tuple[Source[A], ...], record: A, record_id: str) -> list[Item]:
    """Every item ``record`` causes now, by every source."""
    return [
        Item(source.queue.name, subject, owner, since, record_id)
        for source in sources
        for subject, owner, since in source.find(record)
    ]
