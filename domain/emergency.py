"""Which number emergency services answer on, for a place: 911 in the provinces and Yukon;
in the Northwest Territories and Nunavut, the number the configured table gives, for the
community where it names one, else for the territory. Never invented: with no number known,
the answer says so, and why, and an emergency call is recorded all the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from domain.reporting_protocol import place_key
from domain.vocabulary import PROVINCES

# The territories whose emergency numbers come from configuration (911 everywhere else).
WITHOUT_911 = ("CA-NT", "CA-NU")
NINE_ONE_ONE = frozenset(PROVINCES) - set(WITHOUT_911)


class NumberSource(StrEnum):
    """Where an emergency number comes from, or why there is none."""

    NINE_ONE_ONE = "NINE_ONE_ONE"
    COMMUNITY = "COMMUNITY"
    TERRITORY = "TERRITORY"
    NOT_CONFIGURED = "NOT_CONFIGURED"
    PROVINCE_UNKNOWN = "PROVINCE_UNKNOWN"


_WARNINGS = {
    NumberSource.NOT_CONFIGURED: (
        "no emergency number is configured for this territory (NRD_EMERGENCY_NUMBERS): the "
        "number is unknown here; use the number the territory's authorities publish"
    ),
    NumberSource.PROVINCE_UNKNOWN: (
        "the case's province or territory is not recorded yet, so the number is unknown: 911 "
        "in the provinces and Yukon; record the province on the case"
    ),
}


@dataclass(frozen=True)
class EmergencyNumber:
    """The number for a place (None when unknown), where it comes from, and which
    community's entry gave it."""

    province: str | None
    number: str | None
    source: NumberSource
    community: str | None = None

    @property
    def warning(self) -> str | None:
        """What a caller of the API must know when the number is unknown; None otherwise."""
        return _WARNINGS.get(self.source)


def table_key(province: str, community: str | None = None) -> str:
    """A key of the configured table: ``CA-NU``, or ``CA-NU:Iqaluit`` for one community."""
    return province if not community else f"{province}:{community}"


class EmergencyNumbers:
    """The configured table (keys as ``table_key`` writes them; checked at start-up)."""

    def __init__(self, table: Mapping[str, str]) -> None:
        self._territories: dict[str, str] = {}
        self._communities: dict[tuple[str, str], tuple[str, str]] = {}
        for key, number in table.items():
            province, _, community = key.partition(":")
            if community.strip():
                self._communities[province, place_key(community)] = (number, community.strip())
            else:
                self._territories[province] = number

    def for_place(self, province: str | None, municipality: str | None) -> EmergencyNumber:
        if province is None or province not in PROVINCES:
            return EmergencyNumber(None, None, NumberSource.PROVINCE_UNKNOWN)
        if province in NINE_ONE_ONE:
            return EmergencyNumber(province, "911", NumberSource.NINE_ONE_ONE)
        if municipality:
            found = self._communities.get((province, place_key(municipality)))
            if found is not None:
                return EmergencyNumber(province, found[0], NumberSource.COMMUNITY, found[1])
        number = self._territories.get(province)
        if number is None:
            return EmergencyNumber(province, None, NumberSource.NOT_CONFIGURED)
        return EmergencyNumber(province, number, NumberSource.TERRITORY)
