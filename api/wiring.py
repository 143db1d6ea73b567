"""The composition root: configuration in, a running system out. Nothing else wires parts."""

from __future__ import annotations

import contextlib
import functools
import gc
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar
from uuid import UUID

import anyio
import psycopg
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import EventStore
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Tracer
from psycopg.conninfo import make_conninfo

from api.access import AccessLog
from api.auth import Authenticator, load_or_create_secret
from api.config import ConfigurationError, DatabaseUnreachable, Settings
from api.faults import ReadModelBehind, StoreBusy, cause_name, classify
from api.hardening import DocumentGate, GateExtension, Limits
from api.infrastructure import migrations
from api.infrastructure.aside import AsideRebuilder, Place, PostgresPlace, SQLitePlace
from api.infrastructure.listener import LogListener
from api.infrastructure.recorders import LockedInsertRecorder
from api.infrastructure.snapshots import SignedSnapshots
from api.infrastructure.stores import PostgresViewStore, SQLiteViewStore, sqlite_startup_lock
from api.infrastructure.vault import EnvelopeVault, load_or_create_master_key, parse_master_key
from api.ratelimit import RateLimiter
from api.schema.build import Schema, build_schema
from api.signin.members import RecordedMembers
from api.telemetry import OperationSpan, store_span, tracer_from, tracing
from domain.hotline import Hotline
from domain.write_path import Outcome
from policies import FieldPolicy, load_policy
from projections.aggregates import History, iso
from projections.audit import AuditTrail
from projections.cases import CaseProjection, CaseQueries
from projections.chain import ChainProjection
from projections.contacts import ContactProjection, ContactQueries
from projections.directory import DirectoryProjection, DirectoryQueries
from projections.memberships import MemberQueries, MembershipProjection, ServiceAccountProjection
from projections.protocols import ProtocolProjection, ProtocolQueries
from projections.queues import WorkItemProjection, WorkQueries
from projections.runner import Projection, Projector
from projections.sql import ViewStore
from projections.topics import TopicCheck

log = logging.getLogger("nrd.projections")
P = ParamSpec("P")
T = TypeVar("T")


class TracedApplication(Hotline):
    """The hotline's application; every write is one client span, with no arguments recorded."""

    name = Hotline.name  # the name picks the tables: keep the application's

    def __init__(self, settings: Settings, tracer: Tracer, vault: EnvelopeVault) -> None:
        self._snapshot_key = vault.derived_key(b"nrd snapshots v1")  # before the stores exist
        try:
            super().__init__(
                settings.event_store_env(),
                vault=vault,
                emergency_numbers=settings.emergency_numbers,
                unreachable_after=settings.unreachable_after,
                claim_key=vault.derived_key(b"nrd jurisdiction claims v1"),
                tracking_key=vault.derived_key(b"nrd application tracking codes v1"),
            )
        except BaseException:
            # A start that failed (the database unreachable) closes the pool it opened, or
            # it would go on connecting in the background, and hold what it got.
            factory = getattr(self, "factory", None)
            if factory is not None:
                factory.close()
            raise
        self.tracer = tracer
        self.db_system = "postgresql" if settings.uses_postgres else "sqlite"

    def construct_snapshot_store(self) -> EventStore[UUID]:
        """Snapshots carry a MAC: one edited in the database is refused when loaded."""
        return self.factory.event_store(
            mapper=SignedSnapshots(self.mapper.transcoder, self._snapshot_key),
            recorder=self.factory.aggregate_recorder(purpose="snapshots"),
        )

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        with store_span(self.tracer, "event_store.save", self.db_system):
            return super().save(*objs, **kwargs)


