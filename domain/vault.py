"""The port through which the domain seals and opens a case's personal data.

Each case has its own data key, kept wrapped under a master key outside the event store;
destroying a case's key makes every sealed copy of its data unreadable, wherever it is kept.
The implementation lives at the edge (it needs a cryptography library); the domain only asks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol
from uuid import UUID

# Staff-written free text on a case is kept sealed, marked with this prefix; text that can no
# longer be opened (the case's data was erased) reads as the marker below.
SEALED_TEXT = "sealed:"
ERASED_TEXT = "[erased]"


class Vault(Protocol):
    def create_key(self, case_id: UUID) -> None:
        """Makes the case's data key (before anything is sealed with it)."""

    def begin_erasure(self, case_id: UUID) -> None:
        """Records, before the erasure event, that the case's key is to be destroyed."""

    def cancel_erasure(self, case_id: UUID) -> None:
        """Forgets an erasure that was refused."""

    def destroy_key(self, case_id: UUID) -> None:
        """Destroys the case's data key: every sealed copy becomes unreadable, for good."""

    def finish_erasures(self, is_erased: Callable[[UUID], bool]) -> None:
        """Destroys the keys of erasures a crash interrupted."""

    def has_key(self, case_id: UUID) -> bool:
        """Whether the case's data key still exists."""

    def seal(self, case_id: UUID, data: dict[str, Any]) -> str:
        """The data encrypted with the case's key, as text (by a command's decision only)."""

    def open(
        self, case_id: UUID, sealed: str, *, for_decision: bool = False
    ) -> dict[str, Any] | None:
        """The data, or None once the case's key has been destroyed. ``for_decision``: opened
        by a command's decision, whose write is refused if the case changed since it was read
        (an erasure is a change), so a key cached a while is good enough."""

    def lookup_key(self, phone: str) -> str:
        """The keyed lookup value of a phone number, for finding repeat callers."""

    def keyed_digest(self, text: str) -> str:
        """A digest of sealed text under a key of the vault's own, for idempotency
        fingerprints: nobody without that key can compute it to confirm a guess."""
