"""Amazon Personalize recommendations: the cloud ``Recommender`` (GetRecommendations).

https://docs.aws.amazon.com/personalize/latest/dg/API_RS_GetRecommendations.html
"""

from __future__ import annotations

from typing import Any

from destinations.aws.errors import translated
from schemas.errors import PermanentError
from schemas.limits import FILTER_VALUES_MAX_ENTRIES, GET_RECOMMENDATIONS_MAX_RESULTS
from schemas.recommendation import Recommendation, RecommendationRequest, ScoredItem

SERVICE = "personalize-runtime"


class PersonalizeRecommender:
    """Ranks items for a user from a campaign or a domain recommender (exactly one of the two).

    A request without a user but with an item asks for related items; that needs a campaign trained on a
    related-items recipe (SIMS, Similar-Items), given as ``related_items_campaign_arn``.
    """

    def __init__(
        self,
        client: Any,
        *,
        campaign_arn: str | None = None,
        recommender_arn: str | None = None,
        related_items_campaign_arn: str | None = None,
    ) -> None:
        if (campaign_arn is None) == (recommender_arn is None):
            raise ValueError("give exactly one of campaign_arn and recommender_arn")
        self._client = client
        self._user_target = (
            {"campaignArn": campaign_arn} if campaign_arn is not None else {"recommenderArn": recommender_arn}
        )
        self._related_items_campaign_arn = related_items_campaign_arn

    def get_recommendations(self, request: RecommendationRequest) -> Recommendation:
        params = self._params(request)
        with translated(SERVICE):
            response = self._client.get_recommendations(**params)
        items = tuple(
            ScoredItem(str(entry["itemId"]), entry.get("score"))
            for entry in response.get("itemList", [])
            if entry.get("itemId")
        )
        return Recommendation(
            user_id=request.user_id or "",
            recommendation_id=str(response.get("recommendationId") or ""),
            items=items,
        )

    def _params(self, request: RecommendationRequest) -> dict[str, Any]:
        # These limits are checked here because botocore does not enforce them and the service would only
        # answer with a 400 after a round trip.
        if not 1 <= request.num_results <= GET_RECOMMENDATIONS_MAX_RESULTS:
            raise PermanentError(
                f"numResults must be 1..{GET_RECOMMENDATIONS_MAX_RESULTS}, got {request.num_results}",
                service=SERVICE,
                code="InvalidNumResults",
            )
        if len(request.filter_values) > FILTER_VALUES_MAX_ENTRIES:
            raise PermanentError(
                f"at most {FILTER_VALUES_MAX_ENTRIES} filter values, got {len(request.filter_values)}",
                service=SERVICE,
                code="TooManyFilterValues",
            )
        params: dict[str, Any] = {"numResults": request.num_results}
        if request.user_id is not None:
            params.update(self._user_target, userId=request.user_id)
        elif request.item_id is not None:
            if self._related_items_campaign_arn is None:
                raise PermanentError(
                    "related items requested but no related-items campaign is configured",
                    service=SERVICE,
                    code="NoRelatedItemsCampaign",
                )
            params.update(campaignArn=self._related_items_campaign_arn, itemId=request.item_id)
        else:
            raise PermanentError("a request needs a user id or an item id", service=SERVICE, code="NoSubject")
        if request.filter_arn is not None:
            params["filterArn"] = request.filter_arn
            if request.filter_values:
                params["filterValues"] = dict(request.filter_values)
        return params
