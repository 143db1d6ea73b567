"""Sign-in: the identity provider proves who a person is (and their second factor); nrd decides
what they may do. OpenID Connect (``api/signin/oidc.py``), server-side sessions
(``api/signin/sessions.py``), the routes and a session's principal (``api/signin/web.py``),
the development sign-in's demo members (``api/signin/demo.py``) and the memberships that say which role a person holds in which
organization (``api/signin/members.py``, kept as events in ``domain/membership.py``)."""
