"""Erasure by key destruction, on real stores (SQLite and PostgreSQL), through the composition
root.

A caller's data is shared with a shelter and reported to the police; then a supervisor erases
it. The events stay and the rest of the case stays readable, marked erased, but the case's key
is gone: no sealed copy opens again, in the events, the snapshots, the read models or the
audit export; no plain value and no byte of the destroyed key is left in any database; and the
log's hash chain still verifies. A legal hold blocks erasure; a crash between the event and
the key's destruction is finished at the next start, by the projection worker, by a repeat
with the same idempotency key, or by the case projection.
"""
# Table names in these queries come from the databases' own catalogues; values are bound.
# ruff: noqa: S608

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
import pytest

from api.config import Settings
from api.infrastructure.vault import EnvelopeVault, load_or_create_master_key, parse_master_key
from api.wiring import System, build_system
from domain.base import Actor, DomainError, ReasonRequired, acting_as
from domain.case import (
    CallerRelationship,
    Case,
    Channel,
    ConsentGiver,
    ConsentMethod,
    ConsentScope,
    DataErased,
    DisclosableField,
    LegalHold,
    Need,
    ReferralMode,
    ReferralOutcomeKind,
    SupervisorRequired,
)
from domain.vault import ERASED_TEXT
from domain.write_path import Outcome
from projections.audit import MASK, AuditTrail
from projections.chain import chain_head, verify
from tests.conftest import a_system
from tests.e2e.conftest import seed

# Keys and write counting, as the case application's scenarios use them.
from tests.helpers import a_key
from tests.integration.test_case_application import nothing_written, written

STAFF = Actor(
    "fictional-staff-1",
    "staff",
    request_id="req-fictional-erasure-1",
    policy_version="fictional-policy-v3",
)
SUPERVISOR = Actor(
    "fictional-supervisor-1",
    "supervisor",
    request_id="req-fictional-erasure-2",
    policy_version="fictional-policy-v3",
)
CALLER = {
    "name": "Wilhelmina Ottersby-Fictitious",
    "phone": "+1 (555) 010-0177",
    "email": "w.ottersby@example.org",
    "otherContact": "Signal handle fictional-heron-lamp",
    "notes": "Fictional: meets at the Quillmere Laundromat",
}
BRIEF = "Fictional brief: needs a safe bed near Brackenfold tonight."
PLAIN = [
    *CALLER.values(),
    BRIEF,
    "Wilhelmina",
    "Ottersby",
    "w.ottersby",
    "5550100177",
    "010-0177",
    "heron-lamp",
    "Quillmere",
    "Brackenfold",
]
# Structured details are not personal data and stay in clear: finding this one proves a scan
# reads where the data is.
VISIBLE = "Fictionville-Erasemark"
SERGEANT = {"name": "Sgt. Fictional Example", "phone": "+1 555 010 0142"}
ALL_FACTORS = {
    "callersWishes": "wants a report",
    "levelOfDetail": "brief",
    "applicableLaw": "fictional statute",
    "localProtocol": "fictional protocol",
}
ERASE = "Fictional: the caller asked for their data to be erased."
HOLD = "Fictional: a court order preserves this case."


# -- given: a case shared with a shelter and reported to the police ----------------------------


@dataclass(frozen=True)
class SharedCase:
    case_id: UUID
    shelter: UUID
    agency: UUID
    wrapped: bytes  # the case's wrapped data key, as the key table held it
    sealed: list[str]  # every sealed value its events and its snapshot hold


def wrapped_key(system: System, case_id: UUID) -> bytes | None:
    with system.keys.read() as cursor:
        row = cursor.execute(
            "SELECT wrapped FROM case_keys WHERE case_id = %s", (str(case_id),)
        ).fetchone()
    return None if row is None else bytes(row[0])


def put_back(system: System, case_id: UUID, wrapped: bytes) -> None:
    """What a crash between the erasure event and the key's destruction leaves behind."""
    with system.keys.transaction() as cursor:
        cursor.execute(
            "INSERT INTO case_keys (case_id, wrapped) VALUES (%s, %s)", (str(case_id), wrapped)
        )
    assert system.vault.has_key(case_id)


