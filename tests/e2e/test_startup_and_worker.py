"""Start-up on an empty store by several processes at once, and a server whose read models
are kept by a separate projection worker."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from starlette.testclient import TestClient

from api.app import create_app
from api.config import Settings
from api.wiring import System, build_system
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
        empty = {"chain": 0, "directory": 0, "protocols": 0, "cases": 0}
        assert all(s.projector.positions() == empty for s in systems)
    finally:
        for started in systems:
            started.close()


def test_with_a_separate_worker_a_mutation_still_answers_with_its_own_effect(
        settings: Settings) -> None:
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
                "input": {"profile": fictional_profile("Example Worker Shelter"),
                          "criteria": ALL_CRITERIA, "publicListing": True}}
            response = client.post("/graphql", json={"query": APPLY, "variables": variables},
                                   headers={"authorization": f"Bearer {staff}"}).json()
        result = response["data"]["applyForInclusion"]
        assert result["organization"] == {"status": "SUBMITTED"}
        head = server.projector.head()
        assert all(p >= head for p in server.projector.positions().values())
    finally:
        stop.set()
        follower.join(timeout=10)
        worker.close()
        server.close()
