"""Rules about what readers see, and the defaults of every setting they take: each defined once.

Configuration (``api/config.py``) reads the settings with these defaults; the projections and the
resolvers apply the rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

# An included organization's record is reviewed this many days after it was last confirmed.
REVIEW_INTERVAL_DAYS = 365
# After this many failed attempts in a row to reach its point of contact, an organization is
# flagged unreachable.
UNREACHABLE_AFTER = 3
# Public statistics publish no count under this threshold, and round the others to a multiple
# of it.
STATISTICS_THRESHOLD = 5


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
