"""Reporting protocols: the living contact list of each agency and jurisdiction, with history."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol

from domain.reporting_protocol import ReportingProtocol
from projections.aggregates import AggregateProjection, iso
from projections.queues import PROTOCOL_WORK, create_item_table, write_items
from projections.sql import Cursor, ViewStore

# One protocol's agency and id as one indexed value (ids are UUIDs: no space in them).
OWNED = "agency_id || ' ' || id"


def protocol_doc(protocol: ReportingProtocol) -> dict[str, Any]:
    return {
        "id": str(protocol.id),
        "agencyId": str(protocol.agency_id),
        "province": protocol.jurisdiction["province"],
        "municipality": protocol.jurisdiction.get("municipality"),
        "contacts": protocol.contacts,
        "updatedAt": iso(protocol.modified_on),
        "revisions": [{**r, "at": iso(r["at"])} for r in protocol.revisions],
    }


class ProtocolProjection(AggregateProjection):
    name = "protocols"
    aggregate_class = ReportingProtocol

    def create_tables(self, cursor: Cursor) -> None:
        self.create_state_table(cursor)
        create_item_table(cursor, PROTOCOL_WORK)  # the work queues' (projections/queues.py)
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS reporting_protocols (id TEXT PRIMARY KEY, "
            "agency_id TEXT NOT NULL, province TEXT NOT NULL, doc TEXT NOT NULL)"
        )
        cursor.execute(
            "CREATE INDEX IF NOT EXISTS reporting_protocols_agency "
            "ON reporting_protocols (agency_id)"
        )
        # A lookup of one agency's protocol probes this index alone (``ProtocolQueries.get``).
        cursor.execute(
            "CREATE INDEX IF NOT EXISTS reporting_protocols_owned "
            f"ON reporting_protocols (({OWNED}))"
        )

    def drop_tables(self, cursor: Cursor) -> None:
        cursor.execute("DROP TABLE IF EXISTS reporting_protocols")
        cursor.execute(f"DROP TABLE IF EXISTS {PROTOCOL_WORK}")
        cursor.execute(f"DROP TABLE IF EXISTS {self.state_table}")

    def write(
        self,
        cursor: Cursor,
        protocols: list[ReportingProtocol],
        applied: Mapping[UUID, Sequence[DomainEventProtocol[Any]]],
    ) -> None:
        docs = [protocol_doc(protocol) for protocol in protocols]
        cursor.executemany(
            "INSERT INTO reporting_protocols (id, agency_id, province, doc) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET doc = excluded.doc",
            [(d["id"], d["agencyId"], d["province"], json.dumps(d)) for d in docs],
        )
        write_items(cursor, PROTOCOL_WORK, protocols)


class ProtocolQueries:
    def __init__(self, store: ViewStore) -> None:
        self.store = store

    def get(self, protocol_id: str, agency_id: str | None = None) -> dict[str, Any] | None:
        """The protocol, or None; with ``agency_id``, None unless it is that agency's.

        The agency and the id are looked up together, in one index (``OWNED``): another
        agency's protocol is not touched, just as a missing one is not there. Looked up by id
        and then compared, its row would be read, which a missing one's cannot be: a few
        microseconds a timing oracle finds (bench/timing_oracle.py)."""
        sql, params = "SELECT doc FROM reporting_protocols WHERE id = %s", [protocol_id]
        if agency_id is not None:
            sql = f"SELECT doc FROM reporting_protocols WHERE {OWNED} = %s"
            params = [f"{agency_id} {protocol_id}"]
        with self.store.read() as cursor:
            row = cursor.execute(sql, params).fetchone()
        return None if row is None else json.loads(row[0])

    def list(
        self, agency_id: str | None = None, province: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        where, params = [], []
        if agency_id is not None:
            where.append("agency_id = %s")
            params.append(agency_id)
        if province is not None:
            where.append("province = %s")
            params.append(province)
        clause = " AND ".join(where) or "TRUE"
        with self.store.read() as cursor:
            rows = cursor.execute(
                f"SELECT doc FROM reporting_protocols WHERE {clause} ORDER BY province, id "
                "LIMIT %s",
                [*params, limit],
            ).fetchall()
        return [json.loads(r[0]) for r in rows]
