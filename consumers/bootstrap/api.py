"""Builds the API from settings: the pipeline and adapters from ``consumers.bootstrap``, plus what only the
API needs (related items, the item catalog, the cache, keys, CORS). Shared by Lambda and ``pue serve``.
"""

from __future__ import annotations

from typing import Any

from consumers.bootstrap.clients import client_factory
from consumers.bootstrap.stream import Wiring, build_pipeline
from consumers.config.api_settings import ApiSettings
from consumers.config.engagement_settings import EngagementSettings
from consumers.config.settings import Settings
from consumers.web.auth import ApiKeyAuth
from consumers.web.cache import VersionedCache
from consumers.web.cors import Cors
from consumers.web.inbox_drain import InboxDrain
from consumers.web.insights import LocalInsights
from consumers.web.openapi import document_bytes
from consumers.web.rate_limit import RateLimits
from consumers.web.routes import Api
from consumers.web.service import (
    CacheKey,
    Defaults,
    RecommendationService,
    cached_size,
)
from destinations.local import LocalStore
from destinations.local.live_inbox import LiveInbox
from destinations.ports import (
    ItemCatalog,
    Recommender,
)
from schemas.recommendation import Recommendation

RUNTIME_SERVICE = "personalize-runtime"


def build_api(
    settings: Settings,
    api_settings: ApiSettings,
    *,
    clients: dict[str, Any] | None = None,
    engagement: EngagementSettings | None = None,
) -> Api:
    """The API over the configured backend. ``clients`` injects boto3 clients by service name (tests);
    ``engagement`` the engagement sinks' settings (default: read from the environment; ``pue serve`` passes
    the local ones)."""
    clients = dict(clients or {})
    if settings.backend == "aws":
        # Built here so the related-items recommender shares the pipeline's client (and its pool).
        client_factory(clients, settings)(RUNTIME_SERVICE)
    pipeline, wiring = build_pipeline(settings, clients=clients, engagement=engagement)
    catalog: ItemCatalog | None = None
    cache: VersionedCache[CacheKey, Recommendation] | None = None
    inbox: LiveInbox | None = None
    if wiring.local is not None:
        catalog = wiring.local.store
        if api_settings.cache_entries:
            cache = VersionedCache(
                _data_version(wiring.local.store),
                api_settings.cache_entries,
                max_bytes=api_settings.cache_bytes,
                size_of=cached_size,
            )
        # POST /events while a backfill holds the store: queued, tracked after it (live_inbox.py).
        inbox = LiveInbox(settings.state_dir)
    service = RecommendationService(
        pipeline=pipeline,
        related=_related(settings, api_settings, wiring, clients),
        catalog=catalog,
        defaults=Defaults(
            num_results=settings.num_results,
            filter_arn=settings.filter_arn,
            filter_values=settings.filter_values,
            filters=api_settings.filters,
        ),
        cache=cache,
        inbox=inbox,
    )
    drain = None
    if inbox is not None:
        drain = InboxDrain(inbox, pipeline, cache.invalidate if cache is not None else lambda: None)
        drain.start()

    def close() -> None:
        if drain is not None:
            drain.close()
        if inbox is not None:
            inbox.close()
        pipeline.close()
        if wiring.local is not None:
            wiring.local.close()

    return Api(
        service,
        ApiKeyAuth(api_settings.api_keys),
        Cors(api_settings.cors_origins),
        document_bytes(),
        on_close=close,
        insights=LocalInsights(wiring.local) if wiring.local is not None else None,
        limits=RateLimits(api_settings.rate_limit, api_settings.events_rate_limit),
    )


def _related(
    settings: Settings, api_settings: ApiSettings, wiring: Wiring, clients: dict[str, Any]
) -> Recommender | None:
    if wiring.local is not None:
        return wiring.recommender  # the local recommender answers item-only requests itself
    if api_settings.related_items_campaign_arn is None:
        return None
    from destinations.aws.personalize_runtime import PersonalizeRecommender

    arn = api_settings.related_items_campaign_arn
    return PersonalizeRecommender(clients[RUNTIME_SERVICE], campaign_arn=arn, related_items_campaign_arn=arn)


def _data_version(store: LocalStore) -> Any:
    def version() -> int:
        # Changes whenever another connection (another process) commits to the file.
        with store.transaction(write=False) as conn:
            return int(conn.execute("PRAGMA data_version").fetchone()[0])

    return version
