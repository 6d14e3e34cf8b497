"""The layout of the local SQLite file: every table and index the local backend uses, in one place.

Statements are idempotent (``IF NOT EXISTS``), so opening an existing state dir is safe. Indexes exist for
the queries that run per event or per recommendation, so none of them scans a whole table.
"""

from typing import Final

STORE_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS interactions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- arrival order
    event_id TEXT NOT NULL UNIQUE,           -- redelivery is ignored
    event_type TEXT NOT NULL,
    session_id TEXT NOT NULL,
    sent_at TEXT NOT NULL,                   -- ISO 8601, offset kept for exact round-trips
    sent_ts REAL NOT NULL,                   -- epoch seconds, for ordering
    user_id TEXT,
    item_id TEXT,
    event_value REAL,
    properties TEXT,
    recommendation_id TEXT,
    impression TEXT NOT NULL                 -- JSON array of item ids
);
CREATE INDEX IF NOT EXISTS interactions_by_user ON interactions (user_id, sent_ts, seq);
-- Purchases are found through a partial index of the purchase event types only (LocalStore.
-- ensure_event_type_index): an index of every row by (user, type, item) was ~45 bytes per interaction.

CREATE TABLE IF NOT EXISTS traits (
    user_id TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,                     -- JSON
    message_id TEXT NOT NULL,                -- the deterministic id of the write that set it
    PRIMARY KEY (user_id, name)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS endpoint_attributes (
    user_id TEXT NOT NULL,
    endpoint_id TEXT NOT NULL,
    name TEXT NOT NULL,
    vals TEXT NOT NULL,                      -- JSON array of strings
    PRIMARY KEY (user_id, endpoint_id, name)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS dead_letters (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    letter_id TEXT NOT NULL UNIQUE,          -- shard:sequence[:sub]: a redelivered record is kept once
    raw BLOB NOT NULL,
    reason TEXT NOT NULL,
    shard_id TEXT NOT NULL,
    sequence_number TEXT NOT NULL,
    sub_sequence_number INTEGER,
    event_source_arn TEXT
);

CREATE TABLE IF NOT EXISTS items (
    item_id TEXT PRIMARY KEY,
    fields TEXT NOT NULL                     -- JSON object
) WITHOUT ROWID;
"""

# The recommender's incremental model (version 2: integer ids, WITHOUT ROWID, no per-pair index).
# "actor" is "u:<user id>", or "s:<session id>" for anonymous events. Ids are dense integers so a pair row
# is a few bytes; item and actor strings are stored once. The version-1 tables (rec_*) of an older state
# dir are left alone and unused: replay the archive again into a fresh state dir to rebuild the model.
MODEL_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS model_items (
    id INTEGER PRIMARY KEY,
    item_id TEXT NOT NULL UNIQUE,
    actors INTEGER NOT NULL,                 -- distinct actors who interacted with the item
    norm REAL NOT NULL,                      -- 1 / sqrt(actors): the cosine's denominator, kept for queries
    unpruned INTEGER NOT NULL DEFAULT 0,     -- pair keys written as "a" since its list was last pruned
    log_heat REAL NOT NULL                   -- log of the time-decayed distinct-actor count (forward decay)
);
CREATE INDEX IF NOT EXISTS model_items_hottest ON model_items (log_heat DESC);

CREATE TABLE IF NOT EXISTS model_actors (
    id INTEGER PRIMARY KEY,
    actor TEXT NOT NULL UNIQUE
);

CREATE TABLE IF NOT EXISTS model_history (
    actor INTEGER NOT NULL,
    item INTEGER NOT NULL,
    last_ts REAL NOT NULL,                   -- latest event time with this item
    tick INTEGER NOT NULL,                   -- arrival order, breaks ties between equal times
    PRIMARY KEY (actor, item)
) WITHOUT ROWID;
-- No index by recency: an actor's rows are one range of the primary key, sorted when read (a user has
-- tens to a few thousand items); an index would cost ~14 bytes per row and a write per event.

CREATE TABLE IF NOT EXISTS model_pairs (
    a INTEGER NOT NULL,
    b INTEGER NOT NULL,
    actors INTEGER NOT NULL,                 -- distinct actors who had both items close in their history
    PRIMARY KEY (a, b)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS model_meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
"""
