"""Sign-in: the identity provider proves who a person is (and their second factor); nrd decides
what they may do. OpenID Connect (``api/signin/oidc.py``), server-side sessions
(``api/signin/sessions.py``) and the memberships that say which role a person holds in which
organization (``api/signin/members.py``, kept as events in ``domain/membership.py``)."""
