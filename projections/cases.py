"""Case read models: the staff case list, the partner referral inbox, the law-enforcement
report inbox, the disclosure ledger, and de-identified counts.

Personal data stays sealed here as in the events; the repeat-caller lookup is a keyed digest
of the phone number, never the number. Inboxes hold only what was disclosed (sealed), the
needs, the mode and the date, the recipient's own answer or acknowledgement, and whether the
consent behind the disclosure was withdrawn: never the case.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NotRequired, TypedDict, cast
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.utils import get_topic

from domain.case import Case, Disclosure, ReferralAnswer, ReportAcknowledgement
from domain.rules import suppress_small_counts
from domain.vault import Vault
from projections.aggregates import AggregateProjection, History, iso
from projections.queues import CASE_WORK, create_item_table, write_items
from projections.sql import Cursor, Int8s, Texts, ViewStore, dump_doc, insert_rows, load_doc

# Each inbox and the column naming whose it is. Table names reach SQL only from here.
INBOX_OWNER = {"referral_inbox": "organization_id", "report_inbox": "agency_id"}
CASE_COLUMNS = (
    "id",
    "open",
    "urgency",
    "province",
    "situation_type",
    "assigned_to",
    "opened_at",
    "phone_lookup",
    "statistics_until",
    "doc",
)
# The rows a case has besides its own, each set named by the case's id.
ITEM_TABLES = (
    "case_needs",
    "referral_inbox",
    "report_inbox",
    "disclosure_ledger",
    "supervisor_requests",
)
# A supervisor request as the open-requests read model keeps it: whose case, when, by whom,
# answered or not (``answered_at`` null while open), and the question, sealed with the case key.
REQUEST_COLUMNS = (
    "id",
    "case_id",
    "requested_at",
    "requested_by",
    "answered_at",
    "answered_by",
    "question",
)
# Cases flagged for a mandatory-report decision: one row each, from the flag on (a work queue).
MANDATORY_REPORTS = "mandatory_report_queue"
TABLES = ("cases", *ITEM_TABLES, MANDATORY_REPORTS)
# The events that add or change inbox, ledger or request rows, and the attribute naming them
# (one id, or a list of ids).
ITEM_EVENTS: dict[type[Any], tuple[str, str]] = {
    Case.SupervisorRequested: ("supervisor_requests", "supervisor_request_id"),
    Case.SupervisorConsulted: ("supervisor_requests", "answers"),
    Case.InformationDisclosed: ("disclosure_ledger", "disclosure_id"),
    Case.ReferralMade: ("referral_inbox", "referral_id"),
    Case.ReferralOutcomeReported: ("referral_inbox", "referral_id"),
    Case.ReportedToLawEnforcement: ("report_inbox", "report_id"),
    Case.ReferralAnswered: ("referral_inbox", "referral_id"),
    Case.ReportAcknowledged: ("report_inbox", "report_id"),
}
# The events that change nothing but the case's own row. Any event in neither set (a new case,
# new details and needs, an erasure that empties every sealed copy, or an event added later)
# has all of the case's rows written again.
CASE_ROW_EVENTS: frozenset[type[Any]] = frozenset(
    {
        Case.ConsentGranted,
        Case.EmergencyServicesContacted,
        Case.Closed,
        Case.Reopened,
        Case.LegalHoldPlaced,
        Case.LegalHoldReleased,
    }
)
Items = dict[str, set[str]]


def _touched(case: Case, events: Sequence[DomainEventProtocol[Any]]) -> Items | None:
    """The inbox and ledger rows these events add or change, by table; None when they may
    change any of the case's rows."""
    items: Items = {table: set() for table in ITEM_TABLES}
    for event in events:
        kind = type(event)
        if kind in ITEM_EVENTS:
            table, attribute = ITEM_EVENTS[kind]
            named = getattr(event, attribute)
            items[table].update(named if isinstance(named, list) else [named])
        elif kind is Case.ConsentWithdrawn:
            # The inbox items disclosed under the consent: their recipients are told.
            consent = cast(Case.ConsentWithdrawn, event).consent_id
            for table, held in (("referral_inbox", case.referrals), ("report_inbox", case.reports)):
                items[table] |= {
                    item_id
                    for item_id, item in held.items()
                    if _consent_of(case, item["disclosureId"]) == consent
                }
        elif kind not in CASE_ROW_EVENTS:
            return None
    return items


