"""The write path: how every command gets, decides and saves, once, under concurrency.

A command (``WritePath._run``) gets the aggregate it changes, lets the aggregate decide, and saves
the aggregate's new events together with an idempotency record in one atomic write. The record's
id comes from the caller's identity and idempotency key, so a repeated key finds it and returns
the first result (``_prior``), and a lost commit acknowledgement cannot write twice. A version
conflict goes round again on state brought up to date, with jittered backoff, a bounded number of
times (``MAX_ATTEMPTS``), then surfaces as the retryable ``ConcurrentUpdate``. A record whose
stored events cannot be read is refused by name (``RecordUnreadable``).

The trust window. Aggregates are cached in the process (``CopyingRepository``, bounded in bytes by
``SizedCache``). A command decides on the cached aggregate as it is when this process saved it, or
brought it up to date, less than ``TRUST_SECONDS`` ago; otherwise it first reads the events stored
since. Deciding on a record another process changed meanwhile is safe, because of the next point.

Recorded reads. Everything a decision reads or changes is noted with the version it saw
(``Decision.reads``), and the save passes those versions to the recorder, whose insert statement
refuses the write if any of them has moved on (``relied_on``; ``api/infrastructure/recorders.py``).
A write refused so, or a refusal decided on trusted state, sends the command round again on state
brought up to date: only current state may refuse a command. A check that something is absent
(``_absent``) is noted as version 0, so a record stored there meanwhile refuses the write too.

Lock waits with private copies. A command decides on the cached object itself and saves it under
the aggregate's lock (``CopyingRepository.changing``): no copy, and a failed decision evicts the
object so only saved state stays cached. Reads of other records during a decision (the
organization a referral goes to) are made under their locks from the cached objects, without a
copy when only a few facts are needed (``_read``). A command never waits long for a second lock
while it holds one: past ``HOLDING_WAIT_SECONDS``, or at once for a lock this thread holds, the
read loads a private copy from the store instead, so two commands can never wait on each other.

Write-behind projections. A save writes only events (and the idempotency record); the read models
in ``projections/`` follow the notification log afterwards (``projections/runner.py``). A command's
``Outcome`` carries the log position it reached, which the API uses to wait for the read models
when a client asks to read its own write.

The library's private members this needs are wrapped in ``domain/eventsourcing_adapter.py``.
"""

from __future__ import annotations

import contextlib
import copy
import pickle
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import (
    AggregateNotFoundError,
    Cache,
    Repository,
    project_aggregate,
)
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, MapperDeserialisationError
from eventsourcing.utils import TopicError, strtobool

from domain.base import ANONYMOUS_ROLE, DomainError, NotFound, current_actor
from domain.bounded import BoundedCache
from domain.eventsourcing_adapter import AdaptedApplication, AdaptedRepository
from domain.idempotency import Fingerprint, IdempotencyRecord, fingerprint, record_id

MAX_ATTEMPTS = 12
BACKOFF_SECONDS = 0.004  # doubled per attempt, with full jitter, capped at MAX_BACKOFF_SECONDS
MAX_BACKOFF_SECONDS = 0.25
# How long a command holding its aggregate's lock waits for another's before reading a private
# copy of that one instead (see CopyingRepository).
HOLDING_WAIT_SECONDS = 0.05
# How long after this process saved an aggregate, or brought it up to date, a command decides
# on the cached object as it is, asking the store nothing. Commands on one record come in
# bursts (a consent, then the referral it allows); between bursts, another process (behind the
# same load balancer) has often written to it. Deciding on such a record as cached costs a
# refused write and a reload from its snapshot, where bringing it up to date first costs one
# read of the events since: a record not seen for longer is brought up to date first.
TRUST_SECONDS = 1.0
A = TypeVar("A", bound=Aggregate)
T = TypeVar("T")


class ConcurrentUpdate(DomainError):
    code = "CONCURRENT_UPDATE"
    retryable = True


class RecordUnreadable(DomainError):
    """A record's stored events cannot be read back (a damaged row, or an event this version
    does not know): nothing can be decided on it until an operator repairs it."""

    code = "RECORD_UNREADABLE"


