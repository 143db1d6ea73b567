"""Abusive documents are refused before execution, and errors teach a prober nothing.

Limits count through fragments, so a fragment spread many times (or nested in others) cannot
smuggle in depth, aliases, fields or directives. Outside the hotline, every invalid document
gets one generic answer: no schema names, no suggestions, no locations, no paths.
"""

from __future__ import annotations

import logging
from typing import Any
from uuid import uuid4

import pytest
from graphql import build_client_schema, get_introspection_query
from starlette.testclient import TestClient

from api.app import create_app
from api.hardening import DocumentGate, Limits
from api.wiring import System
from tests.conftest import a_system
from tests.e2e.conftest import ALL_CRITERIA, fictional_profile, seed

LIMITS = Limits()
UNTRUSTED = ["public", "partner", "law_enforcement"]
TRUSTED = ["staff", "supervisor", "compliance"]
A_PARTNER = "0c0ffee0-0000-4000-8000-00000000f1c7"
GENERIC = {
    "data": None,
    "errors": [
        {"message": "The query is not valid for this API.", "extensions": {"code": "INVALID_QUERY"}}
    ],
}


def caller(as_role: Any, role: str) -> Any:
    return as_role(role, A_PARTNER if role in ("partner", "law_enforcement") else None)


def events_written(system: System) -> int:
    return system.app.recorder.max_notification_id() or 0


