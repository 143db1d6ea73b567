"""The hotline's one application: the directory's, the cases' and the contacts' use cases, over
one store.

All are mixins of equal rank over the write path (``domain/write_path.py``), none built on
another: they share the event store, the aggregate cache and the notification log, so a
referral checks the organization it goes to under the same locks, and the log's hash chain
covers everything. Each mixin takes its own settings and passes the rest on, so ``Hotline`` takes
them all: ``vault`` and ``emergency_numbers`` (cases), ``unreachable_after`` and ``claim_key``
(the directory); the contacts' and the memberships' take none (the memberships use the
cases' vault for their keyed email digests).
"""

from __future__ import annotations

from typing import Any, ClassVar

from domain.case import Case
from domain.cases import CaseUseCases
from domain.contacts import ContactUseCases
from domain.directory import DirectoryUseCases
from domain.memberships import MembershipUseCases
from domain.organization import Organization
from domain.write_path import WritePath


class Hotline(DirectoryUseCases, CaseUseCases, ContactUseCases, MembershipUseCases):
    """The directory's use cases, the cases', the contacts' and the memberships', on one
    write path."""

    name = WritePath.name
    # A snapshot every 50 events bounds what a load or a point-in-time replay must fold.
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {Case: 50, Organization: 50}
