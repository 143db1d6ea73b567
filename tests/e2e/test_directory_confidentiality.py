"""Who sees what in the directory, by every path a prober would try.

A small fictional world (a listed shelter, an unlisted one, one under review, and a partner's
own record) is read by every role. Each role sees exactly the fields the policy grants on each
record; "not yours" answers byte for byte like "does not exist"; a confidential address never
reaches anyone outside the hotline, however the document is shaped; and filters, mutations and
protocols refuse what a role may not touch instead of quietly answering.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

import pytest

from api.wiring import System
from domain.base import Actor, acting_as
from domain.organization import ContactOutcome, RemovalReason
from tests.e2e.conftest import fictional_profile, seed

# -- the policy, written out independently of policies/policy.csv ------------------------------

PUBLIC = (
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
)
INTERNAL = (
    "status",
    "publiclyListed",
    "pointOfContact",
    "referralProtocol",
    "criteria",
    "lastConfirmedAt",
    "reviewDueAt",
    "failedContactAttempts",
    "flaggedUnreachable",
    "contactAttempts",
    "pendingProfileUpdate",
    "removalRequested",
    "history",
    "version",
    "createdAt",
    "updatedAt",
)
# A misconduct allegation moves version and updatedAt without a history entry, so a partner
# reading them on its own record could infer one: they are the hotline's only.
PARTNER_INTERNAL = tuple(f for f in INTERNAL if f not in ("version", "updatedAt"))
OVERSIGHT = ("misconductAllegations", "removal")
CONFIDENTIAL = INTERNAL + OVERSIGHT

SUBFIELDS = {
    "services": "{ nameEn nameFr category natures }",
    "regions": "{ province municipality }",
    "publicContact": "{ phone tollFree email website }",
    "location": "{ province municipality address postalCode confidential }",
    "pointOfContact": "{ name title phone email afterHoursPhone }",
    "contactAttempts": "{ at outcome note }",
    "pendingProfileUpdate": "{ submittedAt profile { nameEn location { address postalCode } "
    "pointOfContact { name } } }",
    "history": "{ at what status actorRole note }",
    "misconductAllegations": "{ at summary recordedBy }",
    "removal": "{ at reason note removedBy }",
}


@dataclass(frozen=True)
class Viewer:
    role: str
    organization: str  # "own", "elsewhere" or "" (a role that belongs to no organization)
    selectable: tuple[str, ...]  # the Organization fields this role may put in a document

    @property
    def hotline(self) -> bool:
        return self.role in ("staff", "supervisor", "compliance")


VIEWERS = {
    "public": Viewer("public", "", PUBLIC),
    "partner-own": Viewer("partner", "own", PUBLIC + PARTNER_INTERNAL),
    "partner-other": Viewer("partner", "elsewhere", PUBLIC + PARTNER_INTERNAL),
    "law_enforcement": Viewer("law_enforcement", "elsewhere", PUBLIC),
    "staff": Viewer("staff", "", PUBLIC + INTERNAL),
    "supervisor": Viewer("supervisor", "", PUBLIC + CONFIDENTIAL),
    "compliance": Viewer("compliance", "", PUBLIC + CONFIDENTIAL),
}
OUTSIDERS = [name for name, viewer in VIEWERS.items() if not viewer.hotline]
TARGETS = ("listed", "unlisted", "under-review", "own", "missing", "malformed")
NOT_INCLUDED = {"under-review", "own"}


def expected_fields(viewer: Viewer, target: str) -> set[str] | None:
    """The fields that must be non-null, or None when the whole answer must be null."""
    if target in ("missing", "malformed"):
        return None
    if viewer.hotline or (viewer.organization == "own" and target == "own"):
        seen = set(viewer.selectable)
    elif target == "listed":
        seen = set(PUBLIC)
    else:
        return None
    seen.discard("removal")  # nobody in this world was removed
    if target in NOT_INCLUDED:
        seen -= {"lastConfirmedAt", "reviewDueAt"}  # never approved, so never confirmed
    return seen


# -- a fictional world -------------------------------------------------------------------------

SUPERVISOR = Actor("fictional-supervisor-1", "supervisor", request_id="world")
ALLEGATION = "Fictional allegation: unpaid fictional volunteers"
REMOVAL_NOTE = "Fictional removal note: never show outside oversight"


def hidden_address(name: str) -> str:
    return f"{zlib.crc32(name.encode()) % 900 + 100} Fictional Hidden Lane"


def confidential_location(name: str, province: str = "CA-ON") -> dict[str, Any]:
    return {
        "province": province,
        "municipality": "Fictionville",
        "address": hidden_address(name),
        "postalCode": "A1A 1A1",
        "confidential": True,
    }


def place(
    system: System,
    name: str,
    *,
    included: bool = True,
    listed: bool = True,
    under_review: bool = False,
    **changes: Any,
) -> str:
    org = seed(
        system,
        name,
        included=included,
        listed=listed,
        confidential=True,
        location=confidential_location(name),
        **changes,
    )
    if under_review:
        with acting_as(SUPERVISOR):
            system.app.start_review(f"fictional-{uuid4()}", org)
        system.projector.catch_up()
    return str(org)


def enrich(system: System, org: str) -> None:
    """Gives every internal and oversight field a value, so that a null can only mean hidden."""
    org_id = UUID(org)
    update = fictional_profile("Example Pending Name", pointOfContact={"name": "Fictional Pending"})
    update["location"] = confidential_location("pending " + org)
    with acting_as(SUPERVISOR):
        system.app.record_contact_attempt(
            f"fictional-{uuid4()}", org_id, ContactOutcome.REACHED, "fictional call"
        )
        system.app.submit_profile_update(f"fictional-{uuid4()}", org_id, update)
        system.app.record_misconduct_allegation(f"fictional-{uuid4()}", org_id, ALLEGATION)
    system.projector.catch_up()


@dataclass(frozen=True)
class World:
    ids: dict[str, str]
    neighbour: str  # the organization the "other" partner belongs to

    def id(self, target: str) -> str:
        return self.ids[target]


def build_world(system: System, rich: bool = True) -> World:
    ids = {
        "listed": place(system, "Example Listed Shelter"),
        "unlisted": place(system, "Example Unlisted Shelter", listed=False),
        "under-review": place(
            system, "Example Reviewed Shelter", included=False, under_review=True
        ),
        "own": place(
            system, "Example Own Shelter", included=False, listed=False, under_review=True
        ),
        "missing": str(uuid4()),
        "malformed": "not-an-organization-id",
    }
    if rich:
        for target in ("listed", "unlisted", "under-review", "own"):
            enrich(system, ids[target])
    return World(ids, neighbour=str(uuid4()))


def caller_for(as_role: Any, world: World, viewer: Viewer) -> Any:
    org = {"own": world.id("own"), "elsewhere": world.neighbour}.get(viewer.organization)
    return as_role(viewer.role, org)


def selection(fields: tuple[str, ...] | list[str]) -> str:
    return " ".join(f"{name} {SUBFIELDS.get(name, '')}".strip() for name in fields)


def organization_query(fields: tuple[str, ...]) -> str:
    return f"query($id: ID!) {{ organization(id: $id) {{ {selection(fields)} }} }}"


def key() -> str:
    return f"fictional-{uuid4()}"


def events_written(system: System) -> int:
    return system.app.recorder.max_notification_id() or 0


# -- 1. every role, every kind of record -------------------------------------------------------


@pytest.mark.parametrize("name", sorted(VIEWERS))
def test_each_role_sees_exactly_the_fields_the_policy_grants_on_each_record(
    system: System, as_role: Any, name: str
) -> None:
    viewer = VIEWERS[name]
    world = build_world(system)
    caller = caller_for(as_role, world, viewer)
    for target in TARGETS:
        body = caller.gql(organization_query(viewer.selectable), {"id": world.id(target)})
        assert "errors" not in body, (target, body)
        found = body["data"]["organization"]
        expected = expected_fields(viewer, target)
        if expected is None:
            assert found is None, f"{name} must not see {target}: {found}"
            continue
        assert found is not None, f"{name} must see {target}"
        non_null = {field for field, value in found.items() if value is not None}
        assert non_null == expected, (
            f"{name} on {target}: unexpected {sorted(non_null - expected)}, "
            f"missing {sorted(expected - non_null)}"
        )
        sees_internal = "status" in expected
        assert (found["location"]["address"] is not None) == sees_internal, (name, target)
        assert (found["location"]["postalCode"] is not None) == sees_internal, (name, target)


@pytest.mark.parametrize("name", sorted(VIEWERS))
def test_the_hidden_address_is_the_real_one_where_it_shows(
    system: System, as_role: Any, name: str
) -> None:
    viewer = VIEWERS[name]
    world = build_world(system, rich=False)
    caller = caller_for(as_role, world, viewer)
    for target, shelter in (("listed", "Example Listed Shelter"), ("own", "Example Own Shelter")):
        found = caller.gql(organization_query(("nameEn", "location")), {"id": world.id(target)})[
            "data"
        ]["organization"]
        internal = viewer.hotline or (viewer.organization == "own" and target == "own")
        if found is None:
            assert target == "own" and not internal
            continue
        assert found["nameEn"] == shelter
        location = found["location"]
        assert (location["province"], location["municipality"]) == ("CA-ON", "Fictionville")
        assert location["confidential"] is (True if internal else None)  # no public flag
        assert location["address"] == (hidden_address(shelter) if internal else None)
        assert location["postalCode"] == ("A1A 1A1" if internal else None)


@pytest.mark.parametrize("name", OUTSIDERS)
def test_not_yours_answers_byte_for_byte_like_does_not_exist(
    system: System, as_role: Any, name: str
) -> None:
    viewer = VIEWERS[name]
    world = build_world(system, rich=False)
    caller = caller_for(as_role, world, viewer)
    query = organization_query(viewer.selectable)

    def raw(org_id: str) -> bytes:
        response = caller.post(query, {"id": org_id})
        assert response.status_code == 200
        return bytes(response.content)

    nothing = raw(world.id("missing"))
    assert json.loads(nothing) == {"data": {"organization": None}}
    hidden = ["unlisted", "under-review"] + ([] if viewer.organization == "own" else ["own"])
    for target in hidden:
        assert raw(world.id(target)) == nothing, target
    for malformed in (
        "not-an-organization-id",
        "",
        "' OR 1=1 --",
        "0" * 36,
        "00000000-0000-4000-8000-00000000000g",
        world.id("listed") + "0",
    ):
        assert raw(malformed) == nothing, malformed


# -- 2. oversight fields ------------------------------------------------------------------------


def removed_organization(system: System) -> str:
    org = place(system, "Example Removed Shelter")
    with acting_as(SUPERVISOR):
        system.app.record_misconduct_allegation(key(), UUID(org), ALLEGATION)
        system.app.remove_organization(
            key(), UUID(org), RemovalReason.MISCONDUCT_ALLEGATION, REMOVAL_NOTE
        )
    system.projector.catch_up()
    return org


OVERSIGHT_QUERY = (
    "query($id: ID!) { organization(id: $id) { status "
    "misconductAllegations { summary recordedBy } "
    "removal { reason note removedBy } } }"
)


@pytest.mark.parametrize("role", ["supervisor", "compliance"])
def test_removal_and_allegations_reach_supervisors_and_compliance(
    system: System, as_role: Any, role: str
) -> None:
    org = removed_organization(system)
    found = as_role(role).gql(OVERSIGHT_QUERY, {"id": org})["data"]["organization"]
    assert found == {
        "status": "REMOVED",
        "misconductAllegations": [{"summary": ALLEGATION, "recordedBy": "fictional-supervisor-1"}],
        "removal": {
            "reason": "MISCONDUCT_ALLEGATION",
            "note": REMOVAL_NOTE,
            "removedBy": "fictional-supervisor-1",
        },
    }


def _oversight_shapes(field: str) -> tuple[str, ...]:
    return (
        f"query($id: ID!) {{ organization(id: $id) {{ {selection([field])} }} }}",
        f"query($id: ID!) {{ organization(id: $id) {{ ...O }} }} "
        f"fragment O on Organization {{ x: {selection([field])} }}",
        f"{{ directory {{ edges {{ node {{ ... on Organization "
        f"{{ {selection([field])} }} }} }} }} }}",
    )


@pytest.mark.parametrize(
    "name", ["public", "partner-own", "partner-other", "law_enforcement", "staff"]
)
def test_a_document_selecting_oversight_fields_is_refused_below_oversight(
    system: System, as_role: Any, name: str
) -> None:
    org = removed_organization(system)
    viewer = VIEWERS[name]
    caller = as_role(
        viewer.role,
        org if viewer.organization == "own" else (str(uuid4()) if viewer.organization else None),
    )
    for shape in _oversight_shapes("misconductAllegations") + _oversight_shapes("removal"):
        response = caller.post(shape, {"id": org})
        body = response.json()
        assert body["data"] is None, (name, shape)
        assert body["errors"]
        assert REMOVAL_NOTE not in response.text
        assert ALLEGATION not in response.text


@pytest.mark.parametrize("name", ["partner-own", "staff"])
def test_removal_details_do_not_leak_through_history_or_status(
    system: System, as_role: Any, name: str
) -> None:
    org = removed_organization(system)
    viewer = VIEWERS[name]
    caller = as_role(viewer.role, org if viewer.organization == "own" else None)
    response = caller.post(organization_query(viewer.selectable), {"id": org})
    found = response.json()["data"]["organization"]
    assert found["status"] == "REMOVED"
    assert [h["what"] for h in found["history"]][-1] == "REMOVED"
    assert REMOVAL_NOTE not in response.text
    assert ALLEGATION not in response.text
    assert "MISCONDUCT" not in response.text


# -- 3. a confidential address, by every path ---------------------------------------------------

AGENCY = "Example Harbour Police Service"
AGENCY_POSTAL = "K0K 0K0"
AGENCY_ADDRESS = "77 Fictional Quiet Lane"
CONTACTS = [{"name": "Sgt. Fictional Example", "phone": "+1 555 010 0142"}]


@dataclass(frozen=True)
class Agencies:
    mine: str
    theirs: str
    my_protocol: str
    their_protocol: str


def agencies(system: System) -> Agencies:
    """Two fictional police services, each with a protocol; the first has a hidden address."""
    location = {
        "province": "CA-ON",
        "municipality": "Fictionville",
        "address": AGENCY_ADDRESS,
        "postalCode": AGENCY_POSTAL,
        "confidential": True,
    }
    # Seeded under review: an agency is included on the protocol established for it.
    mine = seed(
        system,
        AGENCY,
        kind="LAW_ENFORCEMENT_AGENCY",
        included=False,
        confidential=True,
        location=location,
    )
    theirs = seed(
        system,
        "Example Valley Police Service",
        province="CA-QC",
        kind="LAW_ENFORCEMENT_AGENCY",
        included=False,
        confidential=True,
        location=confidential_location("valley", "CA-QC"),
    )
    with acting_as(SUPERVISOR):
        mine_p = system.app.establish_reporting_protocol(key(), mine, "CA-ON", None, CONTACTS)
        theirs_p = system.app.establish_reporting_protocol(
            key(),
            theirs,
            "CA-QC",
            None,
            [{"name": "Cst. Fictional Sample", "email": "ht-unit@example.org"}],
        )
        for agency, protocol in ((mine, mine_p.id), (theirs, theirs_p.id)):
            system.app.start_review(key(), agency)
            system.app.include_agency(key(), agency, "Fictional approval.", protocol)
    system.projector.catch_up()
    return Agencies(str(mine), str(theirs), str(mine_p.id), str(theirs_p.id))


LOCATION = "location { province municipality address postalCode confidential }"
ADDRESS_PROBES = {
    "direct": f"query($id: ID!) {{ organization(id: $id) {{ nameEn {LOCATION} }} }}",
    "aliases": "query($id: ID!) { o: organization(id: $id) { n: nameEn "
    "l: location { a: address p: postalCode } } }",
    "named fragment": f"query($id: ID!) {{ organization(id: $id) {{ ...Where }} }} "
    f"fragment Where on Organization {{ nameEn {LOCATION} }}",
    "nested fragments": "query($id: ID!) { organization(id: $id) { ...Outer } } "
    "fragment Outer on Organization { nameEn location { ...Inner } } "
    "fragment Inner on Location { address postalCode }",
    "inline fragments": "query($id: ID!) { organization(id: $id) { ... on Organization "
    "{ __typename nameEn location { ... on Location "
    "{ __typename address postalCode } } } } }",
    "typename everywhere": "query($id: ID!) { __typename organization(id: $id) { __typename "
    "nameEn location { __typename address postalCode } } }",
    "same field twice": "query($id: ID!) { a: organization(id: $id) { nameEn location "
    "{ address } } b: organization(id: $id) { location { postalCode } } }",
    "search by name": f"query($name: String) {{ directory(search: $name) {{ edges {{ node "
    f"{{ nameEn {LOCATION} }} }} }} }}",
    "search, fragments": "query($provinces: [String!]) { directory(filter: "
    "{ provinces: $provinces }) { ...Page } } "
    "fragment Page on DirectoryConnection { edges { node { ...N } } } "
    f"fragment N on Organization {{ nameEn {LOCATION} }}",
}
PROBE_VALUES = {"name": "Harbour Police", "provinces": ["CA-ON"]}
PROTOCOL_PROBES = {
    "protocol agency": f"query($p: ID!) {{ reportingProtocol(id: $p) {{ agency "
    f"{{ nameEn {LOCATION} }} }} }}",
    "protocols agency": f"{{ reportingProtocols {{ agency {{ nameEn {LOCATION} }} }} }}",
    "protocol agency, fragments": "query($p: ID!) { reportingProtocol(id: $p) { ...P } } "
    "fragment P on ReportingProtocol { agency { ...A } } "
    "fragment A on Organization { nameEn ... on Organization "
    "{ x: location { y: address z: postalCode } } }",
}


def assert_no_address(response: Any, context: str) -> None:
    assert response.status_code == 200
    assert AGENCY in response.text, f"{context}: the probe did not reach the agency"
    assert AGENCY_ADDRESS not in response.text, context
    assert AGENCY_POSTAL not in response.text, context


# Outsiders to the agency's record; its own liaison reads only the public copy too.
ADDRESS_OUTSIDERS = {
    "public": ("public", ""),
    "partner": ("partner", "theirs"),
    "law_enforcement of another agency": ("law_enforcement", "theirs"),
    "law_enforcement of this agency": ("law_enforcement", "mine"),
}


@pytest.mark.parametrize("name", sorted(ADDRESS_OUTSIDERS))
def test_a_confidential_address_never_reaches_an_outsider(
    system: System, as_role: Any, name: str
) -> None:
    found = agencies(system)
    role, whose = ADDRESS_OUTSIDERS[name]
    caller = as_role(role, {"mine": found.mine, "theirs": found.theirs}.get(whose))
    for probe, document in ADDRESS_PROBES.items():
        assert_no_address(
            caller.post(document, PROBE_VALUES | {"id": found.mine}), f"{name}: {probe}"
        )
    hidden_search = caller.gql(
        "query($s: String) { directory(search: $s) { totalCount } }", {"s": "Fictional Quiet Lane"}
    )
    assert hidden_search == {"data": {"directory": {"totalCount": 0}}}


def test_a_liaison_never_reads_its_own_agencys_hidden_address_through_a_protocol(
    system: System, as_role: Any
) -> None:
    found = agencies(system)
    liaison = as_role("law_enforcement", found.mine)
    for probe, document in PROTOCOL_PROBES.items():
        assert_no_address(liaison.post(document, {"p": found.my_protocol}), probe)


@pytest.mark.parametrize("role", ["staff", "supervisor"])
def test_the_same_probes_do_show_the_address_to_the_hotline(
    system: System, as_role: Any, role: str
) -> None:
    """The control: every probe above reaches the address when the role may read it."""
    found = agencies(system)
    caller = as_role(role)
    probes = [(d, PROBE_VALUES | {"id": found.mine}) for d in ADDRESS_PROBES.values()]
    probes += [(d, {"p": found.my_protocol}) for d in PROTOCOL_PROBES.values()]
    for document, variables in probes:
        text = caller.post(document, variables).text
        assert AGENCY_ADDRESS in text or AGENCY_POSTAL in text, (document, text)


PUBLIC_VIEW = f"query($id: ID!) {{ organization(id: $id) {{ nameEn {LOCATION} }} }}"
PUBLIC_SEARCH = (
    f"query($s: String!) {{ directory(search: $s) {{ totalCount edges {{ node "
    f"{{ nameEn {LOCATION} }} }} }} }}"
)


def test_an_address_made_confidential_leaves_the_public_copy_at_once(
    system: System, as_role: Any
) -> None:
    org = seed(system, "Example Moving Shelter")  # an open address, public by consent
    public, partner = as_role("public"), as_role("partner", org)
    assert "1 Example Street" in public.post(PUBLIC_VIEW, {"id": str(org)}).text
    hidden = fictional_profile("Example Moving Shelter")
    hidden["location"] = confidential_location("moving")
    partner.gql(
        partner_mutation("submitProfileUpdate"), {"key": key(), "id": str(org), "profile": hidden}
    )
    # Until staff accept the update, the pending address is internal too.
    assert hidden_address("moving") not in public.post(PUBLIC_VIEW, {"id": str(org)}).text
    accepted = as_role("staff").gql(
        "mutation($key: String!, $id: ID!) { acceptProfileUpdate(idempotencyKey: $key, id: $id) "
        "{ version } }",
        {"key": key(), "id": str(org)},
    )
    assert "errors" not in accepted
    for response in (
        public.post(PUBLIC_VIEW, {"id": str(org)}),
        public.post(PUBLIC_SEARCH, {"s": "Example Moving"}),
    ):
        assert "Example Moving Shelter" in response.text
        assert hidden_address("moving") not in response.text
        assert "1 Example Street" not in response.text
        assert "A1A 1A1" not in response.text


@pytest.mark.parametrize("how", ["withdrawn consent", "removal"])
def test_a_record_leaves_the_public_directory_at_once(
    system: System, as_role: Any, how: str
) -> None:
    org = place(system, "Example Leaving Shelter")
    public = as_role("public")
    absent = public.post(PUBLIC_VIEW, {"id": str(uuid4())}).content
    assert public.post(PUBLIC_VIEW, {"id": org}).content != absent
    if how == "withdrawn consent":
        done = as_role("partner", org).gql(
            partner_mutation("setPublicListing"), {"key": key(), "id": org, "listed": False}
        )
    else:
        done = as_role("supervisor").gql(
            "mutation($key: String!, $id: ID!, $reason: RemovalReason!) { removeOrganization("
            "idempotencyKey: $key, id: $id, reason: $reason) { version } }",
            {"key": key(), "id": org, "reason": "UNREACHABLE"},
        )
    assert "errors" not in done, done
    assert public.post(PUBLIC_VIEW, {"id": org}).content == absent
    search = public.gql(PUBLIC_SEARCH, {"s": "Example Leaving"})
    assert search["data"]["directory"] == {"totalCount": 0, "edges": []}


# -- 4. aliases, fragments and edges reach what the direct path reaches -------------------------


def _alias_back(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {names.get(k, k): _alias_back(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_alias_back(v, names) for v in value]
    return value


def _shapes(fields: tuple[str, ...]) -> dict[str, tuple[str, dict[str, str]]]:
    """The same selection in other shapes, each with how to map its names back."""
    aliased = " ".join(f"c_{name}: {name} {SUBFIELDS.get(name, '')}" for name in fields)
    back = {f"c_{name}": name for name in fields}
    return {
        "aliases": (f"query($id: ID!) {{ organization(id: $id) {{ {aliased} }} }}", back),
        "named fragment": (
            f"query($id: ID!) {{ organization(id: $id) {{ ...F }} }} "
            f"fragment F on Organization {{ {selection(fields)} }}",
            {},
        ),
        "nested fragments": (
            f"query($id: ID!) {{ organization(id: $id) {{ ...G }} }} "
            f"fragment G on Organization {{ ... on Organization {{ ...F }} }} "
            f"fragment F on Organization {{ {selection(fields)} }}",
            {},
        ),
        "inline fragment": (
            f"query($id: ID!) {{ organization(id: $id) {{ ... on Organization "
            f"{{ {selection(fields)} }} }} }}",
            {},
        ),
    }


@pytest.mark.parametrize("name", sorted(VIEWERS))
def test_aliases_and_fragments_reach_exactly_what_the_direct_path_reaches(
    system: System, as_role: Any, name: str
) -> None:
    viewer = VIEWERS[name]
    world = build_world(system)
    caller = caller_for(as_role, world, viewer)
    confidential = (*(f for f in viewer.selectable if f in CONFIDENTIAL), "location")
    # At most a dozen aliases a document, under the alias limit.
    groups = [confidential[i : i + 12] for i in range(0, len(confidential), 12)]
    for target in ("listed", "unlisted", "own", "missing"):
        for fields in groups:
            variables = {"id": world.id(target)}
            direct = caller.gql(organization_query(fields), variables)["data"]["organization"]
            if expected_fields(viewer, target) is not None:
                assert direct is not None
            for shape, (document, back) in _shapes(fields).items():
                body = caller.gql(document, variables)
                assert "errors" not in body, (shape, body)
                assert _alias_back(body["data"]["organization"], back) == direct, (
                    f"{name} on {target} through {shape}"
                )


@pytest.mark.parametrize("name", sorted(VIEWERS))
def test_a_search_edge_shows_no_more_than_the_record_itself(
    system: System, as_role: Any, name: str
) -> None:
    viewer = VIEWERS[name]
    world = build_world(system)
    caller = caller_for(as_role, world, viewer)
    fields = viewer.selectable
    for target in ("listed", "unlisted", "under-review", "own"):
        record = caller.gql(organization_query(fields), {"id": world.id(target)})["data"][
            "organization"
        ]
        search = caller.gql(
            f"query($s: String!) {{ directory(search: $s) {{ edges {{ node "
            f"{{ {selection(fields)} }} }} }} }}",
            {"s": f"Example {'Reviewed' if target == 'under-review' else target.title()}"},
        )
        nodes = [
            e["node"]
            for e in search["data"]["directory"]["edges"]
            if e["node"]["id"] == world.id(target)
        ]
        if record is None:
            assert nodes == [], f"{name} found {target} by search but not by id"
        elif nodes:
            assert nodes == [record], f"{name}: the edge of {target} differs from the record"
        else:
            assert viewer.organization == "own" and target == "own"  # internal to its owner


# -- 5. filters on what a role cannot read ------------------------------------------------------

RESTRICTED_FILTERS: dict[str, tuple[str, list[Any]]] = {
    "statuses": ("[OrganizationStatus!]", [["UNDER_REVIEW"], ["DECLINED"], []]),
    "reviewDue": ("Boolean", [True, False]),
    "flaggedUnreachable": ("Boolean", [True, False]),
}


def filter_query(name: str) -> str:
    type_name = RESTRICTED_FILTERS[name][0]
    return (
        f"query($v: {type_name}) {{ directory(filter: {{ {name}: $v }}) "
        f"{{ totalCount edges {{ node {{ id }} }} }} }}"
    )


@pytest.mark.parametrize("role", ["public", "partner", "law_enforcement"])
@pytest.mark.parametrize("name", sorted(RESTRICTED_FILTERS))
def test_a_filter_on_a_field_the_role_cannot_read_is_refused_not_ignored(
    system: System, as_role: Any, role: str, name: str
) -> None:
    place(system, "Example Filtered Shelter")
    caller = as_role(role, str(uuid4()) if role != "public" else None)
    bodies = set()
    # Any value, null among them: naming the filter at all is refused, before anything runs.
    for value in [*RESTRICTED_FILTERS[name][1], None]:
        response = caller.post(filter_query(name), {"v": value})
        body = response.json()
        assert body["data"] is None, (name, value, body)
        [error] = body["errors"]
        assert error["extensions"]["code"] == "INVALID_QUERY"
        assert name not in error["message"]
        bodies.add(response.content)
    # ... and the refusal reads as the answer to a filter that does not exist.
    bodies.add(
        caller.post(filter_query(name).replace(f"{name}:", f"{name}Zq:"), {"v": None}).content
    )
    assert len(bodies) == 1, "the refusal must not depend on the value, nor on the name"
    unfiltered = caller.gql("{ directory { totalCount } }")
    assert unfiltered["data"]["directory"]["totalCount"] == 1


def test_the_hotline_filters_on_status_and_reachability(system: System, as_role: Any) -> None:
    world = build_world(system, rich=False)
    flagged = place(system, "Example Silent Shelter")
    with acting_as(SUPERVISOR):
        for _ in range(system.settings.unreachable_after):
            system.app.record_contact_attempt(key(), UUID(flagged), ContactOutcome.NO_ANSWER, "")
    system.projector.catch_up()
    staff = as_role("staff")

    def ids(name: str, value: Any) -> set[str]:
        body = staff.gql(filter_query(name), {"v": value})
        assert "errors" not in body, body
        return {e["node"]["id"] for e in body["data"]["directory"]["edges"]}

    assert ids("statuses", ["UNDER_REVIEW"]) == {world.id("under-review"), world.id("own")}
    assert ids("statuses", ["INCLUDED"]) == {world.id("listed"), world.id("unlisted"), flagged}
    assert ids("flaggedUnreachable", True) == {flagged}
    assert flagged not in ids("flaggedUnreachable", False)
    assert ids("reviewDue", True) == set()  # everything was confirmed moments ago


def test_hidden_records_leave_no_trace_in_public_totals_or_facets(
    system: System, as_role: Any
) -> None:
    place(system, "Example Listed Shelter")
    query = (
        "query($p: [String!]) { directory(filter: { provinces: $p }) { totalCount "
        "facets { name values { value count } } edges { cursor node { id } } "
        "pageInfo { hasNextPage endCursor } } }"
    )
    ontario = {"p": ["CA-ON"]}
    callers = [
        as_role("public"),
        as_role("partner", str(uuid4())),
        as_role("law_enforcement", str(uuid4())),
    ]
    before = [c.post(query, ontario).content for c in callers]
    place(system, "Example Unlisted Shelter", listed=False, populations=["MEN"])
    place(system, "Example Reviewed Shelter", included=False, under_review=True, languages=["iu"])
    place(system, "Example Submitted Shelter", included=False)
    after = [c.post(query, ontario).content for c in callers]
    assert after == before
    assert json.loads(before[0])["data"]["directory"]["totalCount"] == 1
    staff = as_role("staff").gql(query, ontario)
    assert staff["data"]["directory"]["totalCount"] == 4  # the control: they are there


# -- 6. a partner's mutations on someone else's record -----------------------------------------

PARTNER_MUTATIONS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "setPublicListing": ("$listed: Boolean!", "listed: $listed", {"listed": True}),
    "submitProfileUpdate": (
        "$profile: ProfileInput!",
        "profile: $profile",
        {"profile": fictional_profile("Example Hijacked Name")},
    ),
    "provideInformation": (
        "$answers: String!",
        "answers: $answers",
        {"answers": "fictional answers"},
    ),
    "requestRemoval": ("$note: String!", "note: $note", {"note": "fictional request"}),
}


def partner_mutation(name: str) -> str:
    params, args, _ = PARTNER_MUTATIONS[name]
    return (
        f"mutation($key: String!, $id: ID!, {params}) {{ {name}(idempotencyKey: $key, "
        f"id: $id, {args}) {{ organizationId version organization {{ id nameEn }} }} }}"
    )


@pytest.mark.parametrize("name", sorted(PARTNER_MUTATIONS))
def test_a_partner_cannot_change_another_organization_and_cannot_tell_it_exists(
    system: System, as_role: Any, name: str
) -> None:
    world = build_world(system, rich=False)
    partner = as_role("partner", world.id("own"))
    variables = PARTNER_MUTATIONS[name][2]
    before = events_written(system)
    bodies = {}
    for target in ("listed", "unlisted", "under-review", "missing", "malformed"):
        response = partner.post(
            partner_mutation(name), {"key": key(), "id": world.id(target), **variables}
        )
        assert response.status_code == 200
        bodies[target] = response.content
    assert events_written(system) == before
    assert len(set(bodies.values())) == 1, bodies
    body = json.loads(bodies["missing"])
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert "path" not in error and "locations" not in error
    listed = as_role("staff").gql(
        organization_query(("nameEn", "publiclyListed", "version")), {"id": world.id("listed")}
    )["data"]["organization"]
    assert listed["nameEn"] == "Example Listed Shelter"


def test_a_partner_does_change_its_own_organization(system: System, as_role: Any) -> None:
    """The control for the test above: the same documents work on the partner's own record."""
    world = build_world(system, rich=False)
    partner = as_role("partner", world.id("own"))
    listed = partner.gql(
        partner_mutation("setPublicListing"), {"key": key(), "id": world.id("own"), "listed": True}
    )
    assert listed["data"]["setPublicListing"]["organizationId"] == world.id("own")
    updated = partner.gql(
        partner_mutation("submitProfileUpdate"),
        {"key": key(), "id": world.id("own"), **PARTNER_MUTATIONS["submitProfileUpdate"][2]},
    )
    assert (
        updated["data"]["submitProfileUpdate"]["version"]
        > (listed["data"]["setPublicListing"]["version"])
    )
    mine = partner.gql(
        organization_query(("publiclyListed", "pendingProfileUpdate")), {"id": world.id("own")}
    )["data"]["organization"]
    assert mine["publiclyListed"] is True
    assert mine["pendingProfileUpdate"]["profile"]["nameEn"] == "Example Hijacked Name"


