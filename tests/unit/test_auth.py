"""Bearer tokens: who the caller is, spelled one way."""

from __future__ import annotations

import time
from uuid import uuid4

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