def sealed_values(system: System, case_id: UUID) -> list[str]:
    """Every non-empty sealed value in the case's stored events and snapshots."""
    found = []
    for event in system.app.events.get(case_id):
        for name in ("sealed_personal", "sealed_copy"):
            value = getattr(event, name, "")
            if value:
                found.append(value)
    assert system.app.snapshots is not None
    for snapshot in system.app.snapshots.get(case_id):
        state: Any = snapshot.state  # type: ignore[attr-defined]
        found += [state["sealed_personal"]] if state["sealed_personal"] else []
        found += [d["sealedCopy"] for d in state["disclosures"].values() if d["sealedCopy"]]
    return found


def a_shared_case(system: System) -> SharedCase:
    shelter = seed(system, "Example Harbour Shelter")
    agency = seed(system, "Example Harbour Police Service", kind="LAW_ENFORCEMENT_AGENCY")
    with acting_as(STAFF):
        protocol = system.app.establish_reporting_protocol(
            a_key(), agency, "CA-ON", None, [SERGEANT]
        ).id
        case_id = system.app.open_case(
            a_key(),
            Channel.CALL,
            "en",
            CallerRelationship.VICTIM_OR_SURVIVOR,
            CALLER,
            {"province": "CA-ON", "municipality": VISIBLE, "needs": ["SHELTER"], "urgency": "HIGH"},
        ).id
        for scope, recipient in (
            (ConsentScope.SHARE_WITH_ORGANIZATION, shelter),
            (ConsentScope.REPORT_TO_LAW_ENFORCEMENT, agency),
        ):
            system.app.grant_consent(
                a_key(), case_id, scope, recipient, ConsentGiver.CALLER, ConsentMethod.VERBAL, None
            )
        system.app.refer(
            a_key(),
            case_id,
            shelter,
            ReferralMode.WARM_TRANSFER,
            [Need.SHELTER],
            [
                DisclosableField.CALLER_NAME,
                DisclosableField.CALLER_PHONE,
                DisclosableField.CALLER_EMAIL,
            ],
            BRIEF,
        )
    with acting_as(SUPERVISOR):
        system.app.report_to_law_enforcement(
            a_key(),
            case_id,
            protocol,
            ALL_FACTORS,
            [DisclosableField.CALLER_NAME, DisclosableField.LOCATION],
            BRIEF,
        )
    system.app.take_snapshot(case_id)  # a snapshot from before the erasure, with ciphertext
    system.projector.catch_up()
    wrapped = wrapped_key(system, case_id)
    assert wrapped is not None
    sealed = sealed_values(system, case_id)
    # Opened, two disclosures, and the snapshot's three: each opens while the key exists.
    assert len(sealed) == 6
    assert all(system.vault.open(case_id, value) for value in sealed)
    return SharedCase(case_id, shelter, agency, wrapped, sealed)


def erase(
    system: System,
    case_id: UUID,
    *,
    key: str | None = None,
    reason: str = ERASE,
    actor: Actor = SUPERVISOR,
) -> Outcome:
    with acting_as(actor):
        return system.app.erase_personal_data(key or a_key(), case_id, reason)


# -- then: where data might remain ---------------------------------------------------------------


def readable_in(value: Any, shared: SharedCase) -> list[str]:
    """Plain personal values, or sealed values of the case, found in a (nested) value."""
    text = json.dumps(value, default=str)
    return [s for s in [*PLAIN, *shared.sealed] if s in text or s.lower() in text.lower()]


def sqlite_files(settings: Settings, pattern: str = "*.sqlite*") -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in settings.data_dir.glob(pattern)}


def postgres_tables(settings: Settings) -> dict[str, bytes]:
    """Every table of the test's schema, dumped as text and as raw column values."""
    schema = settings.database_schema
    assert settings.database_url is not None
    found: dict[str, bytes] = {}
    with psycopg.connect(settings.database_url) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (schema,),
            ).fetchall()
        ]
        for table in tables:
            parts = [
                as_text.encode()
                for (as_text,) in conn.execute(f'SELECT t::text FROM "{schema}"."{table}" t')
            ]
            for row in conn.execute(f'SELECT * FROM "{schema}"."{table}"'):
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        parts.append(bytes(value))
                    else:
                        parts.append(str(value).encode())
            found[table] = b"\n".join(parts)
    assert {
        "nrd_events",
        "nrd_snapshots",
        "cases",
        "cases_state",
        "referral_inbox",
        "report_inbox",
        "case_keys",
    } <= set(found)
    return found


