"""Opening a state dir written by an earlier pue: the version-1 ``interactions`` table is migrated in place.

Version 1 kept ``event_id`` as TEXT with a UNIQUE index, ``sent_at`` as ISO text plus ``sent_ts`` REAL and
every string inline (about 230 bytes per interaction). Version 2 is interaction_rows.py's layout. The
migration is one transaction: the old table is renamed, the new tables are created, every row is copied
in arrival order (same ``seq``, same values), and the old table is dropped; a failure leaves the file as it
was. Freed pages are reused by later writes; ``VACUUM`` returns them to the file system.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator
from datetime import datetime
from typing import Any, Final

from destinations.local import interaction_rows
from schemas.interaction import Interaction

logger = logging.getLogger(__name__)

# A column only version 1 has.
_VERSION_1_COLUMN: Final = "sent_at"
_OLD_TABLE: Final = "interactions_version_1"
_CHUNK: Final = 5_000
_OLD_COLUMNS: Final = (
    "seq, event_id, event_type, session_id, sent_at, user_id, item_id, event_value, properties, "
    "recommendation_id, impression"
)


def has_version_1_interactions(conn: sqlite3.Connection) -> bool:
    return any(row[1] == _VERSION_1_COLUMN for row in conn.execute("PRAGMA table_info(interactions)"))


def statements(script: str) -> Iterator[str]:
    """The statements of a DDL script, one at a time: ``executescript`` would commit the transaction."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            yield pending
            pending = ""


def migrate_interactions(
    conn: sqlite3.Connection, store_schema: str, names: interaction_rows.InternedNames
) -> int:
    """Rewrite a version-1 ``interactions`` table as version 2; the caller holds a write transaction.
    Returns the number of rows copied (0 when there was nothing to migrate)."""
    if not has_version_1_interactions(conn):
        return 0  # another process migrated it between our look and our lock
    total = int(conn.execute("SELECT COUNT(*) FROM interactions").fetchone()[0])
    logger.warning("migrating the local store's interactions to the compact layout: %d rows", total)
    # Its indexes go first: the new table's indexes reuse some of their names.
    old_indexes = conn.execute(
        "SELECT name FROM sqlite_schema "
        "WHERE type = 'index' AND tbl_name = 'interactions' AND sql IS NOT NULL"
    ).fetchall()
    for (name,) in old_indexes:
        conn.execute(f'DROP INDEX "{name}"')
    conn.execute(f"ALTER TABLE interactions RENAME TO {_OLD_TABLE}")
    for statement in statements(store_schema):
        conn.execute(statement)
    old_rows = conn.execute(f"SELECT {_OLD_COLUMNS} FROM {_OLD_TABLE} ORDER BY seq")  # noqa: S608
    while chunk := old_rows.fetchmany(_CHUNK):
        seqs = [int(old[0]) for old in chunk]
        interactions = [_version_1_interaction(old[1:]) for old in chunk]
        ids = names.ids(conn, interaction_rows.names_of(interactions), create=True)
        conn.executemany(
            interaction_rows.INSERT_WITH_SEQ_SQL,
            [
                (seq, *interaction_rows.row(it, ids, interaction_rows.event_hash(it.event_id)))
                for seq, it in zip(seqs, interactions, strict=True)
            ],
        )
    conn.execute(f"DROP TABLE {_OLD_TABLE}")
    return total


def _version_1_interaction(old: tuple[Any, ...]) -> Interaction:
    """A version-1 row (as version 1's LocalStore read it back)."""
    return Interaction(
        event_id=old[0],
        event_type=old[1],
        session_id=old[2],
        sent_at=datetime.fromisoformat(old[3]),
        user_id=old[4],
        item_id=old[5],
        event_value=old[6],
        properties=old[7],
        recommendation_id=old[8],
        impression=tuple(json.loads(old[9])) if old[9] is not None else (),
    )
