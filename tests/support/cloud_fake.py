"""A loopback fake of every cloud API pue calls, for benchmarks and reliability tests. Binds 127.0.0.1 only.

pue's real clients talk to it through the ordinary settings, so the code under test is the deployed code::

    with CloudFake(latency=0.02) as fake:                      # 20 ms per call, every call type
        settings = Settings.from_env(fake.env())               # PUE_BACKEND=aws, AWS_ENDPOINT_URL, ...
        pipeline, _ = build_pipeline(settings)
        handle_event(event, pipeline)
        fake.calls()[CallType.PUT_EVENTS]                       # how many PutEvents arrived
        fake.events_by_user()["u1"]                             # event ids tracked for u1, in order

Served (dispatch by path, and by ``X-Amz-Target`` for SQS; see ``cloud_fake_services``): personalize-events
PutEvents, personalize-runtime GetRecommendations, pinpoint GetUserEndpoints and UpdateEndpointsBatch, SQS
SendMessageBatch, the Segment tracking API ``/v1/batch`` and the Segment Profile API traits route.

Configuration (constructor, or the setters while clients run):

- ``latency``: seconds before each answer, one number for all calls or ``{CallType: seconds}``.
- ``faults``: ``{CallType: FaultRates(throttle=, server_error=, slow=, reset=)}``, off by default, drawn with
  ``seed`` per request attempt (``cloud_fake_faults``): the same seed injects the same faults into the same
  requests, whatever the thread scheduling. Throttling and 5xx use each service's error shape (Personalize
  400 ``ThrottlingException``, Pinpoint 429 ``TooManyRequestsException``, SQS ``RequestThrottled``, Segment
  429); ``slow`` applies the call but answers after ``slow_seconds`` (past the client's read timeout);
  ``reset`` closes the connection without applying anything.
- ``endpoints_per_user(user_id) -> int`` (default 1; 0 answers NotFoundException), ``purchases(user_id)``
  (the Profile API's ``purchased_products``; default: every other user bought their top recommendation).

Observing (thread-safe): ``calls()`` counts every attempt by call type (faulted ones too), ``faults()`` counts
injected faults; ``events_by_user()``, ``identifies()``, ``endpoint_attributes()``, ``endpoint_updates()``,
``dead_letters()``, ``recommendations_served()``, ``profile_reads()`` return what was applied; ``reset()``
forgets it all (attempt counters of the fault plan too). ``peak_in_flight()`` is the most calls answered at
once (the client's real concurrency). ``GET /_fake/stats`` returns the counters as JSON and
``POST /_fake/peak/reset`` restarts the peak, for a client in another process (the benchmark runs pue in a
child process).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any

from tests.support.cloud_fake_faults import CallType, Fault, FaultPlan, FaultRates
from tests.support.cloud_fake_services import (
    CloudServices,
    Identify,
    Records,
    SqsMessage,
    classify,
    fault_key,
)
from tests.support.cloud_fake_services import fault_reply as _fault_reply
from tests.support.http_receiver import HttpReceiver, RecordedRequest, Reply

__all__ = ["CallType", "CloudFake", "Fault", "FaultRates", "Identify", "SqsMessage"]

STATS_PATH = "/_fake/stats"
PEAK_RESET_PATH = "/_fake/peak/reset"
TRACKING_ID = "fake-tracking-id"
CAMPAIGN_ARN = "arn:aws:personalize:us-east-1:000000000000:campaign/fake"
APPLICATION_ID = "fakeapp"
SPACE_ID = "fake-space"
QUEUE_PATH = "/000000000000/pue-dead-letters"
DEFAULT_SLOW_SECONDS = 6.0  # pue's clients read for 5 s


class CloudFake:
    """The fake server (a context manager). See the module docstring for the API."""

    def __init__(
        self,
        *,
        latency: float | Mapping[CallType, float] = 0.0,
        faults: Mapping[CallType, FaultRates] | None = None,
        seed: int = 0,
        slow_seconds: float = DEFAULT_SLOW_SECONDS,
        endpoints_per_user: int | Callable[[str], int] = 1,
        purchases: Callable[[str], Sequence[str]] | None = None,
        catalog_size: int = 5000,
    ) -> None:
        per_user = endpoints_per_user
        self.services = CloudServices(
            endpoints_per_user=per_user if callable(per_user) else (lambda _user: per_user),
            purchases=purchases,
            catalog_size=catalog_size,
        )
        self.slow_seconds = slow_seconds
        self._lock = threading.Lock()
        self._latency: dict[CallType, float] = {}
        self.set_latency(latency)
        self._plan = FaultPlan(faults, seed=seed)
        self._calls: dict[CallType, int] = {}
        self._faults: dict[tuple[CallType, Fault], int] = {}
        self._in_flight = 0
        self._peak_in_flight = 0
        self._receiver = HttpReceiver(default=self._respond)

    # -- configuration ---------------------------------------------------------------------------------
    def set_latency(self, latency: float | Mapping[CallType, float]) -> None:
        table = dict(latency) if isinstance(latency, Mapping) else dict.fromkeys(CallType, float(latency))
        if any(value < 0 for value in table.values()):
            raise ValueError("latency must not be negative")
        with self._lock:
            self._latency = table

    def latency(self, call: CallType) -> float:
        with self._lock:
            return self._latency.get(call, 0.0)

    def set_faults(self, faults: Mapping[CallType, FaultRates] | None, *, seed: int | None = None) -> None:
        """Replace the fault plan (attempt counters start over)."""
        self._plan = FaultPlan(faults, seed=self._plan.seed if seed is None else seed)

    def env(self, **overrides: str) -> dict[str, str]:
        """Settings that point pue's AWS backend and all its sinks at this fake (``Settings.from_env``)."""
        env = {
            "PUE_BACKEND": "aws",
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "PERSONALIZE_TRACKING_ID": TRACKING_ID,
            "PERSONALIZE_CAMPAIGN_ARN": CAMPAIGN_ARN,
            "PUE_DEAD_LETTER_QUEUE_URL": self.url + QUEUE_PATH,
            "SEGMENT_WRITE_KEY": "fake-write-key",
            "SEGMENT_API_HOST": self.url,
            "SEGMENT_SPACE_ID": SPACE_ID,
            "SEGMENT_PROFILE_TOKEN": "fake-profile-token",
            "SEGMENT_PROFILE_API_HOST": self.url,
            "PINPOINT_APPLICATION_ID": APPLICATION_ID,
        }
        env.update(overrides)
        return env

    # -- observing -------------------------------------------------------------------------------------
    def calls(self) -> dict[CallType, int]:
        """Attempts by call type, faulted ones included; absent types made no call."""
        with self._lock:
            return dict(self._calls)

    def faults(self) -> dict[tuple[CallType, Fault], int]:
        with self._lock:
            return dict(self._faults)

    def peak_in_flight(self, *, reset: bool = False) -> int:
        """The most calls answered at once since the start (or the last reset): the client's concurrency."""
        with self._lock:
            peak = self._peak_in_flight
            if reset:
                self._peak_in_flight = self._in_flight
            return peak

    def stats(self) -> dict[str, Any]:
        """The counters as JSON-ready data (what ``GET /_fake/stats`` answers)."""
        calls = self.calls()
        faults: dict[str, dict[str, int]] = {}
        for (call, fault), count in self.faults().items():
            faults.setdefault(call.value, {})[fault.value] = count
        return {
            "calls": {call.value: count for call, count in calls.items()},
            "faults": faults,
            "peak_in_flight": self.peak_in_flight(),
        }

    def _records(self) -> Records:
        return self.services.records

    def events_by_user(self) -> dict[str, list[str]]:
        """Event ids applied per userId (sessionId for anonymous events), in arrival order."""
        with self.services.lock:
            return {key: list(ids) for key, ids in self._records().events.items()}

    def identifies(self) -> list[Identify]:
        with self.services.lock:
            return list(self._records().identifies)

    def endpoint_attributes(self) -> dict[str, dict[str, list[str]]]:
        """The latest ``User.UserAttributes`` written to each endpoint id."""
        with self.services.lock:
            return {key: dict(value) for key, value in self._records().endpoint_attributes.items()}

    def endpoint_updates(self) -> list[dict[str, Any]]:
        with self.services.lock:
            return list(self._records().endpoint_updates)

    def dead_letters(self) -> list[SqsMessage]:
        with self.services.lock:
            return list(self._records().dead_letters)

    def recommendations_served(self) -> dict[str, int]:
        with self.services.lock:
            return dict(self._records().recommendations)

    def profile_reads(self) -> dict[str, int]:
        with self.services.lock:
            return dict(self._records().profile_reads)

    def reset(self) -> None:
        """Forget counters, recorded effects and fault attempts; configuration stays."""
        with self._lock:
            self._calls.clear()
            self._faults.clear()
            self._peak_in_flight = self._in_flight
        with self.services.lock:
            self.services.records = Records()
        self.set_faults(self._plan_rates())
        self._receiver.clear()

    def _plan_rates(self) -> dict[CallType, FaultRates]:
        return {call: self._plan.rates(call) for call in CallType}

    # -- lifecycle -------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return self._receiver.url

    def start(self) -> CloudFake:
        self._receiver.start()
        return self

    def stop(self) -> None:
        self._receiver.stop()

    def __enter__(self) -> CloudFake:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- serving (on the receiver's handler threads) -------------------------------------------------
    def _respond(self, request: RecordedRequest) -> Reply:
        if request.path == STATS_PATH:
            return Reply(200, json.dumps(self.stats()).encode(), {"Content-Type": "application/json"})
        if request.path == PEAK_RESET_PATH and request.method == "POST":
            return Reply(200, {"peak_in_flight": self.peak_in_flight(reset=True)})
        call = classify(request)
        if call is None:
            return Reply(404, {"message": f"the cloud fake does not serve {request.method} {request.path}"})
        fault = self._plan.decide(call, fault_key(call, request))
        with self._lock:
            self._calls[call] = self._calls.get(call, 0) + 1
            if fault is not None:
                self._faults[(call, fault)] = self._faults.get((call, fault), 0) + 1
            delay = self._latency.get(call, 0.0)
            self._in_flight += 1
            self._peak_in_flight = max(self._peak_in_flight, self._in_flight)
        try:
            if fault is Fault.RESET:
                time.sleep(delay)
                return Reply(disconnect=True)
            if fault in (Fault.THROTTLE, Fault.SERVER_ERROR, Fault.DENIED):
                time.sleep(delay)
                return _fault_reply(call, fault)
            reply = self.services.handle(call, request)
            # Waiting here rather than with Reply.delay keeps the call in flight while it waits, so the
            # peak concurrency counts what a real service would see.
            time.sleep(self.slow_seconds if fault is Fault.SLOW else delay)
            return reply
        finally:
            with self._lock:
                self._in_flight -= 1
