"""Tracking codes on real stores, SQLite and PostgreSQL: saved with the application in one
write, kept only as a keyed id, one refusal for every code that tracks nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from api.config import Settings
from domain.application_tracking import ApplicationTracking, UnknownTrackingCode
from domain.base import Actor, acting_as
from domain.directory import DirectoryUseCases
from domain.organization import ALL_CRITERIA, IllegalTransition, Status
from domain.write_path import Outcome
from tests.helpers import STAFF, a_key

TRACKING_KEY = b"fictional tracking key for the tests"
SHELTER: dict[str, Any] = {
    "kind": "DIRECT_SERVICE_PROVIDER",
    "nameEn": "Example Tracked Harbour Shelter",
    "nameFr": "Refuge Exemple suivi du Port",
}
APPLICANT = Actor("anonymous", "public", request_id="req-fictional-applicant")


@pytest.fixture
def app(settings: Settings) -> Iterator[DirectoryUseCases]:
    opened = DirectoryUseCases(env=settings.event_store_env(), tracking_key=TRACKING_KEY)
    yield opened
    opened.close()


def stored(app: DirectoryUseCases) -> bytes:
    notifications = app.recorder.select_notifications(start=1, limit=10_000)
    return b"".join(bytes(n.state) + n.topic.encode() for n in notifications)


def test_an_application_and_its_tracking_record_are_saved_in_one_write(
    app: DirectoryUseCases,
) -> None:
    with acting_as(APPLICANT):
        outcome, code = app.apply_for_inclusion_tracked(
            "6d0f3c1e-0000-4000-8000-0000000000a1", SHELTER, list(ALL_CRITERIA), False
        )

    assert code is not None
    tracking: ApplicationTracking = app.repository.get(
        ApplicationTracking.id_for(TRACKING_KEY, code)
    )
    assert tracking.organization_id == outcome.id
    assert code.encode() not in stored(app)
    assert app.application_status(code).status is Status.SUBMITTED


def test_a_repeated_application_writes_nothing_and_shows_no_code(app: DirectoryUseCases) -> None:
    key = "6d0f3c1e-0000-4000-8000-0000000000a2"
    with acting_as(APPLICANT):
        first, code = app.apply_for_inclusion_tracked(key, SHELTER, list(ALL_CRITERIA), False)
        written = app.recorder.max_notification_id()
        again, none = app.apply_for_inclusion_tracked(key, SHELTER, list(ALL_CRITERIA), False)

    assert again.replayed and again.id == first.id and none is None
    assert app.recorder.max_notification_id() == written
    assert code is not None and app.application_status(code).organization_id == first.id


def test_the_applicant_answers_what_staff_asked_with_its_code(app: DirectoryUseCases) -> None:
    with acting_as(APPLICANT):
        outcome, code = app.apply_for_inclusion_tracked(
            "6d0f3c1e-0000-4000-8000-0000000000a3", SHELTER, list(ALL_CRITERIA), False
        )
    assert code is not None
    with acting_as(APPLICANT), pytest.raises(IllegalTransition):
        app.provide_application_information(
            "6d0f3c1e-0000-4000-8000-0000000000a4", code, "Fictional answers.", None
        )
    with acting_as(STAFF):
        app.start_review(a_key(), outcome.id)
        app.request_more_information(a_key(), outcome.id, "Fictional: your weekend hours?")

    with acting_as(APPLICANT):
        answered = app.provide_application_information(
            "6d0f3c1e-0000-4000-8000-0000000000a5", code, "Fictional: 9 to 5.", None
        )

    assert answered.id == outcome.id
    assert code.encode() not in stored(app)  # nor in the answer's idempotency record
    view = app.application_status(code)
    assert view.status is Status.INFORMATION_PROVIDED
    assert view.requests[0].questions == "Fictional: your weekend hours?"
    assert view.requests[0].answered_at is not None


class LostAcknowledgement(DirectoryUseCases):
    """Saves the application, then answers as a repeat of it: what a write whose commit
    acknowledgement was lost looks like to the command (the library's retry finds it done)."""

    name = DirectoryUseCases.name  # the same tables

    def _apply(self, *args: Any) -> Outcome:
        super()._apply(*args)
        return super()._apply(*args)


def test_a_lost_acknowledgement_of_the_application_still_shows_its_code(
    settings: Settings,
) -> None:
    app = LostAcknowledgement(env=settings.event_store_env(), tracking_key=TRACKING_KEY)
    try:
        with acting_as(APPLICANT):
            outcome, code = app.apply_for_inclusion_tracked(
                "6d0f3c1e-0000-4000-8000-0000000000a8", SHELTER, list(ALL_CRITERIA), False
            )
        assert outcome.replayed and code is not None
        assert app.application_status(f" {code}\n").organization_id == outcome.id
    finally:
        app.close()


@pytest.mark.parametrize("guess", ["", "not-a-code", "x" * 500, "6d0f3c1e"])
def test_a_code_that_tracks_nothing_is_refused_alike_and_writes_nothing(
    app: DirectoryUseCases, guess: str
) -> None:
    with acting_as(APPLICANT):
        app.apply_for_inclusion_tracked(
            "6d0f3c1e-0000-4000-8000-0000000000a6", SHELTER, list(ALL_CRITERIA), False
        )
        written = app.recorder.max_notification_id()
        for attempt in (
            lambda: app.application_status(guess),
            lambda: app.provide_application_information(
                "6d0f3c1e-0000-4000-8000-0000000000a7", guess, "Fictional answers.", None
            ),
            lambda: app.application_status(ApplicationTracking.new_code()),
        ):
            with pytest.raises(UnknownTrackingCode) as refused:
                attempt()
            assert str(refused.value) == (
                "no application answers to this tracking code; check it as it was given"
            )
    assert app.recorder.max_notification_id() == written
