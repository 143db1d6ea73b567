"""What readers see: when a review falls due, and which statistics may be published."""

from __future__ import annotations

from datetime import UTC, datetime

from api.config import Settings
from domain.rules import (
    REVIEW_INTERVAL_DAYS,
    STATISTICS_THRESHOLD,
    UNREACHABLE_AFTER,
    review_cutoff,
    review_due_at,
    suppress_small_counts,
)

CONFIRMED = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)


def test_a_review_falls_due_a_year_after_the_last_confirmation() -> None:
    assert review_due_at(CONFIRMED) == datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    assert review_due_at(CONFIRMED, 30) == datetime(2025, 3, 31, 9, 30, tzinfo=UTC)


def test_a_record_confirmed_at_the_cutoff_is_due_and_one_confirmed_after_it_is_not() -> None:
    now = review_due_at(CONFIRMED)
    assert review_cutoff(now) == CONFIRMED
    assert review_cutoff(now, 30) > CONFIRMED


def test_counts_under_the_threshold_are_suppressed_and_the_others_rounded() -> None:
    counts = [("CA-ON", 12), ("CA-QC", 4), ("CA-BC", 7), ("CA-NS", 2)]
    assert suppress_small_counts(counts) == [
        ("CA-ON", 10),
        ("CA-QC", None),
        ("CA-BC", 5),
        ("CA-NS", None),
    ]


def test_a_lone_small_count_takes_the_smallest_other_with_it() -> None:
    """Otherwise the total less the published counts would tell the small one."""
    counts = [("2025-01", 40), ("2025-02", 3), ("2025-03", 9)]
    assert suppress_small_counts(counts) == [("2025-01", 40), ("2025-02", None), ("2025-03", None)]


def test_a_count_at_the_threshold_is_published_and_never_rounded_below_it() -> None:
    assert suppress_small_counts([("NEED", 5), ("OTHER", 6)]) == [("NEED", 5), ("OTHER", 5)]
    assert suppress_small_counts([("ONLY", 2)]) == [("ONLY", None)]
    assert suppress_small_counts([("A", 14), ("B", 16)], threshold=10) == [("A", 10), ("B", 20)]


def test_the_settings_default_to_the_domain_rules() -> None:
    assert REVIEW_INTERVAL_DAYS == 365 and UNREACHABLE_AFTER == 3 and STATISTICS_THRESHOLD == 5
    for settings in (Settings(), Settings.from_env({})):
        assert settings.review_interval_days == REVIEW_INTERVAL_DAYS
        assert settings.unreachable_after == UNREACHABLE_AFTER
        assert settings.statistics_threshold == STATISTICS_THRESHOLD
