"""No value a caller sends ever reaches a span, a span event or a log line."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.testclient import TestClient

from api.app import create_app
from api.config import Settings
from api.telemetry import store_span
from api.wiring import System, build_system
from tests.e2e.conftest import ALL_CRITERIA, fictional_profile

# Distinctive fictional values: if any shows up in telemetry, it leaked.
SECRETS = [
    "Quokkavale Fictional Refuge",
    "Refuge fictif Quokkavale",
    "quokka-7731@example.org",
    "+1 555 017 7731",
    "77 Quokka Lane",
    "Zephyrine Fictional-Coordinator",
]

APPLY = """mutation Apply($key: String!, $input: ApplicationInput!) {
  applyForInclusion(idempotencyKey: $key, input: $input) { organizationId version }
}"""


@pytest.fixture
def traced(settings: Settings) -> Iterator[tuple[System, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    system = build_system(settings, provider)
    try:
        yield system, exporter
    finally:
        system.close()
        provider.shutdown()


def _variables(key: str) -> dict[str, object]:
    profile = fictional_profile(SECRETS[0], nameFr=SECRETS[1])
    profile["publicContact"] = {"email": SECRETS[2], "phone": SECRETS[3]}
    profile["location"]["address"] = SECRETS[4]
    profile["pointOfContact"] = {"name": SECRETS[5], "email": SECRETS[2]}
    return {
        "key": key,
        "input": {
            "profile": profile,
            "criteria": ALL_CRITERIA,
            "publicListing": True,
            "listingAgreement": "Fictional: the shelter's signed listing form.",
        },
    }


def _telemetry_text(exporter: InMemorySpanExporter) -> str:
    parts = []
    for span in exporter.get_finished_spans():
        parts.append(span.name)
        parts.append(json.dumps(dict(span.attributes or {}), default=str))
        parts.append(str(span.status.description))
        for event in span.events:
            parts.append(event.name)
            parts.append(json.dumps(dict(event.attributes or {}), default=str))
    return "\n".join(parts)


def apply_as_staff(system: System, key: str) -> None:
    staff = system.auth.issue("staff", "fictional-staff-1")
    with TestClient(create_app(system, run_projections=False)) as client:
        response = client.post(
            "/graphql",
            json={"query": APPLY, "operationName": "Apply", "variables": _variables(key)},
            headers={"authorization": f"Bearer {staff}"},
        )
    assert response.status_code == 200 and "errors" not in response.json()


def test_a_mutation_leaves_spans_for_http_graphql_and_the_store_without_any_input_value(
    traced: tuple[System, InMemorySpanExporter], caplog: pytest.LogCaptureFixture
) -> None:
    system, exporter = traced
    caplog.set_level(logging.DEBUG)
    apply_as_staff(system, "telemetry-key-1")

    names = [span.name for span in exporter.get_finished_spans()]
    assert "POST /graphql" in names
    assert "graphql mutation" in names  # by its type: "Apply" is a name the caller chose
    assert "event_store.save" in names
    text = _telemetry_text(exporter) + "\n" + caplog.text
    for secret in SECRETS:
        assert secret not in text


def test_a_mutations_store_work_on_the_command_threads_stays_in_its_requests_trace(
    traced: tuple[System, InMemorySpanExporter],
) -> None:
    system, exporter = traced
    apply_as_staff(system, "telemetry-key-4")

    spans = {span.name: span for span in exporter.get_finished_spans()}
    request, save = spans["POST /graphql"], spans["event_store.save"]
    assert save.context.trace_id == request.context.trace_id
    by_id = {span.context.span_id: span for span in exporter.get_finished_spans()}
    ancestors, parent = [], save.parent
    while parent is not None:
        ancestors.append(by_id[parent.span_id].name)
        parent = by_id[parent.span_id].parent
    assert "graphql mutation" in ancestors and ancestors[-1] == "POST /graphql"


def test_failed_and_invalid_mutations_leave_no_input_value_in_telemetry_or_logs(
    traced: tuple[System, InMemorySpanExporter], caplog: pytest.LogCaptureFixture
) -> None:
    system, exporter = traced
    caplog.set_level(logging.DEBUG)
    bad = _variables("telemetry-key-2")
    bad["input"]["profile"]["regions"] = [{"province": "CA-ZZ"}]  # type: ignore[index]
    wrong_type = _variables("telemetry-key-3")
    wrong_type["input"]["profile"]["focusAreas"] = [SECRETS[0]]  # type: ignore[index]
    with TestClient(create_app(system, run_projections=False)) as client:
        for variables in (bad, wrong_type):
            response = client.post("/graphql", json={"query": APPLY, "variables": variables})
            assert response.json()["errors"]
        client.post("/graphql", json={"query": "{ nope }", "variables": {"x": SECRETS[0]}})
    assert exporter.get_finished_spans()
    text = _telemetry_text(exporter) + "\n" + caplog.text
    for secret in SECRETS:
        assert secret not in text


def test_spans_name_the_operation_by_its_type_and_never_carry_the_query_text(
    traced: tuple[System, InMemorySpanExporter],
) -> None:
    system, exporter = traced
    query = 'query FindShelters { directory(search: "Quokkavale") { totalCount } }'
    with TestClient(create_app(system, run_projections=False)) as client:
        assert client.post("/graphql", json={"query": query}).status_code == 200
    operation = [s for s in exporter.get_finished_spans() if s.name == "graphql query"]
    assert len(operation) == 1
    attributes = operation[0].attributes
    assert attributes is not None
    assert attributes["graphql.operation.type"] == "query"
    assert "graphql.operation.name" not in attributes
    assert "Quokkavale" not in _telemetry_text(exporter)
    assert "FindShelters" not in _telemetry_text(exporter)


A_CALLERS_WORDS = "op Jane Doe +1 555 010 9999"


def test_no_text_a_caller_chose_names_a_span_or_reaches_a_log_line(
    traced: tuple[System, InMemorySpanExporter], caplog: pytest.LogCaptureFixture
) -> None:
    system, exporter = traced
    caplog.set_level(logging.DEBUG)
    staff = system.auth.issue("staff", "fictional-staff-1")
    with TestClient(create_app(system, run_projections=False)) as client:
        # The finding's own request: a broken document, an operation name full of a caller.
        client.post("/graphql", json={"query": "{ broken", "operationName": A_CALLERS_WORDS})
        # A valid document whose own operation names a caller, sent by staff and by the public.
        named = "query JaneDoe5550109999 { directory { totalCount } }"
        for headers in ({"authorization": f"Bearer {staff}"}, {}):
            client.post(
                "/graphql",
                json={"query": named, "operationName": "JaneDoe5550109999"},
                headers={**headers, "x-request-id": "Jane.Doe-555-010-9999"},
            )
        client.post("/graphql", json={"query": "mutation JaneDoe { __typename }"})
        # An HTTP method is any token a client likes.
        client.request("JANEDOE", "/graphql")
    spans = exporter.get_finished_spans()
    assert {s.name for s in spans} >= {
        "graphql query",
        "graphql operation",
        "POST /graphql",
        "_OTHER /graphql",
    }
    server_logs = [r.getMessage() for r in caplog.records if not r.name.startswith("httpx")]
    text = _telemetry_text(exporter) + "\n" + "\n".join(server_logs)  # not the test client's
    for words in ("Jane", "JANE", "9999", "Doe"):
        assert words not in text


def test_an_operation_the_server_knows_keeps_its_name(
    traced: tuple[System, InMemorySpanExporter], monkeypatch: pytest.MonkeyPatch
) -> None:
    system, exporter = traced
    monkeypatch.setattr("api.telemetry.KNOWN_OPERATIONS", frozenset({"PublicDirectoryPage"}))
    with TestClient(create_app(system, run_projections=False)) as client:
        for name in ("PublicDirectoryPage", "SomethingElse"):
            client.post(
                "/graphql", json={"query": f"query {name} {{ directory {{ totalCount }} }}"}
            )
    names = sorted(s.name for s in exporter.get_finished_spans() if s.name.startswith("graphql"))
    assert names == ["graphql PublicDirectoryPage", "graphql query"]


class ExplodingAuth:
    def principal(self, authorization: str | None) -> None:
        raise RuntimeError(f"cannot read the token of {A_CALLERS_WORDS}")


def test_a_failure_is_traced_by_its_type_never_its_message(
    traced: tuple[System, InMemorySpanExporter],
) -> None:
    """OpenTelemetry records an exception's message and traceback by default; a database error
    quotes the value it refused."""
    system, exporter = traced
    with pytest.raises(ValueError), store_span(system.tracer, "event_store.save", "sqlite"):
        raise ValueError(f"Key (name)=({A_CALLERS_WORDS}) already exists")
    system.__dict__["auth"] = ExplodingAuth()  # System.auth is built on first use
    with TestClient(
        create_app(system, run_projections=False), raise_server_exceptions=False
    ) as client:
        assert client.post("/graphql", json={"query": "{ __typename }"}).status_code == 500
    failed = {s.name: s for s in exporter.get_finished_spans()}
    assert failed["event_store.save"].status.description == "ValueError"
    assert failed["POST /graphql"].status.description == "RuntimeError"
    text = _telemetry_text(exporter)
    for words in ("Jane", "9999", "Traceback"):
        assert words not in text