@dataclass
class System:
    settings: Settings
    app: TracedApplication
    store: ViewStore
    keys: ViewStore
    vault: EnvelopeVault
    access: AccessLog
    audit: AuditTrail
    cases: CaseQueries
    contacts: ContactQueries
    projector: Projector
    directory: DirectoryQueries
    protocols: ProtocolQueries
    work: WorkQueries
    memberships: MemberQueries
    policy: FieldPolicy
    schema: Schema
    gate: DocumentGate
    tracer: Tracer
    rate_limits: RateLimiter = field(default_factory=lambda: RateLimiter(120))
    limiter: anyio.CapacityLimiter = field(default_factory=lambda: anyio.CapacityLimiter(16))
    # Commands run on threads of their own, few (they queue for the events table's lock
    # anyway): reads keep the limiter's threads, and fewer threads vie for the interpreter.
    commands: ThreadPoolExecutor = field(default_factory=lambda: CommandThreads(2, 5.0))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @functools.cached_property
    def auth(self) -> Authenticator:
        """Built on first use: a projection worker never needs the token-signing key."""
        return Authenticator(
            _signing_key(self.settings),
            self.settings.jwt_issuer,
            self.settings.token_max_hours,
            self.settings.cache_bytes("tokens"),
            revoked=self.memberships.token_revoked,
            used=self._token_used,
            service_tokens_only=self.settings.production,
        )

    def _token_used(self, token_id: str) -> None:
        """A service token's last use, recorded; a failure to record it fails no request."""
        try:
            self.memberships.token_used(token_id, iso(datetime.now(UTC)))
        except Exception as error:
            log.warning("cannot record a service token's use: %s", type(error).__name__)

    @functools.cached_property
    def members(self) -> RecordedMembers:
        """The memberships as sign-in asks them (``api/signin/members.py``)."""

        def settle(outcome: Outcome) -> None:
            self.read_your_writes(outcome.position, outcome.topics)

        return RecordedMembers(self.app, self.memberships, settle)

    def must_wait(self, position: int, topics: frozenset[str] | None) -> bool:
        """Whether ``read_your_writes`` may block (else it only records what is owed)."""
        return not self.projector.applied(position, topics)

    def read_your_writes(
        self, position: int, topics: frozenset[str] | None = None, caller: str | None = None
    ) -> None:
        """What a command of ``caller`` does before it answers: the read models that follow
        the events it wrote (``topics``; all of them when None) apply them, except the
        write-behind ones, which are only owed them, to this caller (``settle``)."""
        if self.settings.inline_projections:
            with store_span(self.tracer, "projections.catch_up", self.store.dialect):
                self.projector.catch_up_to(position, topics, caller)
            return
        eager = self.projector.record(position, topics, caller)
        if (
            eager
            and not self.projector.applied(position, topics)
            and not self.projector.wait_for(
                position, self.settings.projection_wait, names=frozenset(p.name for p in eager)
            )
        ):
            raise ReadModelBehind

    def follow_log(self, stop: threading.Event, interval: float = 0.2) -> None:
        """The projection worker: keeps the read models current and finishes erasures a crash
        interrupted. On PostgreSQL it listens for every process's inserts, so the read models
        follow within milliseconds rather than an interval."""
        listener = None
        if self.settings.uses_postgres:
            listener = LogListener(self.settings.postgres_params(), self.app.recorder.channel_name)  # type: ignore[attr-defined]
            try:
                listener.start()
            except Exception as error:  # the worker still follows, at its interval
                log.warning("cannot listen for new events: %s", type(error).__name__)
        try:
            self.projector.run_forever(
                stop, interval, housekeeping=self.app.finish_erasures, listener=listener
            )
        finally:
            if listener is not None:
                listener.close()

    def close(self) -> None:
        self.commands.shutdown(wait=True)
        for store in {id(s): s for s in (self.store, self.keys, self.access.store)}.values():
            store.close()
        self.app.close()


def _history(app: TracedApplication) -> History:
    """An aggregate's events after one version up to another, as a projection folds them."""

    def history(aggregate_id: UUID, after: int, up_to: int) -> list[DomainEventProtocol[Any]]:
        return list(app.events.get(aggregate_id, gt=after, lte=up_to))

    return history


