"""What a replay leaves in a state dir, for comparing two replays that must agree (workers, commit groups)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Final

# Tables whose rows do not depend on a list's random recommendation id (traits carry it).
COMPARED: Final = (
    "interactions",
    "interaction_names",
    "endpoint_attributes",
    "dead_letters",
    "model_items",
    "model_pairs",
    "model_history",
)


def store_rows(state: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row of ``COMPARED`` in the state dir's store, in key order."""
    with closing(sqlite3.connect(state / "pue.sqlite3")) as conn:
        return {
            table: conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()  # noqa: S608
            for table in COMPARED
        }
