"""The one place that wires adapters to ports, from validated settings. Called once per container.

Backends: ``local`` (the embedded SQLite store and recommender, the default) or ``aws`` (Personalize and
SQS through boto3). Segment Personas, the Profile API and Pinpoint are switched on by their own settings,
with either backend: a sink whose settings are absent is off.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from consumers.bootstrap.clients import ClientFactory, client_factory, open_local
from consumers.bootstrap.engagement import engagement_sinks
from consumers.config.engagement_settings import EngagementSettings
from consumers.config.logs import register_secret
from consumers.config.settings import Settings
from consumers.stream.event_map import EventMap
from consumers.stream.pipeline import Pipeline, RefreshOptions
from destinations.ports import (
    DeadLetterSink,
    EventTracker,
    PurchaseHistory,
    PurchaseLedger,
    RecommendationSink,
    Recommender,
    RefreshLedger,
)
from schemas.errors import ConfigError

if TYPE_CHECKING:
    # The local backend (SQLite) is imported where it is wired: an aws deployment's cold start never loads it.
    from destinations.aws.s3_dead_letter_payloads import S3DeadLetterPayloads
    from destinations.local import LocalBackend


@dataclass(slots=True)
class Wiring:
    """The adapters behind each port, plus the local backend when one is open (for reads and demos)."""

    tracker: EventTracker
    recommender: Recommender
    sinks: list[RecommendationSink]
    dead_letters: DeadLetterSink
    purchases: PurchaseHistory | None
    event_map: EventMap
    local: LocalBackend | None = None
    ledger: RefreshLedger | None = None  # only with PUE_REFRESH_MIN_INTERVAL_SECONDS
    purchase_ledger: PurchaseLedger | None = None  # only with PUE_PURCHASE_LEDGER_TABLE
    # Where the Pinpoint and Customer Profiles sinks fan out per user; the pipeline owns it (threads start
    # only when a sink uses it).
    sink_pool: ThreadPoolExecutor | None = None


def load_event_map(settings: Settings) -> EventMap:
    if settings.event_map_preset is not None:
        return EventMap.preset(settings.event_map_preset)
    if settings.event_map_path is None:
        return EventMap.default()
    try:
        return EventMap.from_file(settings.event_map_path)
    except ConfigError as error:
        # The problems name the file; an operator looks for the setting that points at it.
        raise ConfigError([f"PUE_EVENT_MAP: {problem}" for problem in error.problems]) from error


def wire(
    settings: Settings, *, clients: dict[str, Any] | None = None, engagement: EngagementSettings | None = None
) -> Wiring:
    """Build every adapter. ``clients`` injects boto3 clients by service name (tests, benchmarks);
    ``engagement`` the engagement sinks' settings (default: read from the environment)."""
    if engagement is None:
        engagement = EngagementSettings.from_env(settings=settings)
    for secret in (settings.segment_write_key, settings.segment_profile_token):
        register_secret(secret)
    event_map = load_event_map(settings)
    _warn_of_a_default_map_for_a_recommender(settings)
    client = client_factory({} if clients is None else clients, settings)
    wiring = (
        _wire_local(settings, event_map)
        if settings.backend == "local"
        else _wire_aws(settings, event_map, client)
    )
    wiring.sink_pool = ThreadPoolExecutor(max_workers=settings.max_workers, thread_name_prefix="pue-sink")
    _add_segment_and_pinpoint(settings, wiring, client, engagement)
    return wiring


# A domain recommender trains on the domain's event types (View, Purchase; Watch, Click): Segment's names
# in the default map would leave it without the events its use case requires. consumers/stream/event_map.py
# cites the pages.
DEFAULT_MAP_WITH_RECOMMENDER = (
    "PERSONALIZE_RECOMMENDER_ARN is set but PUE_EVENT_MAP is not: the default event map sends Segment's "
    "event names (Product Viewed, Order Completed), while a domain recommender requires its domain's "
    "event types. Set PUE_EVENT_MAP=ecommerce-domain (View, Purchase) or video-on-demand-domain (Watch, "
    "Click), or a map file of your own (docs/event-map.md)"
)


def _warn_of_a_default_map_for_a_recommender(settings: Settings) -> None:
    if settings.recommender_arn and settings.event_map_path is None and settings.event_map_preset is None:
        logging.getLogger("pue.bootstrap").warning(DEFAULT_MAP_WITH_RECOMMENDER)


def build_pipeline(
    settings: Settings, *, clients: dict[str, Any] | None = None, engagement: EngagementSettings | None = None
) -> tuple[Pipeline, Wiring]:
    wiring = wire(settings, clients=clients, engagement=engagement)
    pipeline = Pipeline(
        tracker=wiring.tracker,
        recommender=wiring.recommender,
        sinks=wiring.sinks,
        dead_letters=wiring.dead_letters,
        purchases=wiring.purchases,
        event_map=wiring.event_map,
        refresh=RefreshOptions(
            settings.num_results,
            settings.filter_arn,
            settings.filter_values,
            min_interval_seconds=settings.refresh_min_interval_seconds,
            # The local recommender never returns a purchased item: no need to ask past them.
            widen_for_exclusions=wiring.local is None,
            anonymous=settings.refresh_anonymous,
        ),
        max_workers=settings.max_workers,
        counts_observer=wiring.local.stats.record if wiring.local is not None else None,
        ledger=wiring.ledger,
        metrics=settings.metrics,
        purchase_ledger=wiring.purchase_ledger,
        sink_pool=wiring.sink_pool,
    )
    return pipeline, wiring


