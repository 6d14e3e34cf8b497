"""Settings, read once from the environment at cold start and validated all at once.

A missing or malformed setting is reported together with every other problem in one ``ConfigError``,
so a deployment is fixed in one round, not one error at a time. A sink whose settings are absent is off.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Final, Literal

from consumers.config.env import EnvReader
from consumers.config.metrics import MetricsSettings
from schemas.limits import GET_RECOMMENDATIONS_DEFAULT_RESULTS, GET_RECOMMENDATIONS_MAX_RESULTS

Backend = Literal["local", "aws"]

DEFAULT_SEGMENT_API_HOST = "https://api.segment.io"
DEFAULT_SEGMENT_PROFILE_API_HOST = "https://profiles.segment.com"
DEFAULT_STATE_DIR = ".pue"
# Sized for a Lambda with 1-2 vCPUs: the work is I/O-bound (waiting on Personalize, Segment, Pinpoint).
DEFAULT_MAX_WORKERS = 16
MAX_WORKERS_CEILING = 256
REFRESH_MIN_INTERVAL_CEILING = 86_400  # a day: a longer wait is better served by batch recommendations
# What the local backend reads. Local-only commands (sample, replay, run, serve...) parse these alone, so
# cloud settings in the environment (PUE_BACKEND=aws and what it requires) neither apply nor fail there.
LOCAL_SETTING_NAMES = (
    "PUE_STATE_DIR",
    "PUE_EVENT_MAP",
    "PERSONALIZE_NUM_RESULTS",
    "PUE_REFRESH_MIN_INTERVAL_SECONDS",
    "PUE_REFRESH_ANONYMOUS",
    "PUE_MAX_WORKERS",
    "PUE_LOG_LEVEL",
)


# Named maps for Amazon Personalize's domain dataset groups (``PUE_EVENT_MAP=<name>``): their recommenders
# train on event types by name. ECOMMERCE use cases require ``View`` and ``Purchase`` events
# (https://docs.aws.amazon.com/personalize/latest/dg/ECOMMERCE-interactions-dataset.html and
# https://docs.aws.amazon.com/personalize/latest/dg/ECOMMERCE-use-cases.html); VIDEO_ON_DEMAND use cases
# ``Watch`` and ``Click``
# (https://docs.aws.amazon.com/personalize/latest/dg/VIDEO-ON-DEMAND-interactions-dataset.html and
# https://docs.aws.amazon.com/personalize/latest/dg/VIDEO_ON_DEMAND-use-cases.html). Other event types may
# be added freely; docs/event-map.md gives the reason for each choice.
EVENT_MAP_PRESETS: Final = MappingProxyType(
    {
        "ecommerce-domain": "preset_ecommerce_domain.json",
        "video-on-demand-domain": "preset_video_on_demand_domain.json",
    }
)


@dataclass(frozen=True, slots=True)
class Settings:
    backend: Backend = "local"
    state_dir: Path = Path(DEFAULT_STATE_DIR)
    tracking_id: str | None = None
    campaign_arn: str | None = None
    recommender_arn: str | None = None
    filter_arn: str | None = None
    filter_values: Mapping[str, str] = field(default_factory=dict)
    num_results: int = GET_RECOMMENDATIONS_DEFAULT_RESULTS
    segment_write_key: str | None = None
    segment_api_host: str = DEFAULT_SEGMENT_API_HOST
    segment_space_id: str | None = None
    segment_profile_token: str | None = None
    segment_profile_api_host: str = DEFAULT_SEGMENT_PROFILE_API_HOST
    pinpoint_application_id: str | None = None
    dead_letter_queue_url: str | None = None
    dead_letter_bucket: str | None = None
    refresh_min_interval_seconds: int = 0
    refresh_ledger_table: str | None = None
    # Refresh anonymous visitors too (consumers.stream.anonymous_refresh). Off: it adds 3 % to figure 1's
    # batch calls, 48 % when half the users never log in, 167 % at 90 % (docs/performance.md, "Anonymous
    # visitors on the stream").
    refresh_anonymous: bool = False
    event_map_path: Path | None = None
    event_map_preset: str | None = None  # a domain preset by name (PUE_EVENT_MAP=ecommerce-domain)
    max_workers: int = DEFAULT_MAX_WORKERS
    log_level: str = "INFO"
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    purchase_ledger_table: str | None = None

    @property
    def profile_api_enabled(self) -> bool:
        return bool(self.segment_space_id and self.segment_profile_token)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Parse and validate; raises ``ConfigError`` naming every problem found."""
        return _Parser(os.environ if env is None else env).parse()

    @classmethod
    def local_from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """The local backend's settings alone (``LOCAL_SETTING_NAMES``): every cloud setting is ignored."""
        source = os.environ if env is None else env
        return _Parser({name: source[name] for name in LOCAL_SETTING_NAMES if name in source}).parse()

    @classmethod
    def reader_from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """For commands that only read recommendations (``pue recommend``, ``pue profile``): with
        ``PUE_BACKEND=aws`` they need the campaign or recommender ARN, not the stream's tracker and queues;
        on the local backend they read no cloud setting at all."""
        source = os.environ if env is None else env
        if (source.get("PUE_BACKEND", "").strip().lower() or "local") == "local":
            return cls.local_from_env(source)
        return _Parser(source).parse(consumer=False)


