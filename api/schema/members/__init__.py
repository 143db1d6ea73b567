"""Memberships and service accounts: who holds which role in nrd, for which organization, and
the integrations that call it.

Supervisors manage every membership and the service accounts; an organization's administrator
manages its own organization's people; compliance officers read them. ``types`` holds what a
reader sees, ``inputs`` what a caller sends, ``queries`` and ``mutations`` the root fields that
``api/schema/build.py`` assembles.
"""

from api.schema.members.mutations import MemberMutations
from api.schema.members.queries import MemberQueries

__all__ = ["MemberMutations", "MemberQueries"]
