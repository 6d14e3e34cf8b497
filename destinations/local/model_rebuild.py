"""The model rebuilt from the stored interactions, for a store whose model never learned them (issue 24).

A state dir written before the model's version 2 (integer ids; its tables were ``rec_*``) has interactions
but empty ``model_*`` tables: opened by today's pue, its interactions are migrated (store_migration.py) and
every list would be popularity-free and empty. So when the store holds interactions with an item and the
model has never learned anything (no ``tick`` in ``model_meta``: ``learn_batch`` writes it with the first
event it folds in), the model is rebuilt here, once, by folding every stored interaction in arrival order,
in batches as a backfill would: the same model a replay of the same events builds.

One write transaction: a failure (or a stop) leaves the model empty, and the next open starts again. The old
``rec_*`` tables are left as they were (unused; ``VACUUM`` after dropping them returns their space).
"""

from __future__ import annotations

import logging
import sqlite3
import time
from typing import Final

from destinations.local import interaction_rows
from destinations.local.model_learning import LearnLimits, learn_batch
from destinations.local.store import LocalStore

logger = logging.getLogger(__name__)

# Interactions folded per learn_batch: a backfill's batch (Lambda's largest).
REBUILD_BATCH: Final = 10_000


def _has_actor_sizes(conn: sqlite3.Connection) -> bool:
    return any(row[1] == "items" for row in conn.execute("PRAGMA table_info(model_actors)"))


def add_actor_sizes(store: LocalStore) -> bool:
    """Give a store written before ``model_actors.items`` (the session neighbours' history sizes) that
    column, counted from ``model_history``, once; True when it was added."""
    with store.transaction(write=False) as conn:
        if _has_actor_sizes(conn):
            return False
    with store.transaction() as conn:
        if _has_actor_sizes(conn):
            return False  # another process added it between our look and our lock
        conn.execute("ALTER TABLE model_actors ADD COLUMN items INTEGER NOT NULL DEFAULT 0")
        conn.execute(
            "UPDATE model_actors SET items = "
            "(SELECT COUNT(*) FROM model_history WHERE actor = model_actors.id)"
        )
    logger.warning("model_actors.items added to an older store's model (history sizes; once)")
    return True


def needs_rebuild(conn: sqlite3.Connection) -> bool:
    """Interactions with an item are stored, and the model has learned nothing."""
    if conn.execute("SELECT 1 FROM model_meta WHERE key = 'tick'").fetchone() is not None:
        return False
    return conn.execute("SELECT 1 FROM interactions WHERE item IS NOT NULL LIMIT 1").fetchone() is not None


def rebuild_if_unlearned(store: LocalStore, limits: LearnLimits) -> int:
    """Rebuild the model when ``needs_rebuild``; return the interactions folded in (0: nothing to do)."""
    with store.transaction(write=False) as conn:
        if not needs_rebuild(conn):
            return 0
    with store.transaction() as conn:
        if not needs_rebuild(conn):
            return 0  # another process rebuilt it between our look and our lock
        total = int(conn.execute("SELECT COUNT(*) FROM interactions").fetchone()[0])
        logger.warning(
            "rebuilding the recommender's model from the store's %d interactions (a store written before "
            "the model's current layout; once)",
            total,
        )
        started, done = time.perf_counter(), 0
        rows = conn.execute(f"{interaction_rows.SELECT_SQL} ORDER BY i.seq")  # noqa: S608
        while chunk := rows.fetchmany(REBUILD_BATCH):
            learn_batch(conn, [interaction_rows.interaction(row) for row in chunk], limits)
            done += len(chunk)
            logger.info("model rebuild: %d of %d interactions", done, total)
        logger.warning("model rebuilt from %d interactions in %.1f s", done, time.perf_counter() - started)
        return done
