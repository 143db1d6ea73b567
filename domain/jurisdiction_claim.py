"""An agency's claim on a jurisdiction: the one reporting protocol it has there.

Saved in the same atomic write as the protocol it names, at an id computed from the agency and
the jurisdiction under a server key: a second protocol for the same agency and jurisdiction
would take the same id, and the store refuses a second record at one id, also when two
processes establish the two protocols at the same moment. The key keeps the id from being a
function of public facts (``jurisdiction_key``): nobody outside the server can compute it.
"""

from __future__ import annotations

import hashlib
import hmac
from uuid import UUID

from domain.base import AuditedAggregate
from domain.reporting_protocol import jurisdiction_key


class JurisdictionClaim(AuditedAggregate):
    class Claimed(AuditedAggregate.Created):
        protocol_id: UUID

    def __init__(self, protocol_id: UUID) -> None:
        self.protocol_id = protocol_id

    @staticmethod
    def id_for(key: bytes, agency_id: UUID, jurisdiction: dict[str, str]) -> UUID:
        """The claim's id: an HMAC-SHA256 of the agency and jurisdiction under ``key``."""
        digest = hmac.new(
            key, jurisdiction_key(agency_id, jurisdiction).encode(), hashlib.sha256
        ).digest()
        return UUID(bytes=digest[:16])

    @classmethod
    def claim(cls, id: UUID, protocol_id: UUID) -> JurisdictionClaim:
        claim: JurisdictionClaim = cls._create(cls.Claimed, id=id, protocol_id=protocol_id)
        return claim
