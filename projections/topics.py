"""Every stored event's topic is one this version knows: a check that follows the whole log.

Each read model reads only the topics it follows, so an event whose topic no read model knows
(written by a newer version, or a damaged row) would pass unseen. This check reads every
event, keeps no rows, and fails on such an event, which the projector then quarantines: it is
shown by ``nrd projections status`` and to compliance, and ``nrd projections retry`` checks it
again once this version knows the topic.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import Notification
from eventsourcing.utils import TopicError, resolve_topic

from projections.sql import Cursor

# Only this project's modules and the library's are imported to resolve a stored topic: a
# damaged row must not make the worker import any module it names.
OWN_MODULES = ("domain.", "eventsourcing.")


class UnknownTopic(Exception):
    """A stored event's topic is not one this version knows."""


class TopicCheck:
    name = "topics"
    topics: Sequence[str] = ()  # every event
    raw = True  # the stored notifications: nothing is decoded
    kept_on_rebuild = True  # no rows to rebuild; its quarantine stays

    def __init__(self) -> None:
        self._known: set[str] = set()

    def create_tables(self, cursor: Cursor) -> None:
        """Nothing: the check keeps only its position and what it quarantined."""

    def drop_tables(self, cursor: Cursor) -> None:
        """Nothing to drop."""

    def process(self, cursor: Cursor, notifications: Sequence[Notification]) -> None:
        for notification in notifications:
            self.check(notification.topic)

    def check(self, topic: str) -> None:
        if topic in self._known:
            return
        if not topic.startswith(OWN_MODULES):
            raise UnknownTopic("a stored event names a module outside this project")
        try:
            found: Any = resolve_topic(topic)
        except TopicError:
            raise UnknownTopic("a stored event's topic is not known to this version") from None
        if not isinstance(found, type):
            raise UnknownTopic("a stored event's topic does not name an event class")
        self._known.add(topic)
