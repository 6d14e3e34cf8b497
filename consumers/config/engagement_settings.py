"""Settings of the engagement paths (campaign hook, segment import, messages, Customer Profiles), read once
from the environment and validated all at once: one ``ConfigError`` names every problem.

Each feature is off until its settings are present: Customer Profiles with ``PUE_CUSTOMER_PROFILES_DOMAIN``,
messages with ``PUE_MESSAGE_TEMPLATE``, the DynamoDB catalog with ``PUE_CATALOG_TABLE``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

from consumers.config.env import EnvReader
from consumers.config.settings import Settings
from destinations.engagement_content import DEFAULT_DETAIL_FIELDS, DEFAULT_DETAIL_RANKS, ID_SUFFIX, DetailSpec
from schemas.limits import (
    CUSTOMER_PROFILES_KEY_NAME_MAX_LENGTH,
    PINPOINT_ATTRIBUTE_NAME_MAX_LENGTH,
    PINPOINT_CAMPAIGN_HOOK_TIMEOUT_SECONDS,
)

Channel = Literal["EMAIL", "SMS", "PUSH"]
MAX_DETAIL_RANKS: Final = 10
MAX_QUIET_SECONDS: Final = 30 * 86_400
DEFAULT_QUIET_SECONDS: Final = 86_400
# Leaves time to serialize the answer and for Lambda's own overhead inside Pinpoint's 15 s.
DEFAULT_HOOK_TIMEOUT_SECONDS: Final = 12.0
DEFAULT_SEGMENT_PREFIX: Final = "pue/segments"
_KEY_NAME = re.compile(r"^[a-zA-Z0-9_-]+$")
_SUFFIX = re.compile(r"^[a-z0-9_]+$")
# What the local backend's engagement paths read (messages, item details); local-only commands read no other.
LOCAL_ENGAGEMENT_SETTING_NAMES: Final = (
    "PUE_MESSAGE_TEMPLATE",
    "PUE_MESSAGE_CHANNEL",
    "PUE_MESSAGE_QUIET_PERIOD_SECONDS",
    "PUE_MESSAGE_LOCAL_BODY",
    "PUE_CATALOG_FIELDS",
    "PUE_CATALOG_RANKS",
)


@dataclass(frozen=True, slots=True)
class EngagementSettings:
    customer_profiles_domain: str | None = None
    customer_profiles_key: str = "_account"
    customer_profiles_create: bool = False
    # The search key anonymous visitors' profiles are kept under (PUE_REFRESH_ANONYMOUS); a custom key the
    # domain defines (docs/engagement.md, "Anonymous visitors").
    customer_profiles_anonymous_key: str = "pue_anonymous_id"
    message_template: str | None = None
    message_channel: Channel = "EMAIL"
    message_quiet_seconds: int = DEFAULT_QUIET_SECONDS
    message_ledger_table: str | None = None
    message_local_body: str | None = None
    catalog_table: str | None = None
    catalog_key: str = "ITEM_ID"
    detail_fields: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_DETAIL_FIELDS))
    detail_ranks: int = DEFAULT_DETAIL_RANKS
    hook_timeout_seconds: float = DEFAULT_HOOK_TIMEOUT_SECONDS
    segment_import_bucket: str | None = None
    segment_import_prefix: str = DEFAULT_SEGMENT_PREFIX
    segment_import_role_arn: str | None = None
    segment_import_wait_seconds: int = 0

    @property
    def details(self) -> DetailSpec:
        return DetailSpec(ranks=self.detail_ranks, fields=dict(self.detail_fields))

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, settings: Settings | None = None
    ) -> EngagementSettings:
        """Parse and validate (against ``settings`` too, when given); ``ConfigError`` names every problem."""
        return _Parser(os.environ if env is None else env).parse(settings)

    @classmethod
    def local_from_env(
        cls, env: Mapping[str, str] | None = None, *, settings: Settings | None = None
    ) -> EngagementSettings:
        """The local backend's engagement settings (``LOCAL_ENGAGEMENT_SETTING_NAMES``): the cloud-only ones
        (Customer Profiles, DynamoDB tables, segment import) are not read, so they neither apply nor fail."""
        source = os.environ if env is None else env
        local = {name: source[name] for name in LOCAL_ENGAGEMENT_SETTING_NAMES if name in source}
        return _Parser(local).parse(settings)

    def segment_import_problems(self, settings: Settings) -> list[str]:
        """What importing segments into Pinpoint still needs (empty on the local backend)."""
        if settings.backend != "aws":
            return []
        needed = {
            "PINPOINT_APPLICATION_ID": settings.pinpoint_application_id,
            "PUE_SEGMENT_IMPORT_BUCKET": self.segment_import_bucket,
            "PUE_SEGMENT_IMPORT_ROLE_ARN": self.segment_import_role_arn,
        }
        return [
            f"{name} is required to import segments with PUE_BACKEND=aws"
            for name, v in needed.items()
            if not v
        ]


class _Parser(EnvReader):
    def channel(self) -> Channel:
        raw = (self.text("PUE_MESSAGE_CHANNEL") or "EMAIL").upper()
        if raw in ("EMAIL", "SMS", "PUSH"):
            return raw  # type: ignore[return-value]
        self.problems.append(f"PUE_MESSAGE_CHANNEL must be EMAIL, SMS or PUSH, got {raw!r}")
        return "EMAIL"

    def key_name(self, name: str = "PUE_CUSTOMER_PROFILES_KEY", default: str = "_account") -> str:
        key = self.text(name) or default
        if not _KEY_NAME.match(key) or len(key) > CUSTOMER_PROFILES_KEY_NAME_MAX_LENGTH:
            self.problems.append(
                f"{name} must be 1-{CUSTOMER_PROFILES_KEY_NAME_MAX_LENGTH} of "
                f"[a-zA-Z0-9_-] (a Customer Profiles search key such as {default}), got {key!r}"
            )
        return key

    def detail_fields(self) -> dict[str, str]:
        raw = self.text("PUE_CATALOG_FIELDS")
        if raw is None:
            return dict(DEFAULT_DETAIL_FIELDS)
        example = '{"name": "NAME", "price": "PRICE", "url": "URL", "image": "IMAGE_URL"}'
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            self.problems.append(f"PUE_CATALOG_FIELDS must be a JSON object, e.g. {example}: {exc.msg}")
            return dict(DEFAULT_DETAIL_FIELDS)
        if not isinstance(value, dict) or not all(isinstance(v, str) and v for v in value.values()):
            self.problems.append(
                f"PUE_CATALOG_FIELDS must map attribute suffixes to field names, e.g. {example}"
            )
            return dict(DEFAULT_DETAIL_FIELDS)
        # The longest attribute name is recommended_item_10_<suffix>; Pinpoint allows 50 characters.
        longest = PINPOINT_ATTRIBUTE_NAME_MAX_LENGTH - len(f"recommended_item_{MAX_DETAIL_RANKS}_")
        for suffix in value:
            if not _SUFFIX.match(suffix) or len(suffix) > longest or suffix == ID_SUFFIX:
                self.problems.append(
                    f"PUE_CATALOG_FIELDS: {suffix!r} must be 1-{longest} of [a-z0-9_] and not {ID_SUFFIX!r}"
                )
        return dict(value)

    def parse(self, settings: Settings | None) -> EngagementSettings:
        result = EngagementSettings(
            customer_profiles_domain=self.text("PUE_CUSTOMER_PROFILES_DOMAIN"),
            customer_profiles_key=self.key_name(),
            customer_profiles_create=self.flag("PUE_CUSTOMER_PROFILES_CREATE"),
            customer_profiles_anonymous_key=self.key_name(
                "PUE_CUSTOMER_PROFILES_ANONYMOUS_KEY", "pue_anonymous_id"
            ),
            message_template=self.text("PUE_MESSAGE_TEMPLATE"),
            message_channel=self.channel(),
            message_quiet_seconds=self.whole(
                "PUE_MESSAGE_QUIET_PERIOD_SECONDS", DEFAULT_QUIET_SECONDS, 0, MAX_QUIET_SECONDS
            ),
            message_ledger_table=self.text("PUE_MESSAGE_LEDGER_TABLE"),
            message_local_body=self.text("PUE_MESSAGE_LOCAL_BODY"),
            catalog_table=self.text("PUE_CATALOG_TABLE"),
            catalog_key=self.text("PUE_CATALOG_KEY") or "ITEM_ID",
            detail_fields=self.detail_fields(),
            detail_ranks=self.whole("PUE_CATALOG_RANKS", DEFAULT_DETAIL_RANKS, 0, MAX_DETAIL_RANKS),
            hook_timeout_seconds=self.number(
                "PUE_CAMPAIGN_HOOK_TIMEOUT_SECONDS",
                DEFAULT_HOOK_TIMEOUT_SECONDS,
                1,
                PINPOINT_CAMPAIGN_HOOK_TIMEOUT_SECONDS - 1,
            ),
            segment_import_bucket=self.text("PUE_SEGMENT_IMPORT_BUCKET"),
            segment_import_prefix=(self.text("PUE_SEGMENT_IMPORT_PREFIX") or DEFAULT_SEGMENT_PREFIX).strip(
                "/"
            ),
            segment_import_role_arn=self.arn("PUE_SEGMENT_IMPORT_ROLE_ARN", "arn:aws:iam::..."),
            segment_import_wait_seconds=self.whole("PUE_SEGMENT_IMPORT_WAIT_SECONDS", 0, 0, 900),
        )
        if settings is not None:
            self.check_combinations(result, settings)
        self.finish()
        return result

    def check_combinations(self, s: EngagementSettings, settings: Settings) -> None:
        if not s.message_template or settings.backend != "aws":
            return
        if not settings.pinpoint_application_id:
            self.problems.append("PUE_MESSAGE_TEMPLATE needs PINPOINT_APPLICATION_ID with PUE_BACKEND=aws")
        if not s.message_ledger_table:
            # Without a shared record, concurrent or redelivered batches could message a user twice.
            self.problems.append("PUE_MESSAGE_TEMPLATE needs PUE_MESSAGE_LEDGER_TABLE with PUE_BACKEND=aws")
