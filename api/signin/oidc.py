"""The OpenID Connect relying party: the authorization code flow with PKCE, state and nonce,
against any standard provider found by its discovery document.

The protocol is Authlib's (its httpx OAuth 2 client builds the authorization URL and trades
the code for tokens) and joserfc's (Authlib's JOSE: the ID token's signature against the
provider's JWKS); the ID token's claims are checked by Authlib's ``CodeIDToken`` (issuer,
audience, expiry, nonce, authorized party, access-token hash). Nothing here is written by hand
but the order of the checks. No token, code, state or nonce is ever logged: failures are
logged and raised by their kind only.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx2 as httpx
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.oidc.core import CodeIDToken
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

log = logging.getLogger("nrd.signin")

# Asymmetric algorithms only: a provider's ID token is never checked with the client secret.
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
SCOPE = "openid email profile"
HTTP_TIMEOUT = 10.0
DISCOVERY_SECONDS = 3600.0  # the discovery document and keys are fetched again after this
# A token signed by a key the provider's key set lacks makes one refetch of the key set (the
# provider rotated its keys), at most this often: a stream of forged kids fetches nothing more.
KEY_REFETCH_SECONDS = 30.0
LEEWAY_SECONDS = 60  # clock difference allowed between nrd and the provider


class SignInFailed(Exception):
    """A sign-in that cannot complete; ``code`` names why, the message says it for a person
    (never with a value from the request or the provider)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _failed(code: str, message: str, cause: BaseException | None = None) -> SignInFailed:
    log.warning("sign-in failed: %s (%s)", code, type(cause).__name__ if cause else "-")
    return SignInFailed(code, message)


@dataclass(frozen=True)
class Attempt:
    """What the server keeps between the redirect to the provider and the callback."""

    state: str
    nonce: str
    code_verifier: str

    def __repr__(self) -> str:
        return "Attempt(...)"  # its values are secrets: never in a log or a traceback

    @classmethod
    def new(cls) -> Attempt:
        return cls(secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(64))

    def as_doc(self) -> dict[str, str]:
        return {"state": self.state, "nonce": self.nonce, "code_verifier": self.code_verifier}

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Attempt:
        return cls(str(doc["state"]), str(doc["nonce"]), str(doc["code_verifier"]))


@dataclass(frozen=True)
class Identity:
    """Who the provider says signed in, and how (``amr``/``acr``); ``tokens`` are the
    provider's, kept server-side only."""

    issuer: str
    subject: str
    email: str | None
    email_verified: bool
    amr: tuple[str, ...]
    acr: str | None
    tokens: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class Metadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    end_session_endpoint: str | None = None


def validate_id_token(
    id_token: str,
    keys: KeySet,
    *,
    issuer: str,
    client_id: str,
    nonce: str,
    access_token: str | None = None,
    now: float | None = None,
    leeway: int = LEEWAY_SECONDS,
) -> dict[str, Any]:
    """The ID token's claims, once its signature (by one of ``keys``), issuer, audience,
    expiry, nonce, authorized party and access-token hash are checked; else ``SignInFailed``
    (ID_TOKEN_INVALID)."""
    try:
        token = jwt.decode(id_token, keys, algorithms=list(ALGORITHMS))
        claims = CodeIDToken(
            token.claims,
            token.header,
            options={
                "iss": {"essential": True, "value": issuer},
                "aud": {"essential": True, "value": client_id},
                "sub": {"essential": True},
            },
            params={"nonce": nonce, "client_id": client_id, "access_token": access_token},
        )
        claims.validate(now=int(time.time() if now is None else now), leeway=leeway)
    except (JoseError, AuthlibBaseError, ValueError, TypeError, KeyError) as error:
        raise _failed(
            "ID_TOKEN_INVALID",
            "The identity provider's answer could not be verified. Sign in again.",
            error,
        ) from None
    return dict(claims)


def key_id(id_token: str) -> str | None:
    """The ``kid`` in a compact JWS's header (unverified: only to pick the key)."""
    try:
        kid = jws.extract_compact(id_token.encode()).headers().get("kid")
    except (JoseError, ValueError):
        return None
    return kid if isinstance(kid, str) else None


class ProviderKeys:
    """The provider's signing keys (its JWKS), kept for ``DISCOVERY_SECONDS``; a token
    signed by a key not in the set fetches the set again (key rotation), at most once every
    ``KEY_REFETCH_SECONDS``."""

    def __init__(
        self,
        fetch: Callable[[], Any],
        clock: Callable[[], float] = time.monotonic,
        refetch_seconds: float = KEY_REFETCH_SECONDS,
    ) -> None:
        self._fetch = fetch  # an async function returning the JWKS document
        self._clock = clock
        self._refetch_seconds = refetch_seconds
        self._keys: KeySet | None = None
        self._fetched_at = float("-inf")
        self._lock = anyio.Lock()

    async def for_kid(self, kid: str | None) -> KeySet:
        async with self._lock:
            now = self._clock()
            stale = now - self._fetched_at > DISCOVERY_SECONDS
            unknown = self._keys is not None and not any(k.kid == kid for k in self._keys)
            may_refetch = now - self._fetched_at >= self._refetch_seconds
            if self._keys is None or stale or (unknown and kid is not None and may_refetch):
                document = await self._fetch()
                try:
                    self._keys = KeySet.import_key_set(document)
                except (JoseError, ValueError, TypeError, KeyError) as error:
                    raise _failed(
                        "PROVIDER_UNAVAILABLE",
                        "The identity provider's keys could not be read. Try again later.",
                        error,
                    ) from None
                self._fetched_at = now
            return self._keys


