"""The session table on each store: a session lives its idle and absolute lifetimes (by the
role it serves, as the role is now), ends at sign-out or everywhere at once, keeps only a
digest of its id, and seals the provider's tokens to its own row; a sign-in attempt is used
once, within its time, and their number is bounded."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography.exceptions import InvalidTag

from api.signin import sessions as sessions_module
from api.signin.sessions import ATTEMPT_SECONDS, Sealer, Sessions, digest
from api.signin.web import SESSION_KEY_LABEL
from api.wiring import System
from domain.rules import session_lifetimes

STAFF = session_lifetimes("staff")
PARTNER = session_lifetimes("partner")


class Clock:
    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta).total_seconds()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sessions(system: System, clock: Clock) -> Sessions:
    sealer = Sealer(system.vault.derived_key(SESSION_KEY_LABEL))
    return Sessions(system.access.store, sealer, clock)


def start(
    sessions: Sessions, member: str = "member-1", lifetimes: tuple[timedelta, timedelta] = STAFF
) -> str:
    return sessions.start(member, lifetimes, ["pwd", "otp"], None, True, {"access_token": "t"})


def test_a_session_used_keeps_living_and_one_left_idle_ends(
    sessions: Sessions, clock: Clock
) -> None:
    used, idle = start(sessions), start(sessions)
    for _ in range(4):  # an hour, a request every 14 minutes
        clock.advance(minutes=14)
        session = sessions.find(used)
        assert session is not None
        sessions.touch(session, STAFF)
    assert sessions.find(used) is not None
    assert sessions.find(idle) is None


def test_a_session_ends_at_its_absolute_lifetime_however_busy(
    sessions: Sessions, clock: Clock
) -> None:
    opaque = start(sessions)
    for _ in range(8 * 6 - 1):
        clock.advance(minutes=10)
        session = sessions.find(opaque)
        assert session is not None
        sessions.touch(session, STAFF)
    clock.advance(minutes=10)
    assert sessions.find(opaque) is None


def test_a_partner_session_outlives_a_staff_one_and_a_promotion_shortens_it(
    sessions: Sessions, clock: Clock
) -> None:
    partner, staff = start(sessions, lifetimes=PARTNER), start(sessions, lifetimes=STAFF)
    clock.advance(minutes=30)
    found = sessions.find(partner)
    assert found is not None and sessions.find(staff) is None
    # Promoted to staff: the next use moves it to staff's lifetimes (15 minutes idle, 8 hours).
    sessions.touch(found, STAFF)
    promoted = sessions.find(partner)
    assert promoted is not None
    assert promoted.absolute_expires_at == promoted.created_at + 8 * 3600
    clock.advance(minutes=16)
    assert sessions.find(partner) is None


def test_signing_out_ends_one_session_and_everywhere_ends_all_of_the_member(
    sessions: Sessions,
) -> None:
    first, second, third = start(sessions), start(sessions), start(sessions)
    other = start(sessions, member="member-2")

    assert sessions.end(first, "signed out") is True
    assert sessions.end(first, "signed out") is False
    assert sessions.find(first) is None and sessions.find(second) is not None

    assert sessions.end_all("member-1", "signed out everywhere") == 2
    assert sessions.find(second) is None and sessions.find(third) is None
    assert sessions.find(other) is not None


def test_the_table_keeps_a_digest_and_sealed_tokens_bound_to_their_row(
    sessions: Sessions,
) -> None:
    opaque = start(sessions)
    with sessions.store.read() as cursor:
        cursor.execute("SELECT digest, provider_tokens FROM signin_sessions")
        [(stored, sealed)] = cursor.fetchall()
    assert stored == digest(opaque) and opaque not in f"{stored}{sealed}"
    session = sessions.find(opaque)
    assert session is not None
    assert sessions.provider_tokens(session) == {"access_token": "t"}
    # The sealed tokens moved to another row do not open there.
    another = sessions.find(start(sessions))
    assert another is not None
    with sessions.store.transaction() as cursor:
        cursor.execute(
            "UPDATE signin_sessions SET provider_tokens = %s WHERE digest = %s",
            (sealed, another.digest),
        )
    with pytest.raises(InvalidTag):
        sessions.provider_tokens(another)
    # An ended session keeps no token.
    sessions.end(opaque, "signed out")
    assert sessions.provider_tokens(session) is None


def test_an_unknown_or_absurd_id_finds_nothing(sessions: Sessions) -> None:
    start(sessions)
    for opaque in ("", "forged", "x" * 10_000, "' OR 1=1 --"):
        assert sessions.find(opaque) is None


def test_a_sign_in_attempt_is_used_once_and_only_in_time(sessions: Sessions, clock: Clock) -> None:
    doc = {"state": "s", "nonce": "n", "code_verifier": "v"}
    first = sessions.begin_attempt(doc)
    assert first is not None
    assert sessions.take_attempt(first) == doc
    assert sessions.take_attempt(first) is None

    late = sessions.begin_attempt(doc)
    assert late is not None
    clock.advance(seconds=ATTEMPT_SECONDS + 1)
    assert sessions.take_attempt(late) is None
    assert sessions.take_attempt("forged") is None


def test_sign_ins_under_way_are_bounded(
    sessions: Sessions, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sessions_module, "MAX_ATTEMPTS", 3)
    doc = {"state": "s", "nonce": "n", "code_verifier": "v"}
    assert all(sessions.begin_attempt(doc) for _ in range(3))
    assert sessions.begin_attempt(doc) is None
    clock.advance(seconds=ATTEMPT_SECONDS + 1)  # the expired make room
    assert sessions.begin_attempt(doc) is not None


def test_rows_are_kept_a_while_past_their_end_then_deleted_as_sessions_start(
    sessions: Sessions, clock: Clock
) -> None:
    old = start(sessions, member="member-old")
    clock.advance(hours=8, days=29)
    start(sessions)
    assert rows(sessions) == 2
    clock.advance(days=1, seconds=1)
    start(sessions)
    assert rows(sessions) == 2 and sessions.find(old) is None


def rows(sessions: Sessions) -> int:
    with sessions.store.read() as cursor:
        cursor.execute("SELECT count(*) FROM signin_sessions")
        return int(cursor.fetchone()[0])
