"""Bearer tokens (JWT, HS256): who the caller is, in which role, for which organization."""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import jwt

from api.config import read_or_create_secret
from domain.bounded import MIB, BoundedCache
from domain.rules import SERVICE_TOKEN_USE_EVERY_SECONDS
from policies import ORGANIZATION_ROLES, ROLES

ALGORITHM = "HS256"
DEFAULT_MAX_HOURS = 12


class TokenError(Exception):
    """The bearer token cannot be accepted; the message says why (never echoes the token)."""


@dataclass(frozen=True)
class Principal:
    user_id: str
    role: str
    organization_id: str | None = None
    # A service account's token carries an id of its own, by which it is revoked.
    token_id: str | None = None


ANONYMOUS = Principal("anonymous", "public")


def load_or_create_secret(path: Path) -> str:
    """The embedded default keeps a random signing key in the data folder."""
    return read_or_create_secret(path, lambda: secrets.token_urlsafe(48))


class Authenticator:
    # Tokens verified lately, with their expiry: a client sends the same token with every
    # request, and decoding one costs more than the rest of a small request's edge. At most
    # this many, and ``cache_bytes`` (a token's length is the caller's choice).
    REMEMBERED = 1024
    # A remembered token's memory besides its text: the principal, its expiry, the links.
    ENTRY_BYTES = 600

    def __init__(
        self,
        secret: str,
        issuer: str = "nrd",
        max_hours: float = DEFAULT_MAX_HOURS,
        cache_bytes: int = MIB,
        revoked: Callable[[str], bool] | None = None,
        used: Callable[[str], None] | None = None,
        service_tokens_only: bool = False,
    ) -> None:
        """``revoked`` says whether a service token (by its id) is refused; it is asked at
        every request that carries one, after the signature cache, so a revocation holds at
        the next request. ``used`` records a service token's use, at most once a minute
        (``SERVICE_TOKEN_USE_EVERY_SECONDS``) per token. ``service_tokens_only`` (production)
        refuses every bearer token but a service account's: a development token (``nrd
        token``) signed with the same key is not accepted there."""
        if len(secret) < 32:
            raise ValueError("the token signing key must be at least 32 characters")
        self._secret = secret
        self._issuer = issuer
        self.max_hours = max_hours
        self._verified: BoundedCache[str, tuple[Principal, float]] = BoundedCache(
            cache_bytes, self.REMEMBERED, lambda token, _: len(token) + self.ENTRY_BYTES
        )
        self._revoked = revoked
        self._used = used
        self._service_tokens_only = service_tokens_only
        # Service token id -> when its use was last recorded (monotonic), oldest first.
        self._use_noted: OrderedDict[str, float] = OrderedDict()
        self._use_lock = threading.Lock()

    def issue(
        self,
        role: str,
        user_id: str,
        organization_id: str | None = None,
        hours: float | None = None,
        token_id: str | None = None,
    ) -> str:
        """A token for ``hours`` (by default, and at most, ``max_hours``); a service
        account's names its ``token_id`` (its ``jti``), by which it is revoked."""
        hours = self.max_hours if hours is None else hours
        if not 0 < hours <= self.max_hours:  # NaN too
            raise TokenError(
                f"a token lives more than 0 and at most {self.max_hours:g} hours "
                "(NRD_TOKEN_MAX_HOURS)"
            )
        _check_claims(role, user_id, organization_id)
        now = int(time.time())
        claims: dict[str, object] = {
            "sub": user_id,
            "role": role,
            "iss": self._issuer,
            "iat": now,
            "exp": now + max(1, int(hours * 3600)),
        }
        if role in ORGANIZATION_ROLES:  # other roles have none: one given is not kept
            claims["org"] = str(UUID(str(organization_id)))
        if token_id is not None:
            claims["jti"] = token_id
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def principal(self, authorization: str | None) -> Principal:
        if authorization is None or authorization == "":
            return ANONYMOUS
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise TokenError("the Authorization header must be 'Bearer <token>'")
        token = token.strip()
        known = self._verified.get(token)
        if known is not None and time.time() < known[1]:
            # The very same token, verified before and not expired since.
            return self._standing(known[0])
        found = self._verify(token)
        self._verified.put(token, found)
        return self._standing(found[0])

    def _standing(self, principal: Principal) -> Principal:
        """A service token not revoked (asked every time: a revocation holds at once)."""
        token_id = principal.token_id
        if token_id is None:
            if self._service_tokens_only:
                raise TokenError(
                    "this server accepts only service accounts' bearer tokens: people sign in"
                )
            return principal
        if self._revoked is not None and self._revoked(token_id):
            raise TokenError("the bearer token has been revoked")
        self._note_use(token_id)
        return principal

    def _note_use(self, token_id: str) -> None:
        if self._used is None:
            return
        now = time.monotonic()
        with self._use_lock:
            last = self._use_noted.get(token_id)
            if last is not None and now - last < SERVICE_TOKEN_USE_EVERY_SECONDS:
                return
            self._use_noted[token_id] = now
            self._use_noted.move_to_end(token_id)
            while len(self._use_noted) > self.REMEMBERED:
                self._use_noted.popitem(last=False)
        self._used(token_id)

    def _verify(self, token: str) -> tuple[Principal, float]:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                issuer=self._issuer,
                options={"require": ["exp", "sub", "iss"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("the bearer token has expired") from None
        except jwt.InvalidTokenError:
            raise TokenError("the bearer token is malformed or not signed by this server") from None
        expires, issued = float(claims["exp"]), claims.get("iat")
        start = float(issued) if isinstance(issued, (int, float)) else time.time()
        if expires - start > self.max_hours * 3600:
            raise TokenError(
                f"the bearer token lives longer than this server accepts (at most "
                f"{self.max_hours:g} hours)"
            )
        role, user_id, org = claims.get("role"), claims.get("sub"), claims.get("org")
        if not isinstance(role, str) or not isinstance(user_id, str):
            raise TokenError("the bearer token lacks a role or a subject")
        _check_claims(role, user_id, org if isinstance(org, str) else None, token=True)
        # One spelling of the organization id, so ownership checks compare like with like.
        organization = str(UUID(org)) if role in ORGANIZATION_ROLES and org else None
        jti = claims.get("jti")
        token_id = jti if isinstance(jti, str) and jti else None
        return Principal(user_id, role, organization, token_id), expires


def _check_claims(
    role: str, user_id: str, organization_id: str | None, token: bool = False
) -> None:
    where = "the bearer token's" if token else "the"
    if role not in ROLES or role == "public":
        roles = ", ".join(r for r in ROLES if r != "public")
        raise TokenError(f"{where} role must be one of {roles}")
    if not user_id or len(user_id) > 200 or not user_id.isprintable():
        raise TokenError(
            f"{where} user id must be 1 to 200 printable characters (no control characters)"
        )
    if role in ORGANIZATION_ROLES:
        try:
            UUID(str(organization_id))
        except ValueError:
            raise TokenError(
                f"{where} organization must be an organization id (a UUID) for the role {role}"
            ) from None
