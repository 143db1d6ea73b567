"""What the fault scripts (``fault_*.py``) share: the stores they strike (a private PostgreSQL
cluster, or SQLite files, in a temporary folder removed at the end), writers that keep case
work coming through the real commands, and the PASS/FAIL report."""

from __future__ import annotations

import random
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

import common

sys.path.insert(0, str(common.REPO))

from tests.fault_harness import PrivateCluster

MASTER_KEY = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="  # fictional, bench only


@contextmanager
def stores(kind: str) -> Iterator[tuple[Any, PrivateCluster | None, Path]]:
    """(settings, cluster or None, folder) for a migrated store of this ``kind``."""
    from api.config import Settings
    from api.wiring import migrate_database

    with tempfile.TemporaryDirectory(prefix="nrd-fault-") as folder:
        if kind == "sqlite":
            settings = Settings(data_dir=Path(folder), jwt_secret="bench-secret-" + "x" * 40,
                                master_key=MASTER_KEY, pool_size=4)
            migrate_database(settings)
            yield settings, None, Path(folder)
            return
        with PrivateCluster() as cluster:
            settings = Settings(data_dir=Path(folder), database_url=cluster.url,
                                database_schema="public", master_key=MASTER_KEY,
                                jwt_secret="bench-secret-" + "x" * 40, pool_size=4)
            migrate_database(settings)
            yield settings, cluster, Path(folder)


class Writers:
    """Threads writing case work through the commands, each retrying a failed command (the
    database restarting under it) with the same idempotency key, as a client would."""

    def __init__(self, settings: Any, threads: int) -> None:
        from api.wiring import build_system
        from tests.e2e.conftest import seed

        self.system = build_system(settings)
        self.shelters = [seed(self.system, f"Example Bench Shelter {n}") for n in range(3)]
        self.acknowledged: list[UUID] = []
        self.retries = 0
        self.lost: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._write, args=(n,), daemon=True)
                         for n in range(threads)]

    def _command(self, run: Any) -> Any:
        deadline = time.monotonic() + 60
        while True:
            try:
                return run()
            except Exception as error:
                from domain.base import DomainError
                if (isinstance(error, DomainError) and not error.retryable) \
                        or time.monotonic() > deadline:
                    self.lost.append(type(error).__name__)
                    return None
                self.retries += 1
                time.sleep(0.2)

    def _write(self, n: int) -> None:
        from domain.base import Actor, acting_as
        from domain.case import (
            CallerRelationship,
            Channel,
            ConsentGiver,
            ConsentMethod,
            ConsentScope,
            DisclosableField,
            Need,
            ReferralMode,
        )

        app, rng = self.system.app, random.Random(n)
        with acting_as(Actor(f"fictional-bench-writer-{n}", "staff", request_id=f"bench-{n}")):
            while not self._stop.is_set():
                tag = f"bench-{n}-{rng.getrandbits(64):016x}"
                opened = self._command(lambda tag=tag: app.open_case(
                    f"{tag}-open", Channel.CALL, "en", CallerRelationship.VICTIM_OR_SURVIVOR,
                    {"name": "Fictional Bench Caller"}, {"province": "CA-ON",
                                                        "needs": ["SHELTER"]}))
                if opened is None:
                    continue
                self.acknowledged.append(opened.id)
                shelter = rng.choice(self.shelters)
                self._command(lambda tag=tag, case=opened.id, to=shelter: app.grant_consent(
                    f"{tag}-consent", case, ConsentScope.SHARE_WITH_ORGANIZATION, to,
                    ConsentGiver.CALLER, ConsentMethod.VERBAL, None))
                self._command(lambda tag=tag, case=opened.id, to=shelter: app.refer(
                    f"{tag}-refer", case, to, ReferralMode.WARM_TRANSFER, [Need.SHELTER],
                    [DisclosableField.NEEDS], "Fictional bench brief."))

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=90)
        self.system.close()




class Report:
    """PASS/FAIL lines, and the same in the JSON line."""

    def __init__(self) -> None:
        self.checks: list[tuple[str, bool, str]] = []

    def add(self, name: str, passed: bool, detail: str = "") -> None:
        self.checks.append((name, passed, detail))
        common.say(f"{'PASS' if passed else 'FAIL'}: {name}")

    def finish(self, benchmark: str, results: dict[str, Any]) -> int:
        for name, passed, detail in self.checks:
            print(f"{'PASS' if passed else 'FAIL'}: {name}" + (f" ({detail})" if detail else ""))
        results["checks"] = [{"check": n, "pass": p, "detail": d} for n, p, d in self.checks]
        common.emit(benchmark, results)
        return 0 if self.checks and all(p for _, p, _ in self.checks) else 1