def too_complex(body: dict[str, Any], what: str) -> str:
    """The refusal's message, once it is certain the document did not run."""
    assert body["data"] is None, body
    messages = [
        e["message"] for e in body["errors"] if e["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    ]
    assert messages, body
    assert any(what in m for m in messages), messages
    return next(str(m) for m in messages if what in m)


def application_input(name: str = "Example Batch Shelter") -> dict[str, Any]:
    return {
        "profile": fictional_profile(name),
        "criteria": ALL_CRITERIA,
        "publicListing": True,
        "listingAgreement": "Fictional: the organization's signed listing form.",
    }


# -- documents built to measure --------------------------------------------------------------


def introspection_of_depth(depth: int) -> str:
    """A valid staff document exactly ``depth`` fields deep (__schema, types, fields, type, ...)."""
    inner = "name"
    for _ in range(depth - 5):
        inner = f"ofType {{ {inner} }}"
    return f"{{ __schema {{ types {{ fields {{ type {{ {inner} }} }} }} }} }}"


def of_types(count: int, inner: str) -> str:
    for _ in range(count):
        inner = f"ofType {{ {inner} }}"
    return inner


def aliases(count: int, prefix: str = "a") -> str:
    return " ".join(f"{prefix}{i}: __typename" for i in range(count))


def fragment_tree(leaves: int, *fan_outs: int) -> str:
    """``{ ...L<n> }`` where each level spreads the one below ``fan_out`` times."""
    fragments = [f"fragment L0 on Query {{ {' '.join(['__typename'] * leaves)} }}"]
    for level, fan_out in enumerate(fan_outs, start=1):
        spreads = " ".join([f"...L{level - 1}"] * fan_out)
        fragments.append(f"fragment L{level} on Query {{ {spreads} }}")
    return f"{{ ...L{len(fan_outs)} }} " + " ".join(fragments)


# -- depth -----------------------------------------------------------------------------------


def test_a_document_at_the_depth_limit_runs(as_role: Any) -> None:
    body = as_role("staff").gql(introspection_of_depth(LIMITS.max_depth))
    assert "errors" not in body
    assert body["data"]["__schema"]["types"]


# Seven deep: no path outside introspection goes past ten in this schema, so the tests that
# need a document over the depth limit lower the limit to meet it.
SEVEN_DEEP = (
    "{ directory { edges { node { pendingProfileUpdate { profile { location "
    "{ province } } } } } } }"
)
SEVEN_DEEP_IN_FRAGMENTS = """
{ directory { ...Edges } }
fragment Edges on DirectoryConnection { edges { node { ...Pending } } }
fragment Pending on Organization { pendingProfileUpdate { ... on PendingProfileUpdate {
  profile { ...Where } } } }
fragment Where on Profile { location { province } }
"""


@pytest.mark.parametrize(
    "document", [SEVEN_DEEP, SEVEN_DEEP_IN_FRAGMENTS], ids=["plain", "through nested fragments"]
)
def test_a_document_deeper_than_the_limit_is_refused(system: System, document: str) -> None:
    with (
        a_system(system.settings, max_depth=6) as shallow,
        TestClient(create_app(shallow, run_projections=False)) as client,
    ):
        token = shallow.auth.issue("staff", "fictional-staff-1", None)
        refused = client.post(
            "/graphql", json={"query": document}, headers={"authorization": f"Bearer {token}"}
        ).json()
        assert "depth 7" in too_complex(refused, "depth")
        six_deep = document.replace("location { province }", "nameEn")
        runs = client.post(
            "/graphql", json={"query": six_deep}, headers={"authorization": f"Bearer {token}"}
        ).json()
        assert runs == {"data": {"directory": {"edges": []}}}


@pytest.mark.parametrize("role", UNTRUSTED)
def test_an_untrusted_caller_still_learns_which_limit_it_broke(as_role: Any, role: str) -> None:
    body = caller(as_role, role).gql(introspection_of_depth(LIMITS.max_introspection_depth + 1))
    too_complex(body, "depth")


# -- introspection's own bounds --------------------------------------------------------------

STANDARD_INTROSPECTION = get_introspection_query(
    descriptions=True,
    specified_by_url=True,
    directive_is_repeatable=True,
    schema_description=True,
    input_value_deprecation=True,
)


@pytest.mark.parametrize("role", TRUSTED)
def test_the_standard_introspection_query_runs_for_the_hotline(as_role: Any, role: str) -> None:
    """What GraphiQL, code generators and IDE plugins send to load the schema."""
    body = as_role(role).gql(STANDARD_INTROSPECTION)
    assert "errors" not in body, body["errors"]
    schema = build_client_schema(body["data"])
    assert "nameEn" in schema.get_type("Organization").fields  # type: ignore[union-attr]


@pytest.mark.parametrize("role", UNTRUSTED)
def test_the_standard_introspection_query_is_refused_outside_the_hotline(
    as_role: Any, role: str
) -> None:
    response = caller(as_role, role).post(STANDARD_INTROSPECTION)
    assert response.status_code == 200
    assert response.json() == GENERIC


def test_introspection_at_its_depth_cap_runs(as_role: Any) -> None:
    body = as_role("staff").gql(introspection_of_depth(LIMITS.max_introspection_depth))
    assert "errors" not in body
    assert body["data"]["__schema"]["types"]


def test_introspection_deeper_than_its_cap_is_refused(as_role: Any) -> None:
    depth = LIMITS.max_introspection_depth + 1
    body = as_role("staff").gql(introspection_of_depth(depth))
    assert f"introspection depth {depth} exceeds" in too_complex(body, "depth")


def test_introspection_depth_counts_through_nested_fragments(as_role: Any) -> None:
    """__schema, types, fields, type, then sixteen ofType spread over three fragments: 21."""
    document = f"""
    {{ __schema {{ types {{ ...Fields }} }} }}
    fragment Fields on __Type {{ fields {{ type {{ ...Wrapped }} }} }}
    fragment Wrapped on __Type {{ {of_types(4, "...Deeper")} }}
    fragment Deeper on __Type {{ {of_types(4, f"... on __Type {{ {of_types(8, 'name')} }}")} }}
    """
    body = as_role("staff").gql(document)
    assert f"introspection depth {LIMITS.max_introspection_depth + 1}" in too_complex(body, "depth")


THRICE_EXPANDED = {
    "plain": "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }",
    "through a fragment": '{ __type(name: "Organization") { fields { type { ...More } } } } '
    "fragment More on __Type { fields { type { ofType { fields { name } } } "
    "} }",
}


def test_a_type_expanded_twice_over_runs(as_role: Any) -> None:
    body = as_role("staff").gql("{ __schema { types { fields { type { fields { name } } } } } }")
    assert "errors" not in body


@pytest.mark.parametrize("shape", sorted(THRICE_EXPANDED))
def test_a_type_expanded_three_times_over_is_refused(as_role: Any, shape: str) -> None:
    """Each type's fields nested in another's multiply the answer by the schema's size: the
    breadth of introspection is bounded by graphql-core's MaxIntrospectionDepthRule."""
    body = as_role("staff").gql(THRICE_EXPANDED[shape])
    assert body["data"] is None
    assert [e["message"] for e in body["errors"]] == ["Maximum introspection depth exceeded"]


# -- aliases ---------------------------------------------------------------------------------


def test_a_document_at_the_alias_limit_runs(as_role: Any) -> None:
    body = as_role("public").gql(f"{{ {aliases(LIMITS.max_aliases)} }}")
    assert body == {"data": {f"a{i}": "Query" for i in range(LIMITS.max_aliases)}}


def test_one_alias_too_many_is_refused(as_role: Any) -> None:
    body = as_role("public").gql(f"{{ {aliases(LIMITS.max_aliases + 1)} }}")
    assert f"aliases {LIMITS.max_aliases + 1}" in too_complex(body, "aliases")


def test_a_fragment_with_four_aliases_spread_five_times_is_refused(as_role: Any) -> None:
    document = (
        f"{{ ...Four ...Four ...Four ...Four ...Four }} fragment Four on Query {{ {aliases(4)} }}"
    )
    assert "aliases 20" in too_complex(as_role("public").gql(document), "aliases")


def test_aliases_count_through_nested_fragments(as_role: Any) -> None:
    document = (
        f"{{ ...Twice ...Twice ...Twice }} "
        f"fragment Twice on Query {{ ...Four ...Four }} "
        f"fragment Four on Query {{ {aliases(4)} }}"
    )
    assert "aliases 24" in too_complex(as_role("public").gql(document), "aliases")


def test_aliases_count_through_inline_fragments(as_role: Any) -> None:
    document = (
        "{ " + " ".join(f"... on Query {{ {aliases(4, f'i{n}_')} }}" for n in range(4)) + " }"
    )
    assert "aliases 16" in too_complex(as_role("public").gql(document), "aliases")


def test_a_batch_of_aliased_mutations_over_the_limit_writes_nothing(
    system: System, as_role: Any
) -> None:
    """BatchQL's trick: one request, many aliased mutations. Refused whole, before any runs."""
    count = LIMITS.max_aliases + 1
    params = ", ".join(f"$k{i}: String!" for i in range(count))
    calls = " ".join(
        f"m{i}: applyForInclusion(idempotencyKey: $k{i}, input: $input) {{ organizationId }}"
        for i in range(count)
    )
    variables: dict[str, Any] = {f"k{i}": f"fictional-batch-{i:04d}" for i in range(count)}
    variables["input"] = application_input()
    before = events_written(system)
    body = as_role("public").gql(
        f"mutation Batch({params}, $input: ApplicationInput!) {{ {calls} }}", variables
    )
    too_complex(body, "aliases")
    assert events_written(system) == before


# -- selected fields (duplication) -----------------------------------------------------------


def test_duplicated_fields_over_the_limit_are_refused(as_role: Any) -> None:
    body = as_role("public").gql("{ " + " ".join(["__typename"] * (LIMITS.max_fields + 1)) + " }")
    assert f"selected fields {LIMITS.max_fields + 1}" in too_complex(body, "selected fields")


def test_duplicated_fields_count_through_nested_fragments(as_role: Any) -> None:
    """A few dozen tokens that would expand to 1,100 fields."""
    body = as_role("public").gql(fragment_tree(10, 10, 11))
    assert "selected fields 1100" in too_complex(body, "selected fields")


@pytest.mark.parametrize("role", ["public", "staff"])
def test_graphql_cops_field_duplication_probe_is_refused(as_role: Any, role: str) -> None:
    body = as_role(role).gql("query cop { " + "__typename \n" * 500 + "}")
    assert body["data"] is None


# -- directives ------------------------------------------------------------------------------


def test_a_document_at_the_directive_limit_runs(as_role: Any) -> None:
    node = [
        "id",
        "kind",
        "nameEn",
        "nameFr",
        "descriptionEn",
        "descriptionFr",
        "hours",
        "intakeProcess",
        "languages",
        "focusAreas",
        "populations",
        "regions",
    ]  # last: nests
    on = "@include(if: $on)"
    document = (
        f"query($on: Boolean!) {{ directory {on} {{ totalCount {on} "
        f"pageInfo {on} {{ hasNextPage {on} endCursor {on} }} "
        f"edges {on} {{ cursor {on} node {on} {{ "
        + " ".join(f"{name} {on}" for name in node)
        + " { province } } } } }"
    )
    assert document.count("@include") == LIMITS.max_directives
    body = as_role("public").gql(document, {"on": True})
    assert body == {
        "data": {
            "directory": {
                "totalCount": 0,
                "pageInfo": {"hasNextPage": False, "endCursor": None},
                "edges": [],
            }
        }
    }


def test_graphql_cops_directive_overloading_is_refused(as_role: Any) -> None:
    body = as_role("public").gql("query cop { __typename " + "@aa" * 50 + " }")
    assert "directives 50" in too_complex(body, "directives")


def test_one_directive_too_many_is_refused(as_role: Any) -> None:
    document = (
        "{ " + " ".join(["__typename @include(if: true)"] * (LIMITS.max_directives + 1)) + " }"
    )
    body = as_role("public").gql(document)
    assert f"directives {LIMITS.max_directives + 1}" in too_complex(body, "directives")


# -- tokens ----------------------------------------------------------------------------------


def test_a_document_just_under_the_token_limit_runs(as_role: Any) -> None:
    provinces = ", ".join(['"CA-ON"'] * (LIMITS.max_tokens - 40))
    document = f"{{ directory(filter: {{ provinces: [{provinces}] }}) {{ totalCount }} }}"
    assert as_role("public").gql(document) == {"data": {"directory": {"totalCount": 0}}}


def test_a_document_over_the_token_limit_is_refused_before_execution(
    system: System, as_role: Any
) -> None:
    before = events_written(system)
    selection = " ".join(["organizationId"] * LIMITS.max_tokens)
    body = as_role("public").gql(
        "mutation Big($key: String!, $input: ApplicationInput!) { "
        f"applyForInclusion(idempotencyKey: $key, input: $input) {{ {selection} }} }}",
        {"key": "fictional-big-0001", "input": application_input()},
    )
    assert body["data"] is None
    assert body["errors"]
    assert events_written(system) == before


@pytest.mark.parametrize("role", ["public", "staff"])
def test_the_token_limit_is_reported_as_too_complex(as_role: Any, role: str) -> None:
    document = "{ " + " ".join(["__typename"] * (LIMITS.max_tokens + 1)) + " }"
    too_complex(as_role(role).gql(document), "tokens")


# -- nothing runs: every limit, on a mutation --------------------------------------------------

APPLY_CALL = "applyForInclusion(idempotencyKey: $key, input: $input)"
OVER_LIMIT_MUTATIONS = {
    "depth": (
        f"mutation Apply($key: String!, $input: ApplicationInput!) "
        f"{{ {APPLY_CALL} {{ organizationId }} }} "
        f"query Deep {introspection_of_depth(LIMITS.max_introspection_depth + 1)}",
        "depth",
    ),
    "aliases": (
        f"mutation Apply($key: String!, $input: ApplicationInput!) {{ {APPLY_CALL} "
        f"{{ {' '.join(f'v{i}: version' for i in range(LIMITS.max_aliases + 1))} }} }}",
        "aliases",
    ),
    "aliases in fragments": (
        f"mutation Apply($key: String!, $input: ApplicationInput!) {{ {APPLY_CALL} "
        "{ ...Six ...Six ...Six } } "
        f"fragment Six on OrganizationResult {{ {' '.join(f'v{i}: version' for i in range(6))} }}",
        "aliases",
    ),
    "selected fields": (
        f"mutation Apply($key: String!, $input: ApplicationInput!) {{ {APPLY_CALL} "
        "{ ...R3 } } "
        "fragment R0 on OrganizationResult { " + " ".join(["version"] * 10) + " } "
        "fragment R1 on OrganizationResult { " + " ".join(["...R0"] * 10) + " } "
        "fragment R2 on OrganizationResult { " + " ".join(["...R1"] * 10) + " } "
        "fragment R3 on OrganizationResult { ...R2 ...R2 }",
        "selected fields",
    ),
    "directives": (
        f"mutation Apply($key: String!, $input: ApplicationInput!) {{ {APPLY_CALL} "
        "{ " + " ".join(["version @include(if: true)"] * (LIMITS.max_directives + 1)) + " } }",
        "directives",
    ),
}


@pytest.mark.parametrize("limit", sorted(OVER_LIMIT_MUTATIONS))
@pytest.mark.parametrize("role", ["public", "staff"])
def test_an_over_limit_mutation_writes_no_event(
    system: System, as_role: Any, limit: str, role: str
) -> None:
    document, what = OVER_LIMIT_MUTATIONS[limit]
    before = events_written(system)
    body = as_role(role).gql(
        document,
        {"key": f"fictional-{uuid4()}", "input": application_input()},
        operationName="Apply",
    )
    too_complex(body, what)
    assert events_written(system) == before


def test_the_same_mutation_within_the_limits_writes(system: System, as_role: Any) -> None:
    """The control for the test above: the document is refused for its size, not its content."""
    before = events_written(system)
    body = as_role("public").gql(
        f"mutation Apply($key: String!, $input: ApplicationInput!) {{ {APPLY_CALL} "
        "{ organizationId version } }",
        {"key": str(uuid4()), "input": application_input()},
    )
    assert body["data"]["applyForInclusion"]["version"] >= 1
    assert events_written(system) > before


def test_a_long_list_argument_is_refused_past_the_page_size(system: System, as_role: Any) -> None:
    limit = system.settings.max_page_size
    query = "query($n: Int!) { directory(first: $n) { totalCount } }"
    assert as_role("public").gql(query, {"n": limit})["data"]["directory"]["totalCount"] == 0
    body = as_role("public").gql(query, {"n": limit + 1})
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
    assert f"first must be between 1 and {limit}" in body["errors"][0]["message"]


# -- introspection -----------------------------------------------------------------------------

INTROSPECTIONS = {
    "__schema": "{ __schema { queryType { name } types { name } } }",
    "__type": '{ __type(name: "Organization") { name fields { name } } }',
    "aliased": "{ s: __schema { queryType { name } } }",
    "in a fragment": "{ ...S } fragment S on Query { __schema { queryType { name } } }",
    "in an inline fragment": '{ ... on Query { __type(name: "Location") { name } } }',
    "beside a legal field": "{ directory { totalCount } __schema { queryType { name } } }",
}


@pytest.mark.parametrize("role", UNTRUSTED)
def test_introspection_is_refused_outside_the_hotline(as_role: Any, role: str) -> None:
    for shape, document in INTROSPECTIONS.items():
        response = caller(as_role, role).post(document)
        assert response.status_code == 200
        assert response.json() == GENERIC, shape
        assert "Organization" not in response.text
        assert "Location" not in response.text


@pytest.mark.parametrize("role", TRUSTED)
def test_introspection_is_open_to_the_hotline(as_role: Any, role: str) -> None:
    schema = as_role(role).gql(INTROSPECTIONS["__schema"])
    assert schema["data"]["__schema"]["queryType"] == {"name": "Query"}
    assert {"name": "Organization"} in schema["data"]["__schema"]["types"]
    organization = as_role(role).gql(INTROSPECTIONS["__type"])
    fields = {f["name"] for f in organization["data"]["__type"]["fields"]}
    assert {"nameEn", "location", "pointOfContact"} <= fields


@pytest.mark.parametrize("role", UNTRUSTED)
def test_typename_is_not_introspection(system: System, as_role: Any, role: str) -> None:
    org = seed(system, "Example Typename House")
    body = caller(as_role, role).gql(
        "query($id: ID!) { __typename organization(id: $id) { __typename nameEn } }",
        {"id": str(org)},
    )
    assert body == {
        "data": {
            "__typename": "Query",
            "organization": {"__typename": "Organization", "nameEn": "Example Typename House"},
        }
    }


# -- what errors say -----------------------------------------------------------------------------

INVALID_DOCUMENTS = {
    "misspelled field": "query($id: ID!) { organization(id: $id) { nmeEn } }",
    "misspelled root field": '{ organisation(id: "x") { nameEn } }',
    "oversight field": "query($id: ID!) { organization(id: $id) { misconductAllegations "
    "{ summary } } }",
    "removal details": "query($id: ID!) { organization(id: $id) { removal { note } } }",
    "unknown argument": "{ directory(frist: 3) { totalCount } }",
    "literal of the wrong type": '{ directory(first: "many") { totalCount } }',
    "misspelled enum literal": "{ directory(filter: { kinds: [DIRECT_SERVICE] }) { totalCount } }",
    "unknown type condition": "query($id: ID!) { organization(id: $id) { ...F } } fragment F on Organisation { id }",
    "wrong type condition": "query($id: ID!) { organization(id: $id) { ...F } } fragment F on Location { address }",
    "unknown variable type": "query($id: OrgId!) { organization(id: $id) { nameEn } }",
    "missing selection": "query($id: ID!) { organization(id: $id) }",
    "syntax error": "query($id: ID!) { organization(id: $id) { nameEn ",
}
# Fields that some untrusted roles may select (on their own records) and others may not.
REFUSED_TO = {
    "public": {
        "internal field": "query($id: ID!) { organization(id: $id) { status } }",
        "nested internal field": "query($id: ID!) { organization(id: $id) { pointOfContact { name } } }",
        "protocols": "{ reportingProtocols { contacts { name } } }",
    },
    "partner": {
        "protocols": "{ reportingProtocols { contacts { name } } }",
        "protocol by id": "query($id: ID!) { reportingProtocol(id: $id) { id } }",
    },
    "law_enforcement": {
        "internal field": "query($id: ID!) { organization(id: $id) { history { note } } }",
        "nested internal field": "query($id: ID!) { organization(id: $id) { pendingProfileUpdate { submittedAt } } }",
    },
}
SCHEMA_WORDS = (
    "Organization",
    "Organisation",
    "nameEn",
    "nmeEn",
    "Did you mean",
    "status",
    "pointOfContact",
    "misconduct",
    "DirectoryFilter",
    "OrganizationKind",
    "DIRECT_SERVICE",
    "Location",
    "reportingProtocol",
    "frist",
    "OrgId",
)


def assert_generic(response: Any, case: str) -> None:
    assert response.status_code == 200
    assert response.json() == GENERIC, f"{case}: {response.text}"
    for word in SCHEMA_WORDS:
        assert word not in response.text, case


@pytest.mark.parametrize("role", UNTRUSTED)
def test_an_invalid_document_gets_one_generic_answer_outside_the_hotline(
    as_role: Any, role: str
) -> None:
    for case, document in INVALID_DOCUMENTS.items():
        assert_generic(caller(as_role, role).post(document, {"id": str(uuid4())}), case)


@pytest.mark.parametrize("role", sorted(REFUSED_TO))
def test_a_field_the_role_may_never_read_gets_the_same_generic_answer(
    as_role: Any, role: str
) -> None:
    for case, document in REFUSED_TO[role].items():
        assert_generic(caller(as_role, role).post(document, {"id": str(uuid4())}), case)


@pytest.mark.parametrize("operation_name", ["Nope", ""])
def test_an_unknown_operation_name_is_refused_not_a_server_error(
    system: System, operation_name: str
) -> None:
    with TestClient(
        create_app(system, run_projections=False), raise_server_exceptions=False
    ) as client:
        response = client.post(
            "/graphql",
            json={
                "query": "query Count { directory { totalCount } }",
                "operationName": operation_name,
            },
        )
    assert response.status_code < 500


@pytest.mark.parametrize("role", UNTRUSTED)
def test_a_misspelled_field_gives_an_untrusted_caller_no_hint(as_role: Any, role: str) -> None:
    response = caller(as_role, role).post(
        "query($id: ID!) { organization(id: $id) { nmeEn } }", {"id": str(uuid4())}
    )
    text = response.text
    for hint in ("locations", "path", "Did you mean", "nameEn", "nmeEn", "Organization"):
        assert hint not in text


@pytest.mark.parametrize("role", TRUSTED)
def test_a_misspelled_field_gives_the_hotline_a_helpful_message(as_role: Any, role: str) -> None:
    body = as_role(role).gql(
        "query($id: ID!) {\n  organization(id: $id) { nmeEn }\n}", {"id": str(uuid4())}
    )
    assert body["data"] is None
    [first, *_] = body["errors"]
    assert "Cannot query field 'nmeEn' on type 'Organization'" in first["message"]
    assert "Did you mean 'nameEn'" in first["message"]
    assert first["locations"] == [{"line": 2, "column": 27}]


def test_the_hotline_is_told_which_field_its_role_may_not_read(as_role: Any) -> None:
    body = as_role("staff").gql(
        "query($id: ID!) { organization(id: $id) { misconductAllegations { summary } } }",
        {"id": str(uuid4())},
    )
    codes = {e["extensions"]["code"] for e in body["errors"]}
    assert "NOT_AVAILABLE" in codes
    assert any(
        "Organization.misconductAllegations is not available to the staff role" in e["message"]
        for e in body["errors"]
    )


@pytest.mark.parametrize("role", ["public", "law_enforcement"])
def test_many_refused_fields_answer_like_one(as_role: Any, role: str) -> None:
    """A count of errors would tell a prober how many of its guesses were real fields."""
    one = caller(as_role, role).post(
        "query($id: ID!) { organization(id: $id) { status } }", {"id": str(uuid4())}
    )
    many = caller(as_role, role).post(
        "query($id: ID!) { organization(id: $id) { status history { note } removal { note } "
        "nmeEn bogus misconductAllegations { summary } } }",
        {"id": str(uuid4())},
    )
    assert one.content == many.content


# -- unexpected failures -----------------------------------------------------------------------

SECRET_DETAIL = "12 Fictional Hidden Lane"


class ExplodingDirectory:
    """A read model that fails the way a broken store does, with a value in its message."""

    def get(self, scope: str, org_id: str) -> dict[str, Any] | None:
        raise RuntimeError(f"row for {SECRET_DETAIL} is corrupt")

    def search(self, scope: str, query: Any) -> Any:
        raise RuntimeError(f"index for {SECRET_DETAIL} is corrupt")


@pytest.mark.parametrize("role", UNTRUSTED + TRUSTED)
def test_an_unexpected_failure_is_masked(system: System, as_role: Any, role: str) -> None:
    system.directory = ExplodingDirectory()  # type: ignore[assignment]
    response = caller(as_role, role).post(
        "query($id: ID!) { organization(id: $id) { nameEn } }", {"id": str(uuid4())}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["data"] == {"organization": None}
    [error] = body["errors"]
    assert error["message"] == "Unexpected error."
    assert error["extensions"] == {"code": "INTERNAL"}
    assert SECRET_DETAIL not in response.text
    assert "RuntimeError" not in response.text
    if role in TRUSTED:
        assert error["path"] == ["organization"]
    else:
        assert "path" not in error
        assert "locations" not in error


def test_a_failure_in_a_search_is_masked(system: System, as_role: Any) -> None:
    system.directory = ExplodingDirectory()  # type: ignore[assignment]
    response = as_role("public").post("{ directory { totalCount } }")
    assert response.json() == {
        "data": None,
        "errors": [{"message": "Unexpected error.", "extensions": {"code": "INTERNAL"}}],
    }


def test_an_unexpected_failure_is_logged_by_type_only(
    system: System, as_role: Any, caplog: pytest.LogCaptureFixture
) -> None:
    system.directory = ExplodingDirectory()  # type: ignore[assignment]
    with caplog.at_level(logging.DEBUG):
        as_role("public").post(
            "query($id: ID!) { organization(id: $id) { nameEn } }", {"id": str(uuid4())}
        )
    assert "RuntimeError" in caplog.text
    assert SECRET_DETAIL not in caplog.text


A_CALLERS_WORDS = "Jane Fictional-Doe, +1 555 010 9999"


@pytest.mark.parametrize("role", ["public", "staff"])
def test_a_mistyped_variable_never_puts_its_value_in_the_logs(
    as_role: Any, caplog: pytest.LogCaptureFixture, role: str
) -> None:
    with caplog.at_level(logging.DEBUG):
        body = as_role(role).gql(
            "query($n: Int!) { directory(first: $n) { totalCount } }", {"n": A_CALLERS_WORDS}
        )
    assert body["data"] is None
    assert A_CALLERS_WORDS not in caplog.text


def test_a_mistyped_variable_tells_the_hotline_which_variable(as_role: Any) -> None:
    body = as_role("staff").gql(
        "query($k: [OrganizationKind!]) { directory(filter: { kinds: $k }) { totalCount } }",
        {"k": ["DIRECT_SERVICE"]},
    )
    [error] = body["errors"]
    assert error["extensions"]["code"] != "INTERNAL"
    assert "$k" in error["message"]


@pytest.mark.parametrize(
    "variables", [{"n": A_CALLERS_WORDS}, {"n": 1, "s": {"name": A_CALLERS_WORDS}}]
)
def test_a_mistyped_variable_is_not_quoted_back_to_the_hotline(
    as_role: Any, variables: dict[str, Any]
) -> None:
    response = as_role("staff").post(
        "query($n: Int!, $s: String) { directory(first: $n, search: $s) { totalCount } }", variables
    )
    [error] = response.json()["errors"]
    assert "Jane" not in response.text
    assert "$n" in error["message"] or "$s" in error["message"]


@pytest.mark.parametrize("role", UNTRUSTED)
def test_a_mistyped_variable_teaches_an_untrusted_caller_nothing(as_role: Any, role: str) -> None:
    response = caller(as_role, role).post(
        "query($k: [OrganizationKind!]) { directory(filter: { kinds: $k }) { totalCount } }",
        {"k": ["DIRECT_SERVICE"]},
    )
    for hint in (
        "Did you mean",
        "DIRECT_SERVICE_PROVIDER",
        "OrganizationKind",
        "locations",
        "path",
    ):
        assert hint not in response.text


def test_parsed_and_validated_documents_are_remembered_within_their_bytes(system: System) -> None:
    gate = DocumentGate(system.schema, system.policy, LIMITS, cache_bytes=200_000)
    for n in range(60):  # a caller chooses each document's size: a count bounds nothing
        document = "{ " + " ".join(f"a{n}x{i}: __typename" for i in range(12)) + " }"
        assert gate.parsed(document) is gate.parsed(document)
        gate.validated(document, "staff")
    assert 0 < len(gate._parsed) < 60 and gate._parsed.size <= 100_000
    assert len(gate._validated) > 0 and gate._validated.size <= 100_000
