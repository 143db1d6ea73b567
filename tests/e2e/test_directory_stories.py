"""The inclusion lifecycle told through GraphQL, with variables, as each role lives it."""

from __future__ import annotations

from typing import Any

from api.wiring import System
from tests.e2e.conftest import ALL_CRITERIA, fictional_profile, seed

APPLY = """mutation($key: String!, $input: ApplicationInput!) {
  applyForInclusion(idempotencyKey: $key, input: $input) { organizationId version replayed }
}"""
ORG = """query($id: ID!) { organization(id: $id) { id nameEn status publiclyListed
  history { what status actorRole note } } }"""
# Callers without a token must use random UUIDs as keys; fixed ones keep the stories readable.
KEYS = {n: f"6d0f3c1e-0000-4000-8000-{n:012d}" for n in range(1, 6)}
PUBLIC_ORG = "query($id: ID!) { organization(id: $id) { id nameEn nameFr } }"


def command(name: str, args: str = "", fields: str = "version organization { status }") -> str:
    extra = (
        ", " + ", ".join(f"{a.split(':')[0]}: ${a.split(':')[0]}" for a in args.split(",") if a)
        if args
        else ""
    )
    decl = "".join(f", ${a.strip()}" for a in args.split(",") if a)
    return (
        f"mutation($key: String!, $id: ID!{decl}) "
        f"{{ {name}(idempotencyKey: $key, id: $id{extra}) {{ {fields} }} }}"
    )


def application(name: str = "Example Story Shelter", **changes: Any) -> dict[str, Any]:
    return {
        "profile": fictional_profile(name, **changes),
        "criteria": ALL_CRITERIA,
        "publicListing": True,
    }


def events(system: System) -> int:
    return system.app.recorder.max_notification_id() or 0


def test_an_applicant_is_reviewed_approved_and_then_found_by_the_public(as_role: Any) -> None:
    public, staff = as_role("public"), as_role("staff")
    applied = public.gql(APPLY, {"key": KEYS[1], "input": application()})
    org = applied["data"]["applyForInclusion"]["organizationId"]
    assert public.gql(PUBLIC_ORG, {"id": org})["data"]["organization"] is None

    reviewed = staff.gql(command("startReview"), {"key": "story-review-01", "id": org})
    assert reviewed["data"]["startReview"]["organization"]["status"] == "UNDER_REVIEW"
    asked = staff.gql(
        command("requestMoreInformation", "questions: String!"),
        {"key": "story-ask-0001", "id": org, "questions": "Hours? (fictional)"},
    )
    assert asked["data"]["requestMoreInformation"]["organization"]["status"] == (
        "INFORMATION_REQUESTED"
    )
    answered = staff.gql(
        command("provideInformation", "answers: String!"),
        {"key": "story-answer-01", "id": org, "answers": "24/7 (fictional)"},
    )
    assert answered["data"]["provideInformation"]["organization"]["status"] == (
        "INFORMATION_PROVIDED"
    )
    staff.gql(command("startReview"), {"key": "story-review-02", "id": org})
    approved = staff.gql(
        command("approveInclusion", "note: String!"),
        {"key": "story-approve-1", "id": org, "note": "meets criteria"},
    )
    # Read-your-writes: the response already reflects the approval.
    assert approved["data"]["approveInclusion"]["organization"]["status"] == "INCLUDED"

    found = public.gql(PUBLIC_ORG, {"id": org})["data"]["organization"]
    assert found["nameEn"] == "Example Story Shelter"
    history = staff.gql(ORG, {"id": org})["data"]["organization"]["history"]
    assert [h["what"] for h in history] == [
        "SUBMITTED",
        "UNDER_REVIEW",
        "INFORMATION_REQUESTED",
        "INFORMATION_PROVIDED",
        "UNDER_REVIEW",
        "INCLUDED",
    ]
    assert {h["actorRole"] for h in history[1:]} == {"staff"}


