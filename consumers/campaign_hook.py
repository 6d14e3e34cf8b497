"""Lambda entry point of the Amazon Pinpoint campaign hook (``FILTER`` mode):
``consumers.campaign_hook.handler``.

Thin on purpose: build the hook once per container, answer each event within Lambda's remaining time. What
the hook does to endpoints is ``consumers.engagement.campaign_hook``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from consumers.bootstrap.hooks import build_campaign_hook
from consumers.config.engagement_settings import EngagementSettings
from consumers.config.settings import Settings
from consumers.engagement.campaign_hook import RESPONSE_MARGIN_SECONDS, CampaignHook

_hook: CampaignHook | None = None
_lock = threading.Lock()


def _cold_start() -> CampaignHook:
    global _hook
    with _lock:
        if _hook is None:
            import os

            from consumers.config.logs import configure_logging
            from consumers.config.secrets import resolve_secrets

            # ConfigError here fails the init loudly, naming every problem. The Profile API token (purchase
            # history) is named by SEGMENT_PROFILE_TOKEN_SECRET_ARN and fetched once per container.
            env = resolve_secrets(os.environ)
            settings = Settings.from_env(env)
            configure_logging(settings.log_level)
            _hook = build_campaign_hook(settings, EngagementSettings.from_env(env, settings=settings))
        return _hook


def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    budget = remaining() / 1000 - RESPONSE_MARGIN_SECONDS if callable(remaining) else None
    return _cold_start().enrich(event, budget_seconds=budget)
