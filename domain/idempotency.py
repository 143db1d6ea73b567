"""The first result of a command, kept under the caller's idempotency key.

It is saved in the same atomic write as the command's own events, so a command either
happened with its key recorded, or did not happen at all.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any
from uuid import UUID, uuid5

from domain.base import AuditedAggregate, DomainError

_NAMESPACE = UUID("0b7d7a8e-3f0e-4c1a-8d0f-5e1b9a6c2d34")
MAX_KEY_LENGTH = 200


class IdempotencyKeyReused(DomainError):
    code = "IDEMPOTENCY_KEY_REUSED"


class InvalidIdempotencyKey(DomainError):
    code = "INVALID_IDEMPOTENCY_KEY"


def record_id(user_id: str, key: str, shared: bool = False) -> UUID:
    """The record's id, from the caller and the key. Callers who share one identity (the
    anonymous public) must send a random UUID, so nobody can guess or reuse another's key."""
    if not 8 <= len(key) <= MAX_KEY_LENGTH or not key.isprintable():
        raise InvalidIdempotencyKey(
            f"idempotencyKey must be 8 to {MAX_KEY_LENGTH} printable characters (a UUID is ideal)"
        )
    if shared:
        try:
            UUID(key)
        except ValueError:
            raise InvalidIdempotencyKey(
                "idempotencyKey must be a UUID (a new random one per request) when calling "
                "without a token") from None
    return uuid5(_NAMESPACE, f"{user_id}\x1f{key}")


def fingerprint(operation: str, inputs: dict[str, Any]) -> str:
    """A digest of the request, so a key reused for a different request is caught."""
    canonical = json.dumps([operation, inputs], sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class IdempotencyRecord(AuditedAggregate):
    class Recorded(AuditedAggregate.Created):
        operation: str
        fingerprint: str
        result: dict[str, Any]

    def __init__(self, operation: str, fingerprint: str, result: dict[str, Any]) -> None:
        self.operation = operation
        self.fingerprint = fingerprint
        self.result = result

    @classmethod
    def record(cls, id: UUID, operation: str, fingerprint: str,
               result: dict[str, Any]) -> IdempotencyRecord:
        rec: IdempotencyRecord = cls._create(
            cls.Recorded, id=id, operation=operation, fingerprint=fingerprint, result=result
        )
        return rec

    def check_same_request(self, fingerprint: str) -> None:
        if fingerprint != self.fingerprint:
            raise IdempotencyKeyReused(
                "this idempotency key was already used for a different request; "
                "use a new key for a new request"
            )
