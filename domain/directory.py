"""The directory's use cases: one method per command, each idempotent and retried on conflict.

Every command runs through ``_run``: it returns the first result for a repeated idempotency
key, lets the aggregate decide, and saves the aggregate's events together with the idempotency
record in one atomic write. The decision is taken on the process's cached aggregates as they
are, when this process saved or brought them up to date a moment ago (``TRUST_SECONDS``), and
on them brought up to date first otherwise; the write itself refuses it if any record it read
or changed has moved on since (another process wrote), and the command goes round again on
state brought up to date. A version conflict (a concurrent writer) is retried a bounded number
of times, then surfaces as the retryable ``ConcurrentUpdate``.
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
from uuid import UUID, uuid4

from eventsourcing.application import (
    AggregateNotFoundError,
    Application,
    Cache,
    ProcessingEvent,
    Repository,
    project_aggregate,
)
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, MapperDeserialisationError, Recording
from eventsourcing.utils import TopicError, strtobool

from domain.base import ANONYMOUS_ROLE, DomainError, NotFound, current_actor
from domain.bounded import BoundedCache
from domain.idempotency import Fingerprint, IdempotencyRecord, fingerprint, record_id
from domain.jurisdiction_claim import JurisdictionClaim
from domain.organization import ContactOutcome, Organization, RemovalReason
from domain.reporting_protocol import NotALawEnforcementAgency, ProtocolExists, ReportingProtocol
from domain.rules import UNREACHABLE_AFTER
from domain.vocabulary import (
    OrganizationKind,
    parse_contacts,
    parse_criteria,
    parse_jurisdiction,
    parse_profile,
)

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


class CopyingRepository(Repository[UUID]):
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

    def get(self, aggregate_id: UUID, *, version: int | None = None,
            projector_func: Any = project_aggregate, fastforward_skipping: bool = False,
            deepcopy_from_cache: bool = True) -> Any:
        """The aggregate as stored now, as a copy of its own. Always a deep copy: a shallow
        one would share the lists and dicts a later command changes in place. Inside a
        decision (``deciding``) a cached aggregate is taken as it is, and the version read is
        noted for the save to check."""
        decision = self._decision() if version is None else None
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
        decision = self._decision()
        if not self.cache or not self.fastforward:
            aggregate: Any = super().get(aggregate_id)
            seen, version = view(aggregate), aggregate.version
        else:
            seen, version = self._get_latest(aggregate_id, project_aggregate, decision, view)
        if decision is not None:
            decision.note(aggregate_id, version)
        return seen

    def _get_latest(self, aggregate_id: UUID, projector_func: Any, decision: Decision | None,
                    view: Callable[[Any], Any] | None = None) -> tuple[Any, int]:
        """``view`` of the latest aggregate (by default a copy of it), and its version, made
        under its lock."""
        with self._locked(aggregate_id) as locked:
            if not locked:  # loaded for this caller alone: nothing shared, nothing to copy
                aggregate = self._reconstruct_aggregate(aggregate_id, None, projector_func)
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
        outer, decision = self._decision(), Decision(trusting)
        self._local.decision = decision
        try:
            yield decision
        finally:
            self._local.decision = outer

    def _decision(self) -> Decision | None:
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
            decision = self._decision()
            if decision is not None and fresh is not None:
                decision.note(aggregate_id, fresh.version)
            yield fresh  # loaded for this command alone: nothing shared to evict
            return
        with self._locked(aggregate_id) as locked:
            if not locked:
                raise RuntimeError("a command cannot start inside another command's decision")
            decision = self._decision()
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

    def _known_current(self, aggregate_id: UUID) -> None:
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
            aggregate = self._reconstruct_aggregate(aggregate_id, None, projector_func)
        else:
            try:
                aggregate = projector_func(aggregate, self.event_store.get(
                    originator_id=aggregate_id, gt=aggregate.version))
            except BaseException:
                self._evict(aggregate_id)
                raise
            if aggregate is None:
                raise AggregateNotFoundError(aggregate_id)
        self.cache.put(aggregate_id, aggregate)
        self._known_current(aggregate_id)
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
        lock = self._use_fastforward_lock(aggregate_id)
        try:
            if mine in held or not lock.acquire(timeout=HOLDING_WAIT_SECONDS if holding else -1):
                yield False
                return
            try:
                held.add(mine)
                yield True
            finally:
                held.discard(mine)
                lock.release()
        finally:
            self._disuse_fastforward_lock(aggregate_id)


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
    """A deep copy, through pickle: the same object graph, in a third of deepcopy's time."""
    try:
        # Bytes this process just made from its own object: never data from outside.
        state = pickle.dumps(aggregate, protocol=pickle.HIGHEST_PROTOCOL)
        return pickle.loads(state)  # noqa: S301
    except (pickle.PicklingError, TypeError, AttributeError):
        return copy.deepcopy(aggregate)


