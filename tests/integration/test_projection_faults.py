"""The projection worker under faults, as a real process: killed with SIGKILL at each point of
a batch, its connection cut there, PostgreSQL restarted under it (a private cluster), started
while the database is down. Each time it carries on by itself, and once ``nrd projections
status`` says the read models are current, they equal a rebuild from the log, table by table
(``nrd projections check``, and a rebuild in this process). The longer versions, with many
kills and restarts under load, are ``bench/fault_worker.py``.
"""
# Table names in these queries are this module's constants; values are bound.
# ruff: noqa: S608

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from api.config import Settings
from api.wiring import System, build_system, migrate_database
from domain.case import ConsentScope
from tests.e2e.conftest import seed
from tests.fault_harness import PrivateCluster, Worker, nrd, nrd_environment, wait_until
from tests.integration.test_case_application import a_case, consent, refer

# The read models' own tables (their folded states aside: those are stored at versions that
# depend on how batches fell), and what they hold back.
READ_MODEL_TABLES = (
    "directory_internal",
    "directory_public",
    "directory_internal_facets",
    "directory_public_facets",
    "reporting_protocols",
    "cases",
    "case_needs",
    "referral_inbox",
    "report_inbox",
    "disclosure_ledger",
    "projection_quarantine",
    "event_chain",
)


def read_model_rows(system: System) -> dict[str, set[tuple[Any, ...]]]:
    """Every row of every read model, as sets, and every position."""
    with system.store.read() as cursor:
        rows = {
            table: {
                tuple(map(str, row)) for row in cursor.execute(f"SELECT * FROM {table}").fetchall()
            }
            for table in READ_MODEL_TABLES
        }
        rows["positions"] = {
            tuple(map(str, row))
            for row in cursor.execute("SELECT name, position FROM projection_tracking").fetchall()
        }
    return rows


def equal_to_a_rebuild(system: System, env: dict[str, str]) -> None:
    """The operator's check, then a rebuild here, compared table by table."""
    check = nrd(env, "projections", "check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "same:" in check.stdout
    followed = read_model_rows(system)
    system.projector.rebuild()
    rebuilt = read_model_rows(system)
    assert {t: len(r) for t, r in rebuilt.items()} == {t: len(r) for t, r in followed.items()}
    assert rebuilt == followed


class Load:
    """Case work written through the commands while the worker is down or busy: new cases
    (their state is stored at once), consents and referrals to partners (inbox and ledger
    rows)."""

    def __init__(self, system: System) -> None:
        self.system = system
        self.shelters = [seed(system, f"Example Fault Shelter {n}") for n in range(2)]
        self.cases: list[UUID] = []

    def chunk(self, cases: int = 3) -> None:
        for n in range(cases):
            case_id = a_case(self.system)
            self.cases.append(case_id)
            shelter = self.shelters[n % 2]
            consent(self.system, case_id, ConsentScope.SHARE_WITH_ORGANIZATION, shelter)
            refer(self.system, case_id, shelter)
        for case_id in self.cases[:-cases][-2:]:  # older cases get more work too
            consent(self.system, case_id, ConsentScope.FOLLOW_UP_CONTACT)


def current(env: dict[str, str], wait: float = 60.0) -> None:
    status = nrd(env, "projections", "status", "--wait", str(wait), "--max-lag", "0")
    assert status.returncode == 0, status.stdout + status.stderr


def killed_at(env: dict[str, str], log: Path, fault: str) -> None:
    code = Worker(env, log, fault).start().wait(60)
    assert code == -signal.SIGKILL, (fault, code, log.read_text()[-2000:])


# Where a kill lands: the 5th tracking lock of a pass is the case projection's (after the
# chain, the topic check, the directory and the protocols); the 1st a case's stored state.
# bench/fault_worker.py strikes the other read models too, many times.
KILLS = ("locked:5", "processed:5", "state-stored:1", "tracked:5", "committed:5")


@pytest.mark.timeout(600)
def test_a_worker_killed_at_any_point_of_a_batch_resumes_and_equals_a_rebuild(
    settings: Settings, system: System, tmp_path: Path
) -> None:
    load, env, log = Load(system), nrd_environment(settings), tmp_path / "worker.log"
    for fault in KILLS:
        load.chunk()
        killed_at(env, log, f"{fault}:kill")

    load.chunk()
    with Worker(env, log):
        current(env)
    equal_to_a_rebuild(system, env)
    assert len(load.cases) == 3 * (len(KILLS) + 1)


@pytest.mark.timeout(600)
def test_a_worker_whose_connection_is_cut_at_any_point_carries_on_by_itself(
    pg_settings: Settings, pg_system: System, tmp_path: Path
) -> None:
    load, env, log = Load(pg_system), nrd_environment(pg_settings), tmp_path / "worker.log"
    for fault in ("processed:5", "state-stored:1", "tracked:5", "listening:1"):
        load.chunk()
        with Worker(env, log, f"{fault}:cut") as worker:
            current(env)
            assert worker.alive(), log.read_text()[-2000:]
    assert "AdminShutdown" in log.read_text()  # it was cut, and carried on
    equal_to_a_rebuild(pg_system, env)


@pytest.mark.timeout(600)
@pytest.mark.postgres
def test_a_worker_rides_out_postgresql_restarting_in_a_batch_while_listening_and_at_start(
    tmp_path: Path,
) -> None:
    with PrivateCluster() as cluster:
        settings = Settings(
            data_dir=tmp_path,
            database_url=cluster.url,
            jwt_secret="test-secret-" + "x" * 32,
            max_connections=4,
            master_key="AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",
        )
        migrate_database(settings)
        env, log = nrd_environment(settings), tmp_path / "worker.log"

        def write(cases: int = 3) -> None:  # a process of its own each time
            writer = build_system(settings)
            try:
                Load(writer).chunk(cases)
            finally:
                writer.close()

        # In a batch: the worker stops inside the case projection's transaction, the server
        # restarts under it, then it goes on.
        write()
        with Worker(env, log, "processed:5:pause", pause_dir=tmp_path) as worker:
            marker = tmp_path / "paused-at-processed"
            assert wait_until(marker.exists, 60), log.read_text()[-2000:]
            cluster.restart()
            marker.unlink()
            current(env)
            # While listening: the server restarts under the idle worker; what is written
            # after reaches it all the same.
            cluster.restart()
            write()
            current(env)
            assert worker.alive()
        # At start: the worker starts while the server is down, and waits for it.
        cluster.stop()
        with Worker(env, log) as worker:
            assert wait_until(lambda: "cannot be reached yet" in log.read_text(), 60)
            cluster.start()
            write()
            current(env)
            assert worker.alive()
        checked = build_system(settings)
        try:
            equal_to_a_rebuild(checked, env)
        finally:
            checked.close()
