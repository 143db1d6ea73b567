"""The directory's own rules told through GraphQL, as each role lives them (seed 004): the public
listing is the organization's to choose; an agency is included on its own path; a reinstated
organization is reviewed again; an application that looks like a known organization is flagged
to staff, and the applicant is told nothing of it."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from api.wiring import System
from domain.base import Actor, acting_as
from domain.organization import DECLINED_NOTE, Organization
from tests.e2e.conftest import fictional_profile, seed
from tests.e2e.test_directory_stories import APPLY, application, command, events

AGREEMENT = "Fictional: the shelter's signed listing form, ref. NRD-0042."
LISTING = command("setPublicListing", "listed: Boolean!, agreement: String!", "version")
PUBLIC_ORG = "query($id: ID!) { organization(id: $id) { id nameEn } }"
HISTORY = (
    "query($id: ID!) { organization(id: $id) { publiclyListed history { what actorRole note } } }"
)
DUPLICATES = """query($id: ID!) { organization(id: $id) { id status duplicateOf
  possibleDuplicates { organizationId matchedOn flaggedAt resolution } } }"""
FLAGGED = "{ directory(filter: {possibleDuplicate: true}) { edges { node { id } } } }"


def error_code(response: dict[str, Any]) -> str:
    assert response["data"] is None or not any(response["data"].values()), response
    code: str = response["errors"][0]["extensions"]["code"]
    return code


def applied(caller: Any, input: dict[str, Any]) -> dict[str, Any]:
    """The applicant's whole answer, and the new organization's id."""
    body: dict[str, Any] = caller.gql(
        "mutation($key: String!, $input: ApplicationInput!) { applyForInclusion("
        "idempotencyKey: $key, input: $input) { organizationId version replayed "
        "organization { id nameEn } } }",
        {"key": str(uuid4()), "input": input},
    )
    return body


# -- the public listing is the organization's ----------------------------------------------


def test_a_partner_opts_its_own_organization_into_the_public_directory(
    system: System, as_role: Any
) -> None:
    org = str(seed(system, "Example Quiet Harbour Shelter", listed=False))
    partner, public = as_role("partner", org), as_role("public")
    assert public.gql(PUBLIC_ORG, {"id": org})["data"]["organization"] is None

    partner.gql(
        command("setPublicListing", "listed: Boolean!", "version"),
        {"key": "rules-optin-01", "id": org, "listed": True},
    )

    assert public.gql(PUBLIC_ORG, {"id": org})["data"]["organization"]["id"] == org
    seen = partner.gql(HISTORY, {"id": org})["data"]["organization"]
    assert seen["publiclyListed"] is True
    assert seen["history"][-1] == {
        "what": "PUBLIC_LISTING_OPTED_IN",
        "actorRole": "partner",
        "note": "",
    }


def test_staff_are_refused_without_the_written_agreement_and_accepted_with_it(
    system: System, as_role: Any
) -> None:
    org = str(seed(system, "Example Unlisted Refuge", listed=False))
    staff, public = as_role("staff"), as_role("public")
    before = events(system)

    for agreement in ("", "   "):
        refused = staff.gql(
            LISTING, {"key": str(uuid4()), "id": org, "listed": True, "agreement": agreement}
        )
        assert error_code(refused) == "WRITTEN_AGREEMENT_REQUIRED"
    assert events(system) == before
    assert public.gql(PUBLIC_ORG, {"id": org})["data"]["organization"] is None

    staff.gql(LISTING, {"key": "rules-agree-01", "id": org, "listed": True, "agreement": AGREEMENT})

    assert public.gql(PUBLIC_ORG, {"id": org})["data"]["organization"]["id"] == org
    history = staff.gql(HISTORY, {"id": org})["data"]["organization"]["history"]
    assert history[-1] == {
        "what": "PUBLIC_LISTING_OPTED_IN",
        "actorRole": "staff",
        "note": AGREEMENT,
    }


# -- an agency's own path ------------------------------------------------------------------

ESTABLISH = """mutation($key: String!, $agency: ID!, $contacts: [ProtocolContactInput!]!) {
  establishReportingProtocol(idempotencyKey: $key, agencyId: $agency, province: "CA-ON",
    contacts: $contacts) { protocolId } }"""
INCLUDE = command(
    "includeAgency", "reportingProtocolId: ID!, note: String!", "version organization { status }"
)
CONTACTS = [{"name": "Sgt. Fictional Example", "phone": "+1 555 010 0142"}]


def test_a_police_service_is_included_on_its_request_and_a_protocol_not_the_criteria(
    system: System, as_role: Any
) -> None:
    public, staff = as_role("public"), as_role("staff")
    request = {
        "profile": fictional_profile(
            "Example Lakeshore Police Service", kind="LAW_ENFORCEMENT_AGENCY", services=[]
        ),
        "criteria": [],  # the seven criteria are the service providers'
        "publicListing": False,
    }
    agency = applied(public, request)["data"]["applyForInclusion"]["organizationId"]
    staff.gql(command("startReview"), {"key": "rules-agency-01", "id": agency})

    other = str(seed(system, "Example Other Police", kind="LAW_ENFORCEMENT_AGENCY"))
    theirs = staff.gql(ESTABLISH, {"key": "rules-agency-03", "agency": other, "contacts": CONTACTS})
    before = events(system)
    on_criteria = staff.gql(
        command("approveInclusion", "note: String!"),
        {"key": "rules-agency-02", "id": agency, "note": "no protocol yet"},
    )
    assert error_code(on_criteria) == "REPORTING_PROTOCOL_REQUIRED"
    borrowed = staff.gql(
        INCLUDE,
        {
            "key": "rules-agency-04",
            "id": agency,
            "reportingProtocolId": theirs["data"]["establishReportingProtocol"]["protocolId"],
            "note": "another agency's protocol",
        },
    )
    assert error_code(borrowed) == "REPORTING_PROTOCOL_REQUIRED"
    assert events(system) == before

    protocol = staff.gql(
        ESTABLISH, {"key": "rules-agency-05", "agency": agency, "contacts": CONTACTS}
    )
    included = staff.gql(
        INCLUDE,
        {
            "key": "rules-agency-06",
            "id": agency,
            "reportingProtocolId": protocol["data"]["establishReportingProtocol"]["protocolId"],
            "note": "protocol agreed with the fictional unit",
        },
    )

    assert included["data"]["includeAgency"]["organization"]["status"] == "INCLUDED"


def test_a_service_provider_is_not_included_on_a_protocol(system: System, as_role: Any) -> None:
    staff = as_role("staff")
    shelter = str(seed(system, "Example Waiting Shelter", included=False))
    agency = str(seed(system, "Example Protocol Police", kind="LAW_ENFORCEMENT_AGENCY"))
    protocol = staff.gql(ESTABLISH, {"key": "rules-sp-01", "agency": agency, "contacts": CONTACTS})
    staff.gql(command("startReview"), {"key": "rules-sp-02", "id": shelter})
    before = events(system)

    refused = staff.gql(
        INCLUDE,
        {
            "key": "rules-sp-03",
            "id": shelter,
            "reportingProtocolId": protocol["data"]["establishReportingProtocol"]["protocolId"],
            "note": "",
        },
    )

    assert error_code(refused) == "NOT_AN_AGENCY"
    assert events(system) == before


# -- reinstatement ---------------------------------------------------------------------------


def test_a_reinstated_organization_is_reviewed_before_it_is_listed_again(
    system: System, as_role: Any
) -> None:
    org = str(seed(system, "Example Returning Haven"))
    supervisor, staff, public = as_role("supervisor"), as_role("staff"), as_role("public")
    supervisor.gql(
        command("removeOrganization", "reason: RemovalReason!"),
        {"key": "rules-remove-1", "id": org, "reason": "ORGANIZATION_REQUEST"},
    )

    reinstated = supervisor.gql(
        command("reinstateOrganization", "reason: String!"),
        {"key": "rules-reinstate", "id": org, "reason": "asked to come back"},
    )

    assert reinstated["data"]["reinstateOrganization"]["organization"]["status"] == "UNDER_REVIEW"
    assert public.gql(PUBLIC_ORG, {"id": org})["data"]["organization"] is None
    staff.gql(
        command("approveInclusion", "note: String!"),
        {"key": "rules-approve-2", "id": org, "note": "reviewed again"},
    )
    assert public.gql(PUBLIC_ORG, {"id": org})["data"]["organization"]["id"] == org


# -- possible duplicates -------------------------------------------------------------------


def test_an_application_like_a_known_organization_is_flagged_to_staff_with_a_link(
    system: System, as_role: Any
) -> None:
    known = str(seed(system, "Example Harbour Shelter"))
    public, staff, supervisor = as_role("public"), as_role("staff"), as_role("supervisor")

    fresh = applied(public, application("Example Brand New Outreach"))
    again = applied(public, application("  example harbour-shelter "))
    flagged = again["data"]["applyForInclusion"]["organizationId"]

    # The applicant's answer is the same whether or not the organization is known.
    def without_id(body: dict[str, Any]) -> dict[str, Any]:
        return {**body["data"]["applyForInclusion"], "organizationId": None}

    assert without_id(again) == without_id(fresh)
    assert again["data"]["applyForInclusion"]["organization"] is None
    assert "errors" not in again
    assert public.gql(PUBLIC_ORG, {"id": flagged})["data"]["organization"] is None

    for hotline in (staff, supervisor):
        seen = hotline.gql(DUPLICATES, {"id": flagged})["data"]["organization"]
        assert seen["status"] == "SUBMITTED"
        [link] = seen["possibleDuplicates"]
        assert (link["organizationId"], link["matchedOn"], link["resolution"]) == (
            known,
            ["NAME"],
            None,
        )
    listed = staff.gql(FLAGGED)["data"]["directory"]["edges"]
    assert [e["node"]["id"] for e in listed] == [flagged]
    # Nothing was merged: the known organization is as it was, and flags nothing of its own.
    original = staff.gql(DUPLICATES, {"id": known})["data"]["organization"]
    assert (original["status"], original["possibleDuplicates"]) == ("INCLUDED", [])


def test_the_same_postal_code_and_email_flag_an_application_too(
    system: System, as_role: Any
) -> None:
    place = {"province": "CA-ON", "municipality": "Fictionville", "postalCode": "K1A 0B1"}
    known = str(seed(system, "Example Riverside Centre", location={**place, "confidential": True}))
    renamed = application(
        "Example Renamed Centre", location={**place, "postalCode": "k1a0b1", "confidential": True}
    )

    flagged = applied(as_role("public"), renamed)["data"]["applyForInclusion"]["organizationId"]

    seen = as_role("staff").gql(DUPLICATES, {"id": flagged})["data"]["organization"]
    assert [(d["organizationId"], d["matchedOn"]) for d in seen["possibleDuplicates"]] == [
        (known, ["POSTAL_CODE_AND_EMAIL"])
    ]


def test_only_the_hotline_sees_or_filters_on_possible_duplicates(
    system: System, as_role: Any
) -> None:
    known = str(seed(system, "Example Harbour Shelter"))
    partner_org = str(seed(system, "Example Harbour Shelter", included=False))
    partner, public = as_role("partner", partner_org), as_role("public")
    # A field no role has: what a caller gets for asking what is not theirs to ask.
    unknown = "query($id: ID!) { organization(id: $id) { id possibleDuplicatez } }"

    for caller in (partner, public):
        nothing = caller.post(unknown, {"id": partner_org}).content
        assert caller.post(DUPLICATES, {"id": partner_org}).content == nothing
        flagged = caller.gql(FLAGGED)
        assert flagged["data"] is None and flagged["errors"], flagged
    staff_view = as_role("staff").gql(DUPLICATES, {"id": partner_org})["data"]["organization"]
    assert [d["organizationId"] for d in staff_view["possibleDuplicates"]] == [known]


def test_staff_dismiss_a_flag_or_decline_the_application_as_a_duplicate(
    system: System, as_role: Any
) -> None:
    known = str(seed(system, "Example Harbour Shelter"))
    public, staff = as_role("public"), as_role("staff")
    namesake = applied(public, application("Example Harbour Shelter"))
    copy = applied(public, application("Example Harbour Shelter"))
    namesake_id = namesake["data"]["applyForInclusion"]["organizationId"]
    copy_id = copy["data"]["applyForInclusion"]["organizationId"]

    # A duplicate is declined after review, as any application is.
    staff.gql(command("startReview"), {"key": "rules-review-c", "id": copy_id})
    before = events(system)
    unexplained = staff.gql(
        command("dismissPossibleDuplicate", "note: String!"),
        {"key": "rules-dismiss-0", "id": namesake_id, "note": " "},
    )
    assert error_code(unexplained) == "REASON_REQUIRED"
    itself = staff.gql(
        command("declineAsDuplicate", "duplicateOf: ID!"),
        {"key": "rules-decline-0", "id": copy_id, "duplicateOf": copy_id},
    )
    assert error_code(itself) == "NOT_A_DUPLICATE"
    assert events(system) == before

    staff.gql(
        command("dismissPossibleDuplicate", "note: String!"),
        {"key": "rules-dismiss-1", "id": namesake_id, "note": "another town's shelter"},
    )
    declined = staff.gql(
        command("declineAsDuplicate", "duplicateOf: ID!, note: String!"),
        {"key": "rules-decline-1", "id": copy_id, "duplicateOf": known, "note": "sent twice"},
    )

    assert declined["data"]["declineAsDuplicate"]["organization"]["status"] == "DECLINED"
    dismissed = staff.gql(DUPLICATES, {"id": namesake_id})["data"]["organization"]
    assert {d["resolution"] for d in dismissed["possibleDuplicates"]} == {"DISMISSED"}
    duplicate = staff.gql(DUPLICATES, {"id": copy_id})["data"]["organization"]
    assert duplicate["duplicateOf"] == known
    assert {d["resolution"] for d in duplicate["possibleDuplicates"]} == {"DECLINED_AS_DUPLICATE"}
    assert staff.gql(FLAGGED)["data"]["directory"]["edges"] == []


def test_staff_applying_for_an_organization_list_it_only_on_its_written_agreement(
    system: System, as_role: Any
) -> None:
    staff = as_role("staff")
    before = events(system)

    refused = staff.gql(
        APPLY, {"key": "rules-behalf-01", "input": application("Example Emailed Form Shelter")}
    )

    assert error_code(refused) == "WRITTEN_AGREEMENT_REQUIRED"
    assert events(system) == before
    recorded = staff.gql(
        APPLY,
        {
            "key": "rules-behalf-02",
            "input": {
                **application("Example Emailed Form Shelter"),
                "listingAgreement": AGREEMENT,
            },
        },
    )
    assert recorded["data"]["applyForInclusion"]["version"] == 1


# -- the organization's kind is reviewed on its own path (the review of issue 16) ----------

KIND = (
    "query($id: ID!) { organization(id: $id) { kind status pendingProfileUpdate { submittedAt } } }"
)
UPDATE = command("submitProfileUpdate", "profile: ProfileInput!")


def test_a_partner_cannot_turn_its_organization_into_an_agency_or_an_authority(
    system: System, as_role: Any
) -> None:
    org = str(seed(system, "Example Kindshift Shelter", province="CA-MB"))
    partner, staff = as_role("partner", org), as_role("staff")
    before = events(system)

    for kind in ("LAW_ENFORCEMENT_AGENCY", "CHILD_PROTECTION_AUTHORITY"):
        profile = fictional_profile(
            "Example Kindshift Shelter", "CA-MB", kind=kind, regions=[{"province": "CA-MB"}]
        )
        refused = partner.gql(UPDATE, {"key": str(uuid4()), "id": org, "profile": profile})
        assert error_code(refused) == "KIND_CHANGE_NOT_ALLOWED"

    assert events(system) == before
    seen = staff.gql(KIND, {"id": org})["data"]["organization"]
    assert seen == {
        "kind": "DIRECT_SERVICE_PROVIDER",
        "status": "INCLUDED",
        "pendingProfileUpdate": None,
    }


def test_a_kind_change_submitted_before_the_rule_is_not_accepted(
    system: System, as_role: Any
) -> None:
    org = seed(system, "Example Older Update Shelter")
    # An update of the kind stored before the rule: written as it was then, unchecked.
    with acting_as(Actor("fictional-partner-7", "partner", organization_id=str(org))):
        stored: Organization = system.app.repository.get(org)
        changed = {**stored.profile, "kind": "LAW_ENFORCEMENT_AGENCY"}
        stored.trigger_event(Organization.ProfileUpdateSubmitted, profile=changed)
        system.app.save(stored)
    system.projector.catch_up()
    staff = as_role("staff")
    before = events(system)

    accepted = staff.gql(
        command("acceptProfileUpdate"), {"key": "rules-kind-accept", "id": str(org)}
    )

    assert error_code(accepted) == "KIND_CHANGE_NOT_ALLOWED"
    assert events(system) == before
    rejected = staff.gql(
        command("rejectProfileUpdate", "reason: String!"),
        {"key": "rules-kind-reject", "id": str(org), "reason": "another kind applies anew"},
    )
    assert rejected["data"]["rejectProfileUpdate"]["organization"]["status"] == "INCLUDED"
    seen = staff.gql(KIND, {"id": str(org)})["data"]["organization"]
    assert seen["kind"] == "DIRECT_SERVICE_PROVIDER"
    assert seen["pendingProfileUpdate"] is None


INCLUDE_PUBLIC_BODY = command("includePublicBody", "verification: String!")


def test_a_child_protection_authority_is_included_by_a_supervisor_on_a_written_verification(
    system: System, as_role: Any
) -> None:
    public, staff, supervisor = as_role("public"), as_role("staff"), as_role("supervisor")
    shelter = applied(public, application("Example Prairie Youth Shelter", province="CA-MB"))
    shelter_id = shelter["data"]["applyForInclusion"]["organizationId"]
    staff.gql(command("startReview"), {"key": "rules-body-00", "id": shelter_id})
    request = {
        "profile": fictional_profile(
            "Example Prairie Child and Family Services",
            "CA-MB",
            kind="CHILD_PROTECTION_AUTHORITY",
            regions=[{"province": "CA-MB"}],
        ),
        "criteria": [],  # a public body attests none of the service providers' criteria
        "publicListing": False,
    }
    authority = applied(public, request)["data"]["applyForInclusion"]["organizationId"]
    staff.gql(command("startReview"), {"key": "rules-body-01", "id": authority})
    before = events(system)

    approved = staff.gql(
        command("approveInclusion", "note: String!"),
        {"key": "rules-body-02", "id": authority, "note": "a statutory body"},
    )
    assert error_code(approved) == "PUBLIC_BODY_VERIFICATION_REQUIRED"
    by_staff = staff.gql(
        INCLUDE_PUBLIC_BODY,
        {"key": "rules-body-03", "id": authority, "verification": "checked the list"},
    )
    assert error_code(by_staff) == "NOT_AVAILABLE"
    unverified = supervisor.gql(
        INCLUDE_PUBLIC_BODY, {"key": "rules-body-04", "id": authority, "verification": "  "}
    )
    assert error_code(unverified) == "REASON_REQUIRED"
    not_a_body = supervisor.gql(
        INCLUDE_PUBLIC_BODY, {"key": "rules-body-05", "id": shelter_id, "verification": "a check"}
    )
    assert error_code(not_a_body) == "NOT_A_PUBLIC_BODY"
    assert events(system) == before
    status = staff.gql(KIND, {"id": authority})["data"]["organization"]["status"]
    assert status == "UNDER_REVIEW"

    verification = "Fictional: checked in the province's list of statutory bodies, ref. 7"
    included = supervisor.gql(
        INCLUDE_PUBLIC_BODY, {"key": "rules-body-06", "id": authority, "verification": verification}
    )

    assert included["data"]["includePublicBody"]["organization"]["status"] == "INCLUDED"
    history = staff.gql(HISTORY, {"id": authority})["data"]["organization"]["history"]
    assert history[-1] == {"what": "INCLUDED", "actorRole": "supervisor", "note": verification}


# -- reading and filtering possible duplicates is logged -------------------------------------


def reads_of(system: System, user: str) -> list[dict[str, Any]]:
    return list(reversed(system.access.entries(user_id=user, first=100)))


def test_reading_an_applications_possible_duplicates_is_logged(
    system: System, as_role: Any
) -> None:
    known = str(seed(system, "Example Harbour Shelter"))
    public, staff = as_role("public"), as_role("staff", user="fictional-staff-dup")
    again = applied(public, application("  example harbour-shelter "))
    flagged = again["data"]["applyForInclusion"]["organizationId"]
    system.projector.catch_up()

    seen = staff.gql(DUPLICATES, {"id": flagged})["data"]["organization"]

    assert [d["organizationId"] for d in seen["possibleDuplicates"]] == [known]
    [entry] = reads_of(system, "fictional-staff-dup")
    assert (entry["recordType"], entry["recordId"]) == ("Organization", flagged)
    assert set(entry["fields"]) == {"possibleDuplicates", "duplicateOf"}


def test_filtering_on_possible_duplicates_is_logged_as_a_search(
    system: System, as_role: Any
) -> None:
    seed(system, "Example Harbour Shelter")
    public = as_role("public")
    staff = as_role("staff", user="fictional-staff-filter")
    none_yet = staff.gql(FLAGGED)["data"]["directory"]["edges"]
    again = applied(public, application("Example Harbour Shelter"))
    flagged = again["data"]["applyForInclusion"]["organizationId"]
    system.projector.catch_up()

    found = staff.gql(FLAGGED)["data"]["directory"]["edges"]

    assert none_yet == [] and [e["node"]["id"] for e in found] == [flagged]
    entries = [
        (e["recordType"], e["recordId"], e["fields"])
        for e in reads_of(system, "fictional-staff-filter")
    ]
    # Each search is logged, the empty one too, with each organization that answered.
    assert entries == [
        ("Search", "Query.directory", ["possibleDuplicate"]),
        ("Organization", flagged, []),
        ("Search", "Query.directory", ["possibleDuplicate"]),
    ]


# -- only the organization itself lists itself without an agreement -------------------------


def test_the_public_form_lists_on_the_organizations_own_consent_and_other_roles_need_one(
    system: System, as_role: Any
) -> None:
    public, staff = as_role("public"), as_role("staff")
    own = applied(public, application("Example Own Form Shelter"))
    org = own["data"]["applyForInclusion"]["organizationId"]
    staff.gql(command("startReview"), {"key": "rules-own-01", "id": org})
    staff.gql(
        command("approveInclusion", "note: String!"), {"key": "rules-own-02", "id": org, "note": ""}
    )
    assert public.gql(PUBLIC_ORG, {"id": org})["data"]["organization"]["id"] == org

    someone = str(seed(system, "Example Other Partner Shelter"))
    before = events(system)
    for caller in (as_role("partner", someone), as_role("law_enforcement", someone)):
        refused = caller.gql(
            APPLY, {"key": str(uuid4()), "input": application("Example Third Party Shelter")}
        )
        assert error_code(refused) == "WRITTEN_AGREEMENT_REQUIRED"
    assert events(system) == before


# -- a duplicate's decline reads as any decline to the organization ------------------------


def test_a_partner_reads_a_decline_as_a_duplicate_as_an_ordinary_decline(
    system: System, as_role: Any
) -> None:
    known = str(seed(system, "Example Harbour Shelter"))
    supervisor, staff = as_role("supervisor"), as_role("staff")
    histories = []
    for n, name in enumerate(("Example Returning Harbour", "Example Returning Cove")):
        org = str(seed(system, name))
        supervisor.gql(
            command("removeOrganization", "reason: RemovalReason!"),
            {"key": f"rules-dupdec-r{n}", "id": org, "reason": "ORGANIZATION_REQUEST"},
        )
        supervisor.gql(
            command("reinstateOrganization", "reason: String!"),
            {"key": f"rules-dupdec-i{n}", "id": org, "reason": "asked to come back"},
        )
        if n == 0:
            staff.gql(
                command("declineAsDuplicate", "duplicateOf: ID!, note: String!"),
                {"key": "rules-dupdec-d", "id": org, "duplicateOf": known, "note": "sent twice"},
            )
        else:
            staff.gql(
                command("declineInclusion", "reason: String!"),
                {"key": "rules-dupdec-o", "id": org, "reason": DECLINED_NOTE},
            )
        partner = as_role("partner", org)
        seen = partner.gql(HISTORY, {"id": org})["data"]["organization"]["history"]
        histories.append(seen)

    duplicate, ordinary = histories
    assert (
        duplicate[-1]
        == ordinary[-1]
        == {
            "what": "DECLINED",
            "actorRole": "staff",
            "note": DECLINED_NOTE,
        }
    )
    assert [h["what"] for h in duplicate] == [h["what"] for h in ordinary]
    assert not any(known in h["note"] for h in duplicate)
