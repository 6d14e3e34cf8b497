"""Figure 3: CPU per record at zero latency for decode + normalize + group, against bare JSON decoding.

Both sides see the same Lambda records. The bare baseline is ``json.loads(base64.b64decode(data))`` per
record, with KPL aggregates unpacked by aws-kinesis-agg's own ``deaggregate_records`` (bare JSON decoding
cannot read them otherwise). pue's side is what ``Pipeline.handle`` does before its first call: decode each
record alone (base64, KPL, UTF-8, strict JSON), normalize each message, group by user and session.
Each side runs ``repeats`` times; the fastest run counts (the least disturbed by the rest of the machine).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from consumers.stream.decode import Decoded, decode_record
from consumers.stream.event_map import EventMap
from consumers.stream.grouping import group_by_user
from consumers.stream.normalize import normalize
from schemas.interaction import Interaction
from schemas.outcome import Tracked


def bare(records: Sequence[Mapping[str, Any]]) -> int:
    from aws_kinesis_agg.deaggregator import deaggregate_records

    decoded = 0
    for record in deaggregate_records(list(records)):
        try:
            json.loads(base64.b64decode(record["kinesis"]["data"]))
        except ValueError:
            continue
        decoded += 1
    return decoded


def pue(records: Sequence[Mapping[str, Any]], event_map: EventMap) -> int:
    tracked: list[Interaction] = []
    for record in records:
        for item in decode_record(record):
            if isinstance(item, Decoded):
                outcome = normalize(item.message, event_map)
                if isinstance(outcome, Tracked):
                    tracked.extend(outcome.interactions)
    return len(group_by_user(enumerate(tracked)))


def _fastest(run: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        run()
        best = min(best, time.process_time() - started)
    return best


def measure(event: Mapping[str, Any], *, repeats: int = 7) -> dict[str, float]:
    records = list(event["Records"])
    event_map = EventMap.default()
    pue(records, event_map)  # warm: the KPL protobuf module is imported on first use
    baseline = _fastest(lambda: bare(records), repeats)
    ours = _fastest(lambda: pue(records, event_map), repeats)
    count = len(records)
    return {
        "records": count,
        "bare_us_per_record": baseline / count * 1e6,
        "pue_us_per_record": ours / count * 1e6,
        "ratio": ours / baseline,
    }
