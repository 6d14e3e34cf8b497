"""The dead-letter sink a redrive runs the pipeline with: a record dead-lettered again is written as its
original letter (same shard, sequence and sub-sequence numbers, so the same letter id) with the attempt count
one higher. ``consumers.runners.redrive`` feeds the records under stand-in sequence numbers (one per message,
so two sub-records of one aggregate stay apart); this maps them back."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Mapping, Sequence

from destinations.ports import DeadLetterSink
from schemas.dead_letter import DeadLetter
from schemas.delivery import DeliveryReport
from schemas.errors import PueError


class RedriveLetters:
    """Wraps the deployment's ``DeadLetterSink``; ``expect`` names the originals of the next batch."""

    def __init__(self, inner: DeadLetterSink) -> None:
        self._inner = inner
        self._originals: dict[str, DeadLetter] = {}
        self._lock = threading.Lock()

    def expect(self, originals: Mapping[str, DeadLetter]) -> None:
        """``originals``: stand-in letter id (``shard:stand-in sequence``) -> the letter the message held."""
        with self._lock:
            self._originals = dict(originals)

    def send(self, letters: Sequence[DeadLetter]) -> DeliveryReport:
        with self._lock:
            originals = dict(self._originals)
        fresh: list[DeadLetter] = []
        stand_ins: dict[str, list[str]] = {}  # fresh letter id -> the stand-in ids it answers for
        for letter in letters:
            stand_in = letter.letter_id
            original = originals.get(stand_in)
            if original is not None:
                letter = dataclasses.replace(
                    letter,
                    shard_id=original.shard_id,
                    sequence_number=original.sequence_number,
                    sub_sequence_number=original.sub_sequence_number,
                    event_source_arn=original.event_source_arn,
                    attempt=original.attempt + 1,
                )
            stand_ins.setdefault(letter.letter_id, []).append(stand_in)
            fresh.append(letter)
        # Failures come back under the ids the pipeline knows.
        failed: dict[str, PueError] = {}
        for letter_id, error in self._inner.send(fresh).failed.items():
            for stand_in in stand_ins.get(letter_id, []):
                failed[stand_in] = error
        return DeliveryReport(failed)
