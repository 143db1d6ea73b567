"""The work queues' use cases: taking up a queued item and completing it, each one call of the
write path. Which items exist, and whether the caller may act on one, the API has already
decided from the queues' read model; the item's record is made when someone first acts on it.
"""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from domain.work import WorkItem, item_id
from domain.write_path import Outcome, WritePath


class WorkUseCases(WritePath):
    """A mixin over the write path (``domain/hotline.py`` joins it with the others)."""

    name = WritePath.name

    def assign_work_item(
        self, key: str, queue: str, subject_id: str, anchor: str, owner: str, assignee: str
    ) -> Outcome:
        return self._on_item(
            key,
            "assignWorkItem",
            (queue, subject_id, anchor, owner),
            {"assignee": assignee},
            lambda item: item.assign(assignee),
        )

    def complete_work_item(
        self, key: str, queue: str, subject_id: str, anchor: str, owner: str
    ) -> Outcome:
        return self._on_item(
            key, "completeWorkItem", (queue, subject_id, anchor, owner), {}, WorkItem.complete
        )

    def _on_item(
        self,
        key: str,
        operation: str,
        item: tuple[str, str, str, str],
        inputs: dict[str, str],
        act: Callable[[WorkItem], None],
    ) -> Outcome:
        queue, subject_id, anchor, owner = item
        the_id: UUID = item_id(queue, subject_id, anchor)

        def decide(_none: object) -> WorkItem:
            if self._absent(the_id):
                work = WorkItem.open(queue, subject_id, anchor, owner)
            else:
                work = self._get(the_id, WorkItem, "work item")
            act(work)
            return work

        return self._run(key, operation, {"id": the_id, **inputs}, decide)
