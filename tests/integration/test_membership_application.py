"""The membership and service-account use cases on real stores, SQLite and PostgreSQL: a rebuild
gives the rows following the log gave, the aside check leaves a token's last use out, and an
invitation refused writes nothing."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest

from api.infrastructure.aside import AsideRebuilder
from api.wiring import System
from domain.base import Actor, acting_as
from domain.membership import InvitationRefused, MemberRole
from tests.e2e.conftest import seed
from tests.helpers import STAFF, SUPERVISOR, a_key
from tests.integration.test_case_application import nothing_written

ISSUER = "https://id.example.org/realms/fictional"


def rows(system: System, table: str) -> list[Any]:
    with system.store.read() as cursor:
        return list(cursor.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall())  # noqa: S608


def test_a_rebuild_gives_the_memberships_and_tokens_following_the_log_gave(
    system: System,
) -> None:
    with acting_as(SUPERVISOR):
        member = system.app.invite_member(a_key(), "fictional.one@example.org", MemberRole.STAFF)
        system.app.invite_member(a_key(), "fictional.two@example.org", MemberRole.COMPLIANCE)
        account = system.app.create_service_account(a_key(), "Fictional bridge", MemberRole.STAFF)
        system.app.issue_service_token(a_key(), account.id, "fictional-token-1", 30)
        system.app.issue_service_token(a_key(), account.id, "fictional-token-2", 30)
        system.app.revoke_service_token(a_key(), account.id, "fictional-token-1", "Fictional")
    system.projector.catch_up()
    assert system.members.on_sign_in(ISSUER, "s-1", "fictional.one@example.org", True)
    with acting_as(SUPERVISOR):
        system.app.suspend_member(a_key(), member.id, "Fictional: a test")
    system.projector.catch_up()
    system.memberships.token_used("fictional-token-2", "2030-01-01T00:00:00.000000Z")

    followed = {t: rows(system, t) for t in ("members", "service_accounts", "service_tokens")}
    rebuilder = system.projector.rebuilder
    assert isinstance(rebuilder, AsideRebuilder)
    report = rebuilder.check(system.projector)
    assert report.differences == []

    system.projector.rebuild()
    assert {t: rows(system, t) for t in followed} == followed
    assert len(followed["members"]) == 2
    assert [bool(r[4]) for r in followed["service_tokens"]] == [True, False]


def test_an_invitation_refused_writes_nothing(system: System) -> None:
    for actor in (STAFF, Actor("fictional-partner-1", "partner", str(uuid4()))):
        with nothing_written(system), acting_as(actor), pytest.raises(InvitationRefused):
            system.app.invite_member(a_key(), "fictional@example.org", MemberRole.STAFF)


def test_an_included_organization_s_contact_is_invited_as_its_administrator(
    system: System,
) -> None:
    harbour = seed(system, "Example Harbour Shelter")
    agency = seed(system, "Example Police Service", kind="LAW_ENFORCEMENT_AGENCY")
    applicant = seed(system, "Example Applicant Shelter", included=False)
    with acting_as(STAFF):
        partner = system.app.invite_organization_administrator(
            a_key(), harbour, "contact@harbour.example.org"
        )
        liaison = system.app.invite_organization_administrator(
            a_key(), agency, "contact@police.example.org"
        )
    system.projector.catch_up()
    docs = [system.memberships.get(str(o.id)) for o in (partner, liaison)]
    assert [(d["role"], d["organizationId"], d["administrator"]) for d in docs if d] == [
        ("partner", str(harbour), True),
        ("law_enforcement", str(agency), True),
    ]
    with nothing_written(system), acting_as(STAFF), pytest.raises(InvitationRefused):
        system.app.invite_organization_administrator(a_key(), applicant, "c@example.org")
    outsider = Actor("fictional-partner-1", "partner", str(harbour))
    with nothing_written(system), acting_as(outsider), pytest.raises(InvitationRefused):
        system.app.invite_organization_administrator(a_key(), harbour, "c@example.org")
