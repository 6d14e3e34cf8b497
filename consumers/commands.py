"""What each ``pue`` subcommand does, apart from argument parsing (consumers/cli.py)."""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

from consumers.backfill import backfill, print_refresh_progress
from consumers.bootstrap import build_pipeline, load_event_map, open_local
from consumers.engagement_settings import EngagementSettings
from consumers.lambda_events import lambda_events
from consumers.replay import InputError, events_from, is_lambda_event, print_progress, replay
from consumers.settings import Settings
from destinations.local import LocalBackend
from destinations.local.messages import messages_for
from schemas.batch import BatchCounts
from schemas.recommendation import Recommendation, RecommendationRequest
from schemas.traits import RECOMMENDED_PRODUCTS

EXIT_FAILED = 1
EXIT_USAGE = 2  # as argparse: the command line needs changing (another --port)
REPLAY_BATCH_SIZE = 500
# A backfill commits (and learns) once per batch, so bigger batches are faster; 5,000 is what the replay
# reads from a file at a time (consumers/replay.py), within Lambda's 10,000.
BACKFILL_BATCH_SIZE = 5_000


def local_engagement(settings: Settings) -> EngagementSettings:
    """Engagement settings from the environment with every cloud-only part off (local CLI runs)."""
    return dataclasses.replace(
        EngagementSettings.from_env(settings=settings), customer_profiles_domain=None, catalog_table=None
    )


def replay_command(settings: Settings, path: Path, batch_size: int | None, refresh: str = "auto") -> int:
    """``refresh``: "end" (backfill), "batch" (Lambda's semantics) or "auto" (end unless a Lambda event).

    ``batch_size`` None: 500 records per batch as Lambda's default, or 10,000 for a backfill.
    """
    pipeline, wiring = build_pipeline(settings, engagement=local_engagement(settings))
    refresh_failures: dict[str, int] = {}
    if wiring.local is not None:
        pipeline.batch_scope = wiring.local.tracker.batch
    try:
        if refresh == "auto":
            refresh = "batch" if is_lambda_event(path) else "end"
        if batch_size is None:
            batch_size = BACKFILL_BATCH_SIZE if refresh == "end" else REPLAY_BATCH_SIZE
        events = events_from(path, batch_size)
        if refresh == "end":
            result = backfill(events, pipeline, print_progress(), print_refresh_progress())
            counts, refresh_failures = result.counts, result.refresh_failures
        else:
            counts = replay(events, pipeline, progress=print_progress())
    except InputError as exc:
        sys.stderr.write(f"pue replay: {exc}\n")
        return 2
    finally:
        pipeline.close()
    sys.stderr.write("\n")
    _print_reasons(counts)
    if refresh_failures:
        sys.stderr.write(f"refresh failed: {_top(refresh_failures, 10)}\n")
    summary: dict[str, object] = dict(counts.summary())
    summary.update(refresh=refresh, refresh_failed=sum(refresh_failures.values()))
    sys.stdout.write(json.dumps(summary) + "\n")
    return EXIT_FAILED if counts.failed or refresh_failures else 0


def recommendation_json(recommendation: Recommendation) -> dict[str, Any]:
    return {
        "userId": recommendation.user_id,
        "recommendationId": recommendation.recommendation_id,
        "items": [{"itemId": i.item_id, "score": i.score} for i in recommendation.items],
    }


def recommend(settings: Settings, user_id: str, num_results: int) -> dict[str, Any]:
    local = open_local(settings.state_dir, load_event_map(settings))
    request = RecommendationRequest(user_id=user_id, num_results=num_results)
    return recommendation_json(local.recommender.get_recommendations(request))


def profile_json(local: LocalBackend, user_id: str) -> dict[str, Any]:
    interactions = [
        {
            "eventId": i.event_id,
            "eventType": i.event_type,
            "itemId": i.item_id,
            "sentAt": i.sent_at.isoformat(timespec="milliseconds"),
            "sessionId": i.session_id,
        }
        for i in local.store.interactions_for(user_id)
    ]
    endpoints = local.store.endpoint_attributes_for(user_id)
    return {
        "userId": user_id,
        "interactions": interactions,
        "traits": local.store.traits_for(user_id),
        "endpointAttributes": endpoints,
        "messages": messages_for(local.store, user_id),
    }


def profile(settings: Settings, user_id: str) -> dict[str, Any]:
    return profile_json(open_local(settings.state_dir, load_event_map(settings)), user_id)


def write_sample(users: int, out: Path | None) -> int:
    import gzip

    from consumers.sample_data import clickstream

    lines = "".join(json.dumps(m) + "\n" for m in clickstream(users=users))
    if out is None:
        sys.stdout.write(lines)
    elif out.suffix == ".gz":
        with gzip.open(out, "wt", encoding="utf-8") as f:
            f.write(lines)
    else:
        out.write_text(lines, encoding="utf-8")
    return 0


