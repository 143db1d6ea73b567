"""The domain's enums as GraphQL enums, each type and value described in the hotline's words.

The domain's own enums are the GraphQL enums (one vocabulary, no conversions), and the domain
stays free of strawberry, so their descriptions live here, at the edge. strawberry describes a
value through ``strawberry.enum_value`` in the enum's own class body; for an enum defined
elsewhere there is no public way, so ``describe`` sets the description on strawberry's record
of each value (its ``EnumValue``) once the enum is registered, through ``api/schema/adapter.py``.
The schema test that fails on anything without a description also fails if strawberry stops
reading them from there.
"""

from __future__ import annotations

from enum import Enum

import strawberry
from strawberry.types.enum import has_enum_definition

from api.schema.adapter import describe_values


def describe(
    enum: type[Enum], description: str, values: dict[str, str], name: str | None = None
) -> None:
    """Registers ``enum`` as a GraphQL enum with its description and one for every value."""
    strawberry.enum(enum, name=name, description=description)
    if not has_enum_definition(enum):
        raise TypeError(f"strawberry did not register {enum.__name__} as an enum")
    members = {value.name for value in enum.__strawberry_definition__.values}
    described = set(values)
    if members != described:
        raise ValueError(
            f"{enum.__name__}: describe exactly its values; missing "
            f"{sorted(members - described)}, unknown {sorted(described - members)}"
        )
    describe_values(enum, values)


# -- the directory ----------------------------------------------------------------------------

ORGANIZATION_KIND = (
    "What kind of member of the directory an organization is.",
    {
        "DIRECT_SERVICE_PROVIDER": "Responds to victims and survivors with in-person services "
        "and supports: a referral for emergency, short-term or "
        "long-term social or legal needs.",
        "INDIRECT_SERVICE_PROVIDER": "A referral for people who want to get involved in "
        "anti-trafficking work, volunteer, find information, or "
        "obtain training or technical assistance.",
        "LAW_ENFORCEMENT_AGENCY": "A police service or other agency that receives the "
        "hotline's reports under a reporting protocol.",
        "GOVERNMENT_BODY": "A government department or agency.",
        "COALITION_OR_NETWORK": "A coalition or network of organizations.",
        "OTHER_ALLIED_ORGANIZATION": "Another organization allied in referrals or reporting.",
        "CHILD_PROTECTION_AUTHORITY": "A public body that receives reports of suspected abuse "
        "of a minor, for its jurisdiction (its regions); it attests no service-provider "
        "criteria.",
    },
)

FOCUS_AREA = (
    "An area of work an organization focuses on.",
    {
        "HUMAN_TRAFFICKING": "Human trafficking, sexual or labour.",
        "SEXUAL_ASSAULT": "Sexual assault.",
        "DOMESTIC_VIOLENCE": "Domestic and intimate-partner violence.",
        "LABOUR_RIGHTS": "Labour rights.",
        "HOMELESS_YOUTH": "Homeless and at-risk youth.",
        "INDIGENOUS_SPECIFIC": "Services specific to First Nations, Inuit and Métis people.",
        "IMMIGRATION_AND_REFUGEE": "Immigration and refugee supports.",
        "HEALTH_CARE": "Health care.",
        "OTHER": "Another related area.",
    },
)

SERVICE_CATEGORY = (
    "How long a service supports a person.",
    {
        "EMERGENCY": "Immediate help in a crisis (emergency shelter, crisis lines).",
        "SHORT_TERM_TRANSITIONAL": "Short-term or transitional support.",
        "LONG_TERM": "Long-term support.",
    },
)

SERVICE_NATURE = (
    "Whether a service is social or legal.",
    {
        "SOCIAL": "A social service (shelter, counselling, health, income, ...).",
        "LEGAL": "A legal service (advice, representation, immigration status, ...).",
    },
)

POPULATION = (
    "A group of people an organization serves.",
    {
        "ADULTS": "Adults.",
        "YOUTH": "Youth.",
        "CHILDREN": "Children.",
        "WOMEN": "Women.",
        "MEN": "Men.",
        "TWO_SPIRIT_AND_LGBTQIA": "Two-Spirit and LGBTQIA+ people.",
        "INDIGENOUS_PEOPLES": "First Nations, Inuit and Métis people.",
        "NEWCOMERS_AND_REFUGEES": "Newcomers and refugees.",
        "MIGRANT_WORKERS": "Migrant workers.",
        "PEOPLE_WITH_DISABILITIES": "People with disabilities.",
        "FAMILIES": "Families.",
        "ALL": "Everyone.",
    },
)

