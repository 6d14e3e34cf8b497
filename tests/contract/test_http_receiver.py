"""The loopback receiver other tests rely on: records what arrives, answers as scripted."""

from __future__ import annotations

import gzip
import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.support.http_receiver import HttpReceiver, RecordedRequest, Reply


def test_records_requests_and_answers_the_default() -> None:
    with HttpReceiver() as receiver:
        response = requests.post(f"{receiver.url}/v1/batch?x=1&x=2", json={"a": 1}, timeout=5)
        assert receiver.url.startswith("http://127.0.0.1:")
        (request,) = receiver.requests_to("/v1/batch")
    assert response.status_code == 200
    assert response.json() == {"success": True}
    assert (request.method, request.path, request.query["x"]) == ("POST", "/v1/batch", ["1", "2"])
    assert request.json() == {"a": 1}
    assert request.headers["content-type"] == "application/json"


def test_scripted_replies_are_used_in_order_and_the_last_repeats() -> None:
    with HttpReceiver() as receiver, requests.Session() as session:
        receiver.script("/p", Reply(500), Reply(201, "made"), Reply(404, {"error": "gone"}))
        statuses = [session.get(f"{receiver.url}/p", timeout=5).status_code for _ in range(5)]
        last = session.get(f"{receiver.url}/p", timeout=5)
    assert statuses == [500, 201, 404, 404, 404]
    assert last.json() == {"error": "gone"}


def test_prefix_routes_and_responders_see_the_request() -> None:
    def echo(request: RecordedRequest) -> Reply:
        return Reply(200, {"path": request.path, "who": request.param("who")})

    with HttpReceiver(default=Reply(418)) as receiver:
        receiver.route("/users/*", echo)
        routed = requests.get(f"{receiver.url}/users/u1?who=me", timeout=5)
        unrouted = requests.get(f"{receiver.url}/other", timeout=5)
    assert routed.json() == {"path": "/users/u1", "who": "me"}
    assert unrouted.status_code == 418


def test_gzipped_bodies_are_readable() -> None:
    payload = gzip.compress(json.dumps({"batch": [1, 2]}).encode())
    with HttpReceiver() as receiver:
        requests.post(
            receiver.url + "/v1/batch", data=payload, headers={"Content-Encoding": "gzip"}, timeout=5
        )
        (request,) = receiver.requests
    assert request.body == payload
    assert request.json() == {"batch": [1, 2]}


def test_disconnect_looks_like_a_dropped_connection() -> None:
    with HttpReceiver() as receiver:
        receiver.script("/drop", Reply(disconnect=True))
        with pytest.raises(requests.ConnectionError):
            requests.get(receiver.url + "/drop", timeout=5)
        assert len(receiver.requests_to("/drop")) == 1


def test_a_delay_longer_than_the_client_timeout_times_out() -> None:
    with HttpReceiver() as receiver:
        receiver.script("/slow", Reply(200, delay=0.5))
        with pytest.raises(requests.Timeout):
            requests.get(receiver.url + "/slow", timeout=0.05)


def test_concurrent_clients_are_all_recorded() -> None:
    with HttpReceiver() as receiver, ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(
            pool.map(lambda i: requests.get(f"{receiver.url}/c/{i}", timeout=5).status_code, range(40))
        )
        paths = sorted(request.path for request in receiver.requests)
    assert statuses == [200] * 40
    assert paths == sorted(f"/c/{i}" for i in range(40))


def test_clear_forgets_requests_and_stop_closes_the_port() -> None:
    receiver = HttpReceiver().start()
    url = receiver.url
    requests.get(url + "/x", timeout=5)
    receiver.clear()
    assert receiver.requests == []
    receiver.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(url + "/x", timeout=5)
