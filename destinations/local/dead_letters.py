"""Local ``DeadLetterSink``: poison records kept whole in the store, once per ``letter_id``."""

from __future__ import annotations

from collections.abc import Sequence

from destinations.local.store import LocalStore
from schemas.dead_letter import DeadLetter
from schemas.delivery import DELIVERED, DeliveryReport
from schemas.errors import RetryableError


class LocalDeadLetterSink:
    """Implements ``ports.DeadLetterSink``. All letters of a call are written in one transaction."""

    def __init__(self, store: LocalStore) -> None:
        self._store = store

    def send(self, letters: Sequence[DeadLetter]) -> DeliveryReport:
        if not letters:
            return DELIVERED
        try:
            self._store.add_dead_letters(letters)
        except RetryableError as exc:
            # Nothing was written (one transaction): every letter must come back for a retry.
            return DeliveryReport({letter.letter_id: exc for letter in letters})
        return DELIVERED
