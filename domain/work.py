"""A piece of queued work: who took it up, and when it was done.

What needs doing is derived from the records themselves (``domain/queues.py``: a referral with
no outcome, a review due); this aggregate records only what people did about it. Its id is
computed from the queue, the subject and the moment the cause arose (``item_id``), so the same
work is one record whoever touches it first, and the next occurrence of a recurring cause (the
review after next) is a new one. Completing an item takes it out of its queue; an item whose
cause went away leaves by itself, completed or not.
"""

from __future__ import annotations

from uuid import UUID, uuid5

from domain.base import AuditedAggregate, DomainError, InvalidInput, clean_text

# The namespace of work items' ids (a constant: the same item has the same id everywhere).
NAMESPACE = UUID("5b0c3f0e-7a51-4d1e-9a44-6e1f0c1d7a20")


class WorkItemCompleted(DomainError):
    code = "WORK_ITEM_COMPLETED"


def item_id(queue: str, subject_id: str, anchor: str) -> UUID:
    """The id of the work ``queue`` holds about ``subject_id`` since ``anchor`` (the cause's
    instant as ISO text). Subjects' ids are random, so this is no function of public facts."""
    return uuid5(NAMESPACE, f"{queue} {subject_id} {anchor}")


class WorkItem(AuditedAggregate):
    class Opened(AuditedAggregate.Created):
        queue: str
        subject_id: str
        anchor: str
        owner: str

    def __init__(self, queue: str, subject_id: str, anchor: str, owner: str) -> None:
        self.queue = queue
        self.subject_id = subject_id
        self.anchor = anchor
        self.owner = owner
        self.assigned_to: str | None = None
        self.completed = False

    @classmethod
    def open(cls, queue: str, subject_id: str, anchor: str, owner: str) -> WorkItem:
        """The record of an item, made when someone first acts on it."""
        item: WorkItem = cls._create(
            cls.Opened,
            id=item_id(queue, subject_id, anchor),
            queue=queue,
            subject_id=subject_id,
            anchor=anchor,
            owner=owner,
        )
        return item

    class Assigned(AuditedAggregate.Event):
        assignee: str

        def apply(self, item: WorkItem) -> None:
            item.assigned_to = self.assignee

    def assign(self, assignee: str) -> None:
        self._require_open()
        assignee = clean_text(assignee, "the assignee", limit=200)
        if not assignee:
            raise InvalidInput(["the assignee is required"])
        self.trigger_event(self.Assigned, assignee=assignee)

    class Completed(AuditedAggregate.Event):
        def apply(self, item: WorkItem) -> None:
            item.completed = True

    def complete(self) -> None:
        self._require_open()
        self.trigger_event(self.Completed)

    def _require_open(self) -> None:
        if self.completed:
            raise WorkItemCompleted("this work item was already completed")
