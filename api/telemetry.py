"""Traces for HTTP requests, GraphQL operations and store calls, never carrying a value.

Spans hold names, codes and counts only: the route, the status code, the operation's type, the
store operation. Nothing a caller chose reaches them: not the query text, the variables or
error messages, nor an operation's name (a caller names its operations as it likes: only a name
the server itself knows is kept), nor an HTTP method outside the standard ones. Tracing is off
unless the standard OTEL_* variables configure an exporter.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.extensions import SchemaExtension

TRACER_NAME = "nrd"
# Names of operations the server runs itself, which a span may carry: none yet (the console's
# trusted documents will bring theirs). Every other operation is named by its type alone.
KNOWN_OPERATIONS: frozenset[str] = frozenset()
_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"}
)
_OPERATION_TYPES = frozenset({"query", "mutation", "subscription"})


def configured_provider(env: Mapping[str, str] | None = None) -> TracerProvider | None:
    """A provider exporting by OTLP when OTEL_* says so; None leaves tracing off."""
    env = os.environ if env is None else env
    exporter = env.get("OTEL_TRACES_EXPORTER", "")
    if exporter == "none" or not (
        exporter
        or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    ):
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    provider = TracerProvider(
        resource=Resource.create({"service.name": env.get("OTEL_SERVICE_NAME", "nrd")})
    )
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


def tracer_from(provider: TracerProvider | None) -> Tracer:
    if provider is None:
        return trace.NoOpTracer()
    return provider.get_tracer(TRACER_NAME)


def tracing(tracer: Tracer) -> bool:
    """Whether spans go anywhere (a provider was configured)."""
    return not isinstance(tracer, trace.NoOpTracer)


@contextmanager
def _span(tracer: Tracer, name: str, **options: Any) -> Iterator[Span]:
    """A current span that records a failure by its type alone. OpenTelemetry's default
    records the exception's message and traceback, which can quote a value (a database error
    quotes the key it refused)."""
    with tracer.start_as_current_span(
        name, record_exception=False, set_status_on_exception=False, **options
    ) as span:
        try:
            yield span
        except BaseException as error:
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
            span.set_attribute("error.type", type(error).__name__)
            raise


class TracingMiddleware:
    """One server span per HTTP request: method, route and status, nothing from the body."""

    def __init__(self, app: ASGIApp, tracer: Tracer) -> None:
        self.app = app
        self.tracer = tracer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"] if scope["path"] in ("/graphql", "/healthz") else "other"
        # Any token is a valid HTTP method: one a caller made up is not repeated.
        method = scope["method"] if scope["method"] in _METHODS else "_OTHER"
        with _span(
            self.tracer,
            f"{method} {path}",
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method, "url.path": path},
        ) as span:

            async def send_with_status(message: Message) -> None:
                if message["type"] == "http.response.start":
                    span.set_attribute("http.response.status_code", message["status"])
                    if message["status"] >= 500:
                        span.set_status(Status(StatusCode.ERROR))
                await send(message)

            await self.app(scope, receive, send_with_status)


class OperationSpan(SchemaExtension):
    """A span per GraphQL operation, named by its type (``graphql query``), or by its name
    when the server knows it; never by text the caller chose."""

    def __init__(self, tracer: Tracer, known: frozenset[str] | None = None) -> None:
        self.tracer = tracer
        self.known = KNOWN_OPERATIONS if known is None else known

    def on_operation(self) -> Iterator[None]:
        with _span(self.tracer, "graphql operation") as span:
            yield
            context = self.execution_context
            try:
                kind = context.operation_type.value
            except Exception:  # the document did not parse, or names no such operation
                kind = "unknown"
            kind = kind if kind in _OPERATION_TYPES else "unknown"
            span.set_attribute("graphql.operation.type", kind)
            if context.operation_name in self.known:
                span.update_name(f"graphql {context.operation_name}")
                span.set_attribute("graphql.operation.name", context.operation_name)
            elif kind != "unknown":
                span.update_name(f"graphql {kind}")
            result = context.result
            errors = getattr(result, "errors", None) or context.pre_execution_errors or []
            span.set_attribute("graphql.error_count", len(errors))


@contextmanager
def store_span(tracer: Tracer, operation: str, system: str) -> Iterator[Span]:
    """A client span around one store call: the operation's name and the database system."""
    start = time.perf_counter()
    with _span(
        tracer,
        operation,
        kind=SpanKind.CLIENT,
        attributes={"db.system": system, "db.operation.name": operation},
    ) as span:
        yield span
        span.set_attribute("nrd.duration_ms", round((time.perf_counter() - start) * 1000, 3))


def attributes_of(span: Any) -> dict[str, Any]:
    return dict(getattr(span, "attributes", {}) or {})
