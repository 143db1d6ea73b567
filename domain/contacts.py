"""The contact use cases: record a contact with the hotline, attach one to a case.

A mixin over the write path beside the directory's and the cases' (``domain/hotline.py`` joins
them over one store). A contact's command reads the case it names within its decision, so the
write is refused if the case moved meanwhile (a follow-up consent withdrawn at that moment
cannot be missed). A contact holds no free text, so nothing here is sealed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from domain.case import Case, Channel
from domain.contact import Contact, Direction, Disposition
from domain.write_path import Outcome, WritePath


class ContactUseCases(WritePath):
    """The contacts' commands, a mixin over the write path."""

    name = WritePath.name

    def record_contact(
        self,
        key: str,
        channel: Channel,
        direction: Direction,
        started_at: datetime,
        duration_seconds: int,
        language: str | None,
        disposition: Disposition,
        province: str | None = None,
        case_id: UUID | None = None,
    ) -> Outcome:
        contact_id = uuid4()

        def record(_new: object) -> Contact:
            case = None if case_id is None else self._get(case_id, Case, "case")
            return Contact.record(
                contact_id,
                channel,
                direction,
                started_at,
                duration_seconds,
                language,
                disposition,
                province,
                case,
                datetime.now(UTC),
            )

        inputs: dict[str, Any] = {
            "channel": channel.value,
            "direction": direction.value,
            "startedAt": started_at,
            "durationSeconds": duration_seconds,
            "language": language,
            "disposition": disposition.value,
            "province": province,
            "case": case_id,
        }
        return self._run(key, "recordContact", inputs, record)

    def attach_contact(self, key: str, contact_id: UUID, case_id: UUID) -> Outcome:
        return self._change(
            key,
            "attachContactToCase",
            contact_id,
            {"case": case_id},
            Contact,
            lambda c: c.attach_to(self._get(case_id, Case, "case")),
            what="contact",
        )