# -- 7. a law-enforcement liaison and the reporting protocols -----------------------------------

PROTOCOL = (
    "query($p: ID!) { reportingProtocol(id: $p) { id agencyId province "
    "contacts { name phone email } revisions { revision actorRole } } }"
)
PROTOCOLS = "query($prov: String) { reportingProtocols(province: $prov) { id agencyId } }"
REVISE = (
    "mutation($key: String!, $p: ID!, $contacts: [ProtocolContactInput!]!) { "
    "reviseProtocolContacts(idempotencyKey: $key, id: $p, contacts: $contacts) "
    "{ protocolId version protocol { contacts { name } } } }"
)
ESTABLISH = (
    "mutation($key: String!, $a: ID!, $province: String!, "
    "$contacts: [ProtocolContactInput!]!) { establishReportingProtocol("
    "idempotencyKey: $key, agencyId: $a, province: $province, contacts: $contacts) "
    "{ protocolId } }"
)
NEW_CONTACTS = [{"name": "Cst. Fictional Newcomer", "phone": "+1 555 010 0199"}]


def test_a_liaison_lists_only_its_own_agencys_protocols(system: System, as_role: Any) -> None:
    found = agencies(system)
    liaison = as_role("law_enforcement", found.mine)
    mine = [{"id": found.my_protocol, "agencyId": found.mine}]
    assert liaison.gql(PROTOCOLS)["data"]["reportingProtocols"] == mine
    assert liaison.gql(PROTOCOLS, {"prov": "CA-ON"})["data"]["reportingProtocols"] == mine
    assert liaison.gql(PROTOCOLS, {"prov": "CA-QC"})["data"]["reportingProtocols"] == []
    everyone = as_role("staff").gql(PROTOCOLS)["data"]["reportingProtocols"]
    assert {p["id"] for p in everyone} == {found.my_protocol, found.their_protocol}