class DirectoryApplication(Application[UUID]):
    name = "nrd"
    # With AGGREGATE_CACHE_MAXSIZE: the cached aggregates' bytes, at most (``SizedCache``).
    AGGREGATE_CACHE_BYTES = "AGGREGATE_CACHE_BYTES"

    def construct_repository(self) -> Repository[UUID]:
        """The library's repository, from the same settings, with its copies taken under the
        lock (``CopyingRepository``)."""
        size = self.env.get(self.AGGREGATE_CACHE_MAXSIZE)
        cache_bytes = self.env.get(self.AGGREGATE_CACHE_BYTES)
        return CopyingRepository(
            event_store=self.events, snapshot_store=self.snapshots,
            cache_maxsize=int(size) if size else None,
            cache_bytes=int(cache_bytes) if cache_bytes else None,
            fastforward=strtobool(self.env.get(self.AGGREGATE_CACHE_FASTFORWARD, "y")),
            deepcopy_from_cache=strtobool(self.env.get(self.DEEPCOPY_FROM_AGGREGATE_CACHE, "y")))

    def __init__(self, env: Mapping[str, str] | None = None, *,
                 unreachable_after: int = UNREACHABLE_AFTER,
                 claim_key: bytes | None = None) -> None:
        super().__init__(env)
        self.unreachable_after = unreachable_after
        # The key of jurisdiction claims' ids: the same in every process on one store, and
        # never stored with it (the composition root derives it from the master key).
        self._claim_key = claim_key

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        """The library's ``save``, but that the events of this project's aggregates are
        collected without its runtime Protocol checks: on Python 3.11 each such check lists
        the protocol's members anew, a noticeable share of a command's time. Anything else
        is collected the library's way."""
        processing_event: ProcessingEvent[UUID] = ProcessingEvent()
        for obj in objs:
            if isinstance(obj, Aggregate):
                processing_event.events.extend(obj.collect_events())
                processing_event.aggregates[obj.id] = obj
            else:
                processing_event.collect_events(obj)
        processing_event.saved_kwargs.update(kwargs)
        recordings = self._record(processing_event)
        for aggregate_id in processing_event.aggregates:  # no other write came between
            self._copying._known_current(aggregate_id)
        self._take_snapshots(processing_event)
        self._notify(recordings)
        return recordings

    def _take_snapshots(self, processing_event: ProcessingEvent[UUID]) -> None:
        """A snapshot of each saved aggregate whose new events reached a multiple of its
        interval, taken from the aggregate just saved rather than (as the library does) from
        one loaded and folded again from the store: it is that state, still under its lock.
        When a save's events pass the multiple (version 50 of 49 to 51), the snapshot is of
        the state the save ended at (51): a load or a replay folds from any version."""
        if not (self.snapshots and self.snapshotting_intervals):
            return
        for aggregate_id, aggregate in processing_event.aggregates.items():
            interval = self.snapshotting_intervals.get(type(aggregate))
            if interval is None or not any(
                    event.originator_id == aggregate_id and event.originator_version % interval == 0
                    for event in processing_event.events):
                continue
            snapshot_class: Any = getattr(type(aggregate), "Snapshot", type(self).snapshot_class)
            self.snapshots.put([snapshot_class.take(aggregate)])

    # -- inclusion ---------------------------------------------------------------------

    def apply_for_inclusion(self, key: str, profile: dict[str, Any], criteria: list[str],
                            public_listing: bool) -> Outcome:
        clean = parse_profile(profile)
        attested = parse_criteria(criteria)
        new_id = uuid4()
        return self._run(key, "applyForInclusion", {"profile": clean, "criteria": attested,
                                                    "publicListing": public_listing},
                         lambda _new: Organization.submit_application(
                             id=new_id, profile=clean, criteria=attested,
                             public_listing=public_listing))

    def start_review(self, key: str, org_id: UUID) -> Outcome:
        return self._change(key, "startReview", org_id, {}, Organization,
                            lambda o: o.start_review())

    def request_more_information(self, key: str, org_id: UUID, questions: str) -> Outcome:
        return self._change(key, "requestMoreInformation", org_id, {"questions": questions},
                            Organization, lambda o: o.request_more_information(questions))

    def provide_information(self, key: str, org_id: UUID, answers: str,
                            criteria: list[str] | None) -> Outcome:
        attested = None if criteria is None else parse_criteria(criteria)
        return self._change(key, "provideInformation", org_id,
                            {"answers": answers, "criteria": attested}, Organization,
                            lambda o: o.provide_information(answers, attested))

    def approve_inclusion(self, key: str, org_id: UUID, note: str) -> Outcome:
        return self._change(key, "approveInclusion", org_id, {"note": note}, Organization,
                            lambda o: o.approve_inclusion(note))

    def decline_inclusion(self, key: str, org_id: UUID, reason: str) -> Outcome:
        return self._change(key, "declineInclusion", org_id, {"reason": reason}, Organization,
                            lambda o: o.decline_inclusion(reason))

    # -- keeping the record current ----------------------------------------------------

    def submit_profile_update(self, key: str, org_id: UUID, profile: dict[str, Any]) -> Outcome:
        clean = parse_profile(profile)
        return self._change(key, "submitProfileUpdate", org_id, {"profile": clean},
                            Organization, lambda o: o.submit_profile_update(clean))

    def accept_profile_update(self, key: str, org_id: UUID) -> Outcome:
        return self._change(key, "acceptProfileUpdate", org_id, {}, Organization,
                            lambda o: o.accept_profile_update())

    def reject_profile_update(self, key: str, org_id: UUID, reason: str) -> Outcome:
        return self._change(key, "rejectProfileUpdate", org_id, {"reason": reason},
                            Organization, lambda o: o.reject_profile_update(reason))

    def set_public_listing(self, key: str, org_id: UUID, listed: bool) -> Outcome:
        return self._change(key, "setPublicListing", org_id, {"listed": listed}, Organization,
                            lambda o: o.set_public_listing(listed))

    def confirm_review(self, key: str, org_id: UUID, note: str) -> Outcome:
        return self._change(key, "confirmReview", org_id, {"note": note}, Organization,
                            lambda o: o.confirm_review(note))

    def record_contact_attempt(self, key: str, org_id: UUID, outcome: ContactOutcome,
                               note: str) -> Outcome:
        return self._change(key, "recordContactAttempt", org_id,
                            {"outcome": outcome.value, "note": note}, Organization,
                            lambda o: o.record_contact_attempt(outcome, note,
                                                               self.unreachable_after))

    # -- misconduct, removal, reinstatement --------------------------------------------

    def record_misconduct_allegation(self, key: str, org_id: UUID, summary: str) -> Outcome:
        return self._change(key, "recordMisconductAllegation", org_id, {"summary": summary},
                            Organization, lambda o: o.record_misconduct_allegation(summary))

    def request_removal(self, key: str, org_id: UUID, note: str) -> Outcome:
        return self._change(key, "requestRemoval", org_id, {"note": note}, Organization,
                            lambda o: o.request_removal(note))

    def remove_organization(self, key: str, org_id: UUID, reason: RemovalReason,
                            note: str) -> Outcome:
        return self._change(key, "removeOrganization", org_id,
                            {"reason": reason.value, "note": note}, Organization,
                            lambda o: o.remove(reason, note))

    def reinstate_organization(self, key: str, org_id: UUID, reason: str) -> Outcome:
        return self._change(key, "reinstateOrganization", org_id, {"reason": reason},
                            Organization, lambda o: o.reinstate(reason))

    # -- reporting protocols -----------------------------------------------------------

    def establish_reporting_protocol(self, key: str, agency_id: UUID, province: str,
                                     municipality: str | None,
                                     contacts: list[dict[str, Any]]) -> Outcome:
        jurisdiction = parse_jurisdiction(province, municipality)
        clean = parse_contacts(contacts)
        if self._claim_key is None:
            raise RuntimeError("this application was built without a claim_key")
        claim_id = JurisdictionClaim.id_for(self._claim_key, agency_id, jurisdiction)
        new_id = uuid4()

        def establish(_new: object) -> tuple[ReportingProtocol, JurisdictionClaim]:
            agency = self._get(agency_id, Organization, "organization")
            if agency.profile["kind"] != OrganizationKind.LAW_ENFORCEMENT_AGENCY.value:
                raise NotALawEnforcementAgency(
                    "a reporting protocol belongs to a law-enforcement agency; "
                    "this organization is of another kind"
                )
            # A protocol established before ids were random has no claim: its own id is one.
            legacy_id = ReportingProtocol.legacy_id_for(agency_id, jurisdiction)
            if not (self._absent(claim_id) and self._absent(legacy_id)):
                raise ProtocolExists(
                    "this agency already has a reporting protocol for this jurisdiction; "
                    "revise its contacts instead"
                )
            protocol = ReportingProtocol.establish(new_id, agency_id, jurisdiction, clean)
            return protocol, JurisdictionClaim.claim(claim_id, protocol.id)

        return self._run(key, "establishReportingProtocol",
                         {"agency": agency_id, "jurisdiction": jurisdiction, "contacts": clean},
                         establish)

    def revise_protocol_contacts(self, key: str, protocol_id: UUID,
                                 contacts: list[dict[str, Any]], note: str) -> Outcome:
        clean = parse_contacts(contacts)
        return self._change(key, "reviseProtocolContacts", protocol_id,
                            {"contacts": clean, "note": note}, ReportingProtocol,
                            lambda p: p.revise_contacts(clean, note), what="reporting protocol")

    # -- reads the API needs before a decision -------------------------------------------

    def protocol_agency(self, protocol_id: UUID) -> UUID:
        return self._get(protocol_id, ReportingProtocol, "reporting protocol").agency_id

    # -- the command runner --------------------------------------------------------------

    def _change(self, key: str, operation: str, aggregate_id: UUID, inputs: dict[str, Any],
                kind: type[A], decide: Callable[[A], object], what: str = "organization",
                ) -> Outcome:
        def decide_on(aggregate: Aggregate | None) -> A:
            if not isinstance(aggregate, kind):
                raise NotFound(f"{what} not found")
            decide(aggregate)
            return aggregate

        return self._run(key, operation, {"id": aggregate_id, **inputs}, decide_on,
                         changes=aggregate_id)

    def _run(self, key: str, operation: str, inputs: dict[str, Any],
             decide: Callable[[Aggregate | None], Aggregate | tuple[Aggregate, ...]], *,
             changes: UUID | None = None, check_first: bool = False) -> Outcome:
        """``_decide_and_save``, refusing by name a command on a record whose stored events
        cannot be read (rather than failing as an unexpected error)."""
        try:
            return self._decide_and_save(key, operation, inputs, decide, changes=changes,
                                         check_first=check_first)
        except UNREADABLE:
            raise RecordUnreadable(
                "a record this command reads has stored events that cannot be read back, so "
                "nothing was done; an operator must repair it (`nrd projections status` "
                "lists what the read models hold back)") from None

    def _decide_and_save(self, key: str, operation: str, inputs: dict[str, Any],
                         decide: Callable[[Aggregate | None], Aggregate | tuple[Aggregate, ...]],
                         *,
                         changes: UUID | None = None, check_first: bool = False) -> Outcome:
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
                pause = min(MAX_BACKOFF_SECONDS, BACKOFF_SECONDS * 2 ** attempt)
                time.sleep(random.uniform(0, pause))  # noqa: S311 - jitter, not a secret
            looked = bool(attempt) or check_first
            if looked and (prior := self._prior(rec_id, digest)) is not None:
                return prior
            # The first pass decides on cached aggregates as they are; the save finds out if
            # they were stale. Every later pass brings them up to date first.
            decision: Decision | None = None
            try:
                with (repository.deciding(trusting=not attempt) as decision,
                      self._changing(changes) as current):
                    decided = decide(current)
                    aggregate, *alongside = decided if isinstance(decided, tuple) else (decided,)
                    # What is saved is what was changed under the lock, nothing else.
                    assert changes is None or (aggregate is current and not alongside)
                    record = IdempotencyRecord.record(
                        rec_id, operation, digest.digest,
                        {"id": str(aggregate.id), "version": aggregate.version})
                    recordings = self.save(aggregate, *alongside, record,
                                           relied_on=decision.reads)
                    outcome = Outcome(aggregate.id, aggregate.version,
                                      max(r.notification.id for r in recordings),
                                      topics=frozenset(r.notification.topic
                                                       for r in recordings))
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
        """The request's fingerprint (an application that seals text keys its digest)."""
        return fingerprint(operation, inputs)

    def _prior(self, rec_id: UUID, digest: Fingerprint) -> Outcome | None:
        try:
            record: IdempotencyRecord = self.repository.get(rec_id)
        except AggregateNotFoundError:
            return None
        record.check_same_request(digest)
        return Outcome(UUID(record.result["id"]), int(record.result["version"]),
                       self.recorder.max_notification_id() or 0, replayed=True)

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
        decision = self._copying._decision()
        if absent and decision is not None:
            decision.note(aggregate_id, 0)
        return absent