class _Parser(EnvReader):
    def backend(self) -> Backend:
        raw = (self.text("PUE_BACKEND") or "local").lower()
        if raw == "aws":
            return "aws"
        if raw != "local":
            self.problems.append(f"PUE_BACKEND must be 'local' or 'aws', got {raw!r}")
        return "local"

    def parse(self, *, consumer: bool = True) -> Settings:
        event_map = self.text("PUE_EVENT_MAP")
        preset = event_map if event_map in EVENT_MAP_PRESETS else None
        if event_map is not None and preset is None and not Path(event_map).is_file():
            self.problems.append(
                f"PUE_EVENT_MAP points at {event_map!r}, which is not a readable file nor a preset "
                f"({', '.join(EVENT_MAP_PRESETS)})"
            )
        settings = Settings(
            backend=self.backend(),
            state_dir=Path(self.text("PUE_STATE_DIR") or DEFAULT_STATE_DIR),
            tracking_id=self.text("PERSONALIZE_TRACKING_ID"),
            campaign_arn=self.arn("PERSONALIZE_CAMPAIGN_ARN"),
            recommender_arn=self.arn("PERSONALIZE_RECOMMENDER_ARN"),
            filter_arn=self.arn("PERSONALIZE_FILTER_ARN"),
            filter_values=self.json_object_of_strings(
                "PERSONALIZE_FILTER_VALUES", '{"CATEGORY": "\\"shoes\\""}'
            ),
            num_results=self.integer(
                "PERSONALIZE_NUM_RESULTS",
                GET_RECOMMENDATIONS_DEFAULT_RESULTS,
                1,
                GET_RECOMMENDATIONS_MAX_RESULTS,
            ),
            segment_write_key=self.text("SEGMENT_WRITE_KEY"),
            segment_api_host=self.url("SEGMENT_API_HOST", DEFAULT_SEGMENT_API_HOST),
            segment_space_id=self.text("SEGMENT_SPACE_ID"),
            segment_profile_token=self.text("SEGMENT_PROFILE_TOKEN"),
            segment_profile_api_host=self.url("SEGMENT_PROFILE_API_HOST", DEFAULT_SEGMENT_PROFILE_API_HOST),
            pinpoint_application_id=self.text("PINPOINT_APPLICATION_ID"),
            dead_letter_queue_url=self.text("PUE_DEAD_LETTER_QUEUE_URL"),
            dead_letter_bucket=self.text("PUE_DEAD_LETTER_BUCKET"),
            refresh_min_interval_seconds=self.integer(
                "PUE_REFRESH_MIN_INTERVAL_SECONDS", 0, 0, REFRESH_MIN_INTERVAL_CEILING
            ),
            refresh_ledger_table=self.text("PUE_REFRESH_LEDGER_TABLE"),
            refresh_anonymous=self.flag("PUE_REFRESH_ANONYMOUS"),
            event_map_path=Path(event_map) if event_map and not preset else None,
            event_map_preset=preset,
            max_workers=self.integer("PUE_MAX_WORKERS", DEFAULT_MAX_WORKERS, 1, MAX_WORKERS_CEILING),
            log_level=self.log_level(),
            metrics=MetricsSettings.parse(self),
            purchase_ledger_table=self.text("PUE_PURCHASE_LEDGER_TABLE"),
        )
        self.check_combinations(settings, consumer=consumer)
        self.finish()
        return settings

    def log_level(self) -> str:
        level = (self.text("PUE_LOG_LEVEL") or "INFO").upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            self.problems.append(f"PUE_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {level!r}")
            return "INFO"
        return level

    def check_combinations(self, s: Settings, *, consumer: bool = True) -> None:
        if bool(s.segment_space_id) != bool(s.segment_profile_token):
            self.problems.append(
                "SEGMENT_SPACE_ID and SEGMENT_PROFILE_TOKEN go together (the Profile API needs both)"
            )
        if s.campaign_arn and s.recommender_arn:
            self.problems.append("set PERSONALIZE_CAMPAIGN_ARN or PERSONALIZE_RECOMMENDER_ARN, not both")
        if s.backend != "aws":
            return
        if not (s.campaign_arn or s.recommender_arn):
            self.problems.append(
                "PERSONALIZE_CAMPAIGN_ARN or PERSONALIZE_RECOMMENDER_ARN is required with PUE_BACKEND=aws"
            )
        if not consumer:
            return
        if not s.tracking_id:
            self.problems.append("PERSONALIZE_TRACKING_ID is required with PUE_BACKEND=aws")
        if s.refresh_min_interval_seconds and not s.refresh_ledger_table:
            # Lambda invocations share no memory: the interval needs the table to mean anything.
            self.problems.append(
                "PUE_REFRESH_LEDGER_TABLE is required with PUE_REFRESH_MIN_INTERVAL_SECONDS "
                "and PUE_BACKEND=aws"
            )
        if not s.dead_letter_queue_url:
            # Without it a poison record would have nowhere to go but a log line, and logs must not
            # carry user data: refuse to start instead of losing records.
            self.problems.append("PUE_DEAD_LETTER_QUEUE_URL is required with PUE_BACKEND=aws")
