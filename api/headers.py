"""Headers every answer carries, whatever produced it: a query's answer, a refusal (401, 405,
413, 415), a 404, the health check, or a failure nothing else caught.

Answers can hold caller data, so no cache may keep them; a browser must not guess a type other
than the one declared, nor tell another site where a link was followed from. The ``server``
header (uvicorn's name and nothing else) is off at the server (``nrd serve``); ``date`` stays,
as HTTP asks of a server with a clock.
"""

from __future__ import annotations

import logging
import traceback

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("nrd.api")

ANSWER_HEADERS = (
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)
_SET_HERE = frozenset(name for name, _ in ANSWER_HEADERS)


class AnswerHeaders:
    """Adds ``ANSWER_HEADERS`` to every HTTP answer, in place of any of the same name.

    A failure that escapes the application is answered here, as a 500 that says nothing more
    than "Unexpected error." (with these headers, which Starlette's own 500 would lack), and
    logged by type and frames only: an exception's text can carry a value."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                kept = [
                    (name, value)
                    for name, value in message.get("headers", ())
                    if name.lower() not in _SET_HERE
                ]
                message = {**message, "headers": [*kept, *ANSWER_HEADERS]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as error:
            frames = "".join(traceback.format_tb(error.__traceback__))
            log.error("unexpected error answering a request: %s\n%s", type(error).__name__, frames)
            if started:
                raise  # too late to answer otherwise: the server closes the connection
            await JSONResponse(
                {"errors": [{"message": "Unexpected error.", "extensions": {"code": "INTERNAL"}}]},
                status_code=500,
            )(scope, receive, send_with_headers)
