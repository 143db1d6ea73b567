"""Law-enforcement reporting protocols: living contact lists, with every revision kept.

``types`` holds what a reader sees, ``inputs`` what a caller sends, ``queries`` and ``mutations``
the root fields that ``api/schema/build.py`` assembles.
"""

from api.schema.protocols.mutations import ProtocolMutations
from api.schema.protocols.queries import ProtocolQueries

__all__ = ["ProtocolMutations", "ProtocolQueries"]
