"""One bad event stops nothing but its own record, on SQLite and PostgreSQL: an event whose
stored state cannot be decoded, whose topic this version does not know, or that fails to
apply, is quarantined (position, record, topic, error type), the record's later events wait
behind it, every other record goes on; a command on that record is refused by name; an
operator retries once it is fixed. A rebuild builds aside and swaps in whole: one that fails
leaves the live read models as they were. ``nrd projections check`` finds a damaged read
model.
"""
# Table names in these queries are the projections' own; values are bound.
# ruff: noqa: S608

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import OperationalError

from api import cli
from api.config import Settings
from api.wiring import System
from domain.case import Case, ConsentScope
from domain.write_path import RecordUnreadable
from projections.cases import CaseDoc, CaseProjection
from projections.sql import Cursor
from projections.topics import TopicCheck, UnknownTopic
from tests.conftest import a_system
from tests.e2e.conftest import seed
from tests.integration.test_case_application import a_case, consent, refer
from tests.integration.test_chain import Intruder
from tests.integration.test_projection_faults import read_model_rows
from tests.integration.test_projections import nrd_environment

UNKNOWN_TOPIC = "domain.case:Case.ConsentRenegotiated"


def position_of(system: System, case_id: UUID, version: int) -> int:
    notifications = system.app.recorder.select_notifications(start=1, limit=100_000)
    return next(
        n.id
        for n in notifications
        if n.originator_id == case_id and n.originator_version == version
    )


def case_doc(system: System, case_id: UUID) -> CaseDoc:
    doc = system.cases.get(str(case_id))
    assert doc is not None
    return doc


def quarantined(system: System) -> list[tuple[str, int, str, str, str]]:
    return [
        (q.projection, q.position, q.record_id, q.stage, q.error)
        for q in system.projector.quarantined()
    ]


def held_counts(system: System) -> dict[str, int]:
    with system.store.read() as cursor:
        rows = cursor.execute("SELECT name, quarantined FROM projection_tracking").fetchall()
    return {name: int(count) for name, count in rows if count}


def equals_a_rebuild(system: System) -> None:
    followed = read_model_rows(system)
    system.projector.rebuild()
    assert read_model_rows(system) == followed


def run_nrd(
    monkeypatch: pytest.MonkeyPatch,
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
    *args: str,
) -> tuple[int, str]:
    nrd_environment(monkeypatch, settings)
    monkeypatch.setenv("NRD_DATA_DIR", str(settings.data_dir))
    code = cli.main(list(args))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.fixture
def two_cases(system: System) -> tuple[UUID, UUID, UUID]:
    """A shelter, and two cases referred to it, each with two consents after opening."""
    shelter = seed(system, "Example Quarantine Shelter")
    cases = []
    for _ in range(2):
        case_id = a_case(system)
        consent(system, case_id, ConsentScope.FOLLOW_UP_CONTACT)  # version 2
        consent(system, case_id, ConsentScope.SHARE_WITH_ORGANIZATION, shelter)  # version 3
        cases.append(case_id)
    return shelter, cases[0], cases[1]


# -- an event that cannot be decoded --------------------------------------------------------


