"""A loopback stand-in for Amazon Connect Customer Profiles (moto does not implement it), for one domain.

Serves what pue calls (destinations/aws/customer_profiles.py): SearchProfiles, CreateProfile, UpdateProfile,
AddProfileKey, on the REST paths botocore sends them to; the profiles live in memory, and every raw request is
recorded by the ``HttpReceiver`` underneath (``requests``) for the rehearsal to read.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any

from tests.rehearsal.stand_in import LoopbackStandIn
from tests.support.http_receiver import RecordedRequest, Reply


class CustomerProfilesStandIn(LoopbackStandIn):
    def __init__(self, domain: str) -> None:
        self.domain = domain
        super().__init__()
        self.profiles: dict[
            str, dict[str, Any]
        ] = {}  # profile id -> {"keys": {name: [values]}, "Attributes"}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        base = f"/domains/{domain}/profiles"
        self.receiver.route(f"{base}/search", self._search)
        self.receiver.route(f"{base}/keys", self._add_key)
        self.receiver.route(base, self._create_or_update)

    def attributes_of(self, account: str) -> dict[str, str]:
        """The attributes of the profile whose account number is ``account`` (empty when there is none)."""
        return self.attributes_under("_account", account)

    def attributes_under(self, key: str, value: str) -> dict[str, str]:
        """The attributes of the profile ``key`` finds for ``value`` (empty when there is none)."""
        with self._lock:
            for profile in self.profiles.values():
                if value in profile["keys"].get(key, []):
                    return dict(profile["Attributes"])
        return {}

    def _search(self, request: RecordedRequest) -> Reply:
        body = request.json()
        key, values = body["KeyName"], set(body["Values"])
        with self._lock:
            items = [
                {"ProfileId": pid, "Attributes": p["Attributes"]}
                for pid, p in self.profiles.items()
                if values & set(p["keys"].get(key, []))
            ]
        return Reply(200, {"Items": items})

    def _create_or_update(self, request: RecordedRequest) -> Reply:
        body = request.json()
        with self._lock:
            if request.method == "POST":
                profile_id = f"profile-{next(self._ids)}"
                keys = {"_account": [body["AccountNumber"]]} if "AccountNumber" in body else {}
                self.profiles[profile_id] = {"keys": keys, "Attributes": dict(body.get("Attributes", {}))}
                return Reply(200, {"ProfileId": profile_id})
            profile = self.profiles.get(body["ProfileId"])
            if profile is None:
                return Reply(
                    404,
                    {"Message": "no such profile"},
                    headers={"x-amzn-ErrorType": "ResourceNotFoundException"},
                )
            profile["Attributes"].update(body.get("Attributes", {}))
            return Reply(200, {"ProfileId": body["ProfileId"]})

    def _add_key(self, request: RecordedRequest) -> Reply:
        body = request.json()
        with self._lock:
            self.profiles[body["ProfileId"]]["keys"].setdefault(body["KeyName"], []).extend(body["Values"])
        return Reply(200, {"KeyName": body["KeyName"], "Values": body["Values"]})