CRITERION = (
    "One of the seven minimum criteria for inclusion, as the organization attests it (the "
    "hotline cannot verify every detail itself).",
    {
        "SURVIVOR_CENTRED_RESPONSE": "Provides an appropriate, victim- and survivor-centred "
        "response.",
        "TRAUMA_INFORMED_QUALIFIED_STAFF": "Delivers social or legal services through "
        "trauma-informed practices, by qualified staff.",
        "INCLUSIVE_NON_DISCRIMINATORY": "Keeps inclusive, non-discriminatory practices in "
        "staffing and services.",
        "CLIENT_SAFETY": "Assures the safety of its clients.",
        "DATA_PROTECTION": "Protects client data (confidentiality, privacy, data security and "
        "mandatory reporting policies).",
        "GOOD_STANDING_COLLABORATIVE": "Is in good standing in its field and works "
        "collaboratively with other service providers.",
        "REGIONAL_BEST_PRACTICES": "Follows the guiding principles and best practices of its "
        "region.",
    },
)

ORGANIZATION_STATUS = (
    "Where an organization stands in the inclusion lifecycle.",
    {
        "SUBMITTED": "Applied; the review has not started.",
        "UNDER_REVIEW": "Hotline staff are reviewing the application.",
        "INFORMATION_REQUESTED": "Staff asked the organization for more information.",
        "INFORMATION_PROVIDED": "The organization answered; the review can resume.",
        "INCLUDED": "In the directory (and in the public one if it opted in). Inclusion is "
        "not endorsement.",
        "DECLINED": "The application was declined.",
        "REMOVED": "Removed from the directory by a supervisor.",
    },
)

REMOVAL_REASON = (
    "Why a supervisor removed an organization from the directory.",
    {
        "MISCONDUCT_ALLEGATION": "An allegation of misconduct (one must be on record).",
        "UNREACHABLE": "The point of contact could not be reached after several attempts.",
        "NO_LONGER_MEETS_CRITERIA": "The organization no longer meets the criteria.",
        "ORGANIZATION_REQUEST": "The organization asked to be removed.",
        "OTHER": "Another reason, given in the note.",
    },
)

CONTACT_OUTCOME = (
    "What came of an attempt to reach an organization's point of contact.",
    {
        "REACHED": "Reached: the count of failed attempts starts again from zero.",
        "NO_ANSWER": "No answer.",
        "LEFT_MESSAGE": "A message was left.",
        "NO_REPLY_TO_EMAIL": "An email went unanswered.",
        "WRONG_CONTACT_DETAILS": "The contact details on record are wrong.",
    },
)

# -- cases ------------------------------------------------------------------------------------

CHANNEL = (
    "How a caller reached the hotline.",
    {
        "CALL": "A phone call.",
        "TEXT": "A text message.",
        "CHAT": "A web chat.",
        "EMAIL": "An email.",
        "WEB_FORM": "The web form.",
    },
)

CALLER_RELATIONSHIP = (
    "Who the caller is to the situation.",
    {
        "VICTIM_OR_SURVIVOR": "A victim or survivor.",
        "FAMILY_OR_FRIEND": "A family member or friend.",
        "COMMUNITY_MEMBER": "A member of the community.",
        "SERVICE_PROVIDER": "A service provider.",
        "OTHER": "Someone else.",
        "ANONYMOUS": "The caller did not say.",
    },
)

TRISTATE = (
    "Yes, no, or not known.",
    {
        "YES": "Yes.",
        "NO": "No.",
        "UNKNOWN": "Not known.",
    },
)

CONSENT_ON_RECORD = (
    "The caller's consent to a report to the agency, as the case held it when reported.",
    {
        "ACTIVE": "An active, unexpired consent covered the agency.",
        "WITHDRAWN": "The caller had withdrawn the consent that covered the agency.",
        "EXPIRED": "The consent that covered the agency had lapsed.",
        "NONE": "The caller had given no consent to report to the agency.",
    },
)

EMERGENCY_NUMBER_SOURCE = (
    "Where an emergency number comes from, or why it is unknown.",
    {
        "NINE_ONE_ONE": "911: a province, or Yukon.",
        "COMMUNITY": "The configured number for the case's community (NRD_EMERGENCY_NUMBERS).",
        "TERRITORY": "The configured number for the territory (NRD_EMERGENCY_NUMBERS).",
        "NOT_CONFIGURED": "Unknown: no number is configured for the territory.",
        "PROVINCE_UNKNOWN": "Unknown: the case's province or territory is not recorded yet.",
    },
)

