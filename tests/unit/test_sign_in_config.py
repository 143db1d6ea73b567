"""Sign-in's settings: the provider all or nothing, lifetimes per role with the defaults of
``domain/rules.py``, the second factor per role, and production refusing plain http."""

from __future__ import annotations

from datetime import timedelta

import pytest

from api.config import ConfigurationError, Settings
from domain.rules import (
    SECOND_FACTOR_ROLES,
    SESSION_ABSOLUTE_HOURS,
    SESSION_IDLE_MINUTES,
    proves_second_factor,
    session_lifetimes,
)

PROVIDER = {
    "NRD_OIDC_ISSUER": "https://id.example.org/realms/nrd",
    "NRD_OIDC_CLIENT_ID": "nrd",
    "NRD_OIDC_CLIENT_SECRET": "fictional-secret",
    "NRD_OIDC_REDIRECT_URL": "https://nrd.example.org/auth/callback",
}


def test_by_default_there_is_no_provider_and_hotline_roles_need_a_second_factor() -> None:
    settings = Settings.from_env({})
    assert settings.oidc_issuer is None and settings.environment == "development"
    assert (
        settings.second_factor_roles
        == SECOND_FACTOR_ROLES
        == {
            "staff",
            "supervisor",
            "compliance",
        }
    )
    assert dict(settings.session_idle_minutes) == SESSION_IDLE_MINUTES
    assert dict(settings.session_absolute_hours) == SESSION_ABSOLUTE_HOURS


def test_a_provider_is_configured_whole() -> None:
    settings = Settings.from_env(PROVIDER)
    assert settings.oidc_client_id == "nrd"
    for left_out in PROVIDER:
        given = {k: v for k, v in PROVIDER.items() if k != left_out}
        with pytest.raises(ConfigurationError, match=left_out):
            Settings.from_env(given)


def test_production_refuses_a_provider_over_plain_http() -> None:
    plain = {**PROVIDER, "NRD_OIDC_ISSUER": "http://id.example.org"}
    assert Settings.from_env(plain).oidc_issuer == "http://id.example.org"
    with pytest.raises(ConfigurationError, match="NRD_OIDC_ISSUER"):
        Settings.from_env({**plain, "NRD_ENVIRONMENT": "production"})
    with pytest.raises(ConfigurationError, match="NRD_ENVIRONMENT"):
        Settings.from_env({"NRD_ENVIRONMENT": "staging"})


def test_hotline_sessions_are_shorter_and_each_role_can_be_set() -> None:
    staff_idle, staff_absolute = session_lifetimes("staff")
    partner_idle, partner_absolute = session_lifetimes("partner")
    assert staff_idle < partner_idle and staff_absolute < partner_absolute

    settings = Settings.from_env(
        {"NRD_SESSION_IDLE_MINUTES": "staff=5, partner=30", "NRD_SESSION_ABSOLUTE_HOURS": "staff=4"}
    )
    assert session_lifetimes(
        "staff", settings.session_idle_minutes, settings.session_absolute_hours
    ) == (timedelta(minutes=5), timedelta(hours=4))
    assert settings.session_idle_minutes["supervisor"] == SESSION_IDLE_MINUTES["supervisor"]


@pytest.mark.parametrize("value", ["staff", "staff=0", "nobody=5", "staff=abc", "staff=99999"])
def test_a_lifetime_setting_that_cannot_be_read_is_refused(value: str) -> None:
    with pytest.raises(ConfigurationError, match="NRD_SESSION_IDLE_MINUTES"):
        Settings.from_env({"NRD_SESSION_IDLE_MINUTES": value})


def test_the_roles_needing_a_second_factor_are_configurable() -> None:
    settings = Settings.from_env({"NRD_SECOND_FACTOR_ROLES": "staff,supervisor,compliance,partner"})
    assert "partner" in settings.second_factor_roles
    assert Settings.from_env({"NRD_SECOND_FACTOR_ROLES": ""}).second_factor_roles == set()
    with pytest.raises(ConfigurationError, match="NRD_SECOND_FACTOR_ROLES"):
        Settings.from_env({"NRD_SECOND_FACTOR_ROLES": "public"})


def test_a_second_factor_shows_in_amr_or_in_a_configured_acr() -> None:
    assert proves_second_factor(["pwd", "otp"], None, ())
    assert proves_second_factor(["mfa"], None, ())
    assert not proves_second_factor(["pwd"], None, ())
    assert not proves_second_factor([], "1", ())
    assert proves_second_factor([], "gold", ("gold",))
    settings = Settings.from_env({"NRD_SECOND_FACTOR_ACR": "gold, urn:fictional:mfa"})
    assert settings.second_factor_acr == ("gold", "urn:fictional:mfa")
