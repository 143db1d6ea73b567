"""The contact use cases on real stores, SQLite and PostgreSQL, through the composition root.

A contact's province is its case's when it has one; public counts leave tests and pranks out and
suppress small counts as the cases' do; a contact is attached to one case even when two staff
attach it at once; a callback is decided on the consent as it stands when it is saved.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from api.demo import load_demo_contacts
from api.wiring import System
from domain.base import DomainError, acting_as
from domain.case import Channel, ConsentScope
from domain.contact import ContactAlreadyAttached, Direction, Disposition, FollowUpConsentRequired
from projections.contacts import ContactFilter
from tests.helpers import STAFF, a_key
from tests.integration.test_case_application import (
    SUPERVISOR,
    a_case,
    consent,
    nothing_written,
)

LAST_MONTH = datetime.now(UTC).replace(day=1) - timedelta(days=3)


def a_contact(
    system: System,
    *,
    channel: Channel = Channel.CALL,
    direction: Direction = Direction.INBOUND,
    started_at: datetime = LAST_MONTH,
    disposition: Disposition = Disposition.INFORMATION_ONLY,
    province: str | None = None,
    case_id: UUID | None = None,
) -> UUID:
    with acting_as(STAFF):
        return system.app.record_contact(
            a_key(),
            channel,
            direction,
            started_at,
            60,
            "en",
            disposition,
            province,
            case_id,
        ).id


def test_a_contact_counts_under_its_case_s_province_once_attached(system: System) -> None:
    ontario = a_case(system, province="CA-ON")
    for _ in range(4):
        a_contact(system, case_id=ontario, province="CA-QC")  # the case's province wins
    for _ in range(5):
        a_contact(system, province="CA-QC")
    later = a_contact(system, province="CA-QC")
    a_contact(system)  # no province known: not in that dimension
    a_contact(system, province="CA-ON", disposition=Disposition.TEST_OR_PRANK)
    a_contact(system, province="CA-ON", started_at=datetime.now(UTC))  # this month
    system.projector.catch_up()

    def by_province(threshold: int) -> list[tuple[str, int | None]]:
        return system.contacts.statistics("province", datetime.now(UTC), threshold)

    assert by_province(1) == [("CA-ON", 4), ("CA-QC", 6)]
    with acting_as(STAFF):
        system.app.attach_contact(a_key(), later, ontario)
    system.projector.catch_up()
    assert by_province(1) == [("CA-ON", 5), ("CA-QC", 5)]
    # Under the threshold one count is suppressed, and the other with it; the rest rounded.
    assert by_province(5) == [("CA-ON", 5), ("CA-QC", 5)]
    assert by_province(6) == [("CA-ON", None), ("CA-QC", None)]
    month = LAST_MONTH.strftime("%Y-%m")
    assert system.contacts.statistics("month", datetime.now(UTC), 1) == [(month, 11)]
    assert system.contacts.statistics("channel", datetime.now(UTC), 5) == [("CALL", 10)]


def test_a_case_lists_its_contacts_oldest_first(system: System) -> None:
    case_id = a_case(system)
    second = a_contact(system, case_id=case_id, started_at=datetime.now(UTC))
    first = a_contact(system, case_id=case_id, started_at=LAST_MONTH)
    a_contact(system)
    system.projector.catch_up()
    assert [c["id"] for c in system.contacts.of_case(str(case_id))] == [str(first), str(second)]


def test_two_staff_attaching_one_contact_at_once_attach_it_to_one_case(system: System) -> None:
    cases = [a_case(system), a_case(system)]
    contact = a_contact(system)
    results: list[Any] = []

    def attach(case_id: UUID) -> None:
        with acting_as(STAFF):
            try:
                results.append(system.app.attach_contact(a_key(), contact, case_id))
            except DomainError as error:
                results.append(error)

    threads = [threading.Thread(target=attach, args=(c,)) for c in cases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(type(r).__name__ for r in results) == ["ContactAlreadyAttached", "Outcome"]
    system.projector.catch_up()
    attached = system.contacts.get(str(contact))
    assert attached is not None and attached["caseId"] in {str(c) for c in cases}
    assert attached["version"] == 2


def test_a_callback_after_the_consent_was_withdrawn_is_refused_and_nothing_written(
    system: System,
) -> None:
    case_id = a_case(system)
    consent_id = consent(system, case_id, ConsentScope.FOLLOW_UP_CONTACT)
    a_contact(system, direction=Direction.OUTBOUND, case_id=case_id)
    with acting_as(STAFF):
        system.app.withdraw_consent(a_key(), case_id, consent_id)
    with nothing_written(system), pytest.raises(FollowUpConsentRequired):
        a_contact(system, direction=Direction.OUTBOUND, case_id=case_id)


def test_a_repeated_key_records_one_contact(system: System) -> None:
    key = a_key()
    started = datetime.now(UTC) - timedelta(minutes=3)

    def record() -> Any:
        with acting_as(STAFF):
            return system.app.record_contact(
                key,
                Channel.TEXT,
                Direction.INBOUND,
                started,
                0,
                None,
                Disposition.HANG_UP,
            )

    first = record()
    with nothing_written(system):
        again = record()
    assert (again.id, again.replayed) == (first.id, True)


def test_attaching_twice_names_the_error_and_writes_nothing(system: System) -> None:
    case_id = a_case(system)
    contact, other = a_contact(system, case_id=case_id), a_case(system)
    with nothing_written(system), acting_as(STAFF), pytest.raises(ContactAlreadyAttached):
        system.app.attach_contact(a_key(), contact, other)


def test_a_rebuild_gives_the_contacts_that_following_the_log_gave(system: System) -> None:
    case_id = a_case(system)
    a_contact(system, case_id=case_id)
    with acting_as(STAFF):
        system.app.attach_contact(a_key(), a_contact(system, province="CA-NU"), case_id)
    system.projector.catch_up()

    def rows() -> list[Any]:
        with system.store.read() as cursor:
            return list(cursor.execute("SELECT * FROM contacts ORDER BY id").fetchall())

    followed = rows()
    system.projector.rebuild()
    assert rows() == followed
    assert len(followed) == 2


def test_an_erasure_unlinks_its_case_s_contacts_and_keeps_only_their_month(
    system: System,
) -> None:
    erased, kept = a_case(system), a_case(system)
    called = a_contact(system, case_id=erased, province="CA-QC")
    attached = a_contact(system, started_at=datetime.now(UTC) - timedelta(minutes=5))
    other = a_contact(system, case_id=kept)
    with acting_as(STAFF):
        system.app.attach_contact(a_key(), attached, erased)
    system.projector.catch_up()
    month_before = system.contacts.statistics("month", datetime.now(UTC), 1)

    with acting_as(SUPERVISOR):
        system.app.erase_personal_data(a_key(), erased, "Fictional: the caller asked.")
    # A contact attached after the erasure is forgotten as well.
    after = a_contact(system, case_id=erased, started_at=datetime.now(UTC))
    system.projector.catch_up()

    assert system.contacts.of_case(str(erased)) == []
    for contact_id in (called, attached, after):
        doc = system.contacts.get(str(contact_id))
        assert doc is not None
        assert (doc["caseId"], doc["attachedAt"], doc["durationSeconds"], doc["language"]) == (
            None,
            None,
            0,
            None,
        )
        assert doc["startedAt"].endswith("-01T00:00:00.000000Z")
    forgotten = system.contacts.get(str(called))
    assert forgotten is not None
    assert (forgotten["startedAt"][:7], forgotten["channel"], forgotten["province"]) == (
        LAST_MONTH.strftime("%Y-%m"),
        "CALL",
        "CA-QC",
    )
    # Not waiting to be attached either: they were, to a case that is no longer named.
    waiting = system.contacts.search(ContactFilter(unattached=True), 50, None)
    assert {str(called), str(attached), str(after)}.isdisjoint(d["id"] for d in waiting)
    # The other case's contacts are as they were, and the months count the same.
    assert [d["id"] for d in system.contacts.of_case(str(kept))] == [str(other)]
    assert system.contacts.statistics("month", datetime.now(UTC), 1) == month_before

    def rows() -> list[Any]:
        with system.store.read() as cursor:
            return list(cursor.execute("SELECT * FROM contacts ORDER BY id").fetchall())

    followed = rows()
    system.projector.rebuild()
    assert rows() == followed
    assert system.contacts.of_case(str(erased)) == []


def test_the_demo_s_contacts_load_through_the_commands_and_load_again_writing_nothing(
    system: System,
) -> None:
    load_demo_contacts(system.app)
    system.projector.catch_up()
    with nothing_written(system):
        load_demo_contacts(system.app)

    unattached = system.contacts.search(ContactFilter(unattached=True), 50, None)
    attached = system.contacts.search(ContactFilter(unattached=False), 50, None)
    assert {c["disposition"] for c in unattached} >= {"HANG_UP", "TEST_OR_PRANK"}
    [case_id] = {c["caseId"] for c in attached}
    assert [c["direction"] for c in system.contacts.of_case(str(case_id))] == [
        "INBOUND",
        "INBOUND",
        "OUTBOUND",
    ]
    # The test call is left out; the single chat and email are suppressed; the rest rounded.
    assert dict(system.contacts.statistics("channel", datetime.now(UTC), 5)) == {
        "CALL": 15,
        "CHAT": None,
        "EMAIL": None,
        "TEXT": 5,
    }
