"""A hotline case: what the caller shared, their consents, and every time information left.

Personal data never enters an event in clear: the application seals it with the case's own
key before it reaches this aggregate, which keeps only the sealed text. A disclosure records
exactly which fields left, to whom, by whom and on which basis, with a sealed copy of the
values as they were; that copy is all a recipient can ever read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, NotRequired, TypedDict
from uuid import UUID

from domain.base import (
    AuditedAggregate,
    DomainError,
    InvalidInput,
    ReasonRequired,
    clean_text,
    current_actor,
)
from domain.emergency import EmergencyNumber
from domain.mandatory_report import (
    MINOR_POSSIBLE,
    MandatoryReportDecision,
    MandatoryReportDecisionRequired,
    MinorConsentInsufficient,
    NoMandatoryReportPending,
    NoMinorInvolved,
    OutsideJurisdiction,
    ReportSilentOnTheMinor,
    calls_for_decision,
    minor_possible,
)
from domain.reporting_protocol import covers


class Channel(StrEnum):
    CALL = "CALL"
    TEXT = "TEXT"
    CHAT = "CHAT"
    EMAIL = "EMAIL"
    WEB_FORM = "WEB_FORM"


class CallerRelationship(StrEnum):
    VICTIM_OR_SURVIVOR = "VICTIM_OR_SURVIVOR"
    FAMILY_OR_FRIEND = "FAMILY_OR_FRIEND"
    COMMUNITY_MEMBER = "COMMUNITY_MEMBER"
    SERVICE_PROVIDER = "SERVICE_PROVIDER"
    OTHER = "OTHER"
    ANONYMOUS = "ANONYMOUS"


class Tristate(StrEnum):
    YES = "YES"
    NO = "NO"
    UNKNOWN = "UNKNOWN"


class SituationType(StrEnum):
    SEX_TRAFFICKING = "SEX_TRAFFICKING"
    LABOUR_TRAFFICKING = "LABOUR_TRAFFICKING"
    BOTH = "BOTH"
    UNKNOWN = "UNKNOWN"
    NOT_TRAFFICKING = "NOT_TRAFFICKING"


class Urgency(StrEnum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    IMMINENT_HARM = "IMMINENT_HARM"


class Need(StrEnum):
    EMERGENCY = "EMERGENCY"
    SHORT_TERM_TRANSITIONAL = "SHORT_TERM_TRANSITIONAL"
    LONG_TERM = "LONG_TERM"
    SHELTER = "SHELTER"
    LEGAL = "LEGAL"
    HEALTH = "HEALTH"
    IMMIGRATION = "IMMIGRATION"
    INCOME = "INCOME"
    OTHER = "OTHER"


class Indicator(StrEnum):
    """Common indicators of trafficking: a vocabulary, so no free text sits in clear (any
    detail belongs in the case's notes, which are sealed)."""

    RECRUITMENT_DECEPTION = "RECRUITMENT_DECEPTION"
    DEBT_BONDAGE = "DEBT_BONDAGE"
    DOCUMENTS_CONFISCATED = "DOCUMENTS_CONFISCATED"
    MOVEMENT_CONTROLLED = "MOVEMENT_CONTROLLED"
    THREATS_OR_VIOLENCE = "THREATS_OR_VIOLENCE"
    NO_OR_LITTLE_PAY = "NO_OR_LITTLE_PAY"
    EXCESSIVE_HOURS = "EXCESSIVE_HOURS"
    HOUSING_CONTROLLED = "HOUSING_CONTROLLED"
    ISOLATION = "ISOLATION"
    MINOR_IN_COMMERCIAL_SEX = "MINOR_IN_COMMERCIAL_SEX"
    OTHER = "OTHER"


class ReferralMode(StrEnum):
    WARM_TRANSFER = "WARM_TRANSFER"
    PHONE = "PHONE"
    CHAT = "CHAT"
    EMAIL = "EMAIL"


class ReferralOutcomeKind(StrEnum):
    CONTACTED = "CONTACTED"
    ACCEPTED = "ACCEPTED"
    DECLINED = "DECLINED"
    SERVICES_PROVIDED = "SERVICES_PROVIDED"
    UNABLE_TO_REACH = "UNABLE_TO_REACH"


class ReferralAnswerKind(StrEnum):
    """A partner's answer to a referral, before its own intake."""

    ACCEPTED = "ACCEPTED"
    DECLINED = "DECLINED"


class DeclineReason(StrEnum):
    NO_CAPACITY = "NO_CAPACITY"
    NOT_ELIGIBLE = "NOT_ELIGIBLE"
    OUTSIDE_SERVICE_AREA = "OUTSIDE_SERVICE_AREA"
    OTHER = "OTHER"


class ConsentScope(StrEnum):
    SHARE_WITH_ORGANIZATION = "SHARE_WITH_ORGANIZATION"
    REPORT_TO_LAW_ENFORCEMENT = "REPORT_TO_LAW_ENFORCEMENT"
    FOLLOW_UP_CONTACT = "FOLLOW_UP_CONTACT"
    NON_IDENTIFYING_STATISTICS = "NON_IDENTIFYING_STATISTICS"


class ConsentGiver(StrEnum):
    CALLER = "CALLER"
    GUARDIAN = "GUARDIAN"
    MINOR = "MINOR"  # the minor concerned, themselves: see domain/mandatory_report.py


class ConsentMethod(StrEnum):
    VERBAL = "VERBAL"
    WRITTEN = "WRITTEN"
    CHAT = "CHAT"


class Exception_(StrEnum):
    """The exceptions under which information may leave without consent."""

    SUSPECTED_ABUSE_OF_A_MINOR = "SUSPECTED_ABUSE_OF_A_MINOR"
    IMMINENT_HARM = "IMMINENT_HARM"
    LEGAL_OBLIGATION = "LEGAL_OBLIGATION"


class RecipientKind(StrEnum):
    ORGANIZATION = "ORGANIZATION"
    LAW_ENFORCEMENT = "LAW_ENFORCEMENT"
    EMERGENCY_SERVICES = "EMERGENCY_SERVICES"
    CHILD_PROTECTION_AUTHORITY = "CHILD_PROTECTION_AUTHORITY"


class DisclosableField(StrEnum):
    """What may leave the hotline. Caller personal data is the first four."""

    CALLER_NAME = "CALLER_NAME"
    CALLER_PHONE = "CALLER_PHONE"
    CALLER_EMAIL = "CALLER_EMAIL"
    CALLER_OTHER_CONTACT = "CALLER_OTHER_CONTACT"
    LOCATION = "LOCATION"
    LANGUAGE = "LANGUAGE"
    MINOR_INVOLVED = "MINOR_INVOLVED"
    SITUATION_TYPE = "SITUATION_TYPE"
    URGENCY = "URGENCY"
    NEEDS = "NEEDS"
    INDICATORS = "INDICATORS"
    BRIEF = "BRIEF"


# The factors a supervisor weighs in a report that are judgement, in their words (sealed). The
# facts the case holds (urgency and imminent harm, a minor involved, the indicators present,
# the consent on record) are filled in from the case: ``Case.report_facts``.
JUDGEMENT_FACTORS = ("callersWishes", "levelOfDetail", "applicableLaw", "localProtocol")


class ConsentOnRecord(StrEnum):
    """The caller's consent to a report to this agency, as the case holds it when reported."""

    ACTIVE = "ACTIVE"
    WITHDRAWN = "WITHDRAWN"
    EXPIRED = "EXPIRED"
    NONE = "NONE"


PERSONAL_FIELDS = frozenset(
    {
        DisclosableField.CALLER_NAME,
        DisclosableField.CALLER_PHONE,
        DisclosableField.CALLER_EMAIL,
        DisclosableField.CALLER_OTHER_CONTACT,
    }
)


class CaseClosed(DomainError):
    code = "CASE_CLOSED"


class CaseOpen(DomainError):
    code = "CASE_OPEN"


class ConsentRequired(DomainError):
    code = "CONSENT_REQUIRED"


class SupervisorRequired(DomainError):
    code = "SUPERVISOR_REQUIRED"


class UnknownConsent(DomainError):
    code = "UNKNOWN_CONSENT"


class UnknownReferral(DomainError):
    code = "UNKNOWN_REFERRAL"


class LegalHold(DomainError):
    code = "LEGAL_HOLD"


class ReferralAlreadyAnswered(DomainError):
    code = "REFERRAL_ALREADY_ANSWERED"


class ReportAlreadyAcknowledged(DomainError):
    code = "REPORT_ALREADY_ACKNOWLEDGED"


class UnknownReport(DomainError):
    code = "UNKNOWN_REPORT"


class AlreadyErased(DomainError):
    code = "ALREADY_ERASED"


class DataErased(DomainError):
    code = "PERSONAL_DATA_ERASED"


class SupervisorDecisionRequired(DomainError):
    code = "SUPERVISOR_DECISION_REQUIRED"


# The situation types that do not rule trafficking out. UNKNOWN is among them: the seed brings a
# supervisor in when a caller references a *potential* case of trafficking, and a situation staff
# cannot yet tell apart from trafficking is one. A case with no situation type recorded yet (and no
# indicator) references nothing so far.
TRAFFICKING_SITUATIONS = frozenset(
    {
        SituationType.SEX_TRAFFICKING.value,
        SituationType.LABOUR_TRAFFICKING.value,
        SituationType.BOTH.value,
        SituationType.UNKNOWN.value,
    }
)


def references_potential_trafficking(details: Mapping[str, Any]) -> bool:
    """Whether a case with these details references a potential case of human trafficking
    (seed 000: "a hotline supervisor will be brought into the discussion to determine the
    next steps"): a situation type other than NOT_TRAFFICKING, or any trafficking indicator."""
    return details.get("situationType") in TRAFFICKING_SITUATIONS or bool(details.get("indicators"))


def minor_facts(details: Mapping[str, Any]) -> tuple[Any, Any, tuple[str, ...]]:
    """The facts a decision that no mandatory report is required is taken on (with whether a
    minor gave a consent themselves): when they change, that decision no longer stands."""
    return (
        details.get("minorInvolved"),
        details.get("situationType"),
        tuple(sorted(details.get("indicators") or ())),
    )


def trafficking_facts(details: Mapping[str, Any]) -> tuple[Any, tuple[str, ...]]:
    """The facts a supervisor's decision on a potential trafficking case is taken on: when they
    change, a decision recorded before no longer stands."""
    return details.get("situationType"), tuple(sorted(details.get("indicators") or ()))


# The case's state, item by item: what each event leaves in it (the keys are the read
# models' too). Plain dicts at run time, so stored states load as they always did; typed, so
# a misspelt key is a type error.
class Consultation(TypedDict):
    at: datetime
    supervisorId: str
    decision: str
    # Added with supervisor requests (absent from states stored before: read with ``.get``).
    nextSteps: str
    answers: list[str]
    version: int


class SupervisorRequest(TypedDict):
    id: str
    at: datetime
    by: str
    question: str
    answeredAt: datetime | None
    answeredBy: str | None


class Consent(TypedDict):
    id: str
    scope: str
    recipientId: str | None
    givenBy: str
    method: str
    expiresAt: datetime | None
    recordedBy: str
    grantedAt: datetime
    withdrawnAt: datetime | None


class Disclosure(TypedDict):
    id: str
    recipientKind: str
    recipientId: str | None
    fields: list[str]
    consentId: str | None
    exception: str | None
    justification: str
    sealedCopy: str
    at: datetime
    by: str
    byRole: str
    policyVersion: str
    # The minorInvolved value the recipient was sent (MINOR_INVOLVED among the fields), None
    # when it was not sent or not recorded (disclosures stored before it was kept).
    minorInvolvedSent: NotRequired[str | None]


class ReferralOutcome(TypedDict):
    at: datetime
    outcome: str
    note: str


class ReferralAnswer(TypedDict):
    at: datetime
    by: str
    answer: str
    reason: str | None
    note: str


class Referral(TypedDict):
    id: str
    organizationId: str
    mode: str
    needs: list[str]
    disclosureId: str | None
    at: datetime
    outcomes: list[ReferralOutcome]
    # The partner's answer, once given (absent from states saved before answers existed).
    answer: NotRequired[ReferralAnswer | None]


class ReportAcknowledgement(TypedDict):
    at: datetime
    by: str
    contactName: str
    fileNumber: str


class ReportFacts(TypedDict):
    urgency: str | None
    imminentHarm: bool | None
    minorInvolved: str
    indicators: list[str]
    consent: str
    consentId: str | None


class Report(TypedDict):
    id: str
    agencyId: str
    protocolId: str
    # The judgement factors, sealed; reports recorded before the facts were filled in from
    # the case hold all eight factors here, in the supervisor's words, and no facts.
    factors: dict[str, Any]
    facts: NotRequired[ReportFacts | None]
    # A supervisor's justification (sealed) for reporting under a protocol whose
    # jurisdiction does not cover the case; "" when it does.
    jurisdictionOverride: NotRequired[str]
    disclosureId: str
    at: datetime
    by: str
    # The agency's acknowledgement, once given (absent from states saved before them).
    acknowledgement: NotRequired[ReportAcknowledgement | None]


class ChildProtectionReport(TypedDict):
    id: str
    authorityId: str
    disclosureId: str
    jurisdictionOverride: str
    at: datetime
    by: str


class MandatoryReport(TypedDict):
    flaggedAt: datetime
    decision: str | None
    decidedAt: datetime | None
    decidedBy: str | None
    reportId: str | None
    justification: str
    # The case's version when the decision was recorded (absent from states saved before).
    version: NotRequired[int]


class Emergency(TypedDict):
    at: datetime
    province: str | None
    number: str | None  # None: no number known for the place when the call was recorded
    numberSource: NotRequired[str]
    community: NotRequired[str | None]
    disclosureId: str | None
    # Why fields asked for were not sent with the call ("CODE: why"); the call stands.
    disclosureNotMade: NotRequired[str | None]


class HistoryEntry(TypedDict):
    at: datetime
    what: str
    note: str


class Hold(TypedDict):
    at: datetime
    by: str
    reason: str


# The longest name of the person handling a report, and file number, an agency may record.
MAX_CONTACT_NAME = 200
MAX_FILE_NUMBER = 100

# Seals staff-written free text with the case's key (the application's; as is in scenarios).
Seal = Callable[[str], str]


def _as_is(text: str) -> str:
    return text


def judgement_factors(factors: dict[str, Any]) -> dict[str, str]:
    """The judgement factors of a report: each one given, none empty, no other."""
    problems = [
        f"factors.{k}: not a judgement factor" for k in factors if k not in JUDGEMENT_FACTORS
    ]
    clean: dict[str, str] = {}
    for name in JUDGEMENT_FACTORS:
        value = factors.get(name)
        try:
            text = clean_text(str(value or ""), f"factors.{name}", limit=1000)
        except InvalidInput as error:
            problems += error.problems
            continue
        if not text:
            problems.append(f"factors.{name}: required, and not empty")
        clean[name] = text
    if problems:
        raise InvalidInput(problems)
    return clean


def _require_supervisor(what: str) -> None:
    if current_actor().role != "supervisor":
        raise SupervisorRequired(f"{what} is for a supervisor")


class Case(AuditedAggregate):
    # Defaults for states saved before these existed (snapshots, projection state).
    legal_hold: Hold | None = None
    erased_at: datetime | None = None
    # v2 keeps supervisor requests and when the facts a supervisor decides on last changed.
    class_version = 2

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """A state stored before (a snapshot, a read model's state): no request was possible
        then, and the facts are taken as they were from the start, so a decision on record
        stands until they change."""
        state["supervisor_requests"] = {}
        state["trafficking_facts_version"] = 0

    mandatory_report: MandatoryReport | None = None
    # The version at which the minor facts (minorInvolved, situation type, indicators, a
    # minor's own consent) last changed: a no-report decision recorded before it no longer
    # stands. 0 for states saved before it was kept: a decision on record stands until then.
    minor_facts_version: int = 0
    child_protection: dict[str, ChildProtectionReport] | None = None

    class Opened(AuditedAggregate.Created):
        channel: str
        language: str
        relationship: str
        sealed_personal: str
        has_personal_data: bool
        details: dict[str, Any]

    def __init__(
        self,
        channel: str,
        language: str,
        relationship: str,
        sealed_personal: str,
        has_personal_data: bool,
        details: dict[str, Any],
    ) -> None:
        self.channel = channel
        self.language = language
        self.relationship = relationship
        self.sealed_personal = sealed_personal
        self.has_personal_data = has_personal_data
        self.details = details
        self.open = True
        self.consultations: list[Consultation] = []
        self.consents: dict[str, Consent] = {}
        self.disclosures: dict[str, Disclosure] = {}
        self.referrals: dict[str, Referral] = {}
        self.reports: dict[str, Report] = {}
        self.emergencies: list[Emergency] = []
        self.history: list[HistoryEntry] = []
        self.legal_hold = None
        self.erased_at = None
        self.supervisor_requests: dict[str, SupervisorRequest] = {}
        # The version at which the facts a supervisor decides on (situation type, indicators)
        # last changed: a decision recorded at or before it no longer stands.
        self.trafficking_facts_version = 1 if references_potential_trafficking(details) else 0
        self.mandatory_report = None
        self.minor_facts_version = 1
        self.child_protection = None

    @classmethod
    def open_case(
        cls,
        *,
        id: UUID,
        channel: Channel,
        language: str,
        relationship: CallerRelationship,
        sealed_personal: str,
        has_personal_data: bool,
        details: dict[str, Any],
    ) -> Case:
        case: Case = cls._create(
            cls.Opened,
            id=id,
            channel=channel.value,
            language=language,
            relationship=relationship.value,
            sealed_personal=sealed_personal,
            has_personal_data=has_personal_data,
            details=details,
        )
        case._flag_if_needed()
        return case

    # -- the case itself -----------------------------------------------------------------

    class DetailsUpdated(AuditedAggregate.Event):
        details: dict[str, Any]

        def apply(self, case: Case) -> None:
            before = trafficking_facts(case.details)
            minor_before = minor_facts(case.details)
            case.details = {**case.details, **self.details}
            if trafficking_facts(case.details) != before:
                case.trafficking_facts_version = self.originator_version
            if minor_facts(case.details) != minor_before:
                case.minor_facts_version = self.originator_version

    def update_details(self, details: dict[str, Any]) -> None:
        self._require_open()
        self.trigger_event(self.DetailsUpdated, details=details)
        self._flag_if_needed()

    @property
    def references_potential_trafficking(self) -> bool:
        return references_potential_trafficking(self.details)

    def standing_decision(self) -> Consultation | None:
        """The latest supervisor's decision taken on the case's current trafficking facts, or
        None. A decision recorded before the case referenced trafficking, or before its
        situation type or indicators last changed, was taken on other facts: it no longer
        stands, and a supervisor decides again."""
        if not self.consultations:
            return None
        latest = self.consultations[-1]  # if the latest does not stand, no earlier one does
        return latest if latest.get("version", 1) > self.trafficking_facts_version else None

    @property
    def supervisor_decision_required(self) -> bool:
        """Whether the case references potential trafficking with no standing decision."""
        return self.references_potential_trafficking and self.standing_decision() is None

    def require_supervisor_decision(self, what: str) -> None:
        """Seed 000: a potential trafficking case brings a supervisor in "to determine the next
        steps". Nothing leaves (a disclosing referral, another disclosure, a report) and the
        case does not close until a supervisor's decision on its current facts is on record.
        An emergency call never waits for it: safety first, the decision follows."""
        if self.supervisor_decision_required:
            raise SupervisorDecisionRequired(
                f"{what} needs a supervisor's decision first: this case references potential "
                "trafficking (its situation type or indicators) and no decision taken on its "
                "current facts is on record; request a supervisor (requestSupervisor) and "
                "let them record their decision (recordSupervisorDecision). A decision taken "
                "before the situation type or indicators last changed no longer stands. "
                "Emergency services can be contacted meanwhile"
            )

    class SupervisorRequested(AuditedAggregate.Event):
        supervisor_request_id: str  # ``request_id`` is the HTTP request's, on every event
        question: str

        def apply(self, case: Case) -> None:
            case.supervisor_requests = {
                **case.supervisor_requests,
                self.supervisor_request_id: {
                    "id": self.supervisor_request_id,
                    "at": self.timestamp,
                    "by": self.actor_id,
                    "question": self.question,
                    "answeredAt": None,
                    "answeredBy": None,
                },
            }

    def request_supervisor(self, request_id: UUID, question: str, seal: Seal = _as_is) -> None:
        """Staff bring a supervisor into the case with their question."""
        self._require_open()
        question = clean_text(question, "the question", required=True)
        self.trigger_event(
            self.SupervisorRequested,
            supervisor_request_id=str(request_id),
            question=seal(question),
        )

    def open_supervisor_requests(self) -> list[SupervisorRequest]:
        return [r for r in self.supervisor_requests.values() if r["answeredAt"] is None]

    class SupervisorConsulted(AuditedAggregate.Event):
        class_version = 2  # v2 records the next steps and the requests the decision answers

        decision: str
        next_steps: str
        answers: list[str]

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["next_steps"] = ""  # recorded before next steps were kept apart
            state["answers"] = []  # and before staff could request a supervisor

        def apply(self, case: Case) -> None:
            case.consultations.append(
                {
                    "at": self.timestamp,
                    "supervisorId": self.actor_id,
                    "decision": self.decision,
                    "nextSteps": self.next_steps,
                    "answers": self.answers,
                    "version": self.originator_version,
                }
            )
            requests = dict(case.supervisor_requests)
            for request_id in self.answers:
                requests[request_id] = {
                    **requests[request_id],
                    "answeredAt": self.timestamp,
                    "answeredBy": self.actor_id,
                }
            case.supervisor_requests = requests

    def consult_supervisor(self, decision: str, next_steps: str, seal: Seal = _as_is) -> None:
        """A supervisor's decision on the case: what was decided and the next steps. It answers
        every open request on the case; a supervisor may also decide with none open."""
        self._require_open()
        _require_supervisor("recording a supervisor's decision")
        decision = clean_text(decision, "the decision", required=True)
        next_steps = clean_text(next_steps, "the next steps", required=True)
        self.trigger_event(
            self.SupervisorConsulted,
            decision=seal(decision),
            next_steps=seal(next_steps),
            answers=[r["id"] for r in self.open_supervisor_requests()],
        )

    # -- consent -------------------------------------------------------------------------

    class ConsentGranted(AuditedAggregate.Event):
        consent_id: str
        scope: str
        recipient_id: str | None
        given_by: str
        method: str
        expires_at: datetime | None

        def apply(self, case: Case) -> None:
            if self.given_by == ConsentGiver.MINOR.value and not case._minor_consented():
                case.minor_facts_version = self.originator_version  # a minor speaks for themselves
            case.consents[self.consent_id] = {
                "id": self.consent_id,
                "scope": self.scope,
                "recipientId": self.recipient_id,
                "givenBy": self.given_by,
                "method": self.method,
                "expiresAt": self.expires_at,
                "recordedBy": self.actor_id,
                "grantedAt": self.timestamp,
                "withdrawnAt": None,
            }

    def grant_consent(
        self,
        consent_id: UUID,
        scope: ConsentScope,
        recipient_id: UUID | None,
        given_by: ConsentGiver,
        method: ConsentMethod,
        expires_at: datetime | None,
    ) -> None:
        self._require_open()
        if scope is ConsentScope.SHARE_WITH_ORGANIZATION and recipient_id is None:
            raise ConsentRequired("a consent to share with an organization names it")
        if scope in (ConsentScope.FOLLOW_UP_CONTACT, ConsentScope.NON_IDENTIFYING_STATISTICS):
            recipient_id = None
        self.trigger_event(
            self.ConsentGranted,
            consent_id=str(consent_id),
            scope=scope.value,
            recipient_id=None if recipient_id is None else str(recipient_id),
            given_by=given_by.value,
            method=method.value,
            expires_at=expires_at,
        )
        self._flag_if_needed()

    class ConsentWithdrawn(AuditedAggregate.Event):
        consent_id: str

        def apply(self, case: Case) -> None:
            case.consents[self.consent_id]["withdrawnAt"] = self.timestamp

    def withdraw_consent(self, consent_id: UUID) -> None:
        consent = self.consents.get(str(consent_id))
        if consent is None:
            raise UnknownConsent("there is no such consent on this case")
        if consent["withdrawnAt"] is not None:
            raise ConsentRequired("this consent was already withdrawn")
        self.trigger_event(self.ConsentWithdrawn, consent_id=str(consent_id))

    def active_consent(
        self,
        scope: ConsentScope,
        recipient_id: str | None,
        now: datetime,
        *,
        not_by_a_minor: bool = False,
    ) -> Consent | None:
        for consent in self.consents.values():
            if consent["scope"] != scope.value or consent["withdrawnAt"] is not None:
                continue
            if not_by_a_minor and consent["givenBy"] == ConsentGiver.MINOR.value:
                continue
            if consent["expiresAt"] is not None and consent["expiresAt"] <= now:
                continue
            if consent["recipientId"] in (None, recipient_id):
                return consent
        return None

    # -- disclosure ----------------------------------------------------------------------

    class InformationDisclosed(AuditedAggregate.Event):
        class_version = 3  # v2 names the policy version in force; v3 the minor value sent

        disclosure_id: str
        recipient_kind: str
        recipient_id: str | None
        fields: list[str]
        consent_id: str | None
        exception: str | None
        justification: str
        sealed_copy: str
        policy_version: str
        # The minorInvolved value sent (None: not sent); last, with a default, so the facts
        # scenarios replay need not name it.
        minor_involved_sent: str | None = None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["policy_version"] = ""  # recorded before policy versions were kept

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            # Recorded before the minor value sent was kept: not known without opening the
            # sealed copy, so such a disclosure is never taken to have told of a minor.
            state["minor_involved_sent"] = None

        def apply(self, case: Case) -> None:
            case.disclosures[self.disclosure_id] = {
                "id": self.disclosure_id,
                "recipientKind": self.recipient_kind,
                "recipientId": self.recipient_id,
                "fields": self.fields,
                "consentId": self.consent_id,
                "exception": self.exception,
                "justification": self.justification,
                "sealedCopy": self.sealed_copy,
                "at": self.timestamp,
                "by": self.actor_id,
                "byRole": self.actor_role,
                "policyVersion": self.policy_version,
                "minorInvolvedSent": self.minor_involved_sent,
            }

    def disclose(
        self,
        disclosure_id: UUID,
        recipient_kind: RecipientKind,
        recipient_id: UUID | None,
        fields: list[DisclosableField],
        exception: Exception_ | None,
        justification: str,
        sealed_copy: str,
        now: datetime,
        seal: Seal = _as_is,
    ) -> None:
        """Records information leaving the hotline, if and only if a basis covers it."""
        self._require_open()
        if not fields:
            raise ConsentRequired("a disclosure names the fields that leave")
        self.require_not_erased()
        if recipient_kind is not RecipientKind.EMERGENCY_SERVICES:  # never held back
            self.require_supervisor_decision("information leaving the hotline")
        recipient = None if recipient_id is None else str(recipient_id)
        consent_id = None
        if exception is None and recipient_kind is RecipientKind.EMERGENCY_SERVICES:
            raise ConsentRequired(
                "information goes to emergency services only under an exception (imminent "
                "harm, suspected abuse of a minor, legal obligation) that a supervisor "
                "authorizes with a written justification"
            )
        if (
            recipient_kind is RecipientKind.CHILD_PROTECTION_AUTHORITY
            and exception is not Exception_.SUSPECTED_ABUSE_OF_A_MINOR
        ):
            raise ConsentRequired(
                "information goes to a child-protection authority only under the "
                "SUSPECTED_ABUSE_OF_A_MINOR exception, which a supervisor authorizes with a "
                "written justification"
            )
        if exception is None:
            scope = (
                ConsentScope.SHARE_WITH_ORGANIZATION
                if recipient_kind is RecipientKind.ORGANIZATION
                else ConsentScope.REPORT_TO_LAW_ENFORCEMENT
            )
            consent = self._consent_for(scope, recipient, fields, now)
            if consent is None:
                raise ConsentRequired(
                    f"no active, unexpired consent ({scope.value}) covers this recipient; "
                    "record the caller's consent, or a supervisor may authorize an exception "
                    "(suspected abuse of a minor, imminent harm, legal obligation) with a "
                    "written justification"
                )
            consent_id = consent["id"]
            justification = clean_text(justification, "the justification")
        else:
            _require_supervisor(f"a disclosure under the {exception.value} exception")
            justification = clean_text(justification, "an exception", required=True)
        self.trigger_event(
            self.InformationDisclosed,
            disclosure_id=str(disclosure_id),
            recipient_kind=recipient_kind.value,
            recipient_id=recipient,
            fields=[f.value for f in fields],
            consent_id=consent_id,
            exception=None if exception is None else exception.value,
            justification=seal(justification) if justification else "",
            sealed_copy=sealed_copy,
            policy_version=current_actor().policy_version,
            # What the copy holds of the minor (cases.py copies it from these details).
            minor_involved_sent=(
                self.details.get("minorInvolved")
                if DisclosableField.MINOR_INVOLVED in fields
                else None
            ),
        )

    # -- referral, report, emergency -----------------------------------------------------

    class ReferralMade(AuditedAggregate.Event):
        referral_id: str
        organization_id: str
        mode: str
        needs: list[str]
        disclosure_id: str | None

        def apply(self, case: Case) -> None:
            case.referrals[self.referral_id] = {
                "id": self.referral_id,
                "organizationId": self.organization_id,
                "mode": self.mode,
                "needs": self.needs,
                "disclosureId": self.disclosure_id,
                "at": self.timestamp,
                "outcomes": [],
            }

    def refer(
        self,
        referral_id: UUID,
        organization_id: UUID,
        mode: str,
        needs: list[Need],
        disclosure_id: UUID | None,
    ) -> None:
        self._require_open()
        self.trigger_event(
            self.ReferralMade,
            referral_id=str(referral_id),
            organization_id=str(organization_id),
            mode=mode,
            needs=[n.value for n in needs],
            disclosure_id=None if disclosure_id is None else str(disclosure_id),
        )

    class ReferralOutcomeReported(AuditedAggregate.Event):
        referral_id: str
        outcome: str
        note: str

        def apply(self, case: Case) -> None:
            case.referrals[self.referral_id]["outcomes"].append(
                {"at": self.timestamp, "outcome": self.outcome, "note": self.note}
            )

    def report_referral_outcome(
        self, referral_id: UUID, organization_id: str, outcome: str, note: str, seal: Seal = _as_is
    ) -> None:
        referral = self.referrals.get(str(referral_id))
        if referral is None or referral["organizationId"] != organization_id:
            raise UnknownReferral("referral not found")
        note = clean_text(note, "the note")
        self.trigger_event(
            self.ReferralOutcomeReported,
            referral_id=str(referral_id),
            outcome=outcome,
            note=seal(note) if note else "",
        )

    class ReportedToLawEnforcement(AuditedAggregate.Event):
        class_version = 2  # v2: the facts from the case, and a jurisdiction override

        report_id: str
        agency_id: str
        protocol_id: str
        factors: dict[str, Any]
        facts: ReportFacts | None
        jurisdiction_override: str
        disclosure_id: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            # Recorded before the facts were filled in from the case (the eight factors were
            # all the supervisor's words) and before reports were held to the jurisdiction.
            state["facts"] = None
            state["jurisdiction_override"] = ""

        def apply(self, case: Case) -> None:
            case.reports[self.report_id] = {
                "id": self.report_id,
                "agencyId": self.agency_id,
                "protocolId": self.protocol_id,
                "factors": self.factors,
                "facts": self.facts,
                "jurisdictionOverride": self.jurisdiction_override,
                "disclosureId": self.disclosure_id,
                "at": self.timestamp,
                "by": self.actor_id,
            }

    def report(
        self,
        report_id: UUID,
        agency_id: UUID,
        protocol_id: UUID,
        factors: dict[str, Any],
        disclosure_id: UUID,
        seal: Seal = _as_is,
        *,
        jurisdiction: dict[str, str],
        override: str = "",
        now: datetime,
    ) -> None:
        """A supervisor's report under a protocol for ``jurisdiction``: the judgement factors
        in their words, the facts as the case holds them."""
        self._require_open()
        _require_supervisor("a report to law enforcement")
        self.require_supervisor_decision("a report to law enforcement")
        judgement = judgement_factors(factors)
        override = self.check_jurisdiction(jurisdiction, override)
        self.trigger_event(
            self.ReportedToLawEnforcement,
            report_id=str(report_id),
            agency_id=str(agency_id),
            protocol_id=str(protocol_id),
            factors={k: seal(v) for k, v in judgement.items()},
            facts=self.report_facts(str(agency_id), now),
            jurisdiction_override=seal(override) if override else "",
            disclosure_id=str(disclosure_id),
        )
        disclosure = self.disclosures.get(str(disclosure_id))
        if disclosure is not None and self._covers_the_minor(disclosure):
            self._decide(MandatoryReportDecision.REPORTED_TO_LAW_ENFORCEMENT, str(report_id))

    def check_jurisdiction(self, jurisdiction: dict[str, str], override: str) -> str:
        """The override to record ("" when the protocol's jurisdiction covers the case's
        province, and municipality for a municipal protocol). Anything else, a case with no
        province yet included, goes only by a supervisor's override with a justification."""
        override = clean_text(override, "jurisdictionOverride")
        if covers(jurisdiction, self.details.get("province"), self.details.get("municipality")):
            if override:
                raise InvalidInput(
                    [
                        "jurisdictionOverride: the protocol covers the case's jurisdiction; "
                        "no override is needed"
                    ]
                )
            return ""
        if not override:
            where = (
                "the case has no province or territory recorded yet"
                if self.details.get("province") is None
                else "the protocol's jurisdiction does not cover the case's province or "
                "territory (or, for a municipal protocol, its municipality)"
            )
            raise OutsideJurisdiction(
                f"a report goes under a protocol of the case's own jurisdiction: {where}; "
                "use that jurisdiction's protocol, record the case's place, or a supervisor "
                "may override with a written justification (jurisdictionOverride)"
            )
        _require_supervisor("a report outside the case's jurisdiction")
        return override

    def report_facts(self, agency_id: str, now: datetime) -> ReportFacts:
        """What the case holds of the factors weighed in a report, as it stands ``now``."""
        details = self.details
        consent = self.active_consent(ConsentScope.REPORT_TO_LAW_ENFORCEMENT, agency_id, now)
        state = ConsentOnRecord.NONE if consent is None else ConsentOnRecord.ACTIVE
        if consent is None:
            for c in self.consents.values():
                if c["scope"] != ConsentScope.REPORT_TO_LAW_ENFORCEMENT.value:
                    continue
                if c["recipientId"] not in (None, agency_id):
                    continue
                if c["withdrawnAt"] is not None:
                    state = ConsentOnRecord.WITHDRAWN
                elif state is ConsentOnRecord.NONE:
                    state = ConsentOnRecord.EXPIRED
        return {
            "urgency": details.get("urgency"),
            "imminentHarm": details.get("imminentHarm"),
            "minorInvolved": details.get("minorInvolved", Tristate.UNKNOWN.value),
            "indicators": list(details.get("indicators", [])),
            "consent": state.value,
            "consentId": None if consent is None else consent["id"],
        }

    class EmergencyServicesContacted(AuditedAggregate.Event):
        # v2: the number may be unknown, and says where it came from; v3: why fields asked
        # for were not sent (the call is recorded all the same).
        class_version = 3

        province: str | None
        number: str | None
        number_source: str
        community: str | None
        disclosure_id: str | None
        disclosure_not_made: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            # v1 always had a number (the call was refused without one), and kept the province
            # as text: an unknown one could only have been written as "None".
            if state.get("province") in ("None", ""):
                state["province"] = None
            state["number_source"] = "NINE_ONE_ONE" if state["number"] == "911" else "TERRITORY"
            state["community"] = None

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            # Before v3 a disclosure that could not be made refused the call itself.
            state["disclosure_not_made"] = None

        def apply(self, case: Case) -> None:
            case.emergencies.append(
                {
                    "at": self.timestamp,
                    "province": self.province,
                    "number": self.number,
                    "numberSource": self.number_source,
                    "community": self.community,
                    "disclosureId": self.disclosure_id,
                    "disclosureNotMade": self.disclosure_not_made,
                }
            )

    def contact_emergency_services(
        self,
        number: EmergencyNumber,
        disclosure_id: UUID | None,
        disclosure_not_made: str | None = None,
    ) -> None:
        """Records the call. Never refused: not for want of a number (an unknown one is
        recorded as unknown), not on a closed case (it stays closed), not because what was
        to be disclosed with it could not be (``disclosure_not_made`` says why; the
        application warns)."""
        self.trigger_event(
            self.EmergencyServicesContacted,
            province=number.province,
            number=number.number,
            number_source=number.source.value,
            community=number.community,
            disclosure_id=None if disclosure_id is None else str(disclosure_id),
            disclosure_not_made=disclosure_not_made,
        )

    # -- mandatory reporting (domain/mandatory_report.py) --------------------------------

    class MandatoryReportFlagged(AuditedAggregate.Event):
        """A minor is or may be involved in a case that references abuse or trafficking: a
        supervisor must record a report, or why none is required, before the case closes."""

        def apply(self, case: Case) -> None:
            case.mandatory_report = {
                "flaggedAt": self.timestamp,
                "decision": None,
                "decidedAt": None,
                "decidedBy": None,
                "reportId": None,
                "justification": "",
            }

    class MandatoryReportDecided(AuditedAggregate.Event):
        decision: str
        report_id: str | None
        justification: str

        def apply(self, case: Case) -> None:
            assert case.mandatory_report is not None
            case.mandatory_report = {
                **case.mandatory_report,
                "decision": self.decision,
                "decidedAt": self.timestamp,
                "decidedBy": self.actor_id,
                "reportId": self.report_id,
                "justification": self.justification,
                "version": self.originator_version,
            }

    class ReportedToChildProtection(AuditedAggregate.Event):
        report_id: str
        authority_id: str
        disclosure_id: str
        jurisdiction_override: str

        def apply(self, case: Case) -> None:
            case.child_protection = {
                **(case.child_protection or {}),
                self.report_id: {
                    "id": self.report_id,
                    "authorityId": self.authority_id,
                    "disclosureId": self.disclosure_id,
                    "jurisdictionOverride": self.jurisdiction_override,
                    "at": self.timestamp,
                    "by": self.actor_id,
                },
            }

    @property
    def awaits_mandatory_report_decision(self) -> bool:
        return self.mandatory_report is not None and self.mandatory_report["decision"] is None

    def check_child_protection_report(self, covered: bool, override: str) -> str:
        """Whether a supervisor may report this case to a child-protection authority whose
        jurisdiction does (``covered``) or does not cover it; returns the cleaned override."""
        self._require_open()
        _require_supervisor("a report to a child-protection authority")
        if not minor_possible(self.details, self._minor_consented()):
            raise NoMinorInvolved(
                "a child-protection authority receives reports about minors: record that a "
                "minor is or may be involved (minorInvolved YES or UNKNOWN) first"
            )
        override = clean_text(override, "a jurisdiction override")
        if not covered and not override:
            raise OutsideJurisdiction(
                "this authority's jurisdiction does not cover the case's province or "
                "municipality: choose the authority for the case's place (set the case's "
                "province and municipality first), or write why this one must receive it "
                "(jurisdictionOverride)"
            )
        return override

    def report_to_child_protection(
        self,
        report_id: UUID,
        authority_id: UUID,
        disclosure_id: UUID,
        covered: bool,
        override: str,
        seal: Seal = _as_is,
    ) -> None:
        """Records the report whose disclosure (under SUSPECTED_ABUSE_OF_A_MINOR) was just
        recorded; it settles the mandatory-report decision if one is awaited."""
        override = self.check_child_protection_report(covered, override)
        disclosure = self.disclosures.get(str(disclosure_id))
        if disclosure is None or disclosure["recipientId"] != str(authority_id):
            raise ConsentRequired("a report goes with its disclosure to the same authority")
        self.trigger_event(
            self.ReportedToChildProtection,
            report_id=str(report_id),
            authority_id=str(authority_id),
            disclosure_id=str(disclosure_id),
            jurisdiction_override=seal(override) if override else "",
        )
        self._decide(MandatoryReportDecision.REPORTED_TO_CHILD_PROTECTION, str(report_id))

    def decide_no_mandatory_report(self, justification: str, seal: Seal = _as_is) -> None:
        """A supervisor's written decision that no report is required."""
        self._require_open()
        _require_supervisor("deciding that no mandatory report is required")
        if not self.awaits_mandatory_report_decision:
            raise NoMandatoryReportPending(
                "this case awaits no mandatory-report decision (none was flagged, or one "
                "is already recorded)"
            )
        justification = clean_text(
            justification, "a decision that no report is required", required=True
        )
        self.trigger_event(
            self.MandatoryReportDecided,
            decision=MandatoryReportDecision.NO_REPORT_REQUIRED.value,
            report_id=None,
            justification=seal(justification),
        )

    def _flag_if_needed(self) -> None:
        """Flags the case when its facts call for a decision and none is on record, or when
        they changed after a decision that no report is required (taken on other facts, it no
        longer stands). A report made before the flag never settles it by itself: the
        supervisor says so (``settle_by_earlier_report``), so the decision is theirs."""
        if not calls_for_decision(self.details, self._minor_consented()):
            return
        if self.mandatory_report is None or self._no_report_decision_outdated():
            self.trigger_event(self.MandatoryReportFlagged)

    def _no_report_decision_outdated(self) -> bool:
        """A decision that no report is required, recorded before the minor facts last
        changed. A report made stays: the authority was told (see docs/minors.md)."""
        flag = self.mandatory_report
        return (
            flag is not None
            and flag["decision"] == MandatoryReportDecision.NO_REPORT_REQUIRED.value
            and flag.get("version", 0) < self.minor_facts_version
        )

    def settle_by_earlier_report(self, report_id: UUID) -> None:
        """A supervisor records that a report made before the case was flagged (or flagged
        again) was the mandatory report: to a child-protection authority, or to law
        enforcement under SUSPECTED_ABUSE_OF_A_MINOR or telling it a minor is or may be
        involved."""
        self._require_open()
        _require_supervisor("recording that an earlier report was the mandatory report")
        if not self.awaits_mandatory_report_decision:
            raise NoMandatoryReportPending(
                "this case awaits no mandatory-report decision (none was flagged, or one "
                "is already recorded)"
            )
        made = str(report_id)
        if made in (self.child_protection or {}):
            decision = MandatoryReportDecision.REPORTED_TO_CHILD_PROTECTION
        elif made in self.reports:
            if not self._covers_the_minor(self.disclosures[self.reports[made]["disclosureId"]]):
                raise ReportSilentOnTheMinor(
                    "this report did not tell the agency a minor is or may be involved (it "
                    "was not under SUSPECTED_ABUSE_OF_A_MINOR, and sent no minorInvolved YES "
                    "or UNKNOWN): report now (reportToLawEnforcement under "
                    "SUSPECTED_ABUSE_OF_A_MINOR, or reportToChildProtection), or record why "
                    "none is required (decideNoMandatoryReport)"
                )
            decision = MandatoryReportDecision.REPORTED_TO_LAW_ENFORCEMENT
        else:
            raise UnknownReport("there is no such report on this case")
        self._decide(decision, made)

    def _decide(self, decision: MandatoryReportDecision, report_id: str) -> None:
        if self.awaits_mandatory_report_decision:
            self.trigger_event(
                self.MandatoryReportDecided,
                decision=decision.value,
                report_id=report_id,
                justification="",
            )

    @staticmethod
    def _covers_the_minor(disclosure: Disclosure) -> bool:
        """A report to law enforcement is the mandatory report when made under the
        SUSPECTED_ABUSE_OF_A_MINOR exception, or when it told the agency a minor is or may be
        involved: the minorInvolved value it sent was YES or UNKNOWN (a field sent as NO, or
        empty, told it nothing of the sort)."""
        return (
            disclosure["exception"] == Exception_.SUSPECTED_ABUSE_OF_A_MINOR.value
            or disclosure.get("minorInvolvedSent") in MINOR_POSSIBLE
        )

    def _minor_consented(self) -> bool:
        return any(c["givenBy"] == ConsentGiver.MINOR.value for c in self.consents.values())

    def _consent_for(
        self,
        scope: ConsentScope,
        recipient: str | None,
        fields: list[DisclosableField],
        now: datetime,
    ) -> Consent | None:
        """The consent a disclosure rests on. A minor's own consent does not alone authorize
        sending their personal data to law enforcement: that is a supervisor's report under
        the SUSPECTED_ABUSE_OF_A_MINOR exception (or a guardian's consent)."""
        if scope is not ConsentScope.REPORT_TO_LAW_ENFORCEMENT or not PERSONAL_FIELDS & set(fields):
            return self.active_consent(scope, recipient, now)
        consent = self.active_consent(scope, recipient, now, not_by_a_minor=True)
        if consent is None and self.active_consent(scope, recipient, now) is not None:
            raise MinorConsentInsufficient(
                "a minor's own consent does not alone authorize sending their personal data "
                "to law enforcement: leave the caller's personal data out, or a supervisor "
                "reports under the SUSPECTED_ABUSE_OF_A_MINOR exception with a written "
                "justification"
            )
        return consent

    def _require_mandatory_report_decided(self) -> None:
        if self.awaits_mandatory_report_decision:
            raise MandatoryReportDecisionRequired(
                "a minor is or may be involved in this case: before it closes, a supervisor "
                "records a report (reportToLawEnforcement under SUSPECTED_ABUSE_OF_A_MINOR or "
                "telling the agency minorInvolved YES or UNKNOWN, or reportToChildProtection), "
                "that a report made before the flag was it (settleMandatoryReportByEarlierReport)"
                " or a written decision that none is required (decideNoMandatoryReport)"
            )

    # -- closing ---------------------------------------------------------------------------

    class Closed(AuditedAggregate.Event):
        reason: str

        def apply(self, case: Case) -> None:
            case.open = False
            case.history.append({"at": self.timestamp, "what": "CLOSED", "note": self.reason})

    def close(self, reason: str, seal: Seal = _as_is) -> None:
        self._require_open()
        self.require_supervisor_decision("closing the case")
        self._require_mandatory_report_decided()
        self.trigger_event(
            self.Closed, reason=seal(clean_text(reason, "closing a case", required=True))
        )

    class Reopened(AuditedAggregate.Event):
        reason: str

        def apply(self, case: Case) -> None:
            case.open = True
            case.history.append({"at": self.timestamp, "what": "REOPENED", "note": self.reason})

    def reopen(self, reason: str, seal: Seal = _as_is) -> None:
        if self.open:
            raise CaseOpen("the case is already open")
        self.trigger_event(
            self.Reopened, reason=seal(clean_text(reason, "reopening a case", required=True))
        )

    # -- legal hold and erasure ---------------------------------------------------------

    class LegalHoldPlaced(AuditedAggregate.Event):
        reason: str

        def apply(self, case: Case) -> None:
            case.legal_hold = {"at": self.timestamp, "by": self.actor_id, "reason": self.reason}

    def place_legal_hold(self, reason: str) -> None:
        _require_supervisor("placing a legal hold")
        if self.legal_hold is not None:
            raise LegalHold("a legal hold is already recorded on this case")
        self.trigger_event(
            self.LegalHoldPlaced, reason=clean_text(reason, "a legal hold", required=True)
        )

    class LegalHoldReleased(AuditedAggregate.Event):
        reason: str

        def apply(self, case: Case) -> None:
            case.legal_hold = None

    def release_legal_hold(self, reason: str) -> None:
        _require_supervisor("releasing a legal hold")
        if self.legal_hold is None:
            raise LegalHold("there is no legal hold on this case")
        self.trigger_event(
            self.LegalHoldReleased,
            reason=clean_text(reason, "releasing a legal hold", required=True),
        )

    class PersonalDataErased(AuditedAggregate.Event):
        """The case's key was destroyed: every sealed copy of its data is unreadable. The
        event holds no data; from here on the state holds no ciphertext either."""

        reason: str

        def apply(self, case: Case) -> None:
            case.erased_at = self.timestamp
            case.sealed_personal = ""
            for disclosure in case.disclosures.values():
                disclosure["sealedCopy"] = ""

    def erase_personal_data(self, reason: str) -> None:
        _require_supervisor("erasing a caller's personal data")
        reason = clean_text(reason, "erasing personal data", required=True)
        if self.legal_hold is not None:
            raise LegalHold(
                "a legal hold is recorded on this case: it must be released "
                "before the caller's personal data can be erased"
            )
        if self.erased_at is not None:
            raise AlreadyErased("this case's personal data was already erased")
        self.trigger_event(self.PersonalDataErased, reason=reason)

    # -- answers from the recipients ----------------------------------------------------
    # A partner answers a referral to its own organization, and a liaison acknowledges a
    # report to its own agency: whose it is comes from the acting user's organization, and
    # another's item is refused exactly as a missing one. Neither needs the case open (a
    # recipient is not told whether it is), and neither discloses anything.

    class ReferralAnswered(AuditedAggregate.Event):
        referral_id: str
        answer: str
        reason: str | None
        note: str

        def apply(self, case: Case) -> None:
            case.referrals[self.referral_id]["answer"] = {
                "at": self.timestamp,
                "by": self.actor_id,
                "answer": self.answer,
                "reason": self.reason,
                "note": self.note,
            }

    def answer_referral(
        self,
        referral_id: UUID,
        answer: ReferralAnswerKind,
        reason: DeclineReason | None,
        note: str,
        seal: Seal = _as_is,
    ) -> None:
        """The addressed partner accepts or declines, once, before its own intake."""
        referral = self.referrals.get(str(referral_id))
        organization = current_actor().organization_id
        if referral is None or organization is None or referral["organizationId"] != organization:
            raise UnknownReferral("referral not found")
        if answer is ReferralAnswerKind.DECLINED and reason is None:
            raise ReasonRequired("declining a referral needs a reason")
        if answer is ReferralAnswerKind.ACCEPTED and reason is not None:
            raise InvalidInput(["reason: only a referral declined gives a reason"])
        note = clean_text(note, "the note")
        if referral.get("answer") is not None:
            raise ReferralAlreadyAnswered(
                "this referral was already answered; report what became of it as an outcome"
            )
        self.trigger_event(
            self.ReferralAnswered,
            referral_id=str(referral_id),
            answer=answer.value,
            reason=None if reason is None else reason.value,
            note=seal(note) if note else "",
        )

    class ReportAcknowledged(AuditedAggregate.Event):
        report_id: str
        contact_name: str
        file_number: str

        def apply(self, case: Case) -> None:
            case.reports[self.report_id]["acknowledgement"] = {
                "at": self.timestamp,
                "by": self.actor_id,
                "contactName": self.contact_name,
                "fileNumber": self.file_number,
            }

    def acknowledge_report(
        self, report_id: UUID, contact_name: str, file_number: str, seal: Seal = _as_is
    ) -> None:
        """The addressed agency acknowledges a report, once, with who handles it and its file
        number if it gives them (sealed: a name is personal data)."""
        report = self.reports.get(str(report_id))
        agency = current_actor().organization_id
        if report is None or agency is None or report["agencyId"] != agency:
            raise UnknownReport("report not found")
        problems = []
        cleaned = {}
        for what, value, limit in (
            ("contactName", contact_name, MAX_CONTACT_NAME),
            ("fileNumber", file_number, MAX_FILE_NUMBER),
        ):
            try:
                cleaned[what] = clean_text(value, what, limit=limit)
            except InvalidInput as error:
                problems += error.problems
        if problems:
            raise InvalidInput(problems)
        if report.get("acknowledgement") is not None:
            raise ReportAlreadyAcknowledged("this report was already acknowledged")
        self.trigger_event(
            self.ReportAcknowledged,
            report_id=str(report_id),
            contact_name=seal(cleaned["contactName"]) if cleaned["contactName"] else "",
            file_number=seal(cleaned["fileNumber"]) if cleaned["fileNumber"] else "",
        )

    def _require_open(self) -> None:
        if not self.open:
            raise CaseClosed("the case is closed; reopen it first")

    def require_not_erased(self) -> None:
        """Nothing more leaves a case whose personal data was erased (checked by ``disclose``,
        and by the application before it opens the sealed data to copy)."""
        if self.erased_at is not None:
            raise DataErased(
                "this case's personal data was erased: nothing more can leave from it "
                "(a referral relayed to the caller, sending nothing, is still possible)"
            )
