"""A deterministic sample Segment e-commerce clickstream, for ``pue run``, demos and tests.

Users have one or two favourite categories and mostly browse there, so a working recommender visibly
recommends in-category items. Some sessions start anonymous and are identified midway, as on a real site.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

CATEGORIES = ("shoes", "jackets", "bags", "watches", "books", "games", "kitchen", "garden")
_ADJECTIVES = ("Classic", "Urban", "Trail", "Cozy", "Bold", "Swift", "Quiet", "Bright", "Nordic", "Vintage")
_SINGULAR = {
    "shoes": "shoe",
    "jackets": "jacket",
    "bags": "bag",
    "watches": "watch",
    "books": "book",
    "games": "game",
}
_NAMESPACE = uuid.UUID("0b8f4c1e-2d3a-4b5c-8d9e-0f1a2b3c4d5e")
_START = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Product:
    product_id: str
    name: str
    category: str
    price: float


def catalog(products_per_category: int = 15) -> list[Product]:
    rng = random.Random(7)  # noqa: S311 - sample data, not security
    products = []
    for c, category in enumerate(CATEGORIES):
        for i in range(products_per_category):
            name = f"{rng.choice(_ADJECTIVES)} {_SINGULAR.get(category, category).title()} {i + 1}"
            products.append(Product(f"P{c:02d}{i:03d}", name, category, round(rng.uniform(5, 250), 2)))
    return products


def catalog_items() -> dict[str, dict[str, object]]:
    """The sample catalog as a Personalize items dataset holds it (ITEM_ID -> NAME, CATEGORY, PRICE), for
    the local items table: what the web page and message templates show for an item."""
    return {p.product_id: {"NAME": p.name, "CATEGORY": p.category, "PRICE": p.price} for p in catalog()}


def clickstream(users: int = 300, seed: int = 42, sessions_per_user: int = 3) -> list[dict[str, Any]]:
    """Segment messages (track, identify, page) for ``users`` users, in time order."""
    rng = random.Random(seed)  # noqa: S311 - sample data, not security
    products = catalog()
    by_category: dict[str, list[Product]] = {c: [p for p in products if p.category == c] for c in CATEGORIES}
    messages: list[dict[str, Any]] = []
    for u in range(users):
        user_id = f"user-{u:04d}"
        favourites = rng.sample(CATEGORIES, k=rng.choice((1, 2)))
        clock = _START + timedelta(minutes=rng.randrange(0, 60 * 24 * 7))
        for s in range(rng.randint(1, sessions_per_user)):
            anonymous_id = str(uuid.uuid5(_NAMESPACE, f"{user_id}/{s}"))
            # About one session in four is anonymous throughout; the rest identify on the second event.
            anonymous = rng.random() < 0.25
            clock += timedelta(hours=rng.randint(1, 30))
            session = _Session(rng, messages, user_id, anonymous_id, anonymous, clock)
            session.browse(favourites, by_category, products)
            clock = session.clock
    messages.sort(key=lambda m: m["timestamp"])
    return messages


class _Session:
    def __init__(
        self,
        rng: random.Random,
        out: list[dict[str, Any]],
        user_id: str,
        anonymous_id: str,
        anonymous: bool,
        clock: datetime,
    ) -> None:
        self.rng, self.out, self.user_id = rng, out, user_id
        self.anonymous_id, self.anonymous, self.clock = anonymous_id, anonymous, clock
        self.identified = False

    def browse(
        self, favourites: list[str], by_category: dict[str, list[Product]], all_products: list[Product]
    ) -> None:
        rng = self.rng
        self.emit({"type": "page", "name": "Home", "properties": {"path": "/"}})
        cart: list[Product] = []
        for step in range(rng.randint(3, 12)):
            if step == 1 and not self.anonymous:
                self.identify()
            pool = by_category[rng.choice(favourites)] if rng.random() < 0.85 else all_products
            product = rng.choice(pool)
            self.track("Product Viewed", _product_properties(product))
            if rng.random() < 0.3:
                cart.append(product)
                self.track("Product Added", _product_properties(product) | {"quantity": 1})
        if cart and rng.random() < 0.6:
            order_id = f"O-{self.user_id}-{len(self.out)}"
            # One line per product, as a shop's order holds it: a product added twice is quantity 2.
            quantities = Counter(p.product_id for p in cart)
            unique = {p.product_id: p for p in cart}.values()
            lines = [_product_properties(p) | {"quantity": quantities[p.product_id]} for p in unique]
            total = round(sum(p.price for p in cart), 2)
            self.track(
                "Order Completed",
                {"order_id": order_id, "total": total, "currency": "USD", "products": lines},
            )

    def identify(self) -> None:
        self.identified = True
        email = f"{self.user_id}@example.com"
        self.emit({"type": "identify", "traits": {"email": email, "plan": self.rng.choice(("free", "pro"))}})

    def track(self, event: str, properties: dict[str, Any]) -> None:
        self.emit({"type": "track", "event": event, "properties": properties})

    def emit(self, body: dict[str, Any]) -> None:
        self.clock += timedelta(seconds=self.rng.randint(5, 240), milliseconds=self.rng.randint(0, 999))
        stamp = self.clock.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        message: dict[str, Any] = {
            "messageId": str(uuid.uuid5(_NAMESPACE, f"{self.anonymous_id}/{len(self.out)}")),
            "anonymousId": self.anonymous_id,
            "timestamp": stamp,
            "originalTimestamp": stamp,
            "context": {"library": {"name": "analytics.js", "version": "5.2.0"}},
            **body,
        }
        if self.identified:
            message["userId"] = self.user_id
        self.out.append(message)


def _product_properties(product: Product) -> dict[str, Any]:
    return {
        "product_id": product.product_id,
        "sku": f"SKU-{product.product_id}",
        "name": product.name,
        "category": product.category,
        "price": product.price,
    }
