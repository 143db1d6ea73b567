"""The baseline: a plain Starlette endpoint running the same SQL as the public ``directory`` query.

Same read-model table (directory_public, on PostgreSQL or in the embedded SQLite file), same
``DirectoryQueries.search`` (text + province, first=20, with_facets=False, with_total=False: the
API runs the facet and count queries only when ``facets`` / ``totalCount`` are selected, and the
benchmark's document selects neither, so this is the SQL the API runs for it), same thread hop
as the API (``anyio.to_thread.run_sync`` within a CapacityLimiter of NRD_THREADS), same pool
size. It answers the fields the benchmark's GraphQL document selects, in the same JSON shape,
so the two answers can be compared for equality.

POST /search  {"search": "shelter", "provinces": ["CA-ON"], "first": 20}
              ("facets": true / "total": true also run those queries; nothing more is returned)
GET  /healthz
Run as ``uvicorn --factory plain_app:create`` with the NRD_* environment of the nrd server.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import anyio
import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api.config import Settings
from api.infrastructure.stores import PostgresViewStore, SQLiteViewStore
from projections.directory import PUBLIC, DirectoryQueries, DirectoryQuery
from projections.sql import ViewStore


def node(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The fields the benchmark's GraphQL document selects, named as GraphQL names them."""
    return {
        "id": doc["id"],
        "nameEn": doc["nameEn"],
        "nameFr": doc["nameFr"],
        "kind": doc["kind"],
        "regions": [
            {"province": r["province"], "municipality": r.get("municipality")}
            for r in doc.get("regions") or []
        ],
        "services": [
            {"nameEn": s["nameEn"], "category": s["category"]} for s in doc.get("services") or []
        ],
        "languages": doc.get("languages") or [],
    }


def create() -> Starlette:
    settings = Settings.from_env()
    store: ViewStore
    if settings.uses_postgres:
        store = PostgresViewStore(
            settings.postgres_params(),
            settings.database_schema,
            settings.connection_shares()[1],
            settings.pool_timeout,
        )
    else:  # the embedded store: the read models' file the nrd server reads
        store = SQLiteViewStore(settings.data_dir / "views.sqlite")
    queries = DirectoryQueries(store)
    limiter = anyio.CapacityLimiter(settings.threads)

    async def search(request: Request) -> Response:
        payload = json.loads(await request.body())
        query = DirectoryQuery(
            text=payload.get("search") or "",
            facets={"province": list(payload.get("provinces") or [])},
            first=int(payload.get("first", 20)),
        )
        page = await anyio.to_thread.run_sync(
            functools.partial(
                queries.search,
                PUBLIC,
                query,
                with_facets=bool(payload.get("facets", False)),
                with_total=bool(payload.get("total", False)),
            ),
            limiter=limiter,
        )
        return JSONResponse(
            {
                "data": {
                    "directory": {
                        "edges": [{"node": node(doc)} for doc in page.docs],
                        "pageInfo": {
                            "hasNextPage": page.has_next_page,
                            "endCursor": page.end_cursor,
                        },
                    }
                }
            }
        )

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            store.close()

    return Starlette(
        routes=[
            Route("/search", search, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
