"""The work queues' read model on each store: items in due order, listed once due at read time
(no background job), paged, owned; a completed item leaves, the next occurrence of its cause is
a new item, and a rebuild gives the same queues."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from api.wiring import System
from domain.base import acting_as
from domain.queues import HOTLINE, QUEUES, Delays, QueueName
from projections.queues import WorkQueries
from tests.helpers import STAFF, a_key
from tests.integration.test_projections import an_applicant, an_included

REVIEWS = QUEUES[QueueName.REVIEWS_DUE]
APPLICATIONS = QUEUES[QueueName.APPLICATIONS_TO_REVIEW]


def later(days: int) -> datetime:
    return datetime.now(UTC) + timedelta(days=days)


def test_a_review_is_listed_once_due_and_a_confirmation_starts_the_next_one(
    system: System,
) -> None:
    with acting_as(STAFF):
        org = an_included(system.app, "Fictional Review Centre")
    system.projector.catch_up()
    work = system.work

    assert work.page(REVIEWS, None, datetime.now(UTC), 10) == []
    assert work.count(REVIEWS, None, datetime.now(UTC)) == (0, 0)
    [due] = work.page(REVIEWS, None, later(366), 10)
    assert (due.subject_id, due.owner) == (str(org), HOTLINE)
    assert due.due_at > due.since
    assert work.count(REVIEWS, None, later(366)) == (1, 1)

    with acting_as(STAFF):
        system.app.complete_work_item(a_key(), REVIEWS.name.value, str(org), due.since, HOTLINE)
        system.projector.catch_up()
        assert work.page(REVIEWS, None, later(366), 10) == []  # completed: out of the queue
        system.app.confirm_review(a_key(), org, "Fictional confirmation.")
    system.projector.catch_up()

    # The next review is due a year after this confirmation: another item, listed then.
    assert work.page(REVIEWS, None, datetime.fromisoformat(due.due_at), 10) == []
    [next_one] = work.page(REVIEWS, None, later(2 * 366), 10)
    assert next_one.id != due.id and next_one.since > due.since


def test_a_changed_setting_moves_due_dates_without_a_rebuild(system: System) -> None:
    with acting_as(STAFF):
        an_included(system.app, "Fictional Setting Centre")
    system.projector.catch_up()
    sooner = WorkQueries(system.store, Delays(review_interval_days=1))

    assert system.work.page(REVIEWS, None, later(2), 10) == []
    assert len(sooner.page(REVIEWS, None, later(2), 10)) == 1


def test_a_queue_pages_in_due_order_and_an_owner_reads_only_its_own(system: System) -> None:
    with acting_as(STAFF):
        applicants = [an_applicant(system.app, f"Fictional Applicant {n}") for n in range(3)]
    system.projector.catch_up()
    now = datetime.now(UTC)

    first = system.work.page(APPLICATIONS, None, now, 2)
    assert [i.subject_id for i in first] == [str(a) for a in applicants[:2]]
    rest = system.work.page(APPLICATIONS, None, now, 2, (first[-1].since, first[-1].id))
    assert [i.subject_id for i in rest] == [str(applicants[2])]
    # The hotline's items have no other owner.
    assert system.work.page(APPLICATIONS, str(applicants[0]), now, 2) == []


def test_a_rebuild_gives_the_queues_that_following_the_log_gave(system: System) -> None:
    with acting_as(STAFF):
        org = an_included(system.app, "Fictional Rebuilt Centre")
        applicant = an_applicant(system.app, "Fictional Rebuilt Applicant")
    system.projector.catch_up()
    [item] = system.work.page(APPLICATIONS, None, datetime.now(UTC), 5)
    with acting_as(STAFF):
        system.app.assign_work_item(
            a_key(), APPLICATIONS.name.value, str(applicant), item.since, HOTLINE, "fictional-2"
        )
    system.projector.catch_up()
    before = [system.work.page(queue, None, later(400), 10) for queue in (APPLICATIONS, REVIEWS)]

    system.projector.rebuild()

    after = [system.work.page(queue, None, later(400), 10) for queue in (APPLICATIONS, REVIEWS)]
    assert after == before
    assert [i.subject_id for i in after[1]] == [str(org)]
    assert after[0][0].assigned_to == "fictional-2"
