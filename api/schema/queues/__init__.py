"""Work queues: for each role, what needs doing and by when.

``types`` holds what a reader sees, ``queries`` and ``mutations`` the root fields that
``api/schema/build.py`` assembles.
"""

from api.schema.queues.mutations import QueueMutations
from api.schema.queues.queries import QueueQueries

__all__ = ["QueueMutations", "QueueQueries"]
