"""Sign-in at the HTTP edge: the routes under /auth, and the principal of a request that rides
a session.

A session is only as good as the membership behind it: every request asks
``Members.current`` who the member is now, so a suspension, a revocation or a role change
takes effect at the next request. A request that rides a session must also carry
``X-NRD-Request: 1``, which a cross-site form cannot send and a cross-site script cannot send
without a preflight nrd never grants.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qs, urlparse

import anyio
import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.auth import Principal
from api.config import Settings
from api.faults import classify
from api.signin.members import Member, Members
from api.signin.oidc import Attempt, RelyingParty, SignInFailed
from api.signin.pages import SIGN_OUT_FORMS, development_page, page
from api.signin.sessions import (
    ATTEMPT_COOKIE,
    ATTEMPT_SECONDS,
    SESSION_COOKIE,
    Sealer,
    Session,
    Sessions,
)
from domain.rules import proves_second_factor, session_lifetimes
from policies import ORGANIZATION_ROLES, ROLES

if TYPE_CHECKING:
    from api.wiring import System

log = logging.getLogger("nrd.signin")
T = TypeVar("T")

REQUEST_HEADER = "x-nrd-request"
SESSION_KEY_LABEL = b"nrd sessions v1"
# What a development session records as its authentication method: no provider, no factor.
DEVELOPMENT_AMR = "nrd-development"


class SessionRefused(Exception):
    """A request riding a session that cannot be served; ``code`` names why."""

    def __init__(
        self, status: int, code: str, message: str, retry_after: int | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str] | None:
        return None if self.retry_after is None else {"Retry-After": str(self.retry_after)}


@dataclass
class SignIn:
    """Everything sign-in needs: the settings, the sessions, the members (``Members``: None
    starts no session), the provider (None when none is configured) and, for
    ``nrd serve --demo``, the members a development sign-in offers."""

    settings: Settings
    sessions: Sessions
    members: Members | None = None
    relying_party: RelyingParty | None = None
    demo_members: Sequence[Member] = ()
    limiter: anyio.CapacityLimiter | None = None
    _demo: dict[str, Member] = field(init=False)

    def __post_init__(self) -> None:
        self._demo = {m.member_id: m for m in self.demo_members}

    @classmethod
    def build(
        cls,
        system: System,
        members: Members | None = None,
        demo_members: Sequence[Member] = (),
        relying_party: RelyingParty | None = None,
        clock: Callable[[], float] | None = None,
    ) -> SignIn:
        settings = system.settings
        issuer, client = settings.oidc_issuer, settings.oidc_client_id
        secret, redirect = settings.oidc_client_secret, settings.oidc_redirect_url
        if relying_party is None and issuer and client and secret and redirect:
            relying_party = RelyingParty(issuer, client, secret, redirect)
        sealer = Sealer(system.vault.derived_key(SESSION_KEY_LABEL))
        sessions = (
            Sessions(system.access.store, sealer)
            if clock is None
            else Sessions(system.access.store, sealer, clock)
        )
        # The membership events (``system.members``) unless the caller brings its own.
        members = system.members if members is None else members
        return cls(settings, sessions, members, relying_party, demo_members, system.limiter)

    @property
    def development(self) -> bool:
        """Whether the development sign-in is offered: a demo server, never in production."""
        return bool(self._demo) and not self.settings.production

    async def _run(self, function: Callable[..., T], *args: Any) -> T:
        return await anyio.to_thread.run_sync(function, *args, limiter=self.limiter)

    def lifetimes(self, role: str) -> tuple[timedelta, timedelta]:
        return session_lifetimes(
            role, self.settings.session_idle_minutes, self.settings.session_absolute_hours
        )

    def needs_second_factor(self, role: str) -> bool:
        return role in self.settings.second_factor_roles

    # The principal of a request riding a session.

    def rides_session(self, request: Request) -> bool:
        return SESSION_COOKIE in request.cookies

    async def principal(self, request: Request) -> Principal:
        """The member a session cookie stands for, as they stand now; else ``SessionRefused``."""
        if request.headers.get(REQUEST_HEADER) != "1":
            raise SessionRefused(
                403,
                "SESSION_HEADER_REQUIRED",
                "a request riding a session must carry the header 'X-NRD-Request: 1'",
            )
        try:
            return await self._run(self._principal, request.cookies.get(SESSION_COOKIE, ""))
        except SessionRefused:
            raise
        except Exception as error:
            # The store could not say (down, busy, timed out): the request is refused as
            # retryable, never served as someone else or as nobody.
            fault = classify(error)
            if fault is None:
                raise
            raise SessionRefused(
                503,
                fault.code,
                "the session could not be checked; try again",
                fault.retry_after,
            ) from None

    def _principal(self, opaque: str) -> Principal:
        session, member = self._current(opaque)
        if session is None or member is None or not _well_formed(member):
            raise SessionRefused(
                401, "SESSION_INVALID", "the session has ended or is not valid: sign in again"
            )
        if self.needs_second_factor(member.role) and not session.second_factor:
            raise SessionRefused(
                403,
                "SECOND_FACTOR_REQUIRED",
                "your role needs a second factor: sign in again with one",
            )
        self.sessions.touch(session, self.lifetimes(member.role))
        return Principal(member.member_id, member.role, member.organization_id)

    def _current(self, opaque: str) -> tuple[Session | None, Member | None]:
        session = self.sessions.find(opaque)
        if session is None:
            return None, None
        if DEVELOPMENT_AMR in session.amr and not self.development:
            # Made by the development sign-in: worth nothing on a server that does not offer
            # it (production, or any server started without --demo), whoever its member is.
            self.sessions.end(opaque, "development session outside development")
            return session, None
        member = self._member(session.member_id)
        if member is None:
            # Suspended, revoked, or their organization is: the session ends with it.
            self.sessions.end(opaque, "membership not active")
        return session, member

    def _member(self, member_id: str) -> Member | None:
        if member_id in self._demo and not self.development:
            return None  # a development session is worth nothing in production
        if self.members is None:
            return self._demo.get(member_id)
        return self.members.current(member_id)

    # The routes.

    def routes(self) -> list[Route]:
        return [
            Route("/auth/sign-in", self.sign_in, methods=["GET"]),
            Route("/auth/callback", self.callback, methods=["GET"]),
            Route("/auth/sign-out", self.sign_out, methods=["POST"]),
            Route("/auth/sign-out-everywhere", self.sign_out_everywhere, methods=["POST"]),
            Route("/auth/development", self.development_page, methods=["GET"]),
            Route("/auth/development", self.development_sign_in, methods=["POST"]),
        ]

    async def sign_in(self, request: Request) -> Response:
        """Starts the flow: the state, nonce and PKCE verifier are kept server-side under an
        opaque id, which alone goes to the browser (a short-lived cookie); then off to the
        provider."""
        try:
            return await self._sign_in()
        except Exception as error:
            log.error("sign-in failed: SIGN_IN_UNAVAILABLE (%s)", type(error).__name__)
            return page("SIGN_IN_UNAVAILABLE", 503, headers={"Retry-After": "30"})

    async def _sign_in(self) -> Response:
        if self.relying_party is None or self.members is None:
            return page("SIGN_IN_NOT_CONFIGURED", 404)
        attempt = Attempt.new()
        try:
            url = await self.relying_party.authorization_url(attempt)
        except SignInFailed as failure:
            return page(failure.code, 502)
        opaque = await self._run(self.sessions.begin_attempt, attempt.as_doc())
        if opaque is None:
            return page("SIGN_IN_BUSY", 503, headers={"Retry-After": "60"})
        response = Response(status_code=303, headers={"location": url})
        # Lax, not Strict: the provider's redirect back is a navigation from another site.
        response.set_cookie(
            ATTEMPT_COOKIE,
            opaque,
            max_age=ATTEMPT_SECONDS,
            path="/",
            secure=True,
            httponly=True,
            samesite="lax",
        )
        return response

    async def callback(self, request: Request) -> Response:
        try:
            response = await self._callback(request)
        except Exception as error:
            # The store, a thread, the members: logged by type alone (its text could carry a
            # value), and the person told to try again. No session was made: its row is the
            # flow's last write, and its cookie is set only once that is done.
            log.error("sign-in failed: SIGN_IN_UNAVAILABLE (%s)", type(error).__name__)
            response = page("SIGN_IN_UNAVAILABLE", 503, headers={"Retry-After": "30"})
        response.delete_cookie(ATTEMPT_COOKIE, path="/", secure=True, httponly=True, samesite="lax")
        return response

    async def _callback(self, request: Request) -> Response:
        if self.relying_party is None or self.members is None:
            return page("SIGN_IN_NOT_CONFIGURED", 404)
        opaque = request.cookies.get(ATTEMPT_COOKIE)
        doc = None if not opaque else await self._run(self.sessions.take_attempt, opaque)
        if doc is None:
            return page("SIGN_IN_EXPIRED", 400)
        attempt = Attempt.from_doc(doc)
        state = request.query_params.get("state", "")
        if not secrets.compare_digest(state.encode(), attempt.state.encode()):
            log.warning("sign-in failed: SIGN_IN_STATE_MISMATCH")
            return page("SIGN_IN_STATE_MISMATCH", 400)
        code = request.query_params.get("code")
        if request.query_params.get("error") or not code:
            log.warning("sign-in failed: PROVIDER_REFUSED (the provider sent no code)")
            return page("PROVIDER_REFUSED", 400)
        try:
            identity = await self.relying_party.finish(attempt, code)
        except SignInFailed as failure:
            status = 502 if failure.code.startswith("PROVIDER_UN") else 400
            return page(failure.code, status)
        member = await self._run(
            self.members.on_sign_in,
            identity.issuer,
            identity.subject,
            identity.email,
            identity.email_verified,
        )
        if member is None:
            log.warning("sign-in failed: NO_MEMBERSHIP")
            return page("NO_MEMBERSHIP", 403)
        proven = proves_second_factor(identity.amr, identity.acr, self.settings.second_factor_acr)
        if self.needs_second_factor(member.role) and not proven:
            log.warning("sign-in failed: SECOND_FACTOR_REQUIRED")
            return page("SECOND_FACTOR_REQUIRED", 403)
        opaque_session = await self._run(
            lambda: self.sessions.start(
                member.member_id,
                self.lifetimes(member.role),
                identity.amr,
                identity.acr,
                proven,
                identity.tokens,
            )
        )
        await self._replace(request)
        return self._signed_in(opaque_session, member.role)

    async def _replace(self, request: Request) -> None:
        """A browser signing in again leaves no session behind: the one its cookie held ends."""
        earlier = request.cookies.get(SESSION_COOKIE)
        if earlier:
            await self._run(self.sessions.end, earlier, "replaced by a new sign-in")

    def _signed_in(self, opaque: str, role: str) -> Response:
        # A page, not a redirect: a SameSite=Strict cookie set while following a redirect that
        # began on the provider's site is not sent with that redirect's next request.
        response = page("SIGNED_IN", extra_html=SIGN_OUT_FORMS)
        response.set_cookie(
            SESSION_COOKIE,
            opaque,
            max_age=int(self.lifetimes(role)[1].total_seconds()),
            path="/",
            secure=True,
            httponly=True,
            samesite="strict",
        )
        return response

    async def sign_out(self, request: Request) -> Response:
        if not _same_origin(request):
            return page("SESSION_HEADER_REQUIRED", 403)
        opaque = request.cookies.get(SESSION_COOKIE)
        if opaque:
            await self._run(self.sessions.end, opaque, "signed out")
        return _clear(page("SIGNED_OUT"))

    async def sign_out_everywhere(self, request: Request) -> Response:
        if not _same_origin(request):
            return page("SESSION_HEADER_REQUIRED", 403)
        opaque = request.cookies.get(SESSION_COOKIE, "")
        session = await self._run(self.sessions.find, opaque)
        if session is None:
            return _clear(page("SESSION_INVALID", 401))
        await self._run(self.sessions.end_all, session.member_id, "signed out everywhere")
        return _clear(page("SIGNED_OUT_EVERYWHERE"))

    # The development sign-in (nrd serve --demo): a session for a demo member, no provider.

    async def development_page(self, request: Request) -> Response:
        if not self.development:
            return page("DEVELOPMENT_SIGN_IN_OFF", 404)
        return development_page(self._demo.values())

    async def development_sign_in(self, request: Request) -> Response:
        if not self.development:
            return page("DEVELOPMENT_SIGN_IN_OFF", 404)
        if not _same_origin(request):
            return page("SESSION_HEADER_REQUIRED", 403)
        # A form of one short field, read by hand (Starlette's form parser needs a package
        # nrd does not otherwise use), and bounded.
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > 1024:
                return page("NO_MEMBERSHIP", 403)
        chosen = parse_qs(body.decode("utf-8", "replace")).get("member", [""])[0]
        member = None if chosen not in self._demo else await self._run(self._member, chosen)
        if member is None:
            return page("NO_MEMBERSHIP", 403)
        opaque = await self._run(
            lambda: self.sessions.start(
                member.member_id,
                self.lifetimes(member.role),
                (DEVELOPMENT_AMR,),
                None,
                # No provider proves anything here: the development sign-in stands in for it.
                True,
            )
        )
        await self._replace(request)
        return self._signed_in(opaque, member.role)


def _well_formed(member: Member) -> bool:
    """A member whose principal nrd can act on: a role of a person (not ``public``), and an
    organization exactly when the role belongs to one."""
    if member.role not in ROLES or member.role == "public":
        return False
    return (member.organization_id is not None) == (member.role in ORGANIZATION_ROLES)


def _same_origin(request: Request) -> bool:
    """Whether a state-changing request comes from nrd's own pages: it carries the custom
    header, or the browser says it is same-origin (``Sec-Fetch-Site``, else ``Origin``)."""
    if request.headers.get(REQUEST_HEADER) == "1":
        return True
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site == "same-origin"
    origin = request.headers.get("origin")
    return origin is not None and urlparse(origin).netloc == request.headers.get("host")


def _clear(response: Response) -> Response:
    response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="strict")
    return response