def everything_stored(settings: Settings) -> dict[str, bytes]:
    if settings.uses_postgres:
        return postgres_tables(settings)
    files = sqlite_files(settings)
    assert {"events.sqlite", "views.sqlite", "keys.sqlite", "access.sqlite"} <= set(files)
    return files


def case_keys_file(settings: Settings) -> tuple[str, bytes]:
    """The key table's file on disk (PostgreSQL), its buffers written out first."""
    assert settings.database_url is not None
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")
        path = conn.execute(
            "SELECT pg_relation_filepath(%s::regclass)",
            (f'"{settings.database_schema}".case_keys',),
        ).fetchone()
        assert path is not None and path[0]
        data = conn.execute("SELECT pg_read_binary_file(%s)", (path[0],)).fetchone()
        assert data is not None
        return path[0], bytes(data[0])


def old_file(settings: Settings, path: str) -> bytes:
    """A relation file as it is now, or nothing once PostgreSQL has removed it."""
    assert settings.database_url is not None
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        row = conn.execute("SELECT pg_read_binary_file(%s, 0, 1 << 24, true)", (path,)).fetchone()
    return b"" if row is None or row[0] is None else bytes(row[0])


def where_keys_rest(settings: Settings) -> dict[str, bytes]:
    """The files that hold the key table: SQLite's with its write-ahead log, or PostgreSQL's."""
    if settings.uses_postgres:
        path, data = case_keys_file(settings)
        return {path: data}
    files = sqlite_files(settings, "keys.sqlite*")
    assert "keys.sqlite" in files
    return files


def the_key_is_gone(system: System, settings: Settings, shared: SharedCase) -> None:
    assert not system.vault.has_key(shared.case_id)
    assert wrapped_key(system, shared.case_id) is None
    assert [system.vault.open(shared.case_id, value) for value in shared.sealed] == (
        [None] * len(shared.sealed)
    )
    for where, data in where_keys_rest(settings).items():
        assert shared.wrapped not in data, f"the destroyed key is still in {where}"


# -- erasure: nothing opens again ------------------------------------------------------------


def test_erasure_destroys_the_case_key_so_no_sealed_copy_opens_again(
    system: System,
    settings: Settings,
) -> None:
    shared = a_shared_case(system)

    erase(system, shared.case_id)

    the_key_is_gone(system, settings, shared)
    still_in_the_events = sealed_values(system, shared.case_id)
    assert still_in_the_events == shared.sealed  # the events stay; only the key went
    # Another process, with nothing cached: it reads the key table and finds no key.
    another_process = EnvelopeVault(
        parse_master_key(settings.master_key)
        if settings.master_key
        else load_or_create_master_key(settings.data_dir / "master-key"),
        system.keys,
    )
    assert [another_process.open(shared.case_id, value) for value in still_in_the_events] == (
        [None] * len(still_in_the_events)
    )


def test_an_erased_case_and_its_new_snapshot_hold_no_ciphertext_and_still_load(
    system: System,
) -> None:
    shared = a_shared_case(system)
    erased_at_version = erase(system, shared.case_id).version

    system.app.take_snapshot(shared.case_id)

    case: Case = system.app.repository.get(shared.case_id)
    assert (case.version, case.sealed_personal) == (erased_at_version, "")
    assert case.erased_at is not None
    assert readable_in(vars(case), shared) == []
    assert system.app.snapshots is not None
    *_, latest = system.app.snapshots.get(shared.case_id)
    assert latest.originator_version == erased_at_version
    assert readable_in(latest.state, shared) == []  # type: ignore[attr-defined]
    assert len(case.disclosures) == 2 and len(case.referrals) == len(case.reports) == 1
    assert (case.details["municipality"], case.details["province"]) == (VISIBLE, "CA-ON")


# -- the read models ---------------------------------------------------------------------------


def phone_lookup(system: System, case_id: UUID) -> str | None:
    with system.store.read() as cursor:
        row = cursor.execute(
            "SELECT phone_lookup FROM cases WHERE id = %s", (str(case_id),)
        ).fetchone()
    assert row is not None
    value: str | None = row[0]
    return value


def projected_state(system: System, case_id: UUID) -> dict[str, Any]:
    with system.store.read() as cursor:
        row = cursor.execute(
            "SELECT state FROM cases_state WHERE id = %s", (str(case_id),)
        ).fetchone()
    assert row is not None
    return json.loads(bytes(row[0]))  # type: ignore[no-any-return]