@dataclasses.dataclass(frozen=True, slots=True)
class Listen:
    """Where the demo serves the HTTP API once its data is in."""

    host: str
    port: int


def demo(settings: Settings, *, users: int, serve: Listen | None = None) -> int:
    """Generate the sample clickstream, deliver it as Lambda would, and show what came out; then, with
    ``serve``, serve the HTTP API on that data until Ctrl-C or SIGTERM (exit 0)."""
    from consumers.api.listen import ListenError, check_can_listen
    from consumers.sample_data import clickstream

    if serve is not None:
        try:
            check_can_listen(serve.host, serve.port)  # before the demo: a busy port should not cost its run
        except ListenError as exc:
            sys.stderr.write(f"pue run: {exc}, or --no-serve\n")
            return EXIT_USAGE
    code = _run_demo(settings, clickstream(users=users), users)
    if serve is None or code != 0:
        return code
    from consumers.api.serve import serve_forever

    sys.stdout.write("\n")
    try:
        serve_forever(settings, host=serve.host, port=serve.port, prog="pue run")
    except ListenError as exc:  # taken while the demo ran
        sys.stderr.write(f"pue run: {exc}, or --no-serve\n")
        return EXIT_USAGE
    return 0


def _run_demo(settings: Settings, messages: list[dict[str, Any]], users: int) -> int:
    from consumers.sample_data import catalog_items

    payloads = [json.dumps(m).encode() for m in messages]
    out = sys.stderr
    out.write(
        f"pue demo: {len(messages)} Segment messages from {users} sample users -> {settings.state_dir}\n"
    )
    pipeline, wiring = build_pipeline(settings, engagement=local_engagement(settings))
    assert wiring.local is not None  # noqa: S101 - the demo always runs on the local backend
    # The item catalog (names, categories, prices) for messages, the web page and includeMetadata=true.
    wiring.local.store.upsert_items(catalog_items())
    started = time.perf_counter()
    try:
        # Every 7th Kinesis record is a KPL aggregate of 5 messages, as a KPL producer would write.
        events = lambda_events(payloads, batch_size=100, aggregate_every=7, aggregate_size=5)
        counts = replay(events, pipeline, progress=print_progress(out))
    finally:
        pipeline.close()
    seconds = time.perf_counter() - started
    out.write("\n")
    _print_summary(counts, seconds)
    _print_users(wiring.local)
    return EXIT_FAILED if counts.failed else 0


def _print_summary(counts: BatchCounts, seconds: float) -> None:
    w = sys.stdout.write
    w("\nSummary\n")
    w(f"  records in          {counts.records:>7}   ({counts.records / max(seconds, 1e-9):,.0f} records/s)\n")
    w(f"  interactions        {counts.interactions:>7}\n")
    w(f"  users refreshed     {counts.users_refreshed:>7}\n")
    w(f"  processed           {counts.processed:>7}\n")
    w(f"  filtered            {counts.filtered:>7}   {_top(counts.filter_reasons)}\n")
    w(f"  dead-lettered       {counts.dead_lettered:>7}   {_top(counts.dead_letter_reasons)}\n")
    w(f"  failed (retry)      {counts.failed:>7}\n")


def _print_users(local: LocalBackend, how_many: int = 3) -> None:
    w = sys.stdout.write
    w("\nFresh recommended_products (Personas traits written by the local sink)\n")
    for user_id in local.store.known_users(limit=how_many):
        traits = local.store.traits_for(user_id)
        items = traits.get(RECOMMENDED_PRODUCTS, [])
        if not isinstance(items, list):
            w(f"  {user_id}: {items}\n")
            continue
        # With a catalog loaded (the demo loads the sample's), names say more than ids.
        first = [str(i) for i in items[:4]]
        names = local.store.items(first)
        shown = ", ".join(f"{i} {names[i]['NAME']}" if "NAME" in names.get(i, {}) else i for i in first)
        w(f"  {user_id}: {shown}{f' ... ({len(items)} in all)' if len(items) > 4 else ''}\n")
    w("\nTry: pue recommend USER_ID   |   pue profile USER_ID\n")


def _top(reasons: dict[str, int], n: int = 3) -> str:
    top = sorted(reasons.items(), key=lambda kv: -kv[1])[:n]
    return ", ".join(f"{reason}: {count}" for reason, count in top)


def _print_reasons(counts: BatchCounts) -> None:
    for title, reasons in (
        ("filtered", counts.filter_reasons),
        ("dead-lettered", counts.dead_letter_reasons),
        ("failed", counts.failure_reasons),
    ):
        if reasons:
            sys.stderr.write(f"{title}: {_top(reasons, 10)}\n")
