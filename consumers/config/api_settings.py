"""Settings of the recommendations API, read once (cold start, or ``pue serve``) and validated all at once.

They sit beside ``consumers.config.settings.Settings`` (backend, Personalize, sinks), which the API reads too:

``PUE_API_KEY``
    Keys callers present in ``x-api-key``, comma-separated so a key can be rotated (add the new one, move
    clients over, drop the old one). In Lambda, ``PUE_API_KEY_SECRET_ARN`` names a Secrets Manager secret
    instead (``consumers.config.secrets``). Required in Lambda; ``pue serve`` generates one per session if
unset. ``PUE_CORS_ORIGINS``
    Comma-separated origins (``https://shop.example``) browsers may call the API from, or ``*``.
``PUE_FILTERS``
    JSON object of filter names to Personalize filter ARNs: ``GET /recommendations?filter=NAME``.
``PERSONALIZE_RELATED_ITEMS_CAMPAIGN_ARN``
    A campaign trained on a related-items recipe (SIMS, Similar-Items): ``itemId`` without ``userId``.
``PUE_API_CACHE_ENTRIES``
    Local backend only: how many recent lists to keep until the store changes (0 turns the cache off).
``PUE_RATE_LIMIT`` / ``PUE_EVENTS_RATE_LIMIT``
    Per API key: requests per second of any keyed route / of ``POST /events``, as ``RATE/BURST``
    (``consumers.web.rate_limit``); ``0`` turns one off.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from consumers.config.env import EnvReader
from consumers.config.logs import register_secret
from consumers.config.settings import Settings
from schemas.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Rate:
    """``per_second`` tokens refill continuously, up to ``burst`` held at once."""

    per_second: float
    burst: float

    @classmethod
    def parse(cls, text: str) -> Rate | None:
        """``"20/100"`` (20 per second, bursts of 100), ``"20"`` (burst = 2 x rate) or ``"0"`` (off: None);
        ``ValueError`` for anything else."""
        rate_text, _, burst_text = text.strip().partition("/")
        rate = float(rate_text)
        burst = float(burst_text) if burst_text else 2 * rate
        if not (math.isfinite(rate) and math.isfinite(burst)) or rate < 0 or (rate > 0 and burst < 1):
            raise ValueError(text)
        return None if rate == 0 else cls(rate, burst)


DEFAULT_CACHE_ENTRIES: Final = 10_000
# Per key (issue 23). Reads: above what one pue serve answers on 2 cores with the cache on (about 2,400/s
# measured), so only a runaway client meets it. Events: a site sends its volume through Segment and the
# stream; POST /events is for a widget or a backend's occasional event, and each one grows the store.
DEFAULT_RATE_LIMIT: Final = Rate(500, 1000)
DEFAULT_EVENTS_RATE_LIMIT: Final = Rate(20, 100)
# The recommendation cache's memory, whatever the entries hold (issue 23: 10,000 lists of 500 items with
# 256-character ids took 1.4 GB). 10,000 lists of 25 short ids need about 36 MB: the default fits them.
DEFAULT_CACHE_BYTES: Final = 64 * 1024 * 1024
MAX_CACHE_ENTRIES: Final = 1_000_000
# Shorter keys are guessable; Secrets Manager's generated ones (deploy/template.yaml) have 40 characters.
MIN_API_KEY_LENGTH: Final = 16
_ORIGIN: Final = re.compile(r"https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?")
_FILTER_NAME: Final = re.compile(r"[A-Za-z0-9_.\-]{1,256}")


@dataclass(frozen=True, slots=True)
class ApiSettings:
    api_keys: tuple[str, ...] = ()
    cors_origins: frozenset[str] = frozenset()
    filters: Mapping[str, str] = field(default_factory=dict)
    related_items_campaign_arn: str | None = None
    cache_entries: int = DEFAULT_CACHE_ENTRIES
    cache_bytes: int = DEFAULT_CACHE_BYTES
    rate_limit: Rate | None = DEFAULT_RATE_LIMIT
    events_rate_limit: Rate | None = DEFAULT_EVENTS_RATE_LIMIT

    @property
    def cors_any_origin(self) -> bool:
        return "*" in self.cors_origins

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, require_key: bool = True) -> ApiSettings:
        """Parse and validate; ``ConfigError`` names every problem. Keys are registered for log redaction."""
        return _Parser(os.environ if env is None else env, require_key).parse()


def load_settings(
    env: Mapping[str, str] | None = None, *, require_key: bool = True
) -> tuple[Settings, ApiSettings]:
    """Both settings objects, with the problems of both reported in one ``ConfigError``."""
    source = os.environ if env is None else env
    problems: list[str] = []
    settings: Settings | None = None
    api: ApiSettings | None = None
    try:
        settings = Settings.from_env(source)
    except ConfigError as exc:
        problems.extend(exc.problems)
    try:
        api = ApiSettings.from_env(source, require_key=require_key)
    except ConfigError as exc:
        problems.extend(exc.problems)
    if problems or settings is None or api is None:
        raise ConfigError(problems)
    return settings, api


class _Parser(EnvReader):
    def __init__(self, env: Mapping[str, str], require_key: bool) -> None:
        super().__init__(env)
        self.require_key = require_key

    def parse(self) -> ApiSettings:
        settings = ApiSettings(
            api_keys=self.api_keys(),
            cors_origins=self.cors_origins(),
            filters=self.filters(),
            related_items_campaign_arn=self.arn("PERSONALIZE_RELATED_ITEMS_CAMPAIGN_ARN"),
            cache_entries=self.cache_entries(),
            rate_limit=self.rate("PUE_RATE_LIMIT", DEFAULT_RATE_LIMIT),
            events_rate_limit=self.rate("PUE_EVENTS_RATE_LIMIT", DEFAULT_EVENTS_RATE_LIMIT),
        )
        self.finish()
        return settings

    def api_keys(self) -> tuple[str, ...]:
        keys = tuple(
            dict.fromkeys(k.strip() for k in (self.text("PUE_API_KEY") or "").split(",") if k.strip())
        )
        for key in keys:
            register_secret(key)  # before anything can log it, valid or not
        if not keys and self.require_key:
            self.problems.append("PUE_API_KEY (or PUE_API_KEY_SECRET_ARN) is required: the API needs a key")
        for index, key in enumerate(keys, start=1):
            # Name the key by position, never by value.
            if len(key) < MIN_API_KEY_LENGTH:
                self.problems.append(
                    f"PUE_API_KEY: key #{index} is shorter than {MIN_API_KEY_LENGTH} characters"
                )
            elif not key.isascii() or not key.isprintable():
                self.problems.append(f"PUE_API_KEY: key #{index} has characters other than printable ASCII")
        return keys

    def cors_origins(self) -> frozenset[str]:
        raw = self.text("PUE_CORS_ORIGINS") or ""
        origins = frozenset(o.strip().rstrip("/") for o in raw.split(",") if o.strip())
        for origin in sorted(origins):
            if origin != "*" and not _ORIGIN.fullmatch(origin):
                self.problems.append(
                    f"PUE_CORS_ORIGINS: {origin!r} is not an origin (scheme://host[:port], or *)"
                )
        return origins

    def filters(self) -> dict[str, str]:
        raw = self.text("PUE_FILTERS")
        if raw is None:
            return {}
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            self.problems.append(f"PUE_FILTERS must be a JSON object of filter names to ARNs: {exc.msg}")
            return {}
        if not isinstance(value, dict):
            self.problems.append(
                'PUE_FILTERS must be a JSON object, e.g. {"instock": "arn:aws:personalize:..."}'
            )
            return {}
        filters: dict[str, str] = {}
        for name, arn in value.items():
            if not _FILTER_NAME.fullmatch(name):
                self.problems.append(
                    f"PUE_FILTERS: filter name {name[:64]!r} must be 1-256 of [A-Za-z0-9_.-]"
                )
            elif not isinstance(arn, str) or not arn.startswith("arn:"):
                self.problems.append(f"PUE_FILTERS: the value of {name!r} must be a filter ARN (arn:aws:...)")
            else:
                filters[name] = arn
        return filters

    def rate(self, name: str, default: Rate) -> Rate | None:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            return Rate.parse(raw)
        except ValueError:
            self.problems.append(f"{name} must be RATE/BURST per second (e.g. 20/100), RATE, or 0 (off)")
            return default

    def cache_entries(self) -> int:
        raw = self.text("PUE_API_CACHE_ENTRIES")
        if raw is None:
            return DEFAULT_CACHE_ENTRIES
        if not raw.isascii() or not raw.isdigit() or int(raw) > MAX_CACHE_ENTRIES:
            self.problems.append(
                f"PUE_API_CACHE_ENTRIES must be a whole number from 0 to {MAX_CACHE_ENTRIES}"
            )
            return DEFAULT_CACHE_ENTRIES
        return int(raw)
