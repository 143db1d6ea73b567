"""The compose file and Keycloak's development realm agree with each other and with nrd: the
client nrd is configured as, its callback, a user per role, the second factor for the hotline.

Docker does not run in the test suite, and no YAML parser is among the dependencies: the compose
file is read by indentation, as far as these checks need (a service's block, its keys).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from policies import ORGANIZATION_ROLES, ROLES, STAFF_ROLES

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
REALM = ROOT / "deploy" / "keycloak" / "nrd-realm.json"
OIDC_SETTINGS = (
    "NRD_OIDC_ISSUER",
    "NRD_OIDC_CLIENT_ID",
    "NRD_OIDC_CLIENT_SECRET",
    "NRD_OIDC_REDIRECT_URL",
)
DEVELOPMENT_ONLY = "development-only-do-not-use-in-production"


def block(lines: list[str], name: str, indent: int) -> list[str]:
    """The lines under ``name:`` at ``indent`` spaces, up to the next key at that indent."""
    start = lines.index(" " * indent + name + ":")
    body = []
    for line in lines[start + 1 :]:
        stripped = line.lstrip(" ")
        if stripped and not stripped.startswith("#") and len(line) - len(stripped) <= indent:
            break
        body.append(line)
    return body


def service(name: str) -> list[str]:
    lines = COMPOSE.read_text().splitlines()
    return block(block(lines, "services", 0), name, 2)


def environment(lines: list[str]) -> dict[str, str]:
    """``KEY: value`` pairs of a service's environment block."""
    pairs = {}
    for line in block(lines, "environment", 4):
        found = re.fullmatch(r"\s{6}([A-Z_]+): (.*)", line)
        if found:
            pairs[found[1]] = found[2].strip('"')
    return pairs


def default(value: str) -> str:
    """The default of a ``${VAR:-default}`` reference, the rest of the value kept."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)


@pytest.fixture(scope="module")
def realm() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(REALM.read_text())
    return loaded


@pytest.fixture(scope="module")
def client(realm: dict[str, Any]) -> dict[str, Any]:
    (nrd,) = [c for c in realm["clients"] if c["clientId"] == "nrd"]
    return dict(nrd)


def test_compose_runs_a_pinned_keycloak_that_imports_the_realm_file() -> None:
    keycloak = service("keycloak")
    text = "\n".join(keycloak)

    image = re.search(r"image: (\S+)", text)
    assert image is not None
    assert re.fullmatch(r"quay\.io/keycloak/keycloak:\d+\.\d+\.\d+", image[1])
    assert "--import-realm" in text
    mount = re.search(r"- \./(deploy/keycloak/[\w-]+\.json):/opt/keycloak/data/import/", text)
    assert mount is not None and (ROOT / mount[1]) == REALM
    assert "healthcheck:" in text
    assert "127.0.0.1:8080:8080" in text  # published on loopback only


def test_the_api_is_configured_against_the_realms_client_with_the_settings_nrd_reads() -> None:
    api = service("api")
    env = environment(api)
    realm_doc = json.loads(REALM.read_text())
    (client,) = [
        c for c in realm_doc["clients"] if c["clientId"] == default(env["NRD_OIDC_CLIENT_ID"])
    ]
    keycloak_env = environment(service("keycloak"))

    assert set(OIDC_SETTINGS) <= env.keys()
    assert default(env["NRD_OIDC_CLIENT_SECRET"]) == client["secret"]
    assert default(env["NRD_OIDC_ISSUER"]) == (
        f"{keycloak_env['KC_HOSTNAME']}/realms/{realm_doc['realm']}"
    )
    redirect = default(env["NRD_OIDC_REDIRECT_URL"])
    assert redirect.endswith("/auth/callback")
    assert redirect in client["redirectUris"]
    assert "keycloak:" in "\n".join(block(api, "depends_on", 4))
    # The issuer's host is the keycloak service's name on the compose network too.
    assert "keycloak.localhost" in "\n".join(service("keycloak"))


def test_the_nrd_client_is_confidential_with_pkce_and_the_code_flow_alone(
    client: dict[str, Any],
) -> None:
    assert client["publicClient"] is False
    assert client["clientAuthenticatorType"] == "client-secret"
    assert DEVELOPMENT_ONLY in client["secret"]
    assert client["attributes"]["pkce.code.challenge.method"] == "S256"
    assert client["standardFlowEnabled"] is True
    assert client["implicitFlowEnabled"] is False
    assert client["directAccessGrantsEnabled"] is False
    assert client["serviceAccountsEnabled"] is False
    assert all(uri.endswith("/auth/callback") and "*" not in uri for uri in client["redirectUris"])
    assert any(m["protocolMapper"] == "oidc-amr-mapper" for m in client["protocolMappers"])


def test_the_realm_has_a_fictional_user_for_every_signed_in_role(realm: dict[str, Any]) -> None:
    roles = {r["name"] for r in realm["roles"]["realm"]}
    users = realm["users"]
    held = {role for user in users for role in user["realmRoles"]}

    assert set(ROLES) - {"public"} == roles == held
    for user in users:
        assert user["email"].endswith("@example.test") and user["emailVerified"] is True
        assert set(user["realmRoles"]) <= roles
        (password,) = user["credentials"]
        assert DEVELOPMENT_ONLY in password["value"] and password["temporary"] is False
    assert held >= ORGANIZATION_ROLES


def test_hotline_users_enrol_a_second_factor_at_their_first_sign_in(
    realm: dict[str, Any],
) -> None:
    for user in realm["users"]:
        hotline = set(user["realmRoles"]) & STAFF_ROLES
        assert ("CONFIGURE_TOTP" in user["requiredActions"]) == bool(hotline), user["username"]
    assert realm["otpPolicyType"] == "totp"


def test_the_compose_file_sets_the_settings_nrd_reads_by_their_names() -> None:
    config = (ROOT / "api" / "config.py").read_text()

    for name in OIDC_SETTINGS:
        assert f'"{name}"' in config


def test_the_sign_in_guide_names_every_setting_the_compose_file_sets() -> None:
    guide = (ROOT / "docs" / "sign-in.md").read_text()

    assert "## Pointing nrd at your provider" in guide
    for name in OIDC_SETTINGS:
        assert name in guide
    assert "/auth/callback" in guide
    assert "docs/sign-in.md" in (ROOT / "README.md").read_text()
