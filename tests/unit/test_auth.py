"""Bearer tokens: who the caller is, spelled one way."""

from __future__ import annotations

import time
from uuid import uuid4

import jwt
import pytest

from api.auth import ANONYMOUS, Authenticator, TokenError

SECRET = "fictional-signing-key-" + "k" * 32


def test_an_organization_id_in_a_token_is_read_in_one_spelling() -> None:
    org = uuid4()
    auth = Authenticator(SECRET)
    token = auth.issue("partner", "fictional-partner-1", str(org).upper())
    assert auth.principal(f"Bearer {token}").organization_id == str(org)


def test_no_header_is_the_public_and_a_bad_one_is_refused_not_downgraded() -> None:
    auth = Authenticator(SECRET)
    assert auth.principal(None) is ANONYMOUS
    for header in ("Basic abc", "Bearer", "Bearer not.a.token"):
        with pytest.raises(TokenError):
            auth.principal(header)


def test_a_token_signed_with_another_key_is_refused() -> None:
    token = Authenticator("another-" + "k" * 40).issue("staff", "fictional-staff-1")
    with pytest.raises(TokenError, match="not signed by this server"):
        Authenticator(SECRET).principal(f"Bearer {token}")


def test_a_token_remembered_as_verified_is_refused_once_it_expires() -> None:
    auth = Authenticator(SECRET)
    token = auth.issue("staff", "fictional-staff-1", hours=1.5 / 3600)  # 1.5 seconds
    assert auth.principal(f"Bearer {token}").role == "staff"
    assert auth.principal(f"Bearer {token}").role == "staff"  # from memory now
    time.sleep(2.1)  # the expiry claim is in whole seconds
    with pytest.raises(TokenError, match="expired"):
        auth.principal(f"Bearer {token}")


def test_a_token_altered_after_one_was_verified_is_still_refused() -> None:
    auth = Authenticator(SECRET)
    token = auth.issue("staff", "fictional-staff-1")
    auth.principal(f"Bearer {token}")
    head, _claims, signature = token.split(".")
    forged = Authenticator("another-" + "k" * 40).issue("supervisor", "fictional-staff-1")
    with pytest.raises(TokenError, match="not signed by this server"):
        auth.principal(f"Bearer {head}.{forged.split('.')[1]}.{signature}")
    assert auth.principal(f"Bearer {token}").role == "staff"


def test_at_most_a_bounded_number_of_tokens_are_remembered() -> None:
    auth = Authenticator(SECRET)
    for n in range(Authenticator.REMEMBERED + 10):
        auth.principal(f"Bearer {auth.issue('staff', f'fictional-staff-{n}')}")
    assert len(auth._verified) == Authenticator.REMEMBERED


def test_the_tokens_remembered_are_bounded_by_their_bytes_too() -> None:
    auth = Authenticator(SECRET, cache_bytes=20_000)
    for n in range(40):  # each token carries a 200-character user id: ~900 bytes remembered
        auth.principal(f"Bearer {auth.issue('staff', f'{n:03d}' + 'f' * 197)}")
    assert 10 <= len(auth._verified) < 40 and auth._verified.size <= 20_000


# -- how long a token may live -------------------------------------------------------------------


def signed(claims: dict[str, object]) -> str:
    now = int(time.time())
    return jwt.encode(
        {
            "sub": "fictional-staff-1",
            "role": "staff",
            "iss": "nrd",
            "iat": now,
            "exp": now + 3600,
            **claims,
        },
        SECRET,
        algorithm="HS256",
    )


def test_a_token_living_three_hundred_years_is_refused() -> None:
    now = int(time.time())
    no_issue_time = jwt.encode(
        {"sub": "fictional-staff-1", "role": "staff", "iss": "nrd", "exp": now + 13 * 3600},
        SECRET,
        algorithm="HS256",
    )
    for token in (
        signed({"exp": now + 300 * 365 * 24 * 3600}),
        signed({"exp": now + 13 * 3600}),
        signed({"iat": now - 3600, "exp": now + 12 * 3600}),
        no_issue_time,
    ):  # counted from now
        with pytest.raises(TokenError, match="at most 12 hours"):
            Authenticator(SECRET).principal(f"Bearer {token}")


