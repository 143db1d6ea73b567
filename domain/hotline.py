"""The hotline's one application: the directory's, the cases' and the contacts' use cases, over
one store.

All are mixins of equal rank over the write path (``domain/write_path.py``), none built on
another: they share the event store, the aggregate cache and the notification log, so a
referral checks the organization it goes to under the same locks, and the log's hash chain
covers everything. Each mixin takes its own settings and passes the rest on, so ``Hotline`` takes
them all: ``vault`` and ``emergency_numbers`` (cases), ``unreachable_after``, ``claim_key`` and
``tracking_key`` (the directory); the contacts' and the memberships' take none (the memberships
use the cases' vault for their keyed email digests).

Where one use case's outcome is another's cue, the process lives here, where both meet: once an
organization is first included, its designated contact is invited as its administrator
(``invite_designated_contact``).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, ClassVar
from uuid import UUID

from domain.base import DomainError
from domain.case import Case
from domain.cases import CaseUseCases
from domain.contacts import ContactUseCases
from domain.directory import DirectoryUseCases
from domain.memberships import MembershipUseCases
from domain.organization import Organization, Status
from domain.work_items import WorkUseCases
from domain.write_path import Outcome, WritePath

log = logging.getLogger("nrd.inclusion")


class Hotline(DirectoryUseCases, CaseUseCases, ContactUseCases, MembershipUseCases, WorkUseCases):
    """The directory's use cases, the cases', the contacts', the memberships' and the work
    queues', on one write path."""

    name = WritePath.name
    # A snapshot every 50 events bounds what a load or a point-in-time replay must fold.
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {Case: 50, Organization: 50}

    # -- inclusion, then the invitation of the organization's designated contact ---------

    def approve_inclusion(self, key: str, org_id: UUID, note: str) -> Outcome:
        return self._then_invite(super().approve_inclusion(key, org_id, note))

    def include_agency(self, key: str, org_id: UUID, note: str, protocol_id: UUID) -> Outcome:
        return self._then_invite(super().include_agency(key, org_id, note, protocol_id))

    def _then_invite(self, inclusion: Outcome) -> Outcome:
        """The inclusion's outcome, reaching as far in the log as the invitation it led to (so
        a read of one's own writes waits for the memberships too)."""
        invited = self.invite_designated_contact(inclusion.id)
        if invited is None or invited.replayed:
            return inclusion
        topics = (
            None
            if inclusion.topics is None or invited.topics is None
            else (inclusion.topics | invited.topics)
        )
        return dataclasses.replace(
            inclusion, position=max(inclusion.position, invited.position), topics=topics
        )

    def invite_designated_contact(self, org_id: UUID) -> Outcome | None:
        """Once an organization is first included, the point of contact its profile names
        (its email) is invited as its administrator, by whoever included it
        (``invite_organization_administrator``: a partner, or a liaison for an agency).

        A second write, after the inclusion's, under a key of the organization's own: a
        repeated inclusion request, or its retry after a failure between the two writes,
        invites once. A reinstated organization's people keep their memberships, so a later
        inclusion invites nobody; nor does one whose profile names no contact email. An
        invitation refused for good (an address an invitation cannot take) leaves the
        inclusion as it is, and a supervisor invites someone; one refused for now (a
        concurrent update) is raised, for the client to retry with the inclusion's key."""
        email = self._read(org_id, Organization, "organization", first_included_contact)
        if email is None:
            return None
        try:
            return self.invite_organization_administrator(
                f"administrator-of-{org_id}", org_id, email
            )
        except DomainError as refused:
            if refused.retryable:
                raise
            # The code only: the address is a worker's, and stays out of the logs.
            log.warning("an included organization's contact was not invited: %s", refused.code)
            return None


def first_included_contact(org: Organization) -> str | None:
    """The email of the organization's designated contact, when its inclusion is its first;
    else None."""
    inclusions = [step for step in org.history if step["what"] == Status.INCLUDED.value]
    if org.state is not Status.INCLUDED or len(inclusions) != 1:
        return None
    contact = org.profile.get("pointOfContact") or {}
    return contact.get("email") or None