class RelyingParty:
    """nrd as a client of one OpenID Connect provider."""

    def __init__(
        self,
        issuer: str,
        client_id: str,
        client_secret: str,
        redirect_url: str,
        clock: Callable[[], float] = time.time,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self._client_secret = client_secret
        self.redirect_url = redirect_url
        self._clock = clock
        self._transport = transport
        self._metadata: Metadata | None = None
        self._metadata_at = float("-inf")
        self.keys = ProviderKeys(self._fetch_keys)

    def _http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=HTTP_TIMEOUT, transport=self._transport)

    def _oauth(self) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(
            client_id=self.client_id,
            client_secret=self._client_secret,
            scope=SCOPE,
            redirect_uri=self.redirect_url,
            code_challenge_method="S256",
            token_endpoint_auth_method="client_secret_basic",  # noqa: S106 - a method's name
            timeout=HTTP_TIMEOUT,
            transport=self._transport,
        )

    async def _get_json(self, url: str) -> Any:
        try:
            async with self._http() as http:
                response = await http.get(url, headers={"accept": "application/json"})
                response.raise_for_status()
                return response.json()
        except (httpx.HTTPError, ValueError) as error:
            raise _failed(
                "PROVIDER_UNAVAILABLE",
                "The identity provider cannot be reached. Try again later.",
                error,
            ) from None

    async def metadata(self) -> Metadata:
        """The provider's discovery document; its issuer must be the one configured."""
        if self._metadata is not None and time.monotonic() - self._metadata_at < DISCOVERY_SECONDS:
            return self._metadata
        document = await self._get_json(f"{self.issuer}/.well-known/openid-configuration")
        try:
            found = Metadata(
                issuer=str(document["issuer"]),
                authorization_endpoint=str(document["authorization_endpoint"]),
                token_endpoint=str(document["token_endpoint"]),
                jwks_uri=str(document["jwks_uri"]),
                end_session_endpoint=document.get("end_session_endpoint"),
            )
        except (KeyError, TypeError, AttributeError) as error:
            raise _failed(
                "PROVIDER_UNAVAILABLE",
                "The identity provider's configuration could not be read. Try again later.",
                error,
            ) from None
        if found.issuer.rstrip("/") != self.issuer:
            raise _failed(
                "PROVIDER_MISCONFIGURED",
                "The identity provider does not answer as the issuer nrd is configured with.",
            )
        self._metadata, self._metadata_at = found, time.monotonic()
        return found

    async def _fetch_keys(self) -> Any:
        return await self._get_json((await self.metadata()).jwks_uri)

    async def authorization_url(self, attempt: Attempt) -> str:
        endpoint = (await self.metadata()).authorization_endpoint
        async with self._oauth() as client:
            url, _ = client.create_authorization_url(
                endpoint,
                state=attempt.state,
                code_verifier=attempt.code_verifier,
                nonce=attempt.nonce,
            )
        return str(url)

    async def finish(self, attempt: Attempt, code: str) -> Identity:
        """Trades the code for tokens (with the PKCE verifier) and checks the ID token."""
        metadata = await self.metadata()
        try:
            async with self._oauth() as client:
                tokens = dict(
                    await client.fetch_token(
                        metadata.token_endpoint,
                        grant_type="authorization_code",
                        code=code,
                        code_verifier=attempt.code_verifier,
                    )
                )
        except (AuthlibBaseError, httpx.HTTPError, ValueError) as error:
            # A code used before (a replay) or expired is refused here by the provider.
            raise _failed(
                "PROVIDER_REFUSED",
                "The identity provider refused to complete this sign-in. Sign in again.",
                error,
            ) from None
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise _failed(
                "ID_TOKEN_INVALID",
                "The identity provider's answer could not be verified. Sign in again.",
            )
        keys = await self.keys.for_kid(key_id(id_token))
        claims = validate_id_token(
            id_token,
            keys,
            issuer=metadata.issuer,
            client_id=self.client_id,
            nonce=attempt.nonce,
            access_token=tokens.get("access_token"),
            now=self._clock(),
        )
        amr = claims.get("amr")
        acr = claims.get("acr")
        email = claims.get("email")
        return Identity(
            issuer=str(claims["iss"]),
            subject=str(claims["sub"]),
            email=email if isinstance(email, str) else None,
            email_verified=claims.get("email_verified") is True,
            amr=tuple(str(a) for a in amr) if isinstance(amr, list) else (),
            acr=str(acr) if isinstance(acr, (str, int)) else None,
            tokens=tokens,
        )