def test_a_token_living_the_longest_lifetime_is_accepted_and_the_lifetime_is_configurable() -> None:
    now = int(time.time())
    twelve = signed({"iat": now, "exp": now + 12 * 3600})
    assert Authenticator(SECRET).principal(f"Bearer {twelve}").role == "staff"
    with pytest.raises(TokenError, match="at most 2 hours"):
        Authenticator(SECRET, max_hours=2).principal(f"Bearer {twelve}")
    assert Authenticator(SECRET, max_hours=24).principal(f"Bearer {twelve}").role == "staff"


@pytest.mark.parametrize("hours", [-1.0, 0.0, float("nan"), 12.5, float("inf"), 300 * 8760.0])
def test_a_token_is_issued_only_for_a_lifetime_within_the_longest(hours: float) -> None:
    with pytest.raises(TokenError, match="at most 12 hours"):
        Authenticator(SECRET).issue("staff", "fictional-staff-1", hours=hours)


def test_a_token_is_issued_for_the_longest_lifetime_by_default() -> None:
    auth = Authenticator(SECRET, max_hours=3)
    claims = jwt.decode(
        auth.issue("staff", "fictional-staff-1"), SECRET, algorithms=["HS256"], issuer="nrd"
    )
    assert claims["exp"] - claims["iat"] == 3 * 3600


@pytest.mark.parametrize(
    "user",
    [
        "fictional\nstaff",
        "fictional\x1fstaff",
        "fictional\x00",
        "fictional\u2028staff",
        "fictional\x1b[31mstaff",
    ],
)
def test_a_user_id_with_control_characters_is_neither_issued_nor_accepted(user: str) -> None:
    with pytest.raises(TokenError, match="printable"):
        Authenticator(SECRET).issue("staff", user)
    with pytest.raises(TokenError, match="printable"):
        Authenticator(SECRET).principal(f"Bearer {signed({'sub': user})}")


def test_only_partner_and_liaison_tokens_carry_an_organization() -> None:
    org = str(uuid4())
    staff = Authenticator(SECRET).issue("staff", "fictional-staff-1", f"{org}\nforged")
    assert "org" not in jwt.decode(staff, SECRET, algorithms=["HS256"], issuer="nrd")
    partner = Authenticator(SECRET).issue("partner", "fictional-partner-1", org.upper())
    assert jwt.decode(partner, SECRET, algorithms=["HS256"], issuer="nrd")["org"] == org


def test_a_revoked_service_token_is_refused_at_the_next_request_though_remembered() -> None:
    revoked: set[str] = set()
    used: list[str] = []
    auth = Authenticator(SECRET, revoked=revoked.__contains__, used=used.append)
    token = auth.issue("staff", "fictional-integration-1", token_id="fictional-token-1")
    assert auth.principal(f"Bearer {token}").token_id == "fictional-token-1"
    assert auth.principal(f"Bearer {token}").user_id == "fictional-integration-1"
    assert used == ["fictional-token-1"]  # once a minute at most, not per request

    revoked.add("fictional-token-1")
    with pytest.raises(TokenError, match="revoked"):
        auth.principal(f"Bearer {token}")


def test_a_token_without_an_id_is_not_asked_about() -> None:
    def never(_token_id: str) -> bool:
        raise AssertionError("asked")

    auth = Authenticator(SECRET, revoked=never)
    token = auth.issue("staff", "fictional-staff-1")
    assert auth.principal(f"Bearer {token}").token_id is None


def test_production_accepts_only_service_tokens() -> None:
    auth = Authenticator(SECRET, revoked=lambda _: False, service_tokens_only=True)
    with pytest.raises(TokenError, match="people sign in"):
        auth.principal(f"Bearer {auth.issue('supervisor', 'fictional-supervisor-1')}")
    service = auth.issue("staff", "fictional-integration-1", token_id="fictional-token-1")
    assert auth.principal(f"Bearer {service}").role == "staff"
