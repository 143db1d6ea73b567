"""The ID token's checks, one at a time, with tokens signed here by a key the test holds (the
provider in the sign-in stories signs only good ones): issuer, audience, expiry, nonce,
signature, algorithm; the provider's keys fetched again when it rotates them, and no more
often than the bound; a discovery document naming another issuer refused."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx2
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, OctKey, RSAKey

from api.signin.oidc import (
    Attempt,
    ProviderKeys,
    RelyingParty,
    SignInFailed,
    key_id,
    validate_id_token,
)

ISSUER = "https://id.example.org"
CLIENT = "nrd-fictional-client"
NONCE = "fictional-nonce"


def signing_key(kid: str = "key-1") -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})


KEY = signing_key()
KEYS = KeySet([KEY])


def id_token(key: Any = KEY, alg: str = "RS256", **changes: Any) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "fictional-subject-1",
        "aud": CLIENT,
        "iat": now,
        "exp": now + 300,
        "nonce": NONCE,
    }
    claims.update(changes)
    claims = {k: v for k, v in claims.items() if v is not None}
    header = {"alg": alg, "kid": getattr(key, "kid", None) or "oct"}
    return jwt.encode(header, claims, key, algorithms=[alg])


def check(token: str, keys: KeySet = KEYS, **given: Any) -> dict[str, Any]:
    return validate_id_token(
        token, keys, **{"issuer": ISSUER, "client_id": CLIENT, "nonce": NONCE, **given}
    )


def refused(token: str, **given: Any) -> str:
    with pytest.raises(SignInFailed) as failure:
        check(token, **given)
    return failure.value.code


def test_a_good_id_token_passes_and_its_claims_come_back() -> None:
    claims = check(id_token(amr=["pwd", "otp"]))
    assert claims["sub"] == "fictional-subject-1" and claims["amr"] == ["pwd", "otp"]


def test_an_audience_list_holding_nrd_with_nrd_as_authorized_party_passes() -> None:
    assert check(id_token(aud=[CLIENT, "another-client"], azp=CLIENT))


@pytest.mark.parametrize(
    "changes",
    [
        {"iss": "https://impostor.example.org"},
        {"iss": None},
        {"aud": "another-client"},
        {"aud": [CLIENT, "another-client"], "azp": "another-client"},
        {"aud": [CLIENT, "another-client"]},  # several audiences and no authorized party
        {"aud": None},
        {"exp": int(time.time()) - 3600},
        {"exp": None},
        {"iat": None},
        {"nonce": "another-nonce"},
        {"nonce": None},
        {"sub": None},
    ],
    ids=lambda changes: ",".join(f"{k}={v}" for k, v in changes.items()),
)
def test_a_token_failing_a_claim_check_is_refused(changes: dict[str, Any]) -> None:
    assert refused(id_token(**changes)) == "ID_TOKEN_INVALID"


def test_an_expired_token_passes_within_the_leeway_only() -> None:
    token = id_token(exp=int(time.time()) - 30)
    assert check(token)
    assert refused(token, leeway=0) == "ID_TOKEN_INVALID"


def test_a_token_signed_by_another_key_is_refused() -> None:
    assert refused(id_token(key=signing_key("key-1"))) == "ID_TOKEN_INVALID"


def test_a_token_signed_with_the_client_secret_or_unsigned_is_refused() -> None:
    secret = OctKey.import_key("fictional-client-secret-not-real-at-all-32b")
    assert refused(id_token(key=secret, alg="HS256")) == "ID_TOKEN_INVALID"
    header, payload, _ = id_token().split(".")
    assert refused(f"{header}.{payload}.") == "ID_TOKEN_INVALID"
    assert refused("not-a-token") == "ID_TOKEN_INVALID"


def test_a_tampered_payload_is_refused() -> None:
    header, _, signature = id_token().split(".")
    _, payload, _ = id_token(sub="fictional-someone-else").split(".")
    assert refused(f"{header}.{payload}.{signature}") == "ID_TOKEN_INVALID"


def test_the_access_token_hash_must_match_when_present() -> None:
    token = id_token(at_hash="AAAAAAAAAAAAAAAAAAAAAA")
    assert refused(token, access_token="fictional-access-token") == "ID_TOKEN_INVALID"


# The provider's keys.


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_rotated_key_is_fetched_once_and_a_forged_kid_fetches_no_more_than_the_bound() -> None:
    served = [KEYS.as_dict()]
    fetches: list[int] = []
    clock = Clock()

    async def fetch() -> Any:
        fetches.append(1)
        return served[0]

    keys = ProviderKeys(fetch, clock, refetch_seconds=30)

    async def story() -> None:
        assert [k.kid for k in await keys.for_kid("key-1")] == ["key-1"]
        # The provider rotates: a token names the new key, fetched at once (past the bound).
        rotated = signing_key("key-2")
        served[0] = KeySet([rotated]).as_dict()
        clock.now += 31
        assert [k.kid for k in await keys.for_kid("key-2")] == ["key-2"]
        # Known kids fetch nothing; unknown ones fetch at most once per 30 seconds.
        for _ in range(50):
            await keys.for_kid("key-2")
            await keys.for_kid("forged-kid")
        clock.now += 31
        await keys.for_kid("forged-kid")

    asyncio.run(story())
    assert len(fetches) == 3


def test_the_key_id_is_read_from_the_token_header() -> None:
    assert key_id(id_token()) == "key-1"
    assert key_id("garbage") is None


# Discovery.


def provider(discovery: dict[str, Any]) -> httpx2.MockTransport:
    def answer(request: httpx2.Request) -> httpx2.Response:
        if request.url.path == "/.well-known/openid-configuration":
            return httpx2.Response(200, json=discovery)
        return httpx2.Response(404)

    return httpx2.MockTransport(answer)


def party(transport: httpx2.MockTransport) -> RelyingParty:
    return RelyingParty(
        ISSUER,
        CLIENT,
        "fictional-secret",
        "https://nrd.example.org/auth/callback",
        transport=transport,
    )


DISCOVERY = {
    "issuer": ISSUER,
    "authorization_endpoint": f"{ISSUER}/authorize",
    "token_endpoint": f"{ISSUER}/token",
    "jwks_uri": f"{ISSUER}/jwks",
}


def test_the_authorization_url_carries_state_nonce_and_an_s256_challenge() -> None:
    attempt = Attempt.new()
    url = asyncio.run(party(provider(DISCOVERY)).authorization_url(attempt))
    query = httpx2.URL(url).params
    assert url.startswith(f"{ISSUER}/authorize?")
    assert query["state"] == attempt.state and query["nonce"] == attempt.nonce
    assert query["code_challenge_method"] == "S256"
    assert query["code_challenge"] and attempt.code_verifier not in url
    assert query["response_type"] == "code" and "openid" in query["scope"].split()


def test_a_discovery_document_naming_another_issuer_is_refused() -> None:
    impostor = {**DISCOVERY, "issuer": "https://impostor.example.org"}
    with pytest.raises(SignInFailed) as failure:
        asyncio.run(party(provider(impostor)).authorization_url(Attempt.new()))
    assert failure.value.code == "PROVIDER_MISCONFIGURED"


def test_an_unreachable_or_broken_provider_is_a_named_failure() -> None:
    for transport in (
        httpx2.MockTransport(lambda request: httpx2.Response(500)),
        httpx2.MockTransport(lambda request: httpx2.Response(200, text="not json")),
        provider({"issuer": ISSUER}),
    ):
        with pytest.raises(SignInFailed) as failure:
            asyncio.run(party(transport).authorization_url(Attempt.new()))
        assert failure.value.code == "PROVIDER_UNAVAILABLE"
