"""Contacts with the hotline: every call, text, chat, email or web form, with or without a case.

Read by hotline staff, supervisors and compliance officers; partners, liaisons and the public
never see a contact (whether someone contacted the hotline is itself confidential), and count
contacts only through the de-identified ``contactStatistics``. ``types`` holds what a reader
sees, ``inputs`` what a caller sends, ``queries`` and ``mutations`` the root fields that
``api/schema/build.py`` assembles.
"""

from api.schema.contacts.mutations import ContactMutations
from api.schema.contacts.queries import ContactQueries

__all__ = ["ContactMutations", "ContactQueries"]
