"""The access log: who read which confidential fields of which record, when, from which request,
under which policy version.

The executor notes every confidential field it completes (``Reads``); the server writes the
notes in one transaction before it sends the response, and sends no data when it cannot. The
log lives in its own table, beside the read models but never dropped or rebuilt with them.

Whether a case, a referral or a report exists is confidential too. A record of a wholly
confidential type is logged as soon as any of its fields is completed, its id or type name
alone among them (its entry then names no field); and a search or list of such records is
logged as a search entry (who, which filters by name, never their values) with an entry for
each record that answered, even when none did.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from projections.aggregates import iso
from projections.sql import Cursor, ViewStore

# Types whose fields are confidential, and which of their fields (None: the record itself,
# whose very existence is confidential: any read of it is logged, of its id or type name alone
# too). Each has an ``access_key`` naming the record (and the case it belongs to).
CONFIDENTIAL: dict[str, frozenset[str] | None] = {
    "Case": None,
    "DisclosedCopy": None,
    "ReferralInboxItem": None,
    "ReportInboxItem": None,
    "LedgerEntry": None,
    # A queued item can tell that a case, referral or report exists.
    "WorkItem": None,
    "SupervisorRequest": None,
    # A case's emergency number tells that the case exists, and where it is.
    "EmergencyNumber": None,
    # Whether someone contacted the hotline, and when, is the caller's secret too.
    "Contact": None,
    "MandatoryReportTask": None,
    # The internal directory's contacts, locations, notes and oversight records, also as
    # proposed in a pending profile update (a public copy has no access key: never logged).
    "Organization": frozenset(
        {
            "pointOfContact",
            "location",
            "pendingProfileUpdate",
            "referralProtocol",
            "contactAttempts",
            "history",
            "misconductAllegations",
            "removal",
            # Which organizations an application looks like, and which it duplicates.
            "possibleDuplicates",
            "duplicateOf",
        }
    ),
    "ReportingProtocol": frozenset({"contacts", "revisions"}),
    # What an applicant was asked, read with its tracking code: logged as a read of its
    # organization's record (the code is nowhere in the entry).
    "ApplicationStatus": frozenset({"informationRequests"}),
    # A worker's email address, read by those who manage members.
    "Member": frozenset({"email"}),
    "AuditEvent": None,
    "AuditState": None,
    # Which record a read model holds back tells that the record exists.
    "QuarantinedEvent": frozenset({"recordId"}),
}

# Every other type a query or mutation can return, and why reading it is not logged on its
# own: a test requires each type of the schema to be in one of the two tables.
NOT_LOGGED: dict[str, str] = {
    **dict.fromkeys(("Query", "Mutation"), "the roots"),
    **dict.fromkeys(
        (
            "AccessPage",
            "AuditPage",
            "CasePage",
            "ContactPage",
            "LedgerPage",
            "WorkQueuePage",
            "SupervisorRequestPage",
            "MandatoryReportPage",
            "DirectoryConnection",
            "DirectoryEdge",
            "PageInfo",
        ),
        "a page: its items are logged by their own type",
    ),
    **dict.fromkeys(
        (
            "CaseHistoryEntry",
            "CaseReferral",
            "CaseReport",
            "Consent",
            "Consultation",
            "Disclosure",
            "EmergencyCall",
            "LegalHoldView",
            "ChildProtectionReport",
            "MandatoryReportView",
            "ReportFactors",
            "ReferralAnswer",
            "ReportFacts",
            "ReferralOutcome",
            "ReportAcknowledgement",
        ),
        "only inside a case or an inbox item, whose field is logged",
    ),
    **dict.fromkeys(
        (
            "ContactAttempt",
            "HistoryEntry",
            "MisconductAllegation",
            "Removal",
            "PendingProfileUpdate",
            "PossibleDuplicate",
            "Profile",
            "PointOfContact",
            "Location",
        ),
        "only inside an organization, whose confidential fields are logged",
    ),
    **dict.fromkeys(
        ("PublicContact", "Region", "Service"),
        "public: an organization's public contact, regions and services, not confidential "
        "fields of it",
    ),
    **dict.fromkeys(
        ("ProtocolContact", "ProtocolRevision"),
        "only inside a reporting protocol, whose field is logged",
    ),
    "InformationRequest": "only inside an application's status, whose field is logged",
    **dict.fromkeys(
        ("Facet", "FacetValue", "StatisticsCell", "ContactStatisticsCell", "DirectoryAsOf"),
        "public: the public directory's facets, de-identified counts",
    ),
    **dict.fromkeys(
        (
            "CaseResult",
            "EmergencyContactResult",
            "ContactResult",
            "OrganizationResult",
            "ApplicationResult",
            "ProtocolResult",
            "ReferralOutcomeResult",
            "ReportAcknowledgementResult",
            "RecordResult",
            "WorkItemResult",
        ),
        "a command's ids and version; the record inside is logged by its type",
    ),
    "AccessEntry": "the accessLog query logs each read of the access log itself",
    "WorkQueueSummary": "counts only; the workQueues query logs a search entry",
    "MemberPage": "a page: its items are logged by their own type",
    **dict.fromkeys(
        ("MemberResult", "ServiceAccountResult"),
        "a command's ids and version; the member inside is logged by its type",
    ),
    **dict.fromkeys(
        ("ServiceAccount", "ServiceToken", "IssuedServiceToken"),
        "an integration's name, role and tokens: no person's data",
    ),
}
# Named in no entry: the record's id and type are the entry's own record id and type.
_NOT_CONFIDENTIAL = frozenset({"id", "__typename"})
# The record type of a search's entry: its record id is the query (``Query.cases``), its fields
# the names of the filters used.
SEARCH = "Search"
_COLUMNS = (
    "id, at, user_id, role, organization_id, request_id, record_type, record_id, "
    "case_id, fields, policy_version"
)


class Accessed(Protocol):
    def access_key(self) -> tuple[str, str, str | None] | None:
        """(record type, record id, case id) when this object holds confidential values."""


@dataclass
class Reads:
    """The confidential fields one request has read, per record."""

    noted: dict[tuple[str, str, str | None], set[str]] = field(default_factory=dict)

    def note(self, type_name: str, source: Any, field_names: Iterable[str]) -> None:
        """Notes the fields of ``source`` (an object of ``type_name``) being completed."""
        fields = CONFIDENTIAL.get(type_name, frozenset())
        whole = fields is None  # any read of the record tells that it exists
        read = {
            name
            for name in field_names
            if name not in _NOT_CONFIDENTIAL and (fields is None or name in fields)
        }
        if not read and not whole:
            return
        key_of: Callable[[], tuple[str, str, str | None] | None] | None = getattr(
            source, "access_key", None
        )
        key = None if key_of is None else key_of()
        if key is not None:
            self.noted.setdefault(key, set()).update(read)

    def add(
        self, record_type: str, record_id: str, fields: set[str], case_id: str | None = None
    ) -> None:
        self.noted.setdefault((record_type, record_id, case_id), set()).update(fields)

    def searched(
        self, query: str, filters: Iterable[str], answered: Iterable[tuple[str, str, str | None]]
    ) -> None:
        """Notes a search that can reveal whether records exist: the query, the names of the
        filters it used, and each record that answered (its fields are noted as they are
        completed, if they are)."""
        self.add(SEARCH, query, set(filters))
        for key in answered:
            self.noted.setdefault(key, set())

    def __bool__(self) -> bool:
        return bool(self.noted)


@dataclass(frozen=True)
class Reader:
    user_id: str
    role: str
    organization_id: str | None
    request_id: str
    policy_version: str


def create_access_table(cursor: Cursor, dialect: str) -> None:
    """The access log's table (made by a schema migration step: ``migrations.py``)."""
    key = (
        "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
        if dialect == "postgres"
        else "INTEGER PRIMARY KEY AUTOINCREMENT"
    )
    cursor.execute(
        f"CREATE TABLE IF NOT EXISTS access_log (id {key}, at TEXT NOT NULL, "
        "user_id TEXT NOT NULL, role TEXT NOT NULL, organization_id TEXT, "
        "request_id TEXT NOT NULL, record_type TEXT NOT NULL, record_id TEXT NOT NULL, "
        "case_id TEXT, fields TEXT NOT NULL, policy_version TEXT NOT NULL)"
    )
    for column in ("record_id", "case_id", "user_id"):
        cursor.execute(
            f"CREATE INDEX IF NOT EXISTS access_log_{column} ON access_log ({column}, id)"
        )


