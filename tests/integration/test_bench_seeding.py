"""The benchmarks' faster seeding path (``bench/common.py: seed_bulk``) writes what the commands
write: on both stores, 50 organizations seeded each way give the same events per organization,
the same idempotency records and, table by table, the same directory read models (once ids and
timestamps, which are fresh on every run, are set aside).
"""
# Table names in these queries are module constants; values are bound.
# ruff: noqa: S608

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.application import AggregateNotFoundError

from api.config import Settings
from api.wiring import System
from domain.idempotency import IdempotencyRecord, fingerprint, record_id
from projections.directory import INTERNAL, PUBLIC
from projections.sql import ViewStore, load_doc
from tests.conftest import _postgres_settings, a_system

BENCH = Path(__file__).resolve().parents[2] / "bench"
COUNT = 50
TAG = "bench-equivalence"
STAFF_IDENTITY = "staff\x1f\x1fbench-staff-0"  # role, organization, user: the seeds' actor
NOTE = "Bench approval (fictional)"
MOMENTS = {"at", "createdAt", "updatedAt", "lastConfirmedAt", "submittedAt"}


@pytest.fixture(scope="module")
def common() -> Any:
    """bench/common.py, which is a script's module rather than part of the package."""
    spec = importlib.util.spec_from_file_location("bench_common", BENCH / "common.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_common", module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def two_stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, System]]:
    """Two empty stores of one kind: one seeded through the commands, one in bulk."""

    def settings(name: str) -> Iterator[Settings]:
        if request.param == "sqlite":
            yield Settings(data_dir=tmp_path / name, jwt_secret="test-secret-" + "x" * 32)
        else:
            yield from _postgres_settings(tmp_path / name)

    made = {name: settings(name) for name in ("commands", "bulk")}
    try:
        with a_system(next(made["commands"])) as commands, a_system(next(made["bulk"])) as bulk:
            yield {"commands": commands, "bulk": bulk}
    finally:
        for generator in made.values():
            next(generator, None)  # drops the schema


def _names(store: ViewStore) -> dict[str, str]:
    """Each organization's id -> its English name (unique per seeded index)."""
    with store.read() as cursor:
        return {
            row[0]: load_doc(row[1])["nameEn"]
            for row in cursor.execute(f"SELECT id, doc FROM {INTERNAL}").fetchall()
        }


def _plain(value: Any, names: dict[str, str], key: str = "") -> Any:
    """``value`` with organization ids replaced by names and moments by a mark."""
    if key in MOMENTS and value is not None:
        return "<moment>"
    if isinstance(value, dict):
        return {k: _plain(v, names, k) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, names) for v in value]
    if isinstance(value, UUID):
        value = str(value)
    if isinstance(value, str):
        if value in names:
            return names[value]
        if value.startswith(("{", "[")):
            return _plain(load_doc(value), names)
        return value
    return value


def directory_tables(system: System) -> dict[str, list[Any]]:
    """Every directory read-model row (and its full-text rows), comparable across runs."""
    store = system.store
    names = _names(store)
    search = ", search::text" if store.dialect == "postgres" else ""
    queries = {
        INTERNAL: f"SELECT id, kind, sort_key, status, last_confirmed_at IS NULL, "
        f"flagged_unreachable, doc{search} FROM {INTERNAL}",
        PUBLIC: f"SELECT id, kind, sort_key, doc{search} FROM {PUBLIC}",
        "directory_state": "SELECT id, version, topic FROM directory_state",
    }
    for scope in (INTERNAL, PUBLIC):
        queries[f"{scope}_facets"] = f"SELECT id, facet, value FROM {scope}_facets"
        if store.dialect == "sqlite":
            queries[f"{scope}_fts"] = f"SELECT id, body FROM {scope}_fts"
    with store.read() as cursor:
        return {
            table: sorted(
                (_plain(list(row), names) for row in cursor.execute(sql).fetchall()), key=repr
            )
            for table, sql in queries.items()
        }


def events_by_organization(system: System) -> dict[str, list[Any]]:
    """Each organization's events: type, version and attributes (ids and moments set aside)."""
    names = _names(system.store)
    found = {}
    for org_id, name in names.items():
        events = system.app.events.get(UUID(org_id))
        found[name] = [
            (
                type(e).__qualname__,
                e.originator_version,
                _plain(
                    {k: v for k, v in vars(e).items() if k not in ("originator_id", "timestamp")},
                    names,
                ),
            )
            for e in events
        ]
    return found


def idempotency_records(system: System) -> list[Any]:
    """The record of every command the seed ran, found where the command keeps it. Its
    fingerprint covers the organization's id, fresh on each run: where it does, the fingerprint
    is checked against the one the command computes from that id."""
    names = _names(system.store)
    records: list[Any] = []
    for index in range(COUNT):
        for step, operation, inputs in (
            ("apply", "applyForInclusion", None),
            ("review", "startReview", {}),
            ("approve", "approveInclusion", {"note": NOTE}),
        ):
            try:
                key = f"{TAG}-{index}-{step}"
                record: IdempotencyRecord = system.app.repository.get(
                    record_id(STAFF_IDENTITY, key)
                )
            except AggregateNotFoundError:  # the seed stops at review for index % 10 == 9
                records.append((index, step, None))
                continue
            digest = record.fingerprint
            if inputs is not None:
                expected = fingerprint(operation, {"id": UUID(record.result["id"]), **inputs})
                digest = "as the command computes it" if digest == expected.digest else digest
            records.append((index, step, record.operation, digest, _plain(record.result, names)))
    return records


def test_the_bulk_seed_writes_what_the_commands_write_on_both_stores(
    common: Any,
    two_stores: dict[str, System],
) -> None:
    common.seed(two_stores["commands"], COUNT, threads=1, tag=TAG)
    common.seed_bulk(two_stores["bulk"], COUNT, tag=TAG, batch=7)  # several transactions
    for system in two_stores.values():
        system.projector.catch_up()

    tables = {path: directory_tables(system) for path, system in two_stores.items()}
    assert len(tables["commands"][INTERNAL]) == COUNT
    assert len(tables["commands"][PUBLIC]) == COUNT * 8 // 10
    assert tables["bulk"] == tables["commands"]
    events = {path: events_by_organization(system) for path, system in two_stores.items()}
    assert events["bulk"] == events["commands"]
    assert {len(e) for e in events["commands"].values()} == {2, 3}
    records = {path: idempotency_records(system) for path, system in two_stores.items()}
    assert records["bulk"] == records["commands"]
    assert sum(r[2] is None for r in records["commands"]) == COUNT // 10
