"""``pue campaign-hook EVENT.json``: the campaign hook Lambda's answer for a saved Pinpoint event.

Runs ``consumers.campaign_hook`` on the configured backend (the local one by default, with the catalog
loaded by ``pue catalog load``) and prints the endpoints map Pinpoint would receive.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

EXIT_USAGE = 2


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "campaign-hook",
        help="answer a saved Pinpoint campaign hook event (FILTER mode) as the Lambda would",
        description="EVENT is the JSON Pinpoint sends ({ApplicationId, CampaignId, ..., Endpoints}). stdout: "
        "the endpoints map, same keys, with recommended_products and recommended_item_<n>_* attributes.",
    )
    parser.add_argument("event", type=Path, metavar="EVENT")
    parser.add_argument("--state", metavar="DIR", help="local backend state dir (default $PUE_STATE_DIR)")
    parser.add_argument(
        "--timeout", type=float, default=None, metavar="SECONDS", help="answer within this (default 12)"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from consumers.bootstrap.hooks import build_campaign_hook
    from consumers.config.engagement_settings import EngagementSettings
    from consumers.config.settings import Settings

    try:
        event = json.loads(args.event.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        sys.stderr.write(f"pue campaign-hook: cannot read {args.event}: {error}\n")
        return EXIT_USAGE
    settings = Settings.from_env()
    if args.state:
        settings = dataclasses.replace(settings, state_dir=Path(args.state))
    hook = build_campaign_hook(settings, EngagementSettings.from_env(settings=settings))
    try:
        answer = hook.enrich(event, budget_seconds=args.timeout)
    finally:
        hook.close()
    sys.stdout.write(json.dumps(answer, ensure_ascii=False) + "\n")
    return 0