class CommandThreads(ThreadPoolExecutor):
    """The threads that run commands. A command that waited for one longer than
    ``queue_bound`` seconds (the commands before it were held up: by a lock, a slow
    database) is refused with the retryable ``StoreBusy`` before it starts, having written
    nothing: a request never waits in this queue without bound."""

    def __init__(self, count: int, queue_bound: float) -> None:
        super().__init__(max_workers=count, thread_name_prefix="nrd-command")
        self.queue_bound = queue_bound

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        queued = time.monotonic()

        def run() -> T:
            if time.monotonic() - queued > self.queue_bound:
                raise StoreBusy
            return fn(*args, **kwargs)

        return super().submit(run)


def _settler(settings: Settings, projector: Projector) -> Callable[[str | None], None]:
    """Read-your-writes for the write-behind read models, before any read of them. A process
    whose read models run in a worker waits for the worker to apply what the reading caller's
    own commands wrote through it (what any command of it wrote, when the caller is not
    known): with continuous writers, waiting for every caller's writes held every read up
    behind the worker's next batch. A process that applies its read models itself applies
    what any of its commands wrote: that waits for no one, and every caller then reads every
    write the process acknowledged. Nothing to do when they have applied it."""

    def settle(caller: str | None) -> None:
        if settings.inline_projections:
            projector.settle()
        elif not projector.await_owed(settings.projection_wait, caller):
            raise ReadModelBehind

    return settle


def _signing_key(settings: Settings) -> str:
    if settings.jwt_secret:
        return settings.jwt_secret
    if settings.uses_postgres:
        raise ConfigurationError("NRD_JWT_SECRET must be set when NRD_DATABASE_URL is set")
    return load_or_create_secret(settings.data_dir / "jwt-secret")


def _master_key(settings: Settings) -> bytes:
    if settings.master_key:
        return parse_master_key(settings.master_key)
    if settings.uses_postgres:
        raise ConfigurationError("NRD_MASTER_KEY must be set when NRD_DATABASE_URL is set")
    return load_or_create_master_key(settings.data_dir / "master-key")


# A long-running process allocates and drops many small objects per request and holds a
# large, lasting heap (its aggregate cache, the schema): with the interpreter's defaults it
# collects its youngest objects many times a second and now and then walks the whole heap,
# which shows in the tail latency. More allocations between young collections, and the
# startup heap frozen out of every collection, cut that time (bench/README.md, case_commands).
COLLECT_AFTER_ALLOCATIONS = 10_000


def settle_collector() -> None:
    """Tunes the garbage collector for a long-running server or worker process; call once
    the system is built, so that what startup made is frozen out of later collections."""
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(COLLECT_AFTER_ALLOCATIONS, middle, oldest)


def schedule_as_batch() -> bool:
    """Asks Linux to schedule this process's threads, and those they start later, as batch
    work (SCHED_BATCH); says whether it could. A thread so woken no longer preempts the one
    that woke it: the event loop handing a command to its thread, or the command thread
    handing back the result, woke a thread that needed the interpreter lock the waker still
    held, and two context switches were spent for nothing (the command benchmark's saving is
    in bench/README.md). A woken thread
    still runs at once on an idle core; under full load it waits for the running one's turn
    to end. Where the system has no such policy or refuses it, nothing changes."""
    if not hasattr(os, "SCHED_BATCH"):
        return False
    param = os.sched_param(0)
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return False
    for task in tasks:
        try:
            os.sched_setscheduler(int(task), os.SCHED_BATCH, param)
        except ProcessLookupError:
            continue  # a thread that ended meanwhile
        except OSError as error:
            log.warning("threads keep the default scheduling: %s", type(error).__name__)
            return False
    return True


