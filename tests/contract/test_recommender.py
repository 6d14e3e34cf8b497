"""Recommender contract: the local recommender and Amazon Personalize (GetRecommendations, stubbed) alike."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.stub import Stubber

from destinations.aws.personalize_runtime import PersonalizeRecommender
from destinations.local import LocalEventTracker, LocalRecommender, LocalStore
from destinations.ports import Recommender
from schemas.errors import PermanentError, RetryableError
from schemas.interaction import EventBatch, Interaction
from schemas.limits import RECOMMENDATION_ID_MAX_LENGTH
from schemas.recommendation import Recommendation, RecommendationRequest

CAMPAIGN = "arn:aws:personalize:us-east-1:111122223333:campaign/user-personalization"
RELATED = "arn:aws:personalize:us-east-1:111122223333:campaign/sims"
RECOMMENDER = "arn:aws:personalize:us-east-1:111122223333:recommender/top-picks"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

# Who viewed what: every user shares items with others, so there is something to recommend to each.
HISTORY = {
    "alice": ["p1", "p2", "p3"],
    "bob": ["p2", "p3", "p4", "p5"],
    "carol": ["p1", "p4", "p6", "p7"],
    "dave": ["p5", "p6", "p7", "p8", "p9"],
}


class RecommenderHarness(Protocol):
    recommender: Recommender

    def recommend(self, request: RecommendationRequest) -> Recommendation:
        """``recommender.get_recommendations`` with whatever the backend needs to answer."""


class LocalHarness:
    def __init__(self, store: LocalStore) -> None:
        model = LocalRecommender(store)
        self.recommender: Recommender = model
        tracker = LocalEventTracker(store, model)
        for user, items in HISTORY.items():
            events = tuple(
                Interaction(
                    f"{user}-{n}", "Product Viewed", f"s-{user}", T0 + timedelta(minutes=n), user, item
                )
                for n, item in enumerate(items)
            )
            tracker.put_events(EventBatch(f"s-{user}", user, events))

    def recommend(self, request: RecommendationRequest) -> Recommendation:
        return self.recommender.get_recommendations(request)


def stubbed_runtime() -> tuple[Any, Stubber]:
    client = boto3.client(
        "personalize-runtime",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    stubber = Stubber(client)
    stubber.activate()
    return client, stubber


def item_list(ids: list[str]) -> list[dict[str, Any]]:
    return [{"itemId": item, "score": round(1.0 - n / 100, 4)} for n, item in enumerate(ids)]


class PersonalizeHarness:
    """A real botocore client whose GetRecommendations calls are kept as sent (``calls``) and answered as a
    trained campaign answers that call: items of other users' histories the user (or the item) has not
    seen, in popularity order, at most the ``numResults`` the call itself carried. The harness trims
    nothing the adapter was asked for: the contract's limits hold only if the adapter asks right."""

    def __init__(self) -> None:
        self.client = boto3.client(
            "personalize-runtime",
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        self.calls: list[dict[str, Any]] = []
        events = self.client.meta.events
        events.register("before-parameter-build.personalize-runtime.GetRecommendations", self._record)
        events.register("before-call.personalize-runtime.GetRecommendations", self._answer)
        self.recommender: Recommender = PersonalizeRecommender(
            self.client, campaign_arn=CAMPAIGN, related_items_campaign_arn=RELATED
        )

    def _record(self, params: dict[str, Any], **_: Any) -> None:
        self.calls.append(dict(params))

    def _answer(self, **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        call = self.calls[-1]
        seen = set(HISTORY.get(call["userId"], [])) if "userId" in call else {call["itemId"]}
        counts: dict[str, int] = {}
        for items in HISTORY.values():
            for item in items:
                counts[item] = counts.get(item, 0) + 1
        ranked = sorted((i for i in counts if i not in seen), key=lambda i: (-counts[i], i))
        response = {"itemList": item_list(ranked[: call["numResults"]]), "recommendationId": "RID-stub-1"}
        return AWSResponse("https://stub.invalid", 200, {}, None), response

    def recommend(self, request: RecommendationRequest) -> Recommendation:
        before = len(self.calls)
        result = self.recommender.get_recommendations(request)
        [call] = self.calls[before:]
        target = {"userId": request.user_id} if request.user_id is not None else {"itemId": request.item_id}
        campaign = CAMPAIGN if request.user_id is not None else RELATED
        assert call == {"campaignArn": campaign, **target, "numResults": request.num_results}, call
        return result


@pytest.fixture(params=["local", "personalize"])
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RecommenderHarness]:
    if request.param == "local":
        store = LocalStore(tmp_path / "pue.sqlite3")
        yield LocalHarness(store)
        store.close()
    else:
        yield PersonalizeHarness()


def assert_well_formed(result: Recommendation, *, limit: int) -> None:
    ids = result.item_ids
    assert 0 < len(ids) <= limit
    assert len(set(ids)) == len(ids), "an item is ranked twice"
    assert 0 < len(result.recommendation_id) <= RECOMMENDATION_ID_MAX_LENGTH
    scores = [item.score for item in result.items if item.score is not None]
    assert scores == sorted(scores, reverse=True), "scores must follow the ranking"


def test_a_user_gets_a_ranked_list_for_them(harness: RecommenderHarness) -> None:
    result = harness.recommend(RecommendationRequest("alice", num_results=5))
    assert result.user_id == "alice"
    assert_well_formed(result, limit=5)


def test_never_more_than_num_results(harness: RecommenderHarness) -> None:
    result = harness.recommend(RecommendationRequest("dave", num_results=2))
    assert_well_formed(result, limit=2)


def test_related_items_never_include_the_item_itself(harness: RecommenderHarness) -> None:
    result = harness.recommend(RecommendationRequest(None, num_results=3, item_id="p4"))
    assert_well_formed(result, limit=3)
    assert "p4" not in result.item_ids
    assert result.user_id == ""


@pytest.mark.parametrize("num_results", [0, 501])
def test_num_results_outside_the_service_range_is_permanent(
    harness: RecommenderHarness, num_results: int
) -> None:
    with pytest.raises(PermanentError):
        harness.recommender.get_recommendations(RecommendationRequest("alice", num_results=num_results))


def test_a_request_without_user_or_item_is_permanent(harness: RecommenderHarness) -> None:
    with pytest.raises(PermanentError):
        harness.recommender.get_recommendations(RecommendationRequest(None))


# -- Personalize specifics ---------------------------------------------------------------------------


def test_a_recommender_arn_and_a_filter_are_sent_as_given() -> None:
    client, stubber = stubbed_runtime()
    recommender = PersonalizeRecommender(client, recommender_arn=RECOMMENDER)
    expected = {
        "recommenderArn": RECOMMENDER,
        "userId": "alice",
        "numResults": 3,
        "filterArn": "arn:aws:personalize:us-east-1:111122223333:filter/in-stock",
        "filterValues": {"CATEGORY": '"shoes"'},
    }
    stubber.add_response(
        "get_recommendations", {"itemList": [{"itemId": "p9"}], "recommendationId": "RID-7"}, expected
    )
    result = recommender.get_recommendations(
        RecommendationRequest(
            "alice",
            num_results=3,
            filter_arn="arn:aws:personalize:us-east-1:111122223333:filter/in-stock",
            filter_values={"CATEGORY": '"shoes"'},
        )
    )
    stubber.assert_no_pending_responses()
    assert (result.item_ids, result.items[0].score, result.recommendation_id) == (("p9",), None, "RID-7")


@pytest.mark.parametrize(
    "arns",
    [{}, {"campaign_arn": CAMPAIGN, "recommender_arn": RECOMMENDER}],
)
def test_exactly_one_of_campaign_and_recommender(arns: dict[str, str]) -> None:
    client, _ = stubbed_runtime()
    with pytest.raises(ValueError, match="exactly one"):
        PersonalizeRecommender(client, **arns)


def test_related_items_without_a_related_campaign_is_permanent() -> None:
    client, _ = stubbed_runtime()
    recommender = PersonalizeRecommender(client, campaign_arn=CAMPAIGN)
    with pytest.raises(PermanentError) as caught:
        recommender.get_recommendations(RecommendationRequest(None, item_id="p1"))
    assert caught.value.code == "NoRelatedItemsCampaign"


def test_too_many_filter_values_are_refused_before_sending() -> None:
    client, _ = stubbed_runtime()
    recommender = PersonalizeRecommender(client, campaign_arn=CAMPAIGN)
    values = {f"K{n}": '"v"' for n in range(26)}
    with pytest.raises(PermanentError):
        recommender.get_recommendations(
            RecommendationRequest("alice", filter_arn="arn:f", filter_values=values)
        )


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("ThrottlingException", 400, RetryableError),
        ("InternalServerError", 500, RetryableError),
        ("ResourceNotFoundException", 404, PermanentError),
        ("InvalidInputException", 400, PermanentError),
    ],
)
def test_service_errors_are_translated(code: str, status: int, expected: type[Exception]) -> None:
    client, stubber = stubbed_runtime()
    stubber.add_client_error("get_recommendations", service_error_code=code, http_status_code=status)
    recommender = PersonalizeRecommender(client, campaign_arn=CAMPAIGN)
    with pytest.raises(expected) as caught:
        recommender.get_recommendations(RecommendationRequest("alice"))
    assert getattr(caught.value, "code", None) == code
