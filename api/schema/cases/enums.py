"""The cases' enums: the domain's own, described once for GraphQL, and what public statistics
count by. Import them from here, so that they are described before any type uses them."""

from __future__ import annotations

from enum import StrEnum

from api.schema import vocabulary
from domain.case import (
    CallerRelationship,
    Channel,
    ConsentGiver,
    ConsentMethod,
    ConsentOnRecord,
    ConsentScope,
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
)
from domain.emergency import NumberSource
from domain.mandatory_report import MandatoryReportDecision

__all__ = [
    "CallerRelationship",
    "Channel",
    "ConsentGiver",
    "ConsentMethod",
    "ConsentOnRecord",
    "ConsentScope",
    "DeclineReason",
    "DisclosableField",
    "Exception_",
    "Indicator",
    "MandatoryReportDecision",
    "Need",
    "NumberSource",
    "RecipientKind",
    "ReferralAnswerKind",
    "ReferralMode",
    "ReferralOutcomeKind",
    "SituationType",
    "StatisticsDimension",
    "Tristate",
    "Urgency",
]

for _enum, (_description, _values) in (
    (Channel, vocabulary.CHANNEL),
    (CallerRelationship, vocabulary.CALLER_RELATIONSHIP),
    (Tristate, vocabulary.TRISTATE),
    (SituationType, vocabulary.SITUATION_TYPE),
    (Urgency, vocabulary.URGENCY),
    (Need, vocabulary.NEED),
    (ConsentScope, vocabulary.CONSENT_SCOPE),
    (ConsentGiver, vocabulary.CONSENT_GIVER),
    (ConsentMethod, vocabulary.CONSENT_METHOD),
    (DisclosableField, vocabulary.DISCLOSABLE_FIELD),
    (RecipientKind, vocabulary.RECIPIENT_KIND),
    (Indicator, vocabulary.INDICATOR),
    (ReferralMode, vocabulary.REFERRAL_MODE),
    (ReferralOutcomeKind, vocabulary.REFERRAL_OUTCOME_KIND),
    (ConsentOnRecord, vocabulary.CONSENT_ON_RECORD),
    (MandatoryReportDecision, vocabulary.MANDATORY_REPORT_DECISION),
):
    vocabulary.describe(_enum, _description, _values)
vocabulary.describe(ReferralAnswerKind, *vocabulary.REFERRAL_ANSWER, name="ReferralAnswerKind")
vocabulary.describe(DeclineReason, *vocabulary.DECLINE_REASON)
vocabulary.describe(Exception_, *vocabulary.DISCLOSURE_EXCEPTION, name="DisclosureException")
vocabulary.describe(NumberSource, *vocabulary.EMERGENCY_NUMBER_SOURCE, name="EmergencyNumberSource")


class StatisticsDimension(StrEnum):
    MONTH = "month"
    PROVINCE = "province"
    SITUATION_TYPE = "situationType"
    NEED = "need"


vocabulary.describe(StatisticsDimension, *vocabulary.STATISTICS_DIMENSION)
