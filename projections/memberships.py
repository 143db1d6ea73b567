"""The memberships read model: who holds which role for which organization, found by id, by
provider identity or by the keyed digest of an invited address; and the service accounts with
their tokens, whether revoked, and when each was last used.

Applied before a command answers (not write-behind): a suspension or a revocation is in these
rows when the supervisor's command returns, so the very next request of the member, or of the
integration, is refused.

A service token's last use is not an event (it would write one per request): the request path
records it in ``service_token_use``, at most once a minute per token. A rebuild starts that
table empty (it is read-model state, like the rest), and the aside check does not compare it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypedDict, cast
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol

from domain.membership import Membership
from domain.organization import Status
from domain.service_account import ServiceAccount
from projections.aggregates import AggregateProjection, iso
from projections.directory import INTERNAL
from projections.sql import Cursor, ViewStore, dump_doc, load_doc

MEMBER_COLUMNS = (
    "id",
    "email_digest",
    "issuer",
    "subject",
    "role",
    "organization_id",
    "status",
    "invited_at",
    "doc",
)


class MemberDoc(TypedDict):
    """A membership as its read model keeps it (``members.doc``), instants as text."""

    id: str
    version: int
    email: str
    role: str
    organizationId: str | None
    administrator: bool
    status: str
    invitedAt: str
    invitedBy: str
    expiresAt: str
    boundAt: str | None
    changedAt: str


def member_doc(m: Membership, invited_by: str) -> MemberDoc:
    return {
        "id": str(m.id),
        "version": m.version,
        "email": m.email,
        "role": m.role,
        "organizationId": m.organization_id,
        "administrator": m.administrator,
        "status": m.status,
        "invitedAt": iso(m.created_on),
        "invitedBy": invited_by,
        "expiresAt": iso(m.expires_at),
        "boundAt": iso(m.bound_at),
        "changedAt": iso(m.modified_on),
    }


class MembershipProjection(AggregateProjection):
    name = "memberships"
    aggregate_class = Membership

    def create_tables(self, cursor: Cursor) -> None:
        self.create_state_table(cursor)
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS members (id TEXT PRIMARY KEY, email_digest TEXT NOT NULL, "
            "issuer TEXT, subject TEXT, role TEXT NOT NULL, organization_id TEXT, "
            "status TEXT NOT NULL, invited_at TEXT NOT NULL, doc TEXT NOT NULL)"
        )
        cursor.execute("CREATE INDEX IF NOT EXISTS members_email ON members (email_digest)")
        cursor.execute("CREATE INDEX IF NOT EXISTS members_identity ON members (issuer, subject)")
        cursor.execute(
            "CREATE INDEX IF NOT EXISTS members_listed ON members (organization_id, invited_at, id)"
        )

    def drop_tables(self, cursor: Cursor) -> None:
        for table in ("members", self.state_table):
            cursor.execute(f"DROP TABLE IF EXISTS {table}")

    def write(
        self,
        cursor: Cursor,
        aggregates: list[Membership],
        applied: Mapping[UUID, Sequence[DomainEventProtocol[Any]]],
    ) -> None:
        ids = [str(m.id) for m in aggregates]
        marks = ", ".join(["%s"] * len(ids))
        known = dict(
            cursor.execute(f"SELECT id, doc FROM members WHERE id IN ({marks})", ids).fetchall()
        )
        rows = []
        for m in aggregates:
            first = applied[m.id][0]
            if isinstance(first, Membership.Invited):
                by = first.actor_id
            else:
                by = cast(MemberDoc, load_doc(known[str(m.id)]))["invitedBy"]
            doc = member_doc(m, by)
            rows.append(
                (
                    doc["id"],
                    m.email_digest,
                    m.issuer,
                    m.subject,
                    m.role,
                    m.organization_id,
                    m.status,
                    doc["invitedAt"],
                    dump_doc(doc),
                )
            )
        cursor.executemany(
            f"INSERT INTO members ({', '.join(MEMBER_COLUMNS)}) "
            f"VALUES ({', '.join(['%s'] * len(MEMBER_COLUMNS))}) ON CONFLICT (id) DO UPDATE SET "
            + ", ".join(f"{c} = excluded.{c}" for c in MEMBER_COLUMNS[1:]),
            rows,
        )


class ServiceAccountDoc(TypedDict):
    id: str
    name: str
    role: str
    organizationId: str | None
    createdAt: str
    createdBy: str


class ServiceAccountProjection(AggregateProjection):
    name = "service_accounts"
    aggregate_class = ServiceAccount
    # Written by requests, not by events: not compared by the aside check.
    unchecked_tables = ("service_token_use",)

    def create_tables(self, cursor: Cursor) -> None:
        self.create_state_table(cursor)
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS service_accounts (id TEXT PRIMARY KEY, "
            "created_at TEXT NOT NULL, doc TEXT NOT NULL)"
        )
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS service_tokens (token_id TEXT PRIMARY KEY, "
            "account_id TEXT NOT NULL, organization_id TEXT, expires_at TEXT NOT NULL, "
            "revoked INTEGER NOT NULL)"
        )
        cursor.execute(
            "CREATE INDEX IF NOT EXISTS service_tokens_account ON service_tokens (account_id)"
        )
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS service_token_use (token_id TEXT PRIMARY KEY, "
            "last_used_at TEXT NOT NULL)"
        )

    def drop_tables(self, cursor: Cursor) -> None:
        for table in ("service_accounts", "service_tokens", "service_token_use", self.state_table):
            cursor.execute(f"DROP TABLE IF EXISTS {table}")

    def write(
        self,
        cursor: Cursor,
        aggregates: list[ServiceAccount],
        applied: Mapping[UUID, Sequence[DomainEventProtocol[Any]]],
    ) -> None:
        for account in aggregates:
            first = applied[account.id][0]
            if isinstance(first, ServiceAccount.Created):
                doc: ServiceAccountDoc = {
                    "id": str(account.id),
                    "name": account.name,
                    "role": account.role,
                    "organizationId": account.organization_id,
                    "createdAt": iso(account.created_on),
                    "createdBy": first.actor_id,
                }
                cursor.execute(
                    "INSERT INTO service_accounts (id, created_at, doc) VALUES (%s, %s, %s) "
                    "ON CONFLICT (id) DO NOTHING",
                    (doc["id"], doc["createdAt"], dump_doc(doc)),
                )
            cursor.executemany(
                "INSERT INTO service_tokens (token_id, account_id, organization_id, expires_at, "
                "revoked) VALUES (%s, %s, %s, %s, %s) ON CONFLICT (token_id) DO UPDATE SET "
                "revoked = excluded.revoked",
                [
                    (
                        token_id,
                        str(account.id),
                        account.organization_id,
                        iso(token["expires_at"]),
                        int(token["revoked"]),
                    )
                    for token_id, token in account.tokens.items()
                ],
            )


class MemberQueries:
    """The memberships read model's queries (current as soon as a command answers)."""

    def __init__(self, store: ViewStore) -> None:
        self.store = store

    def get(self, member_id: str) -> MemberDoc | None:
        with self.store.read() as cursor:
            row = cursor.execute("SELECT doc FROM members WHERE id = %s", (member_id,)).fetchone()
        return None if row is None else cast(MemberDoc, load_doc(row[0]))

    def standing(self, member_id: str) -> tuple[MemberDoc, str | None] | None:
        """The membership and, for an organization's member, its organization's status in
        the internal directory (None when it has no row there), in one read."""
        with self.store.read() as cursor:
            row = cursor.execute(
                f"SELECT m.doc, d.status FROM members m LEFT JOIN {INTERNAL} d "
                "ON d.id = m.organization_id WHERE m.id = %s",
                (member_id,),
            ).fetchone()
        return None if row is None else (cast(MemberDoc, load_doc(row[0])), row[1])

    def by_identity(self, issuer: str, subject: str) -> tuple[str, str] | None:
        """The membership this provider identity took up, and its status: one not revoked
        before any revoked one (a person invited again after a revocation), newest first."""
        with self.store.read() as cursor:
            row = cursor.execute(
                "SELECT id, status FROM members WHERE issuer = %s AND subject = %s "
                "ORDER BY CASE WHEN status = 'REVOKED' THEN 1 ELSE 0 END, invited_at DESC, id DESC "
                "LIMIT 1",
                (issuer, subject),
            ).fetchone()
        return None if row is None else (str(row[0]), str(row[1]))

    def invited(self, email_digest: str) -> str | None:
        """The newest invitation to this address not yet taken up, if any."""
        with self.store.read() as cursor:
            row = cursor.execute(
                "SELECT id FROM members WHERE email_digest = %s AND issuer IS NULL "
                "AND status = 'INVITED' ORDER BY invited_at DESC, id DESC LIMIT 1",
                (email_digest,),
            ).fetchone()
        return None if row is None else str(row[0])

    def page(
        self, organization_id: str | None, first: int, after: tuple[str, str] | None
    ) -> list[MemberDoc]:
        """Memberships, newest invitation first; only one organization's when it is named."""
        clauses: list[str] = []
        params: list[Any] = []
        if organization_id is not None:
            clauses.append("organization_id = %s")
            params.append(organization_id)
        if after is not None:
            clauses.append("(invited_at < %s OR (invited_at = %s AND id < %s))")
            params += [after[0], after[0], after[1]]
        sql = (
            "SELECT doc FROM members WHERE "
            + (" AND ".join(clauses) or "TRUE")
            + " ORDER BY invited_at DESC, id DESC LIMIT %s"
        )
        with self.store.read() as cursor:
            rows = cursor.execute(sql, [*params, first]).fetchall()
        return [cast(MemberDoc, load_doc(r[0])) for r in rows]

    # -- service accounts ------------------------------------------------------------------

    def service_account(self, account_id: str) -> ServiceAccountDoc | None:
        with self.store.read() as cursor:
            row = cursor.execute(
                "SELECT doc FROM service_accounts WHERE id = %s", (account_id,)
            ).fetchone()
        return None if row is None else cast(ServiceAccountDoc, load_doc(row[0]))

    def service_accounts(self) -> list[tuple[ServiceAccountDoc, list[dict[str, Any]]]]:
        """Every service account, oldest first, with its tokens and their last use."""
        with self.store.read() as cursor:
            accounts = cursor.execute(
                "SELECT doc FROM service_accounts ORDER BY created_at, id"
            ).fetchall()
            tokens = cursor.execute(
                "SELECT t.account_id, t.token_id, t.expires_at, t.revoked, u.last_used_at "
                "FROM service_tokens t LEFT JOIN service_token_use u ON u.token_id = t.token_id "
                "ORDER BY t.expires_at, t.token_id"
            ).fetchall()
        by_account: dict[str, list[dict[str, Any]]] = {}
        for account_id, token_id, expires_at, revoked, last_used in tokens:
            by_account.setdefault(account_id, []).append(
                {
                    "tokenId": token_id,
                    "expiresAt": expires_at,
                    "revoked": bool(revoked),
                    "lastUsedAt": last_used,
                }
            )
        return [
            (doc, by_account.get(doc["id"], []))
            for doc in (cast(ServiceAccountDoc, load_doc(r[0])) for r in accounts)
        ]

    def token_revoked(self, token_id: str) -> bool:
        """Whether nrd refuses this service token: revoked, never recorded, or its
        organization's (for a partner or liaison integration) no longer included."""
        with self.store.read() as cursor:
            row = cursor.execute(
                f"SELECT t.revoked, t.organization_id, d.status FROM service_tokens t "
                f"LEFT JOIN {INTERNAL} d ON d.id = t.organization_id WHERE t.token_id = %s",
                (token_id,),
            ).fetchone()
        if row is None or bool(row[0]):
            return True
        return row[1] is not None and not organization_active(row[2])

    def token_used(self, token_id: str, at: str) -> None:
        with self.store.transaction() as cursor:
            cursor.execute(
                "INSERT INTO service_token_use (token_id, last_used_at) VALUES (%s, %s) "
                "ON CONFLICT (token_id) DO UPDATE SET last_used_at = excluded.last_used_at",
                (token_id, at),
            )


def organization_active(status: str | None) -> bool:
    """An organization's people stand only while it is included in the directory."""
    return status == Status.INCLUDED.value
