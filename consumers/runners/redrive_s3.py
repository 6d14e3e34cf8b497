"""A dead letter's record kept in S3, read back for ``pue redrive`` only from where pue's own sink put it.

The redrive reads with the stack's role, so the message must not choose what it reads (issue 23): the
pointer must be exactly the key ``destinations.aws.s3_dead_letter_payloads`` derives for that record (shard
and sequence numbers) in the configured dead-letter bucket; the object is read at most
``DEAD_LETTER_RECORD_MAX_BYTES`` (refused on its length before its body is read); and its bytes must match
the SHA-256 the letter carries. Anything else is ``Refused``; an object that cannot be read is
``Unredrivable`` (both leave the message on the queue).
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

from consumers.runners.redrive_messages import LetterMessage, Refused, Unredrivable
from destinations.aws.s3_dead_letter_payloads import payload_key, read_payload
from schemas.dead_letter import DeadLetter
from schemas.errors import PueError
from schemas.limits import DEAD_LETTER_RECORD_MAX_BYTES


def whole_letter(parsed: LetterMessage, bucket: str | None, s3: Any) -> DeadLetter | Refused | Unredrivable:
    """The letter with its record: as it came when the message holds it, else read from S3 (``s3`` is
    called only once the pointer passed every check)."""
    if parsed.location is None:
        return parsed.letter
    if bucket is None:
        return Refused("dead letter in S3, but no dead-letter bucket is configured")
    if parsed.location != f"s3://{bucket}/{payload_key(parsed.letter)}":
        return Refused("dead letter in S3 outside the dead-letter bucket's own keys")
    try:
        raw = read_payload(s3(), parsed.location, DEAD_LETTER_RECORD_MAX_BYTES)
    except PueError as exc:
        if exc.code == "TooLarge":
            return Refused(f"record in S3 over {DEAD_LETTER_RECORD_MAX_BYTES} bytes")
        return Unredrivable(f"record not readable in S3: {exc.code or exc.message}")
    if hashlib.sha256(raw).hexdigest() != parsed.sha256:
        return Refused("record in S3 does not match its SHA-256")
    return dataclasses.replace(parsed.letter, raw=raw)
