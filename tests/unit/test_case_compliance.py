"""Legal hold and erasure on a hotline case: given past events, when a command, then new events
or a named refusal.

Holds and erasure are a supervisor's, always with a reason. A hold blocks erasure until it is
released; erasure records no data, empties every sealed value the case kept, and stops any
further disclosure. A disclosure names the policy version in force, and one stored before
policy versions were kept still loads.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any, cast
from uuid import UUID

import pytest
from eventsourcing.domain import Snapshot
from eventsourcing.persistence import StoredEvent

from domain.base import Actor, ReasonRequired, acting_as
from domain.case import (
    AlreadyErased,
    Case,
    DataErased,
    DisclosableField,
    Exception_,
    LegalHold,
    Need,
    RecipientKind,
    SupervisorRequired,
)
from domain.cases import CaseUseCases
from domain.vault import Vault

# The scenario grammar and the fictional world of the case scenarios.
from tests.helpers import EARLIER_STAFF, LONG_AGO, Fact, happened, refused
from tests.unit.test_case import (
    CASE_ID,
    CONSENT,
    DISCLOSURE,
    EARLIER_DISCLOSURE,
    HARBOUR_POLICE,
    HARBOUR_SHELTER,
    NOW,
    REFERRAL,
    SEALED_PERSONAL,
    closed,
    given,
    opened,
    referred_to_shelter,
    then,
)

REPORT_DISCLOSURE = UUID("00000000-0000-4000-8000-0000000000f3")
STAFF = Actor(
    "fictional-staff-1", "staff", request_id="req-fictional-1", policy_version="fictional-policy-v7"
)
SUPERVISOR = Actor(
    "fictional-supervisor-1",
    "supervisor",
    request_id="req-fictional-2",
    policy_version="fictional-policy-v7",
)
PARTNER = Actor("fictional-partner-1", "partner", str(HARBOUR_SHELTER), "req-fictional-3")
# Stand-ins for ciphertext (SEALED_PERSONAL too): the aggregate never sees more than these.
SEALED_COPY = "sealed-fictional-copy-for-the-shelter"
SEALED_REPORT_COPY = "sealed-fictional-copy-for-the-police"
SEALED = (SEALED_PERSONAL, SEALED_COPY, SEALED_REPORT_COPY)
HOLD = "Fictional: a court order preserves this case."
RELEASE = "Fictional: the court order was lifted."
ERASE = "Fictional: the caller asked for their data to be erased."
BLANK = ["", "   \n\t "]

# -- given ---------------------------------------------------------------------------------


def consented(scope: str, recipient: UUID | None) -> Fact:
    return happened(
        Case.ConsentGranted,
        consent_id=str(CONSENT),
        scope=scope,
        recipient_id=None if recipient is None else str(recipient),
        given_by="CALLER",
        method="VERBAL",
        expires_at=None,
    )


def disclosed(disclosure: UUID, kind: str, recipient: UUID, sealed_copy: str) -> Fact:
    return happened(
        Case.InformationDisclosed,
        disclosure_id=str(disclosure),
        recipient_kind=kind,
        recipient_id=str(recipient),
        fields=["CALLER_NAME", "CALLER_PHONE"],
        consent_id=str(CONSENT),
        exception=None,
        justification="",
        sealed_copy=sealed_copy,
        policy_version="fictional-policy-v6",
    )


def a_case_shared_with_the_shelter_and_the_police() -> list[Fact]:
    return [
        opened(),
        consented("SHARE_WITH_ORGANIZATION", HARBOUR_SHELTER),
        disclosed(EARLIER_DISCLOSURE, "ORGANIZATION", HARBOUR_SHELTER, SEALED_COPY),
        referred_to_shelter(),
        disclosed(REPORT_DISCLOSURE, "LAW_ENFORCEMENT", HARBOUR_POLICE, SEALED_REPORT_COPY),
    ]


def held() -> Fact:
    return happened(Case.LegalHoldPlaced, reason=HOLD)


def released() -> Fact:
    return happened(Case.LegalHoldReleased, reason=RELEASE)


def erased() -> Fact:
    return happened(Case.PersonalDataErased, reason=ERASE)


def strings_in(value: Any) -> Iterator[str]:
    """Every text anywhere inside a (nested) value: keys, items and attributes' values."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings_in(key)
            yield from strings_in(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from strings_in(item)


def ciphertext_in(value: Any) -> list[str]:
    return [text for text in strings_in(value) if any(sealed in text for sealed in SEALED)]


@pytest.fixture
def staff_actor() -> Actor:
    return STAFF  # the ``staff`` fixture's, with the policy version in force


@pytest.fixture
def supervisor_actor() -> Actor:
    return SUPERVISOR


# -- legal hold ----------------------------------------------------------------------------


def test_a_supervisor_places_a_legal_hold_with_a_reason(supervisor: Actor) -> None:
    case = given(opened())

    case.place_legal_hold(f"  {HOLD}  ")

    [event] = then(case)
    assert type(event) is Case.LegalHoldPlaced
    assert (event.reason, event.actor_id, event.actor_role) == (
        HOLD,
        "fictional-supervisor-1",
        "supervisor",
    )
    assert case.legal_hold == {
        "at": event.timestamp,
        "by": "fictional-supervisor-1",
        "reason": HOLD,
    }


@pytest.mark.parametrize("actor", [STAFF, PARTNER], ids=["staff", "partner"])
def test_only_a_supervisor_places_a_legal_hold(actor: Actor) -> None:
    case = given(opened())

    with acting_as(actor):
        refused(case, SupervisorRequired, lambda: case.place_legal_hold(HOLD), match="supervisor")
    assert case.legal_hold is None


@pytest.mark.parametrize("reason", BLANK)
def test_a_legal_hold_needs_a_reason(supervisor: Actor, reason: str) -> None:
    case = given(opened())

    refused(case, ReasonRequired, lambda: case.place_legal_hold(reason))
    assert case.legal_hold is None


def test_a_legal_hold_cannot_be_placed_twice(supervisor: Actor) -> None:
    case = given(opened(), held())

    refused(
        case,
        LegalHold,
        lambda: case.place_legal_hold("Fictional: a second order."),
        match="already",
    )
    assert case.legal_hold is not None and case.legal_hold["reason"] == HOLD


def test_a_legal_hold_can_be_placed_on_a_closed_case(supervisor: Actor) -> None:
    case = given(opened(), closed())

    case.place_legal_hold(HOLD)

    assert [type(e) for e in then(case)] == [Case.LegalHoldPlaced]


def test_a_supervisor_releases_a_legal_hold_with_a_reason(supervisor: Actor) -> None:
    case = given(opened(), held())

    case.release_legal_hold(f" {RELEASE} ")

    [event] = then(case)
    assert type(event) is Case.LegalHoldReleased
    assert (event.reason, event.actor_id) == (RELEASE, "fictional-supervisor-1")
    assert case.legal_hold is None


@pytest.mark.parametrize("actor", [STAFF, PARTNER], ids=["staff", "partner"])
def test_only_a_supervisor_releases_a_legal_hold(actor: Actor) -> None:
    case = given(opened(), held())

    with acting_as(actor):
        refused(
            case, SupervisorRequired, lambda: case.release_legal_hold(RELEASE), match="supervisor"
        )
    assert case.legal_hold is not None


@pytest.mark.parametrize("reason", BLANK)
def test_releasing_a_legal_hold_needs_a_reason(supervisor: Actor, reason: str) -> None:
    case = given(opened(), held())

    refused(case, ReasonRequired, lambda: case.release_legal_hold(reason))
    assert case.legal_hold is not None


@pytest.mark.parametrize(
    "history", [[opened()], [opened(), held(), released()]], ids=["never-held", "already-released"]
)
def test_there_is_no_legal_hold_to_release(supervisor: Actor, history: list[Fact]) -> None:
    case = given(*history)

    refused(case, LegalHold, lambda: case.release_legal_hold(RELEASE), match="no legal hold")


def test_a_released_legal_hold_can_be_placed_again(supervisor: Actor) -> None:
    case = given(opened(), held(), released())

    case.place_legal_hold("Fictional: a new court order.")

    assert case.legal_hold is not None
    assert case.legal_hold["reason"] == "Fictional: a new court order."


# -- erasure -------------------------------------------------------------------------------


def test_a_supervisor_erases_a_callers_personal_data_with_a_reason(supervisor: Actor) -> None:
    case = given(*a_case_shared_with_the_shelter_and_the_police())

    case.erase_personal_data(f"  {ERASE} ")

    [event] = then(case)
    assert type(event) is Case.PersonalDataErased
    assert (event.reason, event.actor_id, event.actor_role, event.request_id) == (
        ERASE,
        "fictional-supervisor-1",
        "supervisor",
        "req-fictional-2",
    )
    assert case.erased_at == event.timestamp
    assert case.sealed_personal == ""
    assert {d["id"]: d["sealedCopy"] for d in case.disclosures.values()} == {
        str(EARLIER_DISCLOSURE): "",
        str(REPORT_DISCLOSURE): "",
    }


def test_the_erasure_event_holds_the_reason_and_no_data(supervisor: Actor) -> None:
    case = given(*a_case_shared_with_the_shelter_and_the_police())

    case.erase_personal_data(ERASE)

    [event] = then(case)
    assert set(vars(event)) == {
        "originator_id",
        "originator_version",
        "timestamp",
        "actor_id",
        "actor_role",
        "request_id",
        "reason",
    }
    assert ciphertext_in(vars(event)) == []


def test_after_erasure_the_case_holds_no_ciphertext_anywhere(supervisor: Actor) -> None:
    case = given(*a_case_shared_with_the_shelter_and_the_police())
    assert len(ciphertext_in(vars(case))) == 3  # the check sees the sealed values it seeks

    case.erase_personal_data(ERASE)

    assert ciphertext_in(vars(case)) == []


def test_a_snapshot_of_an_erased_case_holds_no_ciphertext_and_loads(supervisor: Actor) -> None:
    case = given(*a_case_shared_with_the_shelter_and_the_police(), erased())

    snapshot = Snapshot.take(case)

    assert ciphertext_in(snapshot.state) == []
    restored = snapshot.mutate(None)
    assert isinstance(restored, Case)
    assert (restored.erased_at, restored.sealed_personal, restored.version) == (
        case.erased_at,
        "",
        case.version,
    )
    assert list(restored.referrals) == [str(REFERRAL)]


def test_the_rest_of_an_erased_case_stays_as_it_was(supervisor: Actor) -> None:
    before = given(*a_case_shared_with_the_shelter_and_the_police())
    case = given(*a_case_shared_with_the_shelter_and_the_police(), erased())

    assert (case.details, case.consents, case.referrals, case.open) == (
        before.details,
        before.consents,
        before.referrals,
        before.open,
    )
    assert [
        {k: v for k, v in d.items() if k != "sealedCopy"} for d in case.disclosures.values()
    ] == [{k: v for k, v in d.items() if k != "sealedCopy"} for d in before.disclosures.values()]


@pytest.mark.parametrize("actor", [STAFF, PARTNER], ids=["staff", "partner"])
def test_only_a_supervisor_erases_personal_data(actor: Actor) -> None:
    case = given(opened())

    with acting_as(actor):
        refused(
            case, SupervisorRequired, lambda: case.erase_personal_data(ERASE), match="supervisor"
        )
    assert (case.erased_at, case.sealed_personal) == (None, SEALED_PERSONAL)


@pytest.mark.parametrize("reason", BLANK)
def test_erasure_needs_a_reason(supervisor: Actor, reason: str) -> None:
    case = given(opened())

    refused(case, ReasonRequired, lambda: case.erase_personal_data(reason))
    assert (case.erased_at, case.sealed_personal) == (None, SEALED_PERSONAL)


def test_a_legal_hold_blocks_erasure(supervisor: Actor) -> None:
    case = given(*a_case_shared_with_the_shelter_and_the_police(), held())

    refused(case, LegalHold, lambda: case.erase_personal_data(ERASE), match="released")

    assert (case.erased_at, case.sealed_personal) == (None, SEALED_PERSONAL)
    assert case.disclosures[str(EARLIER_DISCLOSURE)]["sealedCopy"] == SEALED_COPY


def test_a_released_legal_hold_no_longer_blocks_erasure(supervisor: Actor) -> None:
    case = given(opened(), held(), released())

    case.erase_personal_data(ERASE)

    assert [type(e) for e in then(case)] == [Case.PersonalDataErased]
    assert case.erased_at is not None


def test_personal_data_cannot_be_erased_twice(supervisor: Actor) -> None:
    case = given(opened(), erased())

    refused(
        case,
        AlreadyErased,
        lambda: case.erase_personal_data("Fictional: once more."),
        match="already erased",
    )


def test_a_closed_case_can_be_erased(supervisor: Actor) -> None:
    case = given(opened(), closed())

    case.erase_personal_data(ERASE)

    assert [type(e) for e in then(case)] == [Case.PersonalDataErased]
    assert (case.open, case.sealed_personal) == (False, "")


# -- after erasure -------------------------------------------------------------------------

WHAT_MIGHT_LEAVE: dict[
    str, tuple[Actor, RecipientKind, UUID | None, list[DisclosableField], Exception_ | None]
] = {
    "caller-data-on-consent": (
        STAFF,
        RecipientKind.ORGANIZATION,
        HARBOUR_SHELTER,
        [DisclosableField.CALLER_NAME],
        None,
    ),
    "details-only-on-consent": (
        STAFF,
        RecipientKind.ORGANIZATION,
        HARBOUR_SHELTER,
        [DisclosableField.LOCATION, DisclosableField.NEEDS],
        None,
    ),
    "under-an-exception": (
        SUPERVISOR,
        RecipientKind.EMERGENCY_SERVICES,
        None,
        [DisclosableField.CALLER_PHONE],
        Exception_.IMMINENT_HARM,
    ),
}


@pytest.mark.parametrize("what", WHAT_MIGHT_LEAVE.values(), ids=WHAT_MIGHT_LEAVE.keys())
def test_nothing_more_can_be_disclosed_from_an_erased_case(
    what: tuple[Actor, RecipientKind, UUID | None, list[DisclosableField], Exception_ | None],
) -> None:
    actor, kind, recipient, fields, exception = what
    case = given(opened(), consented("SHARE_WITH_ORGANIZATION", HARBOUR_SHELTER), erased())

    with acting_as(actor):
        refused(
            case,
            DataErased,
            lambda: case.disclose(
                DISCLOSURE,
                kind,
                recipient,
                fields,
                exception,
                "Fictional: a threat tonight.",
                SEALED_COPY,
                NOW,
            ),
            match="erased",
        )
    assert case.disclosures == {}


def test_a_referral_that_sends_nothing_is_still_made_for_an_erased_case(staff: Actor) -> None:
    case = given(opened(), erased())

    case.refer(REFERRAL, HARBOUR_SHELTER, "PHONE", [Need.SHELTER], None)

    [event] = then(case)
    assert type(event) is Case.ReferralMade
    assert event.disclosure_id is None


def test_an_erased_case_can_still_be_worked_and_closed(staff: Actor) -> None:
    case = given(opened(), erased())

    case.update_details({"urgency": "LOW"})
    case.close("Fictional: the caller is safe.")

    assert [type(e) for e in then(case)] == [Case.DetailsUpdated, Case.Closed]
    assert case.erased_at is not None


# -- the policy version of a disclosure ------------------------------------------------------


def test_a_disclosure_records_the_policy_version_of_the_acting_user(staff: Actor) -> None:
    case = given(opened(), consented("SHARE_WITH_ORGANIZATION", HARBOUR_SHELTER))

    case.disclose(
        DISCLOSURE,
        RecipientKind.ORGANIZATION,
        HARBOUR_SHELTER,
        [DisclosableField.CALLER_NAME],
        None,
        "",
        SEALED_COPY,
        NOW,
    )

    [event] = then(case)
    assert event.policy_version == "fictional-policy-v7"
    assert case.disclosures[str(DISCLOSURE)]["policyVersion"] == "fictional-policy-v7"


def test_a_disclosure_by_a_user_without_a_policy_version_records_none() -> None:
    case = given(opened(), consented("SHARE_WITH_ORGANIZATION", HARBOUR_SHELTER))

    with acting_as(Actor("fictional-staff-2", "staff")):
        case.disclose(
            DISCLOSURE,
            RecipientKind.ORGANIZATION,
            HARBOUR_SHELTER,
            [DisclosableField.CALLER_NAME],
            None,
            "",
            SEALED_COPY,
            NOW,
        )

    [event] = then(case)
    assert event.policy_version == ""


class NoVault:
    """Reading stored events never seals or opens anything: a vault that refuses to."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the vault was asked to {name}")


@pytest.fixture
def app() -> Iterator[CaseUseCases]:
    """The hotline's application on the in-memory store: its own mapper and transcoder."""
    application = CaseUseCases(
        {"PERSISTENCE_MODULE": "eventsourcing.popo"}, vault=cast(Vault, NoVault())
    )
    yield application
    application.close()


def stored(
    app: CaseUseCases, fact: Fact, version: int, *, drop: tuple[str, ...] = ()
) -> StoredEvent:
    """The fact as the store holds it, minus the named keys of its encoded state."""
    event_class, fields = fact
    event = event_class(
        originator_id=CASE_ID,
        originator_version=version,
        timestamp=LONG_AGO + timedelta(days=version),
        **EARLIER_STAFF,
        **fields,
    )
    current = app.mapper.to_stored_event(event)
    assert app.mapper.cipher is None and app.mapper.compressor is None
    state = app.mapper.transcoder.decode(current.state)
    for key in drop:
        del state[key]
    return StoredEvent(
        originator_id=current.originator_id,
        originator_version=current.originator_version,
        topic=current.topic,
        state=app.mapper.transcoder.encode(state),
    )


def test_a_disclosure_is_stored_as_version_3_with_its_policy_version(app: CaseUseCases) -> None:
    # v3 (the minorInvolved value sent) came after v2 (the policy version).
    fact = disclosed(EARLIER_DISCLOSURE, "ORGANIZATION", HARBOUR_SHELTER, SEALED_COPY)

    state = app.mapper.transcoder.decode(stored(app, fact, 2).state)

    assert (state["class_version"], state["policy_version"]) == (3, "fictional-policy-v6")
    assert state["minor_involved_sent"] is None


def test_a_disclosure_stored_before_the_minor_value_sent_loads_as_telling_none(
    app: CaseUseCases,
) -> None:
    fact = (
        Case.InformationDisclosed,
        {
            **disclosed(REPORT_DISCLOSURE, "LAW_ENFORCEMENT", HARBOUR_POLICE, SEALED_REPORT_COPY)[
                1
            ],
            "fields": ["MINOR_INVOLVED"],
            "minor_involved_sent": "YES",
        },
    )
    old = stored(app, fact, 2, drop=("minor_involved_sent",))
    state = app.mapper.transcoder.decode(old.state)
    state["class_version"] = 2  # as a v2 disclosure was stored
    old = StoredEvent(
        originator_id=old.originator_id,
        originator_version=old.originator_version,
        topic=old.topic,
        state=app.mapper.transcoder.encode(state),
    )
    assert b"minor_involved_sent" not in old.state
    app.recorder.insert_events([stored(app, opened(), 1), old])

    case: Case = app.repository.get(CASE_ID)

    disclosure = case.disclosures[str(REPORT_DISCLOSURE)]
    # Not known without opening the sealed copy: never taken to have told of a minor.
    assert disclosure["minorInvolvedSent"] is None
    assert disclosure["fields"] == ["MINOR_INVOLVED"]
    [event] = app.events.get(CASE_ID, gt=1)
    assert isinstance(event, Case.InformationDisclosed) and event.minor_involved_sent is None


def test_a_disclosure_stored_before_policy_versions_loads_with_none(app: CaseUseCases) -> None:
    old = stored(
        app,
        disclosed(EARLIER_DISCLOSURE, "ORGANIZATION", HARBOUR_SHELTER, SEALED_COPY),
        2,
        drop=("policy_version", "class_version"),
    )
    assert b"policy_version" not in old.state and b"class_version" not in old.state
    app.recorder.insert_events([stored(app, opened(), 1), old])

    case: Case = app.repository.get(CASE_ID)

    disclosure = case.disclosures[str(EARLIER_DISCLOSURE)]
    assert disclosure["policyVersion"] == ""
    assert (disclosure["fields"], disclosure["sealedCopy"], disclosure["consentId"]) == (
        ["CALLER_NAME", "CALLER_PHONE"],
        SEALED_COPY,
        str(CONSENT),
    )
    [event] = app.events.get(CASE_ID, gt=1)
    assert isinstance(event, Case.InformationDisclosed)
    assert event.policy_version == ""
