"""The contacts read model: every contact with the hotline, a case's contacts, and de-identified
counts of contacts by month, channel and province or territory.

A contact holds no caller personal data and no free text. Its province for the statistics is its
case's when it has one (the case's read model, kept current), else the one recorded on it.

An erasure of a case's personal data makes this read model forget the case's contacts as the
caller's: whether someone contacted the hotline, and when, is theirs (``api/access.py``). Each
contact of the erased case stays, counted, but no longer names the case, starts on the first of
its month (what the statistics count by), and keeps no duration or language. The contact's
events cannot change and still hold those facts (they hold no personal data in clear); what
the API serves is what forgets. The erased cases are kept (``contacts_erased_cases``), so a
contact attached after the erasure, or a rebuild, forgets the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypedDict, cast
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.utils import get_topic

from domain.case import Case
from domain.contact import Contact, Disposition
from domain.rules import suppress_small_counts
from projections.aggregates import AggregateProjection, iso
from projections.sql import Cursor, ViewStore, dump_doc, load_doc

COLUMNS = ("id", "case_id", "started_at", "channel", "province", "disposition", "doc")

# The case column of a contact whose case was erased: it was attached (it is not waiting to
# be), and names no case.
ERASED_CASE = "erased"
ERASURE_TOPIC = get_topic(Case.PersonalDataErased)


class ContactDoc(TypedDict):
    """A contact as its read model keeps it (``contacts.doc``), instants as text."""

    id: str
    version: int
    channel: str
    direction: str
    startedAt: str
    durationSeconds: int
    language: str | None
    disposition: str
    province: str | None
    caseId: str | None
    attachedAt: str | None
    recordedAt: str
    recordedBy: str


def forgotten(doc: ContactDoc) -> ContactDoc:
    """A contact of an erased case, as the read model keeps it: counted by month, channel
    and its own province, with nothing that ties it to the caller."""
    started = doc["startedAt"]
    return {
        **doc,
        "startedAt": started[:7] + "-01T00:00:00.000000Z" if started else started,
        "durationSeconds": 0,
        "language": None,
        "caseId": None,
        "attachedAt": None,
    }


def _row(doc: ContactDoc, erased: bool) -> tuple[str | None, ...]:
    return (
        doc["id"],
        ERASED_CASE if erased else doc["caseId"],
        doc["startedAt"],
        doc["channel"],
        doc["province"],
        doc["disposition"],
        dump_doc(doc),
    )


def contact_doc(contact: Contact, recorded_by: str) -> ContactDoc:
    return {
        "id": str(contact.id),
        "version": contact.version,
        "channel": contact.channel,
        "direction": contact.direction,
        "startedAt": iso(contact.started_at) or "",
        "durationSeconds": contact.duration_seconds,
        "language": contact.language,
        "disposition": contact.disposition,
        "province": contact.province,
        "caseId": contact.case_id,
        "attachedAt": iso(contact.attached_at),
        "recordedAt": iso(contact.created_on) or "",
        "recordedBy": recorded_by,
    }


class ContactProjection(AggregateProjection):
    name = "contacts"
    aggregate_class = Contact
    # Applied after a command answers, as cases are: reads settle the caller's own writes.
    write_behind = True
    # An erasure answers only once this read model has forgotten the case's contacts.
    applied_before_answer = (ERASURE_TOPIC,)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.topics = [*self.topics, ERASURE_TOPIC]

    def create_tables(self, cursor: Cursor) -> None:
        self.create_state_table(cursor)
        cursor.execute("CREATE TABLE IF NOT EXISTS contacts_erased_cases (id TEXT PRIMARY KEY)")
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS contacts (id TEXT PRIMARY KEY, case_id TEXT, "
            "started_at TEXT NOT NULL, channel TEXT NOT NULL, province TEXT, "
            "disposition TEXT NOT NULL, doc TEXT NOT NULL)"
        )
        cursor.execute("CREATE INDEX IF NOT EXISTS contacts_started ON contacts (started_at, id)")
        cursor.execute("CREATE INDEX IF NOT EXISTS contacts_case ON contacts (case_id, started_at)")

    def drop_tables(self, cursor: Cursor) -> None:
        for table in ("contacts", "contacts_erased_cases", self.state_table):
            cursor.execute(f"DROP TABLE IF EXISTS {table}")

    def process(self, cursor: Cursor, events: Sequence[DomainEventProtocol[Any]]) -> None:
        """The contacts' own events fold as any aggregate's; then the batch's erasures make
        the erased cases' contacts forgotten (in either order the result is the same)."""
        erasures = [e for e in events if isinstance(e, Case.PersonalDataErased)]
        super().process(cursor, [e for e in events if not isinstance(e, Case.PersonalDataErased)])
        for erasure in erasures:
            self._forget_case(cursor, str(erasure.originator_id))

    def _forget_case(self, cursor: Cursor, case_id: str) -> None:
        cursor.execute(
            "INSERT INTO contacts_erased_cases (id) VALUES (%s) ON CONFLICT (id) DO NOTHING",
            (case_id,),
        )
        rows = cursor.execute("SELECT doc FROM contacts WHERE case_id = %s", (case_id,)).fetchall()
        self._upsert(
            cursor, [_row(forgotten(cast(ContactDoc, load_doc(r[0]))), True) for r in rows]
        )

    def write(
        self,
        cursor: Cursor,
        contacts: list[Contact],
        applied: Mapping[UUID, Sequence[DomainEventProtocol[Any]]],
    ) -> None:
        ids = [str(c.id) for c in contacts]
        marks = ", ".join(["%s"] * len(ids))
        # Who recorded a contact is in its first event; later batches keep the row's.
        known = dict(
            cursor.execute(f"SELECT id, doc FROM contacts WHERE id IN ({marks})", ids).fetchall()
        )
        cases = sorted({c.case_id for c in contacts if c.case_id is not None})
        erased = (
            {
                row[0]
                for row in cursor.execute(
                    "SELECT id FROM contacts_erased_cases WHERE id IN ("
                    + ", ".join(["%s"] * len(cases))
                    + ")",
                    cases,
                ).fetchall()
            }
            if cases
            else set()
        )
        rows = []
        for contact in contacts:
            first = applied[contact.id][0]
            if isinstance(first, Contact.Recorded):
                by = first.actor_id
            else:
                by = cast(ContactDoc, load_doc(known[str(contact.id)]))["recordedBy"]
            doc = contact_doc(contact, by)
            if contact.case_id in erased:
                rows.append(_row(forgotten(doc), True))
            else:
                rows.append(_row(doc, False))
        self._upsert(cursor, rows)

    def _upsert(self, cursor: Cursor, rows: list[tuple[str | None, ...]]) -> None:
        if not rows:
            return
        cursor.executemany(
            f"INSERT INTO contacts ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * 7)}) "
            "ON CONFLICT (id) DO UPDATE SET "
            + ", ".join(f"{c} = excluded.{c}" for c in COLUMNS[1:]),
            rows,
        )


