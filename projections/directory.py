"""The internal and the public directory, with full-text search, facets and cursor pages.

Two read models in separate tables: the internal one holds every organization with its status
and internal fields; the public one holds only included organizations that opted in, and only
their public fields (a confidential location keeps its province and municipality, never its
address). Public reads touch the public tables only, so no filter bug can leak an internal row.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict, cast
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol

from domain.organization import Organization, Status
from domain.vocabulary import Contact, Location, Profile, Region, Service
from projections.aggregates import AggregateProjection, iso
from projections.queues import (
    ORGANIZATION_WORK,
    create_item_table,
    duplicate_items,
    write_items,
)
from projections.sql import Cursor, ViewStore, dump_doc, load_doc

INTERNAL = "directory_internal"
PUBLIC = "directory_public"
SCOPES = (INTERNAL, PUBLIC)
# Possible duplicates: each organization's match keys, and each application flagged, with the
# organizations it looks like (internal: the hotline's roles only).
MATCH_KEYS = "directory_match_keys"
DUPLICATES = "directory_possible_duplicates"


# The documents the two directories keep (``doc``): plain dicts, typed so that a misspelt key
# is an error. The internal one is the whole profile with the record's state, its instants as
# text; the public one only the public fields and, of a confidential location, the province
# and municipality.
class ContactAttemptDoc(TypedDict):
    at: str
    outcome: str
    note: str


class AllegationDoc(TypedDict):
    at: str
    summary: str
    recordedBy: str


class RemovalDoc(TypedDict):
    at: str
    reason: str
    note: str
    removedBy: str


class StatusStepDoc(TypedDict):
    at: str
    what: str
    status: str
    actorRole: str
    note: str


class PendingUpdateDoc(TypedDict):
    profile: Profile
    submittedAt: str


class InternalDoc(Profile):
    id: str
    version: int
    status: str
    publicListing: bool
    criteria: list[str]
    lastConfirmedAt: str | None
    createdAt: str | None
    updatedAt: str | None
    failedContactAttempts: int
    flaggedUnreachable: bool
    contactAttempts: list[ContactAttemptDoc]
    pendingUpdate: PendingUpdateDoc | None
    allegations: list[AllegationDoc]
    removal: RemovalDoc | None
    removalRequested: bool
    history: list[StatusStepDoc]
    duplicateOf: str | None
    possibleDuplicates: list[dict[str, Any]]  # the batch that writes the row fills it


class PublicDoc(TypedDict):
    """Each public field of the profile (null where it has none), then the id and location."""

    kind: str
    nameEn: str
    nameFr: str
    descriptionEn: str | None
    descriptionFr: str | None
    services: list[Service] | None
    focusAreas: list[str] | None
    populations: list[str] | None
    languages: list[str] | None
    regions: list[Region] | None
    hours: str | None
    intakeProcess: str | None
    publicContact: Contact | None
    id: str
    location: Location | PublicLocation | None


class PublicLocation(TypedDict):
    """A confidential location as the public directory shows it."""

    province: str | None
    municipality: str | None


OrganizationDoc = InternalDoc | PublicDoc
PUBLIC_FIELDS = tuple(key for key in PublicDoc.__annotations__ if key not in ("id", "location"))
FACETS = (
    "province",
    "serviceCategory",
    "serviceNature",
    "focusArea",
    "population",
    "language",
    "kind",
)


def fold(text: str) -> str:
    """Lower case without accents: what sorting and searching compare, on both stores."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).strip()


def sort_key(name: str) -> str:
    return fold(name)


# -- possible duplicates ----------------------------------------------------------------------

NAME = "NAME"
POSTAL_CODE_AND_EMAIL = "POSTAL_CODE_AND_EMAIL"
_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)


def _normalized_name(name: str) -> str:
    """A name as applications are compared: folded, punctuation and spacing ignored."""
    return " ".join(_NOT_WORD.sub(" ", fold(name)).split())


def match_keys(profile: Mapping[str, Any]) -> dict[str, str]:
    """What makes two organizations look alike, as digests (the table holds no contact
    details of its own) -> what matched: either name, or a postal code with an email."""
    keys: dict[str, str] = {}
    for name in (profile.get("nameEn"), profile.get("nameFr")):
        if name and (normal := _normalized_name(name)):
            keys[_digest("name", normal)] = NAME
    postal = "".join(((profile.get("location") or {}).get("postalCode") or "").upper().split())
    if postal:
        for contact in ("publicContact", "pointOfContact"):
            email = ((profile.get(contact) or {}).get("email") or "").strip().casefold()
            if email:
                keys[_digest("postal-email", f"{postal}|{email}")] = POSTAL_CODE_AND_EMAIL
    return keys


