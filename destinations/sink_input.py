"""What every ``RecommendationSink`` does first with the lists it is given.

A batch can carry several lists for one user (a redelivery, two sessions): the last one is the freshest and
the only one worth writing. Lists are told apart by ``Recommendation.key``: an anonymous visitor's list is
never taken for the list of a user whose id equals its anonymousId. A list without a user id can never be
written anywhere: it fails permanently (code ``NoUserId``) under the empty id, so the pipeline counts it
instead of retrying it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from schemas.errors import PermanentError, PueError
from schemas.recommendation import Recommendation

NO_USER_ID: Final = "NoUserId"


def latest_per_user(
    recommendations: Sequence[Recommendation], *, service: str
) -> tuple[dict[str, Recommendation], dict[str, PueError]]:
    """The last list of each user (by ``Recommendation.key``), in first-seen order, and the failures found;
    ``service`` names the sink."""
    latest = {recommendation.key: recommendation for recommendation in recommendations}
    failed: dict[str, PueError] = {}
    if "" in latest:
        del latest[""]
        failed[""] = PermanentError("a recommendation without a user id", service=service, code=NO_USER_ID)
    return latest, failed
