"""Memberships and service accounts told through GraphQL, on both stores: a supervisor invites
staff, who sign in and stand as the member named in every event; an organization's administrator
invites its own people and no one else; a suspension, or the organization's removal, ends a
member's standing at the very next request; a revoked service token is refused at the next
request, and a used one is listed with its last use."""

from __future__ import annotations

from typing import Any

from api.wiring import System
from domain.base import Actor, acting_as
from domain.organization import RemovalReason
from tests.e2e.conftest import Caller, seed

ISSUER = "https://id.example.org/realms/fictional"
INVITE = """mutation($key: String!, $input: InviteMemberInput!) {
  inviteMember(idempotencyKey: $key, input: $input) {
    memberId replayed member { id email role organizationId administrator status invitedBy } } }"""
SUSPEND = """mutation($key: String!, $id: ID!) {
  suspendMember(idempotencyKey: $key, id: $id, reason: "Fictional: laptop reported stolen") {
    member { status } } }"""
REINSTATE = """mutation($key: String!, $id: ID!) {
  reinstateMember(idempotencyKey: $key, id: $id, reason: "Fictional: laptop found") {
    member { status } } }"""
REVOKE = """mutation($key: String!, $id: ID!) {
  revokeMember(idempotencyKey: $key, id: $id, reason: "Fictional: left") { member { status } } }"""
MEMBERS = """query($org: ID) { members(organizationId: $org) {
  items { id email role status organizationId } pageInfo { hasNextPage } } }"""
AUDIT = """query($id: ID!) { auditTrail(recordId: $id) { items { type actorId actorRole } } }"""
ACCESS = """query($record: ID) { accessLog(recordId: $record) {
  items { userId recordType recordId fields } } }"""
CREATE_ACCOUNT = """mutation($key: String!, $input: CreateServiceAccountInput!) {
  createServiceAccount(idempotencyKey: $key, input: $input) { serviceAccountId } }"""
ISSUE = """mutation($key: String!, $id: ID!) {
  issueServiceToken(idempotencyKey: $key, serviceAccountId: $id) { tokenId token expiresAt } }"""
REVOKE_TOKEN = """mutation($key: String!, $id: ID!, $token: ID!) {
  revokeServiceToken(idempotencyKey: $key, serviceAccountId: $id, tokenId: $token,
                     reason: "Fictional: the bridge was retired") { version } }"""
ACCOUNTS = """{ serviceAccounts { id name role organizationId
  tokens { tokenId revoked lastUsedAt expiresAt } } }"""
DIRECTORY = "{ directory(first: 1) { totalCount } }"


def ok(caller: Caller, query: str, variables: dict[str, Any] | None = None) -> Any:
    body = caller.gql(query, variables)
    assert "errors" not in body, body
    return body["data"]


