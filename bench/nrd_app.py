"""The nrd application as production builds it, for ``uvicorn --factory nrd_app:create``.

Settings come from the NRD_* environment (``common.server_env``: the database, the schema, the
signing key and the master key); the system and the Starlette app are the real ones, unchanged.
"""

from __future__ import annotations

from starlette.applications import Starlette

from api.app import create_app
from api.config import Settings
from api.wiring import build_system, settle_process


def create() -> Starlette:
    app: Starlette = create_app(build_system(Settings.from_env()))
    settle_process()  # as `nrd serve` does
    return app