def test_another_agencys_protocol_answers_like_a_missing_one(system: System, as_role: Any) -> None:
    found = agencies(system)
    liaison = as_role("law_enforcement", found.mine)
    own = liaison.gql(PROTOCOL, {"p": found.my_protocol})["data"]["reportingProtocol"]
    assert own["contacts"] == [
        {"name": "Sgt. Fictional Example", "phone": "+1 555 010 0142", "email": None}
    ]
    nothing = liaison.post(PROTOCOL, {"p": str(uuid4())}).content
    assert json.loads(nothing) == {"data": {"reportingProtocol": None}}
    for other in (found.their_protocol, found.theirs, found.mine, "not-a-protocol-id"):
        assert liaison.post(PROTOCOL, {"p": other}).content == nothing, other


def test_a_liaison_revises_only_its_own_agencys_contacts(system: System, as_role: Any) -> None:
    found = agencies(system)
    liaison = as_role("law_enforcement", found.mine)
    revised = liaison.gql(REVISE, {"key": key(), "p": found.my_protocol, "contacts": NEW_CONTACTS})
    assert revised["data"]["reviseProtocolContacts"]["protocol"]["contacts"] == [
        {"name": "Cst. Fictional Newcomer"}
    ]

    before = events_written(system)
    bodies = {
        other: liaison.post(REVISE, {"key": key(), "p": other, "contacts": NEW_CONTACTS}).content
        for other in (found.their_protocol, str(uuid4()), found.theirs, "not-an-id")
    }
    assert events_written(system) == before
    assert len(set(bodies.values())) == 1, bodies
    error = json.loads(next(iter(bodies.values())))["errors"][0]
    assert error["extensions"]["code"] == "NOT_FOUND"
    theirs = as_role("staff").gql(PROTOCOL, {"p": found.their_protocol})
    assert theirs["data"]["reportingProtocol"]["contacts"] == [
        {"name": "Cst. Fictional Sample", "phone": None, "email": "ht-unit@example.org"}
    ]


