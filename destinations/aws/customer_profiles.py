"""Amazon Connect Customer Profiles: a cloud ``RecommendationSink``, the successor of the Pinpoint sink.

Each user's profile is found by a search key holding the user id (SearchProfiles), and the recommendations
are written as profile attributes (UpdateProfile), optionally creating the profile first (CreateProfile, then
AddProfileKey when the key is not the profile's own AccountNumber).
SearchProfiles: https://docs.aws.amazon.com/customerprofiles/latest/APIReference/API_SearchProfiles.html
UpdateProfile: https://docs.aws.amazon.com/customerprofiles/latest/APIReference/API_UpdateProfile.html
CreateProfile: https://docs.aws.amazon.com/customerprofiles/latest/APIReference/API_CreateProfile.html
AddProfileKey: https://docs.aws.amazon.com/customerprofiles/latest/APIReference/API_AddProfileKey.html
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final

from destinations.aws.errors import translated
from destinations.catalog_port import ItemCatalog
from destinations.engagement_content import DetailSpec, lookup, profile_attributes
from schemas.delivery import DeliveryReport
from schemas.errors import PermanentError, PueError
from schemas.limits import CUSTOMER_PROFILES_SEARCH_MAX_RESULTS
from schemas.recommendation import Recommendation

SERVICE: Final = "customer-profiles"
# The standard key backed by the profile's AccountNumber: a created profile carries it without AddProfileKey.
ACCOUNT_KEY: Final = "_account"
DEFAULT_KEY_NAME: Final = ACCOUNT_KEY


class CustomerProfilesSink:
    """Writes ``recommended_products`` (ids, comma-joined) and the per-rank item details to every profile the
    key finds for the user.

    UpdateProfile changes only the attributes it is given, so the profile's other attributes survive; every
    detail name is written on each update (empty to clear), so a shorter list leaves no stale rank behind.
    Writing the same list twice sets the same values (idempotent). A user without a profile is success, not
    failure, unless ``create_missing``: then the profile is created with the key and the attributes.
    """

    name = "customer-profiles"

    def __init__(
        self,
        client: Any,
        domain: str,
        *,
        key_name: str = DEFAULT_KEY_NAME,
        create_missing: bool = False,
        catalog: ItemCatalog | None = None,
        details: DetailSpec | None = None,
        max_workers: int = 16,
    ) -> None:
        self._client = client
        self._domain = domain
        self._key_name = key_name
        self._create_missing = create_missing
        self._catalog = catalog
        self._details = details or DetailSpec()
        self._max_workers = max(1, max_workers)

    def publish(self, recommendations: Sequence[Recommendation]) -> DeliveryReport:
        failed: dict[str, PueError] = {}
        # The last list per user wins: it is the freshest.
        latest = {recommendation.user_id: recommendation for recommendation in recommendations}
        if "" in latest:
            del latest[""]
            failed[""] = PermanentError(
                "a recommendation without a user id", service=SERVICE, code="NoUserId"
            )
        if not latest:
            return DeliveryReport(failed)
        workers = min(self._max_workers, len(latest))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pue-profiles") as pool:
            for user_id, error in zip(latest, pool.map(self._write_user, latest.values()), strict=True):
                if error is not None:
                    failed[user_id] = error
        return DeliveryReport(failed)

    def _write_user(self, recommendation: Recommendation) -> PueError | None:
        """Runs on the pool: every call for one user, in order. The error that stopped it, else None."""
        try:
            items = lookup(self._catalog, recommendation.item_ids, self._details)
            attributes = profile_attributes(recommendation, items, self._details)
            profile_ids = self._find(recommendation.user_id)
            if not profile_ids and self._create_missing:
                self._create(recommendation.user_id, attributes)
            for profile_id in profile_ids:
                with translated(SERVICE):
                    self._client.update_profile(
                        DomainName=self._domain, ProfileId=profile_id, Attributes=attributes
                    )
        except PueError as error:
            return error
        return None

    def _find(self, user_id: str) -> list[str]:
        with translated(SERVICE):
            response = self._client.search_profiles(
                DomainName=self._domain,
                KeyName=self._key_name,
                Values=[user_id],
                MaxResults=CUSTOMER_PROFILES_SEARCH_MAX_RESULTS,
            )
        return [str(item["ProfileId"]) for item in response.get("Items", []) if item.get("ProfileId")]

    def _create(self, user_id: str, attributes: dict[str, str]) -> None:
        # CreateProfile takes no empty values (UpdateProfile reads "" as "remove"): a new profile has none.
        params: dict[str, Any] = {
            "DomainName": self._domain,
            "Attributes": {k: v for k, v in attributes.items() if v},
        }
        if self._key_name == ACCOUNT_KEY:
            params["AccountNumber"] = user_id
        with translated(SERVICE):
            profile_id = str(self._client.create_profile(**params)["ProfileId"])
        if self._key_name != ACCOUNT_KEY:
            # Other keys are not profile fields: attach the user id under the key so the next search finds it.
            with translated(SERVICE):
                self._client.add_profile_key(
                    DomainName=self._domain, ProfileId=profile_id, KeyName=self._key_name, Values=[user_id]
                )
