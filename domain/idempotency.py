"""The first result of a command, kept under the caller's idempotency key.

It is saved in the same atomic write as the command's own events, so a command either
happened with its key recorded, or did not happen at all.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
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
                "without a token"
            ) from None
    return uuid5(_NAMESPACE, f"{user_id}\x1f{key}")


@dataclass(frozen=True)
class Sealed:
    """Text a command seals (a caller's data, free text written on a case): a fingerprint
    holds it only as a keyed digest, which nobody without the key can compute to confirm a
    guess."""

    text: str = field(repr=False)


@dataclass(frozen=True)
class Fingerprint:
    """A request's digest, kept with its key's record so a key reused for a different request
    is caught; and the digest earlier code made of the same request (sealed text by its length
    alone), which records it saved still carry."""

    digest: str
    earlier: str

    def matches(self, stored: str) -> bool:
        return stored in (self.digest, self.earlier)


def fingerprint(
    operation: str, inputs: dict[str, Any], keyed: Callable[[str], str] | None = None
) -> Fingerprint:
    """The request's fingerprint; ``keyed`` digests its sealed text (required when it has any)."""

    def unkeyed(_text: str) -> str:
        raise TypeError("sealed text needs a keyed digest")

    return Fingerprint(
        _digest(operation, inputs, keyed or unkeyed), _digest(operation, inputs, len)
    )


def _digest(operation: str, inputs: dict[str, Any], sealed: Callable[[str], object]) -> str:
    def plain(value: object) -> object:
        return sealed(value.text) if isinstance(value, Sealed) else str(value)

    canonical = json.dumps([operation, inputs], sort_keys=True, default=plain)
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
    def record(
        cls, id: UUID, operation: str, fingerprint: str, result: dict[str, Any]
    ) -> IdempotencyRecord:
        rec: IdempotencyRecord = cls._create(
            cls.Recorded, id=id, operation=operation, fingerprint=fingerprint, result=result
        )
        return rec

    def check_same_request(self, fingerprint: Fingerprint) -> None:
        if not fingerprint.matches(self.fingerprint):
            raise IdempotencyKeyReused(
                "this idempotency key was already used for a different request; "
                "use a new key for a new request"
            )
