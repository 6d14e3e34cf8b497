"""The Pinpoint and Customer Profiles sinks fan out on a pool that outlives each publish, and in the wired
product that pool is the pipeline's: built once with it, shut down by ``Pipeline.close``."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from consumers.bootstrap.stream import build_pipeline
from consumers.config.engagement_settings import EngagementSettings
from consumers.config.settings import Settings
from destinations.aws import customer_profiles, pinpoint
from destinations.aws.customer_profiles import CustomerProfilesSink
from destinations.aws.pinpoint import PinpointEndpointSink
from schemas.recommendation import Recommendation, ScoredItem


class PinpointClient:
    """Answers GetUserEndpoints with one endpoint per user; records the thread of every call."""

    def __init__(self) -> None:
        self.threads: list[str] = []
        self.batches: list[list[str]] = []

    def get_user_endpoints(self, *, ApplicationId: str, UserId: str) -> dict[str, Any]:
        self.threads.append(threading.current_thread().name)
        return {"EndpointsResponse": {"Item": [{"Id": f"{UserId}-e1", "User": {"UserAttributes": {}}}]}}

    def update_endpoints_batch(self, *, ApplicationId: str, EndpointBatchRequest: dict[str, Any]) -> None:
        self.threads.append(threading.current_thread().name)
        self.batches.append([item["Id"] for item in EndpointBatchRequest["Item"]])


class ProfilesClient:
    def __init__(self) -> None:
        self.threads: list[str] = []

    def search_profiles(self, **params: Any) -> dict[str, Any]:
        self.threads.append(threading.current_thread().name)
        return {"Items": [{"ProfileId": "profile-" + params["Values"][0]}]}

    def update_profile(self, **params: Any) -> dict[str, Any]:
        self.threads.append(threading.current_thread().name)
        return {"ProfileId": params["ProfileId"]}


def recs(*users: str) -> list[Recommendation]:
    return [Recommendation(user_id=u, recommendation_id="r", items=(ScoredItem("p1"),)) for u in users]


@pytest.fixture()
def no_pool_per_publish(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Fails the test if a sink builds a pool after construction (as both did on every publish)."""
    built: list[str] = []
    for module in (pinpoint, customer_profiles):

        def refuse(*args: Any, _module: str = module.__name__, **kwargs: Any) -> ThreadPoolExecutor:
            built.append(_module)
            raise AssertionError(f"{_module} built a pool during publish")

        monkeypatch.setattr(module, "ThreadPoolExecutor", refuse)
    return built


def test_both_sinks_run_every_call_on_the_pool_they_were_given(no_pool_per_publish: list[str]) -> None:
    with ThreadPoolExecutor(4, thread_name_prefix="given") as pool:
        pinpoint_client, profiles_client = PinpointClient(), ProfilesClient()
        pinpoint_sink = PinpointEndpointSink(pinpoint_client, "app", pool=pool)
        profiles_sink = CustomerProfilesSink(profiles_client, "domain", pool=pool)
        for _ in range(2):
            assert pinpoint_sink.publish(recs("alice", "bob")).ok
            assert profiles_sink.publish(recs("alice", "bob")).ok
    assert len(pinpoint_client.threads) == 2 * (2 + 1)  # two lookups and one batch per publish
    # A search and an update per user, then (profile ids cached per sink) an update alone.
    assert len(profiles_client.threads) == 2 * 2 + 2
    assert all(name.startswith("given") for name in pinpoint_client.threads + profiles_client.threads)
    assert pinpoint_client.batches == [["alice-e1", "bob-e1"]] * 2
    assert no_pool_per_publish == []


def test_a_sink_without_a_pool_keeps_one_for_its_life() -> None:
    client = PinpointClient()
    sink = PinpointEndpointSink(client, "app", max_workers=2)
    assert sink.publish(recs("alice")).ok and sink.publish(recs("bob")).ok
    assert {name.rsplit("_", 1)[0] for name in client.threads} == {"pue-pinpoint"}
    sink.close()
    with pytest.raises(RuntimeError):
        sink.publish(recs("carol"))


def test_the_wired_sinks_share_the_pipeline_pool_and_close_shuts_it(tmp_path: Path) -> None:
    clients: dict[str, Any] = {"pinpoint": PinpointClient(), "customer-profiles": ProfilesClient()}
    settings = Settings(state_dir=tmp_path, pinpoint_application_id="app", max_workers=3)
    engagement = EngagementSettings(customer_profiles_domain="domain")
    pipeline, wiring = build_pipeline(settings, clients=clients, engagement=engagement)
    sinks = {sink.name: sink for sink in wiring.sinks}
    assert sinks["pinpoint"].publish(recs("alice")).ok
    assert sinks["customer-profiles"].publish(recs("alice")).ok
    threads = clients["pinpoint"].threads + clients["customer-profiles"].threads
    assert threads and all(name.startswith("pue-sink") for name in threads)
    pipeline.close()
    for name in ("pinpoint", "customer-profiles"):
        with pytest.raises(RuntimeError):  # the pool they fan out on is gone with the pipeline
            sinks[name].publish(recs("bob"))
    assert wiring.local is not None
    wiring.local.close()
