"""What a caller sends about contacts."""

from __future__ import annotations

from typing import Annotated

import strawberry

from api.schema.cases.enums import Channel
from api.schema.contacts.enums import Direction, Disposition

ContactId = Annotated[strawberry.ID, strawberry.argument(description="The contact's id.")]


@strawberry.input(
    description=(
        "A contact as it happened. No caller personal data and no free text: record what was "
        "said on the case, where it is sealed."
    )
)
class RecordContactInput:
    channel: Channel = strawberry.field(description="How the hotline was reached.")
    direction: Direction = strawberry.field(
        description=(
            "Which way it went. OUTBOUND calls a caller back: it needs a case whose caller gave "
            "an active follow-up consent."
        )
    )
    started_at: str = strawberry.field(
        description="When it started (ISO 8601; no later than a few minutes from now)."
    )
    duration_seconds: int = strawberry.field(
        description="How long it lasted, in seconds (0 to 86400)."
    )
    disposition: Disposition = strawberry.field(description="What came of it.")
    language: str | None = strawberry.field(
        default=None,
        description="The language spoken (ISO 639-1 or 639-3 code); omit when nobody spoke.",
    )
    province: str | None = strawberry.field(
        default=None,
        description=(
            "The province or territory (ISO 3166-2:CA code), when known and there is no case; "
            "a case's own counts for the statistics."
        ),
    )
    case_id: strawberry.ID | None = strawberry.field(
        default=None, description="The case it belongs to, if any (it can be attached later)."
    )