def settle_process() -> None:
    """Readies a long-running server or worker process once its system is built: its
    collector tuned, its threads scheduled as batch work."""
    settle_collector()
    schedule_as_batch()


def _projections(
    app: TracedApplication, dialect: str, vault: EnvelopeVault, cache_bytes: int
) -> list[Projection]:
    """Every read model, as one process runs them (fresh, remembering nothing)."""
    return [
        ChainProjection(),
        TopicCheck(),
        DirectoryProjection(app.mapper, dialect),
        ProtocolProjection(app.mapper, dialect),
        CaseProjection(app.mapper, dialect, vault, _history(app), cache_bytes),
        WorkItemProjection(app.mapper, dialect),
        ContactProjection(app.mapper, dialect),
        MembershipProjection(app.mapper, dialect),
        ServiceAccountProjection(app.mapper, dialect),
    ]


@dataclass
class _Parts:
    app: TracedApplication
    store: ViewStore
    keys: ViewStore
    reads: ViewStore
    vault: EnvelopeVault
    projector: Projector

    def target(self) -> migrations.Target:
        def create_event_store() -> None:
            # The library's own statements, through its recorders' create_table (public on
            # each concrete recorder, though not on the abstract types).
            recorders: list[Any] = [self.app.recorder]
            if self.app.snapshots is not None:
                recorders.append(self.app.snapshots.recorder)
            for recorder in recorders:
                recorder.create_table()

        return migrations.Target(self.projector, self.keys, self.reads, create_event_store)

    def close(self) -> None:
        for store in {id(s): s for s in (self.store, self.keys, self.reads)}.values():
            store.close()
        self.app.close()


def _parts(settings: Settings, tracer: Tracer) -> _Parts:
    """The stores, the application and the projector, touching no table (so that a schema
    check, or a migration, comes first). What a failure here had opened is closed again."""
    store: ViewStore
    keys: ViewStore
    reads: ViewStore
    place: Place
    with contextlib.ExitStack() as opened:
        if settings.uses_postgres:
            # One connection first, alone: a refusal says why (down, starting, too many
            # connections), where a pool's first wait would only time out.
            psycopg.connect(make_conninfo(**settings.postgres_params())).close()
            _, views = settings.connection_shares()
            store = PostgresViewStore(
                settings.postgres_params(), settings.database_schema, views, settings.pool_timeout
            )
            keys = reads = store
            opened.callback(store.close)
            place = PostgresPlace(settings.postgres_params(), settings.database_schema)
        else:
            # Keys and the access log are never part of a rebuild: files of their own.
            busy = settings.lock_timeout_ms / 1000
            store = SQLiteViewStore(settings.data_dir / "views.sqlite", busy_timeout=busy)
            keys = SQLiteViewStore(
                settings.data_dir / "keys.sqlite", durable=True, busy_timeout=busy
            )
            reads = SQLiteViewStore(
                settings.data_dir / "access.sqlite", durable=True, busy_timeout=busy
            )
            for each in (store, keys, reads):
                opened.callback(each.close)
            place = SQLitePlace(settings.data_dir / "views.sqlite")
        vault = EnvelopeVault(_master_key(settings), keys, settings.cache_bytes("keys"))
        app = TracedApplication(settings, tracer, vault)
        opened.callback(app.close)
        folded = settings.cache_bytes("folded")
        projector = Projector(
            app,
            store,
            _projections(app, store.dialect, vault, folded),
            rebuilder=AsideRebuilder(
                place, lambda: _projections(app, store.dialect, vault.keeping_no_keys(), folded)
            ),
        )
        opened.pop_all()
    return _Parts(app, store, keys, reads, vault, projector)


