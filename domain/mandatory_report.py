"""The hotline as a mandatory reporter, and what a minor's own consent may authorize.

Seed 000: the hotline "will inform appropriate authorities of situations that reference the
suspected abuse of a minor". A case in which a minor is or may be involved, and which
references abuse or trafficking, is flagged; it closes only once a supervisor has recorded a
report (to law enforcement, covering the minor, or to a child-protection authority) or a
written decision that none is required. The rules are plain functions of the case's
structured details, so the aggregate, its read models and the docs say the same thing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any

from domain.base import DomainError
from domain.reporting_protocol import place_key

# minorInvolved values that make a minor's involvement possible: YES, and UNKNOWN recorded
# explicitly (a caller who cannot say whether the person is a minor); do least harm, a
# supervisor decides. Not asked yet (absent) or NO does not flag on its own.
MINOR_POSSIBLE = frozenset({"YES", "UNKNOWN"})
MINOR_INDICATOR = "MINOR_IN_COMMERCIAL_SEX"
NOT_TRAFFICKING = "NOT_TRAFFICKING"


class MandatoryReportDecision(StrEnum):
    REPORTED_TO_LAW_ENFORCEMENT = "REPORTED_TO_LAW_ENFORCEMENT"
    REPORTED_TO_CHILD_PROTECTION = "REPORTED_TO_CHILD_PROTECTION"
    NO_REPORT_REQUIRED = "NO_REPORT_REQUIRED"


class MandatoryReportDecisionRequired(DomainError):
    code = "MANDATORY_REPORT_DECISION_REQUIRED"


class NoMandatoryReportPending(DomainError):
    code = "NO_MANDATORY_REPORT_PENDING"


class NoMinorInvolved(DomainError):
    code = "NO_MINOR_INVOLVED"


class OutsideJurisdiction(DomainError):
    code = "OUTSIDE_JURISDICTION"


class ReportSilentOnTheMinor(DomainError):
    code = "REPORT_SILENT_ON_THE_MINOR"


class MinorConsentInsufficient(DomainError):
    code = "MINOR_CONSENT_INSUFFICIENT"


def minor_possible(details: Mapping[str, Any], minor_consented: bool = False) -> bool:
    """A minor is or may be involved: said so, the minor-in-commercial-sex indicator, or a
    consent the minor gave themselves."""
    return (
        details.get("minorInvolved") in MINOR_POSSIBLE
        or MINOR_INDICATOR in (details.get("indicators") or [])
        or minor_consented
    )


def references_abuse_or_trafficking(details: Mapping[str, Any]) -> bool:
    """A trafficking situation type (any but NOT_TRAFFICKING, UNKNOWN included) or any
    indicator: the indicators include threats or violence, i.e. abuse."""
    situation = details.get("situationType")
    return (situation is not None and situation != NOT_TRAFFICKING) or bool(
        details.get("indicators")
    )


def calls_for_decision(details: Mapping[str, Any], minor_consented: bool = False) -> bool:
    """Whether the case needs a supervisor's mandatory-report decision."""
    if MINOR_INDICATOR in (details.get("indicators") or []):
        return True  # the indicator is itself the suspected abuse of a minor
    return minor_possible(details, minor_consented) and references_abuse_or_trafficking(details)


def covers(regions: Iterable[Mapping[str, str]], province: Any, municipality: Any) -> bool:
    """Whether an authority's jurisdiction (its profile's regions) covers a case's place: a
    region without a municipality covers its whole province; one with a municipality covers
    that municipality (compared as law-enforcement protocols' are: without case, accents or
    punctuation), not a case whose municipality is unknown."""
    if not province:
        return False
    place = place_key(str(municipality or ""))
    for region in regions:
        if region.get("province") != province:
            continue
        named = place_key(str(region.get("municipality") or ""))
        if not named or named == place:
            return True
    return False
