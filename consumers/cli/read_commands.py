"""``pue recommend`` and ``pue profile``: what a backend holds for a user, always saying which backend.

Local backend (the default): the SQLite store under ``--state``, which must already exist: a read never
creates an empty database and answers ``"items": []`` as if that were a result. AWS backend
(``PUE_BACKEND=aws``): Amazon Personalize's GetRecommendations on ``PERSONALIZE_CAMPAIGN_ARN`` or
``PERSONALIZE_RECOMMENDER_ARN``, the call the stream consumer makes. Personalize keeps no history that can be
read back, so on AWS a profile is what Personalize recommends for the id. An anonymous visitor's id is its
Segment anonymousId: the local store's session id, and the ``sessionId`` pue sends with its events, which
GetRecommendations takes as the ``userId`` of a visitor who never logged in
(https://docs.aws.amazon.com/personalize/latest/dg/recording-anonymous-user-events.html).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import Any

from consumers.bootstrap.clients import open_local
from consumers.bootstrap.stream import load_event_map
from consumers.cli.arguments import (
    EXIT_FAILED,
    EXIT_USAGE,
    STATE_HELP,
    Subparsers,
    num_results,
    print_json,
    reader_settings,
)
from consumers.cli.local_commands import recommendation_json
from consumers.config.printable import printable
from consumers.config.settings import Settings
from consumers.web.insights import profile_json
from destinations.local import LocalBackend
from destinations.local.store import STORE_FILE_NAME
from schemas.errors import ConfigError, PueError
from schemas.recommendation import RecommendationRequest


class MissingState(Exception):
    """The local state folder a read names is missing or empty: the command line needs changing (exit 2)."""


def backend_line(command: str, settings: Settings) -> str:
    """The stderr line naming what ``command`` reads."""
    if settings.backend == "aws":
        what = (
            f"campaign {settings.campaign_arn}"
            if settings.campaign_arn
            else f"recommender {settings.recommender_arn}"
        )
        return f"pue {command}: reading Amazon Personalize ({what})\n"
    return f"pue {command}: reading the local backend in {settings.state_dir}\n"


def recommend(
    settings: Settings, user_id: str, num_results: int, *, client: Any | None = None
) -> dict[str, Any]:
    """Fresh recommendations for ``user_id``; ``client`` injects the personalize-runtime client (tests)."""
    request = RecommendationRequest(
        user_id=user_id,
        num_results=num_results,
        filter_arn=settings.filter_arn,
        filter_values=settings.filter_values,
    )
    if settings.backend == "aws":
        return recommendation_json(_personalize(settings, client).get_recommendations(request))
    local = open_existing_local(settings, "recommend")
    try:
        return recommendation_json(local.recommender.get_recommendations(request))
    finally:
        local.close()


def profile(
    settings: Settings, user_id: str, *, anonymous: bool = False, client: Any | None = None
) -> dict[str, Any]:
    """What the backend holds for a user (``anonymous``: for an anonymousId)."""
    key = "anonymousId" if anonymous else "userId"
    if settings.backend == "aws":
        request = RecommendationRequest(
            user_id=user_id,
            num_results=settings.num_results,
            filter_arn=settings.filter_arn,
            filter_values=settings.filter_values,
        )
        answer = recommendation_json(_personalize(settings, client).get_recommendations(request))
        return {key: user_id, "recommendations": {k: v for k, v in answer.items() if k != "userId"}}
    local = open_existing_local(settings, "profile")
    try:
        if not anonymous:
            return profile_json(local, user_id)
        return {key: user_id, "interactions": _interactions(local, user_id)}
    finally:
        local.close()


def open_existing_local(settings: Settings, command: str) -> LocalBackend:
    """The local backend under ``settings.state_dir``; ``MissingState`` when nothing is there yet."""
    state = settings.state_dir
    if not (state / STORE_FILE_NAME).is_file():
        where = "does not exist" if not state.exists() else f"holds no pue data ({STORE_FILE_NAME})"
        quoted = shlex.quote(str(state))
        raise MissingState(
            f"the state folder {state} {where}. Fill it first with `pue run --state {quoted}` (sample data) "
            f"or `pue replay FILE --state {quoted}`, or name another folder with --state"
        )
    return open_local(state, load_event_map(settings))


def _interactions(local: LocalBackend, session_id: str) -> list[dict[str, Any]]:
    return [
        {
            "eventId": i.event_id,
            "eventType": i.event_type,
            "itemId": i.item_id,
            "sentAt": i.sent_at.isoformat(timespec="milliseconds"),
            "userId": i.user_id,
        }
        for i in local.store.interactions_for(session_id, session=True)
    ]


def _personalize(settings: Settings, client: Any | None) -> Any:
    from destinations.aws.personalize_runtime import PersonalizeRecommender

    if client is None:
        from destinations.aws.clients import make_client

        client = make_client("personalize-runtime", max_pool_connections=1)
    return PersonalizeRecommender(
        client, campaign_arn=settings.campaign_arn, recommender_arn=settings.recommender_arn
    )


def register(subparsers: Subparsers[argparse.ArgumentParser]) -> None:
    backend_help = (
        " Reads the local backend under --state (which must exist), or Amazon Personalize with "
        "PUE_BACKEND=aws and PERSONALIZE_CAMPAIGN_ARN or PERSONALIZE_RECOMMENDER_ARN; the first stderr line "
        "says which."
    )
    recommend = subparsers.add_parser(
        "recommend",
        help="print fresh recommendations for a user as JSON",
        description="Fresh recommendations for USER_ID, as JSON." + backend_help,
    )
    recommend.add_argument("user_id", metavar="USER_ID")
    recommend.add_argument("--state", metavar="DIR", help=STATE_HELP)
    recommend.add_argument(
        "-n",
        type=num_results,
        default=None,
        metavar="N",
        help="number of items, 1-500 (default $PERSONALIZE_NUM_RESULTS, else 25)",
    )

    profile = subparsers.add_parser(
        "profile",
        help="print what the backend holds for a user (or an anonymous visitor) as JSON",
        description="Interactions, traits, endpoint attributes and messages the local backend holds for "
        "USER_ID; with --anonymous-id, the interactions of an anonymous visitor (Segment anonymousId). "
        "On AWS, what Personalize recommends for the id (it keeps no readable history)." + backend_help,
    )
    profile.add_argument("user_id", metavar="USER_ID", nargs="?")
    profile.add_argument(
        "--anonymous-id", metavar="ID", help="a visitor's Segment anonymousId instead of USER_ID"
    )
    profile.add_argument("--state", metavar="DIR", help=STATE_HELP)
    recommend.set_defaults(handler=_read)
    profile.set_defaults(handler=_read)


def _read(args: argparse.Namespace) -> int:
    if args.command == "profile" and (args.user_id is None) == (args.anonymous_id is None):
        sys.stderr.write("pue profile: give USER_ID or --anonymous-id ID (one of them)\n")
        return EXIT_USAGE
    settings = reader_settings(args.state)
    sys.stderr.write(backend_line(args.command, settings))
    try:
        if args.command == "recommend":
            print_json(recommend(settings, args.user_id, args.n or settings.num_results))
        elif args.anonymous_id is not None:
            print_json(profile(settings, args.anonymous_id, anonymous=True))
        else:
            print_json(profile(settings, args.user_id))
    except MissingState as exc:
        sys.stderr.write(printable(f"pue {args.command}: {exc}") + "\n")
        return EXIT_USAGE
    except ConfigError:
        raise
    except PueError as exc:  # the service answered with an error, or could not be reached
        sys.stderr.write(printable(f"pue {args.command}: {exc}") + "\n")
        return EXIT_FAILED
    return 0
