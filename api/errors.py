"""How errors leave the server: actionable for the caller, silent about the schema and data.

Expected failures (a domain rule, bad input, a limit) keep their message and a code. Anything
else is masked as "Unexpected error." and logged by type only: an exception's text can carry
values, and values are never logged. Callers outside the hotline get no locations or paths, and
one generic answer for any document that does not parse or validate, any variable that does not
coerce and any filter their role may not use: two documents that differ in one name (a type, a
field, an enum value, an input field) answer byte for byte alike, so the schema cannot be mapped
by probing.
"""

from __future__ import annotations

import logging
import re
import traceback
from typing import Any

from graphql import GraphQLError

from api.faults import cause_name, classify
from api.hardening import TOO_COMPLEX
from domain.base import DomainError, InvalidInput
from projections.directory import InvalidQuery

log = logging.getLogger("nrd.api")

INVALID_DOCUMENT = "The query is not valid for this API."
# graphql-core quotes the offending value in variable errors; keep the variable and the path.
# Any wording: only the variable's name is kept, and a path only where it comes before the
# value (graphql-core 3.3: "has invalid value at 'path': ...").
_VARIABLE = re.compile(r"^Variable '(\$\w+)'")
_VARIABLE_PATH = re.compile(r"^Variable '\$\w+' has invalid value at '([\w.\[\]]+)':")
_TOKENS = "tokens. Parsing aborted."


def _variable_error(message: str) -> str | None:
    match = _VARIABLE.match(message)
    if match is None:
        return None
    path = _VARIABLE_PATH.match(message)
    where = f" at '{path.group(1)}'" if path else ""
    return f"Variable '{match.group(1)}' has a missing or invalid value{where}"


def format_error(error: GraphQLError, trusted: bool) -> dict[str, Any]:
    original = error.original_error
    result: dict[str, Any]
    if isinstance(original, DomainError):
        result = {
            "message": str(original),
            "extensions": {"code": original.code, "retryable": original.retryable},
        }
        if isinstance(original, InvalidInput):
            result["extensions"]["problems"] = original.problems
    elif isinstance(original, InvalidQuery):
        result = {
            "message": str(original),
            "extensions": {"code": "INVALID_INPUT", "retryable": False},
        }
    elif original is not None and (fault := classify(original)) is not None:
        # An infrastructure failure a retry can cure: named, with no values in its message.
        log.warning("request failed with %s (%s)", fault.code, cause_name(original))
        result = {"message": fault.message, "extensions": {"code": fault.code, "retryable": True}}
    elif (variable := _variable_error(error.message)) is not None:
        # A variable's path names input fields, and whether it got as far as an enum's value
        # tells a real field from an invented one: only the hotline learns which variable.
        result = (
            {"message": variable, "extensions": {"code": "INVALID_INPUT", "retryable": False}}
            if trusted
            else _invalid_document()
        )
    elif original is not None and not isinstance(original, GraphQLError):
        # The frames say where; the exception's text could hold a value, so it stays out.
        frames = "".join(traceback.format_tb(original.__traceback__))
        log.error("unexpected error in a resolver: %s\n%s", type(original).__name__, frames)
        result = {"message": "Unexpected error.", "extensions": {"code": "INTERNAL"}}
    elif _TOKENS in error.message:
        result = {
            "message": "query too complex: the document has more tokens than the limit",
            "extensions": {"code": TOO_COMPLEX},
        }
    else:
        code = (error.extensions or {}).get("code")
        if trusted:
            result = {"message": error.message, "extensions": {"code": code or "INVALID_QUERY"}}
        elif code == TOO_COMPLEX:
            result = {"message": error.message, "extensions": {"code": code}}
        else:
            result = _invalid_document()
    if trusted:
        if error.locations:
            result["locations"] = [
                {"line": loc.line, "column": loc.column} for loc in error.locations
            ]
        if error.path:
            result["path"] = list(error.path)
    return result


def _invalid_document() -> dict[str, Any]:
    return {"message": INVALID_DOCUMENT, "extensions": {"code": "INVALID_QUERY"}}