UNREADABLE = (MapperDeserialisationError, TopicError)


@dataclass(frozen=True)
class Outcome:
    """What a command did: the aggregate it touched, its version, and the log position reached."""

    id: UUID
    version: int
    position: int
    replayed: bool = False
    # The topics of the events it wrote (None when not known: a replayed result).
    topics: frozenset[str] | None = None


class SizedCache(Cache[UUID, Any]):
    """The library's cache interface (``Repository.cache``) over a ``BoundedCache``: the
    aggregates kept are bounded by their bytes as well as by their count."""

    def __init__(self, max_bytes: int, max_entries: int | None) -> None:
        super().__init__()
        self.entries: BoundedCache[UUID, Any] = BoundedCache(max_bytes, max_entries)

    def get(self, key: UUID, *, evict: bool = False) -> Any:
        value = self.entries.pop(key) if evict else self.entries.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def put(self, key: UUID, value: Any) -> None:
        if value is not None:
            self.entries.put(key, value)

    def __contains__(self, key: object) -> bool:
        return key in self.entries


class CopyingRepository(AdaptedRepository):
    """Cached aggregates, brought up to date and copied under one lock, or changed in place
    under it.

    The library's cache folds new events into the cached aggregate under a per-aggregate lock,
    but copies it for the caller after releasing that lock: a copy taken while another thread
    folds events into the same object fails ("dictionary changed size during iteration"). Here
    the lookup, the fold and the copy happen under the lock together; a fold that fails evicts
    the aggregate, so no half-folded object stays cached. A command needs no copy at all: it
    decides on the cached object and saves it under the lock (``changing``). Nor does it fold
    what it has known current for a moment: inside its decision (``deciding``) such cached
    aggregates are taken as they are, the versions read are noted, and the write checks them.

    A thread holding one aggregate's lock never waits long for another's: a command checks
    records it names (a case command reads the organization, agency or protocol given to it)
    while it holds its own, and a client could name another case there, whose command names
    this one. Past a moment's wait, or at once for its own aggregate, such a read loads a
    private copy from the store instead, so no two commands can ever wait on each other."""

    def __init__(self, *args: Any, cache_bytes: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.cache is not None and cache_bytes is not None:
            self.cache = SizedCache(cache_bytes, getattr(self.cache, "maxsize", None))
        self._local = threading.local()
        # When each cached aggregate was last known to be current, oldest first; entries
        # older than TRUST_SECONDS are dropped as new ones come.
        self._current_at: OrderedDict[UUID, float] = OrderedDict()
        self._current_at_lock = threading.Lock()

    def get(
        self,
        aggregate_id: UUID,
        *,
        version: int | None = None,
        projector_func: Any = project_aggregate,
        fastforward_skipping: bool = False,
        deepcopy_from_cache: bool = True,
    ) -> Any:
        """The aggregate as stored now, as a copy of its own. Always a deep copy: a shallow
        one would share the lists and dicts a later command changes in place. Inside a
        decision (``deciding``) a cached aggregate is taken as it is, and the version read is
        noted for the save to check."""
        decision = self.current_decision() if version is None else None
        if not self.cache or version is not None or not self.fastforward:
            aggregate = super().get(aggregate_id, version=version, projector_func=projector_func)
            version = aggregate.version
        else:
            aggregate, version = self._get_latest(aggregate_id, projector_func, decision)
        if decision is not None:
            decision.note(aggregate_id, version)
        return aggregate

    def read(self, aggregate_id: UUID, view: Callable[[Any], T]) -> T:
        """What ``view`` makes of the aggregate as stored now, made under the aggregate's lock
        from the cached object itself, with no copy: ``view`` must only read, and return
        values that share nothing the aggregate may change in place. Versions are noted as
        ``get`` notes them."""
        decision = self.current_decision()
        if not self.cache or not self.fastforward:
            aggregate: Any = super().get(aggregate_id)
            seen, version = view(aggregate), aggregate.version
        else:
            seen, version = self._get_latest(aggregate_id, project_aggregate, decision, view)
        if decision is not None:
            decision.note(aggregate_id, version)
        return seen

    def _get_latest(
        self,
        aggregate_id: UUID,
        projector_func: Any,
        decision: Decision | None,
        view: Callable[[Any], Any] | None = None,
    ) -> tuple[Any, int]:
        """``view`` of the latest aggregate (by default a copy of it), and its version, made
        under its lock."""
        with self._locked(aggregate_id) as locked:
            if not locked:  # loaded for this caller alone: nothing shared, nothing to copy
                aggregate = self.load(aggregate_id, projector_func)
                return (aggregate if view is None else view(aggregate)), aggregate.version
            if decision is not None and decision.trusting:
                aggregate = self._cached(aggregate_id, projector_func, decision)
            else:
                aggregate = self._current(aggregate_id, projector_func)
            return (_copy(aggregate) if view is None else view(aggregate)), aggregate.version

    @contextlib.contextmanager
    def deciding(self, *, trusting: bool) -> Iterator[Decision]:
        """A command's decision on this thread: what it reads (``get``) and changes
        (``changing``), and at which versions. ``trusting`` takes cached aggregates as they are,
        without asking the store what was written since (by another process): the save checks
        instead, in the statement that writes, that nothing the decision read or changed has
        moved on (``Decision.reads``; a version taken), and a conflict there, or a refusal
        made on such trust, sends the command round again on state brought up to date."""
        outer, decision = self.current_decision(), Decision(trusting)
        self._local.decision = decision
        try:
            yield decision
        finally:
            self._local.decision = outer

    def current_decision(self) -> Decision | None:
        decision: Decision | None = getattr(self._local, "decision", None)
        return decision

    @contextlib.contextmanager
    def changing(self, aggregate_id: UUID) -> Iterator[Any]:
        """The cached aggregate itself, brought up to date, for a command to decide on and
        save while this holds its lock (None when there is no such aggregate). Nothing is
        copied: a block that fails in any way (a decision refused after changing it, a
        conflict on saving) evicts the aggregate, so only what was saved stays cached."""
        if not self.cache or not self.fastforward:
            fresh: Any
            try:
                fresh = super().get(aggregate_id)
            except AggregateNotFoundError:
                fresh = None
            decision = self.current_decision()
            if decision is not None and fresh is not None:
                decision.note(aggregate_id, fresh.version)
            yield fresh  # loaded for this command alone: nothing shared to evict
            return
        with self._locked(aggregate_id) as locked:
            if not locked:
                raise RuntimeError("a command cannot start inside another command's decision")
            decision = self.current_decision()
            try:
                if decision is not None and decision.trusting:
                    aggregate = self._cached(aggregate_id, project_aggregate, decision)
                else:
                    aggregate = self._current(aggregate_id, project_aggregate)
            except AggregateNotFoundError:
                aggregate = None
            if decision is not None and aggregate is not None:
                # Checked by the write when the decision writes nothing to it (a no-op
                # command saves only its idempotency record); else the version it takes is.
                decision.note(aggregate_id, aggregate.version)
            try:
                yield aggregate
            except DomainError:
                # A refusal before any change leaves the aggregate as it was: kept.
                if aggregate is not None and aggregate.pending_events:
                    self._evict(aggregate_id)
                raise
            except BaseException:
                self._evict(aggregate_id)
                raise

    def _cached(self, aggregate_id: UUID, projector_func: Any, decision: Decision) -> Any:
        """The cached aggregate as it is, when it was known to be current a moment ago
        (``TRUST_SECONDS``), else brought up to date (or loaded, when not cached); call with
        its lock held."""
        assert self.cache is not None
        with self._current_at_lock:
            known = self._current_at.get(aggregate_id)
        if known is None or time.monotonic() - known > TRUST_SECONDS:
            return self._current(aggregate_id, projector_func)
        try:
            aggregate = self.cache.get(aggregate_id)
        except KeyError:
            return self._current(aggregate_id, projector_func)
        decision.trusted.add(aggregate_id)
        return aggregate

    def known_current(self, aggregate_id: UUID) -> None:
        """Notes that the aggregate is current now: just saved, or brought up to date."""
        now = time.monotonic()
        with self._current_at_lock:
            self._current_at[aggregate_id] = now
            self._current_at.move_to_end(aggregate_id)
            while now - next(iter(self._current_at.values())) > TRUST_SECONDS:
                self._current_at.popitem(last=False)

    def _current(self, aggregate_id: UUID, projector_func: Any) -> Any:
        """The cached aggregate with the events stored since folded in (loaded when not
        cached); call with its lock held."""
        assert self.cache is not None
        try:
            aggregate = self.cache.get(aggregate_id)
        except KeyError:
            aggregate = self.load(aggregate_id, projector_func)
        else:
            try:
                aggregate = projector_func(
                    aggregate,
                    self.event_store.get(originator_id=aggregate_id, gt=aggregate.version),
                )
            except BaseException:
                self._evict(aggregate_id)
                raise
            if aggregate is None:
                raise AggregateNotFoundError(aggregate_id)
        self.cache.put(aggregate_id, aggregate)
        self.known_current(aggregate_id)
        return aggregate

    def _evict(self, aggregate_id: UUID) -> None:
        assert self.cache is not None
        with self._current_at_lock:
            self._current_at.pop(aggregate_id, None)
        with contextlib.suppress(KeyError):
            self.cache.get(aggregate_id, evict=True)

    @contextlib.contextmanager
    def _locked(self, aggregate_id: UUID) -> Iterator[bool]:
        """The library's per-aggregate lock, and whether it was taken: a thread that holds
        another aggregate's lock waits at most ``HOLDING_WAIT_SECONDS`` for it, and never for
        one it holds itself."""
        held, mine = _held(), (id(self), aggregate_id)
        holding = any(repository == id(self) for repository, _ in held)
        with self.aggregate_lock(aggregate_id) as lock:
            if mine in held or not lock.acquire(timeout=HOLDING_WAIT_SECONDS if holding else -1):
                yield False
                return
            try:
                held.add(mine)
                yield True
            finally:
                held.discard(mine)
                lock.release()


@dataclass
class Decision:
    """What one command's decision read: the versions it relied on (``reads``; the save
    checks that none has moved on), and which aggregates it took from the cache without
    asking the store (``trusted``)."""

    trusting: bool
    reads: dict[UUID, int] = field(default_factory=dict)
    trusted: set[UUID] = field(default_factory=set)

    def note(self, aggregate_id: UUID, version: int) -> None:
        """A record read at this version; read twice, the older version is the one relied on."""
        self.reads[aggregate_id] = min(version, self.reads.get(aggregate_id, version))


_holding = threading.local()


def _held() -> set[tuple[int, UUID]]:
    """The (repository, aggregate) locks this thread holds."""
    held: set[tuple[int, UUID]] | None = getattr(_holding, "ids", None)
    if held is None:
        held = _holding.ids = set()
    return held


def _copy(aggregate: Any) -> Any:
    """A deep copy, through pickle: the same object graph, far faster than deepcopy."""
    try:
        # Bytes this process just made from its own object: never data from outside.
        state = pickle.dumps(aggregate, protocol=pickle.HIGHEST_PROTOCOL)
        return pickle.loads(state)  # noqa: S301
    except (pickle.PicklingError, TypeError, AttributeError):
        return copy.deepcopy(aggregate)


class WritePath(AdaptedApplication):
    """The hotline's event store with the command runner: the use cases (``domain/directory.py``,
    ``domain/cases.py``) are mixins over it, each command one call of ``_run`` or ``_change``."""

    # The name picks the tables; the library names a subclass after itself unless it repeats it.
    name = "nrd"
    # With AGGREGATE_CACHE_MAXSIZE: the cached aggregates' bytes, at most (``SizedCache``).
    AGGREGATE_CACHE_BYTES = "AGGREGATE_CACHE_BYTES"

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        keyed_digest: Callable[[str], str] | None = None,
    ) -> None:
        super().__init__(env)
        # Digests sealed text in idempotency fingerprints (the vault's key), when there is any.
        self._keyed_digest = keyed_digest

    def construct_repository(self) -> Repository[UUID]:
        """The library's repository, from the same settings, with its copies taken under the
        lock (``CopyingRepository``)."""
        size = self.env.get(self.AGGREGATE_CACHE_MAXSIZE)
        cache_bytes = self.env.get(self.AGGREGATE_CACHE_BYTES)
        return CopyingRepository(
            event_store=self.events,
            snapshot_store=self.snapshots,
            cache_maxsize=int(size) if size else None,
            cache_bytes=int(cache_bytes) if cache_bytes else None,
            fastforward=strtobool(self.env.get(self.AGGREGATE_CACHE_FASTFORWARD, "y")),
            deepcopy_from_cache=strtobool(self.env.get(self.DEEPCOPY_FROM_AGGREGATE_CACHE, "y")),
        )

    def saved(self, aggregates: dict[UUID, Any]) -> None:
        for aggregate_id in aggregates:  # no other write came between
            self._copying.known_current(aggregate_id)

    # -- the command runner --------------------------------------------------------------

    def _change(
        self,
        key: str,
        operation: str,
        aggregate_id: UUID,
        inputs: dict[str, Any],
        kind: type[A],
        decide: Callable[[A], object],
        what: str = "organization",
    ) -> Outcome:
        def decide_on(aggregate: Aggregate | None) -> A:
            if not isinstance(aggregate, kind):
                raise NotFound(f"{what} not found")
            decide(aggregate)
            return aggregate

        return self._run(
            key, operation, {"id": aggregate_id, **inputs}, decide_on, changes=aggregate_id
        )

    def _run(
        self,
        key: str,
        operation: str,
        inputs: dict[str, Any],
        decide: Callable[[Aggregate | None], Aggregate | tuple[Aggregate, ...]],
        *,
        changes: UUID | None = None,
        check_first: bool = False,
    ) -> Outcome:
        """``_decide_and_save``, refusing by name a command on a record whose stored events
        cannot be read (rather than failing as an unexpected error)."""
        try:
            return self._decide_and_save(
                key, operation, inputs, decide, changes=changes, check_first=check_first
            )
        except UNREADABLE:
            raise RecordUnreadable(
                "a record this command reads has stored events that cannot be read back, so "
                "nothing was done; an operator must repair it (`nrd projections status` "
                "lists what the read models hold back)"
            ) from None

    def _decide_and_save(
        self,
        key: str,
        operation: str,
        inputs: dict[str, Any],
        decide: Callable[[Aggregate | None], Aggregate | tuple[Aggregate, ...]],
        *,
        changes: UUID | None = None,
        check_first: bool = False,
    ) -> Outcome:
        """Runs ``decide`` and saves its aggregate with the key's record.

        ``decide`` gets the aggregate ``changes`` names, as stored now (None for a command that
        makes a new one, or when there is no such aggregate), and returns the aggregate to
        save (or a tuple: the aggregate, then new ones saved with it in the same write); the
        decision and the save happen under that aggregate's lock, on the cached object itself
        (``CopyingRepository.changing``).

        A repeated key is found without a lookup on the first pass: its record already exists,
        so the save fails as a conflict (or the decision is refused), and the next pass finds
        the record and returns the first result. ``check_first`` looks before deciding, for a
        decision with effects outside its events (a new case's key)."""
        actor = current_actor()
        # Keys belong to one user in one role and organization: nobody can block, or replay,
        # another's.
        identity = "\x1f".join([actor.role, actor.organization_id or "", actor.user_id])
        rec_id = record_id(identity, key, shared=actor.role == ANONYMOUS_ROLE)
        digest = self._fingerprint(operation, inputs)
        repository = self._copying
        pause_first = False
        for attempt in range(MAX_ATTEMPTS + 1):
            if pause_first:
                # Writers that lost a race retry at spread-out moments, not all at once again.
                pause = min(MAX_BACKOFF_SECONDS, BACKOFF_SECONDS * 2**attempt)
                time.sleep(random.uniform(0, pause))  # noqa: S311 - jitter, not a secret
            looked = bool(attempt) or check_first
            if looked and (prior := self._prior(rec_id, digest)) is not None:
                return prior
            # The first pass decides on cached aggregates as they are; the save finds out if
            # they were stale. Every later pass brings them up to date first.
            decision: Decision | None = None
            try:
                with (
                    repository.deciding(trusting=not attempt) as decision,
                    self._changing(changes) as current,
                ):
                    decided = decide(current)
                    aggregate, *alongside = decided if isinstance(decided, tuple) else (decided,)
                    # What is saved is what was changed under the lock, nothing else.
                    assert changes is None or (aggregate is current and not alongside)
                    record = IdempotencyRecord.record(
                        rec_id,
                        operation,
                        digest.digest,
                        {"id": str(aggregate.id), "version": aggregate.version},
                    )
                    recordings = self.save(aggregate, *alongside, record, relied_on=decision.reads)
                    outcome = Outcome(
                        aggregate.id,
                        aggregate.version,
                        max(r.notification.id for r in recordings),
                        topics=frozenset(r.notification.topic for r in recordings),
                    )
            except DomainError:
                # Refused now, perhaps because this very request already happened.
                if not looked and (prior := self._prior(rec_id, digest)) is not None:
                    return prior
                assert decision is not None
                if not decision.trusted:
                    raise
                # Refused on cached state nobody checked: only state brought up to date
                # refuses, on the next pass.
                pause_first = False
                continue
            except IntegrityError:
                # A concurrent writer took this version, a record the decision read has
                # moved on, or a lost acknowledgement hid our own success: the next pass
                # sees which, on state brought up to date. Only a race on state already
                # brought up to date waits first.
                assert decision is not None
                pause_first = not decision.trusted
                continue
            return outcome
        prior = self._prior(rec_id, digest)
        if prior is not None:
            return prior
        raise ConcurrentUpdate(
            "the record was changed by someone else at the same moment; "
            "try again with the same idempotency key"
        )

    @property
    def _copying(self) -> CopyingRepository:
        repository = self.repository
        assert isinstance(repository, CopyingRepository)
        return repository

    def _changing(self, aggregate_id: UUID | None) -> contextlib.AbstractContextManager[Any]:
        if aggregate_id is None:
            return contextlib.nullcontext()
        return self._copying.changing(aggregate_id)

    def _fingerprint(self, operation: str, inputs: dict[str, Any]) -> Fingerprint:
        """The request's fingerprint, its sealed text digested with the vault's key."""
        return fingerprint(operation, inputs, self._keyed_digest)

    def _prior(self, rec_id: UUID, digest: Fingerprint) -> Outcome | None:
        try:
            record: IdempotencyRecord = self.repository.get(rec_id)
        except AggregateNotFoundError:
            return None
        record.check_same_request(digest)
        return Outcome(
            UUID(record.result["id"]),
            int(record.result["version"]),
            self.recorder.max_notification_id() or 0,
            replayed=True,
        )

    def _get(self, aggregate_id: UUID, kind: type[A], what: str) -> A:
        """The aggregate as stored now, a copy of its own."""
        aggregate: Aggregate | None
        try:
            aggregate = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            aggregate = None
        if not isinstance(aggregate, kind):
            raise NotFound(f"{what} not found")
        return aggregate

    def _read(self, aggregate_id: UUID, kind: type[A], what: str, view: Callable[[A], T]) -> T:
        """What ``view`` makes of the aggregate as stored now, with no copy of it
        (``CopyingRepository.read``): for a check that needs a few facts of a record."""

        def checked(aggregate: Any) -> T:
            if not isinstance(aggregate, kind):
                raise NotFound(f"{what} not found")
            return view(aggregate)

        try:
            return self._copying.read(aggregate_id, checked)
        except AggregateNotFoundError:
            pass
        raise NotFound(f"{what} not found")

    def _absent(self, aggregate_id: UUID) -> bool:
        """Whether nothing is stored at this id, asked of the store itself. The command's
        decision relies on it: its write is refused if something is stored there meanwhile."""
        absent = not self.recorder.select_events(aggregate_id, limit=1)
        decision = self._copying.current_decision()
        if absent and decision is not None:
            decision.note(aggregate_id, 0)
        return absent