def refusal(caller: Caller, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    body = caller.gql(query, variables)
    assert body["data"] is None, body
    [error] = body["errors"]
    return dict(error["extensions"])


def invite(caller: Caller, key: str, email: str, role: str, **more: Any) -> dict[str, Any]:
    data = ok(
        caller, INVITE, {"key": f"fictional-{key}", "input": {"email": email, "role": role, **more}}
    )
    return dict(data["inviteMember"])


def signed_in(system: System, email: str, subject: str) -> str:
    member = system.members.on_sign_in(ISSUER, subject, email, True)
    assert member is not None
    return member.member_id


def test_a_supervisor_invites_staff_who_sign_in_as_the_member_events_name(
    system: System, as_role: Any
) -> None:
    supervisor = as_role("supervisor")
    invited = invite(supervisor, "k1", " Advocate.One@Example.org ", "STAFF")
    assert invited["member"]["status"] == "INVITED"
    assert invited["member"]["email"] == "advocate.one@example.org"
    member_id = invited["memberId"]

    # An unverified address, or another, binds nothing.
    assert system.members.on_sign_in(ISSUER, "s-1", "advocate.one@example.org", False) is None
    assert system.members.on_sign_in(ISSUER, "s-1", "someone@example.org", True) is None

    member = system.members.on_sign_in(ISSUER, "s-1", "ADVOCATE.ONE@example.org", True)
    assert member is not None
    assert (member.member_id, member.role, member.organization_id) == (member_id, "staff", None)
    # The next sign-in finds the member by the provider identity alone.
    assert system.members.on_sign_in(ISSUER, "s-1", None, False) == member
    assert system.members.current(member_id) == member

    # The member's own requests name them: their id is the actor id.
    staff = as_role("staff", user=member_id)
    ok(staff, DIRECTORY)
    compliance = as_role("compliance")
    trail = ok(compliance, AUDIT, {"id": member_id})["auditTrail"]["items"]
    assert [(e["type"], e["actorId"]) for e in trail] == [
        ("Membership.Invited", "fictional-supervisor-1"),
        ("Membership.Bound", member_id),
    ]
    # Reading the address is in the access log, by whom.
    listed = ok(supervisor, MEMBERS)["members"]["items"]
    assert [m["id"] for m in listed] == [member_id]
    entries = ok(compliance, ACCESS, {"record": member_id})["accessLog"]["items"]
    assert ("fictional-supervisor-1", "Member", ["email"]) in [
        (e["userId"], e["recordType"], e["fields"]) for e in entries
    ]


def test_staff_invite_no_one(system: System, as_role: Any) -> None:
    body = as_role("staff").gql(
        INVITE, {"key": "fictional-k", "input": {"email": "a@example.org", "role": "STAFF"}}
    )
    assert body["data"] is None and body["errors"]
    assert system.memberships.page(None, 10, None) == []


def test_an_administrator_invites_its_own_people_and_no_one_else(
    system: System, as_role: Any
) -> None:
    harbour = seed(system, "Example Harbour Shelter")
    other = seed(system, "Example Other Shelter")
    supervisor = as_role("supervisor")
    invite(
        supervisor,
        "k-admin",
        "admin@harbour.example.org",
        "PARTNER",
        organizationId=str(harbour),
        administrator=True,
    )
    admin_id = signed_in(system, "admin@harbour.example.org", "s-admin")
    admin = as_role("partner", harbour, user=admin_id)

    invited = invite(
        admin, "k-p", "worker@harbour.example.org", "PARTNER", organizationId=str(harbour)
    )
    assert invited["member"]["invitedBy"] == admin_id
    for refused_input in (
        {"email": "w@other.example.org", "role": "PARTNER", "organizationId": str(other)},
        {"email": "w@harbour.example.org", "role": "STAFF"},
        {
            "email": "w@harbour.example.org",
            "role": "LAW_ENFORCEMENT",
            "organizationId": str(harbour),
        },
    ):
        body = admin.gql(
            INVITE, {"key": f"fictional-k-{refused_input['email']}", "input": refused_input}
        )
        assert body["data"] is None
        assert body["errors"][0]["extensions"]["code"] in {"INVITATION_REFUSED", "NOT_FOUND"}

    # The administrator reads its own organization's people, never another's.
    own = ok(admin, MEMBERS)["members"]["items"]
    assert {m["organizationId"] for m in own} == {str(harbour)}
    assert ok(admin, MEMBERS, {"org": str(other)})["members"]["items"] == []

    # A partner who is no administrator invites no one.
    worker_id = signed_in(system, "worker@harbour.example.org", "s-worker")
    worker = as_role("partner", harbour, user=worker_id)
    body = worker.gql(
        INVITE,
        {
            "key": "fictional-k-w",
            "input": {
                "email": "x@harbour.example.org",
                "role": "PARTNER",
                "organizationId": str(harbour),
            },
        },
    )
    assert body["errors"][0]["extensions"]["code"] == "INVITATION_REFUSED"
    # Nor does it suspend a colleague; the administrator can.
    assert refusal(worker, SUSPEND, {"key": "fictional-k-s", "id": admin_id})["code"] == "NOT_FOUND"
    ok(admin, SUSPEND, {"key": "fictional-k-s2", "id": worker_id})
    assert system.members.current(worker_id) is None


def test_a_suspension_holds_at_the_very_next_request(system: System, as_role: Any) -> None:
    supervisor = as_role("supervisor")
    member_id = invite(supervisor, "k1", "advocate.two@example.org", "STAFF")["memberId"]
    signed_in(system, "advocate.two@example.org", "s-2")
    assert system.members.current(member_id) is not None

    assert ok(supervisor, SUSPEND, {"key": "fictional-k2", "id": member_id})["suspendMember"][
        "member"
    ] == {"status": "SUSPENDED"}
    assert system.members.current(member_id) is None
    assert system.members.on_sign_in(ISSUER, "s-2", None, False) is None
    again = refusal(supervisor, SUSPEND, {"key": "fictional-k3", "id": member_id})
    assert again["code"] == "MEMBER_ALREADY_SUSPENDED"

    ok(supervisor, REINSTATE, {"key": "fictional-k4", "id": member_id})
    assert system.members.current(member_id) is not None
    ok(supervisor, REVOKE, {"key": "fictional-k5", "id": member_id})
    assert system.members.current(member_id) is None
    assert refusal(supervisor, REINSTATE, {"key": "fictional-k6", "id": member_id})["code"] == (
        "MEMBERSHIP_REVOKED"
    )


def test_an_organization_removed_ends_its_members_standing_at_once(
    system: System, as_role: Any
) -> None:
    harbour = seed(system, "Example Harbour Shelter")
    supervisor = as_role("supervisor")
    invite(supervisor, "k1", "p@harbour.example.org", "PARTNER", organizationId=str(harbour))
    member_id = signed_in(system, "p@harbour.example.org", "s-p")
    assert system.members.current(member_id) is not None

    with acting_as(Actor("fictional-supervisor-1", "supervisor", request_id="r")):
        outcome = system.app.remove_organization(
            "k-remove", harbour, RemovalReason.ORGANIZATION_REQUEST, "Fictional: closed"
        )
    system.read_your_writes(outcome.position, outcome.topics)

    assert system.members.current(member_id) is None
    assert system.members.on_sign_in(ISSUER, "s-p", None, False) is None


def test_an_organization_removed_ends_its_integrations_tokens_at_once(
    system: System, as_role: Any, client: Any
) -> None:
    harbour = seed(system, "Example Harbour Shelter")
    supervisor = as_role("supervisor")
    account_id = ok(
        supervisor,
        CREATE_ACCOUNT,
        {
            "key": "fictional-k1",
            "input": {
                "name": "Fictional bridge",
                "role": "PARTNER",
                "organizationId": str(harbour),
            },
        },
    )["createServiceAccount"]["serviceAccountId"]
    issued = ok(supervisor, ISSUE, {"key": "fictional-k2", "id": account_id})["issueServiceToken"]
    integration = Caller(client, issued["token"])
    ok(integration, DIRECTORY)

    with acting_as(Actor("fictional-supervisor-1", "supervisor", request_id="r")):
        outcome = system.app.remove_organization(
            "k-remove", harbour, RemovalReason.ORGANIZATION_REQUEST, "Fictional: closed"
        )
    system.read_your_writes(outcome.position, outcome.topics)

    assert integration.post(DIRECTORY).status_code == 401


def test_a_person_revoked_and_invited_again_signs_in_to_the_new_membership(
    system: System, as_role: Any
) -> None:
    supervisor = as_role("supervisor")
    first = invite(supervisor, "k1", "advocate.three@example.org", "STAFF")["memberId"]
    signed_in(system, "advocate.three@example.org", "s-3")
    ok(supervisor, REVOKE, {"key": "fictional-k2", "id": first})
    assert system.members.on_sign_in(ISSUER, "s-3", "advocate.three@example.org", True) is None

    second = invite(supervisor, "k3", "advocate.three@example.org", "COMPLIANCE")["memberId"]
    member = system.members.on_sign_in(ISSUER, "s-3", "advocate.three@example.org", True)
    assert member is not None and (member.member_id, member.role) == (second, "compliance")
    assert system.members.on_sign_in(ISSUER, "s-3", None, False) == member
    assert system.members.current(first) is None


def test_an_invitation_for_an_organization_not_included_is_refused(
    system: System, as_role: Any
) -> None:
    applicant = seed(system, "Example Applicant Shelter", included=False)
    refused = refusal(
        as_role("supervisor"),
        INVITE,
        {
            "key": "fictional-k",
            "input": {
                "email": "a@example.org",
                "role": "PARTNER",
                "organizationId": str(applicant),
            },
        },
    )
    assert refused["code"] == "INVITATION_REFUSED"


def test_a_revoked_service_token_is_refused_at_the_next_request(
    system: System, as_role: Any, client: Any
) -> None:
    harbour = seed(system, "Example Harbour Shelter")
    supervisor = as_role("supervisor")
    account_id = ok(
        supervisor,
        CREATE_ACCOUNT,
        {
            "key": "fictional-k1",
            "input": {
                "name": "Fictional case bridge",
                "role": "PARTNER",
                "organizationId": str(harbour),
            },
        },
    )["createServiceAccount"]["serviceAccountId"]
    issued = ok(supervisor, ISSUE, {"key": "fictional-k2", "id": account_id})["issueServiceToken"]
    # Shown once: the same key again writes nothing and shows nothing.
    assert refusal(supervisor, ISSUE, {"key": "fictional-k2", "id": account_id})["code"] == (
        "SERVICE_TOKEN_SHOWN_ONCE"
    )

    integration = Caller(client, issued["token"])
    ok(integration, DIRECTORY)
    ok(integration, DIRECTORY)
    [listed] = ok(supervisor, ACCOUNTS)["serviceAccounts"]
    assert (listed["id"], listed["role"], listed["organizationId"]) == (
        account_id,
        "PARTNER",
        str(harbour),
    )
    [token] = listed["tokens"]
    assert token["tokenId"] == issued["tokenId"]
    assert token["lastUsedAt"] is not None and not token["revoked"]

    ok(
        supervisor,
        REVOKE_TOKEN,
        {"key": "fictional-k3", "id": account_id, "token": issued["tokenId"]},
    )
    response = integration.post(DIRECTORY)
    assert response.status_code == 401
    [token] = ok(supervisor, ACCOUNTS)["serviceAccounts"][0]["tokens"]
    assert token["revoked"]


def test_service_accounts_are_supervisors_to_manage(as_role: Any) -> None:
    staff = as_role("staff")
    body = staff.gql(
        CREATE_ACCOUNT,
        {"key": "fictional-k", "input": {"name": "Fictional bridge", "role": "STAFF"}},
    )
    assert body["data"] is None


def test_a_supervisors_service_token_cannot_manage_members_or_mint_tokens(
    system: System, as_role: Any, client: Any
) -> None:
    supervisor = as_role("supervisor")
    account_id = ok(
        supervisor,
        CREATE_ACCOUNT,
        {
            "key": "fictional-k1",
            "input": {"name": "Fictional reporting bridge", "role": "SUPERVISOR"},
        },
    )["createServiceAccount"]["serviceAccountId"]
    issued = ok(supervisor, ISSUE, {"key": "fictional-k2", "id": account_id})["issueServiceToken"]
    integration = Caller(client, issued["token"])
    ok(integration, DIRECTORY)  # it may read what its role reads

    # But not grant: a leaked token cannot make its own successors nor invite anyone.
    attempts = [
        (
            CREATE_ACCOUNT,
            {"key": "fictional-k3", "input": {"name": "Fictional twin", "role": "SUPERVISOR"}},
        ),
        (ISSUE, {"key": "fictional-k4", "id": account_id}),
        (REVOKE_TOKEN, {"key": "fictional-k5", "id": account_id, "token": issued["tokenId"]}),
        (
            INVITE,
            {
                "key": "fictional-k6",
                "input": {"email": "fictional.stranger@example.org", "role": "SUPERVISOR"},
            },
        ),
    ]
    for query, variables in attempts:
        assert refusal(integration, query, variables)["code"] == "PERSON_REQUIRED"
    staff_id = invite(supervisor, "k7", "fictional.staff@example.org", "STAFF")["memberId"]
    assert refusal(integration, SUSPEND, {"key": "fictional-k8", "id": staff_id})["code"] == (
        "PERSON_REQUIRED"
    )

    # Nothing was written by the attempts: one account, its one token, one invitation.
    [listed] = ok(supervisor, ACCOUNTS)["serviceAccounts"]
    assert len(listed["tokens"]) == 1 and not listed["tokens"][0]["revoked"]
    assert [m["status"] for m in ok(supervisor, MEMBERS, {"org": None})["members"]["items"]] == [
        "INVITED"
    ]
