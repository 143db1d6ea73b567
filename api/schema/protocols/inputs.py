"""What a caller sends about reporting protocols."""

from __future__ import annotations

from typing import Annotated

import strawberry

ProtocolId = Annotated[strawberry.ID, strawberry.argument(description="The protocol's id.")]


@strawberry.input(description="A person who receives the hotline's reports under a protocol.")
class ProtocolContactInput:
    name: str = strawberry.field(description="The person's name.")
    role: str | None = strawberry.field(default=None, description="Their role or rank.")
    phone: str | None = strawberry.field(default=None, description="Their phone number.")
    email: str | None = strawberry.field(default=None, description="Their email address.")
    availability: str | None = strawberry.field(
        default=None, description="When they can be reached."
    )
