"""The internal and the public directory, with full-text search, facets and cursor pages.

Two read models in separate tables: the internal one holds every organization with its status
and internal fields; the public one holds only included organizations that opted in, and only
their public fields (a confidential location keeps its province and municipality, never its
address). Public reads touch the public tables only, so no filter bug can leak an internal row.
"""

from __future__ import annotations

import base64
import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol

from domain.organization import Organization, Status
from projections.aggregates import AggregateProjection, iso
from projections.store import Cursor, ViewStore, dump_doc, load_doc

INTERNAL = "directory_internal"
PUBLIC = "directory_public"
SCOPES = (INTERNAL, PUBLIC)

PUBLIC_FIELDS = ("kind", "nameEn", "nameFr", "descriptionEn", "descriptionFr", "services",
                 "focusAreas", "populations", "languages", "regions", "hours", "intakeProcess",
                 "publicContact")
FACETS = ("province", "serviceCategory", "serviceNature", "focusArea", "population",
          "language", "kind")


def fold(text: str) -> str:
    """Lower case without accents: what sorting and searching compare, on both stores."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).strip()


def sort_key(name: str) -> str:
    return fold(name)


def internal_doc(org: Organization) -> dict[str, Any]:
    profile = org.profile
    return {
        **profile,
        "id": str(org.id),
        "version": org.version,
        "status": org.status,
        "publicListing": org.public_listing,
        "criteria": org.criteria,
        "lastConfirmedAt": iso(org.last_confirmed_at),
        "createdAt": iso(org.created_on),
        "updatedAt": iso(org.modified_on),
        "failedContactAttempts": org.failed_contact_attempts,
        "flaggedUnreachable": org.flagged_unreachable,
        "contactAttempts": [{**a, "at": iso(a["at"])} for a in org.contact_attempts],
        "pendingUpdate": None if org.pending_update is None else {
            "profile": org.pending_update["profile"],
            "submittedAt": iso(org.pending_update["submittedAt"])},
        "allegations": [{**a, "at": iso(a["at"])} for a in org.allegations],
        "removal": None if org.removal is None else {**org.removal, "at": iso(org.removal["at"])},
        "removalRequested": org.removal_requested,
        "history": [{**h, "at": iso(h["at"])} for h in org.history],
    }


def public_doc(org: Organization) -> dict[str, Any] | None:
    if org.status != Status.INCLUDED.value or not org.public_listing:
        return None
    doc = {key: org.profile.get(key) for key in PUBLIC_FIELDS}
    doc["id"] = str(org.id)
    location = org.profile.get("location") or {}
    if location.get("confidential"):
        doc["location"] = {"province": location.get("province"),
                           "municipality": location.get("municipality")}
    elif location:
        doc["location"] = {k: v for k, v in location.items() if k != "confidential"}
    else:
        doc["location"] = None
    return doc


def _facet_rows(doc: dict[str, Any]) -> set[tuple[str, str]]:
    rows = {("kind", doc["kind"])}
    rows |= {("province", r["province"]) for r in doc.get("regions") or []}
    rows |= {("serviceCategory", s["category"]) for s in doc.get("services") or []}
    rows |= {("serviceNature", n) for s in doc.get("services") or [] for n in s["natures"]}
    rows |= {("focusArea", v) for v in doc.get("focusAreas") or []}
    rows |= {("population", v) for v in doc.get("populations") or []}
    rows |= {("language", v) for v in doc.get("languages") or []}
    return rows


def _search_text(doc: dict[str, Any], lang: str) -> str:
    suffix = "En" if lang == "en" else "Fr"
    parts = [doc.get(f"name{suffix}") or "", doc.get(f"description{suffix}") or ""]
    parts += [s.get(f"name{suffix}", "") for s in doc.get("services") or []]
    parts += [r.get("municipality", "") for r in doc.get("regions") or []]
    return " ".join(p for p in parts if p)


class DirectoryProjection(AggregateProjection):
    name = "directory"
    aggregate_class = Organization

    def create_tables(self, cursor: Cursor) -> None:
        self.create_state_table(cursor)
        pg = self.dialect == "postgres"
        collate = ' COLLATE "C"' if pg else ""
        for scope in SCOPES:
            internal_cols = ("status TEXT NOT NULL, last_confirmed_at TEXT, "
                             "flagged_unreachable INTEGER NOT NULL, ") if scope == INTERNAL else ""
            search_col = "search tsvector NOT NULL, " if pg else ""
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {scope} (id TEXT PRIMARY KEY, kind TEXT NOT NULL, "
                f"sort_key TEXT{collate} NOT NULL, {internal_cols}{search_col}doc TEXT NOT NULL)")
            cursor.execute(f"CREATE INDEX IF NOT EXISTS {scope}_sort ON {scope} (sort_key, id)")
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {scope}_facets (id TEXT NOT NULL, facet TEXT NOT NULL,"
                f" value TEXT NOT NULL, PRIMARY KEY (id, facet, value))")
            cursor.execute(f"CREATE INDEX IF NOT EXISTS {scope}_facets_value "
                           f"ON {scope}_facets (facet, value, id)")
            if pg:
                cursor.execute(f"CREATE INDEX IF NOT EXISTS {scope}_search "
                               f"ON {scope} USING GIN (search)")
            else:
                cursor.execute(
                    f"CREATE VIRTUAL TABLE IF NOT EXISTS {scope}_fts USING fts5(id UNINDEXED, "
                    "body, tokenize = 'porter unicode61 remove_diacritics 2')")

    def drop_tables(self, cursor: Cursor) -> None:
        for scope in SCOPES:
            for table in (f"{scope}_facets", f"{scope}_fts", scope):
                cursor.execute(f"DROP TABLE IF EXISTS {table}")
        cursor.execute(f"DROP TABLE IF EXISTS {self.state_table}")

    def write(self, cursor: Cursor, orgs: list[Organization],
              applied: Mapping[UUID, Sequence[DomainEventProtocol[Any]]]) -> None:
        internal, public = [], []
        for org in orgs:
            doc = internal_doc(org)
            internal.append((doc, (org.status, doc["lastConfirmedAt"],
                                   int(org.flagged_unreachable))))
            public_copy = public_doc(org)
            if public_copy is not None:
                public.append((public_copy, ()))
        ids = [str(org.id) for org in orgs]
        self._replace(cursor, INTERNAL, ids, internal)
        self._replace(cursor, PUBLIC, ids, public)

    def _replace(self, cursor: Cursor, scope: str,
                 ids: list[str], docs: list[tuple[dict[str, Any], tuple[Any, ...]]]) -> None:
        """Deletes these organizations' rows in ``scope`` and writes the given ones, each
        statement once for the whole batch."""
        marks = ", ".join(["%s"] * len(ids))
        tables = [f"{scope}_facets", scope] + ([f"{scope}_fts"] if self.dialect == "sqlite" else [])
        for table in tables:
            cursor.execute(f"DELETE FROM {table} WHERE id IN ({marks})", ids)
        if not docs:
            return
        columns = ["id", "kind", "sort_key", "doc"]
        placeholders = ["%s"] * 4
        if scope == INTERNAL:
            columns += ["status", "last_confirmed_at", "flagged_unreachable"]
            placeholders += ["%s"] * 3
        if self.dialect == "postgres":
            columns.append("search")
            placeholders.append("setweight(to_tsvector('english', %s), 'A') || "
                                "setweight(to_tsvector('french', %s), 'A')")
        rows, facets, fts = [], [], []
        for doc, extra in docs:
            # Folded on both sides, so "hebergement" finds "hébergement" on PostgreSQL too.
            english, french = fold(_search_text(doc, "en")), fold(_search_text(doc, "fr"))
            row = [doc["id"], doc["kind"], sort_key(doc["nameEn"]),
                   dump_doc(doc), *extra]
            if self.dialect == "postgres":
                row += [english, french]
            else:
                fts.append((doc["id"], f"{english} {french}"))
            rows.append(row)
            facets += [(doc["id"], facet, value) for facet, value in sorted(_facet_rows(doc))]
        cursor.executemany(f"INSERT INTO {scope} ({', '.join(columns)}) "
                           f"VALUES ({', '.join(placeholders)})", rows)
        cursor.executemany(f"INSERT INTO {scope}_facets (id, facet, value) VALUES (%s, %s, %s)",
                           facets)
        if fts:
            cursor.executemany(f"INSERT INTO {scope}_fts (id, body) VALUES (%s, %s)", fts)


# -- queries ---------------------------------------------------------------------------------

class InvalidQuery(Exception):
    """A search that cannot run as asked; the message says what to change."""


@dataclass(frozen=True)
class DirectoryQuery:
    text: str = ""
    facets: Mapping[str, Sequence[str]] = field(default_factory=dict)
    statuses: Sequence[str] = ()
    review_due_before: str | None = None
    flagged_unreachable: bool | None = None
    first: int = 20
    after: str | None = None


@dataclass(frozen=True)
class DirectoryPage:
    docs: list[dict[str, Any]]
    total: int
    facets: dict[str, dict[str, int]]
    end_cursor: str | None
    has_next_page: bool


_WORD = re.compile(r"\w+", re.UNICODE)


def encode_cursor(key: str, org_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([key, org_id]).encode()).decode()


def decode_cursor(cursor: str) -> tuple[str, str]:
    """Only what ``encode_cursor`` makes: a sort key (printable, bounded) and an id (a UUID)."""
    try:
        key, org_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not isinstance(key, str) or not isinstance(org_id, str):
            raise ValueError
        org_id = str(UUID(org_id))
        key.encode("utf-8")
        if len(key) > 1000 or not key.isprintable():
            raise ValueError
    except (ValueError, TypeError, UnicodeError):
        raise InvalidQuery("after: not a cursor returned by this API") from None
    return key, org_id


def _known(scope: str) -> None:
    """Table names reach SQL only from SCOPES (a check that survives python -O)."""
    if scope not in SCOPES:
        raise ValueError(f"unknown directory scope {scope!r}")


class DirectoryQueries:
    def __init__(self, store: ViewStore) -> None:
        self.store = store

    def get(self, scope: str, org_id: str) -> dict[str, Any] | None:
        _known(scope)
        with self.store.read() as cursor:
            row = cursor.execute(f"SELECT doc FROM {scope} WHERE id = %s", (org_id,)).fetchone()
        return None if row is None else load_doc(row[0])

    def get_many(self, scope: str, org_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        _known(scope)
        if not org_ids:
            return {}
        marks = ", ".join(["%s"] * len(org_ids))
        with self.store.read() as cursor:
            rows = cursor.execute(f"SELECT id, doc FROM {scope} WHERE id IN ({marks})",
                                  list(org_ids)).fetchall()
        return {row[0]: load_doc(row[1]) for row in rows}

    def search(self, scope: str, query: DirectoryQuery, with_facets: bool = True,
               with_total: bool = True) -> DirectoryPage:
        _known(scope)
        where, params = self._conditions(scope, query)
        page_where, page_params = list(where), list(params)
        if query.after:
            key, org_id = decode_cursor(query.after)
            page_where.append("(sort_key > %s OR (sort_key = %s AND id > %s))")
            page_params += [key, key, org_id]
        clause = " AND ".join(page_where) or "TRUE"
        all_clause = " AND ".join(where) or "TRUE"
        with self.store.snapshot() as cursor:  # page, total and facets agree
            rows = cursor.execute(
                f"SELECT id, sort_key, doc FROM {scope} WHERE {clause} "
                f"ORDER BY sort_key, id LIMIT %s", [*page_params, query.first + 1]).fetchall()
            total = -1
            if with_total:
                total = cursor.execute(f"SELECT COUNT(*) FROM {scope} WHERE {all_clause}",
                                       params).fetchone()[0]
            facets: dict[str, dict[str, int]] = {}
            if with_facets:
                for facet, value, count in cursor.execute(
                        f"SELECT facet, value, COUNT(*) FROM {scope}_facets WHERE id IN "
                        f"(SELECT id FROM {scope} WHERE {all_clause}) "
                        "GROUP BY facet, value ORDER BY facet, value", params).fetchall():
                    facets.setdefault(facet, {})[value] = int(count)
        has_next = len(rows) > query.first
        rows = rows[: query.first]
        end = encode_cursor(rows[-1][1], rows[-1][0]) if rows else None
        return DirectoryPage([load_doc(r[2]) for r in rows], int(total), facets, end, has_next)

    def _conditions(self, scope: str, query: DirectoryQuery) -> tuple[list[str], list[Any]]:
        where: list[str] = []
        params: list[Any] = []
        words = _WORD.findall(query.text)[:20]
        if words:
            if self.store.dialect == "postgres":
                text = fold(" ".join(words))
                where.append("search @@ (plainto_tsquery('english', %s) || "
                             "plainto_tsquery('french', %s))")
                params += [text, text]
            else:
                match = " ".join('"' + w.replace('"', '""') + '"' for w in words)
                where.append(f"id IN (SELECT id FROM {scope}_fts WHERE {scope}_fts MATCH %s)")
                params.append(match)
        for facet, values in sorted(query.facets.items()):
            if facet not in FACETS:
                raise InvalidQuery(f"unknown filter {facet}")
            if values:
                marks = ", ".join(["%s"] * len(values))
                where.append(f"id IN (SELECT id FROM {scope}_facets WHERE facet = %s "
                             f"AND value IN ({marks}))")
                params += [facet, *values]
        if scope == INTERNAL:
            if query.statuses:
                where.append(f"status IN ({', '.join(['%s'] * len(query.statuses))})")
                params += list(query.statuses)
            if query.review_due_before is not None:
                where.append("status = %s AND last_confirmed_at <= %s")
                params += [Status.INCLUDED.value, query.review_due_before]
            if query.flagged_unreachable is not None:
                where.append("flagged_unreachable = %s")
                params.append(int(query.flagged_unreachable))
        return where, params


def review_cutoff(now: datetime, interval_days: int) -> str:
    from datetime import timedelta
    return iso(now - timedelta(days=interval_days)) or ""