def _consent_of(case: Case, disclosure_id: str | None) -> str | None:
    disclosure = None if disclosure_id is None else case.disclosures.get(disclosure_id)
    return None if disclosure is None else disclosure["consentId"]


def _withdrawn(case: Case, disclosure: Disclosure) -> bool:
    """Whether the consent a disclosure rested on has been withdrawn since (never, for one
    made under an exception)."""
    consent = disclosure["consentId"]
    return consent is not None and case.consents[consent]["withdrawnAt"] is not None


class Held(TypedDict):
    sealedCopy: str
    fields: list[str]
    consentWithdrawn: bool


def _held(case: Case, disclosure: Disclosure) -> Held:
    """What an inbox item keeps of the disclosure it came with: the sealed copy, the fields'
    names, and whether the consent behind it has been withdrawn since. A withdrawal stops
    future disclosures; what the recipient already holds it still holds (only an erasure takes
    that), and it is told of the withdrawal, and nothing more: not why, not when."""
    return {
        "sealedCopy": disclosure["sealedCopy"],
        "fields": disclosure["fields"],
        "consentWithdrawn": _withdrawn(case, disclosure),
    }


def _wanted(items: Items | None, table: str, item_id: str) -> bool:
    return items is None or item_id in items[table]


class CaseDoc(TypedDict):
    """A case as its read model keeps it (``cases.doc``): the aggregate's state with instants
    as text and without the disclosures' sealed copies (which only their recipients read)."""

    id: str
    version: int
    open: bool
    channel: str
    language: str
    relationship: str
    hasPersonalData: bool
    sealedPersonal: str
    details: dict[str, Any]
    openedAt: str | None
    updatedAt: str | None
    consultations: list[dict[str, Any]]
    supervisorRequests: list[dict[str, Any]]
    supervisorDecisionRequired: bool
    consents: list[dict[str, Any]]
    disclosures: list[dict[str, Any]]
    referrals: list[dict[str, Any]]
    reports: list[dict[str, Any]]
    emergencies: list[dict[str, Any]]
    history: list[dict[str, Any]]
    legalHold: dict[str, Any] | None
    erasedAt: str | None
    mandatoryReport: dict[str, Any] | None
    childProtectionReports: list[dict[str, Any]]


class OutcomeDoc(TypedDict):
    at: str
    outcome: str
    note: str


class InboxDoc(TypedDict):
    """An item of an inbox as its row keeps it (``referral_inbox.doc``, ``report_inbox.doc``):
    what was disclosed with it (sealed with the case's key) and when, never the case."""

    id: str
    at: str
    sealedCopy: str
    fields: list[str]
    # Rows written before a key existed lack it.
    consentWithdrawn: NotRequired[bool]
    # A referral's only.
    mode: NotRequired[str]
    needs: NotRequired[list[str]]
    outcomes: NotRequired[list[OutcomeDoc]]
    answer: NotRequired[AnswerDoc | None]
    # A report's only.
    acknowledgement: NotRequired[AcknowledgementDoc | None]


class InboxItem(InboxDoc):
    """An item of an inbox as read: its row's document and the case it came from."""

    caseId: str