def test_after_erasure_the_read_models_hold_nothing_readable_and_show_the_case_erased(
    system: System,
) -> None:
    shared = a_shared_case(system)
    [referral] = system.cases.inbox("referral_inbox", str(shared.shelter), 10)
    [report] = system.cases.inbox("report_inbox", str(shared.agency), 10)
    assert system.vault.open(shared.case_id, referral["sealedCopy"]) is not None
    assert system.vault.open(shared.case_id, report["sealedCopy"]) is not None
    assert phone_lookup(system, shared.case_id) is not None

    erase(system, shared.case_id)
    system.projector.catch_up()

    doc = system.cases.get(str(shared.case_id))
    assert doc is not None
    assert (doc["sealedPersonal"], doc["legalHold"]) == ("", None)
    assert doc["erasedAt"] is not None
    assert readable_in(doc, shared) == []
    # The rest of the case stays readable.
    assert (doc["details"]["municipality"], doc["open"], doc["channel"]) == (VISIBLE, True, "CALL")
    assert len(doc["consents"]) == 2 and len(doc["referrals"]) == len(doc["reports"]) == 1
    assert sorted(d["fields"] for d in doc["disclosures"]) == [
        ["CALLER_NAME", "CALLER_PHONE", "CALLER_EMAIL", "BRIEF", "NEEDS"],
        ["CALLER_NAME", "LOCATION", "BRIEF"],  # the report's brief leaves with it
    ]
    assert {d["policyVersion"] for d in doc["disclosures"]} == {"fictional-policy-v3"}
    assert phone_lookup(system, shared.case_id) is None
    [referral] = system.cases.inbox("referral_inbox", str(shared.shelter), 10)
    [report] = system.cases.inbox("report_inbox", str(shared.agency), 10)
    assert (referral["sealedCopy"], report["sealedCopy"]) == ("", "")
    assert (referral["fields"], referral["needs"], report["fields"]) == (
        ["CALLER_NAME", "CALLER_PHONE", "CALLER_EMAIL", "BRIEF", "NEEDS"],
        ["SHELTER"],
        ["CALLER_NAME", "LOCATION", "BRIEF"],
    )
    assert readable_in([referral, report], shared) == []
    assert len(system.cases.ledger(10, None)) == 2
    assert readable_in(projected_state(system, shared.case_id), shared) == []


def test_an_erased_case_refuses_a_disclosure_but_a_relayed_referral_and_updates_go_on(
    system: System,
) -> None:
    shared = a_shared_case(system)
    erase(system, shared.case_id)

    with acting_as(STAFF):
        with nothing_written(system), pytest.raises(DataErased):
            system.app.refer(
                a_key(),
                shared.case_id,
                shared.shelter,
                ReferralMode.PHONE,
                [Need.LEGAL],
                [DisclosableField.CALLER_NAME],
                "",
            )
        with nothing_written(system), pytest.raises(DataErased):
            system.app.refer(
                a_key(),
                shared.case_id,
                shared.shelter,
                ReferralMode.PHONE,
                [Need.LEGAL],
                [DisclosableField.LOCATION],
                "",
            )
        system.app.refer(
            a_key(), shared.case_id, shared.shelter, ReferralMode.PHONE, [Need.LEGAL], [], ""
        )
        system.app.update_case(a_key(), shared.case_id, {"urgency": "LOW"})
    system.projector.catch_up()

    doc = system.cases.get(str(shared.case_id))
    assert doc is not None
    assert [r["disclosureId"] is None for r in doc["referrals"]] == [False, True]
    assert (doc["details"]["urgency"], doc["sealedPersonal"]) == ("LOW", "")
    assert doc["erasedAt"] is not None
    # A relayed referral sends nothing: the shelter's inbox still holds the one disclosed.
    assert len(system.cases.inbox("referral_inbox", str(shared.shelter), 10)) == 1


def test_a_process_still_holding_the_key_of_a_case_another_process_erased_discloses_nothing(
    system: System,
) -> None:
    shared = a_shared_case(system)
    with acting_as(STAFF):  # this process now holds the case and its key
        system.app.refer(
            a_key(),
            shared.case_id,
            shared.shelter,
            ReferralMode.PHONE,
            [Need.LEGAL],
            [DisclosableField.CALLER_NAME],
            "",
        )
    with a_system(system.settings) as other:
        erase(other, shared.case_id)

    with nothing_written(system), acting_as(STAFF), pytest.raises(DataErased):
        system.app.refer(
            a_key(),
            shared.case_id,
            shared.shelter,
            ReferralMode.PHONE,
            [Need.LEGAL],
            [DisclosableField.CALLER_NAME],
            "",
        )


