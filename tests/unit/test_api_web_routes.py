"""The web page's routes: GET /users, /users/{userId}, /stats (local backend; 501 elsewhere), the page and
its files without a key, and POST /events?includeMetadata=true. Every JSON answer is checked against the
OpenAPI document, like the other routes'."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from consumers.bootstrap.api import build_api
from consumers.config.api_settings import ApiSettings
from consumers.config.settings import Settings
from consumers.stream.event_map import EventMap
from consumers.stream.pipeline import Pipeline, RefreshOptions
from consumers.web.auth import ApiKeyAuth
from consumers.web.contract import ApiRequest, parse_query_string
from consumers.web.cors import Cors
from consumers.web.openapi import document_bytes
from consumers.web.page import CONTENT_SECURITY_POLICY, StaticPage, load_static
from consumers.web.routes import Api
from consumers.web.service import Defaults, RecommendationService
from destinations.local import LocalBackend
from schemas.dead_letter import DeadLetter
from tests.factories import segment_track
from tests.fakes import FakeDeadLetters, FakeRecommender, FakeSink, FakeTracker
from tests.functional.api_harness import API_KEY, Reply, check_contract, seed

STATIC = Path(__file__).resolve().parents[2] / "consumers" / "web" / "static"


def call(
    api: Api, method: str, path: str, query: str = "", body: Any = None, key: str | None = API_KEY
) -> Reply:
    headers = {"content-type": "application/json"}
    if key is not None:
        headers["x-api-key"] = key
    raw = json.dumps(body).encode() if body is not None else b""
    response = api.handle(ApiRequest(method, path, parse_query_string(query), headers, raw))
    return Reply(response.status, {k.lower(): v for k, v in response.headers.items()}, response.body)


def checked(api: Api, method: str, path: str, template: str, **kwargs: Any) -> Reply:
    reply = call(api, method, path, **kwargs)
    check_contract(reply, method, template)
    return reply


@pytest.fixture
def state(tmp_path: Path) -> Path:
    seed(tmp_path / "state")
    return tmp_path / "state"


@pytest.fixture
def api(state: Path) -> Iterator[Api]:
    built = build_api(dataclasses.replace(Settings(), state_dir=state), ApiSettings(api_keys=(API_KEY,)))
    yield built
    built.close()


def bought(user: str, item: str, rid: str = "RID-1") -> dict[str, Any]:
    return segment_track(
        "Order Completed",
        user_id=user,
        properties={"products": [{"product_id": item}], "recommendation_id": rid},
        timestamp="2026-11-02T09:00:00.000Z",
    )


def test_users_lists_the_most_active_first(api: Api) -> None:
    users = checked(api, "GET", "/users", "/users").json()["users"]
    assert users[:12] == sorted(users[:12]) and all(u.startswith("b-") for u in users[:12])  # 6 items each
    assert len(users) == 18
    assert checked(api, "GET", "/users", "/users", query="limit=2").json() == {"users": ["b-0", "b-1"]}
    for bad in ("limit=0", "limit=101", "limit=x", "other=1"):
        assert checked(api, "GET", "/users", "/users", query=bad).status == 400


def test_user_profile_shows_what_an_event_changed(api: Api) -> None:
    before = checked(api, "GET", "/users/a-1", "/users/{userId}").json()
    assert before["interactionCount"] == 4
    assert [i["itemId"] for i in before["interactions"]] == ["A4", "A3", "A2", "A1"]  # newest first
    listed = checked(api, "POST", "/events", "/events", body=bought("a-1", "B1")).json()
    after = checked(api, "GET", "/users/a-1", "/users/{userId}").json()
    assert after["interactionCount"] == 5
    assert after["interactions"][0]["eventType"] == "Order Completed"
    assert after["interactions"][0]["itemId"] == "B1"
    assert after["traits"]["recommended_products"] == [i["itemId"] for i in listed["items"]]
    assert after["endpointAttributes"]  # the local Pinpoint sink wrote the same list


def test_unknown_user_bad_ids_and_odd_paths(api: Api) -> None:
    missing = checked(api, "GET", "/users/nobody", "/users/{userId}")
    assert (missing.status, missing.error_code) == (404, "not_found")
    assert checked(api, "GET", "/users/" + "x" * 257, "/users/{userId}").status == 400
    assert checked(api, "GET", "/users/a-1", "/users/{userId}", query="x=1").status == 400
    assert call(api, "GET", "/users/").status == 404
    assert call(api, "GET", "/users/a-1/more").status == 404  # the user "a-1/more": unknown
    wrong_method = call(api, "POST", "/users/a-1", body={})
    assert (wrong_method.status, wrong_method.headers["allow"]) == (405, "GET, HEAD, OPTIONS")


def test_stats_count_app_events_and_show_recent_dead_letters(state: Path, api: Api) -> None:
    backend = LocalBackend.open(state)
    try:
        letter = DeadLetter(b'{"email": "someone@example.com"', "not JSON", "shardId-0", "42")
        backend.dead_letters.send([letter])
    finally:
        backend.close()
    checked(api, "POST", "/events", "/events", body=bought("a-2", "B2"))
    unmapped = segment_track("Signed Up", user_id="a-2")
    refused = checked(api, "POST", "/events", "/events", body=unmapped)
    assert refused.status == 422
    assert b"Signed Up" not in refused.body  # the reason, never the event's name (docs/api.md)
    reply = checked(api, "GET", "/stats", "/stats")
    stats = reply.json()
    assert (stats["records"], stats["processed"], stats["filtered"], stats["deadLettered"]) == (2, 1, 1, 0)
    assert stats["filterReasons"] == [{"reason": "unmapped event", "count": 1}]
    assert stats["unmappedEvents"] == [{"name": "Signed Up", "count": 1}]
    assert stats["deadLetters"] == {
        "stored": 1,
        "recent": [{"reason": "not JSON", "shardId": "shardId-0", "sequenceNumber": "42"}],
    }
    assert b"example.com" not in reply.body  # reasons and positions only, never the record's bytes
    assert checked(api, "GET", "/stats", "/stats", query="x=1").status == 400


@pytest.mark.parametrize("path", ["/users", "/users/a-1", "/stats"])
def test_data_routes_need_the_key(api: Api, path: str) -> None:
    template = "/users/{userId}" if path == "/users/a-1" else path
    assert checked(api, "GET", path, template, key=None).status == 401
    assert checked(api, "GET", path, template, key="wrong").status == 403


def test_page_and_its_files_need_no_key(api: Api) -> None:
    page = call(api, "GET", "/", key=None)
    assert page.status == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert page.headers["cache-control"] == "no-store"
    assert b'src="/static/app.js"' in page.body
    for name, content_type in (("app.js", "text/javascript"), ("app.css", "text/css")):
        asset = call(api, "GET", f"/static/{name}", key=None)
        assert asset.status == 200
        assert asset.headers["content-type"].startswith(content_type)
        assert asset.body == (STATIC / name).read_bytes()
    assert checked(api, "GET", "/static/nope.js", "/static/{file}", key=None).status == 404
    assert call(api, "GET", "/static/../routes.py", key=None).status == 404
    assert call(api, "POST", "/", key=None).status == 405


def test_static_page_serves_only_known_text_files() -> None:
    assert set(load_static()) >= {"index.html", "app.js", "app.css"}
    empty = StaticPage({})
    request = ApiRequest("GET", "/")
    with pytest.raises(Exception, match="not installed"):
        empty.index(request)


def test_the_page_never_logs_and_keeps_the_key_in_the_session_only() -> None:
    script = (STATIC / "app.js").read_text(encoding="utf-8")
    assert "console." not in script
    assert "localStorage" not in script
    assert "sessionStorage.setItem(KEY_STORAGE, currentKey())" in script


def test_post_events_can_answer_with_catalog_fields(api: Api) -> None:
    body = segment_track("Product Viewed", user_id="a-3", properties={"product_id": "A1"})
    listed = checked(api, "POST", "/events", "/events", query="includeMetadata=true&numResults=10", body=body)
    items = {i["itemId"]: i for i in listed.json()["items"]}
    assert items["A2"]["metadata"] == {"CATEGORY": "shoes", "NAME": "Trail Shoe 2"}
    assert "metadata" not in items["B1"]  # not in the catalog
    assert call(api, "POST", "/events", query="includeMetadata=maybe", body=body).status == 400


@pytest.fixture
def cloudlike() -> Iterator[tuple[Api, FakeTracker]]:
    """An API as the aws backend builds it: no local insights, no item catalog."""
    tracker = FakeTracker()
    pipeline = Pipeline(
        tracker=tracker,
        recommender=FakeRecommender(items=("i1", "i2")),
        sinks=[FakeSink()],
        dead_letters=FakeDeadLetters(),
        purchases=None,
        event_map=EventMap.default(),
        refresh=RefreshOptions(num_results=5),
        max_workers=2,
    )
    service = RecommendationService(
        pipeline=pipeline,
        related=None,
        catalog=None,
        defaults=Defaults(num_results=5),
    )
    yield Api(service, ApiKeyAuth([API_KEY]), Cors(()), document_bytes()), tracker
    pipeline.close()


@pytest.mark.parametrize(
    ("path", "template"), [("/users", "/users"), ("/users/u1", "/users/{userId}"), ("/stats", "/stats")]
)
def test_without_the_local_backend_the_data_routes_answer_501(
    cloudlike: tuple[Api, FakeTracker], path: str, template: str
) -> None:
    reply = checked(cloudlike[0], "GET", path, template)
    assert (reply.status, reply.error_code) == (501, "not_implemented")
    assert "aws backend" in reply.json()["error"]["message"]


def test_include_metadata_without_a_catalog_is_refused_before_tracking(
    cloudlike: tuple[Api, FakeTracker],
) -> None:
    api, tracker = cloudlike
    body = segment_track("Product Viewed", properties={"product_id": "p1"})
    reply = checked(api, "POST", "/events", "/events", query="includeMetadata=true", body=body)
    assert reply.status == 400
    assert tracker.batches == []