def case_doc(case: Case) -> CaseDoc:
    def at(items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        return [{**item, "at": iso(item["at"])} for item in items]

    return {
        "id": str(case.id),
        "version": case.version,
        "open": case.open,
        "channel": case.channel,
        "language": case.language,
        "relationship": case.relationship,
        "hasPersonalData": case.has_personal_data,
        "sealedPersonal": case.sealed_personal,
        "details": case.details,
        "openedAt": iso(case.created_on),
        "updatedAt": iso(case.modified_on),
        "consultations": [
            {
                **c,
                "at": iso(c["at"]),
                "nextSteps": c.get("nextSteps", ""),
                "answers": c.get("answers", []),
            }
            for c in case.consultations
        ],
        "supervisorRequests": [request_doc(r) for r in case.supervisor_requests.values()],
        "supervisorDecisionRequired": case.supervisor_decision_required,
        "consents": [
            {
                **c,
                "expiresAt": iso(c["expiresAt"]),
                "grantedAt": iso(c["grantedAt"]),
                "withdrawnAt": iso(c["withdrawnAt"]),
            }
            for c in case.consents.values()
        ],
        "disclosures": [
            {k: v for k, v in d.items() if k != "sealedCopy"} | {"at": iso(d["at"])}
            for d in case.disclosures.values()
        ],
        "referrals": [
            {
                **r,
                "at": iso(r["at"]),
                "outcomes": at(r["outcomes"]),
                "answer": answer_doc(r.get("answer")),
            }
            for r in case.referrals.values()
        ],
        "reports": [
            {
                **r,
                "at": iso(r["at"]),
                "acknowledgement": acknowledgement_doc(r.get("acknowledgement")),
            }
            for r in case.reports.values()
        ],
        "emergencies": at(case.emergencies),
        "history": at(case.history),
        "legalHold": case.legal_hold and {**case.legal_hold, "at": iso(case.legal_hold["at"])},
        "erasedAt": iso(case.erased_at),
        "mandatoryReport": case.mandatory_report
        and {
            **case.mandatory_report,
            "flaggedAt": iso(case.mandatory_report["flaggedAt"]),
            "decidedAt": iso(case.mandatory_report["decidedAt"]),
        },
        "childProtectionReports": at(list((case.child_protection or {}).values())),
    }


def request_doc(request: Mapping[str, Any]) -> dict[str, Any]:
    return {
        **request,
        "at": iso(request["at"]),
        "answeredAt": iso(request["answeredAt"]),
    }


class AnswerDoc(TypedDict):
    at: str
    by: str
    answer: str
    reason: str | None
    note: str


class AcknowledgementDoc(TypedDict):
    at: str
    by: str
    contactName: str
    fileNumber: str


def answer_doc(answer: ReferralAnswer | None) -> AnswerDoc | None:
    return None if answer is None else {**answer, "at": iso(answer["at"])}


def acknowledgement_doc(acknowledgement: ReportAcknowledgement | None) -> AcknowledgementDoc | None:
    return (
        None if acknowledgement is None else {**acknowledgement, "at": iso(acknowledgement["at"])}
    )


def _statistics_until(case: Case) -> str | None:
    until = None
    for consent in case.consents.values():
        if consent["scope"] != "NON_IDENTIFYING_STATISTICS" or consent["withdrawnAt"]:
            continue
        moment = "9999" if consent["expiresAt"] is None else iso(consent["expiresAt"])
        until = moment if until is None or (moment or "") > until else until
    return until


class CaseProjection(AggregateProjection):
    name = "cases"
    aggregate_class = Case
    # Applied after a case command answers, in batches: every read of these tables settles
    # this process's writes first. The exceptions answer only once every process reads them:
    # an erasure (the rows, the repeat-caller lookup among them, no longer hold what it
    # erased) and a withdrawn consent (a case withdrawn from the statistics stops counting).
    write_behind = True
    applied_before_answer = (get_topic(Case.PersonalDataErased), get_topic(Case.ConsentWithdrawn))

    # A case's state is stored every 50 versions (as the event store's snapshots are), not
    # with every batch: rewriting a long case's whole state for each event it gets costs
    # more than the rows derived from it. The worker keeps recent cases in memory (at most
    # ``cache_bytes`` of them).
    cache_size = 2_000
    state_every = 50

    def __init__(
        self,
        mapper: Any,
        dialect: str,
        vault: Vault,
        history: History,
        cache_bytes: int | None = None,
    ) -> None:
        super().__init__(mapper, dialect, history, cache_bytes)
        self.vault = vault
        self._erased: list[UUID] = []

    def create_tables(self, cursor: Cursor) -> None:
        self.create_state_table(cursor)
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS cases (id TEXT PRIMARY KEY, open INTEGER NOT NULL, "
            "urgency TEXT, province TEXT, situation_type TEXT, assigned_to TEXT, "
            "opened_at TEXT NOT NULL, phone_lookup TEXT, statistics_until TEXT, "
            "doc TEXT NOT NULL)"
        )
        cursor.execute("CREATE INDEX IF NOT EXISTS cases_opened ON cases (opened_at, id)")
        cursor.execute("CREATE INDEX IF NOT EXISTS cases_phone ON cases (phone_lookup)")
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS case_needs (case_id TEXT NOT NULL, "
            "need TEXT NOT NULL, PRIMARY KEY (case_id, need))"
        )
        for inbox, owner in INBOX_OWNER.items():
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {inbox} (id TEXT PRIMARY KEY, "
                f"{owner} TEXT NOT NULL, case_id TEXT NOT NULL, at TEXT NOT NULL, "
                "doc TEXT NOT NULL)"
            )
            cursor.execute(f"CREATE INDEX IF NOT EXISTS {inbox}_owner ON {inbox} ({owner}, at, id)")
            # One item looked up by its addressee and id probes this alone (``inbox_item``).
            cursor.execute(
                f"CREATE INDEX IF NOT EXISTS {inbox}_owned ON {inbox} (({owner} || ' ' || id))"
            )
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS disclosure_ledger (id TEXT PRIMARY KEY, "
            "case_id TEXT NOT NULL, at TEXT NOT NULL, doc TEXT NOT NULL)"
        )
        cursor.execute(
            "CREATE INDEX IF NOT EXISTS disclosure_ledger_at ON disclosure_ledger (at, id)"
        )
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS supervisor_requests (id TEXT PRIMARY KEY, "
            "case_id TEXT NOT NULL, requested_at TEXT NOT NULL, requested_by TEXT NOT NULL, "
            "answered_at TEXT, answered_by TEXT, question TEXT NOT NULL)"
        )
        cursor.execute(
            "CREATE INDEX IF NOT EXISTS supervisor_requests_at "
            "ON supervisor_requests (requested_at, id)"
        )
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {MANDATORY_REPORTS} (case_id TEXT PRIMARY KEY, "
            "flagged_at TEXT NOT NULL, decided INTEGER NOT NULL, decided_at TEXT)"
        )
        cursor.execute(
            f"CREATE INDEX IF NOT EXISTS {MANDATORY_REPORTS}_waiting "
            f"ON {MANDATORY_REPORTS} (decided, flagged_at, case_id)"
        )
        create_item_table(cursor, CASE_WORK)  # the work queues' items (projections/queues.py)

    def drop_tables(self, cursor: Cursor) -> None:
        for table in (*TABLES, CASE_WORK, self.state_table):
            cursor.execute(f"DROP TABLE IF EXISTS {table}")

    def write(
        self,
        cursor: Cursor,
        cases: list[Case],
        applied: Mapping[UUID, Sequence[DomainEventProtocol[Any]]],
    ) -> None:
        """Each case's row in full; of its inbox and ledger rows, only those the batch's events
        added or changed (all of them for a new case, new details or an erasure), so that a
        case's long history is not written again with every event."""
        # The command destroys the key after recording the erasure; a crash between the two
        # would leave it, so the projection finishes the job, once its batch has committed
        # (the scrub waits for older transactions, this batch's own among them).
        self._erased = [case.id for case in cases if case.erased_at is not None]
        ids = [str(case.id) for case in cases]
        touched = {str(case.id): _touched(case, applied.get(case.id, [])) for case in cases}
        whole = [case_id for case_id, items in touched.items() if items is None]
        # A case's repeat-caller digest is computed once: the caller's data is sealed when the
        # case opens and only ever erased after, so a row already written keeps its digest
        # (opening the data again would cost a key fetch and a decryption per case and batch).
        marks = ", ".join(["%s"] * len(ids))
        known: dict[str, str | None] = dict(
            cursor.execute(
                f"SELECT id, phone_lookup FROM cases WHERE id IN ({marks})", ids
            ).fetchall()
        )
        if whole:
            marks = ", ".join(["%s"] * len(whole))
            for table in ITEM_TABLES:
                cursor.execute(f"DELETE FROM {table} WHERE case_id IN ({marks})", whole)
        rows, needs, referrals, reports, ledger, requests = [], [], [], [], [], []
        flags: list[tuple[Any, ...]] = []
        for case in cases:
            doc = case_doc(case)
            details = case.details
            flag = doc["mandatoryReport"]
            if flag is not None:
                decided = flag["decision"] is not None
                flags.append((doc["id"], flag["flaggedAt"], int(decided), flag["decidedAt"]))
            rows.append(
                (
                    doc["id"],
                    int(case.open),
                    details.get("urgency"),
                    details.get("province"),
                    details.get("situationType"),
                    details.get("assignedTo"),
                    doc["openedAt"],
                    self._lookup(case, known),
                    _statistics_until(case),
                    dump_doc(doc),
                )
            )
            items = touched[doc["id"]]
            if items is None:
                needs += [(doc["id"], need) for need in details.get("needs", [])]
            for referral in case.referrals.values():
                if referral["disclosureId"] is None:
                    continue  # relayed to the caller: nothing was sent to the organization
                if not _wanted(items, "referral_inbox", referral["id"]):
                    continue
                held = _held(case, case.disclosures[referral["disclosureId"]])
                referred: InboxDoc = {
                    "id": referral["id"],
                    "mode": referral["mode"],
                    "needs": referral["needs"],
                    "at": iso(referral["at"]),
                    "sealedCopy": held["sealedCopy"],
                    "fields": held["fields"],
                    "consentWithdrawn": held["consentWithdrawn"],
                    "outcomes": [{**o, "at": iso(o["at"])} for o in referral["outcomes"]],
                    "answer": answer_doc(referral.get("answer")),
                }
                referrals.append(
                    (
                        referral["id"],
                        referral["organizationId"],
                        doc["id"],
                        iso(referral["at"]),
                        dump_doc(referred),
                    )
                )
            for report in case.reports.values():
                if not _wanted(items, "report_inbox", report["id"]):
                    continue
                held = _held(case, case.disclosures[report["disclosureId"]])
                reported: InboxDoc = {
                    "id": report["id"],
                    "at": iso(report["at"]),
                    "sealedCopy": held["sealedCopy"],
                    "fields": held["fields"],
                    "consentWithdrawn": held["consentWithdrawn"],
                    "acknowledgement": acknowledgement_doc(report.get("acknowledgement")),
                }
                reports.append(
                    (
                        report["id"],
                        report["agencyId"],
                        doc["id"],
                        iso(report["at"]),
                        dump_doc(reported),
                    )
                )
            for disclosure in case.disclosures.values():
                if not _wanted(items, "disclosure_ledger", disclosure["id"]):
                    continue
                # Which fields, never their values (the minor value sent is one).
                entry = {
                    k: v
                    for k, v in disclosure.items()
                    if k not in ("sealedCopy", "minorInvolvedSent")
                }
                entry["at"] = iso(disclosure["at"])
                ledger.append((disclosure["id"], doc["id"], entry["at"], dump_doc(entry)))
            for request in case.supervisor_requests.values():
                if _wanted(items, "supervisor_requests", request["id"]):
                    requests.append(
                        (
                            request["id"],
                            doc["id"],
                            iso(request["at"]),
                            request["by"],
                            iso(request["answeredAt"]),
                            request["answeredBy"],
                            request["question"],
                        )
                    )
        # One row per case, referral, report and disclosure: no key twice in one statement.
        insert_rows(
            cursor,
            "cases",
            CASE_COLUMNS,
            (Texts, Int8s, *[Texts] * 8),
            rows,
            "ON CONFLICT (id) DO UPDATE SET "
            + ", ".join(f"{c} = excluded.{c}" for c in CASE_COLUMNS[1:]),
        )
        insert_rows(cursor, "case_needs", ("case_id", "need"), (Texts, Texts), needs)
        for table, owner in INBOX_OWNER.items():
            insert_rows(
                cursor,
                table,
                ("id", owner, "case_id", "at", "doc"),
                [Texts] * 5,
                referrals if table == "referral_inbox" else reports,
                "ON CONFLICT (id) DO UPDATE SET doc = excluded.doc",
            )
        insert_rows(
            cursor,
            "disclosure_ledger",
            ("id", "case_id", "at", "doc"),
            [Texts] * 4,
            ledger,
            "ON CONFLICT (id) DO UPDATE SET doc = excluded.doc",
        )
        insert_rows(
            cursor,
            "supervisor_requests",
            REQUEST_COLUMNS,
            [Texts] * len(REQUEST_COLUMNS),
            requests,
            "ON CONFLICT (id) DO UPDATE SET "
            + ", ".join(f"{c} = excluded.{c}" for c in REQUEST_COLUMNS[1:]),
        )
        insert_rows(
            cursor,
            MANDATORY_REPORTS,
            ("case_id", "flagged_at", "decided", "decided_at"),
            (Texts, Texts, Int8s, Texts),
            flags,
            # A case flagged again (its facts changed after a no-report decision) goes back
            # into the queue at its new flag.
            "ON CONFLICT (case_id) DO UPDATE SET flagged_at = excluded.flagged_at, "
            "decided = excluded.decided, decided_at = excluded.decided_at",
        )
        write_items(cursor, CASE_WORK, cases)

    def must_store(self, aggregate: Any, events: Sequence[DomainEventProtocol[Any]]) -> bool:
        """A new case's state, and the state after new details or an erasure (which empties
        its sealed data), are stored at once."""
        return _touched(aggregate, events) is None

    def after_commit(self) -> None:
        super().after_commit()
        erased, self._erased = self._erased, []
        for case_id in erased:
            if self.vault.has_key(case_id):
                self.vault.destroy_key(case_id)

    def _lookup(self, case: Case, known: dict[str, str | None]) -> str | None:
        if not case.sealed_personal:
            return None  # erased
        if str(case.id) in known:
            return known[str(case.id)]
        personal = self.vault.open(case.id, case.sealed_personal)
        phone = (personal or {}).get("phone")
        return self.vault.lookup_key(phone) if phone else None


@dataclass(frozen=True)
class CaseFilter:
    open: bool | None = None
    urgencies: Sequence[str] = ()
    provinces: Sequence[str] = ()
    situation_types: Sequence[str] = ()
    assigned_to: str | None = None
    opened_after: str | None = None
    opened_before: str | None = None
    phone_lookup: str | None = None


class CaseQueries:
    """The case read models' queries. The case projection is written behind the commands, so
    every query first lets ``settle`` apply what the reading caller's own commands wrote in
    this process (``for_caller``; without one, what every command of it wrote)."""

    def __init__(
        self,
        store: ViewStore,
        settle: Callable[[str | None], None] = lambda _caller: None,
        caller: str | None = None,
    ) -> None:
        self.store = store
        self._settle = settle
        self._caller = caller

    def for_caller(self, caller: str) -> CaseQueries:
        """The same queries, read for ``caller``: they wait for its own writes only."""
        return CaseQueries(self.store, self._settle, caller)

    @contextmanager
    def _read(self) -> Iterator[Cursor]:
        self._settle(self._caller)
        with self.store.read() as cursor:
            yield cursor

    def get(self, case_id: str) -> CaseDoc | None:
        with self._read() as cursor:
            row = cursor.execute("SELECT doc FROM cases WHERE id = %s", (case_id,)).fetchone()
        return None if row is None else cast(CaseDoc, load_doc(row[0]))

    def search(
        self, where: CaseFilter, first: int, after: tuple[str, str] | None
    ) -> list[dict[str, Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if where.open is not None:
            clauses.append("open = %s")
            params.append(int(where.open))
        for column, values in (
            ("urgency", where.urgencies),
            ("province", where.provinces),
            ("situation_type", where.situation_types),
        ):
            if values:
                clauses.append(f"{column} IN ({', '.join(['%s'] * len(values))})")
                params += list(values)
        for clause, value in (
            ("assigned_to = %s", where.assigned_to),
            ("opened_at >= %s", where.opened_after),
            ("opened_at < %s", where.opened_before),
            ("phone_lookup = %s", where.phone_lookup),
        ):
            if value is not None:
                clauses.append(clause)
                params.append(value)
        if after is not None:  # newest first
            clauses.append("(opened_at < %s OR (opened_at = %s AND id < %s))")
            params += [after[0], after[0], after[1]]
        sql = (
            "SELECT doc FROM cases WHERE "
            + (" AND ".join(clauses) or "TRUE")
            + " ORDER BY opened_at DESC, id DESC LIMIT %s"
        )
        with self._read() as cursor:
            rows = cursor.execute(sql, [*params, first]).fetchall()
        return [load_doc(r[0]) for r in rows]

    def inbox(self, table: str, owner: str, first: int) -> list[InboxItem]:
        column = INBOX_OWNER[table]
        with self._read() as cursor:
            rows = cursor.execute(
                f"SELECT case_id, doc FROM {table} WHERE {column} = %s "
                "ORDER BY at DESC, id DESC LIMIT %s",
                (owner, first),
            ).fetchall()
        return [cast(InboxItem, {**load_doc(doc), "caseId": case_id}) for case_id, doc in rows]

    def inbox_item(self, table: str, item_id: str, owner: str) -> tuple[str, InboxDoc] | None:
        """(case id, item) for one referral or report addressed to ``owner``, or None. The
        addressee and the id are looked up together, in one index: another's item is not
        touched, just as a missing one is not there (by id, then compared, its row would be
        read: a timing oracle finds that)."""
        column = INBOX_OWNER[table]
        with self._read() as cursor:
            row = cursor.execute(
                f"SELECT case_id, doc FROM {table} WHERE {column} || ' ' || id = %s",
                (f"{owner} {item_id}",),
            ).fetchone()
        return None if row is None else (row[0], cast(InboxDoc, load_doc(row[1])))

    def ledger(self, first: int, after: tuple[str, str] | None) -> list[dict[str, Any]]:
        clause, params = "TRUE", list[Any]()
        if after is not None:
            clause = "(at < %s OR (at = %s AND id < %s))"
            params = [after[0], after[0], after[1]]
        with self._read() as cursor:
            rows = cursor.execute(
                f"SELECT case_id, doc FROM disclosure_ledger WHERE {clause} "
                "ORDER BY at DESC, id DESC LIMIT %s",
                [*params, first],
            ).fetchall()
        return [{**load_doc(doc), "caseId": case_id} for case_id, doc in rows]

    def supervisor_requests(
        self, answered: bool | None, first: int, after: tuple[str, str] | None
    ) -> tuple[list[dict[str, Any]], int]:
        """Supervisor requests, oldest first (the longest waiting first), open ones only unless
        ``answered`` says otherwise; with how many match in all."""
        clauses: list[str] = []
        if answered is not None:
            clauses.append("answered_at IS NOT NULL" if answered else "answered_at IS NULL")
        where = " AND ".join(clauses) or "TRUE"
        page, params = where, list[Any]()
        if after is not None:
            page += " AND (requested_at > %s OR (requested_at = %s AND id > %s))"
            params = [after[0], after[0], after[1]]
        with self._read() as cursor:
            rows = cursor.execute(
                f"SELECT {', '.join(REQUEST_COLUMNS)} FROM supervisor_requests WHERE {page} "
                "ORDER BY requested_at, id LIMIT %s",
                [*params, first],
            ).fetchall()
            total = cursor.execute(
                f"SELECT COUNT(*) FROM supervisor_requests WHERE {where}"
            ).fetchone()[0]
        keys = ("id", "caseId", "at", "by", "answeredAt", "answeredBy", "question")
        return [dict(zip(keys, row, strict=True)) for row in rows], int(total)

    def mandatory_reports(
        self, decided: bool | None, first: int, after: tuple[str, str] | None
    ) -> tuple[int, list[dict[str, Any]]]:
        """The count and a page of cases flagged for a mandatory-report decision, oldest flag
        first (the longest waiting on top); ``decided`` narrows to decided or awaiting ones."""
        clauses, params = ["TRUE"], list[Any]()
        if decided is not None:
            clauses.append("decided = %s")
            params.append(int(decided))
        where = " AND ".join(clauses)
        page = list(params)
        if after is not None:
            where_page = f"{where} AND (flagged_at > %s OR (flagged_at = %s AND case_id > %s))"
            page += [after[0], after[0], after[1]]
        else:
            where_page = where
        with self._read() as cursor:
            (count,) = cursor.execute(
                f"SELECT COUNT(*) FROM {MANDATORY_REPORTS} WHERE {where}", params
            ).fetchone()
            rows = cursor.execute(
                f"SELECT case_id, flagged_at, decided, decided_at FROM {MANDATORY_REPORTS} "
                f"WHERE {where_page} ORDER BY flagged_at, case_id LIMIT %s",
                [*page, first],
            ).fetchall()
        items = [
            {"caseId": c, "flaggedAt": f, "decided": bool(d), "decidedAt": at}
            for c, f, d, at in rows
        ]
        return int(count), items

    def statistics(
        self, dimension: str, now: datetime, threshold: int
    ) -> list[tuple[str, int | None]]:
        """Counts of consenting cases opened in completed months, by one dimension.

        Small counts are suppressed and the others rounded (``domain.rules``); completed months
        only, so a new call changes nothing that can be compared before and after.
        """
        month_start = now.astimezone(UTC).strftime("%Y-%m-01T00:00:00.000000Z")
        column = {
            "month": "substr(c.opened_at, 1, 7)",
            "province": "c.province",
            "situationType": "c.situation_type",
            "need": "n.need",
        }[dimension]
        join = "JOIN case_needs n ON n.case_id = c.id" if dimension == "need" else ""
        with self._read() as cursor:
            rows = cursor.execute(
                f"SELECT {column} AS value, COUNT(*) FROM cases c {join} "
                f"WHERE c.statistics_until IS NOT NULL AND c.statistics_until > %s "
                f"AND c.opened_at < %s AND {column} IS NOT NULL "
                f"GROUP BY {column} ORDER BY {column}",
                (iso(now), month_start),
            ).fetchall()
        return suppress_small_counts([(str(v), int(n)) for v, n in rows], threshold)
