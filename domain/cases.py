"""The case use cases: open, consent, disclose, refer, report, call emergency services.

A mixin over the write path, as the directory's use cases are (``domain/hotline.py`` joins
the two over one store), so cases and the directory share one event store and one notification
log: a referral can check the organization it goes to, and the log's integrity covers
everything. Personal data is sealed with the case's key before any event
holds it, and so is the free text staff write on a case; idempotency fingerprints hold sealed
text only as a keyed digest (the vault's key), never its values nor a digest anyone could
compute to confirm a guess.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from domain.base import DomainError, InvalidInput, NotFound, clean_text
from domain.case import (
    JUDGEMENT_FACTORS,
    PERSONAL_FIELDS,
    CallerRelationship,
    Case,
    Channel,
    ConsentGiver,
    ConsentMethod,
    ConsentScope,
    DataErased,
    DeclineReason,
    DisclosableField,
    Exception_,
    Indicator,
    Need,
    RecipientKind,
    ReferralAnswerKind,
    ReferralMode,
    ReferralOutcomeKind,
    SituationType,
    Tristate,
    Urgency,
    judgement_factors,
)
from domain.emergency import EmergencyNumber, EmergencyNumbers, NumberSource
from domain.idempotency import Sealed
from domain.mandatory_report import covers
from domain.organization import Organization, Status
from domain.reporting_protocol import ReportingProtocol
from domain.vault import ERASED_TEXT, SEALED_TEXT, Vault
from domain.vocabulary import (
    PROVINCES,
    OrganizationKind,
    is_language_code,
)
from domain.write_path import Outcome, WritePath

# What a report's input gives: the judgement factors (the facts come from the case).
REPORT_FACTORS = JUDGEMENT_FACTORS
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[0-9 ()\-.]{3,30}$")


class OrganizationNotAvailable(DomainError):
    code = "ORGANIZATION_NOT_AVAILABLE"


@dataclass(frozen=True)
class Standing:
    """What a case command checks of an organization: read under its lock, not copied."""

    kind: str
    state: Status
    status: str
    regions: tuple[tuple[str, str], ...] = ()  # (province, municipality or "")

    @classmethod
    def of(cls, organization: Organization) -> Standing:
        regions = tuple(
            (str(r.get("province", "")), str(r.get("municipality", "")))
            for r in organization.profile.get("regions") or []
        )
        return cls(
            str(organization.profile["kind"]), organization.state, str(organization.status), regions
        )


def _now() -> datetime:
    return datetime.now(UTC)


def parse_personal(data: Mapping[str, Any]) -> dict[str, str]:
    problems = []
    personal: dict[str, str] = {}
    for key, limit in (
        ("name", 200),
        ("phone", 40),
        ("email", 200),
        ("otherContact", 500),
        ("notes", 4000),
        ("assessment", 4000),
    ):
        value = data.get(key)
        if value is None:
            continue
        try:
            text = clean_text(str(value), key, limit=limit)
        except InvalidInput as error:
            problems += error.problems
            continue
        if text:
            personal[key] = text
    if personal.get("phone") and not _PHONE.match(personal["phone"]):
        problems.append("phone is not a phone number")
    if personal.get("email") and not _EMAIL.match(personal["email"]):
        problems.append("email is not an email address")
    if problems:
        raise InvalidInput(problems)
    return personal


def parse_details(data: Mapping[str, Any]) -> dict[str, Any]:
    """The case's structured details: no free text here (free text is sealed)."""
    problems: list[str] = []
    details: dict[str, Any] = {}

    def choice(key: str, allowed: type[Any]) -> None:
        if key in data and data[key] is not None:
            value = getattr(data[key], "value", data[key])
            if value not in {m.value for m in allowed}:
                problems.append(f"{key}: unknown value {value!r}")
            else:
                details[key] = value

    province = data.get("province")
    if province is not None:
        if province not in PROVINCES:
            problems.append(
                f"province: unknown province or territory code {province!r}; "
                f"expected one of {', '.join(PROVINCES)}"
            )
        else:
            details["province"] = province
    if data.get("municipality"):
        try:
            details["municipality"] = clean_text(
                str(data["municipality"]), "municipality", limit=200
            )
        except InvalidInput as error:
            problems += error.problems
    choice("minorInvolved", Tristate)
    choice("situationType", SituationType)
    choice("urgency", Urgency)
    if "imminentHarm" in data and data["imminentHarm"] is not None:
        details["imminentHarm"] = bool(data["imminentHarm"])
    if "needs" in data and data["needs"] is not None:
        needs = [getattr(n, "value", n) for n in data["needs"]]
        unknown = [n for n in needs if n not in {m.value for m in Need}]
        if unknown:
            problems.append(f"needs: unknown values {unknown!r}")
        details["needs"] = sorted(set(needs) - set(unknown))
    if "indicators" in data and data["indicators"] is not None:
        indicators = [getattr(i, "value", i) for i in data["indicators"]]
        unknown = [i for i in indicators if i not in {m.value for m in Indicator}]
        if unknown:
            problems.append(f"indicators: unknown values {unknown!r}")
        details["indicators"] = sorted(set(indicators) - set(unknown))
    if data.get("assignedTo") is not None:
        try:
            details["assignedTo"] = clean_text(str(data["assignedTo"]), "assignedTo", limit=200)
        except InvalidInput as error:
            problems += error.problems
    if problems:
        raise InvalidInput(problems)
    return details