def _digest(kind: str, text: str) -> str:
    return hashlib.sha256(f"{kind}\x1f{text}".encode()).hexdigest()


def duplicate_resolution(org: Organization) -> str | None:
    """What became of an application's flag: None while staff have not decided."""
    if org.duplicate_of is not None:
        return "DECLINED_AS_DUPLICATE"
    if org.duplicate_flag_dismissed:
        return "DISMISSED"
    if org.status in _UNDECIDED:
        return None
    return "DECIDED"


_UNDECIDED = frozenset(
    s.value
    for s in (
        Status.SUBMITTED,
        Status.UNDER_REVIEW,
        Status.INFORMATION_REQUESTED,
        Status.INFORMATION_PROVIDED,
    )
)


def internal_doc(org: Organization) -> InternalDoc:
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
        "pendingUpdate": None
        if org.pending_update is None
        else {
            "profile": org.pending_update["profile"],
            "submittedAt": iso(org.pending_update["submittedAt"]),
        },
        "allegations": [{**a, "at": iso(a["at"])} for a in org.allegations],
        "removal": None if org.removal is None else {**org.removal, "at": iso(org.removal["at"])},
        "removalRequested": org.removal_requested,
        "history": [{**h, "at": iso(h["at"])} for h in org.history],
        "duplicateOf": org.duplicate_of,
        "possibleDuplicates": [],
    }


def public_doc(org: Organization) -> PublicDoc | None:
    if org.status != Status.INCLUDED.value or not org.public_listing:
        return None
    doc = cast(PublicDoc, {key: org.profile.get(key) for key in PUBLIC_FIELDS})
    doc["id"] = str(org.id)
    location: Location = org.profile.get("location") or {}
    if location.get("confidential"):
        doc["location"] = {
            "province": location.get("province"),
            "municipality": location.get("municipality"),
        }
    elif location:
        doc["location"] = cast(Location, {k: v for k, v in location.items() if k != "confidential"})
    else:
        doc["location"] = None
    return doc


def _facet_rows(doc: OrganizationDoc) -> set[tuple[str, str]]:
    rows = {("kind", doc["kind"])}
    rows |= {("province", r["province"]) for r in doc.get("regions") or []}
    rows |= {("serviceCategory", s["category"]) for s in doc.get("services") or []}
    rows |= {("serviceNature", n) for s in doc.get("services") or [] for n in s["natures"]}
    rows |= {("focusArea", v) for v in doc.get("focusAreas") or []}
    rows |= {("population", v) for v in doc.get("populations") or []}
    rows |= {("language", v) for v in doc.get("languages") or []}
    return rows


def _search_text(doc: OrganizationDoc, lang: str) -> str:
    services = doc.get("services") or []
    if lang == "en":
        parts = [doc.get("nameEn") or "", doc.get("descriptionEn") or ""]
        parts += [s["nameEn"] for s in services]
    else:
        parts = [doc.get("nameFr") or "", doc.get("descriptionFr") or ""]
        parts += [s["nameFr"] for s in services]
    parts += [r.get("municipality", "") for r in doc.get("regions") or []]
    return " ".join(p for p in parts if p)


