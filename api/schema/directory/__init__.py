"""The National Referral Directory: its queries and the inclusion lifecycle's commands.

``organization`` is the Organization type, built field by field from read-model documents;
``types`` the pages, facets and command results; ``inputs`` what a caller sends; ``queries`` and
``mutations`` the root fields that ``api/schema/build.py`` assembles.
"""

from api.schema.directory.mutations import DirectoryMutations
from api.schema.directory.queries import DirectoryQueries

__all__ = ["DirectoryMutations", "DirectoryQueries"]
