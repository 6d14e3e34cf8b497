"""Segment Profile API: the cloud ``PurchaseHistory`` (a computed trait listing what a user bought).

https://segment.com/docs/unify/profile-api/ — GET /v1/spaces/{space}/collections/users/profiles/{id}/traits,
basic auth with the access token as user name, ``cursor: {has_more, next}`` pagination, 100 requests/s per
space. US host https://profiles.segment.com, EU host https://profiles.euw1.segment.com.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Final
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from destinations.segment.http_errors import status_error, transport_error
from schemas.errors import RetryableError

SERVICE = "segment-profile-api"
PAGE_LIMIT: Final = 200  # the most traits one page may return (Profile API docs, "Traits")
MAX_PAGES: Final = 50  # a cursor that never ends is a server bug; stop rather than loop forever
# Retries of one read before it counts as failed, as botocore's standard mode (3 attempts) does for the AWS
# calls: without them a 429 from the 100 req/s quota failed the user's records on the first try, and a batch
# of a few dozen users under 20 % throttling almost never completed (test_reliability_faults).
READ_RETRIES: Final = 2
RETRY_BACKOFF_SECONDS: Final = 0.1  # urllib3 waits 0, then 0.2 s (x2 each time)
RETRY_STATUSES: Final = frozenset({408, 429, 500, 502, 503, 504})
DEFAULT_MAX_CONNECTIONS: Final = 16  # as PUE_MAX_WORKERS' default
# Keys under which an object in the trait's list names the product.
_ID_KEYS: Final = ("product_id", "sku", "id")

logger = logging.getLogger(__name__)


def item_ids(value: Any, *, trait: str) -> set[str]:
    """Product ids from a trait value: a list of ids, a comma-separated string, or a list of objects with
    ``product_id``/``sku``. Anything else is logged (by shape, never by content) and skipped."""
    if value is None:
        return set()
    if isinstance(value, str):
        return {part.strip() for part in value.split(",") if part.strip()}
    if isinstance(value, int | float) and not isinstance(value, bool):
        return {str(value)}
    if isinstance(value, list):
        ids: set[str] = set()
        for element in value:
            ids |= _element_ids(element, trait=trait)
        return ids
    logger.warning("trait %s has an unexpected %s value; ignored", trait, type(value).__name__)
    return set()


def _element_ids(element: Any, *, trait: str) -> set[str]:
    if isinstance(element, dict):
        for key in _ID_KEYS:
            if element.get(key) not in (None, ""):
                return {str(element[key])}
        logger.warning("an object in trait %s names no product id; ignored", trait)
        return set()
    if isinstance(element, str | int | float) and not isinstance(element, bool):
        return item_ids(element, trait=trait)
    logger.warning("trait %s holds an unexpected %s element; ignored", trait, type(element).__name__)
    return set()


class ProfileApiPurchaseHistory:
    """Reads the purchased-products trait of a user's profile.

    A user unknown to the space (404) has bought nothing as far as pue can tell. Throttling (429), server
    errors and timeouts are retryable; 401/403 (a bad or revoked token, a space it cannot read) are the
    operator's (``ConfigError``: the records are retried, loudly); any other 4xx is permanent.
    """

    def __init__(
        self,
        space_id: str,
        token: str,
        *,
        host: str = "https://profiles.segment.com",
        trait: str = "purchased_products",
        session: requests.Session | None = None,
        timeout: float = 5.0,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
    ) -> None:
        self._base = f"{host.rstrip('/')}/v1/spaces/{quote(space_id, safe='')}/collections/users/profiles"
        self._auth = (token, "")
        self._trait = trait
        # requests.Session is safe for concurrent GETs that share no per-request state (pooled connections).
        self._session = session if session is not None else _session_for(self._base, max_connections)
        self._timeout = timeout

    def purchased_items(self, user_id: str) -> frozenset[str]:
        # safe="" also escapes "+" and "/": the docs warn an unescaped "+" in an id makes the lookup fail.
        url = f"{self._base}/user_id:{quote(user_id, safe='')}/traits"
        found: set[str] = set()
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            page = self._get(url, cursor)
            if page is None:
                return frozenset()
            traits = page.get("traits") or {}
            found |= item_ids(traits.get(self._trait), trait=self._trait)
            cursor = _next_cursor(page, previous=cursor)
            if cursor is None:
                return frozenset(found)
        logger.warning("Profile API cursor did not end after %d pages; using what was read", MAX_PAGES)
        return frozenset(found)

    def _get(self, url: str, cursor: str | None) -> dict[str, Any] | None:
        """One page of traits, or None when the profile does not exist."""
        params = {"include": self._trait, "limit": str(PAGE_LIMIT)}
        if cursor is not None:
            params["next"] = cursor
        try:
            response = self._session.get(url, params=params, auth=self._auth, timeout=self._timeout)
        except requests.RequestException as error:
            raise transport_error(error, service=SERVICE) from error
        if response.status_code == 404:
            return None
        if not 200 <= response.status_code < 300:
            raise status_error(response.status_code, service=SERVICE, code=_error_code(response))
        try:
            page = response.json()
        except ValueError as error:
            raise RetryableError("response is not JSON", service=SERVICE, code="BadResponse") from error
        if not isinstance(page, dict):
            raise RetryableError("response is not a JSON object", service=SERVICE, code="BadResponse")
        return page


def _session_for(base: str, max_connections: int = 10) -> requests.Session:
    """A session that reads the environment (proxies, CA bundle) once, here, rather than on every request.

    With ``trust_env`` on, requests scans all of ``os.environ`` for proxy settings on each request: a fifth of
    the CPU of a Profile API read, and CPU is what bounds a busy batch (figure 2 of tests/benchmarks). Every
    request goes to the same host, so resolving the settings for that host once changes nothing else.
    """
    session = requests.Session()
    session.proxies.update(requests.utils.get_environ_proxies(base))
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        session.verify = bundle
    session.trust_env = False
    # GETs are idempotent: retry throttling, 5xx, resets and read timeouts; the last answer is then read as
    # usual (raise_on_status=False), so exhausted retries still become a RetryableError for the pipeline.
    # Retry-After is not honoured: a 429 asking for 60 s would hold a worker (and so the whole Lambda batch)
    # that long; after the short retries the user's records are redelivered by Lambda instead.
    retry = Retry(
        total=READ_RETRIES,
        backoff_factor=RETRY_BACKOFF_SECONDS,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET"}),
        raise_on_status=False,
        respect_retry_after_header=False,
    )
    # One pooled connection per concurrent reader (PUE_MAX_WORKERS); requests' default pool keeps 10, and
    # every reader past that opened and dropped a connection of its own.
    adapter = HTTPAdapter(max_retries=retry, pool_connections=1, pool_maxsize=max_connections)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def _next_cursor(page: dict[str, Any], *, previous: str | None) -> str | None:
    cursor = page.get("cursor") or {}
    following = cursor.get("next") if isinstance(cursor, dict) and cursor.get("has_more") else None
    if not following or following == previous:
        return None
    return str(following)


def _error_code(response: requests.Response) -> str | None:
    """Segment's error code (``rate_limit_error``...) from an error body, when there is one."""
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return str(code) if code else None