SITUATION_TYPE = (
    "The kind of situation a case is about.",
    {
        "SEX_TRAFFICKING": "Potential sex trafficking.",
        "LABOUR_TRAFFICKING": "Potential labour trafficking.",
        "BOTH": "Potential sex and labour trafficking.",
        "UNKNOWN": "Not known yet.",
        "NOT_TRAFFICKING": "Not a trafficking situation.",
    },
)

URGENCY = (
    "How soon a case needs action.",
    {
        "LOW": "Low.",
        "MEDIUM": "Medium.",
        "HIGH": "High.",
        "IMMINENT_HARM": "The caller or others are in imminent danger.",
    },
)

NEED = (
    "A need a caller has, and a referral is for.",
    {
        "EMERGENCY": "Emergency help.",
        "SHORT_TERM_TRANSITIONAL": "Short-term or transitional support.",
        "LONG_TERM": "Long-term support.",
        "SHELTER": "Shelter.",
        "LEGAL": "Legal help.",
        "HEALTH": "Health care.",
        "IMMIGRATION": "Immigration help.",
        "INCOME": "Income support.",
        "OTHER": "Another need.",
    },
)

CONSENT_SCOPE = (
    "What a caller's consent allows.",
    {
        "SHARE_WITH_ORGANIZATION": "Sharing information with one named organization.",
        "REPORT_TO_LAW_ENFORCEMENT": "Reporting to law enforcement (one agency, or any when "
        "none is named).",
        "FOLLOW_UP_CONTACT": "The hotline contacting the caller again.",
        "NON_IDENTIFYING_STATISTICS": "Counting the case in the de-identified public statistics.",
    },
)

CONSENT_GIVER = (
    "Who gave a consent.",
    {
        "CALLER": "The caller.",
        "GUARDIAN": "The caller's parent or guardian.",
        "MINOR": "The minor concerned, themselves: it may authorize follow-up contact, "
        "statistics and sharing with a service provider, but not alone a report of their "
        "personal data to law enforcement.",
    },
)

CONSENT_METHOD = (
    "How a consent was given.",
    {
        "VERBAL": "Spoken, on a call.",
        "WRITTEN": "In writing.",
        "CHAT": "In a chat or text conversation.",
    },
)

DISCLOSABLE_FIELD = (
    "A piece of a case that can leave the hotline in a disclosure. The first four are the "
    "caller's personal data.",
    {
        "CALLER_NAME": "The caller's name.",
        "CALLER_PHONE": "The caller's phone number.",
        "CALLER_EMAIL": "The caller's email address.",
        "CALLER_OTHER_CONTACT": "Another way to reach the caller.",
        "LOCATION": "The province or territory and municipality of the case.",
        "LANGUAGE": "The caller's language.",
        "MINOR_INVOLVED": "Whether a minor is or may be involved.",
        "SITUATION_TYPE": "The kind of situation.",
        "URGENCY": "How urgent the case is.",
        "NEEDS": "The caller's needs (a referral sends those it is for).",
        "INDICATORS": "The trafficking indicators recorded.",
        "BRIEF": "The brief written for this recipient.",
    },
)

RECIPIENT_KIND = (
    "Who information left the hotline to.",
    {
        "ORGANIZATION": "An organization of the directory, with a referral.",
        "LAW_ENFORCEMENT": "A law-enforcement agency, with a supervisor's report.",
        "EMERGENCY_SERVICES": "Emergency services (911, or the territory's number).",
        "CHILD_PROTECTION_AUTHORITY": "A child-protection authority, with a supervisor's "
        "report under the suspected-abuse-of-a-minor exception.",
    },
)

DISCLOSURE_EXCEPTION = (
    "The exceptions under which information may leave without the caller's consent: a "
    "supervisor authorizes each one with a written justification.",
    {
        "SUSPECTED_ABUSE_OF_A_MINOR": "Suspected abuse of a minor (the hotline is a mandatory "
        "reporter).",
        "IMMINENT_HARM": "Potential imminent harm to the caller or others.",
        "LEGAL_OBLIGATION": "The law requires the hotline to report.",
    },
)

