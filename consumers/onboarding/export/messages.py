"""One line of history through the stream's own code: decode_record, normalize, and an item's properties."""

from __future__ import annotations

import base64
import logging
from collections.abc import Mapping
from typing import Any

from consumers.onboarding.export.identity import identity_id
from consumers.stream.decode import Decoded, Undecodable, decode_record
from consumers.stream.event_map import EventMap, value_at
from consumers.stream.normalize import normalize
from schemas.interaction import Interaction
from schemas.outcome import Normalized, Poison

log = logging.getLogger("pue.export")


def decode_line(data: bytes) -> list[Decoded | Undecodable]:
    """The very decoder the Kinesis handler runs (UTF-8, JSON object, same rejections and reasons), given
    the line as a record's data. The base64 round trip and record bookkeeping cost ~5 µs a line (a fifth
    of an export's CPU); a second JSON decoder would cost a second set of rules to keep in step."""
    return decode_record({"kinesis": {"data": base64.b64encode(data)}})


def normalize_guarded(message: Mapping[str, Any], event_map: EventMap) -> Normalized:
    try:
        return normalize(message, event_map)
    except Exception as exc:  # as in the pipeline: a bug must not stop the export; keep the line, say why
        log.exception("normalize failed unexpectedly")
        return Poison(f"internal error while normalizing: {type(exc).__name__}")


def item_source(
    message: Mapping[str, Any], interaction: Interaction, event_map: EventMap
) -> Mapping[str, Any]:
    """The properties describing the interaction's item: its product for a multi-product event (whose
    event id normalize derives as ``<messageId>#<index>``), else the message's properties."""
    _, sep, tail = interaction.event_id.rpartition("#")
    if sep and tail.isdigit() and str(int(tail)) == tail and event_map.products_path:
        products = value_at(message, event_map.products_path)
        index = int(tail)
        product = products[index] if isinstance(products, list) and index < len(products) else None
        if isinstance(product, Mapping):
            ids = (identity_id(value_at(product, path)) for path in event_map.product_item_id_paths)
            if next((i for i in ids if i is not None), None) == interaction.item_id:
                return product
    properties = message.get("properties")
    return properties if isinstance(properties, Mapping) else {}
