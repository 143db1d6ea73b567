"""The Starlette application: POST /graphql (JSON only), GET /healthz and /readyz, sign-in under
/auth (``api/signin/web.py``), optional GraphiQL."""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio.to_thread
import orjson
from graphql import GraphQLError, OperationDefinitionNode
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route, Router

from api.auth import TokenError
from api.context import Context
from api.errors import format_error
from api.faults import classify
from api.headers import AnswerHeaders
from api.schema import access_log
from api.signin.web import SessionRefused, SignIn
from api.telemetry import TracingMiddleware, tracing
from api.wiring import System
from policies import STAFF_ROLES
from projections.health import CURRENT, read_health

log = logging.getLogger("nrd.api")
MAX_BODY = 64 * 1024

# GraphiQL, served from the package (api/static/graphiql, see its VENDOR.md): the page, its
# bootstrap and the vendored builds, under a policy that lets the page load nothing and run
# nothing from anywhere but this server. GraphiQL's stylesheet embeds its fonts and a few
# images as data: URLs, which cannot run code.
GRAPHIQL = Path(__file__).parent / "static" / "graphiql"
GRAPHIQL_ASSETS = {
    "nrd-graphiql.js": "text/javascript; charset=utf-8",
    "nrd-graphiql.css": "text/css; charset=utf-8",
    "graphiql.min.js": "text/javascript; charset=utf-8",
    "graphiql.min.css": "text/css; charset=utf-8",
    "react.production.min.js": "text/javascript; charset=utf-8",
    "react-dom.production.min.js": "text/javascript; charset=utf-8",
    "licenses/graphiql.LICENSE": "text/plain; charset=utf-8",
    "licenses/react.LICENSE": "text/plain; charset=utf-8",
    "licenses/react-dom.LICENSE": "text/plain; charset=utf-8",
    "licenses/bundled-in-graphiql.txt": "text/plain; charset=utf-8",
}
GRAPHIQL_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
GRAPHIQL_HEADERS = {
    "Content-Security-Policy": GRAPHIQL_CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class GraphQLResponse(JSONResponse):
    """A GraphQL answer, encoded by orjson: the standard library's encoder showed in the API's
    time per mutation (see bench/README.md, case_commands.py)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def _error(
    status: int,
    message: str,
    code: str,
    headers: dict[str, str] | None = None,
    media_type: str = "application/json",
) -> JSONResponse:
    return JSONResponse(
        {"errors": [{"message": message, "extensions": {"code": code}}]},
        status_code=status,
        headers=headers,
        media_type=media_type,
    )


def create_app(
    system: System, run_projections: bool | None = None, sign_in: SignIn | None = None
) -> Starlette:
    schema = system.schema
    sign_in = SignIn.build(system) if sign_in is None else sign_in

    async def graphql_get(request: Request) -> Response:
        accepts_html = "text/html" in request.headers.get("accept", "")
        if system.settings.graphiql and accepts_html:
            return FileResponse(
                GRAPHIQL / "index.html",
                media_type="text/html; charset=utf-8",
                headers=GRAPHIQL_HEADERS,
            )
        return _error(
            405,
            "queries are accepted only by POST with application/json",
            "METHOD_NOT_ALLOWED",
            {"Allow": "POST"},
        )

    async def graphiql_asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in GRAPHIQL_ASSETS:
            return PlainTextResponse("Not Found", status_code=404)
        return FileResponse(
            GRAPHIQL / name, media_type=GRAPHIQL_ASSETS[name], headers=GRAPHIQL_HEADERS
        )

    async def graphql_post(request: Request) -> Response:
        media = answer_media_type(request.headers.get("accept"))
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            return _error(
                415,
                "send the query as application/json",
                "UNSUPPORTED_MEDIA_TYPE",
                media_type=media,
            )
        authorization = request.headers.get("authorization")
        try:
            # A bearer token, when one is sent; else the session the cookie stands for.
            if not authorization and sign_in.rides_session(request):
                principal = await sign_in.principal(request)
            else:
                principal = system.auth.principal(authorization)
        except TokenError as error:
            return _error(
                401, str(error), "UNAUTHENTICATED", {"WWW-Authenticate": "Bearer"}, media_type=media
            )
        except SessionRefused as refusal:
            return _error(
                refusal.status, str(refusal), refusal.code, refusal.headers, media_type=media
            )
        body = await _bounded_body(request)
        if body is None:
            return _error(
                413,
                f"the request body is larger than {MAX_BODY} bytes",
                "PAYLOAD_TOO_LARGE",
                media_type=media,
            )
        try:
            payload = orjson.loads(body)
        except ValueError:  # orjson.JSONDecodeError, invalid UTF-8 among them
            return _error(
                400, "the request body is not valid JSON", "BAD_REQUEST", media_type=media
            )
        problem = _payload_problem(payload) or _operation_problem(system, payload)
        if problem:
            return _error(400, problem, "BAD_REQUEST", media_type=media)
        context = Context(
            principal=principal,
            system=system,
            request_id=_request_id(request.headers.get("x-request-id")),
        )
        result = await schema.execute(
            payload["query"],
            variable_values=payload.get("variables"),
            context_value=context,
            operation_name=payload.get("operationName"),
        )
        try:
            await access_log.write(context)
        except access_log.AccessLogUnwritten as error:
            # The read was not recorded, so its data is not sent.
            log.error("access log write failed: %s", type(error.__cause__).__name__)
            return _error(
                503,
                "the access log could not be written, so nothing was returned; try again",
                "ACCESS_LOG_UNAVAILABLE",
                {"Retry-After": str(error.retry_after)},
                media_type=media,
            )
        trusted = principal.role in STAFF_ROLES
        response: dict[str, Any] = {"data": result.data}
        if result.errors:
            formatted = [format_error(e, trusted) for e in result.errors]
            # Identical generic errors say nothing more twice, and their count would tell a
            # prober how many of its fields were refused.
            response["errors"] = [e for i, e in enumerate(formatted) if e not in formatted[:i]]
            if (retry_after := _unavailable(result.data, result.errors)) is not None:
                return GraphQLResponse(
                    response,
                    status_code=503,
                    media_type=media,
                    headers={"Retry-After": str(retry_after)},
                )
            if media == GRAPHQL_RESPONSE and _request_error(result.data, result.errors):
                return GraphQLResponse(
                    {"errors": response["errors"]},
                    media_type=media,
                    status_code=_request_error_status(formatted),
                )
        return GraphQLResponse(response, media_type=media)

    health = HealthReads()

    async def healthz(request: Request) -> Response:
        try:
            await context_free_check(system, health)
        except Exception as error:
            log.warning("health check failed: %s", type(error).__name__)
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        """Ready to serve: the store answers, and every read model is current within the
        configured bounds with nothing quarantined. The reasons name read models, counts and
        error types, never a value."""
        try:
            verdict, reasons = await readiness(system, health)
        except Exception as error:
            log.warning("readiness check failed: %s", type(error).__name__)
            return JSONResponse(
                {"status": "unavailable", "reasons": ["the store cannot be reached"]},
                status_code=503,
            )
        if verdict != CURRENT:
            return JSONResponse({"status": verdict, "reasons": reasons}, status_code=503)
        return JSONResponse({"status": "ready"})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        stop = threading.Event()
        follow = system.settings.inline_projections if run_projections is None else run_projections
        worker = None
        if follow:
            worker = threading.Thread(
                target=system.follow_log, args=(stop,), name="nrd-projections", daemon=True
            )
            worker.start()
        try:
            yield
        finally:
            stop.set()
            if worker is not None:
                worker.join(timeout=10)

    return Starlette(
        routes=[
            Route("/graphql", graphql_post, methods=["POST"]),
            Route("/graphql", graphql_get, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            *sign_in.routes(),
            *(
                [
                    Mount(
                        "/graphiql",
                        app=GZipMiddleware(
                            Router([Route("/{name:path}", graphiql_asset, methods=["GET"])])
                        ),
                    )
                ]
                if system.settings.graphiql
                else []
            ),
        ],
        # Without a configured exporter every span is a no-op: no layer to pay for.
        middleware=[
            Middleware(AnswerHeaders),
            *(
                []
                if not tracing(system.tracer)
                else [Middleware(TracingMiddleware, tracer=system.tracer)]
            ),
        ],
        lifespan=lifespan,
    )


GRAPHQL_RESPONSE = "application/graphql-response+json"


def answer_media_type(accept: str | None) -> str:
    """The media type of the answer (GraphQL over HTTP): application/graphql-response+json when
    the caller accepts it at least as much as application/json; application/json otherwise,
    and when the caller sends no Accept header or accepts neither."""
    if not accept:
        return "application/json"
    graphql_response = json = 0.0
    for media_range in accept.split(","):
        media, *parameters = media_range.split(";")
        media = media.strip().lower()
        quality = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
                if not 0.0 <= quality <= 1.0:  # NaN among them
                    quality = 0.0
        if media == GRAPHQL_RESPONSE:
            graphql_response = max(graphql_response, quality)
        elif media in ("application/json", "application/*", "*/*"):
            json = max(json, quality)
    if graphql_response > 0.0 and graphql_response >= json:
        return GRAPHQL_RESPONSE
    return "application/json"


def _request_error(data: Any, errors: list[GraphQLError]) -> bool:
    """The operation never ran: the document did not parse or validate, or its variables did
    not coerce. Every error raised while it ran carries the path of its field."""
    return data is None and not any(error.path for error in errors)


def _request_error_status(formatted: list[dict[str, Any]]) -> int:
    unexpected = any(e.get("extensions", {}).get("code") == "INTERNAL" for e in formatted)
    return 500 if unexpected else 400


_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def _unavailable(data: dict[str, Any] | None, errors: list[GraphQLError]) -> int | None:
    """When nothing of the request was answered, and only because of failures a retry can
    cure (``api.faults``): the seconds to wait before retrying (for HTTP 503 and its
    Retry-After); else None."""
    faults = [classify(e.original_error) for e in errors]
    if not all(faults):
        return None
    failed = {e.path[0] for e in errors if e.path}
    if data is not None and any(
        value is not None or key not in failed for key, value in data.items()
    ):
        return None
    return max(f.retry_after for f in faults if f is not None)


def _request_id(given: str | None) -> str:
    """A caller's request id is kept with every event it causes, so only a short, plain one."""
    return given if given and _REQUEST_ID.match(given) else uuid.uuid4().hex


def _operation_problem(system: System, payload: dict[str, Any]) -> str | None:
    """The operation to run must be unambiguous (the GraphQL spec), and must exist."""
    try:
        document = system.gate.parsed(payload["query"])
    except GraphQLError:
        return None  # reported by the executor as a syntax error
    names = [
        d.name.value if d.name else None
        for d in document.definitions
        if isinstance(d, OperationDefinitionNode)
    ]
    wanted = payload.get("operationName")
    if wanted is None:
        if len(names) > 1:
            return "the document holds several operations: name one in 'operationName'"
        return None
    if wanted not in names:
        return "'operationName' does not name an operation in the document"
    return None


async def _bounded_body(request: Request) -> bytes | None:
    """The body, or None once it passes MAX_BODY: never buffer more than the limit."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _payload_problem(payload: Any) -> str | None:
    if not isinstance(payload, dict):
        return "the body must be a JSON object with a 'query'"
    if not isinstance(payload.get("query"), str) or not payload["query"].strip():
        return "'query' must be a non-empty string"
    if payload.get("variables") is not None and not isinstance(payload["variables"], dict):
        return "'variables' must be an object"
    if payload.get("operationName") is not None and not isinstance(payload["operationName"], str):
        return "'operationName' must be a string"
    if payload.get("extensions") is not None and not isinstance(payload["extensions"], dict):
        return "'extensions' must be an object"
    return None


async def context_free_check(system: System, reads: HealthReads) -> None:
    def check() -> None:
        system.projector.positions()
        system.projector.head()

    await reads.run(lambda: _once_more(system, check))


async def readiness(system: System, reads: HealthReads) -> tuple[str, list[str]]:
    """``/readyz``'s verdict and reasons: the same truth as ``nrd projections status``."""
    settings = system.settings

    def assess() -> tuple[str, list[str]]:
        health = _once_more(system, lambda: read_health(system.projector))
        return health.assess(settings.ready_max_lag, settings.ready_max_stall)

    return await reads.run(assess)


T = TypeVar("T")


class HealthReads:
    """Health reads one at a time, each given up after ``SECONDS``: while the store does not
    answer, a probe gets its 503 at once, and probes never pile up threads waiting for it. (A
    read given up goes on in its thread; the next read starts once it ends, or after
    ``STUCK_SECONDS``.)"""

    SECONDS = 3.0
    STUCK_SECONDS = 60.0

    def __init__(self) -> None:
        self._started: float | None = None  # when the read under way began

    async def run(self, read: Callable[[], T]) -> T:
        now = time.monotonic()
        if self._started is not None and now - self._started < self.STUCK_SECONDS:
            raise TimeoutError("an earlier health read still waits for the store")
        self._started = now

        def timed() -> T:
            try:
                return read()
            finally:
                self._started = None

        with anyio.fail_after(self.SECONDS):
            return await anyio.to_thread.run_sync(timed, abandon_on_cancel=True)


def _once_more(system: System, read: Callable[[], T]) -> T:
    """A read tried a second time if the first fails, after the pool replaced its dead
    connections: a pooled connection that died (PostgreSQL restarted, a session ended by an
    operator) fails the first read that takes it, not the service."""
    try:
        return read()
    except Exception as error:
        log.info("a health read failed (%s): trying once more", type(error).__name__)
        system.store.check()
        return read()