def test_a_repeated_idempotency_key_returns_the_first_result_and_writes_nothing(
    system: System, as_role: Any
) -> None:
    public = as_role("public")
    first = public.gql(APPLY, {"key": KEYS[2], "input": application()})
    before = events(system)
    again = public.gql(APPLY, {"key": KEYS[2], "input": application()})
    assert (
        again["data"]["applyForInclusion"]["organizationId"]
        == (first["data"]["applyForInclusion"]["organizationId"])
    )
    assert again["data"]["applyForInclusion"]["replayed"] is True
    assert events(system) == before
    reused = public.gql(APPLY, {"key": KEYS[2], "input": application("Other Name")})
    assert reused["errors"][0]["extensions"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert events(system) == before


def test_a_partner_updates_its_profile_and_staff_accept_it(system: System, as_role: Any) -> None:
    org = seed(system, "Example Partner Shelter")
    partner, staff = as_role("partner", org), as_role("staff")
    profile = fictional_profile("Example Partner Shelter Renamed")
    submitted = partner.gql(
        "mutation($key: String!, $id: ID!, $p: ProfileInput!) { submitProfileUpdate("
        "idempotencyKey: $key, id: $id, profile: $p) { organization { nameEn "
        "pendingProfileUpdate { profile { nameEn } } } } }",
        {"key": "story-update-01", "id": str(org), "p": profile},
    )
    pending = submitted["data"]["submitProfileUpdate"]["organization"]
    assert pending["nameEn"] == "Example Partner Shelter"
    assert pending["pendingProfileUpdate"]["profile"]["nameEn"] == (
        "Example Partner Shelter Renamed"
    )
    accepted = staff.gql(
        command("acceptProfileUpdate", fields="organization { nameEn }"),
        {"key": "story-accept-01", "id": str(org)},
    )
    assert accepted["data"]["acceptProfileUpdate"]["organization"]["nameEn"] == (
        "Example Partner Shelter Renamed"
    )


def test_opting_out_takes_a_partner_out_of_the_public_directory_at_once(
    system: System, as_role: Any
) -> None:
    org = seed(system, "Example Opt Out Shelter")
    partner, public = as_role("partner", org), as_role("public")
    assert public.gql(PUBLIC_ORG, {"id": str(org)})["data"]["organization"] is not None
    partner.gql(
        command("setPublicListing", "listed: Boolean!", "version"),
        {"key": "story-optout-1", "id": str(org), "listed": False},
    )
    assert public.gql(PUBLIC_ORG, {"id": str(org)})["data"]["organization"] is None
    search = public.gql('{ directory(search: "Opt Out") { totalCount } }')
    assert search["data"]["directory"]["totalCount"] == 0


def test_unreachable_after_three_attempts_is_flagged_and_a_supervisor_removes_it(
    system: System, as_role: Any
) -> None:
    org = seed(system, "Example Quiet Clinic")
    staff, supervisor = as_role("staff"), as_role("supervisor")
    for attempt in range(3):
        staff.gql(
            command("recordContactAttempt", "outcome: ContactOutcome!", "version"),
            {"key": f"story-attempt-{attempt}", "id": str(org), "outcome": "NO_ANSWER"},
        )
    flagged = staff.gql(
        "{ directory(filter: {flaggedUnreachable: true}) "
        "{ edges { node { id flaggedUnreachable } } } }"
    )
    assert [e["node"]["id"] for e in flagged["data"]["directory"]["edges"]] == [str(org)]
    removed = supervisor.gql(
        command(
            "removeOrganization",
            "reason: RemovalReason!",
            "organization { status removal { reason removedBy } }",
        ),
        {"key": "story-remove-01", "id": str(org), "reason": "UNREACHABLE"},
    )
    organization = removed["data"]["removeOrganization"]["organization"]
    assert organization["status"] == "REMOVED"
    assert organization["removal"] == {
        "reason": "UNREACHABLE",
        "removedBy": "fictional-supervisor-1",
    }
    reinstated = supervisor.gql(
        command("reinstateOrganization", "reason: String!"),
        {"key": "story-reinstate", "id": str(org), "reason": "reached again"},
    )
    # Reinstated, it is reviewed again; the inclusion decision returns it to the directory.
    assert reinstated["data"]["reinstateOrganization"]["organization"]["status"] == "UNDER_REVIEW"
    approved = staff.gql(
        command("approveInclusion", "note: String!"),
        {"key": "story-approve-again", "id": str(org), "note": "reviewed again"},
    )
    assert approved["data"]["approveInclusion"]["organization"]["status"] == "INCLUDED"


def _error(response: dict[str, Any]) -> dict[str, Any]:
    assert response["data"] is None or not any(response["data"].values())
    error: dict[str, Any] = response["errors"][0]
    return error


def test_bad_input_gets_a_clear_error_that_names_the_problem_and_changes_nothing(
    system: System, as_role: Any
) -> None:
    public, staff, supervisor = as_role("public"), as_role("staff"), as_role("supervisor")
    org = seed(system, "Example Steady Shelter", included=False)
    reviewing = seed(system, "Example Reviewed Shelter", included=False)
    staff.gql(command("startReview"), {"key": "bad-review-001", "id": str(reviewing)})
    before = events(system)
    cases = [
        (
            public,
            APPLY,
            {"key": KEYS[3], "input": application(province="CA-XX")},
            "unknown province or territory code 'CA-XX'",
        ),
        (
            public,
            APPLY,
            {"key": KEYS[4], "input": application(languages=["en", "klingon"])},
            "'klingon' is not an ISO 639-1 or ISO 639-3 language code",
        ),
        (
            public,
            APPLY,
            {"key": KEYS[5], "input": application(nameEn=" ", nameFr="")},
            "nameEn must not be empty; nameFr must not be empty",
        ),
        (
            staff,
            command("approveInclusion"),
            {"key": "bad-approve-01", "id": str(org)},
            "cannot approve inclusion: the organization is SUBMITTED, not UNDER_REVIEW",
        ),
        (
            staff,
            command("declineInclusion", "reason: String!"),
            {"key": "bad-decline-01", "id": str(reviewing), "reason": "  "},
            "declining inclusion needs a reason",
        ),
        (staff, "{ directory(first: 51) { totalCount } }", {}, "first must be between 1 and 50"),
        (
            staff,
            '{ directory(after: "not-a-cursor") { totalCount } }',
            {},
            "after: not a cursor returned by this API",
        ),
    ]
    for caller, query, variables, message in cases:
        error = _error(caller.gql(query, variables))
        assert message in error["message"], (message, error)
        assert error["extensions"]["code"] in {
            "INVALID_INPUT",
            "NOT_UNDER_REVIEW",
            "ILLEGAL_TRANSITION",
            "REASON_REQUIRED",
        }
    assert events(system) == before
    included = seed(system, "Example Included Shelter")
    before = events(system)
    error = _error(
        supervisor.gql(
            command("removeOrganization", "reason: RemovalReason!"),
            {"key": "bad-remove-001", "id": str(included), "reason": "OTHER"},
        )
    )
    assert error["message"] == "a removal for another reason needs a reason"
    assert events(system) == before


def test_an_anonymous_caller_must_use_a_random_uuid_as_its_idempotency_key(
    system: System, as_role: Any
) -> None:
    """Every caller without a token shares one identity: a guessable key would let one
    applicant replay, or learn of, another's application."""
    before = events(system)
    refused = as_role("public").gql(APPLY, {"key": "my-application-1", "input": application()})
    assert refused["errors"][0]["extensions"]["code"] == "INVALID_IDEMPOTENCY_KEY"
    assert "UUID" in refused["errors"][0]["message"]
    assert events(system) == before
    on_behalf = {**application(), "listingAgreement": "Fictional: the shelter's signed form."}
    staff = as_role("staff").gql(APPLY, {"key": "my-application-1", "input": on_behalf})
    assert staff["data"]["applyForInclusion"]["organizationId"]