def _sealed(data: Mapping[str, str]) -> dict[str, Sealed]:
    """Sealed text in an idempotency fingerprint: digested with the vault's key, so a repeat
    with other text of the same length is refused, and nobody without the key can confirm a
    guessed value from a stored fingerprint."""
    return {key: Sealed(value) for key, value in data.items()}


# The warning's code when a call was recorded without the disclosure asked for with it.
DISCLOSURE_NOT_MADE = "DISCLOSURE_NOT_MADE"


def _with_brief(fields: list[DisclosableField], brief: str) -> list[DisclosableField]:
    """A brief given is sent: it is among the fields disclosed (a referral, a report, an
    emergency call alike), never dropped silently."""
    if brief and DisclosableField.BRIEF not in fields:
        return [*fields, DisclosableField.BRIEF]
    return fields


def _not_made(error: DomainError) -> str:
    """Why a disclosure was not made, as the call records it (domain messages hold no
    personal data)."""
    return f"{error.code}: {error}"


@dataclass(frozen=True)
class EmergencyCall:
    """A recorded call: the number, and why nothing was sent with it when fields were
    asked for and could not be."""

    number: EmergencyNumber
    disclosure_not_made: str | None = None

    @property
    def warning(self) -> str | None:
        """Everything the caller of the API must know, or None: the call stands either way."""
        warnings = [self.number.warning] if self.number.warning else []
        if self.disclosure_not_made:
            warnings.append(
                f"{DISCLOSURE_NOT_MADE}: the call is recorded but nothing was sent with it "
                f"({self.disclosure_not_made})"
            )
        return " | ".join(warnings) or None


