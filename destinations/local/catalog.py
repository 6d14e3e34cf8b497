"""Load an item catalog shaped like a Personalize items dataset (CSV with an ``ITEM_ID`` column).

The local backend does not need a catalog to recommend; it lets the CLI and the HTTP API show what an
item is. Values are kept as text, exactly as in the file (multi-valued categorical fields stay
``|``-separated, as Personalize reads them).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Final

from destinations.local.store import LocalStore
from schemas.errors import PermanentError

ITEM_ID_COLUMN: Final = "ITEM_ID"


def read_items_csv(path: Path) -> dict[str, dict[str, object]]:
    """ITEM_ID -> the row's other non-empty fields. ``PermanentError`` when the file has no ITEM_ID or is
    not CSV the reader takes (a field over csv's 131,072-character limit, a NUL byte...): the line named,
    never a traceback (issue 23)."""
    items: dict[str, dict[str, object]] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        try:
            if ITEM_ID_COLUMN not in (reader.fieldnames or ()):
                raise PermanentError(f"{path.name}: no {ITEM_ID_COLUMN} column", service="local-catalog")
            for row in reader:
                item_id = (row.pop(ITEM_ID_COLUMN) or "").strip()
                if item_id:
                    items[item_id] = {name: value for name, value in row.items() if name and value}
        except csv.Error as exc:
            raise PermanentError(
                f"{path.name}, line {reader.line_num + 1}: not a CSV row pue reads ({exc}; a field is at "
                f"most {csv.field_size_limit():,} characters). Fix or drop that row and load again",
                service="local-catalog",
            ) from None
    return items


def load_items_csv(store: LocalStore, path: Path) -> int:
    """Upsert every item of the file into the store; returns how many items it held."""
    items = read_items_csv(path)
    store.upsert_items(items)
    return len(items)
