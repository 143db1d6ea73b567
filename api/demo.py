"""A clearly fictional directory for trying nrd out: every name says it is an example.

Loaded through the real commands, so it exercises the same rules as any other write.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from domain.base import ANONYMOUS_ROLE, Actor, acting_as
from domain.case import (
    CallerRelationship,
    Case,
    Channel,
    ConsentGiver,
    ConsentMethod,
    ConsentScope,
    DeclineReason,
    DisclosableField,
    Exception_,
    Need,
    ReferralAnswerKind,
    ReferralMode,
)
from domain.cases import REPORT_FACTORS, CaseUseCases
from domain.contact import Direction, Disposition
from domain.directory import DirectoryUseCases
from domain.hotline import Hotline
from domain.organization import ContactOutcome, Organization
from domain.queues import ORGANIZATION_SOURCES, items_of
from domain.vocabulary import PROVINCES, Criterion, FocusArea, Population, ServiceCategory
from projections.aggregates import iso

ALL_CRITERIA = [c.value for c in Criterion]
_PLACES = {
    "CA-AB": "Calgary",
    "CA-BC": "Vancouver",
    "CA-MB": "Winnipeg",
    "CA-NB": "Moncton",
    "CA-NL": "St. John's",
    "CA-NS": "Halifax",
    "CA-NT": "Yellowknife",
    "CA-NU": "Iqaluit",
    "CA-ON": "Toronto",
    "CA-PE": "Charlottetown",
    "CA-QC": "Montréal",
    "CA-SK": "Regina",
    "CA-YT": "Whitehorse",
}
_KINDS = [
    (
        "DIRECT_SERVICE_PROVIDER",
        "Example Harbour Shelter",
        "Refuge Exemple du Havre",
        "Emergency shelter and safety planning for survivors",
        "Hébergement d'urgence et plan de sécurité pour les survivantes",
    ),
    (
        "DIRECT_SERVICE_PROVIDER",
        "Example Legal Clinic",
        "Clinique juridique exemple",
        "Free legal advice on immigration and labour rights",
        "Conseils juridiques gratuits en immigration et droit du travail",
    ),
    (
        "INDIRECT_SERVICE_PROVIDER",
        "Example Training Collective",
        "Collectif de formation exemple",
        "Training and volunteer opportunities",
        "Formation et bénévolat",
    ),
    (
        "COALITION_OR_NETWORK",
        "Example Regional Coalition",
        "Coalition régionale exemple",
        "A network of agencies coordinating referrals",
        "Un réseau d'organismes qui coordonne les références",
    ),
]


def demo_profile(index: int, province: str, rng: random.Random) -> dict[str, Any]:
    kind, name_en, name_fr, desc_en, desc_fr = _KINDS[index % len(_KINDS)]
    city = _PLACES[province]
    return {
        "kind": kind,
        "nameEn": f"{name_en} {index:03d} ({city}) — fictional",
        "nameFr": f"{name_fr} {index:03d} ({city}) — fictif",
        "descriptionEn": desc_en,
        "descriptionFr": desc_fr,
        "services": [
            {
                "nameEn": "Emergency shelter",
                "nameFr": "Hébergement d'urgence",
                "category": rng.choice([c.value for c in ServiceCategory]),
                "natures": rng.sample(["SOCIAL", "LEGAL"], rng.randint(1, 2)),
            }
        ],
        "focusAreas": rng.sample([f.value for f in FocusArea], 2),
        "populations": rng.sample([p.value for p in Population], 2),
        "languages": rng.sample(["en", "fr", "es", "tl", "iu", "cr", "ar"], 2),
        "regions": [{"province": province, "municipality": city}],
        "hours": "24/7",
        "intakeProcess": "Call the intake line; no referral needed.",
        "referralProtocol": "Warm transfer to the intake coordinator (fictional).",
        "publicContact": {
            "phone": f"+1 555 010 {index:04d}",
            "email": f"info{index}@example.org",
            "website": f"https://example.org/{index}",
        },
        "pointOfContact": {
            "name": f"Fictional Coordinator {index}",
            "title": "Intake lead",
            "phone": f"+1 555 020 {index:04d}",
            "email": f"coordinator{index}@example.org",
        },
        "location": {
            "province": province,
            "municipality": city,
            "address": f"{100 + index} Example Street",
            "confidential": False,
        },
    }


def load_demo(
    app: DirectoryUseCases,
    count: int = 36,
    seed: int = 7,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, UUID]:
    """Applies, reviews and includes ``count`` fictional organizations; returns a few ids."""
    rng = random.Random(seed)  # noqa: S311 - fictional demo data, not secrets
    provinces = list(PROVINCES)
    ids: dict[str, UUID] = {}
    staff = Actor("demo-staff", "staff", request_id="demo")
    partner_profile: dict[str, Any] = {}
    for index in range(count):
        province = provinces[index % len(provinces)]
        profile = demo_profile(index, province, rng)
        if index == 0:
            profile["location"]["confidential"] = True
            profile["nameEn"] = "Example Safe House 000 — fictional, confidential location"
        with acting_as(staff):
            listed = index % 5 != 4  # every fifth one stays out of the public directory
            org = app.apply_for_inclusion(
                f"demo-apply-{seed}-{index}",
                profile,
                ALL_CRITERIA,
                listed,
                "Demo: the organization's signed listing form (fictional)",
            ).id
            app.start_review(f"demo-review-{seed}-{index}", org)
            if index % 9 == 8:
                app.request_more_information(
                    f"demo-info-{seed}-{index}",
                    org,
                    "Please describe your intake hours (fictional).",
                )
            else:
                app.approve_inclusion(f"demo-approve-{seed}-{index}", org, "Demo approval")
        if index == 0:
            ids["confidential"] = org
        if index == 1:
            ids["partner"] = org
            partner_profile = profile
        if index == 2:
            ids["unreachable"] = org
        if progress is not None:
            progress(index + 1, count)
    agency_profile = demo_profile(999, "CA-ON", rng)
    agency_profile.update(
        {
            "kind": "LAW_ENFORCEMENT_AGENCY",
            "nameEn": "Example Regional Police Service — fictional",
            "nameFr": "Service de police régional exemple — fictif",
        }
    )
    with acting_as(staff):
        agency = app.apply_for_inclusion(
            f"demo-agency-{seed}", agency_profile, ALL_CRITERIA, False
        ).id
        app.start_review(f"demo-agency-review-{seed}", agency)
        app.record_contact_attempt(
            f"demo-agency-contact-{seed}",
            agency,
            ContactOutcome.REACHED,
            "Confirmed protocol contacts",
        )
        protocol = app.establish_reporting_protocol(
            f"demo-protocol-{seed}",
            agency,
            "CA-ON",
            "Toronto",
            [
                {
                    "name": "Fictional Detective One",
                    "role": "Human trafficking unit lead",
                    "phone": "+1 555 030 0001",
                    "email": "ht-unit@example.org",
                    "availability": "Weekdays 8-16",
                },
                {
                    "name": "Fictional Duty Sergeant",
                    "role": "After hours",
                    "phone": "+1 555 030 0002",
                    "availability": "Evenings and weekends",
                },
            ],
        ).id
        # An agency is included on its request and the protocol established for it.
        app.include_agency(f"demo-agency-approve-{seed}", agency, "Demo approval", protocol)
    ids["agency"] = agency
    ids["protocol"] = protocol
    ids["child_protection"] = _child_protection_authority(app, seed, rng)
    # The partner's form sent again through the public form, its name typed another way: the
    # internal directory flags it to staff as a possible duplicate, with a link to the partner.
    again = {**partner_profile, "nameEn": str(partner_profile["nameEn"]).upper() + "!"}
    with acting_as(Actor("demo-public", ANONYMOUS_ROLE, request_id="demo")):
        ids["possible_duplicate"] = app.apply_for_inclusion(
            str(uuid5(NAMESPACE_URL, f"nrd-demo-duplicate-{seed}")), again, ALL_CRITERIA, True
        ).id
    return ids


def _child_protection_authority(app: DirectoryUseCases, seed: int, rng: random.Random) -> UUID:
    """A child-protection authority for Ontario: a public body, so no service criteria; a
    supervisor includes it on a written verification."""
    profile = demo_profile(998, "CA-ON", rng)
    profile.update(
        {
            "kind": "CHILD_PROTECTION_AUTHORITY",
            "nameEn": "Example Children's Aid Society of Ontario — fictional",
            "nameFr": "Société d'aide à l'enfance exemple de l'Ontario — fictif",
            "regions": [{"province": "CA-ON"}],
        }
    )
    with acting_as(Actor("demo-staff", "staff", request_id="demo")):
        authority = app.apply_for_inclusion(f"demo-cpa-{seed}", profile, [], False).id
        app.start_review(f"demo-cpa-review-{seed}", authority)
    # A public body: a supervisor includes it on a written verification that it is the body.
    with acting_as(Actor("demo-supervisor", "supervisor", request_id="demo")):
        app.include_public_body(
            f"demo-cpa-include-{seed}",
            authority,
            "A statutory body: checked against the province's list (fictional)",
        )
    return authority


def load_demo_cases(app: CaseUseCases, ids: dict[str, UUID]) -> None:
    """Fictional cases: one referred to the demo partner, one reported to the demo agency
    under its Toronto protocol (each after a supervisor's decision), a minor's case waiting for
    its mandatory-report decision, one in Nunavut whose emergency call was recorded with no
    number configured, and a potential trafficking case waiting for a supervisor (an open
    request)."""
    staff = Actor("demo-staff", "staff", request_id="demo")
    supervisor = Actor("demo-supervisor", "supervisor", request_id="demo")
    with acting_as(staff):
        referred = app.open_case(
            "demo-case-1",
            Channel.CALL,
            "en",
            CallerRelationship.VICTIM_OR_SURVIVOR,
            {
                "name": "Fictional Caller One",
                "phone": "+1 555 019 0001",
                "notes": "Demo notes: entirely fictional.",
            },
            {
                "province": "CA-BC",
                "urgency": "HIGH",
                "needs": ["SHELTER", "LEGAL"],
                "situationType": "LABOUR_TRAFFICKING",
                "minorInvolved": "NO",
            },
        ).id
        app.grant_consent(
            "demo-case-1-consent",
            referred,
            ConsentScope.SHARE_WITH_ORGANIZATION,
            ids["partner"],
            ConsentGiver.CALLER,
            ConsentMethod.VERBAL,
            None,
        )
        app.grant_consent(
            "demo-case-1-statistics",
            referred,
            ConsentScope.NON_IDENTIFYING_STATISTICS,
            None,
            ConsentGiver.CALLER,
            ConsentMethod.VERBAL,
            None,
        )
        app.request_supervisor(
            "demo-case-1-request",
            referred,
            "Labour trafficking described (fictional demo): may we refer to the partner tonight?",
        )
    with acting_as(supervisor):
        app.consult_supervisor(
            "demo-case-1-decision",
            referred,
            "Refer to the demo partner with the caller's consent; no report (fictional demo).",
            "Warm transfer tonight; follow up in a week (fictional demo).",
        )
    with acting_as(staff):
        app.refer(
            "demo-case-1-referral",
            referred,
            ids["partner"],
            ReferralMode.WARM_TRANSFER,
            [Need.SHELTER, Need.LEGAL],
            [DisclosableField.CALLER_NAME, DisclosableField.NEEDS, DisclosableField.BRIEF],
            "Fictional demo brief: needs a safe place tonight.",
        )
        reported = app.open_case(
            "demo-case-2",
            Channel.CHAT,
            "fr",
            CallerRelationship.COMMUNITY_MEMBER,
            {},
            {
                "province": "CA-ON",
                "municipality": "Toronto",  # the demo protocol's jurisdiction
                "urgency": "IMMINENT_HARM",
                "situationType": "SEX_TRAFFICKING",
                "minorInvolved": "UNKNOWN",
            },
        ).id
        # An emergency in Nunavut: the demo configures no number there, so the call is
        # recorded with the number unknown (``emergencyNumber`` says why).
        remote = app.open_case(
            "demo-case-nunavut",
            Channel.CALL,
            "iu",
            CallerRelationship.FAMILY_OR_FRIEND,
            {},
            {"province": "CA-NU", "municipality": "Iqaluit", "urgency": "IMMINENT_HARM"},
        ).id
        app.contact_emergency_services("demo-case-nunavut-emergency", remote, [], "", None, "")
    with acting_as(supervisor):
        app.consult_supervisor(
            "demo-case-2-decision",
            reported,
            "Report under the local protocol (fictional demo).",
            "Report to the demo agency now; call the caller back (fictional demo).",
        )
        app.report_to_law_enforcement(
            "demo-case-2-report",
            reported,
            ids["protocol"],
            {factor: "fictional demo assessment" for factor in REPORT_FACTORS},
            [DisclosableField.LOCATION, DisclosableField.URGENCY, DisclosableField.BRIEF],
            "Fictional demo brief.",
            Exception_.IMMINENT_HARM,
            "Imminent harm described by a fictional community member.",
        )
    _minors_case(app)
    load_demo_answers(app, ids, referred, reported)
    _waiting_for_a_supervisor(app)


def _minors_case(app: CaseUseCases) -> None:
    """A fifteen-year-old in the sex trade, by chat: flagged, waiting for a supervisor to report
    (``reportToChildProtection`` to the demo authority) or to decide that none is required."""
    with acting_as(Actor("demo-staff", "staff", request_id="demo")):
        minor = app.open_case(
            "demo-case-3",
            Channel.CHAT,
            "en",
            CallerRelationship.VICTIM_OR_SURVIVOR,
            {"name": "Fictional Young Caller Three"},
            {
                "province": "CA-ON",
                "municipality": "Toronto",
                "urgency": "HIGH",
                "situationType": "SEX_TRAFFICKING",
                "minorInvolved": "YES",
                "indicators": ["MINOR_IN_COMMERCIAL_SEX", "MOVEMENT_CONTROLLED"],
            },
        ).id
        app.grant_consent(
            "demo-case-3-follow-up",
            minor,
            ConsentScope.FOLLOW_UP_CONTACT,
            None,
            ConsentGiver.MINOR,
            ConsentMethod.CHAT,
            None,
        )


def _waiting_for_a_supervisor(app: CaseUseCases) -> None:
    """Possible labour trafficking, by text: staff asked a supervisor whether to refer or report;
    nothing leaves the case, and it cannot close, until a supervisor decides."""
    with acting_as(Actor("demo-staff", "staff", request_id="demo")):
        waiting = app.open_case(
            "demo-case-waiting",
            Channel.TEXT,
            "en",
            CallerRelationship.FAMILY_OR_FRIEND,
            {"notes": "Demo notes: a fictional friend worried about a fictional cousin."},
            {
                "province": "CA-MB",
                "urgency": "MEDIUM",
                "situationType": "UNKNOWN",
                "indicators": ["DOCUMENTS_CONFISCATED", "DEBT_BONDAGE"],
                "minorInvolved": "NO",
            },
        ).id
        app.request_supervisor(
            "demo-case-waiting-request",
            waiting,
            "Possible labour trafficking (fictional demo): refer to a legal clinic, or report?",
        )


def load_demo_work(app: Hotline, ids: dict[str, UUID]) -> None:
    """Work in the hotline's own queues beside what the demo cases already queue (a referral for
    the partner to answer, a report for the agency to acknowledge): an application waiting for
    review, taken up by a demo staff member, and an organization flagged unreachable."""
    staff = Actor("demo-staff", "staff", request_id="demo")
    rng = random.Random(11)  # noqa: S311 - fictional demo data, not secrets
    waiting = demo_profile(2, "CA-NS", rng)
    waiting["nameEn"] = "Example Waiting Applicant — fictional"
    waiting["nameFr"] = "Demandeur exemple en attente — fictif"
    with acting_as(staff):
        applicant = app.apply_for_inclusion("demo-work-apply", waiting, ALL_CRITERIA, False).id
        for attempt in range(3):
            app.record_contact_attempt(
                f"demo-work-contact-{attempt}",
                ids["unreachable"],
                ContactOutcome.NO_ANSWER,
                "No answer at the fictional intake line",
            )
        org: Organization = app.repository.get(applicant)
        [item] = items_of(ORGANIZATION_SOURCES, org, str(applicant))
        app.assign_work_item(
            "demo-work-assign",
            item.queue.value,
            item.subject_id,
            iso(item.since) or "",
            item.owner,
            "demo-staff",
        )


# Demo contacts start at fixed moments, so that loading the demo again (same keys, same
# requests) writes nothing; a completed month of them shows in the public contact statistics.
_CONTACTS_MONTH = datetime(2025, 10, 1, 9, 0, tzinfo=UTC)
_CONTACTS_DAY = datetime(2025, 11, 14, 21, 0, tzinfo=UTC)


def load_demo_contacts(app: Hotline) -> None:
    """Contacts with and without cases: a hang-up, an information-only chat, a test call, a
    caller's three contacts on one case (the text attached after, a callback on consent), and a
    month of contacts for the public counts."""
    staff = Actor("demo-staff", "staff", request_id="demo")
    at = _CONTACTS_DAY

    def contact(key: str, minutes: int, **facts: Any) -> UUID:
        values: dict[str, Any] = {
            "channel": Channel.CALL,
            "direction": Direction.INBOUND,
            "duration_seconds": 300,
            "language": "en",
            "disposition": Disposition.INFORMATION_ONLY,
            **facts,
        }
        return app.record_contact(
            f"demo-contact-{key}",
            values["channel"],
            values["direction"],
            at + timedelta(minutes=minutes),
            values["duration_seconds"],
            values["language"],
            values["disposition"],
            values.get("province"),
            values.get("case_id"),
        ).id

    with acting_as(staff):
        contact("hang-up", 0, duration_seconds=4, language=None, disposition=Disposition.HANG_UP)
        contact("information", 15, channel=Channel.CHAT, language="fr", province="CA-QC")
        contact("test", 30, duration_seconds=20, disposition=Disposition.TEST_OR_PRANK)
        case = app.open_case(
            "demo-contact-case",
            Channel.CALL,
            "oj",
            CallerRelationship.VICTIM_OR_SURVIVOR,
            {"notes": "Demo notes: a fictional caller who called back by text."},
            {"province": "CA-MB", "urgency": "MEDIUM", "needs": ["SHELTER"]},
        ).id
        contact("case-first", 45, language="oj", case_id=case, disposition=Disposition.CASE_OPENED)
        text = contact(
            "case-text",
            90,
            channel=Channel.TEXT,
            language="oj",
            disposition=Disposition.CASE_UPDATED,
        )
        app.attach_contact("demo-contact-case-attach", text, case)
        app.grant_consent(
            "demo-contact-case-follow-up",
            case,
            ConsentScope.FOLLOW_UP_CONTACT,
            None,
            ConsentGiver.CALLER,
            ConsentMethod.VERBAL,
            None,
        )
        contact(
            "case-callback",
            120,
            direction=Direction.OUTBOUND,
            language="oj",
            case_id=case,
            disposition=Disposition.CASE_UPDATED,
        )
        # A month of contacts for the public counts: small ones suppressed there.
        at = _CONTACTS_MONTH
        for n, (channel, province) in enumerate(
            [(Channel.CALL, "CA-ON")] * 12
            + [(Channel.TEXT, "CA-BC")] * 6
            + [(Channel.EMAIL, "CA-NU")]
        ):
            contact(f"month-{n}", n * 97, channel=channel, province=province)


def load_demo_answers(
    app: CaseUseCases, ids: dict[str, UUID], referred: UUID, reported: UUID
) -> None:
    """What the recipients answered: the partner accepted the first referral and has a second
    to answer; the agency acknowledged the first report and has a second, whose consent the
    caller has since withdrawn, to acknowledge. A declined referral shows its reason."""
    staff = Actor("demo-staff", "staff", request_id="demo")
    supervisor = Actor("demo-supervisor", "supervisor", request_id="demo")
    partner = Actor("demo-partner", "partner", str(ids["partner"]), request_id="demo")
    liaison = Actor(
        "demo-law_enforcement", "law_enforcement", str(ids["agency"]), request_id="demo"
    )
    with acting_as(staff):
        for key, needs in (
            ("demo-case-1-referral-2", [Need.LEGAL]),
            ("demo-case-1-referral-3", [Need.HEALTH]),
        ):
            app.refer(
                key,
                referred,
                ids["partner"],
                ReferralMode.PHONE,
                needs,
                [DisclosableField.NEEDS, DisclosableField.BRIEF],
                "Fictional demo brief: asks about a work permit.",
            )
        withdrawn = app.open_case(
            "demo-case-4",
            Channel.TEXT,
            "en",
            CallerRelationship.VICTIM_OR_SURVIVOR,
            {},
            {
                "province": "CA-ON",
                "municipality": "Toronto",
                "urgency": "MEDIUM",
                "situationType": "LABOUR_TRAFFICKING",
                "minorInvolved": "NO",
            },
        ).id
        app.grant_consent(
            "demo-case-4-consent",
            withdrawn,
            ConsentScope.REPORT_TO_LAW_ENFORCEMENT,
            ids["agency"],
            ConsentGiver.CALLER,
            ConsentMethod.CHAT,
            None,
        )
    with acting_as(supervisor):
        app.consult_supervisor(
            "demo-case-4-decision",
            withdrawn,
            "Report with the caller's consent (fictional demo).",
            "Report to the demo agency under its Toronto protocol (fictional demo).",
        )
        app.report_to_law_enforcement(
            "demo-case-4-report",
            withdrawn,
            ids["protocol"],
            {factor: "fictional demo assessment" for factor in REPORT_FACTORS},
            [DisclosableField.LOCATION, DisclosableField.BRIEF],
            "Fictional demo brief: wages withheld at a fictional farm.",
        )
    cases: dict[UUID, Case] = {c: app.repository.get(c) for c in (withdrawn, referred, reported)}
    with acting_as(staff):
        consent = next(iter(cases[withdrawn].consents))
        app.withdraw_consent("demo-case-4-withdrawal", withdrawn, UUID(consent))
    first, _, third = cases[referred].referrals
    report = next(iter(cases[reported].reports))
    with acting_as(partner):
        app.answer_referral(
            "demo-case-1-answer",
            referred,
            UUID(first),
            ReferralAnswerKind.ACCEPTED,
            None,
            "Intake booked for tomorrow morning (fictional).",
        )
        app.answer_referral(
            "demo-case-1-answer-3",
            referred,
            UUID(third),
            ReferralAnswerKind.DECLINED,
            DeclineReason.NOT_ELIGIBLE,
            "We serve youth only (fictional).",
        )
    with acting_as(liaison):
        app.acknowledge_report(
            "demo-case-2-acknowledgement",
            reported,
            UUID(report),
            "Fictional Detective One",
            "FIC-DEMO-0001",
        )
