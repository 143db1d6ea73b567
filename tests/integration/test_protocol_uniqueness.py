"""One reporting protocol per agency and jurisdiction, with random protocol ids.

The rule holds when two processes establish the same protocol at the same moment (the
jurisdiction claim saved with each collides in the store), stays idempotent, and still finds
the protocols stored before ids were random, under the ids they were given then.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any
from uuid import UUID

import pytest

from api.wiring import System
from domain.base import Actor, acting_as
from domain.directory import DirectoryUseCases
from domain.jurisdiction_claim import JurisdictionClaim
from domain.organization import ALL_CRITERIA
from domain.reporting_protocol import ProtocolExists, ReportingProtocol
from domain.write_path import Outcome
from tests.conftest import a_system
from tests.helpers import a_key

POLICE: dict[str, Any] = {
    "kind": "LAW_ENFORCEMENT_AGENCY",
    "nameEn": "Example Harbour Police Service",
    "nameFr": "Service de police Exemple du Port",
}
SERGEANT = {"name": "Sgt. Fictional Example", "phone": "+1 555 010 0142"}
CONSTABLE = {"name": "Cst. Fictional Sample", "email": "ht-unit@example.org"}
STAFF = Actor("fictional-staff-1", "staff", request_id="req-uniqueness")
JURISDICTIONS = 8


def a_police_service(system: System) -> UUID:
    app = system.app
    with acting_as(STAFF):
        police: UUID = app.apply_for_inclusion(a_key(), POLICE, list(ALL_CRITERIA), False).id
        app.start_review(a_key(), police)
        # An agency is included on a protocol established for it: the tests race to
        # establish them, so it stays under review here.
    return police


def established(system: System, police: UUID) -> list[tuple[UUID, str | None]]:
    """(protocol id, municipality) of every protocol the log holds for the agency."""
    found = []
    for notification in system.app.recorder.select_notifications(start=1, limit=10_000):
        if notification.topic.endswith("ReportingProtocol.Established"):
            event = system.app.mapper.to_domain_event(notification)
            if event.agency_id == police:  # type: ignore[attr-defined]
                found.append((event.originator_id, event.jurisdiction.get("municipality")))  # type: ignore[attr-defined]
    return found


def race(
    systems: list[System], act: Callable[[System, int], Outcome]
) -> list[list[Outcome | BaseException]]:
    """Each system runs ``act`` for every jurisdiction, on its own thread, all at once:
    results[jurisdiction][system]."""
    results: list[list[Outcome | BaseException]] = [
        [RuntimeError("not run")] * len(systems) for _ in range(JURISDICTIONS)
    ]
    start = threading.Barrier(len(systems))

    def run(n: int, system: System) -> None:
        with acting_as(Actor(f"fictional-staff-{n}", "staff", request_id=f"req-race-{n}")):
            start.wait(timeout=30)
            for j in range(JURISDICTIONS):
                try:
                    results[j][n] = act(system, j)
                except BaseException as error:  # kept for the assertions
                    results[j][n] = error

    threads = [threading.Thread(target=run, args=(n, s)) for n, s in enumerate(systems)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    return results


def test_two_processes_establishing_one_protocol_at_once_store_it_once(system: System) -> None:
    police = a_police_service(system)

    with a_system(system.settings) as other:
        results = race(
            [system, other],
            lambda s, j: s.app.establish_reporting_protocol(
                a_key(), police, "CA-NS", f"Example Town {j}", [SERGEANT]
            ),
        )

    for j, outcomes in enumerate(results):
        won = [o for o in outcomes if isinstance(o, Outcome)]
        lost = [o for o in outcomes if not isinstance(o, Outcome)]
        assert len(won) == 1, (j, outcomes)
        assert [type(e) for e in lost] == [ProtocolExists], (j, outcomes)
    stored = established(system, police)
    assert sorted(m or "" for _, m in stored) == sorted(
        f"Example Town {j}" for j in range(JURISDICTIONS)
    )
    assert {i for i, _ in stored} == {
        o.id for row in results for o in row if isinstance(o, Outcome)
    }


def test_one_request_repeated_by_two_processes_at_once_is_established_once(system: System) -> None:
    police = a_police_service(system)
    keys = [a_key() for _ in range(JURISDICTIONS)]

    with a_system(system.settings) as other:
        # The same user, key and request in both: a client retrying against another process.
        def act(s: System, j: int) -> Outcome:
            with acting_as(STAFF):
                return s.app.establish_reporting_protocol(
                    keys[j], police, "CA-NS", f"Example Town {j}", [SERGEANT]
                )

        results = race([system, other], act)

    for j, outcomes in enumerate(results):
        assert all(isinstance(o, Outcome) for o in outcomes), (j, outcomes)
        first, second = outcomes
        assert isinstance(first, Outcome) and isinstance(second, Outcome)
        assert first.id == second.id
        assert sorted([first.replayed, second.replayed]) == [False, True]
    assert len(established(system, police)) == JURISDICTIONS


def test_a_protocol_id_is_random_and_its_claim_id_is_keyed(system: System) -> None:
    police = a_police_service(system)
    jurisdiction = {"province": "CA-NS", "municipality": "Example Harbour"}
    with acting_as(STAFF):
        outcome = system.app.establish_reporting_protocol(
            a_key(), police, "CA-NS", "Example Harbour", [SERGEANT]
        )

    assert outcome.id.version == 4
    assert outcome.id != ReportingProtocol.legacy_id_for(police, jurisdiction)
    claim_key = system.vault.derived_key(b"nrd jurisdiction claims v1")
    claim: JurisdictionClaim = system.app.repository.get(
        JurisdictionClaim.id_for(claim_key, police, jurisdiction)
    )
    assert claim.protocol_id == outcome.id
    # Saved in the protocol's own write, one notification after the other.
    assert claim.id not in {outcome.id, police}


def store_a_legacy_protocol(system: System, police: UUID, jurisdiction: dict[str, str]) -> UUID:
    """A protocol as the earlier code stored it: at its deterministic id, with no claim."""
    with acting_as(STAFF):
        protocol = ReportingProtocol.establish(
            ReportingProtocol.legacy_id_for(police, jurisdiction), police, jurisdiction, [SERGEANT]
        )
        system.app.save(protocol)
    system.projector.catch_up()
    return protocol.id


def test_a_protocol_stored_with_its_old_id_keeps_it_and_still_counts(system: System) -> None:
    police = a_police_service(system)
    old = store_a_legacy_protocol(
        system, police, {"province": "CA-NS", "municipality": "Example Harbour"}
    )

    with acting_as(STAFF):
        revised = system.app.revise_protocol_contacts(
            a_key(), old, [CONSTABLE], "Fictional: new unit lead."
        )
        with pytest.raises(ProtocolExists):
            system.app.establish_reporting_protocol(
                a_key(), police, "CA-NS", "EXAMPLE HARBOUR", [CONSTABLE]
            )
    system.projector.catch_up()

    assert (revised.id, revised.version) == (old, 2)
    assert system.app.protocol_agency(old) == police
    doc = system.protocols.get(str(old), str(police))
    assert doc is not None and doc["contacts"] == [CONSTABLE]
    assert established(system, police) == [(old, "Example Harbour")]


class RacedByAnOlderProcess(DirectoryUseCases):
    """A process on the current code, raced by one still on the earlier code (``older``):
    right after this one finds no protocol at the old id, the older one stores it there."""

    name = DirectoryUseCases.name  # the name picks the tables
    older: System
    jurisdiction: dict[str, str]

    def _absent(self, aggregate_id: UUID) -> bool:
        answer = super()._absent(aggregate_id)
        agency = self.older_agency
        if answer and aggregate_id == ReportingProtocol.legacy_id_for(agency, self.jurisdiction):
            store_a_legacy_protocol(self.older, agency, self.jurisdiction)
        return answer

    older_agency: UUID


def test_an_older_process_storing_the_old_protocol_meanwhile_refuses_the_new_one(
    system: System,
) -> None:
    """During an upgrade, a process still on the earlier code stores the protocol at its old
    id after this command looked and before it wrote: the write is refused, and the command,
    going round again, finds the protocol."""
    police = a_police_service(system)
    jurisdiction = {"province": "CA-NS", "municipality": "Example Harbour"}
    app = RacedByAnOlderProcess(
        env=system.settings.event_store_env(), claim_key=b"fictional claim key for the tests"
    )
    app.older, app.older_agency, app.jurisdiction = system, police, jurisdiction
    try:
        with acting_as(STAFF), pytest.raises(ProtocolExists):
            app.establish_reporting_protocol(
                a_key(), police, "CA-NS", "Example Harbour", [CONSTABLE]
            )
    finally:
        app.close()

    legacy = ReportingProtocol.legacy_id_for(police, jurisdiction)
    assert established(system, police) == [(legacy, "Example Harbour")]