def _wire_local(settings: Settings, event_map: EventMap) -> Wiring:
    from destinations.local.refresh_ledger import LocalRefreshLedger

    local = open_local(settings.state_dir, event_map)
    return Wiring(
        tracker=local.tracker,
        recommender=local.recommender,
        sinks=[local.personas, local.pinpoint],
        dead_letters=local.dead_letters,
        purchases=local.purchases,
        event_map=event_map,
        local=local,
        ledger=LocalRefreshLedger(local.store) if settings.refresh_min_interval_seconds else None,
    )


def _wire_aws(settings: Settings, event_map: EventMap, client: ClientFactory) -> Wiring:
    from destinations.aws.personalize_events import PersonalizeEventTracker
    from destinations.aws.personalize_runtime import PersonalizeRecommender
    from destinations.aws.sqs_dead_letters import SqsDeadLetterSink

    assert settings.tracking_id and settings.dead_letter_queue_url  # noqa: S101 - guaranteed by Settings
    return Wiring(
        tracker=PersonalizeEventTracker(client("personalize-events"), settings.tracking_id),
        recommender=PersonalizeRecommender(
            client("personalize-runtime"),
            campaign_arn=settings.campaign_arn,
            recommender_arn=settings.recommender_arn,
        ),
        sinks=[],
        dead_letters=SqsDeadLetterSink(
            client("sqs"),
            settings.dead_letter_queue_url,
            overflow=_dead_letter_overflow(settings, client),
        ),
        ledger=_refresh_ledger(settings, client),
        purchases=None,  # the Profile API's, when configured (_add_segment_and_pinpoint)
        event_map=event_map,
        purchase_ledger=_purchase_ledger(settings, client),
    )


def _purchase_ledger(settings: Settings, client: ClientFactory) -> PurchaseLedger | None:
    """``purchase: true`` on AWS without the Profile API: the stream's purchases kept in DynamoDB."""
    if not settings.purchase_ledger_table:
        return None
    from destinations.aws.purchase_ledger import DynamoPurchaseLedger

    return DynamoPurchaseLedger(client("dynamodb"), settings.purchase_ledger_table)


def _dead_letter_overflow(settings: Settings, client: ClientFactory) -> S3DeadLetterPayloads | None:
    """Where dead letters too large for SQS keep their whole record (``PUE_DEAD_LETTER_BUCKET``), if set."""
    if not settings.dead_letter_bucket:
        return None
    from destinations.aws.s3_dead_letter_payloads import S3DeadLetterPayloads

    return S3DeadLetterPayloads(client("s3"), settings.dead_letter_bucket)


def _refresh_ledger(settings: Settings, client: ClientFactory) -> RefreshLedger | None:
    if not (settings.refresh_min_interval_seconds and settings.refresh_ledger_table):
        return None
    from destinations.aws.refresh_ledger import DynamoRefreshLedger

    return DynamoRefreshLedger(
        client("dynamodb"),
        settings.refresh_ledger_table,
        keep_seconds=settings.refresh_min_interval_seconds,
    )


def _add_segment_and_pinpoint(
    settings: Settings, wiring: Wiring, client: ClientFactory, engagement: EngagementSettings | None = None
) -> None:
    if settings.segment_write_key:
        from destinations.segment.personas import PersonasTraitSink

        wiring.sinks.append(PersonasTraitSink(settings.segment_write_key, host=settings.segment_api_host))
    if settings.pinpoint_application_id:
        from destinations.aws.pinpoint import PinpointEndpointSink

        wiring.sinks.append(
            PinpointEndpointSink(
                client("pinpoint"),
                settings.pinpoint_application_id,
                pool=wiring.sink_pool,
            )
        )
    if settings.profile_api_enabled:
        from destinations.segment.profile_api import ProfileApiPurchaseHistory

        assert settings.segment_space_id and settings.segment_profile_token  # noqa: S101
        wiring.purchases = ProfileApiPurchaseHistory(
            settings.segment_space_id,
            settings.segment_profile_token,
            host=settings.segment_profile_api_host,
            max_connections=settings.max_workers,
        )
    if engagement is not None:
        # Customer Profiles and real-time messages, each on only when its settings are present.
        wiring.sinks.extend(
            engagement_sinks(settings, engagement, wiring.local, client, pool=wiring.sink_pool)
        )


def pipeline_from_environment() -> Pipeline:
    """The pipeline of a Lambda container (the Kinesis handler's, the refresh sweep's), from its environment.

    A ``ConfigError`` here fails the init loudly, naming every problem. Secrets named by ``<NAME>_SECRET_ARN``
    are fetched once per container, before anything reads them.
    """
    from consumers.config.logs import configure_logging
    from consumers.config.secrets import resolve_secrets

    settings = Settings.from_env(resolve_secrets(os.environ))
    configure_logging(settings.log_level)
    pipeline, _ = build_pipeline(settings)
    return pipeline
