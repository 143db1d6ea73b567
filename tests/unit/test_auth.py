"""Bearer tokens: who the caller is, spelled one way."""

from __future__ import annotations

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
