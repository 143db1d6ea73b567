"""What a resolver gets: the caller, and the few operations that decide what the caller sees.

Resolvers translate; the decisions live here and in ``policies``: which directory a caller
reads, in which relation a record stands to the caller, and which fields survive. A record the
caller may not see is ``None``, exactly as a record that does not exist.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

import anyio.to_thread

from api.access import Reader, Reads
from api.auth import Principal
from domain.base import Actor, InvalidInput, NotFound, acting_as
from domain.write_path import Outcome
from projections.cases import CaseQueries
from projections.contacts import ContactQueries
from projections.directory import (
    INTERNAL,
    PUBLIC,
    DirectoryPage,
    DirectoryQuery,
    OrganizationDoc,
)
from projections.queues import WorkQueries

if TYPE_CHECKING:
    from api.wiring import System

T = TypeVar("T")


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def parse_id(value: str) -> str | None:
    try:
        return str(UUID(value))
    except (ValueError, TypeError, AttributeError):
        return None


@dataclass
class Context:
    principal: Principal
    system: System
    request_id: str
    reads: Reads = field(default_factory=Reads)

    @property
    def caller(self) -> str:
        """The principal as one key: rate limits and read-your-writes are kept per caller."""
        return "\x1f".join(
            [self.role, self.principal.organization_id or "", self.principal.user_id]
        )

    @property
    def cases(self) -> CaseQueries:
        """The case read models, read for this caller: a read waits for this caller's own
        writes to reach them, never for other callers'."""
        return self.system.cases.for_caller(self.caller)

    @property
    def work(self) -> WorkQueries:
        """The work queues' read models, read for this caller (as ``cases``)."""
        return self.system.work.for_caller(self.caller)

    @property
    def contacts(self) -> ContactQueries:
        """The contacts read model, read for this caller (as ``cases``)."""
        return self.system.contacts.for_caller(self.caller)

    def rate_limit(self, operation: str) -> None:
        """Refuses a sensitive operation asked too often by this principal."""
        self.system.rate_limits.check(self.caller, operation)

    def reader(self) -> Reader:
        return Reader(
            self.principal.user_id,
            self.role,
            self.principal.organization_id,
            self.request_id,
            self.system.policy.version,
        )

    @property
    def role(self) -> str:
        return self.principal.role

    def relation(self, organization_id: str | None) -> str:
        own = organization_id is not None and organization_id == self.principal.organization_id
        return "own" if own else "any"

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Runs blocking store work off the event loop, within the pool-sized limiter."""
        return await anyio.to_thread.run_sync(
            functools.partial(fn, *args), limiter=self.system.limiter
        )

    # -- reads -----------------------------------------------------------------------------

    def _directory_scope(self, relation: str) -> str | None:
        policy = self.system.policy
        if policy.allows(self.role, "Directory.internal", "scope", relation):
            return INTERNAL
        if policy.allows(self.role, "Directory.public", "scope", relation):
            return PUBLIC
        return None

    async def organization(self, org_id: str) -> tuple[OrganizationDoc, frozenset[str]] | None:
        clean = parse_id(org_id)
        if clean is None:
            return None
        relation = self.relation(clean)
        scope = self._directory_scope(relation)
        if scope is None:
            return None
        doc = await self.run(self.system.directory.get, scope, clean)
        if doc is None:
            return None
        return doc, self.system.policy.fields(self.role, "Organization", relation)

    async def search(
        self, query: DirectoryQuery, with_facets: bool = True, with_total: bool = True
    ) -> tuple[DirectoryPage, frozenset[str]]:
        scope = self._directory_scope("any")
        if scope is None:
            raise NotFound("directory not available")
        page = await self.run(self.system.directory.search, scope, query, with_facets, with_total)
        return page, self.system.policy.fields(self.role, "Organization", "any")

    def protocol_scope(self) -> tuple[str, str | None] | None:
        """Which protocols the caller reads: ("any", None), ("own", its agency), or None."""
        policy = self.system.policy
        if policy.allows(self.role, "Protocols.all", "scope", "any"):
            return "any", None
        if self.principal.organization_id is not None and policy.allows(
            self.role, "Protocols.all", "scope", "own"
        ):
            return "own", self.principal.organization_id
        return None

    async def protocol(self, protocol_id: str) -> tuple[dict[str, Any], frozenset[str]] | None:
        """The protocol if the caller may read it. Whose it is is decided in the query (the
        caller's agency in its WHERE), so another agency's protocol takes the very path a
        missing one takes: no document read, none decoded."""
        clean = parse_id(protocol_id)
        scope = self.protocol_scope()
        if clean is None or scope is None:
            return None
        relation, agency = scope
        doc = await self.run(self.system.protocols.get, clean, agency)
        if doc is None:
            return None
        return doc, self.system.policy.fields(self.role, "ReportingProtocol", relation)

    async def protocols(self, province: str | None) -> tuple[list[dict[str, Any]], frozenset[str]]:
        scope = self.protocol_scope()
        if scope is None:
            return [], frozenset()
        relation, agency = scope
        docs = await self.run(self.system.protocols.list, agency, province)
        return docs, self.system.policy.fields(self.role, "ReportingProtocol", relation)

    # -- commands --------------------------------------------------------------------------

    def check_filters(self, input_type: str, filters: object) -> None:
        """Refuses (never silently ignores) a filter on a field this role may not read."""
        refused = [
            name
            for name, value in vars(filters).items()
            if value is not None
            and not self.system.policy.allows(self.role, f"{input_type}.{camel(name)}", "filter")
        ]
        if refused:
            raise InvalidInput(
                [f"filter.{camel(name)} is not available to your role" for name in refused]
            )

    def authorize(self, coordinate: str, organization_id: str | None, what: str) -> None:
        """Refuses a command the caller may not run on this record, as if it did not exist."""
        relation = self.relation(organization_id)
        if not self.system.policy.allows(self.role, coordinate, "call", relation):
            raise NotFound(f"{what} not found")

    async def command(self, fn: Callable[[], Outcome], *, slow: bool = False) -> Outcome:
        """Runs a command on the command threads, in this request's context (its trace, its
        request id). A ``slow`` one (an erasure waits for its scrub) runs on the store
        threads instead, so that it never holds up other commands, emergencies among them."""
        actor = Actor(
            self.principal.user_id,
            self.role,
            self.principal.organization_id,
            self.request_id,
            self.system.policy.version,
        )

        def run() -> Outcome:
            with acting_as(actor):
                return fn()

        if slow:
            outcome = await self.run(run)
        else:
            outcome = await asyncio.get_running_loop().run_in_executor(
                self.system.commands, contextvars.copy_context().run, run
            )
        if self.system.must_wait(outcome.position, outcome.topics):
            await self.run(
                self.system.read_your_writes, outcome.position, outcome.topics, self.caller
            )
        else:  # nothing to wait for (a case command): not worth a thread
            self.system.read_your_writes(outcome.position, outcome.topics, self.caller)
        return outcome
