"""Wires the engagement adapters from settings: the sinks for ``consumers.bootstrap.stream``, the catalog for
the campaign hook, the endpoint directory and importer for the segment import (``consumers.bootstrap.hooks``,
``pue segment-import``).

The catalog and the message sink live with the backend (local store, or DynamoDB and Pinpoint); the Customer
Profiles sink is switched on by its domain setting with either backend, like the Pinpoint sink.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from pathlib import Path
from typing import TYPE_CHECKING

from consumers.bootstrap.clients import ClientFactory, open_local
from consumers.config.engagement_settings import EngagementSettings
from consumers.config.settings import Settings
from destinations.ports import EndpointDirectory, ItemCatalog, RecommendationSink, SegmentImporter
from schemas.errors import ConfigError

if TYPE_CHECKING:
    from destinations.local import LocalBackend


def engagement_catalog(
    engagement: EngagementSettings, local: LocalBackend | None, client: ClientFactory
) -> ItemCatalog | None:
    """The item catalog of the backend: the local store, or the DynamoDB table when one is configured."""
    if local is not None:
        return local.store
    if engagement.catalog_table:
        from destinations.aws.item_catalog import DynamoItemCatalog

        return DynamoItemCatalog(
            client("dynamodb"),
            engagement.catalog_table,
            key=engagement.catalog_key,
            fields=list(engagement.detail_fields.values()),
        )
    return None


def engagement_sinks(
    settings: Settings,
    engagement: EngagementSettings,
    local: LocalBackend | None,
    client: ClientFactory,
    *,
    pool: Executor | None = None,
) -> list[RecommendationSink]:
    """The Customer Profiles and message sinks whose settings are present (``local``: the local backend, when
    it is the one in use)."""
    sinks: list[RecommendationSink] = []
    catalog = engagement_catalog(engagement, local, client)
    if engagement.customer_profiles_domain:
        from destinations.aws.customer_profiles import CustomerProfilesSink

        sinks.append(
            CustomerProfilesSink(
                client("customer-profiles"),
                engagement.customer_profiles_domain,
                key_name=engagement.customer_profiles_key,
                create_missing=engagement.customer_profiles_create,
                anonymous_key=engagement.customer_profiles_anonymous_key,
                # Only pue's refreshes of anonymous visitors create visitor profiles to adopt.
                adopt_visitors=settings.refresh_anonymous,
                catalog=catalog,
                details=engagement.details,
                max_workers=settings.max_workers,
                pool=pool,
            )
        )
    if engagement.message_template:
        sinks.append(_message_sink(settings, engagement, local, client, catalog))
    return sinks


def _message_sink(
    settings: Settings,
    engagement: EngagementSettings,
    local: LocalBackend | None,
    client: ClientFactory,
    catalog: ItemCatalog | None,
) -> RecommendationSink:
    assert engagement.message_template  # noqa: S101 - checked by the caller
    if local is not None:
        from destinations.local.messages import DEFAULT_LOCAL_BODY, LocalMessageSink

        return LocalMessageSink(
            local.store,
            template=engagement.message_template,
            channel=engagement.message_channel,
            quiet_seconds=engagement.message_quiet_seconds,
            catalog=catalog,
            details=engagement.details,
            body=engagement.message_local_body or DEFAULT_LOCAL_BODY,
        )
    from destinations.aws.message_ledger import DynamoMessageLedger
    from destinations.aws.pinpoint_messages import PinpointMessageSink

    if not (settings.pinpoint_application_id and engagement.message_ledger_table):
        raise ConfigError(["PUE_MESSAGE_TEMPLATE needs PINPOINT_APPLICATION_ID and PUE_MESSAGE_LEDGER_TABLE"])
    return PinpointMessageSink(
        client("pinpoint"),
        settings.pinpoint_application_id,
        DynamoMessageLedger(client("dynamodb"), engagement.message_ledger_table),
        template=engagement.message_template,
        channel=engagement.message_channel,
        quiet_seconds=engagement.message_quiet_seconds,
        catalog=catalog,
        details=engagement.details,
    )


def segment_adapters(
    settings: Settings,
    engagement: EngagementSettings,
    client: ClientFactory,
    *,
    dry_run_dir: Path | None = None,
) -> tuple[EndpointDirectory, SegmentImporter, Callable[[], None]]:
    """Endpoint lookup and the importer for ``pue segment-import`` and its Lambda handler, plus a closer.

    ``dry_run_dir``: resolve endpoints as usual but only write the CSVs there.
    """
    from destinations.local.segments import DirectorySegmentWriter

    if settings.backend == "local":
        from destinations.local.segments import LocalEndpointDirectory, LocalSegmentImporter

        local = open_local(settings.state_dir)
        importer: SegmentImporter = (
            DirectorySegmentWriter(dry_run_dir)
            if dry_run_dir is not None
            else LocalSegmentImporter(local.store, settings.state_dir / "segments")
        )
        return LocalEndpointDirectory(local.store), importer, local.close
    problems = [] if dry_run_dir is not None else engagement.segment_import_problems(settings)
    if not settings.pinpoint_application_id:
        problems.append("PINPOINT_APPLICATION_ID is required to look up endpoints with PUE_BACKEND=aws")
    if problems:
        raise ConfigError(sorted(set(problems)))
    assert settings.pinpoint_application_id  # noqa: S101 - checked above
    from destinations.aws.pinpoint_import import PinpointEndpointDirectory, PinpointSegmentImporter

    directory = PinpointEndpointDirectory(client("pinpoint"), settings.pinpoint_application_id)
    if dry_run_dir is not None:
        return directory, DirectorySegmentWriter(dry_run_dir), _nothing
    assert engagement.segment_import_bucket and engagement.segment_import_role_arn  # noqa: S101
    importer = PinpointSegmentImporter(
        client("pinpoint"),
        client("s3"),
        application_id=settings.pinpoint_application_id,
        bucket=engagement.segment_import_bucket,
        prefix=engagement.segment_import_prefix,
        role_arn=engagement.segment_import_role_arn,
    )
    return directory, importer, _nothing


def _nothing() -> None:
    return None