class DirectoryProjection(AggregateProjection):
    name = "directory"
    aggregate_class = Organization

    def create_tables(self, cursor: Cursor) -> None:
        self.create_state_table(cursor)
        create_item_table(cursor, ORGANIZATION_WORK)  # the work queues' (projections/queues.py)
        pg = self.dialect == "postgres"
        collate = ' COLLATE "C"' if pg else ""
        for scope in SCOPES:
            internal_cols = (
                (
                    "status TEXT NOT NULL, last_confirmed_at TEXT, "
                    "flagged_unreachable INTEGER NOT NULL, "
                )
                if scope == INTERNAL
                else ""
            )
            search_col = "search tsvector NOT NULL, " if pg else ""
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {scope} (id TEXT PRIMARY KEY, kind TEXT NOT NULL, "
                f"sort_key TEXT{collate} NOT NULL, {internal_cols}{search_col}doc TEXT NOT NULL)"
            )
            cursor.execute(f"CREATE INDEX IF NOT EXISTS {scope}_sort ON {scope} (sort_key, id)")
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {scope}_facets (id TEXT NOT NULL, facet TEXT NOT NULL,"
                f" value TEXT NOT NULL, PRIMARY KEY (id, facet, value))"
            )
            cursor.execute(
                f"CREATE INDEX IF NOT EXISTS {scope}_facets_value "
                f"ON {scope}_facets (facet, value, id)"
            )
            if pg:
                cursor.execute(
                    f"CREATE INDEX IF NOT EXISTS {scope}_search ON {scope} USING GIN (search)"
                )
                # Which values go with which facet ('CA-ON' only with 'province'): without
                # it the planner multiplies the two columns' frequencies, expects far fewer
                # rows than a province holds, and gathers and sorts them all rather than walk
                # the sort index until a page is full (see DirectoryQueries._page).
                cursor.execute(
                    f"CREATE STATISTICS IF NOT EXISTS {scope}_facets_pairs (mcv) "
                    f"ON facet, value FROM {scope}_facets"
                )
            else:
                cursor.execute(
                    f"CREATE VIRTUAL TABLE IF NOT EXISTS {scope}_fts USING fts5(id UNINDEXED, "
                    "body, tokenize = 'porter unicode61 remove_diacritics 2')"
                )
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {MATCH_KEYS} (id TEXT NOT NULL, match_key TEXT NOT NULL, "
            "PRIMARY KEY (id, match_key))"
        )
        cursor.execute(
            f"CREATE INDEX IF NOT EXISTS {MATCH_KEYS}_key ON {MATCH_KEYS} (match_key, id)"
        )
        # One row per application and organization it looks like; resolution NULL while open.
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {DUPLICATES} (application_id TEXT NOT NULL, "
            "organization_id TEXT NOT NULL, matched_on TEXT NOT NULL, flagged_at TEXT NOT NULL, "
            "resolution TEXT, PRIMARY KEY (application_id, organization_id))"
        )
        cursor.execute(
            f"CREATE INDEX IF NOT EXISTS {DUPLICATES}_open "
            f"ON {DUPLICATES} (resolution, flagged_at, application_id)"
        )

    def drop_tables(self, cursor: Cursor) -> None:
        for scope in SCOPES:
            for table in (f"{scope}_facets", f"{scope}_fts", scope):
                cursor.execute(f"DROP TABLE IF EXISTS {table}")
        for table in (MATCH_KEYS, DUPLICATES):
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
        cursor.execute(f"DROP TABLE IF EXISTS {ORGANIZATION_WORK}")
        cursor.execute(f"DROP TABLE IF EXISTS {self.state_table}")

    def write(
        self,
        cursor: Cursor,
        orgs: list[Organization],
        applied: Mapping[UUID, Sequence[DomainEventProtocol[Any]]],
    ) -> None:
        flags = self._flag_duplicates(cursor, orgs, applied)
        internal: list[tuple[OrganizationDoc, tuple[Any, ...]]] = []
        public: list[tuple[OrganizationDoc, tuple[Any, ...]]] = []
        for org in orgs:
            doc = internal_doc(org)
            doc["possibleDuplicates"] = flags.get(str(org.id), [])
            internal.append(
                (doc, (org.status, doc["lastConfirmedAt"], int(org.flagged_unreachable)))
            )
            public_copy = public_doc(org)
            if public_copy is not None:
                public.append((public_copy, ()))
        ids = [str(org.id) for org in orgs]
        self._replace(cursor, INTERNAL, ids, internal)
        self._replace(cursor, PUBLIC, ids, public)
        write_items(cursor, ORGANIZATION_WORK, orgs, duplicate_items(flags))

    def _flag_duplicates(
        self,
        cursor: Cursor,
        orgs: list[Organization],
        applied: Mapping[UUID, Sequence[DomainEventProtocol[Any]]],
    ) -> dict[str, list[dict[str, Any]]]:
        """Keeps each organization's match keys, flags each new application that shares one
        with an organization already known (in log order: the second of two identical
        applications is flagged, with a link to the first), and returns the flags of these
        organizations, for their documents."""
        ids = [str(org.id) for org in orgs]
        marks = ", ".join(["%s"] * len(ids))
        for org in orgs:
            # One by one: an organization later in the batch keeps its keys until its turn,
            # so an application earlier in the batch still finds it.
            keys = match_keys(org.profile)
            submitted = any(
                isinstance(e, Organization.ApplicationSubmitted) for e in applied[org.id]
            )
            if submitted and keys:
                self._flag(cursor, org, keys)
            cursor.execute(f"DELETE FROM {MATCH_KEYS} WHERE id = %s", (str(org.id),))
            cursor.executemany(
                f"INSERT INTO {MATCH_KEYS} (id, match_key) VALUES (%s, %s)",
                [(str(org.id), key) for key in sorted(keys)],
            )
            cursor.execute(
                f"UPDATE {DUPLICATES} SET resolution = %s WHERE application_id = %s",
                (duplicate_resolution(org), str(org.id)),
            )
        rows = cursor.execute(
            f"SELECT application_id, organization_id, matched_on, flagged_at, resolution "
            f"FROM {DUPLICATES} WHERE application_id IN ({marks}) "
            "ORDER BY application_id, flagged_at, organization_id",
            ids,
        ).fetchall()
        flags: dict[str, list[dict[str, Any]]] = {}
        for application, organization, matched, at, resolution in rows:
            flags.setdefault(application, []).append(
                {
                    "organizationId": organization,
                    "matchedOn": matched.split(","),
                    "flaggedAt": at,
                    "resolution": resolution,
                }
            )
        return flags

    def _flag(self, cursor: Cursor, org: Organization, keys: dict[str, str]) -> None:
        marks = ", ".join(["%s"] * len(keys))
        found: dict[str, set[str]] = {}
        for other, key in cursor.execute(
            f"SELECT id, match_key FROM {MATCH_KEYS} WHERE match_key IN ({marks}) AND id <> %s",
            [*keys, str(org.id)],
        ).fetchall():
            found.setdefault(other, set()).add(keys[key])
        cursor.executemany(
            f"INSERT INTO {DUPLICATES} (application_id, organization_id, matched_on, flagged_at) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
            [
                (str(org.id), other, ",".join(sorted(matched)), iso(org.created_on))
                for other, matched in sorted(found.items())
            ],
        )

    def _replace(
        self,
        cursor: Cursor,
        scope: str,
        ids: list[str],
        docs: Sequence[tuple[OrganizationDoc, tuple[Any, ...]]],
    ) -> None:
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
            placeholders.append(
                "setweight(to_tsvector('english', %s), 'A') || "
                "setweight(to_tsvector('french', %s), 'A')"
            )
        rows, facets, fts = [], [], []
        for doc, extra in docs:
            # Folded on both sides, so "hebergement" finds "hébergement" on PostgreSQL too.
            english, french = fold(_search_text(doc, "en")), fold(_search_text(doc, "fr"))
            row = [doc["id"], doc["kind"], sort_key(doc["nameEn"]), dump_doc(doc), *extra]
            if self.dialect == "postgres":
                row += [english, french]
            else:
                fts.append((doc["id"], f"{english} {french}"))
            rows.append(row)
            facets += [(doc["id"], facet, value) for facet, value in sorted(_facet_rows(doc))]
        cursor.executemany(
            f"INSERT INTO {scope} ({', '.join(columns)}) VALUES ({', '.join(placeholders)})", rows
        )
        cursor.executemany(
            f"INSERT INTO {scope}_facets (id, facet, value) VALUES (%s, %s, %s)", facets
        )
        if fts:  # each under its organization's rowid, so a search can check one row's words
            cursor.executemany(
                f"INSERT INTO {scope}_fts (rowid, id, body) "
                f"SELECT rowid, id, %s FROM {scope} WHERE id = %s",
                [(body, org_id) for org_id, body in fts],
            )


