"""End-to-end fixtures: the real app over HTTP (in process), on each store, one caller per role."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import pytest
from starlette.testclient import TestClient

from api.app import create_app
from api.wiring import System
from domain.base import Actor, acting_as
from domain.organization import AGENCY_KINDS, PUBLIC_BODY_KINDS
from domain.vocabulary import Criterion

ALL_CRITERIA = [c.value for c in Criterion]


@pytest.fixture
def client(system: System) -> Iterator[TestClient]:
    with TestClient(create_app(system, run_projections=False)) as test_client:
        yield test_client


@dataclass
class Caller:
    """Someone calling the API in one role; ``gql`` returns the decoded JSON response."""

    client: TestClient
    token: str | None

    def post(self, query: str, variables: dict[str, Any] | None = None, **extra: Any) -> Any:
        headers = {"authorization": f"Bearer {self.token}"} if self.token else {}
        return self.client.post(
            "/graphql",
            json={"query": query, "variables": variables or {}, **extra},
            headers=headers,
        )

    def gql(self, query: str, variables: dict[str, Any] | None = None, **extra: Any) -> Any:
        response = self.post(query, variables, **extra)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def as_role(system: System, client: TestClient) -> Any:
    def make(role: str, org: UUID | str | None = None, user: str | None = None) -> Caller:
        if role == "public":
            return Caller(client, None)
        token = system.auth.issue(
            role, user or f"fictional-{role}-1", None if org is None else str(org)
        )
        return Caller(client, token)

    return make


def fictional_profile(
    name: str = "Example Harbour Shelter", province: str = "CA-ON", **changes: Any
) -> dict[str, Any]:
    profile: dict[str, Any] = {
        "kind": "DIRECT_SERVICE_PROVIDER",
        "nameEn": name,
        "nameFr": f"{name} (fr)",
        "descriptionEn": "Emergency shelter for survivors (fictional)",
        "descriptionFr": "Hébergement d'urgence pour survivantes (fictif)",
        "services": [
            {
                "nameEn": "Shelter",
                "nameFr": "Hébergement",
                "category": "EMERGENCY",
                "natures": ["SOCIAL"],
            }
        ],
        "focusAreas": ["HUMAN_TRAFFICKING"],
        "populations": ["WOMEN"],
        "languages": ["en", "fr"],
        "regions": [{"province": province, "municipality": "Fictionville"}],
        "hours": "24/7",
        "intakeProcess": "Call the fictional intake line",
        "referralProtocol": "Warm transfer to the fictional coordinator",
        "publicContact": {"phone": "+1 555 010 0000", "email": "info@example.org"},
        "pointOfContact": {
            "name": "Fictional Coordinator",
            "phone": "+1 555 020 0000",
            "email": "coordinator@example.org",
        },
        "location": {
            "province": province,
            "municipality": "Fictionville",
            "address": "1 Example Street",
            "confidential": False,
        },
    }
    profile.update(changes)
    return profile


_counter = [0]
SEED_DETACHMENT = "Fictional Seed Detachment"
SEED_LISTING_AGREEMENT = "Fictional: the seeded organization's signed form."
SEED_CONTACT = {"name": "Sgt. Fictional Seed", "phone": "+1 555 010 0199"}


SEED_VERIFICATION = "Fictional: checked against the province's list of statutory bodies"


def seed(
    system: System,
    name: str = "Example Harbour Shelter",
    *,
    province: str = "CA-ON",
    included: bool = True,
    listed: bool = True,
    confidential: bool = False,
    **changes: Any,
) -> UUID:
    """Writes an organization through the real commands, then brings the read models up."""
    _counter[0] += 1
    key = f"seed-{_counter[0]:06d}"
    profile = fictional_profile(name, province, **changes)
    profile["location"]["confidential"] = confidential
    app = system.app
    with acting_as(Actor("fictional-seeder", "staff", request_id=key)):
        # The organization's form, its listing consent in it, as staff record it.
        org = app.apply_for_inclusion(
            f"{key}-a", profile, ALL_CRITERIA, listed, SEED_LISTING_AGREEMENT
        ).id
        if included:
            app.start_review(f"{key}-r", org)
            if profile["kind"] in AGENCY_KINDS:
                # An agency is included on a protocol established for it (in a place of its
                # own, out of the way of the protocols tests establish).
                protocol = app.establish_reporting_protocol(
                    f"{key}-p", org, province, SEED_DETACHMENT, [SEED_CONTACT]
                )
                app.include_agency(f"{key}-i", org, "seeded", protocol.id)
            elif profile["kind"] in PUBLIC_BODY_KINDS:
                # A public body: a supervisor verifies it is the statutory body.
                with acting_as(Actor("fictional-seeder-supervisor", "supervisor")):
                    app.include_public_body(f"{key}-i", org, SEED_VERIFICATION)
            else:
                app.approve_inclusion(f"{key}-i", org, "seeded")
    system.projector.catch_up()
    return org


def supervisor_decides(
    system: System,
    case: UUID | str,
    decision: str = "Fictional: go ahead as planned, with the caller's consent",
) -> None:
    """A supervisor's decision on a case that references potential trafficking, through the
    real command: nothing leaves such a case, and it does not close, before one (seed 000)."""
    _counter[0] += 1
    key = f"decision-{_counter[0]:06d}"
    with acting_as(Actor("fictional-seeder-supervisor", "supervisor", request_id=key)):
        system.app.consult_supervisor(
            key, UUID(str(case)), decision, "Fictional: the next steps as planned"
        )
    system.projector.catch_up()