INDICATOR = (
    "A common indicator of trafficking. Any detail belongs in the case's notes, which are sealed.",
    {
        "RECRUITMENT_DECEPTION": "Deceived about the work or conditions when recruited.",
        "DEBT_BONDAGE": "Held by a debt that cannot be paid off.",
        "DOCUMENTS_CONFISCATED": "Identity or travel documents taken away.",
        "MOVEMENT_CONTROLLED": "Not free to come and go.",
        "THREATS_OR_VIOLENCE": "Threatened or harmed, or people close to them.",
        "NO_OR_LITTLE_PAY": "Paid nothing or very little.",
        "EXCESSIVE_HOURS": "Made to work excessive hours.",
        "HOUSING_CONTROLLED": "Housing controlled by the employer or exploiter.",
        "ISOLATION": "Kept isolated.",
        "MINOR_IN_COMMERCIAL_SEX": "A minor in commercial sex.",
        "OTHER": "Another indicator.",
    },
)

REFERRAL_MODE = (
    "How a referral was made. The hotline never promises that an organization will accept "
    "the caller.",
    {
        "WARM_TRANSFER": "The caller was transferred live, with a brief to the organization.",
        "PHONE": "The referral was relayed by phone.",
        "CHAT": "The referral was relayed by chat.",
        "EMAIL": "The referral was relayed by email.",
    },
)

REFERRAL_OUTCOME_KIND = (
    "What an organization reports became of a referral to it.",
    {
        "CONTACTED": "The organization and the caller were in contact.",
        "ACCEPTED": "The organization accepted the caller for services.",
        "DECLINED": "The organization declined (its own eligibility decision).",
        "SERVICES_PROVIDED": "Services were provided.",
        "UNABLE_TO_REACH": "The organization could not reach the caller.",
    },
)

REFERRAL_ANSWER = (
    "A partner's answer to a referral addressed to it, given once, before its own intake.",
    {
        "ACCEPTED": "The organization will take the referral to its intake.",
        "DECLINED": "The organization declines the referral (a reason says why).",
    },
)

DECLINE_REASON = (
    "Why an organization declined a referral.",
    {
        "NO_CAPACITY": "No capacity to take the caller now.",
        "NOT_ELIGIBLE": "The caller does not meet the organization's eligibility requirements.",
        "OUTSIDE_SERVICE_AREA": "The caller is outside the organization's service area.",
        "OTHER": "Another reason (the note may say which).",
    },
)

STATISTICS_DIMENSION = (
    "What public statistics count cases by.",
    {
        "MONTH": "The month a case was opened (YYYY-MM).",
        "PROVINCE": "The province or territory (ISO 3166-2:CA code).",
        "SITUATION_TYPE": "The kind of situation.",
        "NEED": "Each need recorded (a case with several counts under each).",
    },
)

# -- contacts ---------------------------------------------------------------------------------

CONTACT_DIRECTION = (
    "Which way a contact went.",
    {
        "INBOUND": "Someone reached the hotline.",
        "OUTBOUND": "The hotline reached a caller back (needs their follow-up consent).",
    },
)

CONTACT_DISPOSITION = (
    "What came of a contact.",
    {
        "INFORMATION_ONLY": "Information given; nothing more needed.",
        "REFERRAL_GIVEN": "A referral given (recorded on a case when one was made there).",
        "CASE_OPENED": "A case was opened.",
        "CASE_UPDATED": "An existing case was updated.",
        "TRANSFERRED": "Transferred (a warm transfer, emergency services, another line).",
        "DISCONNECTED": "The line dropped before the contact ended.",
        "HANG_UP": "The caller hung up, or nobody spoke.",
        "TEST_OR_PRANK": "A test or a prank: left out of the statistics.",
    },
)

CONTACT_STATISTICS_DIMENSION = (
    "What public statistics count contacts by.",
    {
        "MONTH": "The month a contact started (YYYY-MM).",
        "CHANNEL": "How the hotline was reached.",
        "PROVINCE": "The province or territory: its case's when it has one, else its own "
        "(ISO 3166-2:CA code).",
    },
)

MANDATORY_REPORT_DECISION = (
    "What a supervisor recorded on a case flagged for a mandatory-report decision.",
    {
        "REPORTED_TO_LAW_ENFORCEMENT": "Reported to law enforcement under the "
        "suspected-abuse-of-a-minor exception, or telling the agency a minor is involved.",
        "REPORTED_TO_CHILD_PROTECTION": "Reported to a child-protection authority.",
        "NO_REPORT_REQUIRED": "No report is required, with a written justification.",
    },
)