def link_full_text(cursor: Cursor) -> None:
    """SQLite: gives each full-text row its organization's rowid (rows written before the
    search relied on it were numbered on their own)."""
    for scope in SCOPES:
        rows = cursor.execute(f"SELECT id, body FROM {scope}_fts").fetchall()
        cursor.execute(f"DELETE FROM {scope}_fts")
        cursor.executemany(
            f"INSERT INTO {scope}_fts (rowid, id, body) "
            f"SELECT rowid, id, %s FROM {scope} WHERE id = %s",
            [(body, org_id) for org_id, body in rows],
        )


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
    possible_duplicate: bool | None = None
    first: int = 20
    after: str | None = None


@dataclass(frozen=True)
class DirectoryPage:
    docs: list[OrganizationDoc]
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

    def possible_duplicates(
        self, first: int = 20, after: tuple[str, str, str] | None = None
    ) -> list[dict[str, Any]]:
        """Open flags, oldest first: each application with an organization it looks like.
        ``after``: the (flaggedAt, applicationId, organizationId) of the last row seen."""
        where, params = "resolution IS NULL", []
        if after is not None:
            where += " AND (flagged_at, application_id, organization_id) > (%s, %s, %s)"
            params = list(after)
        with self.store.read() as cursor:
            rows = cursor.execute(
                f"SELECT application_id, organization_id, matched_on, flagged_at "
                f"FROM {DUPLICATES} WHERE {where} "
                "ORDER BY flagged_at, application_id, organization_id LIMIT %s",
                [*params, first],
            ).fetchall()
        return [
            {
                "applicationId": r[0],
                "organizationId": r[1],
                "matchedOn": r[2].split(","),
                "flaggedAt": r[3],
            }
            for r in rows
        ]

    def get(self, scope: str, org_id: str) -> OrganizationDoc | None:
        _known(scope)
        with self.store.read() as cursor:
            row = cursor.execute(f"SELECT doc FROM {scope} WHERE id = %s", (org_id,)).fetchone()
        return None if row is None else load_doc(row[0])

    def get_many(self, scope: str, org_ids: Sequence[str]) -> dict[str, OrganizationDoc]:
        _known(scope)
        if not org_ids:
            return {}
        marks = ", ".join(["%s"] * len(org_ids))
        with self.store.read() as cursor:
            rows = cursor.execute(
                f"SELECT id, doc FROM {scope} WHERE id IN ({marks})", list(org_ids)
            ).fetchall()
        return {row[0]: load_doc(row[1]) for row in rows}

    def search(
        self, scope: str, query: DirectoryQuery, with_facets: bool = True, with_total: bool = True
    ) -> DirectoryPage:
        _known(scope)
        filters = self._filters(scope, query)
        after: list[Condition] = []
        if query.after:
            key, org_id = decode_cursor(query.after)
            # A row value: both stores seek the sort index to it rather than scan up to it.
            after.append(("(sort_key, id) > (%s, %s)", [key, org_id]))
        listed = [f.listed for f in filters]
        all_clause, params = _joined(listed)
        with self.store.snapshot() as cursor:  # page, total and facets agree
            rows = self._page(cursor, scope, filters, after, query.first + 1)
            total = -1
            if with_total:
                total = self._planned(
                    cursor, f"SELECT COUNT(*) FROM {scope} WHERE {all_clause}", params
                ).fetchone()[0]
            facets: dict[str, dict[str, int]] = {}
            if with_facets:
                for facet, value, count in self._planned(
                    cursor,
                    f"SELECT facet, value, COUNT(*) FROM {scope}_facets WHERE id IN "
                    f"(SELECT id FROM {scope} WHERE {all_clause}) "
                    "GROUP BY facet, value ORDER BY facet, value",
                    params,
                ).fetchall():
                    facets.setdefault(facet, {})[value] = int(count)
        has_next = len(rows) > query.first
        rows = rows[: query.first]
        end = encode_cursor(rows[-1][1], rows[-1][0]) if rows else None
        return DirectoryPage([load_doc(r[2]) for r in rows], int(total), facets, end, has_next)

    # A page is the first rows in sort order that pass every filter. Two ways to find them:
    # walk the sort index and check each row until the page is full (cheap when matches are
    # plentiful: the work follows the page's size, not the directory's), or gather every
    # row the most selective filter admits, check the others on each and sort them (cheap
    # when they are few). PostgreSQL chooses from its statistics, given the values
    # (``_planned``). SQLite keeps none of a full-text index and would gather every match of
    # a common word, so on SQLite the search chooses: words with few matches are gathered;
    # otherwise it walks, at most WALK_ROWS rows, and if the page is not full by then it
    # gathers from the filter that admits the fewest rows (counted in their own indexes).
    RARE_MATCHES = 2000
    WALK_ROWS = 2000

    def _page(
        self, cursor: Cursor, scope: str, filters: list[Filter], after: list[Condition], limit: int
    ) -> list[Any]:
        if self.store.dialect == "postgres":
            return self._select_page(cursor, scope, [f.listed for f in filters] + after, limit)
        text = next((f for f in filters if f.text), None)
        if (
            text is not None
            and text.members is not None
            and self._count(cursor, text.members, self.RARE_MATCHES) < self.RARE_MATCHES
        ):
            return self._gather(cursor, scope, filters, after, limit, text)
        bound = self._walk_bound(cursor, scope, after)
        walk = [f.per_row for f in _cheap_first(filters)] + after
        rows = self._select_page(
            cursor, scope, walk + ([bound] if bound else []), limit, index=f"{scope}_sort"
        )
        if len(rows) == limit or bound is None:
            return rows
        return self._gather(
            cursor, scope, filters, after, limit, self._most_selective(cursor, filters)
        )

    def _gather(
        self,
        cursor: Cursor,
        scope: str,
        filters: list[Filter],
        after: list[Condition],
        limit: int,
        driver: Filter | None,
    ) -> list[Any]:
        """The rows ``driver`` admits, each checked against the other filters, sorted by
        their keys alone (not dragging each document through the sort), then the page's
        documents read."""
        if driver is None:  # only conditions on the rows' own columns
            conditions = [f.listed for f in filters] + after
        else:
            others = [f.per_row for f in _cheap_first(f for f in filters if f is not driver)]
            conditions = [driver.listed, *others, *after]
        clause, params = _joined(conditions)
        return list(
            cursor.execute(
                f"SELECT id, sort_key, doc FROM {scope} WHERE rowid IN (SELECT rowid FROM {scope} "
                f"WHERE {clause} ORDER BY sort_key, id LIMIT %s) ORDER BY sort_key, id",
                [*params, limit],
            ).fetchall()
        )

    def _most_selective(self, cursor: Cursor, filters: list[Filter]) -> Filter | None:
        """The filter that admits the fewest rows; each count stops at the fewest so far
        (facets are counted first: their index is the cheaper to count)."""
        best: Filter | None = None
        fewest: int | None = None
        for candidate in _cheap_first(filters):
            if candidate.members is None:
                continue
            found = self._count(cursor, candidate.members, fewest)
            if fewest is None or found < fewest:
                best, fewest = candidate, found
        return best

    def _count(self, cursor: Cursor, members: Condition, cap: int | None) -> int:
        """How many rows a filter admits, counted in its own index (``Filter.members``), up
        to ``cap``."""
        sql, params = members
        if cap is not None:
            sql, params = f"{sql} LIMIT %s", [*params, cap]
        (found,) = cursor.execute(f"SELECT COUNT(*) FROM ({sql})", params).fetchone()
        return int(found)

    def _select_page(
        self,
        cursor: Cursor,
        scope: str,
        conditions: list[Condition],
        limit: int,
        index: str | None = None,
    ) -> list[Any]:
        clause, params = _joined(conditions)
        indexed = f" INDEXED BY {index}" if index else ""
        return list(
            self._planned(
                cursor,
                f"SELECT id, sort_key, doc FROM {scope}{indexed} WHERE {clause} "
                "ORDER BY sort_key, id LIMIT %s",
                [*params, limit],
            ).fetchall()
        )

    def _walk_bound(self, cursor: Cursor, scope: str, after: list[Condition]) -> Condition | None:
        """The condition that stops a walk after WALK_ROWS rows of the sort index (from the
        cursor on); None when fewer rows are left."""
        clause, params = _joined(after)
        row = cursor.execute(
            f"SELECT sort_key, id FROM {scope} WHERE {clause} "
            "ORDER BY sort_key, id LIMIT 1 OFFSET %s",
            [*params, self.WALK_ROWS - 1],
        ).fetchone()
        if row is None:
            return None
        # A row value, so the walk stops there instead of checking (and failing) the rest.
        return ("(sort_key, id) <= (%s, %s)", [row[0], row[1]])

    def _planned(self, cursor: Cursor, sql: str, params: list[Any]) -> Any:
        """Runs a search statement planned for its own values. psycopg prepares a statement
        on the server once it has run five times, and PostgreSQL then soon settles on a
        generic plan, made without the values: it cannot tell a word every organization
        matches from a rare one, or a province from a rare language, so it fetches every
        full-text match and joins the filters to them (at 50,000 organizations, 40,000 rows
        for a page of 20). Planned with its values, a search whose matches are plentiful walks
        the sort index and stops when the page is full; a selective one starts from its few
        matches."""
        if self.store.dialect == "postgres":
            return cursor.execute(sql, params, prepare=False)  # type: ignore[call-arg]
        return cursor.execute(sql, params)

    def _filters(self, scope: str, query: DirectoryQuery) -> list[Filter]:
        filters: list[Filter] = []
        words = _WORD.findall(query.text)[:20]
        if words:
            filters.append(self._text_filter(scope, words))
        for facet, values in sorted(query.facets.items()):
            if facet not in FACETS:
                raise InvalidQuery(f"unknown filter {facet}")
            if values:
                marks = ", ".join(["%s"] * len(values))
                chosen = [facet, *values]
                filters.append(
                    Filter(
                        (
                            f"id IN (SELECT id FROM {scope}_facets WHERE facet = %s "
                            f"AND value IN ({marks}))",
                            chosen,
                        ),
                        (
                            f"EXISTS (SELECT 1 FROM {scope}_facets f WHERE f.id = {scope}.id "
                            f"AND f.facet = %s AND f.value IN ({marks}))",
                            chosen,
                        ),
                        members=(
                            f"SELECT 1 FROM {scope}_facets WHERE facet = %s AND value IN ({marks})",
                            chosen,
                        ),
                    )
                )
        if scope == INTERNAL:
            if query.statuses:
                filters.append(
                    Filter.plain(
                        f"status IN ({', '.join(['%s'] * len(query.statuses))})",
                        list(query.statuses),
                    )
                )
            if query.review_due_before is not None:
                filters.append(
                    Filter.plain(
                        "status = %s AND last_confirmed_at <= %s",
                        [Status.INCLUDED.value, query.review_due_before],
                    )
                )
            if query.flagged_unreachable is not None:
                filters.append(
                    Filter.plain("flagged_unreachable = %s", [int(query.flagged_unreachable)])
                )
            if query.possible_duplicate is not None:
                # Applications with an open flag (true), or every other organization (false).
                negated = "" if query.possible_duplicate else "NOT "
                filters.append(
                    Filter.plain(
                        f"{negated}EXISTS (SELECT 1 FROM {DUPLICATES} d WHERE "
                        f"d.application_id = {INTERNAL}.id AND d.resolution IS NULL)",
                        [],
                    )
                )
        return filters

    def _text_filter(self, scope: str, words: list[str]) -> Filter:
        if self.store.dialect == "postgres":
            text = fold(" ".join(words))
            return Filter.plain(
                "search @@ (plainto_tsquery('english', %s) || plainto_tsquery('french', %s))",
                [text, text],
                text=True,
            )
        match = " ".join('"' + w.replace('"', '""') + '"' for w in words)
        fts = f"{scope}_fts"
        return Filter(
            (f"{scope}.rowid IN (SELECT rowid FROM {fts} WHERE {fts} MATCH %s)", [match]),
            (
                f"EXISTS (SELECT 1 FROM {fts} WHERE {fts} MATCH %s "
                f"AND {fts}.rowid = {scope}.rowid)",
                [match],
            ),
            text=True,
            members=(f"SELECT 1 FROM {fts} WHERE {fts} MATCH %s", [match]),
        )


Condition = tuple[str, list[Any]]


def _joined(conditions: Sequence[Condition]) -> tuple[str, list[Any]]:
    clause = " AND ".join(sql for sql, _ in conditions) or "TRUE"
    return clause, [value for _, params in conditions for value in params]


@dataclass(frozen=True)
class Filter:
    """One condition of a search in the shapes a plan can use: ``listed``, the rows it admits
    as a list a plan can start from; ``per_row``, the same checked on one row; ``members``,
    the rows it admits read from its own index alone (to count them), if it has one.
    ``text``: the full-text condition, the dearest to check on one row."""

    listed: Condition
    per_row: Condition
    text: bool = False
    members: Condition | None = None

    @classmethod
    def plain(cls, sql: str, params: list[Any], text: bool = False) -> Filter:
        """A condition on the row's own columns: the same in both shapes."""
        return cls((sql, params), (sql, params), text)


def _cheap_first(filters: Iterable[Filter]) -> list[Filter]:
    """Filters in the order to check them on a row: a row's words are looked up only once
    its other filters have passed."""
    return sorted(filters, key=lambda f: f.text)
