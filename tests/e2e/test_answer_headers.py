"""Every answer, whatever produced it, is kept out of caches, typed as declared, sent with no
referrer and without naming the server software."""

from __future__ import annotations

import http.client
import logging
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.testclient import TestClient

from api import cli
from api.app import MAX_BODY, create_app
from api.wiring import System

EXPECTED = {
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}
A_CALLERS_WORDS = "Jane Fictional-Doe +1 555 010 9999"


def assert_answer_headers(response: Any, what: str) -> None:
    headers = {k.lower(): v for k, v in response.headers.items()}
    for name, value in EXPECTED.items():
        assert headers.get(name) == value, (what, response.status_code, headers)
    assert "server" not in headers, what


def test_every_kind_of_answer_carries_the_headers(system: System, as_role: Any) -> None:
    staff = system.auth.issue("staff", "fictional-staff-1")
    with TestClient(create_app(system, run_projections=False)) as client:
        answers = {
            "a query": client.post("/graphql", json={"query": "{ directory { totalCount } }"}),
            "a case read": client.post(
                "/graphql",
                json={"query": "{ cases { items { id } } }"},
                headers={"authorization": f"Bearer {staff}"},
            ),
            "an invalid document": client.post("/graphql", json={"query": "{ nope }"}),
            "a bad body": client.post(
                "/graphql", content=b"{", headers={"content-type": "application/json"}
            ),
            "a bad token": client.post(
                "/graphql",
                json={"query": "{ __typename }"},
                headers={"authorization": "Bearer not-a-token"},
            ),
            "a body too large": client.post(
                "/graphql",
                content=b" " * (MAX_BODY + 1),
                headers={"content-type": "application/json"},
            ),
            "a form": client.post("/graphql", data={"query": "{ __typename }"}),
            "a GET": client.get("/graphql"),
            "a PUT": client.put("/graphql", json={"query": "{ __typename }"}),
            "no such path": client.get("/nowhere"),
            "the health check": client.get("/healthz"),
        }
    assert sorted({a.status_code for a in answers.values()}) == [200, 400, 401, 404, 405, 413, 415]
    for what, answer in answers.items():
        assert_answer_headers(answer, what)


def test_the_access_log_refusal_and_graphiql_carry_them_too(system: System) -> None:
    staff = system.auth.issue("staff", "fictional-staff-1")
    with system.access.store.transaction() as cursor:
        cursor.execute("DROP TABLE access_log")
    system.settings = system.settings.with_changes(graphiql=True)
    with TestClient(create_app(system, run_projections=False)) as client:
        refused = client.post(
            "/graphql",
            json={"query": "{ cases { items { id } } }"},
            headers={"authorization": f"Bearer {staff}"},
        )
        page = client.get("/graphql", headers={"accept": "text/html"})
    assert (refused.status_code, page.status_code) == (503, 200)
    assert "text/html" in page.headers["content-type"]
    assert_answer_headers(refused, "the access log refusal")
    assert_answer_headers(page, "GraphiQL")


class ExplodingAuth:
    def principal(self, authorization: str | None) -> Any:
        raise RuntimeError(f"cannot read the token of {A_CALLERS_WORDS}")


def test_a_failure_nothing_caught_is_a_bare_500_with_the_headers_and_no_value_in_the_logs(
    system: System, caplog: pytest.LogCaptureFixture
) -> None:
    system.__dict__["auth"] = ExplodingAuth()  # System.auth is built on first use
    caplog.set_level(logging.DEBUG)
    with TestClient(
        create_app(system, run_projections=False), raise_server_exceptions=False
    ) as client:
        response = client.post("/graphql", json={"query": "{ __typename }"})
    assert response.status_code == 500
    assert response.json() == {
        "errors": [{"message": "Unexpected error.", "extensions": {"code": "INTERNAL"}}]
    }
    assert_answer_headers(response, "an unexpected failure")
    assert "RuntimeError" in caplog.text
    assert "Jane" not in caplog.text


def test_nrd_serve_names_no_server_software_and_dates_its_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real server, as `nrd serve` configures it, on a free port of the loopback."""
    seen: dict[str, Any] = {}

    def serve_briefly(app: Any, **options: Any) -> None:
        server = uvicorn.Server(uvicorn.Config(app, **{**options, "port": 0}))

        def ask() -> None:
            deadline = time.monotonic() + 30
            while not server.started and time.monotonic() < deadline:
                time.sleep(0.05)
            try:
                port = server.servers[0].sockets[0].getsockname()[1]
                for path in ("/healthz", "/nowhere"):
                    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                    connection.request("GET", path)
                    answer = connection.getresponse()
                    seen[path] = {k.lower(): v for k, v in answer.getheaders()}
                    connection.close()
            finally:
                server.should_exit = True

        asker = threading.Thread(target=ask, daemon=True)
        asker.start()
        server.run()
        asker.join(timeout=30)

    monkeypatch.delenv("NRD_DATABASE_URL", raising=False)
    monkeypatch.setattr("uvicorn.run", serve_briefly)
    monkeypatch.setattr("api.wiring.settle_process", lambda: None)
    assert (
        cli.main(["serve", "--host", "127.0.0.1", "--port", "0", "--data-dir", str(tmp_path)]) == 0
    )
    assert set(seen) == {"/healthz", "/nowhere"}
    for headers in seen.values():
        assert "server" not in headers
        assert headers["date"]
        assert {k: headers.get(k) for k in EXPECTED} == EXPECTED