# -- the audit trail and the hash chain ------------------------------------------------------


def test_the_audit_shows_only_sealed_markers_and_the_chain_still_verifies(
    system: System,
) -> None:
    shared = a_shared_case(system)
    head_before = chain_head(system.store)
    assert head_before is not None

    erasure = erase(system, shared.case_id)
    system.projector.catch_up()

    entries = list(AuditTrail(system.app).export())
    assert readable_in(entries, shared) == []
    mine = [e for e in entries if e["recordId"] == str(shared.case_id)]
    sealed = [
        (e["type"], k, v)
        for e in mine
        for k, v in e["data"].items()
        if k in ("sealed_personal", "sealed_copy")
    ]
    assert sealed == [
        ("Case.Opened", "sealed_personal", MASK),
        ("Case.InformationDisclosed", "sealed_copy", MASK),  # to the shelter
        ("Case.InformationDisclosed", "sealed_copy", MASK),
    ]  # to the police
    last = mine[-1]
    assert (last["type"], last["reason"], last["data"], last["actorRole"]) == (
        "Case.PersonalDataErased",
        ERASE,
        {"reason": ERASE},
        "supervisor",
    )
    as_erased = system.audit.state_as_of(shared.case_id)
    as_before = system.audit.state_as_of(shared.case_id, version=erasure.version - 1)
    assert as_erased is not None and as_before is not None
    assert as_erased["state"]["sealed_personal"] == ""
    assert as_erased["state"]["erased_at"] is not None
    assert as_before["state"]["sealed_personal"] == MASK
    assert {d["sealedCopy"] for d in as_before["state"]["disclosures"].values()} == {MASK}
    assert readable_in([as_erased, as_before], shared) == []
    verification = verify(system.app.recorder, system.store, heads=[head_before])
    assert verification.intact, verification.finding
    assert verification.events == verification.chained_to == written(system)
    assert verification.heads_checked == 1


# -- at rest: nothing plain, no byte of the key ------------------------------------------------


def test_no_personal_data_and_no_byte_of_the_destroyed_key_remain_in_any_database(
    system: System,
    settings: Settings,
) -> None:
    shared = a_shared_case(system)
    rests = where_keys_rest(settings)
    assert any(shared.wrapped in data for data in rests.values())  # the scan finds the key
    assert VISIBLE.encode() in b"\n".join(everything_stored(settings).values())

    erase(system, shared.case_id)
    system.projector.catch_up()

    the_key_is_gone(system, settings, shared)
    if settings.uses_postgres:
        for path in rests:  # the file that held the key before VACUUM FULL rewrote the table
            assert shared.wrapped not in old_file(settings, path)
    for where, data in everything_stored(settings).items():
        assert shared.wrapped not in data, f"the destroyed key is still in {where}"
        assert shared.wrapped.hex().encode() not in data.lower(), f"the key (hex) in {where}"
        for plain in PLAIN:
            assert plain.encode() not in data, f"{plain!r} in plain text in {where}"
            assert plain.lower().encode() not in data.lower(), f"{plain!r} in {where}"


@contextmanager
def another_request_reading(settings: Settings, system: System) -> Iterator[None]:
    """Another request, on another thread, part-way through a consistent read (the stores' own
    ``snapshot()``) when the key is destroyed; it finishes a moment later. It reads what shares
    the key table's database: on PostgreSQL the case list, on SQLite the key file itself."""
    store, table = (system.store, "cases") if settings.uses_postgres else (system.keys, "case_keys")
    reading, failures = threading.Event(), list[BaseException]()

    def read() -> None:
        try:
            with store.snapshot() as cursor:
                cursor.execute(f"SELECT COUNT(*) FROM {table}").fetchone()
                reading.set()
                time.sleep(READ_SECONDS)
        except BaseException as error:
            failures.append(error)
        finally:
            reading.set()

    thread = threading.Thread(target=read)
    thread.start()
    assert reading.wait(10)
    try:
        yield
    finally:
        thread.join(10)
    assert failures == []


