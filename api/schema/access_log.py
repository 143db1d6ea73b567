"""The access-log hook: which confidential fields a request revealed, and the writing of them.

Whatever completes a field, the executor's general path or its fast path
(``api/schema/adapter.py``), the record it belongs to is noted here: the general path runs
every field through ``execute_field``, which this hook wraps; the fast path reports every object
it completes to ``revealed``, which only this hook implements. What counts as confidential, and
the table the notes go to, are ``api/access.py``'s. After execution, ``write`` records the notes
in one transaction before any data is sent, or the request answers that nothing was returned.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import anyio.to_thread
from graphql import GraphQLObjectType

from api.access import CONFIDENTIAL
from api.context import Context
from api.faults import classify


class AccessLogged:
    """The hook, over a graphql-core execution context (put it first among the bases)."""

    context_value: Context

    def revealed(
        self, object_type: GraphQLObjectType, source: Any, field_names: Iterable[str]
    ) -> None:
        """Notes the fields of ``source``, an object of ``object_type``, being completed."""
        if object_type.name in CONFIDENTIAL:
            self.context_value.reads.note(object_type.name, source, field_names)

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: Any,
        path: Any,
        position_context: Any,
    ) -> Any:
        self.revealed(parent_type, source, (field_details_list[0].node.name.value,))
        return super().execute_field(  # type: ignore[misc]
            parent_type, source, field_details_list, path, position_context
        )


class AccessLogUnwritten(Exception):
    """The reads could not be recorded, so no data may be sent: try again after ``retry_after``
    seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("the access log could not be written")
        self.retry_after = retry_after


async def write(context: Context) -> None:
    """Records the request's reads, durably when this returns; nothing when it read nothing
    confidential."""
    if not context.reads:
        return
    system = context.system
    try:
        await anyio.to_thread.run_sync(
            system.access.record, context.reader(), context.reads, limiter=system.limiter
        )
    except Exception as error:
        fault = classify(error)
        raise AccessLogUnwritten(fault.retry_after if fault else 1) from error
