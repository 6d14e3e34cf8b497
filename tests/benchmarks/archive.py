"""A deterministic, realistically skewed Segment archive for the replay scale figures (issue 15).

    .venv/bin/python -m tests.benchmarks.archive OUT.jsonl.gz --interactions 1000000 [--items 30000]

Shape, chosen to look like a shop's clickstream rather than a uniform toy:

- Users: activity is Zipf-like (a few heavy users, a long tail of one-session visitors); about one user per
  20 interactions. Items: popularity is Zipf-like within each of ``CATEGORIES`` categories.
- Sessions: a user comes back in sessions of a few events (geometric length), spread over ``DAYS`` days,
  mostly inside one or two favourite categories (the planted affinity a recommender should find).
- Events: mostly ``Product Viewed``, some ``Product Added``, a few ``Order Completed`` (one product each),
  as Segment ``track`` messages with a unique ``messageId`` (so a replay is idempotent) and ``timestamp``.

Shape "visitors" (issue 24): what most real Segment archives look like, one visitor per 5 interactions and
sessions of 1.5 events on average, so most of the 20,000-200,000 users appear once or twice (their activity
still Zipf-like): the replay's per-user costs (the final refresh) are what it measures.

Same arguments, same bytes: every random choice comes from one seeded ``random.Random``.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

CATEGORIES: Final = 200
DAYS: Final = 60
INTERACTIONS_PER_USER: Final = 20  # mean; the Zipf-like activity makes the median far smaller
ZIPF_EXPONENT: Final = 1.0
MEAN_SESSION_EVENTS: Final = 6
FAVOURITE_SHARE: Final = 0.8  # share of a session's events in the user's favourite categories
_START: Final = datetime(2026, 9, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Shape:
    interactions_per_user: int  # the archive has interactions / this users
    mean_session_events: float


SHAPES: Final = {
    "shop": Shape(INTERACTIONS_PER_USER, MEAN_SESSION_EVENTS),
    "visitors": Shape(5, 1.5),
}
_EVENTS: Final = (("Product Viewed", 0.86), ("Product Added", 0.10), ("Order Completed", 0.04))


def _zipf_cumulative(n: int, exponent: float = ZIPF_EXPONENT) -> list[float]:
    return list(itertools.accumulate(1.0 / (rank + 1) ** exponent for rank in range(n)))


def messages(
    interactions: int, items: int = 30_000, seed: int = 15, shape: str = "shop"
) -> Iterator[dict[str, Any]]:
    """``interactions`` Segment track messages (one product each), in time order per session."""
    rng = random.Random(seed)  # noqa: S311 - benchmark data, not security
    form = SHAPES[shape]
    users = max(1, interactions // form.interactions_per_user)
    user_weights = _zipf_cumulative(users)
    per_category = [list(range(c, items, CATEGORIES)) for c in range(CATEGORIES)]
    category_weights = [_zipf_cumulative(len(ids)) for ids in per_category]
    popular_categories = _zipf_cumulative(CATEGORIES, 0.6)
    favourites = {}
    event_names = [name for name, _ in _EVENTS]
    event_weights = list(itertools.accumulate(share for _, share in _EVENTS))
    span = DAYS * 86_400
    produced = 0
    while produced < interactions:
        user = rng.choices(range(users), cum_weights=user_weights)[0]
        if user not in favourites:
            favourites[user] = rng.choices(range(CATEGORIES), cum_weights=popular_categories, k=2)
        # Time grows with progress through the archive, so the replay is roughly in time order.
        at = _START + timedelta(seconds=span * produced / interactions + rng.uniform(0, 3600))
        length = min(interactions - produced, 1 + int(rng.expovariate(1 / (form.mean_session_events - 1))))
        session = f"{rng.getrandbits(64):016x}"
        for _ in range(length):
            if rng.random() < FAVOURITE_SHARE:
                category = rng.choice(favourites[user])
            else:
                category = rng.choices(range(CATEGORIES), cum_weights=popular_categories)[0]
            ids = per_category[category]
            item = ids[rng.choices(range(len(ids)), cum_weights=category_weights[category])[0]]
            event = rng.choices(event_names, cum_weights=event_weights)[0]
            at += timedelta(seconds=rng.randint(5, 120))
            yield _track(rng, f"user-{user}", session, event, item, category, at)
            produced += 1


def _track(
    rng: random.Random, user: str, session: str, event: str, item: int, category: int, at: datetime
) -> dict[str, Any]:
    product = {"product_id": f"item-{item}", "category": f"c{category}", "price": 5 + item * 37 % 200}
    properties: dict[str, Any] = (
        {"order_id": f"o{rng.getrandbits(48):012x}", "products": [product]}
        if event == "Order Completed"
        else product
    )
    bits = f"{rng.getrandbits(128):032x}"
    return {
        "type": "track",
        "event": event,
        "messageId": f"{bits[:8]}-{bits[8:12]}-{bits[12:16]}-{bits[16:20]}-{bits[20:]}",
        "userId": user,
        "anonymousId": session,
        "timestamp": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "properties": properties,
        "context": {"library": {"name": "analytics.js", "version": "4.1.0"}},
    }


def write(path: Path, interactions: int, items: int = 30_000, seed: int = 15, shape: str = "shop") -> Path:
    """Write the archive as gzip'd Segment JSON lines (Segment's S3 archive format); returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=1) as out:
        for message in messages(interactions, items, seed, shape):
            out.write(json.dumps(message, separators=(",", ":")) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.archive", description=__doc__.split("\n")[0]
    )
    parser.add_argument("out", type=Path, help="where to write the .jsonl.gz archive")
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument("--items", type=int, default=30_000, help="catalog size (10,000-50,000 is realistic)")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--shape", choices=sorted(SHAPES), default="shop")
    args = parser.parse_args(argv)
    write(args.out, args.interactions, args.items, args.seed, args.shape)
    print(f"wrote {args.interactions:,} interactions to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
