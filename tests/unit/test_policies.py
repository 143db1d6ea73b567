"""The policy covers the whole schema, denies by default, and compiles without changing
a decision."""

from __future__ import annotations

import itertools
from pathlib import Path

import casbin
import pytest

from api.schema.build import build_schema, coordinates
from domain.queues import QUEUES
from policies import (
    MODEL,
    POLICY,
    RELATIONS,
    ROLES,
    FieldPolicy,
    declared_coordinates,
    load_policy,
    policy_version,
)

SCOPES = {
    ("Directory.internal", "scope"),
    ("Directory.public", "scope"),
    ("Protocols.all", "scope"),
    ("Audit.records", "scope"),
    ("Audit.access", "scope"),
    ("Audit.quarantine", "scope"),
    # Which role reads which work queue (domain/queues.py): a line naming no queue is stale.
    *((f"WorkQueue.{name.value}", "scope") for name in QUEUES),
}


@pytest.fixture(scope="module")
def schema_coordinates() -> set[tuple[str, str]]:
    return coordinates(build_schema([]))


def test_every_schema_field_has_an_explicit_policy_line(
    schema_coordinates: set[tuple[str, str]],
) -> None:
    missing = sorted(schema_coordinates - declared_coordinates())
    assert missing == [], f"fields without a policy line (denied, but say so explicitly): {missing}"


def test_the_policy_names_nothing_that_is_not_in_the_schema(
    schema_coordinates: set[tuple[str, str]],
) -> None:
    stale = sorted(declared_coordinates() - schema_coordinates - SCOPES)
    assert stale == []


def test_a_field_without_a_policy_line_is_denied_to_every_role(tmp_path: Path) -> None:
    policy_file = tmp_path / "policy.csv"
    kept = [line for line in POLICY.read_text().splitlines() if "Organization.nameEn," not in line]
    policy_file.write_text("\n".join(kept) + "\n")
    policy = FieldPolicy.compile(MODEL, policy_file)
    for role, relation in itertools.product(ROLES, RELATIONS):
        assert not policy.allows(role, "Organization.nameEn", "read", relation)
        assert "nameEn" not in policy.fields(role, "Organization", relation)
        assert "Organization.nameEn" not in policy.selectable(role)


def test_compiled_decisions_equal_casbin_for_every_role_coordinate_and_relation(
    schema_coordinates: set[tuple[str, str]],
) -> None:
    enforcer = casbin.Enforcer(str(MODEL), str(POLICY))
    policy = load_policy()
    for (obj, act), role, relation in itertools.product(
        sorted(schema_coordinates | SCOPES), ROLES, RELATIONS
    ):
        assert policy.allows(role, obj, act, relation) == enforcer.enforce(
            role, obj, act, relation
        ), (role, obj, act, relation)


def test_an_unknown_role_is_denied_everything() -> None:
    policy = load_policy()
    assert not policy.allows("intruder", "Query.directory")
    assert policy.selectable("intruder") == frozenset()
    assert policy.fields("intruder", "Organization") == frozenset()


@pytest.mark.parametrize("role", ["public", "partner", "law_enforcement"])
def test_roles_outside_the_hotline_read_only_public_organization_fields(role: str) -> None:
    public = {
        "id",
        "kind",
        "nameEn",
        "nameFr",
        "descriptionEn",
        "descriptionFr",
        "services",
        "focusAreas",
        "populations",
        "languages",
        "regions",
        "hours",
        "intakeProcess",
        "publicContact",
        "location",
    }
    assert load_policy().fields(role, "Organization", "any") == public


def test_a_partner_reads_its_own_full_record_but_never_allegations_or_removal() -> None:
    own = load_policy().fields("partner", "Organization", "own")
    assert {"status", "history", "pointOfContact", "referralProtocol"} <= own
    assert not {"misconductAllegations", "removal"} & own


@pytest.mark.parametrize(
    "role,sees", [("staff", False), ("supervisor", True), ("compliance", True), ("partner", False)]
)
def test_misconduct_allegations_and_removal_details_are_for_supervisors_and_compliance(
    role: str, sees: bool
) -> None:
    policy = load_policy()
    for relation in RELATIONS:
        fields = policy.fields(role, "Organization", relation)
        assert ({"misconductAllegations", "removal"} <= fields) is sees


@pytest.mark.parametrize(
    "role,relation,allowed",
    [
        ("staff", "any", True),
        ("supervisor", "any", True),
        ("law_enforcement", "own", True),
        ("law_enforcement", "any", False),
        ("compliance", "any", False),
        ("partner", "own", False),
        ("public", "any", False),
    ],
)
def test_reporting_protocols_are_for_staff_supervisors_and_the_agency_itself(
    role: str, relation: str, allowed: bool
) -> None:
    assert load_policy().allows(role, "Protocols.all", "scope", relation) is allowed


@pytest.mark.parametrize(
    "mutation",
    [
        "removeOrganization",
        "reinstateOrganization",
        "recordMisconductAllegation",
        "includePublicBody",
    ],
)
def test_only_supervisors_remove_reinstate_or_record_allegations(mutation: str) -> None:
    policy = load_policy()
    callers = {
        role
        for role, relation in itertools.product(ROLES, RELATIONS)
        if policy.allows(role, f"Mutation.{mutation}", "call", relation)
    }
    assert callers == {"supervisor"}


@pytest.mark.parametrize(
    "mutation", ["includeAgency", "dismissPossibleDuplicate", "declineAsDuplicate"]
)
def test_only_the_directory_keepers_include_agencies_or_decide_on_duplicates(
    mutation: str,
) -> None:
    policy = load_policy()
    callers = {
        role
        for role, relation in itertools.product(ROLES, RELATIONS)
        if policy.allows(role, f"Mutation.{mutation}", "call", relation)
    }
    assert callers == {"staff", "supervisor"}


def test_possible_duplicates_are_read_and_filtered_by_the_hotline_alone() -> None:
    policy = load_policy()
    for role, relation in itertools.product(ROLES, RELATIONS):
        hotline = role in {"staff", "supervisor", "compliance"}
        fields = policy.fields(role, "Organization", relation)
        assert ({"possibleDuplicates", "duplicateOf"} <= fields) is hotline, (role, relation)
        assert not ({"possibleDuplicates", "duplicateOf"} & fields) or hotline
        filters = policy.allows(role, "DirectoryFilter.possibleDuplicate", "filter", relation)
        assert filters is hotline, (role, relation)


def test_compliance_officers_change_nothing(schema_coordinates: set[tuple[str, str]]) -> None:
    policy = load_policy()
    mutations = [obj for obj, act in schema_coordinates if act == "call"]
    assert mutations
    assert not any(policy.allows("compliance", m, "call", r) for m in mutations for r in RELATIONS)


def test_the_policy_version_changes_when_the_policy_changes(tmp_path: Path) -> None:
    copy = tmp_path / "policy.csv"
    copy.write_text(POLICY.read_text())
    before = policy_version(MODEL, copy)
    copy.write_text(POLICY.read_text() + "p, staff, Query.directory, read, own\n")
    assert policy_version(MODEL, copy) != before
    assert policy_version() == policy_version(MODEL, POLICY)