def test_an_undecodable_event_is_quarantined_and_every_other_case_goes_on(
    system: System,
    settings: Settings,
    two_cases: tuple[UUID, UUID, UUID],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    shelter, damaged, sound = two_cases
    intruder = Intruder(settings)
    position = position_of(system, damaged, 2)
    original = intruder.state(position)
    with intruder.transaction() as run:
        run(
            f"UPDATE {intruder.table} SET state = %s WHERE {intruder.id} = %s",
            (b"\x00 fictional damage", position),
        )
    refer(system, sound, shelter)  # written after the damage: applied all the same

    system.projector.catch_up()

    held = position_of(system, damaged, 3)
    assert quarantined(system) == [
        (
            "cases",
            position,
            str(damaged),
            "decode",
            "MapperDeserialisationError (from JSONDecodeError)",
        ),
        ("cases", held, str(damaged), "held", "an earlier event of this record is quarantined"),
    ]
    assert held_counts(system) == {"cases": 2}
    assert case_doc(system, damaged)["version"] == 1  # as far as it can be read
    assert case_doc(system, sound)["version"] == 5  # a referral: a disclosure and the referral
    assert len(system.cases.inbox("referral_inbox", str(shelter), 10)) == 1
    assert system.projector.positions()["cases"] == system.projector.head()

    # A command on the damaged case is refused by name, in a process that had not cached it.
    with a_system(settings) as other, pytest.raises(RecordUnreadable) as refused:
        consent(other, damaged, ConsentScope.NON_IDENTIFYING_STATISTICS)
    assert refused.value.code == "RECORD_UNREADABLE"

    code, output = run_nrd(monkeypatch, settings, capsys, "projections", "status")
    assert code == 3, output
    assert (
        f"{position} cases {damaged} v2 domain.case:Case.ConsentGranted decode: "
        "MapperDeserialisationError" in output
    )
    assert "cases: 2 event(s) quarantined" in output

    # Retried before the fix: still quarantined, the attempt counted.
    code, output = run_nrd(monkeypatch, settings, capsys, "projections", "retry")
    assert (code, "applied 0 quarantined event(s); 2 remain") == (1, output[:40])
    assert [q.attempts for q in system.projector.quarantined()] == [2, 1]

    with intruder.transaction() as run:  # the operator restores the row from a backup
        run(
            f"UPDATE {intruder.table} SET state = %s WHERE {intruder.id} = %s", (original, position)
        )
    code, output = run_nrd(monkeypatch, settings, capsys, "projections", "retry")
    assert code == 0, output
    assert "applied 2 quarantined event(s); 0 remain" in output
    assert quarantined(system) == [] and held_counts(system) == {}
    assert case_doc(system, damaged)["version"] == 3
    code, output = run_nrd(monkeypatch, settings, capsys, "projections", "status")
    assert code == 0, output
    equals_a_rebuild(system)


def test_a_rebuild_over_a_damaged_event_swaps_in_every_other_record_and_quarantines_it(
    system: System,
    settings: Settings,
    two_cases: tuple[UUID, UUID, UUID],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    shelter, damaged, sound = two_cases
    system.projector.catch_up()
    intruder = Intruder(settings)
    position = position_of(system, damaged, 3)
    with intruder.transaction() as run:
        run(
            f"UPDATE {intruder.table} SET state = %s WHERE {intruder.id} = %s",
            (b"{not json", position),
        )

    code, output = run_nrd(monkeypatch, settings, capsys, "projections", "rebuild")

    assert code == 0, output
    assert [(q.projection, q.position, q.stage) for q in system.projector.quarantined()] == [
        ("cases", position, "decode")
    ]
    assert case_doc(system, damaged)["version"] == 2
    assert case_doc(system, sound)["version"] == 3
    assert [
        item["caseId"] for item in system.cases.inbox("referral_inbox", str(shelter), 10)
    ] == []  # none was referred


# -- an event whose topic this version does not know ----------------------------------------


def test_an_event_of_an_unknown_topic_is_quarantined_not_skipped(
    system: System,
    settings: Settings,
    two_cases: tuple[UUID, UUID, UUID],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, damaged, sound = two_cases
    intruder = Intruder(settings)
    position = position_of(system, damaged, 2)
    with intruder.transaction() as run:
        run(
            f"UPDATE {intruder.table} SET topic = %s WHERE {intruder.id} = %s",
            (UNKNOWN_TOPIC, position),
        )

    system.projector.catch_up()

    after = position_of(system, damaged, 3)
    assert quarantined(system) == [
        ("topics", position, str(damaged), "apply", "UnknownTopic"),
        # The case's next event cannot be folded without the one before it.
        ("cases", after, str(damaged), "apply", "TopicError (from AttributeError)"),
    ]
    assert case_doc(system, sound)["version"] == 3
    assert case_doc(system, damaged)["version"] == 1

    with intruder.transaction() as run:  # this version learns it, or the row is restored
        run(
            f"UPDATE {intruder.table} SET topic = %s WHERE {intruder.id} = %s",
            ("domain.case:Case.ConsentGranted", position),
        )
    code, output = run_nrd(monkeypatch, settings, capsys, "projections", "retry")
    assert code == 0, output
    assert quarantined(system) == []
    assert case_doc(system, damaged)["version"] == 3
    equals_a_rebuild(system)


def test_the_topic_check_never_imports_a_module_outside_the_project() -> None:
    check = TopicCheck()
    check.check("domain.case:Case.ConsentGranted")
    for foreign in (
        "json.decoder:JSONDecoder",
        "antigravity:fly",
        "domain.case",
        "domain.case:Case.NoSuchEvent",
    ):
        with pytest.raises(UnknownTopic):
            check.check(foreign)
    assert "antigravity" not in sys.modules


# -- an event that fails to apply ------------------------------------------------------------


def test_an_event_a_read_model_fails_to_apply_is_found_in_its_batch_and_quarantined_alone(
    system: System, two_cases: tuple[UUID, UUID, UUID], monkeypatch: pytest.MonkeyPatch
) -> None:
    shelter, failing, sound = two_cases
    for _ in range(3):
        refer(system, sound, shelter)
    write = CaseProjection.write

    def fails_on_one_case(
        self: CaseProjection, cursor: Cursor, cases: list[Case], applied: Any
    ) -> None:
        if any(case.id == failing and case.version == 3 for case in cases):
            raise ValueError("fictional bug in deriving the rows")
        write(self, cursor, cases, applied)

    monkeypatch.setattr(CaseProjection, "write", fails_on_one_case)
    system.projector.catch_up()

    # Exactly the event that fails, and nothing else, is kept aside.
    assert quarantined(system) == [
        ("cases", position_of(system, failing, 3), str(failing), "apply", "ValueError")
    ]
    assert case_doc(system, failing)["version"] == 2
    assert case_doc(system, sound)["version"] == 9  # three referrals: six events

    monkeypatch.setattr(CaseProjection, "write", write)  # the fix is deployed
    assert system.projector.retry().applied == 1
    assert case_doc(system, failing)["version"] == 3
    equals_a_rebuild(system)


def test_a_record_whose_event_is_quarantined_holds_back_events_written_after_it(
    system: System, two_cases: tuple[UUID, UUID, UUID], monkeypatch: pytest.MonkeyPatch
) -> None:
    shelter, failing, _ = two_cases
    write = CaseProjection.write

    def fails_on_version_3(
        self: CaseProjection, cursor: Cursor, cases: list[Case], applied: Any
    ) -> None:
        if any(case.id == failing and case.version == 3 for case in cases):
            raise ValueError("fictional bug in deriving the rows")
        write(self, cursor, cases, applied)

    monkeypatch.setattr(CaseProjection, "write", fails_on_version_3)
    system.projector.catch_up()
    refer(system, failing, shelter)  # written after: waits behind the quarantined event
    system.projector.catch_up()

    assert [(q.position, q.stage) for q in system.projector.quarantined()] == [
        (position_of(system, failing, 3), "apply"),
        (position_of(system, failing, 4), "held"),
        (position_of(system, failing, 5), "held"),
    ]
    monkeypatch.setattr(CaseProjection, "write", write)
    result = system.projector.retry()
    assert (result.applied, result.remaining) == (3, 0)
    assert case_doc(system, failing)["version"] == 5
    equals_a_rebuild(system)


# -- rebuilds ---------------------------------------------------------------------------------


class ConnectionLost(OperationalError):
    """The database went away mid-rebuild."""


def test_a_rebuild_that_fails_leaves_the_live_read_models_as_they_were(
    system: System,
    settings: Settings,
    two_cases: tuple[UUID, UUID, UUID],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    system.projector.catch_up()
    live = read_model_rows(system)
    process = CaseProjection.process

    def fails_midway(
        self: CaseProjection, cursor: Cursor, events: Sequence[DomainEventProtocol[Any]]
    ) -> None:
        process(self, cursor, events[:3])
        raise ConnectionLost("fictional: the database went away mid-rebuild")

    monkeypatch.setattr(CaseProjection, "process", fails_midway)
    code, output = run_nrd(monkeypatch, settings, capsys, "projections", "rebuild")

    assert code == 1
    assert "failed (ConnectionLost); the live read models are as they were" in output
    assert read_model_rows(system) == live
    assert not (settings.data_dir / "views.aside.sqlite").exists()


def test_a_rebuild_swaps_in_whole_while_commands_write_and_a_worker_follows(
    system: System, settings: Settings, two_cases: tuple[UUID, UUID, UUID]
) -> None:
    shelter, _, _ = two_cases
    stop, failures = threading.Event(), []

    def write() -> None:
        try:
            while not stop.is_set():
                case_id = a_case(system)
                consent(system, case_id, ConsentScope.SHARE_WITH_ORGANIZATION, shelter)
                refer(system, case_id, shelter)
        except Exception as error:  # reported below
            failures.append(error)

    with a_system(settings) as worker:
        follower = threading.Thread(target=worker.projector.run_forever, args=(stop, 0.02))
        writer = threading.Thread(target=write)
        follower.start()
        writer.start()
        try:
            for _ in range(2):
                system.projector.rebuild()
        finally:
            stop.set()
            writer.join(30)
            follower.join(30)
        assert failures == []
        worker.projector.catch_up()
        equals_a_rebuild(system)


# -- the operator's check ---------------------------------------------------------------------


def test_nrd_projections_check_names_what_differs_from_a_rebuild_and_no_value(
    system: System,
    settings: Settings,
    two_cases: tuple[UUID, UUID, UUID],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    shelter, first, second = two_cases
    refer(system, first, shelter)
    system.projector.catch_up()
    code, output = run_nrd(monkeypatch, settings, capsys, "projections", "check")
    assert code == 0, output
    assert "same:" in output

    referral = system.cases.inbox("referral_inbox", str(shelter), 10)[0]["id"]
    with system.store.transaction() as cursor:
        cursor.execute("DELETE FROM referral_inbox WHERE id = %s", (referral,))
        cursor.execute(
            "UPDATE cases SET doc = %s WHERE id = %s",
            ('{"fictional": "Tampered Example"}', str(second)),
        )
        cursor.execute(
            "INSERT INTO case_needs (case_id, need) VALUES (%s, %s)",
            ("fictional-extra-case", "SHELTER"),
        )
    code, output = run_nrd(monkeypatch, settings, capsys, "projections", "check")

    assert code == 1, output
    assert f"referral_inbox: 1 missing (e.g. {referral})" in output
    assert f"cases: 1 different (e.g. {second})" in output
    assert "case_needs: 1 extra (e.g. fictional-extra-case)" in output
    assert "Tampered" not in output and "Fictional Caller" not in output
    assert not (settings.data_dir / "views.aside.sqlite").exists()