class AccessLog:
    def __init__(self, store: ViewStore) -> None:
        self.store = store

    def record(self, reader: Reader, reads: Reads) -> None:
        """Writes the request's reads in one transaction: durable when this returns."""
        at = iso(datetime.now(UTC))
        rows = [
            (
                at,
                reader.user_id,
                reader.role,
                reader.organization_id,
                reader.request_id,
                record_type,
                record_id,
                case_id,
                json.dumps(sorted(fields)),
                reader.policy_version,
            )
            for (record_type, record_id, case_id), fields in sorted(reads.noted.items())
        ]
        with self.store.transaction() as cursor:
            cursor.executemany(
                "INSERT INTO access_log (at, user_id, role, organization_id, request_id, "
                "record_type, record_id, case_id, fields, policy_version) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                rows,
            )

    def entries(
        self,
        *,
        record_id: str | None = None,
        user_id: str | None = None,
        first: int = 20,
        before: int | None = None,
    ) -> list[dict[str, Any]]:
        """Newest first: reads of one record (or of the case it belongs to), or by one user."""
        if (record_id is None) == (user_id is None):
            raise ValueError("name either a record or a user")
        clauses = (
            ["(record_id = %s OR case_id = %s)"] if record_id is not None else ["user_id = %s"]
        )
        params: list[Any] = [record_id, record_id] if record_id is not None else [user_id]
        if before is not None:
            clauses.append("id < %s")
            params.append(before)
        where = " AND ".join(clauses)  # fixed text from above; every value is bound
        sql = f"SELECT {_COLUMNS} FROM access_log WHERE {where} ORDER BY id DESC LIMIT %s"  # noqa: S608
        with self.store.read() as cursor:
            rows = cursor.execute(sql, [*params, first]).fetchall()
        return [
            {
                "id": int(r[0]),
                "at": r[1],
                "userId": r[2],
                "role": r[3],
                "organizationId": r[4],
                "requestId": r[5],
                "recordType": r[6],
                "recordId": r[7],
                "caseId": r[8],
                "fields": json.loads(r[9]),
                "policyVersion": r[10],
            }
            for r in rows
        ]
