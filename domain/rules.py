"""Rules about what readers see, and the defaults of every setting they take: each defined once.

Configuration (``api/config.py``) reads the settings with these defaults; the projections and the
resolvers apply the rules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

# An included organization's record is reviewed this many days after it was last confirmed.
REVIEW_INTERVAL_DAYS = 365
# After this many failed attempts in a row to reach its point of contact, an organization is
# flagged unreachable.
UNREACHABLE_AFTER = 3
# Public statistics publish no count under this threshold, and round the others to a multiple
# of it.
STATISTICS_THRESHOLD = 5

# Browser sessions (api/signin/sessions.py): a session ends after this many minutes without a
# request (idle) and this many hours after sign-in (absolute), by the role it serves; hotline
# roles hold the most and get the shortest. A role not named here gets the shortest of all.
SESSION_IDLE_MINUTES = {
    "partner": 60,
    "law_enforcement": 60,
    "staff": 15,
    "supervisor": 15,
    "compliance": 15,
}
SESSION_ABSOLUTE_HOURS = {
    "partner": 12,
    "law_enforcement": 12,
    "staff": 8,
    "supervisor": 8,
    "compliance": 8,
}
# The roles whose sessions need a second factor proven at the identity provider (its ID
# token's ``amr`` or ``acr``).
SECOND_FACTOR_ROLES = frozenset({"staff", "supervisor", "compliance"})
# ``amr`` values (RFC 8176) that show a second factor: "mfa" itself, or a factor beyond a
# password. A provider that says it by ``acr`` instead is configured (NRD_SECOND_FACTOR_ACR).
SECOND_FACTOR_AMR = frozenset({"mfa", "otp", "hwk", "swk", "sc", "sms", "tel", "fpt", "face"})


def session_lifetimes(
    role: str,
    idle: Mapping[str, int] | None = None,
    absolute: Mapping[str, int] | None = None,
) -> tuple[timedelta, timedelta]:
    """A session's idle and absolute lifetimes for ``role`` (minutes, hours configured)."""
    idle = SESSION_IDLE_MINUTES if idle is None else idle
    absolute = SESSION_ABSOLUTE_HOURS if absolute is None else absolute
    return (
        timedelta(minutes=idle.get(role, min(idle.values(), default=15))),
        timedelta(hours=absolute.get(role, min(absolute.values(), default=8))),
    )


def proves_second_factor(amr: Sequence[str], acr: str | None, acr_values: Sequence[str]) -> bool:
    """Whether an ID token's ``amr``/``acr`` show a second factor."""
    return bool(SECOND_FACTOR_AMR.intersection(amr)) or (acr is not None and acr in acr_values)


def review_due_at(last_confirmed: datetime, interval_days: int = REVIEW_INTERVAL_DAYS) -> datetime:
    """When the periodic review of a record last confirmed at ``last_confirmed`` falls due."""
    return last_confirmed + timedelta(days=interval_days)


def review_cutoff(now: datetime, interval_days: int = REVIEW_INTERVAL_DAYS) -> datetime:
    """A record last confirmed at or before this moment is due for review at ``now``."""
    return now - timedelta(days=interval_days)


def suppress_small_counts(
    counts: Sequence[tuple[str, int]], threshold: int = STATISTICS_THRESHOLD
) -> list[tuple[str, int | None]]:
    """Counts of one dimension as they may be published.

    Counts under the threshold are suppressed (a second one with them when only one would be,
    the smallest of the others), and the rest are rounded to a multiple of the threshold, never
    below it: so neither subtraction within a dimension nor between two dimensions recovers a
    small count.
    """
    small = [i for i, (_, n) in enumerate(counts) if n < threshold]
    if len(small) == 1 and len(counts) > 1:
        others = sorted((n, i) for i, (_, n) in enumerate(counts) if i != small[0])
        small.append(others[0][1])
    return [
        (value, None if i in small else _rounded(n, threshold))
        for i, (value, n) in enumerate(counts)
    ]


def _rounded(count: int, base: int) -> int:
    return max(base, base * round(count / base))


# Work queues (domain/queues.py): days from an item's cause to its due date.
# A caller who agreed to follow-up contact is called back this many days after agreeing.
FOLLOW_UP_DAYS = 7
# A referral without an outcome this many days after it was made is overdue.
REFERRAL_OUTCOME_DAYS = 14
# An organization asked for more information is chased this many days later.
INFORMATION_ANSWER_DAYS = 14
# A reporting protocol records when its contacts were revised, not when they were confirmed:
# one not revised for this many days is due for its agency to check.
PROTOCOL_REVISION_DAYS = 180
# An invitation to become a member binds to the first sign-in with its email address within
# this many days; after that it must be sent again.
INVITATION_DAYS = 14
# A service account's bearer token lives at most this many minutes (NRD_SERVICE_TOKEN_MAX_MINUTES).
SERVICE_TOKEN_MAX_MINUTES = 60
# A service token's last use is recorded at most this often, per token.
SERVICE_TOKEN_USE_EVERY_SECONDS = 60
