"""Cases for the hotline; inboxes of disclosed copies for partners and law enforcement; the
disclosure ledger for compliance; de-identified statistics for everyone.

A partner or a liaison never reads a case: only the copy disclosed to them, opened here with
the case's key. A referral or report that is not the caller's answers exactly as a missing one.

``types`` holds what a reader sees, ``inbox`` the disclosed copies, ``inputs`` what a caller
sends, ``queries`` and ``mutations`` the root fields that ``api/schema/build.py`` assembles.
"""

from api.schema.cases.mutations import CaseMutations
from api.schema.cases.queries import CaseQueries

__all__ = ["CaseMutations", "CaseQueries"]
