"""Compliance: a record's audit trail, its state as of a moment, the public directory as it
stood on a date, and the access log; legal holds and erasure of a caller's data.

Every role may ask; only the roles the policy gives an audit scope get an answer. Everyone
else gets exactly what a record that does not exist gets: null, or an empty page.

``types`` holds what a reader sees, ``inputs`` what a caller sends, ``queries`` and ``mutations``
the root fields that ``api/schema/build.py`` assembles.
"""

from api.schema.audit.mutations import AuditMutations
from api.schema.audit.queries import AuditQueries

__all__ = ["AuditMutations", "AuditQueries"]
