"""The contacts' enums, described once for GraphQL (the channel is the cases' own)."""

from __future__ import annotations

from enum import StrEnum

from api.schema import vocabulary
from domain.contact import Direction, Disposition

__all__ = ["ContactStatisticsDimension", "Direction", "Disposition"]

vocabulary.describe(Direction, *vocabulary.CONTACT_DIRECTION, name="ContactDirection")
vocabulary.describe(Disposition, *vocabulary.CONTACT_DISPOSITION, name="ContactDisposition")


class ContactStatisticsDimension(StrEnum):
    MONTH = "month"
    CHANNEL = "channel"
    PROVINCE = "province"


vocabulary.describe(ContactStatisticsDimension, *vocabulary.CONTACT_STATISTICS_DIMENSION)
