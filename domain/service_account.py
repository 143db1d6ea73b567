"""A service account: another system that calls nrd, by name, in one role.

Supervisors create one for an integration and issue it short-lived bearer tokens; each token
has an id of its own (the token's ``jti``), recorded here with its expiry, and is revoked by
that id. The token itself is never recorded: it is shown once, to the supervisor who issued it.
"""

from __future__ import annotations

from datetime import datetime
from typing import TypedDict
from uuid import UUID

from domain.base import AuditedAggregate, DomainError, InvalidInput, clean_text
from domain.membership import MemberRole, check_role_fits

MAX_NAME = 200


class ServiceTokenNotFound(DomainError):
    code = "SERVICE_TOKEN_NOT_FOUND"


class ServiceTokenRevoked(DomainError):
    code = "SERVICE_TOKEN_REVOKED"


class TokenState(TypedDict):
    expires_at: datetime
    revoked: bool


class ServiceAccount(AuditedAggregate):
    class Created(AuditedAggregate.Created):
        name: str
        role: str
        organization_id: str | None

    def __init__(self, name: str, role: str, organization_id: str | None) -> None:
        self.name = name
        self.role = role
        self.organization_id = organization_id
        # Token id (its ``jti``) -> its expiry and whether it was revoked.
        self.tokens: dict[str, TokenState] = {}

    @classmethod
    def create(
        cls, id: UUID, name: str, role: MemberRole, organization_id: str | None
    ) -> ServiceAccount:
        name = clean_text(name, "name", limit=MAX_NAME)
        if not name:
            raise InvalidInput(["name: the integration's name"])
        check_role_fits(role, organization_id, False)
        account: ServiceAccount = cls._create(
            cls.Created, id=id, name=name, role=role.value, organization_id=organization_id
        )
        return account

    class TokenIssued(AuditedAggregate.Event):
        token_id: str
        expires_at: datetime

        def apply(self, account: ServiceAccount) -> None:
            account.tokens[self.token_id] = {"expires_at": self.expires_at, "revoked": False}

    def issue_token(self, token_id: str, expires_at: datetime) -> None:
        self.trigger_event(self.TokenIssued, token_id=token_id, expires_at=expires_at)

    class TokenRevoked(AuditedAggregate.Event):
        token_id: str
        reason: str

        def apply(self, account: ServiceAccount) -> None:
            account.tokens[self.token_id]["revoked"] = True

    def revoke_token(self, token_id: str, reason: str) -> None:
        token = self.tokens.get(token_id)
        if token is None:
            raise ServiceTokenNotFound("service token not found")
        if token["revoked"]:
            raise ServiceTokenRevoked("the service token is already revoked")
        self.trigger_event(
            self.TokenRevoked, token_id=token_id, reason=clean_text(reason, "reason", required=True)
        )