def migrate_database(
    settings: Settings,
    progress: migrations.Progress | None = None,
) -> tuple[int, int]:
    """``nrd db migrate``: brings the database's schema to this version's; returns the
    version before and after."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    starting = (
        contextlib.nullcontext()
        if settings.uses_postgres
        else sqlite_startup_lock(settings.data_dir)
    )
    with starting:
        parts = _retrying(settings, lambda: _parts(settings, tracer_from(None)))
        try:
            return migrations.migrate(parts.target(), progress)
        finally:
            parts.close()


def _retrying(settings: Settings, start: Callable[[], T]) -> T:
    """``start()``; when it cannot reach the database (down, starting, refusing more
    clients, or a lock held past its bound) tried again, waiting longer each time, for
    ``settings.connect_timeout`` seconds; then it gives up saying so."""
    deadline = time.monotonic() + settings.connect_timeout
    pause = 0.25
    while True:
        try:
            return start()
        except Exception as error:
            fault = classify(error)
            if fault is None:
                raise
            left = deadline - time.monotonic()
            if left <= 0:
                raise DatabaseUnreachable(settings.connect_timeout, cause_name(error)) from error
            # By type only: a driver's message can carry the connection's parameters.
            log.warning(
                "cannot start yet (%s: %s); trying again in %.1f s",
                fault.code,
                cause_name(error),
                min(pause, left),
            )
            time.sleep(min(pause, left))
            pause = min(pause * 2, 5.0)


def build_system(settings: Settings, tracer_provider: TracerProvider | None = None) -> System:
    """A process's whole system. On PostgreSQL the schema must be this version's (``nrd db
    migrate``); the embedded SQLite stores migrate themselves. A start that cannot reach the
    database tries again for ``settings.connect_timeout`` seconds (``_retrying``)."""
    return _retrying(settings, lambda: _build_system(settings, tracer_provider))


def _build_system(settings: Settings, tracer_provider: TracerProvider | None) -> System:
    tracer = tracer_from(tracer_provider)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    starting = (
        contextlib.nullcontext()
        if settings.uses_postgres
        else sqlite_startup_lock(settings.data_dir)
    )
    with starting:
        parts = _parts(settings, tracer)
        try:
            if settings.uses_postgres:
                migrations.check(parts.store)
                recorder = parts.app.recorder
                if isinstance(recorder, LockedInsertRecorder):
                    recorder.check_isolation()
            else:
                migrations.migrate(parts.target())
            parts.app.finish_erasures()  # whatever a crash left half done
        except BaseException:
            parts.close()
            raise
    app, store, keys, reads, vault, projector = (
        parts.app,
        parts.store,
        parts.keys,
        parts.reads,
        parts.vault,
        parts.projector,
    )
    access = AccessLog(reads)
    policy = load_policy()
    limits = Limits(
        max_depth=settings.max_depth,
        max_aliases=settings.max_aliases,
        max_tokens=settings.max_tokens,
    )
    gate_holder: list[DocumentGate] = []
    extensions: list[Any] = [lambda: GateExtension(gate_holder[0])]
    if tracing(tracer):
        extensions.append(lambda: OperationSpan(tracer))
    schema = build_schema(extensions)
    gate = DocumentGate(schema, policy, limits, cache_bytes=settings.cache_bytes("documents"))
    gate_holder.append(gate)
    return System(
        settings=settings,
        app=app,
        store=store,
        keys=keys,
        vault=vault,
        access=access,
        audit=AuditTrail(app),
        cases=CaseQueries(store, _settler(settings, projector)),
        contacts=ContactQueries(store, _settler(settings, projector)),
        projector=projector,
        directory=DirectoryQueries(store),
        protocols=ProtocolQueries(store),
        work=WorkQueries(store, settings.delays, _settler(settings, projector)),
        memberships=MemberQueries(store),
        policy=policy,
        schema=schema,
        gate=gate,
        tracer=tracer,
        limiter=anyio.CapacityLimiter(settings.threads),
        commands=CommandThreads(settings.command_threads, settings.lock_timeout_ms / 1000),
        rate_limits=RateLimiter(settings.rate_limit_per_minute),
    )
