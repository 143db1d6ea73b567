"""Rate limits per principal on the sensitive operations: repeat-caller lookups, disclosures,
the compliance replays that read much of the log, and applicants' tracking codes (guesses).

A token bucket per (principal, operation) in each API process: ``per_minute`` requests a
minute on average, as a burst of up to that many. With several processes behind a load
balancer each keeps its own buckets, so the limit scales with their number.
"""

from __future__ import annotations

import threading
import time

from domain.base import DomainError

OPERATIONS = ("lookup", "disclosure", "replay", "tracking")
_MAX_BUCKETS = 100_000


class RateLimited(DomainError):
    code = "RATE_LIMITED"
    retryable = True


class RateLimiter:
    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}
        self._lock = threading.Lock()

    def check(self, principal: str, operation: str) -> None:
        """Takes one token, or refuses saying when to try again."""
        now = time.monotonic()
        rate = self.per_minute / 60.0
        with self._lock:
            tokens, last = self._buckets.get((principal, operation), (self.per_minute, now))
            tokens = min(self.per_minute, tokens + (now - last) * rate)
            if tokens < 1:
                self._buckets[(principal, operation)] = (tokens, now)
                wait = max(1, round((1 - tokens) / rate))
                raise RateLimited(f"too many {operation} requests; try again in {wait} s")
            if len(self._buckets) > _MAX_BUCKETS:
                self._buckets.clear()  # a flood of principals resets, never exhausts memory
            self._buckets[(principal, operation)] = (tokens - 1, now)
