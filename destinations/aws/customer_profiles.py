"""Amazon Connect Customer Profiles: a cloud ``RecommendationSink``, the successor of the Pinpoint sink.

Each user's profile is found by a search key holding the user id (SearchProfiles), and the recommendations
are written as profile attributes (UpdateProfile), optionally creating the profile first (CreateProfile, then
AddProfileKey when the key is not the profile's own AccountNumber). The profile ids found are kept in a
bounded cache for the life of the container (``profile_id_cache``): in steady state a refreshed user costs one
UpdateProfile call, and SearchProfiles runs once per user per container.
SearchProfiles: https://docs.aws.amazon.com/customerprofiles/latest/APIReference/API_SearchProfiles.html
UpdateProfile: https://docs.aws.amazon.com/customerprofiles/latest/APIReference/API_UpdateProfile.html
CreateProfile: https://docs.aws.amazon.com/customerprofiles/latest/APIReference/API_CreateProfile.html
AddProfileKey: https://docs.aws.amazon.com/customerprofiles/latest/APIReference/API_AddProfileKey.html

An anonymous visitor's list (PUE_REFRESH_ANONYMOUS) is keyed on its anonymousId under its own search key
(``anonymous_key``, default ``pue_anonymous_id``: a custom key the domain must define), never under the users'
key, so a visitor is never taken for a user whose id happens to equal its anonymousId. When a visitor later
identifies and its user has no profile yet, the visitor's profile pue created is adopted as the user's
(``_adopt``) instead of creating a second one; docs/engagement.md says what is left to identity resolution.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any, Final

from destinations.aws.errors import translated
from destinations.aws.profile_id_cache import ProfileIdCache
from destinations.engagement_content import DetailSpec, catalog_items, profile_attributes
from destinations.ports import ItemCatalog
from destinations.sink_input import latest_per_user
from schemas.delivery import DeliveryReport
from schemas.errors import PueError
from schemas.limits import CUSTOMER_PROFILES_SEARCH_MAX_RESULTS
from schemas.recommendation import Recommendation

log = logging.getLogger("pue.customer_profiles")

SERVICE: Final = "customer-profiles"
# The standard key backed by the profile's AccountNumber: a created profile carries it without AddProfileKey.
ACCOUNT_KEY: Final = "_account"
DEFAULT_KEY_NAME: Final = ACCOUNT_KEY
# Set on every profile pue creates, naming its user: how a retried creation recognizes its own profile.
OWNER_ATTRIBUTE: Final = "pue_user_id"
# The search key anonymous visitors' profiles are found by, and the attribute naming the visitor on every
# profile pue creates for one (how a later identify recognizes the profile to adopt).
DEFAULT_ANONYMOUS_KEY_NAME: Final = "pue_anonymous_id"
ANONYMOUS_OWNER_ATTRIBUTE: Final = "pue_anonymous_id"
# What UpdateProfile answers for a profile that is gone (deleted, or merged into another).
NOT_FOUND: Final = "ResourceNotFoundException"


class CustomerProfilesSink:
    """Writes ``recommended_products`` (ids, comma-joined) and the per-rank item details to every profile the
    key finds for the user.

    UpdateProfile changes only the attributes it is given, so the profile's other attributes survive; every
    detail name is written on each update (empty to clear), so a shorter list leaves no stale rank behind.
    Writing the same list twice sets the same values (idempotent). A user without a profile is success, not
    failure, unless ``create_missing``: then the profile is created with the key and the attributes (and the
    user id as its AccountNumber, so that a retried creation finds it: see ``_create``).
    """

    name = "customer-profiles"
    takes_anonymous = True  # keyed on the anonymousId under ``anonymous_key`` (see ``_key_of``)

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
        cache: ProfileIdCache | None = None,
        pool: Executor | None = None,
        anonymous_key: str = DEFAULT_ANONYMOUS_KEY_NAME,
        adopt_visitors: bool = False,
    ) -> None:
        """``pool``: where the per-user writes run, kept for the sink's life (the pipeline passes the one it
        owns); without one the sink keeps its own, ``max_workers`` wide. ``adopt_visitors``: before creating
        a user's profile, look for one pue created for the anonymousIds of the user's events (on when
        anonymous visitors are refreshed: otherwise pue created none)."""
        self._client = client
        self._domain = domain
        self._key_name = key_name
        self._anonymous_key = anonymous_key
        self._adopt_visitors = adopt_visitors
        self._create_missing = create_missing
        self._catalog = catalog
        self._details = details or DetailSpec()
        # One per sink, so one per warm container: SearchProfiles once per user, then UpdateProfile alone.
        self._cache = cache if cache is not None else ProfileIdCache()
        self._own_pool = pool is None
        self._pool: Executor = pool or ThreadPoolExecutor(
            max(1, max_workers), thread_name_prefix="pue-profiles"
        )

    def close(self) -> None:
        if self._own_pool:
            self._pool.shutdown(wait=True)

    def publish(self, recommendations: Sequence[Recommendation]) -> DeliveryReport:
        latest, failed = latest_per_user(recommendations, service=SERVICE)
        if not latest:
            return DeliveryReport(failed)
        for user_id, error in zip(latest, self._pool.map(self._write_user, latest.values()), strict=True):
            if error is not None:
                failed[user_id] = error
        return DeliveryReport(failed)

    def _write_user(self, recommendation: Recommendation) -> PueError | None:
        """Runs on the pool: every call for one user, in order. The error that stopped it, else None."""
        user_id, key = recommendation.user_id, recommendation.key
        try:
            items = catalog_items(self._catalog, recommendation.item_ids, self._details)
            attributes = profile_attributes(recommendation, items, self._details)
            cached = self._cache.get(key)
            if cached is not None:
                try:
                    self._update(cached, attributes)
                    return None
                except PueError as error:
                    if error.code != NOT_FOUND:
                        return error
                    # A cached profile was deleted or merged away: forget the user, search again below.
                    self._cache.drop(key)
            profile_ids = self._find(self._key_of(recommendation), user_id)
            if not profile_ids and self._create_missing:
                profile_ids = [self._create_for(recommendation, attributes)]
            else:
                self._update(profile_ids, attributes)
            self._cache.put(key, profile_ids)
        except PueError as error:
            return error
        return None

    def _key_of(self, recommendation: Recommendation) -> str:
        return self._anonymous_key if recommendation.anonymous else self._key_name

    def _create_for(self, recommendation: Recommendation, attributes: dict[str, str]) -> str:
        if recommendation.anonymous:
            return self._create_visitor(recommendation.user_id, attributes)
        return self._create(recommendation, attributes)

    def _create_visitor(self, anonymous_id: str, attributes: dict[str, str]) -> str:
        """A profile for an anonymous visitor: no AccountNumber (that is a user's), the visitor named in
        ``ANONYMOUS_OWNER_ATTRIBUTE``, then its anonymousId under the anonymous key."""
        params: dict[str, Any] = {
            "DomainName": self._domain,
            "Attributes": {k: v for k, v in attributes.items() if v}
            | {ANONYMOUS_OWNER_ATTRIBUTE: anonymous_id},
        }
        with translated(SERVICE):
            profile_id = str(self._client.create_profile(**params)["ProfileId"])
        try:
            self._add_key(profile_id, anonymous_id, self._anonymous_key)
        except PueError as error:
            # A user's profile has its AccountNumber to be found again by a retry (``_orphan``); a visitor's
            # has none: the retry creates another one. Say so, with the id to delete.
            log.warning(
                "visitor profile created without its key; the retry creates another",
                extra={"fields": {"profile_id": profile_id, "code": error.code}},
            )
            raise
        return profile_id

    def _adopt(self, recommendation: Recommendation, attributes: dict[str, str]) -> str | None:
        """The profile pue created for one of the anonymousIds the user's events carried, made the user's
        (its AccountNumber, owner attribute and key), if any: a visitor who logs in keeps one profile."""
        user_id = recommendation.user_id
        for anonymous_id in recommendation.anonymous_ids:
            for item in self._search(self._anonymous_key, anonymous_id):
                if (item.get("Attributes") or {}).get(ANONYMOUS_OWNER_ATTRIBUTE) != anonymous_id:
                    continue  # a profile someone else keyed on the visitor: theirs to merge, not pue's
                profile_id = str(item["ProfileId"])
                with translated(SERVICE):
                    self._client.update_profile(
                        DomainName=self._domain,
                        ProfileId=profile_id,
                        AccountNumber=user_id,
                        Attributes=attributes | {OWNER_ATTRIBUTE: user_id},
                    )
                if self._key_name != ACCOUNT_KEY:
                    self._add_key(profile_id, user_id, self._key_name)
                return profile_id
        return None

    def _update(self, profile_ids: Sequence[str], attributes: dict[str, str]) -> None:
        for profile_id in profile_ids:
            with translated(SERVICE):
                self._client.update_profile(
                    DomainName=self._domain, ProfileId=profile_id, Attributes=attributes
                )

    def _search(self, key_name: str, user_id: str) -> list[dict[str, Any]]:
        with translated(SERVICE):
            response = self._client.search_profiles(
                DomainName=self._domain,
                KeyName=key_name,
                Values=[user_id],
                MaxResults=CUSTOMER_PROFILES_SEARCH_MAX_RESULTS,
            )
        return [item for item in response.get("Items", []) if item.get("ProfileId")]

    def _find(self, key_name: str, user_id: str) -> list[str]:
        return [str(item["ProfileId"]) for item in self._search(key_name, user_id)]

    def _create(self, recommendation: Recommendation, attributes: dict[str, str]) -> str:
        """Create the user's profile (or finish one an earlier attempt created) and return its id.

        Creation takes two calls when the search key is not ``_account``: CreateProfile, then AddProfileKey.
        If the second fails (or the first's answer is lost), the record is retried and the key still finds
        nothing, so a plain retry would create a second profile. Every profile pue creates therefore carries
        the user id in a key set in the same call (AccountNumber, the ``_account`` key) and names its user in
        ``OWNER_ATTRIBUTE``; before creating, the retry looks there and adopts the profile it finds. Then,
        with ``adopt_visitors``, the profile of the visitor the user was is adopted (``_adopt``).
        """
        user_id = recommendation.user_id
        if self._key_name != ACCOUNT_KEY:
            orphan = self._orphan(user_id)
            if orphan is not None:
                self._update([orphan], attributes)
                self._add_key(orphan, user_id, self._key_name)
                return orphan
        adopted = self._adopt(recommendation, attributes) if self._adopt_visitors else None
        if adopted is not None:
            return adopted
        # CreateProfile takes no empty values (UpdateProfile reads "" as "remove"): a new profile has none.
        params: dict[str, Any] = {
            "DomainName": self._domain,
            "AccountNumber": user_id,
            "Attributes": {k: v for k, v in attributes.items() if v} | {OWNER_ATTRIBUTE: user_id},
        }
        with translated(SERVICE):
            profile_id = str(self._client.create_profile(**params)["ProfileId"])
        if self._key_name != ACCOUNT_KEY:
            # Other keys are not profile fields: attach the user id under the key so the next search finds it.
            self._add_key(profile_id, user_id, self._key_name)
        return profile_id

    def _orphan(self, user_id: str) -> str | None:
        """A profile an earlier attempt created for the user but could not give the search key, if any.

        The owner attribute tells pue's profile from one whose account number only happens to equal the id.
        """
        for item in self._search(ACCOUNT_KEY, user_id):
            if (item.get("Attributes") or {}).get(OWNER_ATTRIBUTE) == user_id:
                return str(item["ProfileId"])
        return None

    def _add_key(self, profile_id: str, value: str, key_name: str) -> None:
        with translated(SERVICE):
            self._client.add_profile_key(
                DomainName=self._domain, ProfileId=profile_id, KeyName=key_name, Values=[value]
            )
