"""The layout of the local SQLite file: every table and index the local backend uses, in one place.

Statements are idempotent (``IF NOT EXISTS``), so opening an existing state dir is safe. Indexes exist for
the queries that run per event or per recommendation, so none of them scans a whole table.
"""

from typing import Final

STORE_SCHEMA: Final = """
-- Layout version 2 (destinations/local/interaction_rows.py explains each choice; ~1/3 of version 1's bytes).
-- A version-1 table (event_id TEXT UNIQUE, ISO sent_at) is migrated in place on open: store_migration.py.
CREATE TABLE IF NOT EXISTS interaction_names (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE                -- an event type, user id or item id, stored once
);

CREATE TABLE IF NOT EXISTS interactions (
    seq INTEGER PRIMARY KEY,                 -- arrival order (rows are never deleted: it only grows)
    event_hash INTEGER NOT NULL,             -- 32-bit hash of event_id: how a redelivery is found
    event_id NOT NULL,                       -- TEXT, or a canonical UUID's 16 bytes (BLOB)
    event_type INTEGER NOT NULL,             -- interaction_names.id, as are user and item
    session NOT NULL,                        -- like event_id: TEXT, or a canonical UUID's 16 bytes
    sent_us INTEGER NOT NULL,                -- sent_at, microseconds since 2025-01-01T00:00:00Z
    utc_offset_us INTEGER,                   -- sent_at's UTC offset (0: UTC; NULL: a naive time)
    user INTEGER,
    item INTEGER,
    event_value REAL,
    properties TEXT,
    recommendation_id TEXT,
    impression TEXT                          -- JSON array of item ids; NULL when empty
);
-- Not unique: a hash match is confirmed against event_id, so a collision never drops an event.
CREATE INDEX IF NOT EXISTS interactions_by_event_hash ON interactions (event_hash);
-- By user only: a user's rows (arrival order) are sorted by time when read; sent_us in every entry would
-- cost ~10 bytes per interaction.
CREATE INDEX IF NOT EXISTS interactions_by_user ON interactions (user);
-- Purchases are found through a partial index of the purchase event types only (LocalStore.
-- ensure_event_type_index): an index of every row by (user, type, item) was ~45 bytes per interaction.

-- The same rows with their strings, for people and tests reading the file with SQL (not used by pue).
CREATE VIEW IF NOT EXISTS interactions_readable AS
SELECT i.seq,
    CASE WHEN typeof(i.event_id) = 'blob' THEN lower(substr(hex(i.event_id), 1, 8) || '-' ||
        substr(hex(i.event_id), 9, 4) || '-' || substr(hex(i.event_id), 13, 4) || '-' ||
        substr(hex(i.event_id), 17, 4) || '-' || substr(hex(i.event_id), 21)) ELSE i.event_id END AS event_id,
    t.name AS event_type,
    CASE WHEN typeof(i.session) = 'blob' THEN lower(substr(hex(i.session), 1, 8) || '-' ||
        substr(hex(i.session), 9, 4) || '-' || substr(hex(i.session), 13, 4) || '-' ||
        substr(hex(i.session), 17, 4) || '-' || substr(hex(i.session), 21)) ELSE i.session END AS session_id,
    u.name AS user_id, it.name AS item_id,
    i.sent_us / 1e6 + 1735689600 AS sent_ts,  -- epoch seconds (sent_us counts from 2025-01-01)
    i.utc_offset_us, i.event_value, i.properties, i.recommendation_id,
    coalesce(i.impression, '[]') AS impression
FROM interactions AS i
JOIN interaction_names AS t ON t.id = i.event_type
LEFT JOIN interaction_names AS u ON u.id = i.user
LEFT JOIN interaction_names AS it ON it.id = i.item;

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
    actor TEXT NOT NULL UNIQUE,
    items INTEGER NOT NULL DEFAULT 0         -- distinct items in its history (old stores: model_rebuild)
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
-- By item, for the session neighbours (session_neighbours.py): an item's newest actors are the end of its
-- range (actor ids grow). Only a new (actor, item) writes it: a repeat updates last_ts, not in the index.
CREATE INDEX IF NOT EXISTS model_history_by_item ON model_history (item, actor);

CREATE TABLE IF NOT EXISTS model_pairs (
    a INTEGER NOT NULL,
    b INTEGER NOT NULL,
    actors INTEGER NOT NULL,                 -- distinct actors who had both items close in their history
    PRIMARY KEY (a, b)
) WITHOUT ROWID;

-- An identified user's anonymous sessions (an event carried both its userId and an anonymousId that has
-- anonymous events of its own): the user's list draws on those sessions' history too.
CREATE TABLE IF NOT EXISTS model_links (
    user INTEGER NOT NULL,                   -- the "u:" actor
    session INTEGER NOT NULL,                -- the "s:" actor
    PRIMARY KEY (user, session)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS model_meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
"""