@dataclass(frozen=True)
class ContactFilter:
    case_id: str | None = None
    unattached: bool | None = None


# What public statistics count contacts by: the column of each dimension.
DIMENSIONS = {
    "month": "substr(k.started_at, 1, 7)",
    "channel": "k.channel",
    "province": "COALESCE(c.province, k.province)",
}


class ContactQueries:
    """The contacts read model's queries; like the cases', each first lets ``settle`` apply
    what the reading caller's own commands wrote in this process."""

    def __init__(
        self,
        store: ViewStore,
        settle: Callable[[str | None], None] = lambda _caller: None,
        caller: str | None = None,
    ) -> None:
        self.store = store
        self._settle = settle
        self._caller = caller

    def for_caller(self, caller: str) -> ContactQueries:
        return ContactQueries(self.store, self._settle, caller)

    @contextmanager
    def _read(self) -> Iterator[Cursor]:
        self._settle(self._caller)
        with self.store.read() as cursor:
            yield cursor

    def get(self, contact_id: str) -> ContactDoc | None:
        with self._read() as cursor:
            row = cursor.execute("SELECT doc FROM contacts WHERE id = %s", (contact_id,)).fetchone()
        return None if row is None else cast(ContactDoc, load_doc(row[0]))

    def of_case(self, case_id: str) -> list[ContactDoc]:
        """A case's contacts, oldest first."""
        with self._read() as cursor:
            rows = cursor.execute(
                "SELECT doc FROM contacts WHERE case_id = %s ORDER BY started_at, id", (case_id,)
            ).fetchall()
        return [cast(ContactDoc, load_doc(r[0])) for r in rows]

    def search(
        self, where: ContactFilter, first: int, after: tuple[str, str] | None
    ) -> list[ContactDoc]:
        """Contacts, newest first."""
        clauses: list[str] = []
        params: list[Any] = []
        if where.case_id is not None:
            clauses.append("case_id = %s")
            params.append(where.case_id)
        if where.unattached is not None:
            clauses.append("case_id IS NULL" if where.unattached else "case_id IS NOT NULL")
        if after is not None:
            clauses.append("(started_at < %s OR (started_at = %s AND id < %s))")
            params += [after[0], after[0], after[1]]
        sql = (
            "SELECT doc FROM contacts WHERE "
            + (" AND ".join(clauses) or "TRUE")
            + " ORDER BY started_at DESC, id DESC LIMIT %s"
        )
        with self._read() as cursor:
            rows = cursor.execute(sql, [*params, first]).fetchall()
        return [cast(ContactDoc, load_doc(r[0])) for r in rows]

    def statistics(
        self, dimension: str, now: datetime, threshold: int
    ) -> list[tuple[str, int | None]]:
        """Counts of contacts started in completed months, by one dimension, tests and pranks
        left out; small counts suppressed and the others rounded (``domain.rules``)."""
        month_start = now.astimezone(UTC).strftime("%Y-%m-01T00:00:00.000000Z")
        column = DIMENSIONS[dimension]
        with self._read() as cursor:
            rows = cursor.execute(
                f"SELECT {column} AS value, COUNT(*) FROM contacts k "
                "LEFT JOIN cases c ON c.id = k.case_id "
                f"WHERE k.started_at < %s AND k.disposition <> %s AND {column} IS NOT NULL "
                f"GROUP BY {column} ORDER BY {column}",
                (month_start, Disposition.TEST_OR_PRANK.value),
            ).fetchall()
        return suppress_small_counts([(str(v), int(n)) for v, n in rows], threshold)