def test_a_liaison_cannot_establish_a_protocol_for_another_agency(
    system: System, as_role: Any
) -> None:
    found = agencies(system)
    liaison = as_role("law_enforcement", found.mine)
    before = events_written(system)
    bodies = {
        other: liaison.post(
            ESTABLISH, {"key": key(), "a": other, "province": "CA-MB", "contacts": NEW_CONTACTS}
        ).content
        for other in (found.theirs, str(uuid4()), "not-an-id")
    }
    assert events_written(system) == before
    assert len(set(bodies.values())) == 1, bodies
    own = liaison.gql(
        ESTABLISH, {"key": key(), "a": found.mine, "province": "CA-MB", "contacts": NEW_CONTACTS}
    )
    assert own["data"]["establishReportingProtocol"]["protocolId"]
    assert events_written(system) > before


@pytest.mark.parametrize("field", ["version", "updatedAt"])
def test_a_partner_cannot_read_the_version_or_update_time_of_its_own_record(
    system: System, as_role: Any, field: str
) -> None:
    world = build_world(system, rich=False)
    body = (
        caller_for(as_role, world, VIEWERS["partner-own"])
        .post(organization_query(("nameEn", field)), {"id": world.id("own")})
        .json()
    )
    assert body["data"] is None and body["errors"]
