"""Start-up on an empty store by several processes at once, and a server whose read models
are kept by a separate projection worker."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from api import cli, wiring
from api.app import create_app
from api.config import Settings
from api.wiring import COLLECT_AFTER_ALLOCATIONS, System, build_system, settle_collector
from tests.e2e.conftest import ALL_CRITERIA, fictional_profile

APPLY = """mutation($key: String!, $input: ApplicationInput!) {
  applyForInclusion(idempotencyKey: $key, input: $input) { organizationId organization { status } }
}"""


def test_several_processes_starting_on_an_empty_store_all_come_up(settings: Settings) -> None:
    barrier = threading.Barrier(4)

    def start(_: int) -> System:
        barrier.wait()
        return build_system(settings)

    with ThreadPoolExecutor(4) as pool:
        systems = list(pool.map(start, range(4)))
    try:
        empty = {
            "chain": 0,
            "topics": 0,
            "directory": 0,
            "protocols": 0,
            "cases": 0,
            "contacts": 0,
            "work_items": 0,
            "memberships": 0,
            "service_accounts": 0,
        }
        assert all(s.projector.positions() == empty for s in systems)
    finally:
        for started in systems:
            started.close()


def test_with_a_separate_worker_a_mutation_still_answers_with_its_own_effect(
    settings: Settings,
) -> None:
    worker_settings = settings.with_changes(inline_projections=True)
    server_settings = settings.with_changes(inline_projections=False)
    worker, server = build_system(worker_settings), build_system(server_settings)
    stop = threading.Event()
    follower = threading.Thread(target=worker.projector.run_forever, args=(stop, 0.02))
    follower.start()
    try:
        staff = server.auth.issue("staff", "fictional-staff-1")
        with TestClient(create_app(server, run_projections=False)) as client:
            variables: dict[str, Any] = {
                "key": "worker-apply-01",
                "input": {
                    "profile": fictional_profile("Example Worker Shelter"),
                    "criteria": ALL_CRITERIA,
                    "publicListing": True,
                    "listingAgreement": "Fictional: the shelter's signed listing form.",
                },
            }
            response = client.post(
                "/graphql",
                json={"query": APPLY, "variables": variables},
                headers={"authorization": f"Bearer {staff}"},
            ).json()
        result = response["data"]["applyForInclusion"]
        assert result["organization"] == {"status": "SUBMITTED"}
        # The read model the answer was read from had applied the command; the others (the
        # chain, the cases) follow in the worker's same pass, but need not have yet.
        assert server.projector.positions()["directory"] >= server.projector.head()
    finally:
        stop.set()
        follower.join(timeout=10)
        worker.close()
        server.close()


def test_settling_the_collector_freezes_the_startup_heap_and_collects_young_objects_less_often() -> (
    None
):
    before = gc.get_threshold()
    try:
        settle_collector()
        assert gc.get_threshold() == (COLLECT_AFTER_ALLOCATIONS, *before[1:])
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


# Run in a process of its own: the policy is not undone within a process.
BATCH_SCHEDULING = """
import os, threading
from api.wiring import schedule_as_batch
done = threading.Event()
started = threading.Thread(target=done.wait); started.start()
assert schedule_as_batch()
later = threading.Thread(target=lambda: print(os.sched_getscheduler(0))); later.start()
later.join(); done.set(); started.join()
print(sorted({os.sched_getscheduler(int(t)) for t in os.listdir("/proc/self/task")}))
"""


@pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="Linux scheduling policy")
def test_a_settled_process_schedules_its_threads_and_those_it_starts_later_as_batch_work() -> None:
    ran = subprocess.run(  # noqa: S603 - fixed script
        [sys.executable, "-c", BATCH_SCHEDULING],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    started_later, every_thread = ran.stdout.split("\n")[:2]
    assert int(started_later) == os.SCHED_BATCH
    assert every_thread == f"[{os.SCHED_BATCH}]"


@pytest.mark.parametrize("command", [["serve", "--port", "0"], ["projections", "run"]])
def test_the_long_running_commands_settle_the_process_once_the_system_is_built(
    command: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    steps: list[str] = []
    monkeypatch.setattr(wiring, "settle_process", lambda: steps.append("settled"))
    monkeypatch.setattr("uvicorn.run", lambda *_, **__: steps.append("served"))
    monkeypatch.setattr(System, "follow_log", lambda *_, **__: steps.append("followed"))

    assert cli.main([*command, "--data-dir", str(tmp_path)]) == 0
    assert steps == ["settled", "served" if command[0] == "serve" else "followed"]