READ_SECONDS = 0.3


def test_erasure_leaves_no_byte_of_the_key_even_while_another_request_is_reading(
    system: System,
    settings: Settings,
) -> None:
    shared = a_shared_case(system)

    with another_request_reading(settings, system):
        erase(system, shared.case_id)

    the_key_is_gone(system, settings, shared)


# -- refusals write nothing and destroy nothing ------------------------------------------------


def test_a_legal_hold_blocks_erasure_until_it_is_released(
    system: System,
    settings: Settings,
) -> None:
    shared = a_shared_case(system)
    with acting_as(SUPERVISOR):
        system.app.place_legal_hold(a_key(), shared.case_id, HOLD)

    with nothing_written(system), pytest.raises(LegalHold, match="released"):
        erase(system, shared.case_id)

    assert wrapped_key(system, shared.case_id) == shared.wrapped
    assert all(system.vault.open(shared.case_id, value) for value in shared.sealed)
    system.projector.catch_up()
    doc = system.cases.get(str(shared.case_id))
    assert doc is not None and doc["erasedAt"] is None and doc["legalHold"] is not None
    assert (doc["legalHold"]["reason"], doc["legalHold"]["by"]) == (HOLD, "fictional-supervisor-1")

    with acting_as(SUPERVISOR):
        system.app.release_legal_hold(
            a_key(), shared.case_id, "Fictional: the court order was lifted."
        )
    erase(system, shared.case_id)

    the_key_is_gone(system, settings, shared)


REFUSALS: dict[str, tuple[Actor, str, type[DomainError]]] = {
    "blank-reason": (SUPERVISOR, "  \n ", ReasonRequired),
    "by-staff": (STAFF, ERASE, SupervisorRequired),
}


@pytest.mark.parametrize("refusal", REFUSALS.values(), ids=REFUSALS.keys())
def test_a_refused_erasure_writes_nothing_and_keeps_the_key(
    system: System,
    refusal: tuple[Actor, str, type[DomainError]],
) -> None:
    actor, reason, error = refusal
    shared = a_shared_case(system)

    with nothing_written(system), pytest.raises(error):
        erase(system, shared.case_id, reason=reason, actor=actor)

    assert wrapped_key(system, shared.case_id) == shared.wrapped
    assert all(system.vault.open(shared.case_id, value) for value in shared.sealed)
    case: Case = system.app.repository.get(shared.case_id)
    assert case.erased_at is None


# -- a crash between the event and the key's destruction ---------------------------------------


def test_repeating_an_erasure_with_its_key_destroys_a_key_left_behind(
    system: System,
    settings: Settings,
) -> None:
    shared = a_shared_case(system)
    first = erase(system, shared.case_id, key="fictional-erasure-key-1")
    put_back(system, shared.case_id, shared.wrapped)
    assert system.vault.open(shared.case_id, shared.sealed[0]) is not None

    with nothing_written(system):
        again = erase(system, shared.case_id, key="fictional-erasure-key-1")

    assert (again.id, again.version, again.replayed) == (first.id, first.version, True)
    the_key_is_gone(system, settings, shared)


def test_the_case_projection_destroys_a_key_left_behind_by_an_erased_case(
    system: System,
    settings: Settings,
) -> None:
    shared = a_shared_case(system)
    erase(system, shared.case_id)
    put_back(system, shared.case_id, shared.wrapped)

    system.projector.catch_up()

    the_key_is_gone(system, settings, shared)
    doc = system.cases.get(str(shared.case_id))
    assert doc is not None and doc["erasedAt"] is not None


def recorded_without_destroying_the_key(system: System, case_id: UUID) -> None:
    """What a process that died right after saving the erasure event leaves behind: the intent
    and the event, but the key still in its table."""
    system.vault.begin_erasure(case_id)
    with acting_as(SUPERVISOR):
        system.app._change(
            a_key(),
            "erasePersonalData",
            case_id,
            {"reason": ERASE},
            Case,
            lambda c: c.erase_personal_data(ERASE),
            what="case",
        )


def test_an_erasure_cut_short_after_its_event_is_finished_when_the_system_starts_again(
    system: System,
    settings: Settings,
) -> None:
    shared = a_shared_case(system)
    recorded_without_destroying_the_key(system, shared.case_id)
    assert system.vault.open(shared.case_id, shared.sealed[0]) is not None
    system.close()

    restarted = build_system(settings)
    try:
        the_key_is_gone(restarted, settings, shared)
    finally:
        restarted.close()


