"""An applicant's tracking code, and what the applicant sees of its application with it."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.utils import get_topic

from domain.application_tracking import ApplicationTracking, application_view
from domain.base import Actor, acting_as
from domain.organization import Organization, Status
from tests.helpers import LONG_AGO, happened, replayed
from tests.unit.test_organization import (
    declined,
    given,
    included,
    information_provided,
    information_requested,
    submitted,
)

KEY = b"fictional tracking key for the tests"
APPLICANT = Actor("anonymous", "public", request_id="req-fictional-applicant")


def test_a_code_is_random_and_long_enough_that_nobody_guesses_one() -> None:
    codes = {ApplicationTracking.new_code() for _ in range(200)}

    assert len(codes) == 200
    assert all(len(code) >= 32 and code.isascii() for code in codes)


def test_a_codes_record_id_is_keyed_so_the_store_alone_cannot_match_a_guess() -> None:
    code = ApplicationTracking.new_code()

    assert ApplicationTracking.id_for(KEY, code) == ApplicationTracking.id_for(KEY, code)
    assert ApplicationTracking.id_for(b"another fictional key", code) != (
        ApplicationTracking.id_for(KEY, code)
    )
    assert code not in str(ApplicationTracking.id_for(KEY, code))


def test_the_tracking_record_names_the_organization_and_never_the_code() -> None:
    org_id = UUID("00000000-0000-4000-8000-0000000000a1")
    code = ApplicationTracking.new_code()
    with acting_as(APPLICANT):
        tracking = ApplicationTracking.issue(ApplicationTracking.id_for(KEY, code), org_id)

    (issued,) = tracking.collect_events()
    assert isinstance(issued, ApplicationTracking.Issued)
    assert issued.organization_id == org_id
    assert code not in repr(issued.__dict__)


def test_a_new_application_shows_as_submitted_with_nothing_asked() -> None:
    view = application_view(given(submitted()))

    assert view.status is Status.SUBMITTED
    assert view.requests == ()
    assert view.submitted_at == view.updated_at


def test_a_request_for_more_information_shows_in_staffs_words_until_answered() -> None:
    asked = application_view(given(*information_requested()))
    (request,) = asked.requests
    assert asked.status is Status.INFORMATION_REQUESTED
    assert request.questions == "Who supervises the fictional night shift?"
    assert request.answered_at is None

    answered = application_view(given(*information_provided()))
    assert answered.status is Status.INFORMATION_PROVIDED
    assert answered.requests[0].answered_at == answered.updated_at


def test_a_decision_shows_as_the_status_without_staffs_reason_or_note() -> None:
    for facts, status in ((declined(), Status.DECLINED), (included(), Status.INCLUDED)):
        view = application_view(given(*facts))
        assert view.status is status
        assert "Fictional reason." not in repr(view)


def test_steps_that_change_no_status_do_not_move_the_applicants_last_change() -> None:
    org = replayed(
        Organization,
        UUID("00000000-0000-4000-8000-0000000000a2"),
        happened(
            Organization.ApplicationSubmitted,
            originator_topic=get_topic(Organization),
            profile={"kind": "DIRECT_SERVICE_PROVIDER", "nameEn": "Example", "nameFr": "Ex"},
            criteria=[],
            public_listing=False,
        ),
        happened(Organization.PublicListingConsentGiven),
    )

    view = application_view(org)
    assert view.updated_at == view.submitted_at
    assert view.submitted_at > LONG_AGO
