"""Which E-commerce v2 and Video spec events pue tracks, by default and with the Personalize domain presets
(docs/event-map.md gives the reasons). Golden samples in tests/samples carry the payloads of Segment's spec
examples."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import boto3
import pytest

from consumers.bootstrap.stream import DEFAULT_MAP_WITH_RECOMMENDER, load_event_map, wire
from consumers.config.engagement_settings import EngagementSettings
from consumers.config.settings import EVENT_MAP_PRESETS, Settings
from consumers.stream.event_map import EventMap
from consumers.stream.normalize import normalize
from schemas.errors import ConfigError
from schemas.outcome import Filtered, Tracked

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
DEFAULT = EventMap.default()
ECOMMERCE = EventMap.preset("ecommerce-domain")
VIDEO = EventMap.preset("video-on-demand-domain")
MONOPOLY, UNO = "507f1f77bcf86cd799439011", "505bd76785ebb509fc183733"


def sample(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SAMPLES / f"{name}.json").read_text())
    return loaded


def interactions(name: str, event_map: EventMap) -> list[tuple[str, str | None]]:
    outcome = normalize(sample(name), event_map)
    assert isinstance(outcome, Tracked), outcome
    return [(i.event_type, i.item_id) for i in outcome.interactions]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("track_product_added_to_wishlist", [("Product Added to Wishlist", MONOPOLY)]),
        ("track_wishlist_product_added_to_cart", [("Product Added", MONOPOLY)]),
        ("track_product_shared", [("Product Shared", MONOPOLY)]),
        ("track_checkout_started", [("Checkout Started", MONOPOLY), ("Checkout Started", UNO)]),
    ],
)
def test_the_default_map_tracks_the_wider_ecommerce_events(
    name: str, expected: list[tuple[str, str]]
) -> None:
    assert interactions(name, DEFAULT) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("track_product_viewed", [("View", MONOPOLY)]),
        ("track_product_clicked", [("Click", MONOPOLY)]),
        ("track_product_added", [("Product Added", MONOPOLY)]),
        ("track_product_added_to_wishlist", [("Product Added to Wishlist", MONOPOLY)]),
        ("track_checkout_started", [("Checkout Started", MONOPOLY), ("Checkout Started", UNO)]),
        ("track_order_completed", [("Purchase", MONOPOLY), ("Purchase", UNO)]),  # the product list, split
    ],
)
def test_the_ecommerce_preset_sends_the_domains_event_types(
    name: str, expected: list[tuple[str, str]]
) -> None:
    assert interactions(name, ECOMMERCE) == expected


def test_the_ecommerce_presets_purchases_are_its_purchase_events() -> None:
    assert ECOMMERCE.purchase_event_types == frozenset({"Purchase"})
    assert {rule.event_type for rule in ECOMMERCE.events.values()} >= {"View", "Purchase"}


def test_the_video_preset_sends_watch_for_content_and_leaves_heartbeats_out() -> None:
    assert interactions("track_video_content_started", VIDEO) == [("Watch", "0129370")]
    assert normalize(sample("track_video_content_playing"), VIDEO) == Filtered(
        "unmapped event", sample="Video Content Playing"
    )
    assert interactions("track_product_clicked", VIDEO) == [("Click", MONOPOLY)]
    assert {rule.event_type for rule in VIDEO.events.values()} >= {"Watch", "Click"}


def test_presets_are_chosen_by_name_in_pue_event_map() -> None:
    for name in EVENT_MAP_PRESETS:
        settings = Settings.from_env({"PUE_EVENT_MAP": name})
        assert settings.event_map_preset == name and settings.event_map_path is None
        assert load_event_map(settings) == EventMap.preset(name)
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"PUE_EVENT_MAP": "ecommerce"})
    assert "ecommerce-domain, video-on-demand-domain" in raised.value.problems[0]


def _aws(env: dict[str, str]) -> Settings:
    return Settings.from_env(
        {
            "PUE_BACKEND": "aws",
            "PERSONALIZE_TRACKING_ID": "tracker",
            "PUE_DEAD_LETTER_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/111111111111/dlq",
            **env,
        }
    )


def _clients() -> dict[str, Any]:
    keys = {"region_name": "us-east-1", "aws_access_key_id": "t", "aws_secret_access_key": "t"}
    return {s: boto3.client(s, **keys) for s in ("personalize-events", "personalize-runtime", "sqs")}


RECOMMENDER = "arn:aws:personalize:us-east-1:111111111111:recommender/recommended-for-you"


@pytest.mark.parametrize(
    ("env", "warned"),
    [
        ({"PERSONALIZE_RECOMMENDER_ARN": RECOMMENDER}, True),
        ({"PERSONALIZE_RECOMMENDER_ARN": RECOMMENDER, "PUE_EVENT_MAP": "ecommerce-domain"}, False),
        ({"PERSONALIZE_CAMPAIGN_ARN": "arn:aws:personalize:us-east-1:111111111111:campaign/c"}, False),
    ],
    ids=["recommender-default-map", "recommender-preset", "campaign-default-map"],
)
def test_a_recommender_with_the_default_map_is_warned_of_once(
    env: dict[str, str], warned: bool, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        wire(_aws(env), clients=_clients(), engagement=EngagementSettings())
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ([DEFAULT_MAP_WITH_RECOMMENDER] if warned else [])