def test_the_projection_worker_finishes_an_erasure_cut_short(
    system: System,
    settings: Settings,
) -> None:
    shared = a_shared_case(system)
    recorded_without_destroying_the_key(system, shared.case_id)
    stop = threading.Event()
    worker = threading.Thread(target=system.follow_log, args=(stop, 0.05))
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while system.vault.has_key(shared.case_id) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        worker.join(10)

    the_key_is_gone(system, settings, shared)


def test_a_refused_erasure_leaves_no_intent_behind(system: System) -> None:
    shared = a_shared_case(system)
    with acting_as(SUPERVISOR):
        system.app.place_legal_hold(a_key(), shared.case_id, HOLD)
    with pytest.raises(LegalHold):
        erase(system, shared.case_id)

    with system.keys.read() as cursor:
        assert cursor.execute("SELECT COUNT(*) FROM key_erasures").fetchone()[0] == 0
    system.app.finish_erasures()
    assert wrapped_key(system, shared.case_id) == shared.wrapped


# -- staff-written free text goes with the case's key ------------------------------------------

STAFF_TEXT = {
    "decision": "Fictional decision: Wilhelmina goes to Brackenfold tonight",
    "close": "Fictional: Wilhelmina is safe with her sister",
    "note": "Fictional outcome: met Wilhelmina at intake",
    "question": "Fictional question: may Wilhelmina go to Brackenfold",
    "nextSteps": "Fictional next steps: call Brackenfold for Wilhelmina",
}


def test_staff_written_free_text_is_sealed_and_an_erasure_takes_it_too(
    system: System,
    settings: Settings,
) -> None:
    shared = a_shared_case(system)
    with acting_as(STAFF):
        system.app.request_supervisor(a_key(), shared.case_id, STAFF_TEXT["question"])
    with acting_as(SUPERVISOR):
        system.app.consult_supervisor(
            a_key(), shared.case_id, STAFF_TEXT["decision"], STAFF_TEXT["nextSteps"]
        )
    case: Case = system.app.repository.get(shared.case_id)
    [referral] = case.referrals.values()
    with acting_as(Actor("fictional-partner-1", "partner", referral["organizationId"])):
        system.app.report_referral_outcome(
            a_key(),
            shared.case_id,
            UUID(referral["id"]),
            referral["organizationId"],
            ReferralOutcomeKind.ACCEPTED,
            STAFF_TEXT["note"],
        )
    with acting_as(STAFF):
        system.app.close_case(a_key(), shared.case_id, STAFF_TEXT["close"])
    system.projector.catch_up()
    stored = everything_stored(settings)
    assert not [
        (where, text)
        for where, data in stored.items()
        for text in STAFF_TEXT.values()
        if text.encode() in data
    ]  # never in clear, even before the erasure
    case = system.app.repository.get(shared.case_id)
    assert (
        system.app.open_text(shared.case_id, case.consultations[0]["decision"])
        == (STAFF_TEXT["decision"])
    )

    erase(system, shared.case_id)

    erased: Case = system.app.repository.get(shared.case_id)
    texts = [
        erased.consultations[0]["decision"],
        erased.consultations[0]["nextSteps"],
        *[r["question"] for r in erased.supervisor_requests.values()],
        erased.history[-1]["note"],
        *[o["note"] for r in erased.referrals.values() for o in r["outcomes"]],
        *[f for r in erased.reports.values() for f in r["factors"].values()],
        *[d["justification"] for d in erased.disclosures.values() if d["justification"]],
    ]
    assert texts and {system.app.open_text(shared.case_id, t) for t in texts} == {ERASED_TEXT}
    exported = json.dumps(list(system.audit.export()))
    assert not [text for text in STAFF_TEXT.values() if text in exported]


def test_free_text_written_after_an_erasure_is_not_kept(system: System) -> None:
    shared = a_shared_case(system)
    erase(system, shared.case_id)

    with acting_as(STAFF):
        system.app.close_case(a_key(), shared.case_id, "Fictional: Wilhelmina moved away")

    case: Case = system.app.repository.get(shared.case_id)
    assert case.history[-1]["note"] == ERASED_TEXT
    assert not system.vault.has_key(shared.case_id)