class CaseUseCases(WritePath):
    """The cases' commands, a mixin over the write path; idempotency fingerprints digest sealed
    text with the vault's key."""

    name = WritePath.name

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        vault: Vault,
        emergency_numbers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(env, keyed_digest=self._keyed_digest_of, **kwargs)
        self.vault = vault
        self.emergency_numbers = EmergencyNumbers(emergency_numbers or {})

    def _keyed_digest_of(self, text: str) -> str:
        """Sealed text in a fingerprint, digested with the vault's key (asked when needed)."""
        return self.vault.keyed_digest(text)

    # -- opening and working a case --------------------------------------------------------

    def open_case(
        self,
        key: str,
        channel: Channel,
        language: str,
        relationship: CallerRelationship,
        personal: Mapping[str, Any],
        details: Mapping[str, Any],
    ) -> Outcome:
        clean_personal = parse_personal(personal)
        clean_details = parse_details(details)
        language = language.strip().lower()
        if not is_language_code(language):
            raise InvalidInput([f"language: {language!r} is not an ISO 639-1 or 639-3 code"])
        case_id = uuid4()
        inputs = {
            "channel": channel.value,
            "language": language,
            "relationship": relationship.value,
            "details": clean_details,
            "personal": _sealed(clean_personal),
        }

        def open_it(_new: object) -> Case:
            self.vault.create_key(case_id)
            return Case.open_case(
                id=case_id,
                channel=channel,
                language=language,
                relationship=relationship,
                sealed_personal=self.vault.seal(case_id, clean_personal),
                has_personal_data=bool(set(clean_personal) - {"notes", "assessment"}),
                details=clean_details,
            )

        return self._run(key, "openCase", inputs, open_it, check_first=True)

    def update_case(self, key: str, case_id: UUID, details: Mapping[str, Any]) -> Outcome:
        clean = parse_details(details)
        return self._change(
            key,
            "updateCase",
            case_id,
            {"details": clean},
            Case,
            lambda c: c.update_details(clean),
            what="case",
        )

    def request_supervisor(self, key: str, case_id: UUID, question: str) -> Outcome:
        """Staff bring a supervisor into the case with their question (sealed: free text)."""
        request_id = uuid4()
        return self._change(
            key,
            "requestSupervisor",
            case_id,
            _sealed({"question": question}),
            Case,
            lambda c: c.request_supervisor(request_id, question, self._sealer(c)),
            what="case",
        )

    def consult_supervisor(
        self, key: str, case_id: UUID, decision: str, next_steps: str
    ) -> Outcome:
        """A supervisor's decision and the next steps; it answers the case's open requests."""
        return self._change(
            key,
            "consultSupervisor",
            case_id,
            _sealed({"decision": decision, "nextSteps": next_steps}),
            Case,
            lambda c: c.consult_supervisor(decision, next_steps, self._sealer(c)),
            what="case",
        )

    # -- legal hold and erasure ---------------------------------------------------------------

    def place_legal_hold(self, key: str, case_id: UUID, reason: str) -> Outcome:
        return self._change(
            key,
            "placeLegalHold",
            case_id,
            {"reason": reason},
            Case,
            lambda c: c.place_legal_hold(reason),
            what="case",
        )

    def release_legal_hold(self, key: str, case_id: UUID, reason: str) -> Outcome:
        return self._change(
            key,
            "releaseLegalHold",
            case_id,
            {"reason": reason},
            Case,
            lambda c: c.release_legal_hold(reason),
            what="case",
        )

    def erase_personal_data(self, key: str, case_id: UUID, reason: str) -> Outcome:
        """Records the intent, then the erasure, then destroys the case's key. If the process
        dies after the event, ``finish_erasures`` (at start-up and in the projection worker)
        destroys the key; so does a repeat with the same idempotency key."""
        self.vault.begin_erasure(case_id)
        try:
            outcome = self._change(
                key,
                "erasePersonalData",
                case_id,
                {"reason": reason},
                Case,
                lambda c: c.erase_personal_data(reason),
                what="case",
            )
        except Exception:
            self.vault.cancel_erasure(case_id)
            raise
        self.vault.destroy_key(case_id)
        return outcome

    def finish_erasures(self) -> None:
        """Finishes erasures a crash interrupted (their event saved, their key not destroyed)."""

        def is_erased(case_id: UUID) -> bool:
            try:
                return self._get(case_id, Case, "case").erased_at is not None
            except NotFound:
                return False

        self.vault.finish_erasures(is_erased)

    def close_case(self, key: str, case_id: UUID, reason: str) -> Outcome:
        return self._change(
            key,
            "closeCase",
            case_id,
            _sealed({"reason": reason}),
            Case,
            lambda c: c.close(reason, self._sealer(c)),
            what="case",
        )

    def reopen_case(self, key: str, case_id: UUID, reason: str) -> Outcome:
        return self._change(
            key,
            "reopenCase",
            case_id,
            _sealed({"reason": reason}),
            Case,
            lambda c: c.reopen(reason, self._sealer(c)),
            what="case",
        )

    # -- consent ---------------------------------------------------------------------------

    def grant_consent(
        self,
        key: str,
        case_id: UUID,
        scope: ConsentScope,
        recipient_id: UUID | None,
        given_by: ConsentGiver,
        method: ConsentMethod,
        expires_at: datetime | None,
    ) -> Outcome:
        if expires_at is not None and expires_at <= _now():
            raise InvalidInput(["expiresAt is already past: a consent must expire later"])
        if scope is ConsentScope.SHARE_WITH_ORGANIZATION and recipient_id is None:
            raise InvalidInput(["recipientId: a consent to share names the organization"])
        consent_id = uuid4()

        def decide(case: Case) -> None:
            # The recipient is checked in the decision, so a repeated key whose organization
            # has changed since still returns the first result.
            if scope is ConsentScope.SHARE_WITH_ORGANIZATION:
                assert recipient_id is not None
                self._service_provider(recipient_id, "consents to share", must_be_included=False)
            if scope is ConsentScope.REPORT_TO_LAW_ENFORCEMENT and recipient_id is not None:
                self._agency(recipient_id)
            case.grant_consent(consent_id, scope, recipient_id, given_by, method, expires_at)

        return self._change(
            key,
            "grantConsent",
            case_id,
            {
                "scope": scope.value,
                "recipient": recipient_id,
                "givenBy": given_by.value,
                "method": method.value,
                "expiresAt": expires_at,
            },
            Case,
            decide,
            what="case",
        )

    def withdraw_consent(self, key: str, case_id: UUID, consent_id: UUID) -> Outcome:
        return self._change(
            key,
            "withdrawConsent",
            case_id,
            {"consent": consent_id},
            Case,
            lambda c: c.withdraw_consent(consent_id),
            what="case",
        )

    # -- information leaving the hotline -----------------------------------------------------

    def refer(
        self,
        key: str,
        case_id: UUID,
        organization_id: UUID,
        mode: ReferralMode,
        needs: list[Need],
        fields: list[DisclosableField],
        brief: str,
        exception: Exception_ | None = None,
        justification: str = "",
    ) -> Outcome:
        referral_id, disclosure_id = uuid4(), uuid4()
        brief = clean_text(brief, "brief")
        # Anything sent to the organization is a disclosure: with the fields asked for go the
        # needs its inbox shows, and the brief when there is one. A relayed referral (the
        # caller contacts the organization) sends nothing, and so needs no basis.
        fields = _with_brief(fields, brief)
        if fields and DisclosableField.NEEDS not in fields:
            fields = [*fields, DisclosableField.NEEDS]

        def decide(case: Case) -> None:
            # Checked in the decision: a repeated key returns the first result even if the
            # organization has been removed since.
            self._service_provider(organization_id, "referrals")
            disclosed = None
            if fields:
                self._disclose(
                    case,
                    disclosure_id,
                    RecipientKind.ORGANIZATION,
                    organization_id,
                    fields,
                    brief,
                    exception,
                    justification,
                    needs=needs,
                )
                disclosed = disclosure_id
            case.refer(referral_id, organization_id, mode.value, needs, disclosed)

        return self._change(
            key,
            "refer",
            case_id,
            {
                "organization": organization_id,
                "mode": mode.value,
                "needs": [n.value for n in needs],
                "fields": [f.value for f in fields],
                "brief": _sealed({"brief": brief}),
                "exception": exception and exception.value,
                **_sealed({"justification": justification}),
            },
            Case,
            decide,
            what="case",
        )

    def report_referral_outcome(
        self,
        key: str,
        case_id: UUID,
        referral_id: UUID,
        organization_id: str,
        outcome: ReferralOutcomeKind,
        note: str,
    ) -> Outcome:
        return self._change(
            key,
            "reportReferralOutcome",
            case_id,
            {"referral": referral_id, "outcome": outcome.value, **_sealed({"note": note})},
            Case,
            lambda c: c.report_referral_outcome(
                referral_id, organization_id, outcome.value, note, self._sealer(c)
            ),
            what="referral",
        )

    def answer_referral(
        self,
        key: str,
        case_id: UUID,
        referral_id: UUID,
        answer: ReferralAnswerKind,
        reason: DeclineReason | None,
        note: str,
    ) -> Outcome:
        return self._change(
            key,
            "answerReferral",
            case_id,
            {
                "referral": referral_id,
                "answer": answer.value,
                "reason": reason and reason.value,
                **_sealed({"note": note}),
            },
            Case,
            lambda c: c.answer_referral(referral_id, answer, reason, note, self._sealer(c)),
            what="referral",
        )

    def acknowledge_report(
        self, key: str, case_id: UUID, report_id: UUID, contact_name: str, file_number: str
    ) -> Outcome:
        return self._change(
            key,
            "acknowledgeReport",
            case_id,
            {
                "report": report_id,
                **_sealed({"contactName": contact_name, "fileNumber": file_number}),
            },
            Case,
            lambda c: c.acknowledge_report(report_id, contact_name, file_number, self._sealer(c)),
            what="report",
        )

    def report_to_law_enforcement(
        self,
        key: str,
        case_id: UUID,
        protocol_id: UUID,
        factors: Mapping[str, Any],
        fields: list[DisclosableField],
        brief: str,
        exception: Exception_ | None = None,
        justification: str = "",
        jurisdiction_override: str = "",
    ) -> Outcome:
        """A supervisor's report under ``protocol_id``, whose jurisdiction must cover the
        case's (else ``jurisdiction_override`` says why not); ``factors`` are the judgement
        factors only: the facts are the case's."""
        clean_factors = judgement_factors(dict(factors))
        override = clean_text(jurisdiction_override, "jurisdictionOverride")
        report_id, disclosure_id = uuid4(), uuid4()
        brief = clean_text(brief, "brief")
        fields = _with_brief(fields, brief)

        def decide(case: Case) -> None:
            # Checked in the decision: a repeated key returns the first result even if the
            # protocol or its agency has changed since.
            protocol = self._get(protocol_id, ReportingProtocol, "reporting protocol")
            agency = self._agency(protocol.agency_id)
            if agency.state is not Status.INCLUDED:
                raise OrganizationNotAvailable(
                    f"reports go only to included agencies; this one is {agency.status}"
                )
            # Before anything is disclosed: a report outside the case's jurisdiction sends
            # nothing without a supervisor's override.
            case.check_jurisdiction(protocol.jurisdiction, override)
            self._disclose(
                case,
                disclosure_id,
                RecipientKind.LAW_ENFORCEMENT,
                protocol.agency_id,
                fields,
                brief,
                exception,
                justification,
            )
            case.report(
                report_id,
                protocol.agency_id,
                protocol_id,
                clean_factors,
                disclosure_id,
                self._sealer(case),
                jurisdiction=protocol.jurisdiction,
                override=override,
                now=_now(),
            )

        return self._change(
            key,
            "reportToLawEnforcement",
            case_id,
            {
                "protocol": protocol_id,
                "factors": _sealed(clean_factors),
                **({"override": Sealed(override)} if override else {}),
                "fields": [f.value for f in fields],
                "brief": _sealed({"brief": brief}),
                "exception": exception and exception.value,
                **_sealed({"justification": justification}),
            },
            Case,
            decide,
            what="case",
        )

    def report_to_child_protection(
        self,
        key: str,
        case_id: UUID,
        authority_id: UUID,
        fields: list[DisclosableField],
        brief: str,
        justification: str,
        jurisdiction_override: str = "",
    ) -> Outcome:
        """A supervisor's report to a child-protection authority: a disclosure under the
        SUSPECTED_ABUSE_OF_A_MINOR exception, and the report that settles the case's
        mandatory-report decision."""
        report_id, disclosure_id = uuid4(), uuid4()
        brief = clean_text(brief, "brief")
        fields = _with_brief(fields, brief)

        def decide(case: Case) -> None:
            authority = self._child_protection_authority(authority_id)
            covered = covers(
                ({"province": p, "municipality": m} for p, m in authority.regions),
                case.details.get("province"),
                case.details.get("municipality"),
            )
            case.check_child_protection_report(covered, jurisdiction_override)
            self._disclose(
                case,
                disclosure_id,
                RecipientKind.CHILD_PROTECTION_AUTHORITY,
                authority_id,
                fields,
                brief,
                Exception_.SUSPECTED_ABUSE_OF_A_MINOR,
                justification,
            )
            case.report_to_child_protection(
                report_id,
                authority_id,
                disclosure_id,
                covered,
                jurisdiction_override,
                self._sealer(case),
            )

        return self._change(
            key,
            "reportToChildProtection",
            case_id,
            {
                "authority": authority_id,
                "fields": [f.value for f in fields],
                "brief": _sealed({"brief": brief}),
                **_sealed({"justification": justification, "override": jurisdiction_override}),
            },
            Case,
            decide,
            what="case",
        )

    def decide_no_mandatory_report(self, key: str, case_id: UUID, justification: str) -> Outcome:
        return self._change(
            key,
            "decideNoMandatoryReport",
            case_id,
            _sealed({"justification": justification}),
            Case,
            lambda c: c.decide_no_mandatory_report(justification, self._sealer(c)),
            what="case",
        )

    def settle_mandatory_report_by_earlier_report(
        self, key: str, case_id: UUID, report_id: UUID
    ) -> Outcome:
        """A supervisor records that a report made before the flag was the mandatory report."""
        return self._change(
            key,
            "settleMandatoryReportByEarlierReport",
            case_id,
            {"reportId": str(report_id)},
            Case,
            lambda c: c.settle_by_earlier_report(report_id),
            what="case",
        )

    def contact_emergency_services(
        self,
        key: str,
        case_id: UUID,
        fields: list[DisclosableField],
        brief: str,
        exception: Exception_ | None,
        justification: str,
        disclosure_withheld: str | None = None,
    ) -> Outcome:
        """Records a call to emergency services: never refused (issue 16). What was asked to
        be disclosed with it goes only if a disclosure can be made; if not (no exception, an
        erased case, a closed one, a limit the edge applied: ``disclosure_withheld``, as
        ``CODE: why``), the call is recorded without it and says why, so the answer warns.
        Not in the fingerprint: a repeat returns the first call, whatever the limit says now."""
        disclosure_id = uuid4()
        not_made = disclosure_withheld
        try:
            brief = clean_text(brief, "brief")
        except InvalidInput as error:
            not_made = not_made or _not_made(error)
        fields = _with_brief(fields, brief)

        def decide(case: Case) -> None:
            number = self.emergency_number_for(case)
            disclosed, why = None, not_made
            if fields and why is None:
                try:
                    self._disclose(
                        case,
                        disclosure_id,
                        RecipientKind.EMERGENCY_SERVICES,
                        None,
                        fields,
                        brief,
                        exception,
                        justification,
                    )
                    disclosed = disclosure_id
                except DomainError as error:  # a refused disclosure triggers no event
                    why = _not_made(error)
            case.contact_emergency_services(number, disclosed, why if fields else None)

        return self._change(
            key,
            "contactEmergencyServices",
            case_id,
            {
                "fields": [f.value for f in fields],
                "brief": _sealed({"brief": brief}),
                "exception": exception and exception.value,
                **_sealed({"justification": justification}),
            },
            Case,
            decide,
            what="case",
        )

    # -- reads the API needs ---------------------------------------------------------------

    def emergency_number_for(self, case: Case) -> EmergencyNumber:
        """The number emergency services answer on for the case's place, or why it is
        unknown."""
        return self.emergency_numbers.for_place(
            case.details.get("province"), case.details.get("municipality")
        )

    def emergency_number(self, case_id: UUID) -> EmergencyNumber:
        """The number for a case, before the call is made."""
        return self._read(case_id, Case, "case", self.emergency_number_for)

    def emergency_call(self, case_id: UUID, version: int) -> EmergencyCall:
        """The call a ``contactEmergencyServices`` recorded (the case at that version)."""
        case: Case = self.repository.get(case_id, version=version)
        call = case.emergencies[-1]
        return EmergencyCall(
            EmergencyNumber(
                call["province"],
                call["number"],
                NumberSource(call.get("numberSource", NumberSource.NINE_ONE_ONE.value)),
                call.get("community"),
            ),
            call.get("disclosureNotMade"),
        )

    def open_sealed(self, case_id: UUID, sealed: str) -> dict[str, Any] | None:
        return self.vault.open(case_id, sealed)

    # -- helpers ---------------------------------------------------------------------------

    def _disclose(
        self,
        case: Case,
        disclosure_id: UUID,
        kind: RecipientKind,
        recipient: UUID | None,
        fields: list[DisclosableField],
        brief: str,
        exception: Exception_ | None,
        justification: str,
        needs: list[Need] | None = None,
    ) -> None:
        """Seals a copy of exactly the disclosed values (for a referral, the needs it is for)."""
        case.require_not_erased()
        if kind is not RecipientKind.EMERGENCY_SERVICES:  # checked before the data is opened
            case.require_supervisor_decision("information leaving the hotline")
        copy: dict[str, Any] = {}
        if PERSONAL_FIELDS & set(fields):
            personal = self.vault.open(case.id, case.sealed_personal, for_decision=True)
            if personal is None:
                raise DataErased("this case's personal data was erased")
            names = {
                DisclosableField.CALLER_NAME: "name",
                DisclosableField.CALLER_PHONE: "phone",
                DisclosableField.CALLER_EMAIL: "email",
                DisclosableField.CALLER_OTHER_CONTACT: "otherContact",
            }
            for field, name in names.items():
                if field in fields:
                    copy[field.value] = personal.get(name)
        details = case.details
        simple = {
            DisclosableField.LANGUAGE: case.language,
            DisclosableField.LOCATION: {
                "province": details.get("province"),
                "municipality": details.get("municipality"),
            },
            DisclosableField.MINOR_INVOLVED: details.get("minorInvolved"),
            DisclosableField.SITUATION_TYPE: details.get("situationType"),
            DisclosableField.URGENCY: details.get("urgency"),
            DisclosableField.NEEDS: (
                [n.value for n in needs] if needs is not None else details.get("needs", [])
            ),
            DisclosableField.INDICATORS: details.get("indicators", []),
            DisclosableField.BRIEF: brief,
        }
        for field, value in simple.items():
            if field in fields:
                copy[field.value] = value
        case.disclose(
            disclosure_id,
            kind,
            recipient,
            fields,
            exception,
            justification,
            self.vault.seal(case.id, copy),
            _now(),
            self._sealer(case),
        )

    def _sealer(self, case: Case) -> Callable[[str], str]:
        """Seals staff-written free text with the case's key, so an erasure takes it too.
        Once the case is erased there is no key: text written after is not kept."""
        if case.erased_at is not None:
            return lambda _text: ERASED_TEXT
        return lambda text: SEALED_TEXT + self.vault.seal(case.id, {"text": text})

    def open_text(self, case_id: UUID, value: str) -> str:
        """Free text as staff wrote it, or a marker once the case's key is gone."""
        if not value.startswith(SEALED_TEXT):
            return value  # recorded in clear before free text was sealed
        opened = self.vault.open(case_id, value[len(SEALED_TEXT) :])
        return ERASED_TEXT if opened is None else str(opened["text"])

    def _organization(self, organization_id: UUID) -> Standing:
        """What a case command checks of an organization (which it never changes)."""
        return self._read(organization_id, Organization, "organization", Standing.of)

    def _service_provider(
        self, organization_id: UUID, what: str, must_be_included: bool = True
    ) -> Standing:
        """An included organization other than a law-enforcement agency: information for law
        enforcement goes only by a supervisor's report, under the agency's protocol."""
        organization = self._organization(organization_id)
        if organization.kind == OrganizationKind.LAW_ENFORCEMENT_AGENCY.value:
            raise OrganizationNotAvailable(
                f"{what} do not go to a law-enforcement agency: a supervisor reports to it "
                "under its reporting protocol"
            )
        if organization.kind == OrganizationKind.CHILD_PROTECTION_AUTHORITY.value:
            raise OrganizationNotAvailable(
                f"{what} do not go to a child-protection authority: a supervisor reports to "
                "it (reportToChildProtection)"
            )
        if must_be_included and organization.state is not Status.INCLUDED:
            raise OrganizationNotAvailable(
                f"{what} go only to included organizations; this one is {organization.status}"
            )
        return organization

    def _agency(self, agency_id: UUID) -> Standing:
        agency = self._organization(agency_id)
        if agency.kind != OrganizationKind.LAW_ENFORCEMENT_AGENCY.value:
            raise NotFound("law-enforcement agency not found")
        return agency

    def _child_protection_authority(self, authority_id: UUID) -> Standing:
        """An included child-protection authority (any other organization looks missing)."""
        authority = self._organization(authority_id)
        if authority.kind != OrganizationKind.CHILD_PROTECTION_AUTHORITY.value:
            raise NotFound("child-protection authority not found")
        if authority.state is not Status.INCLUDED:
            raise OrganizationNotAvailable(
                f"reports go only to included authorities; this one is {authority.status}"
            )
        return authority
