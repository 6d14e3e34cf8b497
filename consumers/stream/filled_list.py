"""A list of the length asked for with no purchased item in it: ask past the exclusions, then cut.

Personalize ranks without knowing what pue excludes afterwards (the purchase ledger, the Profile API's
purchases): asking for exactly ``numResults`` and then removing bought items gave a buyer fewer items than
asked (issue 21: with 3 asked and 2 of the top 3 bought, the trait held 1). So a request asks for
``numResults`` plus one per excluded item, which fills the list whichever of them the ranking holds, capped at
GetRecommendations' limit (``GET_RECOMMENDATIONS_MAX_RESULTS``, 500). Only when a user's exclusions are so
many that even 500 ranked items leave fewer than ``numResults`` once they are removed does the list come out
short: the list keeps every item it can, and the shortfall is logged and counted (``lists_short`` in a
batch's counts and EMF line, ``short`` in a sweep's summary).

A recommender that leaves purchases out itself (the local one) needs no headroom: ``widen=False`` keeps its
requests as they were (its work grows with what it is asked for).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

from destinations.ports import Recommender
from schemas.limits import GET_RECOMMENDATIONS_MAX_RESULTS
from schemas.recommendation import Recommendation, RecommendationRequest

log = logging.getLogger("pue.pipeline")


@dataclass(frozen=True, slots=True)
class Filled:
    recommendation: Recommendation
    # Fewer items than asked although the recommender had more: the exclusions outnumber what the 500 cap
    # leaves room for.
    short: bool = False


def asked(request: RecommendationRequest, excluded: int, widen: bool = True) -> RecommendationRequest:
    """The request to send: ``num_results`` plus ``excluded``, at most the service's limit."""
    if not widen or excluded <= 0 or request.num_results >= GET_RECOMMENDATIONS_MAX_RESULTS:
        return request
    wanted = min(request.num_results + excluded, GET_RECOMMENDATIONS_MAX_RESULTS)
    return dataclasses.replace(request, num_results=wanted)


def filled(
    recommender: Recommender,
    request: RecommendationRequest,
    excluded: frozenset[str],
    *,
    widen: bool = True,
) -> Filled:
    """``request``'s list minus ``excluded``, ``request.num_results`` long whenever the recommender has
    enough items, order kept."""
    sent = asked(request, len(excluded), widen)
    answer = recommender.get_recommendations(sent)
    kept = answer.without(excluded).items[: request.num_results]
    recommendation = Recommendation(answer.user_id, answer.recommendation_id, kept, answer.refresh_key)
    # A full answer means the recommender had more to give; short then means the cap left too little room.
    short = len(kept) < request.num_results and len(answer.items) >= sent.num_results and widen
    if short:
        log.warning(
            "recommendation list short: purchases excluded outnumber what numResults may ask for",
            extra={
                "fields": {
                    "asked": request.num_results,
                    "kept": len(kept),
                    "excluded": len(excluded),
                    "limit": GET_RECOMMENDATIONS_MAX_RESULTS,
                }
            },
        )
    return Filled(recommendation, short)
