"""A real OpenID Connect provider for the sign-in stories (``oidc-provider-mock``, a Flask app
built on Authlib's authorization server, served on 127.0.0.1 by a thread), a browser that
follows the flow one redirect at a time, and a hand-written ``Members``.

The provider accepts any client id and secret and signs ID tokens (RS256) with a key it
serves at its JWKS; its users are put there by the test with the claims it wants in the ID
token (``amr`` among them). It does not enforce PKCE (nrd sends the challenge and the verifier
all the same); it does delete a code once used, as a provider must.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx2 as httpx
import pytest
import werkzeug.serving
from authlib.deprecate import AuthlibDeprecationWarning
from starlette.testclient import TestClient

from api.signin.members import Member
from api.signin.sessions import ATTEMPT_COOKIE, SESSION_COOKIE

with warnings.catch_warnings():
    # The provider (not nrd) still uses Authlib's older JOSE module.
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    import oidc_provider_mock

# Warnings are errors in the suite; the provider's own deprecation warnings (raised in its
# thread, for its use of Authlib's server side) are not nrd's.
PROVIDER_WARNINGS = [
    pytest.mark.filterwarnings("ignore::authlib.deprecate.AuthlibDeprecationWarning"),
    pytest.mark.filterwarnings("ignore:get_jwt_config:DeprecationWarning"),
]
CLIENT_ID = "nrd-fictional-client"
CLIENT_SECRET = "fictional-client-secret-not-real"
REDIRECT_URL = "https://testserver/auth/callback"
SECOND_FACTOR = ["pwd", "otp"]


@contextmanager
def running_provider() -> Iterator[str]:
    """The provider on a free port of 127.0.0.1; yields its issuer URL."""
    app = oidc_provider_mock.app(require_nonce=True)
    server = werkzeug.serving.make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()


def put_user(issuer: str, subject: str, **claims: Any) -> None:
    """The provider's user ``subject``, whose ID token will carry ``claims``."""
    response = httpx.put(f"{issuer}/users/{subject}", json=claims)
    assert response.status_code == 204, response.text


@dataclass
class FictionalMembers:
    """``Members`` over a table the test edits: who signs in as whom, and who is suspended
    (a person, or their organization). Stands in for the membership events, which another
    part of nrd keeps."""

    issuer: str
    by_subject: dict[str, Member] = field(default_factory=dict)
    suspended: set[str] = field(default_factory=set)

    def add(self, subject: str, member: Member) -> Member:
        self.by_subject[subject] = member
        return member

    def change(self, member: Member) -> None:
        for subject, known in list(self.by_subject.items()):
            if known.member_id == member.member_id:
                self.by_subject[subject] = member

    def on_sign_in(
        self, issuer: str, subject: str, email: str | None, email_verified: bool
    ) -> Member | None:
        member = self.by_subject.get(subject) if issuer == self.issuer else None
        return None if member is None else self.current(member.member_id)

    def current(self, member_id: str) -> Member | None:
        for member in self.by_subject.values():
            if member.member_id == member_id:
                if member_id in self.suspended or member.organization_id in self.suspended:
                    return None
                return member
        return None


@dataclass
class Redirect:
    """Where the provider sent the browser back: the callback's code and state."""

    code: str
    state: str

    @classmethod
    def parse(cls, location: str) -> Redirect:
        query = parse_qs(urlparse(location).query)
        return cls(query["code"][0], query["state"][0])


class Browser:
    """One browser: its own cookies, following the flow a redirect at a time."""

    def __init__(self, app: Any) -> None:
        self.client = TestClient(app, base_url="https://testserver", follow_redirects=False)

    def start(self) -> str:
        """GET /auth/sign-in: the provider's authorization URL."""
        response = self.client.get("/auth/sign-in")
        assert response.status_code == 303, response.text
        assert ATTEMPT_COOKIE in self.client.cookies
        return str(response.headers["location"])

    @staticmethod
    def at_provider(authorization_url: str, subject: str) -> Redirect:
        """The person signs in at the provider as ``subject``."""
        response = httpx.post(authorization_url, data={"sub": subject})
        assert response.status_code == 302, response.text
        location = response.headers["location"]
        assert location.startswith(REDIRECT_URL)
        return Redirect.parse(location)

    def come_back(self, redirect: Redirect, **query: str) -> httpx.Response:
        params = {"code": redirect.code, "state": redirect.state, **query}
        return self.client.get("/auth/callback", params=params)

    def sign_in(self, subject: str) -> httpx.Response:
        return self.come_back(self.at_provider(self.start(), subject))

    @property
    def session(self) -> str | None:
        return self.client.cookies.get(SESSION_COOKIE)

    def use_cookie(self, value: str) -> None:
        """The session cookie replaced by ``value`` (as someone forging one would)."""
        self.client.cookies.clear()
        self.client.cookies.set(SESSION_COOKIE, value, domain="testserver.local", path="/")

    def gql(self, query: str, header: bool = True, **headers: str) -> httpx.Response:
        sent = {"x-nrd-request": "1"} if header else {}
        return self.client.post("/graphql", json={"query": query}, headers={**sent, **headers})

    def post(self, path: str, header: bool = True) -> httpx.Response:
        return self.client.post(path, headers={"x-nrd-request": "1"} if header else {})

    def close(self) -> None:
        self.client.close()
