"""Wires the engagement entry points: the campaign hook (Lambda and ``pue campaign-hook``) and the segment
import (Lambda), each from validated settings, on the same adapters the stream uses.
"""

from __future__ import annotations

from typing import Any

from consumers.bootstrap.clients import client_factory
from consumers.bootstrap.engagement import engagement_catalog, segment_adapters
from consumers.bootstrap.stream import wire
from consumers.config.engagement_settings import EngagementSettings
from consumers.config.settings import Settings
from consumers.engagement.campaign_hook import CampaignHook
from consumers.engagement.segment_import import SegmentImport
from consumers.stream.purchase_exclusions import OneUserPurchases, PurchaseExclusions


def build_campaign_hook(
    settings: Settings, engagement: EngagementSettings, *, clients: dict[str, Any] | None = None
) -> CampaignHook:
    """Wire a hook from validated settings: the backend's recommender, purchase history and item catalog."""
    clients = {} if clients is None else clients
    wiring = wire(settings, clients=clients, engagement=engagement)
    catalog = engagement_catalog(engagement, wiring.local, client_factory(clients, settings))
    purchases = wiring.purchases
    if wiring.purchase_ledger is not None:  # on AWS: the stream's purchases too, not the Profile API's alone
        exclusions = PurchaseExclusions(
            wiring.purchase_ledger, wiring.purchases, wiring.event_map.purchase_event_types
        )
        purchases = OneUserPurchases(exclusions)
    return CampaignHook(
        wiring.recommender,
        catalog=catalog,
        details=engagement.details,
        purchases=purchases,
        num_results=settings.num_results,
        filter_arn=settings.filter_arn,
        filter_values=settings.filter_values,
        timeout_seconds=engagement.hook_timeout_seconds,
        max_workers=settings.max_workers,
        widen_for_exclusions=wiring.local is None,
    )


def build_segment_import(settings: Settings, engagement: EngagementSettings) -> tuple[SegmentImport, Any]:
    """The importer over the backend's endpoint directory, and the S3 client that reads the job's output."""
    client = client_factory({}, settings)
    directory, importer, _ = segment_adapters(settings, engagement, client)
    runner = SegmentImport(
        directory,
        importer,
        max_workers=settings.max_workers,
        wait_seconds=engagement.segment_import_wait_seconds,
    )
    return runner, client("s3")
